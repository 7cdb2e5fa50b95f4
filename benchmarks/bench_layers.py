"""rnnkit layers against torch.nn on the same weights: training step and inference, float32, on
the CPU (default) or a GPU (``--device cuda``: torch.nn runs cuDNN, rnnkit's ``auto`` backend too,
and the explicit ``bptt`` backend runs its own loop there).

Each configuration builds a torch.nn module and an rnnkit copy of it (``from_torch``), then times
them interleaved in one process (torch, rnnkit, auto, torch, ...) so that machine noise hits all
alike, and reports medians and the ratio rnnkit / torch.nn (lower is better). Variable-length
batches (lengths uniform in [T/4, T]) are given to torch.nn as packed sequences, to rnnkit as
``lengths=``. Achieved GFLOP/s (matrix products only) is printed beside the rate ``torch.mm``
reaches on the same products alone, the ceiling of any implementation built on them.

    python benchmarks/bench_layers.py [--reps 15] [--threads 2] [--device cpu|cuda] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
import rnnkit.nn as rnn
from rnnkit.train.runtime import resolve_device, synchronize

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# (cell, layers, batch, steps, input, hidden, variable lengths); the first two are the sizes of
# PyTorch's word-language-model example.
CONFIGS = [
    ("LSTM", 2, 20, 35, 200, 200, False),
    ("LSTM", 2, 20, 35, 650, 650, False),
    ("GRU", 1, 64, 100, 128, 256, False),
    ("RNN", 1, 64, 100, 128, 256, False),
    ("LSTM", 2, 20, 35, 200, 200, True),
    ("LSTM", 1, 64, 100, 128, 256, True),
    ("GRU", 1, 64, 100, 128, 256, True),
    ("RNN", 1, 64, 100, 128, 256, True),
    # small models (the demo's size), where per-step call overhead dominates
    ("GRU", 1, 64, 50, 8, 64, False),
    ("RNN", 1, 64, 50, 8, 64, False),
]


def matmul_flops(cell, layers, B, T, I, H, train):
    """FLOPs of the matrix products of a forward (x3 with backward: dX, dW and forward)."""
    G = GATES[cell] * H
    f = sum(2 * T * B * G * ((I if layer == 0 else H) + H) for layer in range(layers))
    return 3 * f if train else f


def mm_ceiling(cell, layers, B, T, I, H, train, device, reps=5):
    """GFLOP/s of torch.mm alone on the products one step of training or inference performs."""
    G = GATES[cell] * H
    mats = []
    for layer in range(layers):
        In = I if layer == 0 else H
        shapes = [(T * B, In), (G, In), (G, H), (B, H), (B, G), (T * B, G)]
        mats.append(tuple(torch.randn(*shape, device=device) for shape in shapes))

    def run():
        for x, w_ih, w_hh, h, d, dx in mats:
            x.mm(w_ih.t())
            for _ in range(T):
                h.mm(w_hh.t())
            if train:
                for _ in range(T):
                    d.mm(w_hh)
                dx.mm(w_ih)
                dx.t().mm(x)
                dx.t().mm(torch.empty(T * B, H, device=device))
    run()
    times = []
    for _ in range(reps):
        synchronize(device)
        t0 = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return matmul_flops(cell, layers, B, T, I, H, train) / statistics.median(times) / 1e9


def make_case(cell, layers, B, T, I, H, varlen, device, seed=0):
    """torch.nn's module, an input (T, B, I) on ``device`` and lengths (B,) on the CPU, where
    pack_padded_sequence wants them (rnnkit reads them from either), or None."""
    g = torch.Generator().manual_seed(seed)
    ref = getattr(torch.nn, cell)(I, H, num_layers=layers).to(device)
    x = torch.randn(T, B, I, generator=g).to(device)
    lengths = torch.randint(T // 4, T + 1, (B,), generator=g) if varlen else None
    if lengths is not None:
        lengths[0] = T  # the padded length is reached, as in a real batch
    return ref, x, lengths


def step_fn(module, x, lengths, train, packed_for_torch):
    """A closure running one forward (+ backward) of ``module``."""
    xin = x.clone().requires_grad_(train)

    def call():
        if packed_for_torch and lengths is not None:
            out = module(pack_padded_sequence(xin, lengths, enforce_sorted=False))[0].data
        elif lengths is not None:
            out = module(xin, lengths=lengths)[0]
        else:
            out = module(xin)[0]
        if train:
            out.sum().backward()

    if train:
        return call

    def infer():
        with torch.no_grad():
            call()

    return infer


def bench_case(cfg, reps, inner, device):
    cell, layers, B, T, I, H, varlen = cfg
    ref, x, lengths = make_case(*cfg, device)
    results = {}
    for train in (True, False):
        ref.train(train)
        ours = rnn.__dict__[cell].from_torch(ref, backend="bptt").to(device).train(train)
        auto = rnn.__dict__[cell].from_torch(ref, backend="auto").to(device).train(train)
        fns = {
            "torch": step_fn(ref, x, lengths, train, True),
            "rnnkit": step_fn(ours, x, lengths, train, False),
            "auto": step_fn(auto, x, lengths, train, False),
        }
        for f in fns.values():  # warm-up
            f()
        times = {k: [] for k in fns}
        for _ in range(reps):
            for k, f in fns.items():
                synchronize(device)
                t0 = time.perf_counter()
                for _ in range(inner):
                    f()
                synchronize(device)
                times[k].append((time.perf_counter() - t0) / inner)
        med = {k: statistics.median(v) for k, v in times.items()}
        flops = matmul_flops(cell, layers, B, T, I, H, train)
        if lengths is not None:  # only valid steps are computed
            flops *= float(lengths.float().mean()) / T
        results["train" if train else "infer"] = {
            "ms": {k: 1e3 * v for k, v in med.items()},
            "ratio_rnnkit": med["rnnkit"] / med["torch"],
            "ratio_auto": med["auto"] / med["torch"],
            "gflops": {k: flops / v / 1e9 for k, v in med.items()},
            "mm_ceiling_gflops": mm_ceiling(cell, layers, B, T, I, H, train, device),
        }
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15, help="interleaved repetitions (median taken)")
    ap.add_argument("--inner", type=int, default=2, help="calls per timed repetition")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="run configurations whose name contains this")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda, cuda:N")
    ap.add_argument("--out", default=None,
                    help="JSON result (default: benchmarks/results/bench_layers.json on the CPU, "
                         "bench_layers_cuda.json on a GPU)")
    args = ap.parse_args()
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        ap.error(str(err))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    where = f"{args.threads} threads, {platform.processor() or platform.machine()}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} ({device}), cuDNN {torch.backends.cudnn.version()}"
    print(f"torch {torch.__version__}, {where}")
    print(f"{'configuration':44s} {'mode':5s} {'torch ms':>9s} {'rnnkit ms':>9s} {'ratio':>6s} {'auto':>6s}"
          f" {'GF/s torch':>10s} {'rnnkit':>7s} {'mm only':>7s}")
    for cfg in CONFIGS:
        cell, layers, B, T, I, H, varlen = cfg
        name = f"{cell} L{layers} B{B} T{T} {I}->{H}" + (" varlen" if varlen else "")
        if args.only and args.only not in name:
            continue
        res = bench_case(cfg, args.reps, args.inner, device)
        for mode, r in res.items():
            print(f"{name:44s} {mode:5s} {r['ms']['torch']:9.2f} {r['ms']['rnnkit']:9.2f} "
                  f"{r['ratio_rnnkit']:6.2f} {r['ratio_auto']:6.2f} {r['gflops']['torch']:10.1f} "
                  f"{r['gflops']['rnnkit']:7.1f} {r['mm_ceiling_gflops']:7.1f}", flush=True)
        rows.append({"name": name, "cell": cell, "layers": layers, "batch": B, "steps": T, "input": I,
                     "hidden": H, "variable_lengths": varlen, **res})
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    out = Path(args.out or Path(__file__).parent / "results" / f"bench_layers{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "bench_layers", "rnnkit": rnnkit.__version__, "torch": torch.__version__,
        "threads": args.threads, "device": str(device), "machine": where, "reps": args.reps,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "ratio": "rnnkit / torch.nn median time, lower is better", "results": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Decoding speed: sentences/s of greedy search and beam search (beam 5) on a batch of 64 sources.

1. Worst case: an untrained en-es-sized Seq2Seq (bidirectional LSTM encoder, hidden 256, general
   attention, 15,000 target words). It never emits eos, so both strategies run the full
   ``max_len`` steps: the comparison is of the per-step cost, the part beam search multiplies.
2. With ``--checkpoint DIR`` (a trained translation model, e.g. from bench_seq2seq.py), also the
   first 64 en-es test sources with that model, where hypotheses end and finished sources leave
   the batch.

Target: beam 5 takes at most 3x greedy's time. Interleaved repetitions, 2 threads.

For the untrained model the bench also prints a floor: greedy's time with its output layer (the
product and the log-softmax over the vocabulary, which the decoding protocol requires for every
live row) run at five times the rows instead, everything else left at greedy's cost. No exact
full-vocabulary beam 5 on that model can take less.

    python benchmarks/bench_decode.py [--reps 15] [--max-len 40] [--checkpoint runs/bench_seq2seq/en-es-general]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rnnkit.decode import beam_search, greedy_search
from rnnkit.models._common import log_softmax
from rnnkit.models.seq2seq import Seq2Seq


def timed(runs, reps):
    """Seconds of each function over interleaved repetitions after one warm-up call each: the
    median of each, and the median of the per-repetition ratios to the first (neighbouring runs
    share this noisy machine's state, so the ratio is steadier than a ratio of medians)."""
    for fn in runs.values():
        fn()
    times = {k: [] for k in runs}
    for _ in range(reps):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    first = times[next(iter(runs))]
    ratios = {k: statistics.median(t / f for t, f in zip(v, first)) for k, v in times.items()}
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def report(name, timing, steps):
    med, ratio = timing[0], timing[1]["beam5"]
    for k, v in med.items():
        print(f"{name}: {k:7s} {v * 1e3:8.1f} ms per batch of 64, {64 / v:7.1f} sentences/s ({steps})")
    print(f"{name}: beam 5 / greedy time (median of paired runs): {ratio:.2f} "
          f"(target <= 3: {'met' if ratio <= 3 else 'NOT met'})", flush=True)
    return {"seconds": med, "sentences_per_second": {k: 64 / v for k, v in med.items()}, "beam5_over_greedy": ratio}


def output_layer_floor(model, steps, greedy_seconds, reps=21):
    """Greedy's time with the output layer's cost at 5 x 64 rows instead of 64 (all but the first
    step, where beam search reads one row per source): a lower bound for beam 5 on a model that
    never ends. Returns (floor seconds, output layer ms at 64 and at 320 rows)."""
    cost = {}
    for rows in (64, 320):
        generator, x = model._decoding_generator(rows), torch.randn(rows, model.hidden_size)
        with torch.no_grad():
            run = lambda g=generator, v=x: log_softmax(g(v), inplace=True)  # noqa: E731
            cost[rows] = timed({"out": run}, reps)[0]["out"]
    floor = greedy_seconds + (steps - 1) * (cost[320] - cost[64])
    return floor, cost[64] * 1e3, cost[320] * 1e3


def trained(directory, reps):
    from rnnkit.tasks.translation import Translator
    from rnnkit.text import corpora
    from rnnkit.text.batching import pad_batch

    translator = Translator.load(directory)
    sources = [s for s, _ in corpora.load("en-es")["test"][:64]]
    src, lengths, _ = pad_batch(translator.encode_sources(sources, warn=False))
    max_len = translator.s2s_cfg.max_tgt_len + 1
    model = translator.model
    timing = timed({"greedy": lambda: greedy_search(model, src, lengths, max_len),
                    "beam5": lambda: beam_search(model, src, lengths, beam_size=5, max_len=max_len)}, reps)
    return {"checkpoint": str(directory), **report("trained", timing, "until eos")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--max-len", type=int, default=40)
    ap.add_argument("--checkpoint", help="also time this trained translation model on en-es test sources")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_decode.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = Seq2Seq(12000, 15000, embedding_size=128, hidden_size=256, cell="lstm", bidirectional=True,
                    attention="general").eval()
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 41, (64,), generator=g)
    src = torch.randint(4, 12000, (64, 40), generator=g) * (torch.arange(40) < lengths.unsqueeze(1))
    timing = timed({"greedy": lambda: greedy_search(model, src, lengths, args.max_len),
                    "beam5": lambda: beam_search(model, src, lengths, beam_size=5, max_len=args.max_len)}, args.reps)
    med = timing[0]
    result = {"benchmark": "bench_decode", "torch": torch.__version__, "threads": 2, "max_len": args.max_len,
              **report("untrained", timing, f"{args.max_len} steps")}
    floor, out64, out320 = output_layer_floor(model, args.max_len, med["greedy"])
    print(f"untrained: output layer (product + log-softmax) {out64:.2f} ms at 64 rows, {out320:.2f} ms at 320; "
          f"beam 5 floor {floor * 1e3:.1f} ms = {floor / med['greedy']:.2f}x greedy", flush=True)
    result["floor"] = {"seconds": floor, "beam5_floor_over_greedy": floor / med["greedy"],
                       "output_layer_ms": {"64": out64, "320": out320}}
    if args.checkpoint:
        result["trained"] = trained(args.checkpoint, args.reps)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Decoding speed: sentences/s of greedy search and beam search (beam 5) on a batch of 64 sources.

1. Worst case: an untrained en-es-sized Seq2Seq (bidirectional LSTM encoder, hidden 256, general
   attention, 15,000 target words). It never emits eos, so both strategies run the full
   ``max_len`` steps: the comparison is of the per-step cost, the part beam search multiplies.
2. With ``--checkpoint DIR`` (a trained translation model, e.g. from bench_seq2seq.py), also the
   first 64 en-es test sources with that model, where hypotheses end and finished sources leave
   the batch.

Target: beam 5 takes at most 3x greedy's time. Median of interleaved repetitions, 2 threads.

    python benchmarks/bench_decode.py [--reps 5] [--max-len 40] [--checkpoint runs/bench_seq2seq/en-es-general]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rnnkit.decode import beam_search, greedy_search
from rnnkit.models.seq2seq import Seq2Seq


def timed(runs, reps):
    """Median seconds of each function, interleaved repetitions after one warm-up call each."""
    for fn in runs.values():
        fn()
    times = {k: [] for k in runs}
    for _ in range(reps):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def report(name, med, steps):
    ratio = med["beam5"] / med["greedy"]
    for k, v in med.items():
        print(f"{name}: {k:7s} {v * 1e3:8.1f} ms per batch of 64, {64 / v:7.1f} sentences/s ({steps})")
    print(f"{name}: beam 5 / greedy time: {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'NOT met'})", flush=True)
    return {"seconds": med, "sentences_per_second": {k: 64 / v for k, v in med.items()}, "beam5_over_greedy": ratio}


def trained(directory, reps):
    from rnnkit.tasks.translation import Translator
    from rnnkit.text import corpora
    from rnnkit.text.batching import pad_batch

    translator = Translator.load(directory)
    sources = [s for s, _ in corpora.load("en-es")["test"][:64]]
    src, lengths, _ = pad_batch(translator.encoder.encode_sources(sources, warn=False))
    max_len = translator.encoder.cfg.max_tgt_len + 1
    model = translator.model
    med = timed({"greedy": lambda: greedy_search(model, src, lengths, max_len),
                 "beam5": lambda: beam_search(model, src, lengths, beam_size=5, max_len=max_len)}, reps)
    return {"checkpoint": str(directory), **report("trained", med, "until eos")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
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
    med = timed({"greedy": lambda: greedy_search(model, src, lengths, args.max_len),
                 "beam5": lambda: beam_search(model, src, lengths, beam_size=5, max_len=args.max_len)}, args.reps)
    result = {"benchmark": "bench_decode", "torch": torch.__version__, "threads": 2, "max_len": args.max_len,
              **report("untrained", med, f"{args.max_len} steps")}
    if args.checkpoint:
        result["trained"] = trained(args.checkpoint, args.reps)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

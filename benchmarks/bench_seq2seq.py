"""Sequence to sequence with attention, 2 CPU threads.

1. Dates (generated on the fly: human-readable dates in 14 formats -> ISO 8601): a bidirectional
   GRU encoder-decoder with attention trained for 5 minutes; exact match on 2,000 held-out dates
   (sources never seen in training), greedy and beam 5. Target: >= 99 %.
2. English -> Spanish verses (bundled, fixed split): the same budget with and without attention
   (bidirectional LSTM encoder 2 x 128, decoder 256, general attention without input feeding,
   which trained about 1.4x faster in a measurement not committed; lr 3e-3 decayed linearly to
   zero over the budget, bfloat16 where the CPU has it); corpus BLEU (sacrebleu, lowercased
   word-level text) for greedy and beam 5, and BLEU by source length. Targets: beam >= greedy;
   attention >= no attention + 5 BLEU, the gain growing with length.

    python benchmarks/bench_seq2seq.py [--dates-minutes 5] [--en-es-minutes 15] [--skip-en-es]
                                        [--score-only]   # re-score the checkpoints in --work, no training
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rnnkit.config import SEQ2SEQ_RECIPES, Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig, recipe_config
from rnnkit.tasks.bleu import bootstrap_interval, corpus_bleu
from rnnkit.tasks.translation import TranslationTask, Translator
from rnnkit.text import corpora
from rnnkit.train.trainer import Trainer


def train(pairs, model_cfg, s2s, out, minutes, recipe, score_only=False):
    """Trains into ``out``; with ``score_only`` keeps the checkpoint already there. Returns the best
    validation metrics and the training seconds (read back from metrics.jsonl when scoring only)."""
    if score_only:
        log = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
        seconds = max((r["seconds"] for r in log if "seconds" in r), default=None)
        return json.loads((Path(out) / "checkpoint.json").read_text())["metrics"], seconds
    cfg = recipe_config(TrainConfig, recipe, out=str(out), epochs=1000, max_minutes=minutes, patience=0, seed=0,
                        overwrite=True)  # a rerun of the benchmark replaces its own runs
    task = TranslationTask.from_pairs(pairs["train"], pairs["validation"], model_cfg, s2s, cfg)
    start = time.perf_counter()
    best = Trainer(task, cfg, progress=False).fit()
    return best, time.perf_counter() - start


def _trained(minutes, seconds):
    return f"{minutes:g} min of training" if seconds is None else f"{seconds / 60:.1f} min of training"


def dates(minutes, work, score_only=False):
    pairs = corpora.load("dates")
    test = pairs["test"]
    recipe = SEQ2SEQ_RECIPES["dates"]
    best, seconds = train(pairs, recipe_config(Seq2SeqModelConfig, recipe),
                          recipe_config(Seq2SeqConfig, recipe), work / "dates", minutes, recipe, score_only)
    result = Translator.load(work / "dates").evaluate(test, beams=(1, 5), buckets=(12, 20))
    for name, r in result.items():
        print(f"dates {name:7s} exact match {r['exact_match']:.4f} on {len(test)} held-out dates "
              f"({_trained(minutes, seconds)})", flush=True)
    ok = result["greedy"]["exact_match"] >= 0.99
    print(f"dates target (>= 99 % within {minutes:g} min): {'met' if ok else 'NOT met'}")
    return {"minutes": minutes, "train_seconds": seconds, "best_validation": best, "test": result}


def en_es(minutes, work, limit, score_only=False, max_len=60):
    splits = corpora.load("en-es")
    test = splits["test"][:limit] if limit else splits["test"]
    rows, stats = {}, {}
    for attention in ("general", "none"):
        recipe = SEQ2SEQ_RECIPES["en-es"]
        s2s = recipe_config(Seq2SeqConfig, recipe, attention=attention, max_src_len=max_len, max_tgt_len=max_len)
        model = recipe_config(Seq2SeqModelConfig, recipe)
        best, seconds = train(splits, model, s2s, work / f"en-es-{attention}", minutes,
                              recipe, score_only)
        print(f"en-es attention={attention}: {_trained(minutes, seconds)}, best validation loss "
              f"{best['loss']:.4f}", flush=True)
        rows[attention], stats[attention] = Translator.load(work / f"en-es-{attention}").evaluate(
            test, beams=(1, 5), return_stats=True)
        for name, r in rows[attention].items():
            buckets = "  ".join(f"{k}: {v['bleu']:.2f}" for k, v in r["by_length"].items())
            print(f"en-es attention={attention:7s} {name:7s} BLEU {r['bleu']:6.2f}   by source length: {buckets}",
                  flush=True)
    att, none = rows["general"], rows["none"]
    gain = {k: att["beam5"]["by_length"][k]["bleu"] - v["bleu"] for k, v in none["beam5"]["by_length"].items()}
    print(f"beam >= greedy (attention): {'met' if att['beam5']['bleu'] >= att['greedy']['bleu'] else 'NOT met'}; "
          f"attention >= none + 5 BLEU (beam 5): "
          f"{'met' if att['beam5']['bleu'] >= none['beam5']['bleu'] + 5 else 'NOT met'}")
    print("attention's gain (beam 5 BLEU) by source length: " + "  ".join(f"{k}: {v:+.2f}" for k, v in gain.items()))
    intervals = gain_intervals(stats["general"]["beam5"], stats["none"]["beam5"], stats["general"]["buckets"])
    return {"minutes": minutes, "test_pairs": len(test), "results": rows, "attention_gain_by_length": gain,
            "gain_intervals_95": intervals}


def gain_intervals(att, none, buckets, resamples=1000):
    """95 % paired-bootstrap intervals of attention's gain in each length bucket, and of the change
    in gain from each bucket to the next (the sentences of one bucket are resampled together for
    both models; different buckets independently)."""
    names, groups = list(buckets), [[att[idx], none[idx]] for idx in buckets.values()]
    gain = lambda g: corpus_bleu(g[0]) - corpus_bleu(g[1])  # noqa: E731
    out = {"gain": {}, "change": {}}
    for name, group in zip(names, groups):
        out["gain"][name] = bootstrap_interval(lambda s: gain(s[0]), [group], resamples)
    for (a, ga), (b, gb) in zip(zip(names, groups), zip(names[1:], groups[1:])):
        out["change"][f"{a} -> {b}"] = bootstrap_interval(lambda s: gain(s[1]) - gain(s[0]), [ga, gb], resamples)
    print("95 % intervals (paired bootstrap, 1,000 resamples): gain " + "  ".join(
        f"{k}: [{lo:+.1f}, {hi:+.1f}]" for k, (lo, hi) in out["gain"].items()) + ";  change of gain " + "  ".join(
        f"{k}: [{lo:+.1f}, {hi:+.1f}]" for k, (lo, hi) in out["change"].items()), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dates-minutes", type=float, default=5.0)
    ap.add_argument("--en-es-minutes", type=float, default=15.0)
    ap.add_argument("--en-es-limit", type=int, default=0, help="score only the first N test pairs")
    ap.add_argument("--skip-en-es", action="store_true")
    ap.add_argument("--skip-dates", action="store_true")
    ap.add_argument("--en-es-max-len", type=int, default=60, help="en-es source and target limit, in tokens")
    ap.add_argument("--score-only", action="store_true", help="score the checkpoints already in --work")
    ap.add_argument("--work", default="runs/bench_seq2seq")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_seq2seq.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = Path(args.work)
    report = {"benchmark": "bench_seq2seq", "torch": torch.__version__, "threads": 2,
              "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "score_only": args.score_only,
              "en_es_max_len": args.en_es_max_len}
    if not args.skip_dates:
        report["dates"] = dates(args.dates_minutes, work, args.score_only)
    if not args.skip_en_es:
        report["en_es"] = en_es(args.en_es_minutes, work, args.en_es_limit, args.score_only,
                                args.en_es_max_len)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

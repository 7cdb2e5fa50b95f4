"""rnnkit train seq2seq, translate, eval seq2seq."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import UserError, add_train_flags, positive, read_text, split_rows

DATES_TRAIN, DATES_VALID, DATES_TEST = 30000, 1000, 2000


def _pairs(args, split: str | None = None) -> dict:
    """Training/validation/test pairs from --data, --corpus en-es or --corpus dates."""
    from ..text import corpora
    from ..text.datasets import read_pairs
    from ..text.dates import date_pairs

    if bool(args.corpus) == bool(args.data):
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    if args.data:
        pairs = read_pairs(args.data)
        if split == "eval":
            return {"eval": pairs}
        train, valid = split_rows(pairs, 20)
        if not valid:
            raise UserError(f"{args.data} has {len(pairs)} pairs: too few to hold out every 20th for validation")
        return {"train": train, "validation": valid}
    if args.corpus == "dates":  # generated; the validation and test sources never occur in training
        train = date_pairs(DATES_TRAIN, seed=1)
        seen = {s for s, _ in train}
        valid = date_pairs(DATES_VALID, seed=2, exclude=seen)
        test = date_pairs(DATES_TEST, seed=3, exclude=seen | {s for s, _ in valid})
        return {"train": train, "validation": valid, "test": test, "eval": test}
    splits = corpora.load(args.corpus)
    return {**splits, "eval": splits[getattr(args, "split", "test")]}


def cmd_train_seq2seq(args) -> None:
    from ..config import SEQ2SEQ_RECIPES, ModelConfig, Seq2SeqConfig, TrainConfig, config_from_args
    from ..tasks.translation import TranslationTask
    from ..train.trainer import Trainer

    pairs = _pairs(args)
    recipe = SEQ2SEQ_RECIPES.get(args.corpus, {})  # a bundled corpus brings its measured recipe
    s2s = config_from_args(Seq2SeqConfig, args, recipe)
    model_cfg = config_from_args(ModelConfig, args, recipe)
    train_cfg = config_from_args(TrainConfig, args, recipe, out=args.out or "runs/seq2seq")
    task = TranslationTask.from_pairs(pairs["train"], pairs["validation"], model_cfg, s2s, train_cfg)
    print(f"{len(pairs['train'])} training and {len(pairs['validation'])} validation pairs, vocabularies "
          f"{len(task.encoder.src.vocab)} / {len(task.encoder.tgt.vocab)}, attention {s2s.attention}")
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    print(f"best validation loss {best.get('loss', float('nan')):.4f}, greedy exact match "
          f"{best.get('exact_match_greedy', float('nan')):.4f}; checkpoint in {train_cfg.out}")


def cmd_translate(args) -> None:
    from ..tasks.translation import Translator

    sources = list(args.texts)
    if args.input:
        sources += [line for line in read_text(args.input).splitlines()]
    if not sources:
        raise UserError("nothing to translate: give sources as arguments or --input FILE")
    for i, s in enumerate(sources, start=1):
        if not s.strip():
            raise UserError(f"source {i} is empty")
    if args.beam < 1:
        raise UserError(f"--beam must be at least 1; got {args.beam}")
    translator = Translator.load(args.checkpoint)
    results = translator.translate(sources, beam=args.beam, n_best=args.n_best, max_len=args.max_len)
    for hyps in results:
        if args.n_best == 1:
            print(hyps[0].text)
        else:
            for h in hyps:
                print(f"{h.score:.4f}\t{h.text}")
    if args.plot_attention:
        from ..train.plots import plot_attention

        h = results[0][0]
        if h.attention is None:
            raise UserError("this model has no attention to plot (trained with --attention none)")
        rows = h.target_tokens + ["</s>"] * (h.attention.shape[0] - len(h.target_tokens))
        plot_attention(h.attention, h.source_tokens, rows, args.plot_attention)
        print(f"attention of the first translation written to {args.plot_attention}", file=sys.stderr)


def cmd_eval_seq2seq(args) -> None:
    from ..tasks.translation import Translator

    translator = Translator.load(args.checkpoint)
    pairs = _pairs(args, "eval")["eval"]
    if args.limit:
        pairs = pairs[: args.limit]
    result = translator.evaluate(pairs, beams=(1, args.beam) if args.beam > 1 else (1,))
    print(f"{len(pairs)} pairs")
    for name, r in result.items():
        buckets = "  ".join(f"{k}: {v['bleu']:.2f} ({v['sentences']})" for k, v in r["by_length"].items())
        print(f"{name:7s} BLEU {r['bleu']:6.2f}  exact match {r['exact_match']:.4f}   by source length: {buckets}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def register(sub, train, ev) -> None:
    from ..config import ModelConfig, Seq2SeqConfig, TrainConfig

    ts = train.add_parser("seq2seq", help="train a sequence-to-sequence model with attention")
    ts.add_argument("--data", help="source<TAB>target lines (every 20th pair held out for validation)")
    ts.add_argument("--corpus", choices=("en-es", "dates"),
                    help="bundled verse pairs, or generated dates; each brings its measured recipe "
                         "(rnnkit.config.SEQ2SEQ_RECIPES) as the default of every flag not given")
    add_train_flags(ts, (Seq2SeqConfig, TrainConfig, ModelConfig), skip=("pooling", "tie_weights"))
    ts.set_defaults(run=cmd_train_seq2seq)

    es = ev.add_parser("seq2seq", help="BLEU and exact match, greedy and beam side by side")
    es.add_argument("--checkpoint", required=True)
    es.add_argument("--data", help="source<TAB>target lines")
    es.add_argument("--corpus", choices=("en-es", "dates"))
    es.add_argument("--split", default="test", choices=("train", "validation", "test"))
    es.add_argument("--beam", type=int, default=5)
    es.add_argument("--limit", type=int, default=0, help="evaluate the first N pairs only")
    es.add_argument("--json", help="also write the figures to this JSON file")
    es.set_defaults(run=cmd_eval_seq2seq)

    tr = sub.add_parser("translate", help="translate with a sequence-to-sequence model")
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("texts", nargs="*", metavar="TEXT")
    tr.add_argument("--input", help="a UTF-8 file, one source per line")
    tr.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy)")
    tr.add_argument("--n-best", type=positive, default=1)
    tr.add_argument("--max-len", type=positive, default=None)
    tr.add_argument("--plot-attention", metavar="OUT.png", help="heatmap of the first translation's attention")
    tr.set_defaults(run=cmd_translate)

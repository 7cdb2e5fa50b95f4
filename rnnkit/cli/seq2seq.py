"""rnnkit train seq2seq, translate, eval seq2seq."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..config import MAX_DECODE_LEN
from .common import (
    MAX_BEAM,
    UserError,
    add_device_flag,
    add_train_flags,
    device,
    input_lines,
    non_negative,
    positive,
    positive_at_most,
)


def _pairs(args, split: str | None = None) -> dict:
    """Training/validation/test pairs from --data, --corpus en-es or --corpus dates."""
    from ..text import corpora
    from ..text.datasets import read_pairs

    if bool(args.corpus) == bool(args.data):
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    if args.data:
        pairs = read_pairs(args.data, stdin=split == "eval")  # `eval seq2seq --data -` reads standard input
        if split == "eval":
            return {"eval": pairs}
        parts = corpora.split(pairs, every=20, held_out=["validation"])
        if not parts["validation"]:
            raise UserError(f"{args.data} has {len(pairs)} pairs: too few to hold out every 20th for validation")
        return parts
    splits = corpora.load(args.corpus)
    # --split chooses a part of en-es only; the dates are always scored on their test part
    part = "test" if args.corpus == "dates" else getattr(args, "split", "test")
    return {**splits, "eval": splits[part]}


def cmd_train_seq2seq(args) -> None:
    from ..config import SEQ2SEQ_RECIPES, Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig, config_from_args
    from ..tasks.translation import TranslationTask
    from ..train.trainer import Trainer
    from .run import launched, training_run

    if launched(args):  # --nproc N: the N processes under torchrun did the work
        return

    sections = {"model": Seq2SeqModelConfig, "seq2seq": Seq2SeqConfig, "train": TrainConfig}
    device(args)  # a device this machine lacks: one line, before the folder is claimed or the data read
    with training_run(args, sections, "runs/seq2seq") as data:
        pairs = _pairs(args)
        recipe = SEQ2SEQ_RECIPES.get(args.corpus, {})  # a bundled corpus brings its measured recipe
        s2s = config_from_args(Seq2SeqConfig, args, recipe)
        model_cfg = config_from_args(Seq2SeqModelConfig, args, recipe)
        train_cfg = config_from_args(TrainConfig, args, recipe)
        task = TranslationTask.from_pairs(pairs["train"], pairs["validation"], model_cfg, s2s, train_cfg)
        print(f"{len(pairs['train'])} training and {len(pairs['validation'])} validation pairs, vocabularies "
              f"{len(task.codec.src.vocab)} / {len(task.codec.tgt.vocab)}, attention {s2s.attention}")
        best = Trainer(task, train_cfg, progress=not args.quiet, data=data).fit()
    print(f"best validation loss {best.get('loss', float('nan')):.4f}, greedy exact match "
          f"{best.get('exact_match_greedy', float('nan')):.4f}; checkpoint in {train_cfg.out}")


def cmd_translate(args) -> None:
    from ..decode import DecodeConfig
    from ..tasks.translation import Translator

    where = device(args)
    sources, filled = input_lines(args, "source {i} is empty",
                                  "nothing to translate: give sources as arguments or --input FILE")
    if args.n_best > args.beam:
        raise UserError(f"--n-best {args.n_best} is more than --beam {args.beam}; a beam keeps at most --beam "
                        "translations")
    plot = _plot_path(args.plot_attention) if args.plot_attention else None
    translator = Translator.load(args.checkpoint, where)
    config = DecodeConfig(num_beams=args.beam, num_return_sequences=args.n_best, max_new_tokens=args.max_len)
    results = translator.translate([sources[i] for i in filled], progress=not args.quiet, config=config)
    by_line = dict(zip(filled, results))
    for i in range(len(sources)):
        if i not in by_line:
            print()
        elif args.n_best == 1:
            print(by_line[i][0].text)
        else:
            for h in by_line[i]:
                print(f"{h.score:.4f}\t{h.text}")
    if plot:
        from ..train.plots import plot_attention

        h = results[0][0]
        if h.attention is None:
            raise UserError("this model has no attention to plot (trained with --attention none)")
        rows = h.target_tokens + ["</s>"] * (h.attention.shape[0] - len(h.target_tokens))
        written = plot_attention(h.attention, h.source_tokens, rows, plot)
        print(f"attention of the first translation written to {written}", file=sys.stderr)


def _plot_path(name: str) -> Path:
    """Where --plot-attention NAME writes, checked before any translating: matplotlib picks the
    format by the suffix, and writes PNG to NAME.png when there is none."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(name)
    if not path.name:
        raise UserError(f"--plot-attention needs a file name; got {name!r}")
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise UserError(f"--plot-attention {name}: matplotlib cannot write {path.suffix} files; use one of "
                        f"{', '.join('.' + f for f in sorted(formats))}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no such folder: {path.parent} (for --plot-attention {name})")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file (for --plot-attention)")
    return path


def cmd_eval_seq2seq(args) -> None:
    from ..tasks.translation import Translator

    translator = Translator.load(args.checkpoint, device(args))
    pairs = _pairs(args, "eval")["eval"]
    if args.limit:
        pairs = pairs[: args.limit]
    result = translator.evaluate(pairs, beams=(1, args.beam) if args.beam > 1 else (1,), progress=not args.quiet)
    print(f"{len(pairs)} pairs")
    for name, r in result.items():
        buckets = "  ".join(f"{k}: {v['bleu']:.2f} ({v['sentences']})" for k, v in r["by_length"].items())
        print(f"{name:7s} BLEU {r['bleu']:6.2f}  exact match {r['exact_match']:.4f}   by source length: {buckets}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def register(sub, train, ev) -> None:
    from ..config import Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig

    ts = train.add_parser("seq2seq", help="train a sequence-to-sequence model with attention")
    ts.add_argument("--data", help="source<TAB>target lines (every 20th pair held out for validation)")
    ts.add_argument("--corpus", choices=("en-es", "dates"),
                    help="bundled verse pairs, or generated dates; each brings its measured recipe "
                         "(rnnkit.config.SEQ2SEQ_RECIPES) as the default of every flag not given")
    add_train_flags(ts, (Seq2SeqConfig, TrainConfig, Seq2SeqModelConfig),
                    defaults={"out": "runs/seq2seq"})
    ts.set_defaults(run=cmd_train_seq2seq)

    es = ev.add_parser("seq2seq", help="BLEU and exact match, greedy and beam side by side")
    es.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train seq2seq`")
    es.add_argument("--data", help="source<TAB>target lines; - reads standard input")
    es.add_argument("--corpus", choices=("en-es", "dates"), help="a bundled corpus (its test pairs by default)")
    es.add_argument("--split", default="test", choices=("train", "validation", "test"),
                    help="which part of --corpus en-es (default: test)")
    es.add_argument("--beam", type=positive_at_most(MAX_BEAM), default=5,
                    help="beam size scored beside greedy decoding (default: 5; 1 = greedy only)")
    es.add_argument("--limit", type=non_negative, default=0,
                    help="evaluate the first N pairs only (default: 0 = all)")
    es.add_argument("--json", help="also write the figures to this JSON file")
    es.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_flag(es)
    es.set_defaults(run=cmd_eval_seq2seq)

    tr = sub.add_parser("translate", help="translate with a sequence-to-sequence model")
    tr.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train seq2seq`")
    tr.add_argument("texts", nargs="*", metavar="TEXT", help="sources to translate")
    tr.add_argument("--input", help="a UTF-8 file, one source per line (a blank line gets an empty output line); "
                    "- reads standard input")
    tr.add_argument("--beam", type=positive_at_most(MAX_BEAM), default=5, help="beam size (default: 5; 1 = greedy)")
    tr.add_argument("--n-best", type=positive, default=1,
                    help="translations printed per source, best first, each after its score (default: 1)")
    tr.add_argument("--max-len", type=positive_at_most(MAX_DECODE_LEN), default=None,
                    help="longest translation, in tokens (default: the model's --max-tgt-len + 1)")
    tr.add_argument("--plot-attention", metavar="OUT.png",
                    help="heatmap of the first translation's attention (.png added when OUT has no suffix)")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_flag(tr)
    tr.set_defaults(run=cmd_translate)

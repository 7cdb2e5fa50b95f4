"""The ``rnnkit`` command line.

    rnnkit demo [--minutes 3] [--out runs/demo]        character-level LSTM on the bundled Shakespeare
    rnnkit compare [--length 50] [--train-steps 600] [--cells gru,lstm,rnn] [--out runs/compare]
    rnnkit train lm (--corpus shakespeare | --data FILE) [--level char|word|bpe] [--cell ...] [--bptt N] ...
    rnnkit eval lm --checkpoint DIR (--data FILE | --corpus shakespeare [--split test])
    rnnkit generate --checkpoint DIR [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K]
                    [--top-p P] [--seed S] [--greedy] [--num N]
    rnnkit train classify --data FILE.tsv [--text-column C --label-column C] [--cell lstm|gru|rnn]
                          [--max-len N] [--bidirectional] [--out DIR] [common train flags]
    rnnkit eval classify --checkpoint DIR --data FILE
    rnnkit predict classify --checkpoint DIR [TEXT ...] [--input FILE]

Common train flags (from the typed configs in ``rnnkit.config``): --out --epochs --max-steps
--max-minutes --seed --batch-size --lr --hidden-size --num-layers --embedding-size --dropout --cell ...

A user's mistake (a bad option, a missing file) ends with one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), pointing at --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2."""


def _cells(text: str) -> list[str]:
    cells = [c.strip().lower() for c in text.split(",") if c.strip()]
    bad = [c for c in cells if c not in ("rnn", "lstm", "gru")]
    if bad or not cells:
        raise argparse.ArgumentTypeError(f"cells must be a comma-separated list of rnn, lstm, gru; got {text!r}")
    return cells


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def cmd_compare(args) -> None:
    """Compares RNN, LSTM and GRU: gradient flow over length, then learning a long recall task."""
    import torch

    from .analysis.memory import RecallConfig, RecallModel, gradient_flow, train_recall

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("rnnkit compare: how far back can RNN, LSTM and GRU remember?\n")
    print("1. Gradient flow at initialisation: ||dL/dx_1|| / ||dL/dx_T|| (1 = no decay, tiny = vanished)")
    lengths = [10, 25, 50, 100]
    flows = {}
    print(f"   {'steps':>6s}" + "".join(f"{c:>12s}" for c in args.cells))
    for T in lengths:
        cfg = RecallConfig(steps=T, seed=args.seed)
        row = {}
        for cell in args.cells:
            torch.manual_seed(args.seed)
            row[cell] = gradient_flow(RecallModel(cell, cfg.symbols, cfg.hidden_size), cfg,
                                      torch.Generator().manual_seed(args.seed))
        flows[T] = row
        print(f"   {T:6d}" + "".join(f"{row[c]:12.2e}" for c in args.cells))

    cfg = RecallConfig(steps=args.length, train_steps=args.train_steps, seed=args.seed)
    print(f"\n2. Recall the first of {cfg.steps} random symbols ({cfg.symbols} kinds; chance = "
          f"{1 / cfg.symbols:.1%}), {cfg.train_steps} Adam steps of batch {cfg.batch_size}, hidden {cfg.hidden_size}")
    results = [train_recall(cell, cfg, progress=not args.quiet) for cell in args.cells]
    print(f"\n   {'cell':6s} {'accuracy':>9s} {'parameters':>11s} {'train s':>8s}")
    for r in results:
        print(f"   {r['cell']:6s} {r['accuracy']:9.1%} {r['parameters']:11d} {r['train_seconds']:8.1f}")
    report = out / "recall.json"
    report.write_text(json.dumps({"gradient_flow": flows, "recall": results}, indent=1))
    print(f"\nResults written to {report}")


def _lm_texts(args) -> dict:
    from .tasks.language_model import split_text
    from .text import corpora

    if bool(args.corpus) == bool(args.data):
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    if args.corpus:
        return corpora.load(args.corpus)
    return split_text(_read_text(args.data))


def _read_text(path) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text (byte {err.start}); convert it, e.g. with iconv -t utf-8") from None
    if not text.strip():
        raise UserError(f"{path} is empty")
    return text


def cmd_train_lm(args) -> None:
    from .config import LMConfig, ModelConfig, TrainConfig, config_from_args
    from .tasks.language_model import LanguageModel, LanguageModelTask
    from .train.trainer import Trainer

    texts = _lm_texts(args)
    model_cfg = config_from_args(ModelConfig, args)
    lm_cfg = config_from_args(LMConfig, args)
    train_cfg = config_from_args(TrainConfig, args, out=args.out or "runs/lm")
    task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg, lm_cfg, train_cfg)
    print(f"{task.tbptt.streams.numel()} training tokens in {train_cfg.batch_size} streams, vocabulary "
          f"{len(task.encoder.vocab)}, {task.batches_per_epoch()} windows of {lm_cfg.bptt} per epoch")
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    from .tasks.language_model import nats_to_report

    print(f"best validation: {nats_to_report(best)}")
    print(f"checkpoint in {train_cfg.out}, loss curve {Path(train_cfg.out) / 'loss.png'}")
    if not args.quiet:
        sample = LanguageModel.load(train_cfg.out).generate(max_tokens=200, temperature=0.8, seed=0)[0]
        print(f"sample:\n{sample}")


def cmd_eval_lm(args) -> None:
    from .tasks.language_model import LanguageModel, nats_to_report

    lm = LanguageModel.load(args.checkpoint)
    text = _lm_texts(args)[args.split] if args.corpus else _read_text(args.data)
    print(nats_to_report(lm.evaluate(text)))


def cmd_generate(args) -> None:
    from .tasks.language_model import LanguageModel

    lm = LanguageModel.load(args.checkpoint)
    outs = lm.generate(args.prompt, args.max_tokens, args.temperature, args.top_k, args.top_p, args.seed,
                       greedy=args.greedy, num=args.num)
    for i, text in enumerate(outs):
        if args.num > 1:
            print(f"--- sample {i + 1}")
        print(args.prompt + text)


def cmd_demo(args) -> None:
    """Trains a character-level LSTM language model on the bundled Shakespeare, then samples it."""
    import torch

    from .config import LMConfig, ModelConfig, TrainConfig
    from .tasks.language_model import LanguageModel, LanguageModelTask, nats_to_report
    from .text import corpora
    from .train.trainer import Trainer

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    print(f"rnnkit demo: a character-level LSTM language model on Shakespeare, {args.minutes:g} minutes of "
          "training on the CPU\n")
    texts = corpora.load("shakespeare")
    model_cfg = ModelConfig(cell="lstm", embedding_size=64, hidden_size=512, num_layers=1, dropout=0.0)
    train_cfg = TrainConfig(out=args.out, epochs=50, batch_size=32, lr=3e-3, max_minutes=args.minutes,
                            eval_every=200, patience=0, lr_decay=2.0, checkpoint_every=200)
    task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg,
                                       LMConfig(level="char", bptt=128), train_cfg)
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    print(f"\nbest validation: {nats_to_report(best)}")
    lm = LanguageModel.load(args.out)
    for prompt in ("ROMEO:\n", "KING HENRY.\n"):
        print(f"\n--- sample (temperature 0.7) after {prompt!r}:\n{prompt}"
              f"{lm.generate(prompt, 300, temperature=0.7, seed=1)[0]}")
    print(f"\nCheckpoint: {args.out}/ (model.safetensors, checkpoint.json); loss curve: {args.out}/loss.png; "
          f"metrics: {args.out}/metrics.jsonl")
    print(f"Go on with: rnnkit generate --checkpoint {args.out} --prompt 'JULIET:' --temperature 0.8")


def _split_rows(rows, valid_every: int = 10):
    """The fixed hold-out rule: row i goes to validation when i % valid_every == valid_every - 1."""
    train = [r for i, r in enumerate(rows) if i % valid_every != valid_every - 1]
    valid = [r for i, r in enumerate(rows) if i % valid_every == valid_every - 1]
    return train, valid


def cmd_train_classify(args) -> None:
    from .config import ModelConfig, TextConfig, TrainConfig, config_from_args
    from .tasks.classification import ClassificationTask
    from .text.datasets import read_labeled_rows
    from .train.trainer import Trainer

    model_cfg = config_from_args(ModelConfig, args)
    text_cfg = config_from_args(TextConfig, args)
    train_cfg = config_from_args(TrainConfig, args, out=args.out or "runs/classify")
    rows = read_labeled_rows(args.data, args.text_column, args.label_column)
    if args.valid_data:
        train_rows, valid_rows = rows, read_labeled_rows(args.valid_data, args.text_column, args.label_column)
    else:
        train_rows, valid_rows = _split_rows(rows)
        if not valid_rows:
            raise UserError(f"{args.data} has {len(rows)} rows: too few to hold out every 10th for validation; "
                            "add rows or give --valid-data")
    task = ClassificationTask.from_rows(train_rows, valid_rows, model_cfg, text_cfg, train_cfg)
    print(f"{len(train_rows)} training and {len(valid_rows)} validation texts, {len(task.labels)} labels, "
          f"vocabulary {len(task.encoder.vocab)}, padding {task.padding_fraction():.1%} of positions "
          f"(length-bucketed batches)")
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    print(f"best validation accuracy {best.get('accuracy', float('nan')):.4f}; checkpoint in {train_cfg.out}")


def cmd_eval_classify(args) -> None:
    from .tasks.classification import Classifier
    from .text.datasets import read_labeled_rows

    clf = Classifier.load(args.checkpoint)
    result = clf.evaluate(read_labeled_rows(args.data, args.text_column, args.label_column, need_two_labels=False))
    print(f"accuracy {result['accuracy']:.4f}  loss {result['loss']:.4f}  examples {result['examples']}")


def cmd_predict_classify(args) -> None:
    from .tasks.classification import Classifier

    texts = list(args.texts)
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text") from None
    if not texts:
        raise UserError("nothing to classify: give texts as arguments or --input FILE")
    clf = Classifier.load(args.checkpoint)
    for text, (label, prob) in zip(texts, clf.predict(texts)):
        print(f"{label}\t{prob:.3f}\t{text}")


def _add_train_flags(parser, skip=()):
    from .config import ModelConfig, TextConfig, TrainConfig, add_config_arguments

    for cls in (TrainConfig, ModelConfig, TextConfig):
        add_config_arguments(parser, cls, skip=skip)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description="Recurrent sequence models on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="train a character-level LSTM on Shakespeare and sample it")
    demo.add_argument("--minutes", type=float, default=3.0, help="training time")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    compare = sub.add_parser("compare", help="compare RNN, LSTM and GRU on a long-memory task")
    compare.add_argument("--length", type=_positive, default=50, help="sequence length of the recall task")
    compare.add_argument("--train-steps", type=_positive, default=600)
    compare.add_argument("--cells", type=_cells, default=["gru", "lstm", "rnn"])
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--out", default="runs/compare", help="folder for the JSON results")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(run=cmd_compare)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="task", required=True,
                                                                       parser_class=_Parser)
    tc = train.add_parser("classify", help="train a text classifier on a TSV/CSV file")
    tc.add_argument("--data", required=True, help="TSV/CSV file with a header line")
    tc.add_argument("--valid-data", help="validation file (default: every 10th row of --data)")
    tc.add_argument("--text-column", help="name or 0-based index of the text column (default: text)")
    tc.add_argument("--label-column", help="name or 0-based index of the label column (default: label)")
    _add_train_flags(tc, skip=("tie_weights",))
    tc.set_defaults(run=cmd_train_classify)

    tl = train.add_parser("lm", help="train a language model with truncated BPTT")
    from .config import LMConfig, ModelConfig, TrainConfig, add_config_arguments

    add_config_arguments(tl, LMConfig)
    add_config_arguments(tl, TrainConfig)
    add_config_arguments(tl, ModelConfig, skip=("pooling", "bidirectional"))
    tl.add_argument("--quiet", action="store_true", help="no progress bars")
    tl.set_defaults(run=cmd_train_lm)

    ev = sub.add_parser("eval", help="evaluate a checkpoint").add_subparsers(dest="task", required=True,
                                                                            parser_class=_Parser)
    ec = ev.add_parser("classify", help="accuracy of a classifier on a labelled file")
    ec.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train classify`")
    ec.add_argument("--data", required=True)
    ec.add_argument("--text-column")
    ec.add_argument("--label-column")
    ec.set_defaults(run=cmd_eval_classify)
    el = ev.add_parser("lm", help="cross-entropy, perplexity and bits per character of a language model")
    el.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train lm`")
    el.add_argument("--data", help="a UTF-8 text file (evaluated whole)")
    el.add_argument("--corpus", choices=("shakespeare",), help="a bundled corpus")
    el.add_argument("--split", default="test", choices=("train", "validation", "test"))
    el.set_defaults(run=cmd_eval_lm)

    gen = sub.add_parser("generate", help="continue a prompt with a language model")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--prompt", default="")
    gen.add_argument("--max-tokens", type=_positive, default=200)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--greedy", action="store_true", help="the most likely token each step")
    gen.add_argument("--num", type=_positive, default=1, help="how many continuations")
    gen.set_defaults(run=cmd_generate)

    pr = sub.add_parser("predict", help="predict with a checkpoint").add_subparsers(dest="task", required=True,
                                                                                   parser_class=_Parser)
    pc = pr.add_parser("classify", help="label texts given as arguments or one per line in --input")
    pc.add_argument("--checkpoint", required=True)
    pc.add_argument("texts", nargs="*", metavar="TEXT")
    pc.add_argument("--input", help="a UTF-8 file, one text per line")
    pc.set_defaults(run=cmd_predict_classify)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .train.trainer import TrainingError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""rnnkit train|eval|predict classify."""

from __future__ import annotations

from .common import UserError, add_device_flag, add_train_flags, device, input_lines


def cmd_train_classify(args) -> None:
    from ..config import ClassifierModelConfig, TextConfig, TrainConfig, config_from_args
    from ..tasks.classification import ClassificationTask
    from ..text.datasets import read_labeled_rows
    from ..train.trainer import Trainer
    from .run import launched, refuse_unread_flags, training_run

    if launched(args):  # --nproc N: the N processes under torchrun did the work
        return

    sections = {"model": ClassifierModelConfig, "text": TextConfig, "train": TrainConfig}
    refuse_unread_flags(args)
    device(args)  # a device this machine lacks: one line, before the folder is claimed or the data read
    with training_run(args, sections, "runs/classify") as data:
        if not args.data:
            raise UserError("give the training data with --data FILE.tsv")
        model_cfg = config_from_args(ClassifierModelConfig, args)
        text_cfg = config_from_args(TextConfig, args)
        train_cfg = config_from_args(TrainConfig, args)
        rows = read_labeled_rows(args.data, args.text_column, args.label_column)
        if args.valid_data:
            train_rows, valid_rows = rows, read_labeled_rows(args.valid_data, args.text_column, args.label_column)
        else:
            from ..text.corpora import split

            parts = split(rows, every=10, held_out=["validation"])
            train_rows, valid_rows = parts["train"], parts["validation"]
            if not valid_rows:
                raise UserError(f"{args.data} has {len(rows)} rows: too few to hold out every 10th for validation; "
                                "add rows or give --valid-data")
        task = ClassificationTask.from_rows(train_rows, valid_rows, model_cfg, text_cfg, train_cfg)
        print(f"{len(train_rows)} training and {len(valid_rows)} validation texts, {len(task.labels)} labels, "
              f"vocabulary {len(task.codec.vocab)}, padding {task.padding_fraction():.1%} of positions "
              f"(length-bucketed batches)")
        best = Trainer(task, train_cfg, progress=not args.quiet, data=data).fit()
    print(f"best validation accuracy {best.get('accuracy', float('nan')):.4f}; checkpoint in {train_cfg.out}")


def cmd_eval_classify(args) -> None:
    from ..tasks.classification import Classifier
    from ..text.datasets import read_labeled_rows

    clf = Classifier.load(args.checkpoint, device(args))
    rows = read_labeled_rows(args.data, args.text_column, args.label_column, need_two_labels=False, stdin=True)
    result = clf.evaluate(rows, progress=not args.quiet)
    print(f"accuracy {result['accuracy']:.4f}  loss {result['loss']:.4f}  examples {result['examples']}")


def cmd_predict_classify(args) -> None:
    from ..tasks.classification import Classifier

    where = device(args)
    texts, filled = input_lines(args, "text {i} is empty; give texts with words in them",
                                "nothing to classify: give texts as arguments or --input FILE")
    clf = Classifier.load(args.checkpoint, where)
    predictions = dict(zip(filled, clf.predict([texts[i] for i in filled], progress=not args.quiet)))
    for i, text in enumerate(texts):
        if i not in predictions:
            print()
            continue
        label, prob = predictions[i]
        print(f"{label}\t{prob:.3f}\t{text}")


def register(sub, train, ev, predict) -> None:
    tc = train.add_parser("classify", help="train a text classifier on a TSV/CSV file")
    tc.add_argument("--data", help="TSV/CSV file with a header line (required, except with --resume)")
    tc.add_argument("--valid-data", help="validation file (default: every 10th row of --data)")
    tc.add_argument("--text-column", help="name or 0-based index of the text column (default: text)")
    tc.add_argument("--label-column", help="name or 0-based index of the label column (default: label)")
    from ..config import ClassifierModelConfig, TextConfig, TrainConfig

    add_train_flags(tc, (TrainConfig, ClassifierModelConfig, TextConfig),
                    defaults={"out": "runs/classify"})
    tc.set_defaults(run=cmd_train_classify)

    ec = ev.add_parser("classify", help="accuracy of a classifier on a labelled file")
    ec.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train classify`")
    ec.add_argument("--data", required=True, help="TSV/CSV file with a header line; - reads TSV from standard input")
    ec.add_argument("--text-column", help="name or 0-based index of the text column (default: text)")
    ec.add_argument("--label-column", help="name or 0-based index of the label column (default: label)")
    ec.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_flag(ec)
    ec.set_defaults(run=cmd_eval_classify)

    pc = predict.add_parser("classify", help="label texts given as arguments or one per line in --input")
    pc.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train classify`")
    pc.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    pc.add_argument("--input", help="a UTF-8 file, one text per line (a blank line gets an empty output line); "
                    "- reads standard input")
    pc.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_flag(pc)
    pc.set_defaults(run=cmd_predict_classify)

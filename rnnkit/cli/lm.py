"""rnnkit demo, train lm, eval lm, generate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .common import (
    MAX_BEAM,
    UserError,
    add_device_flag,
    add_train_flags,
    device,
    non_negative,
    non_negative_at_most,
    positive_at_most,
    positive_float,
    probability,
    read_text,
    seed,
)

# The longest continuation `generate` writes: far past any useful sample, short of a typo's 10**20
# that would run until killed.
MAX_TOKENS = 100_000


def _lm_texts(args) -> dict:
    from ..text import corpora

    if bool(args.corpus) == bool(args.data):
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    if args.corpus:
        return corpora.load(args.corpus)
    return corpora.split(read_text(args.data))  # the bundled corpora's rule: 90 % / 5 % / 5 %, contiguous


def cmd_train_lm(args) -> None:
    from ..config import LM_RECIPE, LM_TCN_RECIPE, LanguageModelConfig, LMConfig, TrainConfig, config_from_args
    from ..tasks.language_model import LanguageModel, LanguageModelTask, nats_to_report
    from ..train.distributed import is_main_process
    from ..train.trainer import Trainer
    from .run import launched, refuse_unread_flags, training_run

    if launched(args):  # --nproc N: the N processes under torchrun did the work
        return

    refuse_unread_flags(args)
    device(args)  # a device this machine lacks: one line, before the folder is claimed or the text read
    with training_run(args, {"model": LanguageModelConfig, "lm": LMConfig, "train": TrainConfig}, "runs/lm") as data:
        recipe = LM_TCN_RECIPE if args.cell == "tcn" else LM_RECIPE  # (after --resume filled in the saved flags)
        model_cfg = config_from_args(LanguageModelConfig, args, recipe)
        lm_cfg = config_from_args(LMConfig, args, recipe)
        train_cfg = config_from_args(TrainConfig, args, recipe)
        texts = _lm_texts(args)
        task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg, lm_cfg, train_cfg)
        print(f"{task.tbptt.streams.numel()} training tokens in {train_cfg.batch_size} streams, vocabulary "
              f"{len(task.codec.vocab)}, " + (f"{task.batches_in_epoch(1)} windows of about {lm_cfg.bptt} in the first "
                                               "epoch" if lm_cfg.random_bptt else
                                               f"{task.batches_per_epoch()} windows of {lm_cfg.bptt} per epoch"))
        best = Trainer(task, train_cfg, progress=not args.quiet, data=data).fit()
    print(f"best validation: {nats_to_report(best)}")
    curve = Path(train_cfg.out) / "loss.png"  # absent when it could not be drawn (the run warned)
    print(f"checkpoint in {train_cfg.out}" + (f", loss curve {curve}" if curve.is_file() else ""))
    if not args.quiet and is_main_process():  # (the other ranks of a data-parallel run print nothing)
        sample = LanguageModel.load(train_cfg.out, train_cfg.device).generate(max_tokens=200, temperature=0.8,
                                                                               seed=0)[0]
        print(f"sample:\n{sample}")


def cmd_eval_lm(args) -> None:
    from ..tasks.language_model import LanguageModel, nats_to_report

    where = device(args)
    if bool(args.corpus) == bool(args.data):  # before anything is loaded or read
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    lm = LanguageModel.load(args.checkpoint, where)
    text = _lm_texts(args)[args.split] if args.corpus else read_text(args.data, stdin=True)
    print(nats_to_report(lm.evaluate(text, progress=not args.quiet)))


def cmd_generate(args) -> None:
    from ..tasks.language_model import LanguageModel, decode_config

    config = decode_config(args.max_tokens, args.temperature, args.top_k, args.top_p, args.seed, args.greedy,
                           args.num, args.beam)  # conflicting options are refused before the checkpoint loads
    lm = LanguageModel.load(args.checkpoint, device(args))
    outs = lm.generate(args.prompt, num=args.num, config=config)
    for i, text in enumerate(outs):
        if args.num > 1:
            print(f"--- sample {i + 1}")
        print(lm.join(args.prompt, text))


DEMO_DATA = {"corpus": "shakespeare", "demo": True}  # what marks a demo's run (its checkpoint's "data")


def _run_in(out) -> dict | None:
    """The record of the run committed in ``out`` (its best model's or its resumable state's); None
    when there is none (a new or empty folder, or one that holds only what a killed save left)."""
    for where in (Path(out), Path(out) / "resume"):
        try:
            meta = json.loads((where / "checkpoint.json").read_bytes())
        except FileNotFoundError:
            continue
        except (OSError, ValueError, RecursionError):
            return {}  # unreadable: a run, but not one to replace unasked
        return meta if isinstance(meta, dict) else {}
    return None


def _is_demo(meta: dict) -> bool:
    """Whether ``meta`` is a demo's run: marked so, or written before the mark by a demo (a language
    model with no data record: ``rnnkit train`` has always written one, the demo never did)."""
    data = meta.get("data")
    if isinstance(data, dict) and data.get("demo") is True:
        return True
    return data is None and meta.get("model_type") == "lm"


def cmd_demo(args) -> None:
    """Trains a character-level LSTM language model on the bundled Shakespeare, then samples it."""
    import torch

    from ..config import LM_DEMO_RECIPE
    from ..tasks.language_model import LanguageModel, LanguageModelTask, nats_to_report, recipe_configs
    from ..text import corpora
    from ..train.trainer import Trainer

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    print(f"rnnkit demo: a character-level LSTM language model on Shakespeare, {args.minutes:g} minutes of "
          "training on the CPU\n")
    # The demo is the CPU's: its recipe and its 3 minutes are measured there.
    model_cfg, lm_cfg, train_cfg = recipe_configs(args.out, recipe=LM_DEMO_RECIPE, epochs=50, max_minutes=args.minutes,
                                                  eval_every=1000, patience=0, checkpoint_every=500, device="cpu")
    # A second `make demo` replaces the first one's run; any other run in --out is refused.
    earlier = _run_in(args.out)
    if earlier is not None and not args.overwrite and not _is_demo(earlier):
        raise UserError(f"--out {args.out} holds another run (a {earlier.get('model_type', 'model')} trained by "
                        "rnnkit train), not an earlier demo; give another --out, or --overwrite to replace it")
    train_cfg = dataclasses.replace(train_cfg, overwrite=earlier is not None or args.overwrite)
    texts = corpora.load("shakespeare")
    task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg, lm_cfg, train_cfg)
    best = Trainer(task, train_cfg, progress=not args.quiet, data=DEMO_DATA).fit()
    print(f"\nbest validation: {nats_to_report(best)}")
    lm = LanguageModel.load(args.out)
    for prompt in ("ROMEO:\n", "KING HENRY.\n"):
        print(f"\n--- sample (temperature 0.7) after {prompt!r}:\n{prompt}"
              f"{lm.generate(prompt, 300, temperature=0.7, seed=1)[0]}")
    curve = f"loss curve: {args.out}/loss.png; " if (Path(args.out) / "loss.png").is_file() else ""
    print(f"\nCheckpoint: {args.out}/ (checkpoint.json and the weights it names); {curve}"
          f"metrics: {args.out}/metrics.jsonl")
    print(f"Go on with: rnnkit generate --checkpoint {args.out} --prompt 'JULIET:' --temperature 0.8")


def register(sub, train, ev) -> None:
    from ..config import LM_RECIPE, LanguageModelConfig, LMConfig, TrainConfig

    demo = sub.add_parser("demo", help="train a character-level LSTM on Shakespeare and sample it")
    demo.add_argument("--minutes", type=positive_float, default=3.0, help="training time (default: 3)")
    demo.add_argument("--out", default="runs/demo", help="folder for the checkpoint and plots (default: runs/demo)")
    demo.add_argument("--overwrite", action="store_true",
                      help="replace a run in --out that is not an earlier demo (an earlier demo is always replaced)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    tl = train.add_parser("lm", help="train a language model with truncated BPTT")
    add_train_flags(tl, (LMConfig, TrainConfig, LanguageModelConfig),
                    defaults={**LM_RECIPE, "out": "runs/lm"})
    tl.set_defaults(run=cmd_train_lm)

    el = ev.add_parser("lm", help="cross-entropy, perplexity and bits per character of a language model")
    el.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train lm`")
    el.add_argument("--data", help="a UTF-8 text file (read as one stream; a tail shorter than one window per row "
                    "is left out, and the report counts the tokens scored); - reads standard input")
    el.add_argument("--corpus", choices=("shakespeare",), help="a bundled corpus")
    el.add_argument("--split", default="test", choices=("train", "validation", "test"),
                    help="which part of --corpus (default: test)")
    el.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_flag(el)
    el.set_defaults(run=cmd_eval_lm)

    gen = sub.add_parser("generate", help="continue a prompt with a language model")
    gen.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train lm`")
    gen.add_argument("--prompt", default="", help="text to continue (default: empty, as after a line break)")
    gen.add_argument("--max-tokens", type=positive_at_most(MAX_TOKENS), default=200,
                     help=f"tokens to generate, at most {MAX_TOKENS} (default: 200)")
    gen.add_argument("--temperature", type=positive_float, default=1.0,
                     help="sampling temperature, > 0; below 1 sharper, above 1 flatter (default: 1.0)")
    gen.add_argument("--top-k", type=non_negative, default=0,
                     help="sample among the K most likely tokens only (default: 0 = all)")
    gen.add_argument("--top-p", type=probability, default=1.0,
                     help="sample within the smallest set of tokens holding this probability, in (0, 1] "
                          "(default: 1.0 = all)")
    gen.add_argument("--seed", type=seed, default=None, help="seed of the sampling (default: a fresh one each run)")
    gen.add_argument("--greedy", action="store_true", help="the most likely token each step")
    gen.add_argument("--beam", type=non_negative_at_most(MAX_BEAM), default=0,
                     help="beam search of this width (default: 0 = sample); "
                     "with --num N, the N best")
    gen.add_argument("--num", type=positive_at_most(1000), default=1, help="how many continuations (default: 1)")
    add_device_flag(gen)
    gen.set_defaults(run=cmd_generate)

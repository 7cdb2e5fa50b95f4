"""rnnkit demo, train lm, eval lm, generate."""

from __future__ import annotations

from pathlib import Path

from .common import UserError, add_train_flags, positive, read_text


def _lm_texts(args) -> dict:
    from ..tasks.language_model import split_text
    from ..text import corpora

    if bool(args.corpus) == bool(args.data):
        raise UserError("give exactly one of --corpus NAME and --data FILE")
    if args.corpus:
        return corpora.load(args.corpus)
    return split_text(read_text(args.data))


def cmd_train_lm(args) -> None:
    from ..config import LMConfig, ModelConfig, TrainConfig, config_from_args
    from ..tasks.language_model import LanguageModel, LanguageModelTask, nats_to_report
    from ..train.trainer import Trainer

    texts = _lm_texts(args)
    model_cfg = config_from_args(ModelConfig, args)
    lm_cfg = config_from_args(LMConfig, args)
    train_cfg = config_from_args(TrainConfig, args, out=args.out or "runs/lm")
    task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg, lm_cfg, train_cfg)
    print(f"{task.tbptt.streams.numel()} training tokens in {train_cfg.batch_size} streams, vocabulary "
          f"{len(task.encoder.vocab)}, {task.batches_per_epoch()} windows of {lm_cfg.bptt} per epoch")
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    print(f"best validation: {nats_to_report(best)}")
    print(f"checkpoint in {train_cfg.out}, loss curve {Path(train_cfg.out) / 'loss.png'}")
    if not args.quiet:
        sample = LanguageModel.load(train_cfg.out).generate(max_tokens=200, temperature=0.8, seed=0)[0]
        print(f"sample:\n{sample}")


def cmd_eval_lm(args) -> None:
    from ..tasks.language_model import LanguageModel, nats_to_report

    lm = LanguageModel.load(args.checkpoint)
    text = _lm_texts(args)[args.split] if args.corpus else read_text(args.data)
    print(nats_to_report(lm.evaluate(text)))


def cmd_generate(args) -> None:
    from ..tasks.language_model import LanguageModel

    lm = LanguageModel.load(args.checkpoint)
    if args.beam < 0:
        raise UserError(f"--beam must be >= 0 (0 = sample); got {args.beam}")
    outs = lm.generate(args.prompt, args.max_tokens, args.temperature, args.top_k, args.top_p, args.seed,
                       greedy=args.greedy, num=args.num, beam=args.beam)
    for i, text in enumerate(outs):
        if args.num > 1:
            print(f"--- sample {i + 1}")
        print(args.prompt + text)


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
    texts = corpora.load("shakespeare")
    model_cfg, lm_cfg, train_cfg = recipe_configs(args.out, recipe=LM_DEMO_RECIPE, epochs=50, max_minutes=args.minutes,
                                                  eval_every=1000, patience=0, checkpoint_every=500)
    task = LanguageModelTask.from_text(texts["train"], texts["validation"], model_cfg, lm_cfg, train_cfg)
    best = Trainer(task, train_cfg, progress=not args.quiet).fit()
    print(f"\nbest validation: {nats_to_report(best)}")
    lm = LanguageModel.load(args.out)
    for prompt in ("ROMEO:\n", "KING HENRY.\n"):
        print(f"\n--- sample (temperature 0.7) after {prompt!r}:\n{prompt}"
              f"{lm.generate(prompt, 300, temperature=0.7, seed=1)[0]}")
    print(f"\nCheckpoint: {args.out}/ (model.safetensors, checkpoint.json); loss curve: {args.out}/loss.png; "
          f"metrics: {args.out}/metrics.jsonl")
    print(f"Go on with: rnnkit generate --checkpoint {args.out} --prompt 'JULIET:' --temperature 0.8")


def register(sub, train, ev) -> None:
    from ..config import LM_RECIPE, LMConfig, ModelConfig, TrainConfig

    demo = sub.add_parser("demo", help="train a character-level LSTM on Shakespeare and sample it")
    demo.add_argument("--minutes", type=float, default=3.0, help="training time")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    tl = train.add_parser("lm", help="train a language model with truncated BPTT")
    add_train_flags(tl, (LMConfig, TrainConfig, ModelConfig), skip=("pooling", "bidirectional"), defaults=LM_RECIPE)
    tl.set_defaults(run=cmd_train_lm)

    el = ev.add_parser("lm", help="cross-entropy, perplexity and bits per character of a language model")
    el.add_argument("--checkpoint", required=True, help="folder written by `rnnkit train lm`")
    el.add_argument("--data", help="a UTF-8 text file (evaluated whole)")
    el.add_argument("--corpus", choices=("shakespeare",), help="a bundled corpus")
    el.add_argument("--split", default="test", choices=("train", "validation", "test"))
    el.set_defaults(run=cmd_eval_lm)

    gen = sub.add_parser("generate", help="continue a prompt with a language model")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--prompt", default="")
    gen.add_argument("--max-tokens", type=positive, default=200)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--greedy", action="store_true", help="the most likely token each step")
    gen.add_argument("--beam", type=int, default=0, help="beam search of this width (0 = sample); "
                     "with --num N, the N best")
    gen.add_argument("--num", type=positive, default=1, help="how many continuations")
    gen.set_defaults(run=cmd_generate)

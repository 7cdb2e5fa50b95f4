"""Language modelling on a token stream with truncated BPTT.

    task = LanguageModelTask.from_text(train_text, valid_text, model_cfg, lm_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    lm = LanguageModel.load("runs/lm")
    lm.generate("ROMEO:", max_tokens=200, temperature=0.8)
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..config import LM_RECIPE as RECIPE
from ..config import LMConfig, ModelConfig, TrainConfig, recipe_config
from ..decode import beam_search, greedy_search, sample
from ..models._common import at_least_float32
from ..models.lm import RNNLanguageModel
from ..text.tokenize import make_tokenizer, restore_tokenizer, tokenizer_state
from ..text.vocab import Vocab, warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.metrics import bits_per_char, perplexity
from ..train.tbptt import TruncatedBPTT, batchify, run_window
from ..train.trainer import seed_everything
from ._progress import progress_bar

MODEL_TYPE = "lm"
EVAL_BATCH = 16

def recipe_configs(out: str, cell: str = "lstm", level: str = "char", recipe: dict = RECIPE, **train) -> tuple:
    """``(ModelConfig, LMConfig, TrainConfig)`` of ``recipe`` (:data:`RECIPE` unless given);
    ``train`` sets other training fields."""
    return (recipe_config(ModelConfig, recipe, cell=cell), recipe_config(LMConfig, recipe, level=level),
            recipe_config(TrainConfig, recipe, out=out, **train))


class StreamEncoder:
    """Tokenizer + vocabulary for a running text: text <-> 1-D id tensor."""

    def __init__(self, tokenizer, vocab: Vocab, cfg: LMConfig):
        self.tokenizer, self.vocab, self.cfg = tokenizer, vocab, cfg

    @classmethod
    def fit(cls, text: str, cfg: LMConfig) -> StreamEncoder:
        tok = make_tokenizer(cfg.level, corpus=text.splitlines(keepends=True), vocab_size=cfg.vocab_size)
        return cls(tok, Vocab.build([tok.tokenize(text)], min_freq=cfg.min_freq), cfg)

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor(self.vocab.encode(self.tokenizer.tokenize(text)), dtype=torch.long)

    def decode(self, ids) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    @property
    def start_id(self) -> int:
        """The token generation starts from: a newline where the vocabulary has one (text after a
        line break is what a stream model has seen), else ``<bos>``."""
        return self.vocab.stoi.get("\n", self.vocab.stoi.get("Ċ", self.vocab.bos_id))

    def to_dict(self) -> dict:
        return {"lm": dataclasses.asdict(self.cfg), "vocab": self.vocab.to_dict(), **tokenizer_state(self.tokenizer)}

    @classmethod
    def from_dict(cls, d: dict, directory=".") -> StreamEncoder:
        cfg = config_from_meta(LMConfig, d, "lm", directory)
        return cls(restore_tokenizer(cfg.level, False, d), Vocab.from_dict(d["vocab"]), cfg)


@torch.no_grad()
def evaluate_stream(model, ids: torch.Tensor, bptt: int, chars_per_token: float, batch_size: int = EVAL_BATCH,
                    progress: bool = False):
    """Mean cross-entropy of a stream read in windows with the state carried; and its
    perplexity and bits per character. ``progress``: a bar on a terminal."""
    model.eval()
    streams = batchify(ids, min(batch_size, max(1, ids.shape[0] // 2)))
    total, count, state = 0.0, 0, None
    windows = TruncatedBPTT(streams, bptt)
    for window in progress_bar(windows.windows(), len(windows), "evaluate", progress):
        logits, state = run_window(model, window, state)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window.targets.reshape(-1),
                                       reduction="sum"))
        count += window.targets.numel()
    loss = total / count
    return {"loss": loss, "perplexity": perplexity(loss), "bits_per_char": bits_per_char(loss, chars_per_token),
            "tokens": count}


class LanguageModelTask:
    """The task protocol of :class:`rnnkit.train.Trainer` for an :class:`RNNLanguageModel`."""

    monitor, higher_is_better, unit = "loss", False, "tokens"

    def __init__(self, model, encoder: StreamEncoder, train_ids, valid_ids, valid_chars: int,
                 model_cfg: ModelConfig, train_cfg: TrainConfig):
        self.model, self.encoder = model, encoder
        self.model_cfg, self.train_cfg, self.lm_cfg = model_cfg, train_cfg, encoder.cfg
        cfg = encoder.cfg
        streams = batchify(train_ids, train_cfg.batch_size)
        if streams.shape[1] - 1 < cfg.bptt:
            raise ValueError(f"the training text gives {streams.shape[1]} tokens per batch row, fewer than one "
                             f"window (--bptt {cfg.bptt}); use more text, a smaller --batch-size or a smaller --bptt")
        if valid_ids.shape[0] < 2:
            raise ValueError("the validation text is empty; use more text")
        self.tbptt = TruncatedBPTT(streams, cfg.bptt, cfg.bptt_advance, cfg.random_bptt, train_cfg.seed)
        self.valid_ids = valid_ids
        self.chars_per_token = valid_chars / max(valid_ids.shape[0], 1)
        self.state = None

    @classmethod
    def from_text(cls, train_text: str, valid_text: str, model_cfg: ModelConfig, lm_cfg: LMConfig,
                  train_cfg: TrainConfig) -> LanguageModelTask:
        if not train_text.strip():
            raise ValueError("the training text is empty")
        seed_everything(train_cfg.seed)
        encoder = StreamEncoder.fit(train_text, lm_cfg)
        model = RNNLanguageModel.from_config(model_cfg, len(encoder.vocab))
        model.bos_id = encoder.start_id
        return cls(model, encoder, encoder.encode(train_text), encoder.encode(valid_text), len(valid_text),
                   model_cfg, train_cfg)

    # -- the task protocol ------------------------------------------------------------------------

    def start_epoch(self, epoch: int) -> None:
        self.state = None  # each epoch reads the streams from their start

    def batches_per_epoch(self) -> int:
        return len(self.tbptt)

    def train_batches(self, epoch: int):
        return self.tbptt.windows(epoch)

    def loss(self, window):
        logits, self.state = run_window(self.model, window, self.state)
        loss = F.cross_entropy(at_least_float32(logits.reshape(-1, logits.shape[-1])), window.targets.reshape(-1))
        return loss, window.targets.numel()

    def evaluate(self) -> dict:
        return evaluate_stream(self.model, self.valid_ids, self.lm_cfg.bptt, self.chars_per_token)

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg),
                "train": dataclasses.asdict(self.train_cfg), **self.encoder.to_dict()}

    def resume_state(self):
        if self.state is None:
            return {"state": None}, {}
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        return {"state": len(parts)}, {f"state{i}": s for i, s in enumerate(parts)}

    def restore(self, data: dict, tensors: dict) -> None:
        n = data.get("state")
        if not n:
            self.state = None
        else:
            parts = tuple(tensors[f"state{i}"] for i in range(n))
            self.state = parts if n > 1 else parts[0]


class LanguageModel:
    """A trained language model rebuilt from its checkpoint folder alone."""

    def __init__(self, model: RNNLanguageModel, encoder: StreamEncoder, meta: dict):
        self.model, self.encoder, self.meta = model.eval(), encoder, meta
        self.model.bos_id = encoder.start_id

    @classmethod
    def load(cls, directory) -> LanguageModel:
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        meta = ckpt.meta
        with checkpoint_fields(directory):
            encoder = StreamEncoder.from_dict(meta, directory)
            model = RNNLanguageModel.from_config(config_from_meta(ModelConfig, meta, "model", directory),
                                                 len(encoder.vocab))
        ckpt.load_into(model)
        return cls(model, encoder, meta)

    def evaluate(self, text: str, progress: bool = False) -> dict:
        """Loss, perplexity and bits per character on ``text``; warns when most tokens are unknown
        to the model; ``progress``: a bar on a terminal."""
        ids = self.encoder.encode(text)
        if ids.shape[0] < 2 * EVAL_BATCH:
            raise ValueError(f"the text has {ids.shape[0]} tokens; at least {2 * EVAL_BATCH} are needed")
        warn_if_mostly_unknown([ids], self.encoder.vocab, "evaluated")
        return evaluate_stream(self.model, ids, self.encoder.cfg.bptt, len(text) / ids.shape[0], progress=progress)

    def join(self, prompt: str, continuation: str) -> str:
        """``prompt`` followed by a continuation from :meth:`generate`, as one text. Characters and
        BPE decode losslessly, so they simply concatenate; a word-level model's continuation starts
        with a bare word, which gets the single space its detokenizer puts between words (none
        before closing punctuation, after opening punctuation, or where either side has whitespace)."""
        if self.encoder.cfg.level != "word" or not prompt or not continuation:
            return prompt + continuation
        return self.encoder.tokenizer.join(prompt, continuation)

    def generate(self, prompt: str = "", max_tokens: int = 200, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None, greedy: bool = False, num: int = 1,
                 beam: int = 0) -> list[str]:
        """``num`` continuations of ``prompt`` (the prompt itself not repeated): sampled, greedy, or
        the ``num`` best of a beam search of width ``beam``."""
        prefix = self.encoder.encode(prompt).unsqueeze(0).repeat(num, 1) if prompt else None
        src = torch.zeros(num, 0, dtype=torch.long)
        lengths = torch.zeros(num, dtype=torch.long)
        if beam:
            one = prefix[:1] if prefix is not None else None
            hyps = beam_search(self.model, src[:1], lengths[:1], beam_size=max(beam, num), max_len=max_tokens,
                               n_best=num, length_penalty=0.0, prefix=one)[0]
        elif greedy:
            hyps = greedy_search(self.model, src, lengths, max_tokens, prefix=prefix)
        else:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            hyps = sample(self.model, src, lengths, max_tokens, temperature, top_k, top_p, gen, prefix=prefix)
        return [self.encoder.decode(h.tokens) for h in hyps]


def split_text(text: str) -> dict:
    """A text file's fixed split, as for the bundled corpora: 90 % train, 5 % validation, 5 % test."""
    a, b = int(len(text) * 0.90), int(len(text) * 0.95)
    return {"train": text[:a], "validation": text[a:b], "test": text[b:]}


def nats_to_report(metrics: dict) -> str:
    return (f"loss {metrics['loss']:.4f} nats/token  perplexity {metrics['perplexity']:.2f}  "
            f"bits/char {metrics['bits_per_char']:.4f}  tokens {metrics['tokens']}")


__all__ = ["LanguageModelTask", "LanguageModel", "StreamEncoder", "evaluate_stream", "split_text", "RECIPE",
           "recipe_configs"]

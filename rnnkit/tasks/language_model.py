"""Language modelling on a token stream with truncated BPTT.

    task = LanguageModelTask.from_text(train_text, valid_text, model_cfg, lm_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    lm = LanguageModel.load("runs/lm")                   # device="cuda" to run it on the GPU
    lm.generate("ROMEO:", max_tokens=200, temperature=0.8)
    lm.generate("ROMEO:", config=DecodeConfig(num_beams=4, max_new_tokens=50))

The text's codec (tokenizer + vocabulary) is ``task.codec`` / ``lm.codec``. The task reads its
streams on its model's device (where :class:`rnnkit.train.Trainer` put it), and carries the
recurrent state there.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..config import LM_RECIPE as RECIPE
from ..config import LanguageModelConfig, LMConfig, TrainConfig, recipe_config
from ..decode import DecodeConfig, generate
from ..models._common import at_least_float32
from ..models.lm import RNNLanguageModel, language_model_from_config
from ..models.tcn_lm import TCNLanguageModel
from ..text.codec import TextCodec
from ..text.vocab import Vocab, warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.metrics import bits_per_char, perplexity
from ..train.runtime import module_device, resolve_device, seed_everything
from ..train.tbptt import TruncatedBPTT, batchify, run_window
from ._progress import progress_bar

MODEL_TYPE = "lm"
EVAL_BATCH = 16

def recipe_configs(out: str, cell: str = "lstm", level: str = "char", recipe: dict = RECIPE, **train) -> tuple:
    """``(LanguageModelConfig, LMConfig, TrainConfig)`` of ``recipe`` (:data:`RECIPE` unless given);
    ``train`` sets other training fields."""
    return (recipe_config(LanguageModelConfig, recipe, cell=cell), recipe_config(LMConfig, recipe, level=level),
            recipe_config(TrainConfig, recipe, out=out, **train))


def fit_codec(text: str, cfg: LMConfig) -> TextCodec:
    """The codec of a running text: ``cfg``'s tokenizer (BPE trained on the text's lines, never
    lowercased) and the vocabulary of the whole text's tokens."""
    return TextCodec.fit([text], cfg.level, min_freq=cfg.min_freq, bpe_vocab_size=cfg.vocab_size,
                         bpe_corpus=text.splitlines(keepends=True))


def encode_stream(codec: TextCodec, text: str) -> torch.Tensor:
    """``text`` as one stream of ids, (T,)."""
    return torch.tensor(codec.encode(text), dtype=torch.long)


def start_id(vocab: Vocab) -> int:
    """The token generation starts from: a newline where the vocabulary has one (text after a line
    break is what a stream model has seen; ``Ċ`` is byte-level BPE's newline), else ``<bos>``."""
    return vocab.stoi.get("\n", vocab.stoi.get("Ċ", vocab.bos_id))


@torch.no_grad()
def evaluate_stream(model, ids: torch.Tensor, bptt: int, chars_per_token: float, batch_size: int = EVAL_BATCH,
                    progress: bool = False):
    """Mean cross-entropy of a stream read in windows with the state carried; and its
    perplexity and bits per character. ``progress``: a bar on a terminal. Runs on ``model``'s device."""
    model.eval()
    streams = batchify(ids.to(module_device(model)), min(batch_size, max(1, ids.shape[0] // 2)))
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
    """The task protocol of :class:`rnnkit.train.Trainer` for an :class:`RNNLanguageModel` or a
    :class:`TCNLanguageModel`; the carried state (a recurrent state, or a TCN's context of token ids)
    is saved with a resumable run."""

    monitor, higher_is_better, unit = "loss", False, "tokens"

    def __init__(self, model, codec: TextCodec, lm_cfg: LMConfig, train_ids, valid_ids, valid_chars: int,
                 model_cfg: LanguageModelConfig, train_cfg: TrainConfig):
        self.model, self.codec = model, codec
        self.model_cfg, self.train_cfg, self.lm_cfg = model_cfg, train_cfg, lm_cfg
        cfg = lm_cfg
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
    def from_text(cls, train_text: str, valid_text: str, model_cfg: LanguageModelConfig, lm_cfg: LMConfig,
                  train_cfg: TrainConfig) -> LanguageModelTask:
        if not train_text.strip():
            raise ValueError("the training text is empty")
        seed_everything(train_cfg.seed)
        codec = fit_codec(train_text, lm_cfg)
        model = language_model_from_config(model_cfg, len(codec.vocab))
        model.bos_id = start_id(codec.vocab)
        return cls(model, codec, lm_cfg, encode_stream(codec, train_text), encode_stream(codec, valid_text),
                   len(valid_text), model_cfg, train_cfg)

    # -- the task protocol ------------------------------------------------------------------------

    def start_epoch(self, epoch: int) -> None:
        self.state = None  # each epoch reads the streams from their start

    def batches_per_epoch(self) -> int:
        return len(self.tbptt)

    def batches_in_epoch(self, epoch: int) -> int:
        return self.tbptt.count(epoch)  # random window lengths (--random-bptt) make it vary by epoch

    def shard(self, rank: int, world_size: int) -> None:
        """Data-parallel (see :class:`rnnkit.train.task.ShardedTask`): this rank reads its own
        contiguous streams, rows ``rank * b`` to ``(rank + 1) * b - 1`` of the global batch's
        ``batch_size`` streams (``b = batch_size / world_size``), and carries their state itself.
        Every rank reads windows of the same lengths (drawn from the seed and epoch alone), so all
        ranks run the same number of windows. Called once, before training."""
        rows = self.tbptt.streams.shape[0] // world_size
        self.tbptt.streams = self.tbptt.streams[rank * rows : (rank + 1) * rows]

    def train_batches(self, epoch: int):
        # The streams move once to where the model is (the trainer moved it); windows are slices of them.
        self.tbptt.streams = self.tbptt.streams.to(module_device(self.model))
        return self.tbptt.windows(epoch)

    def loss(self, window):
        logits, self.state = run_window(self.model, window, self.state)
        loss = F.cross_entropy(at_least_float32(logits.reshape(-1, logits.shape[-1])), window.targets.reshape(-1))
        return loss, window.targets.numel()

    def evaluate(self) -> dict:
        return evaluate_stream(self.model, self.valid_ids, self.lm_cfg.bptt, self.chars_per_token)

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg),
                "train": dataclasses.asdict(self.train_cfg), "lm": dataclasses.asdict(self.lm_cfg),
                **self.codec.to_dict()}

    def resume_state(self):
        if self.state is None:
            return {"state": None}, {}
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        return {"state": len(parts)}, {f"state{i}": s for i, s in enumerate(parts)}

    def restore(self, data: dict, tensors: dict) -> None:
        n = data.get("state")
        if not n:
            self.state = None
        else:  # read on the CPU; carried on the model's device, whichever device saved it
            device = module_device(self.model)
            parts = tuple(tensors[f"state{i}"].to(device) for i in range(n))
            self.state = parts if n > 1 else parts[0]
            self._check_carried_state()

    def _check_carried_state(self) -> None:
        """A ValueError (the trainer names the checkpoint) when the restored state does not fit the
        model and this process's streams: one token is run from it now, in evaluation mode and
        without gradients, so a damaged state is refused on resume, not at the first step."""
        rows = self.tbptt.streams.shape[0]
        state = self.state if isinstance(self.state, tuple) else (self.state,)
        weights = next(self.model.parameters())
        if not all(s.dtype in (weights.dtype, torch.long) for s in state):  # long: a TCN's context of tokens
            raise ValueError(f"the carried state is {', '.join(str(s.dtype) for s in state)}, not the model's "
                             f"{weights.dtype}")
        if not all(bool(s.isfinite().all()) for s in state if s.is_floating_point()):
            raise ValueError("the carried state holds NaN or infinite values")
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(torch.zeros(rows, 1, dtype=torch.long, device=weights.device), self.state)
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            shapes = ", ".join(str(tuple(s.shape)) for s in state)
            raise ValueError(f"the carried state {shapes} does not fit the model and its {rows} streams "
                             f"({first})") from None
        finally:
            self.model.train(training)


class LanguageModel:
    """A trained language model rebuilt from its checkpoint folder alone."""

    def __init__(self, model: RNNLanguageModel | TCNLanguageModel, codec: TextCodec, lm_cfg: LMConfig,
                 meta: dict | None = None):
        self.model, self.codec, self.lm_cfg, self.meta = model.eval(), codec, lm_cfg, meta or {}
        self.model.bos_id = start_id(codec.vocab)

    @classmethod
    def load(cls, directory, device: str | torch.device = "cpu") -> LanguageModel:
        """The model saved in ``directory``, on ``device`` (see
        :func:`~rnnkit.train.runtime.resolve_device`; ``"auto"``: a GPU where there is one). The
        weights are read onto the CPU and then moved, so a checkpoint saved on any device loads."""
        device = resolve_device(device)
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        meta = ckpt.meta
        with checkpoint_fields(directory):
            lm_cfg = config_from_meta(LMConfig, meta, "lm", directory)
            codec = TextCodec.from_dict(meta, lm_cfg.level)  # a stream's words are never lowercased
            model = language_model_from_config(config_from_meta(LanguageModelConfig, meta, "model", directory),
                                               len(codec.vocab))
        ckpt.load_into(model)
        return cls(model.to(device), codec, lm_cfg, meta)

    @property
    def device(self) -> torch.device:
        """Where the model runs (decoding and evaluation run there too)."""
        return module_device(self.model)

    def encode(self, text: str) -> torch.Tensor:
        """``text`` as the stream of ids the model reads, (T,)."""
        return encode_stream(self.codec, text)

    def evaluate(self, text: str, progress: bool = False) -> dict:
        """Loss, perplexity and bits per character on ``text``; warns when most tokens are unknown
        to the model; ``progress``: a bar on a terminal."""
        ids = self.encode(text)
        if ids.shape[0] < 2 * EVAL_BATCH:
            raise ValueError(f"the text has {ids.shape[0]} tokens; at least {2 * EVAL_BATCH} are needed")
        warn_if_mostly_unknown([ids], self.codec.vocab, "evaluated")
        return evaluate_stream(self.model, ids, self.lm_cfg.bptt, len(text) / ids.shape[0], progress=progress)

    def join(self, prompt: str, continuation: str) -> str:
        """``prompt`` followed by a continuation from :meth:`generate`, as one text. Characters and
        BPE decode losslessly, so they simply concatenate; a word-level model's continuation starts
        with a bare word, which gets the single space its detokenizer puts between words (none
        before closing punctuation, after opening punctuation, or where either side has whitespace)."""
        if self.lm_cfg.level != "word" or not prompt or not continuation:
            return prompt + continuation
        return self.codec.tokenizer.join(prompt, continuation)

    def generate(self, prompt: str = "", max_tokens: int = 200, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None, greedy: bool = False, num: int = 1,
                 beam: int = 0, *, config: DecodeConfig | None = None) -> list[str]:
        """``num`` continuations of ``prompt`` (the prompt itself not repeated): sampled, greedy, or
        the ``num`` best of a beam search of width ``beam`` (see :func:`decode_config`).

        ``config``, when given, replaces the keyword options but ``num``: its
        ``num_return_sequences`` continuations, or ``num`` copies of a greedy one.
        """
        if config is None:
            config = decode_config(max_tokens, temperature, top_k, top_p, seed, greedy, num, beam)
        # Greedy search gives one output per row: ``num`` copies of the prompt give the ``num`` asked for.
        rows = num if config.strategy == "greedy" else 1
        prefix = self.encode(prompt).unsqueeze(0).repeat(rows, 1) if prompt else None
        # the empty source sets the device the search runs on; lengths stay on the CPU (the layers read them there)
        src, lengths = torch.zeros(rows, 0, dtype=torch.long, device=self.device), torch.zeros(rows, dtype=torch.long)
        # <unk> is a target only where a word vocabulary leaves rare words out; characters and
        # bytes are all in the vocabulary of the text they came from
        stream_model = _StreamTokensOnly(self.model, self.codec.vocab, unknown=self.lm_cfg.level == "word")
        hyps = [h for row in generate(stream_model, src, lengths, config, prefix=prefix) for h in row]
        return [self.codec.decode(h.tokens) for h in hyps]


class _StreamTokensOnly:
    """A stream language model, for decoding, with ``<pad>``, ``<bos>`` and ``<eos>`` ruled out
    (and ``<unk>`` where it is never a target, ``unknown=False``): a stream holds none of them, so
    the model never learnt them, and a weak one that drew ``<eos>`` by chance ended a continuation
    long before ``max_tokens`` (``<unk>`` came out as nothing). The remaining probabilities are
    renormalised (scores and samples are the model's, given these tokens)."""

    def __init__(self, model, vocab, unknown: bool):
        self.model = model
        self.pad_id, self.bos_id, self.eos_id = model.pad_id, model.bos_id, model.eos_id  # bos_id: the start token
        specials = {vocab.pad_id, vocab.bos_id, vocab.eos_id} | (set() if unknown else {vocab.unk_id})
        self.banned = sorted(specials)  # the vocabulary's (the start token is a newline where there is one)
        self.banned_ids = torch.tensor(self.banned, device=module_device(model))  # once, not at every step

    def init_decoder_state(self, src, src_lengths):
        return self.model.init_decoder_state(src, src_lengths)

    def decode_step(self, tokens, state):
        log_probs, state, attn = self.model.decode_step(tokens, state)
        if len(self.banned) < log_probs.shape[1]:  # (a vocabulary of nothing but these: left as it is)
            log_probs = log_probs.index_fill(1, self.banned_ids, float("-inf"))
            log_probs = log_probs.log_softmax(1)
        return log_probs, state, attn

    def reorder_state(self, state, index):
        return self.model.reorder_state(state, index)


def decode_config(max_tokens: int = 200, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  seed: int | None = None, greedy: bool = False, num: int = 1, beam: int = 0) -> DecodeConfig:
    """The :class:`DecodeConfig` of :meth:`LanguageModel.generate`'s keyword options (those of
    ``rnnkit generate``): with ``beam``, a beam search of width ``max(beam, num)`` keeping the ``num``
    best by raw log-probability; else with ``greedy``, greedy search; else ``num`` samples. Options
    that the chosen search would ignore are refused (``ValueError``), not dropped in silence."""
    if beam and greedy:
        raise ValueError("--greedy and --beam are two searches: give one of them")
    sampling = [name for name, value, default in (("--temperature", temperature, 1.0), ("--top-k", top_k, 0),
                                                   ("--top-p", top_p, 1.0), ("--seed", seed, None))
                if value != default]
    if (beam or greedy) and sampling:
        verb = "applies" if len(sampling) == 1 else "apply"
        raise ValueError(f"{', '.join(sampling)} {verb} only to sampling, not to {'--beam' if beam else '--greedy'}; "
                         "drop one or the other")
    if beam:
        return DecodeConfig(num_beams=max(beam, num), num_return_sequences=num, max_new_tokens=max_tokens,
                            length_penalty=0.0)
    if greedy:
        return DecodeConfig(max_new_tokens=max_tokens)
    return DecodeConfig(do_sample=True, num_return_sequences=num, max_new_tokens=max_tokens, temperature=temperature,
                        top_k=top_k, top_p=top_p, seed=seed)


def nats_to_report(metrics: dict) -> str:
    return (f"loss {metrics['loss']:.4f} nats/token  perplexity {metrics['perplexity']:.2f}  "
            f"bits/char {metrics['bits_per_char']:.4f}  tokens {metrics['tokens']}")


__all__ = ["LanguageModelTask", "LanguageModel", "fit_codec", "encode_stream", "start_id", "decode_config",
           "evaluate_stream", "RECIPE", "recipe_configs"]

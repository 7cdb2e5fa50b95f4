"""Sequence to sequence: (source, target) pairs -> :class:`Seq2Seq`, trained by the shared loop.

    task = TranslationTask.from_pairs(train_pairs, valid_pairs, model_cfg, s2s_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    tr = Translator.load("runs/dates")                     # device="cuda" to decode on the GPU
    tr.translate(["3 March 1999"], beam=5)[0][0].text      # '1999-03-03'
    tr.translate(["3 March 1999"], config=DecodeConfig(num_beams=5, num_return_sequences=2))

The two sides' codecs (tokenizer + vocabulary each) are ``task.codec`` / ``tr.codec``, a
:class:`CodecPair`; their length limits are the :class:`Seq2SeqConfig` ``s2s_cfg``. Batches and
decoding run on the model's device; source lengths stay on the CPU, where the layers read them.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from ..config import Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig
from ..decode import DecodeConfig, generate, sampling_generator
from ..models.seq2seq import Seq2Seq
from ..text.batching import BucketBatchSampler, pad_batch
from ..text.codec import CodecPair, TextCodec
from ..text.vocab import caller_stacklevel, warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.distributed import StandIn, share
from ..train.runtime import module_device, resolve_device, seed_everything
from ._progress import progress_bar
from .bleu import corpus_bleu, sentence_stats

MODEL_TYPE = "seq2seq"
EVAL_DECODE = 200  # validation pairs decoded greedily at each evaluation


def fit_codec(pairs: Sequence[tuple[str, str]], cfg: Seq2SeqConfig) -> CodecPair:
    """The codecs of the training pairs' two sides, each with its own vocabulary."""
    return CodecPair.fit(pairs, cfg.level, cfg.lowercase, min_freq=cfg.min_freq, max_size=cfg.max_vocab)


def encode_sources(codec: TextCodec, texts: Iterable[str], max_len: int, warn: bool = True) -> list[list[int]]:
    """The ids of each source, cut to ``max_len`` (the model's ``max_src_len``); with ``warn``, one
    warning that says how many were cut."""
    out, cut = [], 0
    for text in texts:
        ids = codec.encode(text)
        if len(ids) > max_len:
            ids, cut = ids[:max_len], cut + 1
        out.append(ids)
    if cut and warn:
        warnings.warn(f"{cut} source(s) longer than the model's maximum of {max_len} tokens were truncated",
                      stacklevel=caller_stacklevel())
    return out


def build_model(model_cfg: Seq2SeqModelConfig, s2s: Seq2SeqConfig, codec: CodecPair) -> Seq2Seq:
    v = codec.tgt.vocab
    return Seq2Seq.from_config(model_cfg, s2s, len(codec.src.vocab), len(v), v.pad_id, v.bos_id, v.eos_id)


def make_batch(src, tgt, index, bos: int, eos: int):
    """``(src (B, S), src_lengths (B,), tgt_in (B, T), tgt_out (B, T))`` of the pairs ``index``, on the CPU."""
    s, s_len, _ = pad_batch([src[i] for i in index])
    tgt_in, _, _ = pad_batch([[bos] + tgt[i] for i in index])
    tgt_out, _, _ = pad_batch([tgt[i] + [eos] for i in index])
    return s, s_len, tgt_in, tgt_out


def to_device(batch, device: torch.device):
    """A :func:`make_batch` batch with its id tensors on ``device``; the lengths stay on the CPU."""
    s, s_len, tgt_in, tgt_out = batch
    return s.to(device), s_len, tgt_in.to(device), tgt_out.to(device)


class TranslationTask:
    """The task protocol of :class:`rnnkit.train.Trainer` for a :class:`Seq2Seq` model."""

    monitor, higher_is_better, unit = "loss", False, "tokens"

    def __init__(self, model, codec: CodecPair, s2s_cfg: Seq2SeqConfig, train_pairs, valid_pairs,
                 model_cfg: Seq2SeqModelConfig, train_cfg: TrainConfig):
        self.model, self.codec, self.s2s_cfg = model, codec, s2s_cfg
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        n_src, n_tgt = s2s_cfg.max_src_len, s2s_cfg.max_tgt_len
        self.src = encode_sources(codec.src, [p[0] for p in train_pairs], n_src, warn=False)
        self.tgt = [codec.tgt.encode(p[1])[:n_tgt] for p in train_pairs]
        self.valid_pairs = valid_pairs
        self.valid_src = encode_sources(codec.src, [p[0] for p in valid_pairs], n_src, warn=False)
        self.valid_tgt = [codec.tgt.encode(p[1])[:n_tgt] for p in valid_pairs]
        self.sampler = BucketBatchSampler([len(s) for s in self.src], train_cfg.batch_size, seed=train_cfg.seed)
        self.rank, self.world_size = 0, 1  # see shard()

    @classmethod
    def from_pairs(cls, train_pairs, valid_pairs, model_cfg: Seq2SeqModelConfig, s2s: Seq2SeqConfig,
                   train_cfg: TrainConfig):
        for name, pairs in (("training", train_pairs), ("validation", valid_pairs)):
            if not pairs:
                raise ValueError(f"no {name} pairs")
        seed_everything(train_cfg.seed)
        codec = fit_codec(train_pairs, s2s)
        return cls(build_model(model_cfg, s2s, codec), codec, s2s, train_pairs, valid_pairs, model_cfg, train_cfg)

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def shard(self, rank: int, world_size: int) -> None:
        """Data-parallel (see :class:`rnnkit.train.task.ShardedTask`): every rank builds the same
        global batches (the length-bucketed order of the seed and epoch) and takes its contiguous
        share of each (:func:`rnnkit.train.distributed.share`); the shares' token counts differ,
        which the trainer's loss scaling accounts for."""
        self.rank, self.world_size = rank, world_size

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        v = self.codec.tgt.vocab
        for index in self.sampler:
            mine, real = share(index, self.rank, self.world_size)
            batch = make_batch(self.src, self.tgt, mine, v.bos_id, v.eos_id)
            yield batch if real else StandIn(batch)

    def loss(self, batch):
        if isinstance(batch, StandIn):  # a rank with no share of this batch: runs, adds nothing
            return self.loss(batch.batch)[0], 0
        batch = to_device(batch, module_device(self.model))
        return self.model.loss(*batch, label_smoothing=self.s2s_cfg.label_smoothing)

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.model.eval()
        v, device = self.codec.tgt.vocab, module_device(self.model)
        order = sorted(range(len(self.valid_src)), key=lambda i: len(self.valid_src[i]))
        total, count = 0.0, 0
        for start in range(0, len(order), 128):
            batch = to_device(make_batch(self.valid_src, self.valid_tgt, order[start : start + 128], v.bos_id,
                                         v.eos_id), device)
            loss, n = self.model.loss(*batch)
            total, count = total + float(loss) * n, count + n
        translator = Translator(self.model, self.codec, self.s2s_cfg)
        sample = self.valid_pairs[:EVAL_DECODE]
        hyps = translator.translate([p[0] for p in sample], warn=False, config=DecodeConfig())
        exact = sum(h[0].text == translator.reference(p[1]) for h, p in zip(hyps, sample)) / len(sample)
        return {"loss": total / count, "exact_match_greedy": exact}

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg),
                "train": dataclasses.asdict(self.train_cfg), "seq2seq": dataclasses.asdict(self.s2s_cfg),
                **self.codec.to_dict()}


@dataclass
class Translation:
    text: str
    score: float
    log_prob: float
    source_tokens: list[str]
    target_tokens: list[str]
    attention: torch.Tensor | None


class Translator:
    """A trained sequence-to-sequence model: translate with greedy or beam search, evaluate."""

    def __init__(self, model: Seq2Seq, codec: CodecPair, s2s_cfg: Seq2SeqConfig):
        self.model, self.codec, self.s2s_cfg = model.eval(), codec, s2s_cfg

    @classmethod
    def load(cls, directory, device: str | torch.device = "cpu") -> Translator:
        """The model saved in ``directory``, on ``device`` (see
        :func:`~rnnkit.train.runtime.resolve_device`; ``"auto"``: a GPU where there is one). The
        weights are read onto the CPU and then moved, so a checkpoint saved on any device loads."""
        device = resolve_device(device)
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        with checkpoint_fields(directory):
            s2s_cfg = config_from_meta(Seq2SeqConfig, ckpt.meta, "seq2seq", directory)
            codec = CodecPair.from_dict(ckpt.meta, s2s_cfg.level, s2s_cfg.lowercase)
            model_cfg = config_from_meta(Seq2SeqModelConfig, ckpt.meta, "model", directory)
            model = build_model(model_cfg, s2s_cfg, codec)
        ckpt.load_into(model)
        return cls(model.to(device), codec, s2s_cfg)

    @property
    def device(self) -> torch.device:
        """Where the model runs (decoding runs there too)."""
        return module_device(self.model)

    def encode_sources(self, texts: Iterable[str], warn: bool = True) -> list[list[int]]:
        """The ids of each source, cut to the model's ``max_src_len`` (see :func:`encode_sources`)."""
        return encode_sources(self.codec.src, texts, self.s2s_cfg.max_src_len, warn)

    def reference(self, text: str) -> str:
        """A target text in the form the model writes (tokenized and lowercased as the model is,
        then detokenized), otherwise whole: words outside the vocabulary are kept and nothing is
        cut at ``max_tgt_len``, so scores count what the model cannot produce."""
        return self.codec.tgt.normalize(text)

    @torch.no_grad()
    def translate(self, sources, beam: int = 1, n_best: int = 1, max_len: int | None = None,
                  batch_size: int = 64, length_penalty: float = 1.0, warn: bool = True,
                  progress: bool = False, *, config: DecodeConfig | None = None) -> list[list[Translation]]:
        """The ``n_best`` translations of each source, by greedy search (``beam=1``) or a beam
        search of width ``beam``, at most ``max_len`` tokens (default: the model's ``max_tgt_len + 1``).

        ``config``, when given, replaces ``beam``, ``n_best``, ``max_len`` and ``length_penalty``
        (and may sample: ``do_sample=True``). Sources longer than the model's maximum are truncated,
        with one warning unless ``warn=False`` (which also silences the warning that most source
        tokens are unknown to the model). ``progress``: a bar on a terminal. One str is one source
        (as a Hugging Face pipeline reads it, not a sequence of characters)."""
        if isinstance(sources, str):
            sources = [sources]
        if config is None:
            config = DecodeConfig(num_beams=beam, num_return_sequences=n_best, max_new_tokens=max_len,
                                  length_penalty=length_penalty)
        if config.max_new_tokens is None:
            config = dataclasses.replace(config, max_new_tokens=self.s2s_cfg.max_tgt_len + 1)
        for i, s in enumerate(sources):
            if not s.strip():
                raise ValueError(f"source {i + 1} is empty")
        ids = self.encode_sources(sources, warn=warn)
        if warn:
            warn_if_mostly_unknown(ids, self.codec.src.vocab, "source")
        src_codec, tgt_codec = self.codec.src, self.codec.tgt
        generator = sampling_generator(config)  # one for all batches: each draws where the last stopped
        label = f"beam {config.num_beams}" if config.strategy == "beam" else config.strategy
        out: list[list[Translation]] = []
        starts = range(0, len(ids), batch_size)
        for start in progress_bar(starts, len(starts), label, progress):
            chunk = ids[start : start + batch_size]
            src, lengths, _ = pad_batch(chunk)
            hyps = generate(self.model, src.to(self.device), lengths, config, generator=generator)
            for src_ids, hs in zip(chunk, hyps):
                out.append([Translation(tgt_codec.decode(h.tokens), h.score, h.log_prob,
                                        src_codec.decode_tokens(src_ids), tgt_codec.decode_tokens(h.tokens),
                                        h.attention) for h in hs])
        return out

    def evaluate(self, pairs, beams=(1, 5), buckets=(10, 20, 40), return_stats: bool = False,
                 progress: bool = False):
        """Corpus BLEU (sacrebleu) and exact match for each beam size, overall and by source length.
        Warns when most source and reference tokens are unknown to the model; ``progress``: a bar
        per beam size on a terminal.

        With ``return_stats`` also returns ``{"buckets": {name: sentence indices}, "greedy"/"beam5"...:
        (n, 10) per-sentence BLEU statistics}`` for intervals (see :mod:`rnnkit.tasks.bleu`)."""
        refs = [self.reference(t) for _, t in pairs]
        src_ids = self.encode_sources([s for s, _ in pairs], warn=False)
        # Both vocabularies have <unk> at the same id, so one count covers both sides.
        warn_if_mostly_unknown([*src_ids, *(self.codec.tgt.encode(t) for _, t in pairs)], self.codec.src.vocab,
                               "source and reference")
        lengths = [len(s) for s in src_ids]
        edges = [0, *buckets, 10**9]
        members = {}
        for lo, hi in zip(edges, edges[1:]):
            idx = [i for i, n in enumerate(lengths) if lo < n <= hi]
            if idx:
                members[f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}"] = idx
        result, stats = {}, {"buckets": members}
        for k in beams:
            name = f"beam{k}" if k > 1 else "greedy"
            config = DecodeConfig(num_beams=k)
            hyps = [h[0].text for h in self.translate([s for s, _ in pairs], warn=False, progress=progress,
                                                      config=config)]
            stats[name] = sentence_stats(hyps, refs)
            result[name] = {"bleu": corpus_bleu(stats[name]),
                            "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(refs),
                            "by_length": {bucket: {"sentences": len(idx), "bleu": corpus_bleu(stats[name][idx])}
                                          for bucket, idx in members.items()}}
        return (result, stats) if return_stats else result

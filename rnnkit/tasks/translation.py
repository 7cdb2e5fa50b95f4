"""Sequence to sequence: (source, target) pairs -> :class:`Seq2Seq`, trained by the shared loop.

    task = TranslationTask.from_pairs(train_pairs, valid_pairs, model_cfg, s2s_cfg, train_cfg)
    Trainer(task, train_cfg).fit()
    tr = Translator.load("runs/dates")
    tr.translate(["3 March 1999"], beam=5)[0][0].text      # '1999-03-03'
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import torch

from ..config import ModelConfig, Seq2SeqConfig, TrainConfig
from ..decode import beam_search, greedy_search
from ..models.seq2seq import Seq2Seq
from ..text.batching import BucketBatchSampler, pad_batch
from ..text.tokenize import make_tokenizer
from ..text.vocab import Vocab, warn_if_mostly_unknown
from ..train.checkpoint import checkpoint_fields, config_from_meta, load_checkpoint
from ..train.trainer import seed_everything
from ._progress import progress_bar
from .bleu import corpus_bleu, sentence_stats

MODEL_TYPE = "seq2seq"
EVAL_DECODE = 200  # validation pairs decoded greedily at each evaluation


class Side:
    """One side of the pairs: tokenizer + vocabulary."""

    def __init__(self, tokenizer, vocab: Vocab):
        self.tokenizer, self.vocab = tokenizer, vocab

    def ids(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def text(self, ids) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def tokens(self, ids) -> list[str]:
        return self.vocab.decode(ids)


class PairEncoder:
    def __init__(self, src: Side, tgt: Side, cfg: Seq2SeqConfig):
        self.src, self.tgt, self.cfg = src, tgt, cfg

    @classmethod
    def fit(cls, pairs, cfg: Seq2SeqConfig) -> PairEncoder:
        sides = []
        for k in (0, 1):
            tok = make_tokenizer(cfg.level, cfg.lowercase)
            vocab = Vocab.build((tok.tokenize(p[k]) for p in pairs), min_freq=cfg.min_freq, max_size=cfg.max_vocab)
            sides.append(Side(tok, vocab))
        return cls(sides[0], sides[1], cfg)

    def encode_sources(self, texts, warn: bool = True) -> list[list[int]]:
        out, cut = [], 0
        for text in texts:
            ids = self.src.ids(text)
            if len(ids) > self.cfg.max_src_len:
                ids, cut = ids[: self.cfg.max_src_len], cut + 1
            out.append(ids)
        if cut and warn:
            warnings.warn(f"{cut} source(s) longer than the model's maximum of {self.cfg.max_src_len} tokens were "
                          "truncated", stacklevel=2)
        return out

    def to_dict(self) -> dict:
        return {"seq2seq": dataclasses.asdict(self.cfg), "src_vocab": self.src.vocab.to_dict(),
                "tgt_vocab": self.tgt.vocab.to_dict()}

    @classmethod
    def from_dict(cls, d: dict, directory=".") -> PairEncoder:
        cfg = config_from_meta(Seq2SeqConfig, d, "seq2seq", directory)
        return cls(*(Side(make_tokenizer(cfg.level, cfg.lowercase), Vocab.from_dict(d[k]))
                     for k in ("src_vocab", "tgt_vocab")), cfg)


def build_model(model_cfg: ModelConfig, s2s: Seq2SeqConfig, enc: PairEncoder) -> Seq2Seq:
    v = enc.tgt.vocab
    return Seq2Seq(len(enc.src.vocab), len(v), model_cfg.embedding_size, model_cfg.hidden_size, model_cfg.num_layers,
                   model_cfg.cell, model_cfg.bidirectional, s2s.attention, model_cfg.dropout, v.pad_id, v.bos_id,
                   v.eos_id, s2s.input_feeding)


def make_batch(src, tgt, index, bos: int, eos: int):
    s, s_len, _ = pad_batch([src[i] for i in index])
    tgt_in, _, _ = pad_batch([[bos] + tgt[i] for i in index])
    tgt_out, _, _ = pad_batch([tgt[i] + [eos] for i in index])
    return s, s_len, tgt_in, tgt_out


class TranslationTask:
    """The task protocol of :class:`rnnkit.train.Trainer` for a :class:`Seq2Seq` model."""

    monitor, higher_is_better, unit = "loss", False, "tokens"

    def __init__(self, model, encoder: PairEncoder, train_pairs, valid_pairs, model_cfg, train_cfg):
        self.model, self.encoder, self.model_cfg, self.train_cfg = model, encoder, model_cfg, train_cfg
        self.src = encoder.encode_sources([p[0] for p in train_pairs], warn=False)
        self.tgt = [encoder.tgt.ids(p[1])[: encoder.cfg.max_tgt_len] for p in train_pairs]
        self.valid_pairs = valid_pairs
        self.valid_src = encoder.encode_sources([p[0] for p in valid_pairs], warn=False)
        self.valid_tgt = [encoder.tgt.ids(p[1])[: encoder.cfg.max_tgt_len] for p in valid_pairs]
        self.sampler = BucketBatchSampler([len(s) for s in self.src], train_cfg.batch_size, seed=train_cfg.seed)

    @classmethod
    def from_pairs(cls, train_pairs, valid_pairs, model_cfg: ModelConfig, s2s: Seq2SeqConfig, train_cfg: TrainConfig):
        for name, pairs in (("training", train_pairs), ("validation", valid_pairs)):
            if not pairs:
                raise ValueError(f"no {name} pairs")
        seed_everything(train_cfg.seed)
        encoder = PairEncoder.fit(train_pairs, s2s)
        return cls(build_model(model_cfg, s2s, encoder), encoder, train_pairs, valid_pairs, model_cfg, train_cfg)

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def train_batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        v = self.encoder.tgt.vocab
        for index in self.sampler:
            yield make_batch(self.src, self.tgt, index, v.bos_id, v.eos_id)

    def loss(self, batch):
        return self.model.loss(*batch, label_smoothing=self.encoder.cfg.label_smoothing)

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.model.eval()
        v = self.encoder.tgt.vocab
        order = sorted(range(len(self.valid_src)), key=lambda i: len(self.valid_src[i]))
        total, count = 0.0, 0
        for start in range(0, len(order), 128):
            batch = make_batch(self.valid_src, self.valid_tgt, order[start : start + 128], v.bos_id, v.eos_id)
            loss, n = self.model.loss(*batch)
            total, count = total + float(loss) * n, count + n
        translator = Translator(self.model, self.encoder)
        sample = self.valid_pairs[:EVAL_DECODE]
        hyps = translator.translate([p[0] for p in sample], beam=1, warn=False)
        exact = sum(h[0].text == translator.reference(p[1]) for h, p in zip(hyps, sample)) / len(sample)
        return {"loss": total / count, "exact_match_greedy": exact}

    def checkpoint_meta(self) -> dict:
        return {"model_type": MODEL_TYPE, "model": dataclasses.asdict(self.model_cfg),
                "train": dataclasses.asdict(self.train_cfg), **self.encoder.to_dict()}


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

    def __init__(self, model: Seq2Seq, encoder: PairEncoder):
        self.model, self.encoder = model.eval(), encoder

    @classmethod
    def load(cls, directory) -> Translator:
        ckpt = load_checkpoint(directory, MODEL_TYPE)
        with checkpoint_fields(directory):
            encoder = PairEncoder.from_dict(ckpt.meta, directory)
            model = build_model(config_from_meta(ModelConfig, ckpt.meta, "model", directory), encoder.cfg, encoder)
        ckpt.load_into(model)
        return cls(model, encoder)

    def reference(self, text: str) -> str:
        """A target text in the form the model writes (tokenized and lowercased as the model is,
        then detokenized), otherwise whole: words outside the vocabulary are kept and nothing is
        cut at ``max_tgt_len``, so scores count what the model cannot produce."""
        tokenizer = self.encoder.tgt.tokenizer
        return tokenizer.detokenize(tokenizer.tokenize(text))

    @torch.no_grad()
    def translate(self, sources, beam: int = 1, n_best: int = 1, max_len: int | None = None,
                  batch_size: int = 64, length_penalty: float = 1.0, warn: bool = True,
                  progress: bool = False) -> list[list[Translation]]:
        """The ``n_best`` translations of each source; sources longer than the model's maximum are
        truncated, with one warning unless ``warn=False`` (which also silences the warning that most
        source tokens are unknown to the model). ``progress``: a bar on a terminal."""
        if beam < 1:
            raise ValueError(f"beam must be at least 1; got {beam}")
        if not 1 <= n_best <= beam:
            raise ValueError(f"n_best must lie in [1, beam={beam}]; got {n_best}")
        for i, s in enumerate(sources):
            if not s.strip():
                raise ValueError(f"source {i + 1} is empty")
        max_len = max_len or self.encoder.cfg.max_tgt_len + 1
        ids = self.encoder.encode_sources(sources, warn=warn)
        if warn:
            warn_if_mostly_unknown(ids, self.encoder.src.vocab, "source")
        out: list[list[Translation]] = []
        starts = range(0, len(ids), batch_size)
        for start in progress_bar(starts, len(starts), f"beam {beam}" if beam > 1 else "greedy", progress):
            chunk = ids[start : start + batch_size]
            src, lengths, _ = pad_batch(chunk)
            if beam == 1:
                hyps = [[h] for h in greedy_search(self.model, src, lengths, max_len)]
            else:
                hyps = beam_search(self.model, src, lengths, beam_size=beam, max_len=max_len, n_best=n_best,
                                   length_penalty=length_penalty)
            for src_ids, hs in zip(chunk, hyps):
                out.append([Translation(self.encoder.tgt.text(h.tokens), h.score, h.log_prob,
                                        self.encoder.src.tokens(src_ids), self.encoder.tgt.tokens(h.tokens),
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
        src_ids = self.encoder.encode_sources([s for s, _ in pairs], warn=False)
        # Both vocabularies have <unk> at the same id, so one count covers both sides.
        warn_if_mostly_unknown([*src_ids, *(self.encoder.tgt.ids(t) for _, t in pairs)], self.encoder.src.vocab,
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
            hyps = [h[0].text for h in self.translate([s for s, _ in pairs], beam=k, warn=False, progress=progress)]
            stats[name] = sentence_stats(hyps, refs)
            result[name] = {"bleu": corpus_bleu(stats[name]),
                            "exact_match": sum(h == r for h, r in zip(hyps, refs)) / len(refs),
                            "by_length": {bucket: {"sentences": len(idx), "bleu": corpus_bleu(stats[name][idx])}
                                          for bucket, idx in members.items()}}
        return (result, stats) if return_stats else result

"""Does attention help more when the word order differs? Encoder-decoders with and without attention
on a synthetic translation whose reordering is controlled, then on the bundled English -> Spanish.

**Synthetic task.** A source is ``n`` symbols (``min_len <= n <= max_len``) drawn uniformly from
``vocab`` symbols; its target is ``target[i] = MAP[source[perm[i]]]`` with ``perm =``
:func:`permutation` ``(level, n)`` and ``MAP`` (:func:`target_map`) a fixed bijection of the symbols
onto a target vocabulary of the same size, so the task is a translation, not a copy. Levels:

- ``monotone``: the identity (a word-for-word translation);
- ``swap-2``: each consecutive window of 2 reversed, ``1 0 3 2 5 4 ...`` (an odd last token stays);
- ``swap-3``: each consecutive window of 3 reversed, ``2 1 0 5 4 3 ...``; a shorter last window is
  reversed too (n = 8: ``2 1 0 5 4 3 7 6``);
- ``reverse``: the whole sequence reversed;
- ``permutation``: one random permutation per length, drawn from ``random.Random(PERMUTATION_SEED + n)``.

:func:`make_pairs` draws the sources from a generator alone, so one seed gives the same sources
(symbols and lengths) at every level; only the order of the targets differs. Kendall's tau of each
level's permutation (:func:`kendall_tau`, averaged over the lengths) measures its reordering: 1 for
monotone, -1 for reverse.

**Models.** :class:`rnnkit.models.seq2seq.Seq2Seq` (bidirectional encoder, one layer, no input
feeding, so teacher forcing is one layer call), attention ``"none"``, ``"dot"``, ``"general"`` or
``"additive"``; each hidden width is matched (:func:`common.match_width`) to the parameter count of
the ``general`` model at ``hidden_size``: the models without a combine layer (none) or an attention
matrix (dot) are wider. Every model trains ``train_steps`` Adam steps at every level on fresh
batches (held-out sources never drawn), then decodes ``test_size`` held-out sources greedily
(:func:`rnnkit.decode.greedy_search`). Exact match: the whole hypothesis equals the target;
token accuracy: the share of target positions whose token the hypothesis has at that position (a
short hypothesis misses the rest); alignment accuracy (attention models): the share of decoded
positions i < min(len(hypothesis), n) whose attention argmax is the source position ``perm[i]``.

**English -> Spanish.** The bundled verses (``rnnkit.text.corpora.load("en-es")``), pairs whose two
sides both have at most ``en_es_max_len`` tokens (word level, lowercased: the en-es recipe's
codec), a ``general``-attention model and one without, widths matched, trained ``en_es_steps``
steps each on the same batches, decoded greedily on the short held-out pairs (the validation and
test splits: nothing is tuned on the validation split here). Per sentence, the
reordering is Kendall's tau-b of the attention model's argmax alignment (target position ->
argmax source position, eos step left out; NaN when fewer than 2 tokens or one source position
takes all: bucket ``"n/a"``); the gain of attention is the bucket's corpus BLEU (sacrebleu, through
:mod:`rnnkit.tasks.bleu`) and mean sentence chrF of the attention model minus the model without.
The tau is that of the model's own alignment, not of a gold one: a low tau can also be attention
that failed to align (often a poor translation), not a pair whose order differs.

Result keys beyond the contract's (levels, model labels and buckets are strings):

- ``levels``; ``models`` (the attention kinds, ``"none"`` included); ``widths``: ``{model: hidden}``;
- ``level_tau``: ``{level: mean Kendall tau of its permutation over the lengths}``;
- ``exact_match``, ``token_accuracy``: ``{model: {level: summarize(held-out share, one per seed)}}``;
- ``by_length``: ``{model: {level: {bucket: summarize(exact match)}}}``, buckets of source length
  (``"5-7"``); ``length_buckets``: their names in order;
- ``alignment_accuracy``: ``{model: {level: summarize}}``, attention models only;
- ``gain``: ``{level: mean over the attention kinds of (exact match - none's), mean over seeds}``;
- ``heatmaps``: ``{"model", "seed", "examples": {level: {"source", "target", "hypothesis",
  "permutation", "attention" (rows: decoded steps incl. eos, columns: source positions)}}}``;
- ``train_seconds``: ``{model: summarize(seconds of one training run)}``;
- ``en_es``: None when skipped, else ``{"pairs": {"train", "test"}, "max_len", "steps", "seeds",
  "parameters", "widths", "bleu", "chrf": {model: summarize}, "tau": summarize(mean tau per seed),
  "by_tau", "by_length": {bucket: {"sentences", "bleu_gain", "chrf_gain", "bleu_attention",
  "bleu_none": summarize}}, "tau_buckets", "length_buckets"}``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..decode import greedy_search
from ..models.seq2seq import ATTENTION, Seq2Seq
from ..tasks.translation import make_batch
from ..text.batching import pad_batch
from . import common
from .attention_word_order_report import ANCHORS, LUONG_GAIN, REFERENCE, figures, setup, tables
from .reordering import (  # re-exported: the task is part of what this experiment is
    LEVELS,
    MAP_SEED,  # noqa: F401
    PERMUTATION_SEED,  # noqa: F401
    SPECIALS,
    kendall_tau,
    make_pairs,
    make_sources,
    permutation,
    positive_int,
    target_map,
    translate,
)

NAME = "attention-word-order"
CLAIM = ("Attention looks at how close each source vector is to the decoder's word; it works well when the word "
         "order differs between the languages.")

KINDS = ("none", "dot", "general", "additive")
TEST_SEED = 30_000  # held-out sources, apart from every training seed
PAD, BOS, EOS = 0, 2, 3  # Seq2Seq's default special ids; id 1 (unk) is never used here
# REFERENCE, ANCHORS, LUONG_GAIN are imported from the report module: it shows them and must not import this one
SIMILAR = 0.02  # the verdict calls two exact-match gains similar when they differ by at most this


@dataclass
class Config:
    """Synthetic task: ``levels`` (of :data:`LEVELS`), ``vocab`` symbols, lengths ``min_len..max_len``,
    reported by buckets split at ``length_edges`` (a bucket starts at each edge). Models:
    ``attentions`` (of :data:`KINDS`, ``"none"`` and at least one attention kind), ``cell``,
    ``embedding_size``, widths matched to the ``general`` model at ``hidden_size``; ``train_steps``
    Adam steps at ``lr`` (gradient norm clipped to ``clip``) on batches of ``batch_size``; scored on
    ``test_size`` held-out sources; heatmaps of one held-out source of ``heatmap_length`` per level.
    English -> Spanish (skipped when ``en_es_steps`` is 0): pairs of at most ``en_es_max_len``
    tokens a side, models of ``en_es_embedding`` / ``en_es_hidden``, ``en_es_steps`` steps on batches
    of ``batch_size``, ``en_es_test`` held-out pairs (0 = all short ones), the first ``en_es_seeds`` of
    ``seeds``; buckets of tau split at ``tau_edges`` and of source length at ``en_es_length_edges``.
    ``device``: where models, batches and held-out tensors live (the runner sets it from ``--device``)."""

    levels: tuple[str, ...] = LEVELS
    attentions: tuple[str, ...] = KINDS
    vocab: int = 20
    min_len: int = 5
    max_len: int = 15
    length_edges: tuple[int, ...] = (8, 12)
    cell: str = "gru"
    embedding_size: int = 32
    hidden_size: int = 64
    train_steps: int = 700
    batch_size: int = 64
    lr: float = 5e-3
    clip: float = 1.0
    test_size: int = 300
    heatmap_length: int = 9
    en_es_steps: int = 1500
    en_es_max_len: int = 16
    en_es_embedding: int = 64
    en_es_hidden: int = 128
    en_es_test: int = 0
    en_es_seeds: int = 1
    tau_edges: tuple[float, ...] = (0.7, 0.9)
    en_es_length_edges: tuple[int, ...] = (8, 12)
    seeds: tuple[int, ...] = (0, 1)
    device: str = "cpu"


PRESETS = {
    "tiny": Config(levels=("monotone", "reverse"), attentions=("none", "general"), vocab=6, min_len=3, max_len=6,
                   length_edges=(5,), embedding_size=8, hidden_size=12, train_steps=4, batch_size=8, test_size=12,
                   heatmap_length=4, en_es_steps=3, en_es_max_len=6, en_es_embedding=8, en_es_hidden=12,
                   en_es_test=20, en_es_length_edges=(4,), seeds=(0, 1)),
    # quick skips the English -> Spanish part and the swap-2, swap-3, dot and additive runs
    "quick": Config(levels=("monotone", "reverse", "permutation"), attentions=("none", "general"), max_len=10,
                    length_edges=(8,), train_steps=250, test_size=150, heatmap_length=8, en_es_steps=0,
                    seeds=(0, 1, 2)),
    "full": Config(),
}
# quick: an estimate (82 s, 52 s of CPU, on the busy shared machine); full: 616 s, the committed run
# (benchmarks/results/lab/attention-word-order/result.json, idle machine, 2 threads)
RUN_TIME = {"quick": "~1 min", "full": "~10 min"}


# -- the synthetic task: rnnkit.lab.reordering ----------------------------------------------------


def length_buckets(low: int, high: int, edges: tuple[int, ...]) -> list[tuple[str, int, int]]:
    """``(name, first, last)`` of the buckets of ``low..high`` that start at ``low`` and at each edge."""
    starts = [low, *(e for e in edges if low < e <= high)]
    ends = [s - 1 for s in starts[1:]] + [high]
    return [(f"{a}-{b}" if a < b else f"{a}", a, b) for a, b in zip(starts, ends)]


# -- configuration checks -------------------------------------------------------------------------


def check(cfg: Config) -> None:
    """Raises ValueError (one line naming the field and the fix) for a config :func:`run` cannot run."""
    if not cfg.levels:
        raise ValueError(f"levels is empty; give at least one of: {', '.join(LEVELS)}")
    for level in cfg.levels:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} in levels; the levels are: {', '.join(LEVELS)}")
    if len(set(cfg.levels)) != len(cfg.levels):
        raise ValueError(f"levels repeats a level: {cfg.levels}; give each once")
    for kind in cfg.attentions:
        if kind not in ATTENTION:
            raise ValueError(f"unknown attention {kind!r} in attentions; the kinds are: {', '.join(KINDS)}")
    if "none" not in cfg.attentions or len(set(cfg.attentions) - {"none"}) < 1 or \
            len(set(cfg.attentions)) != len(cfg.attentions):
        raise ValueError("attentions must hold 'none' and at least one attention kind, each once; "
                         f"got {cfg.attentions}")
    if not cfg.seeds:
        raise ValueError("seeds is empty; give at least one seed")
    for name in ("vocab", "min_len", "embedding_size", "hidden_size", "train_steps", "batch_size", "test_size"):
        positive_int(name, getattr(cfg, name), 2 if name == "vocab" else 1)
    positive_int("max_len", cfg.max_len, cfg.min_len)
    if not cfg.min_len <= cfg.heatmap_length <= cfg.max_len:
        raise ValueError(f"heatmap_length must lie in min_len..max_len ({cfg.min_len}..{cfg.max_len}); "
                         f"got {cfg.heatmap_length}")
    if cfg.hidden_size % 2:
        raise ValueError(f"hidden_size must be even (a bidirectional encoder splits it); got {cfg.hidden_size}")
    positive_int("en_es_steps", cfg.en_es_steps, 0)
    if cfg.en_es_steps:
        for name in ("en_es_embedding", "en_es_hidden", "en_es_seeds"):
            positive_int(name, getattr(cfg, name))
        positive_int("en_es_max_len", cfg.en_es_max_len, 4)  # shorter, hardly a verse is left
        if list(cfg.tau_edges) != sorted(set(cfg.tau_edges)) or not all(-1 < e < 1 for e in cfg.tau_edges):
            raise ValueError(f"tau_edges must increase strictly inside (-1, 1); got {cfg.tau_edges}")
        positive_int("en_es_test", cfg.en_es_test, 0)
        if cfg.en_es_hidden % 2:
            raise ValueError(f"en_es_hidden must be even (a bidirectional encoder splits it); got {cfg.en_es_hidden}")
        if cfg.en_es_seeds > len(cfg.seeds):
            raise ValueError(f"en_es_seeds ({cfg.en_es_seeds}) exceeds the {len(cfg.seeds)} seeds; lower it")


# -- models, training and scoring -----------------------------------------------------------------


def build(kind: str, hidden: int, vocab_sizes: tuple[int, int], embedding: int, cell: str,
          dropout: float = 0.0, specials: tuple[int, int, int] = (PAD, BOS, EOS)) -> Seq2Seq:
    """A bidirectional one-layer Seq2Seq without input feeding."""
    pad, bos, eos = specials
    return Seq2Seq(vocab_sizes[0], vocab_sizes[1], embedding, hidden, 1, cell, True, kind, dropout, pad, bos, eos,
                   input_feeding=False)


def matched_widths(kinds, hidden: int, vocab_sizes: tuple[int, int], embedding: int, cell: str) -> dict[str, int]:
    """Each kind's (even) hidden width whose parameter count is nearest the ``general`` model's at ``hidden``."""
    target = common.count_parameters(build(REFERENCE, hidden, vocab_sizes, embedding, cell))
    return {kind: hidden if kind == REFERENCE else
            2 * common.match_width(lambda w, k=kind: build(k, 2 * w, vocab_sizes, embedding, cell), target, 1, hidden)
            for kind in kinds}


def _loss(model, src, src_lengths, tgt_in, tgt_out, smoothing=0.0):
    return model.loss(src, src_lengths, tgt_in, tgt_out, label_smoothing=smoothing)[0]


def held_out_batches(sources: list[list[int]], device: torch.device | str, batch: int = 256) -> list[tuple]:
    """``sources`` padded once into ``[(src (B, S) on device, lengths (B,) on the CPU), ...]``, in
    order, for every model decoded on them. The lengths stay on the CPU, as
    :meth:`~rnnkit.tasks.translation.Translator.translate` keeps them: the layers read them there."""
    out = []
    for start in range(0, len(sources), batch):
        src, lengths, _ = pad_batch(sources[start : start + batch])
        out.append((common.to_device(src, device), lengths))
    return out


def _decode(model, batches: list[tuple], max_len: int):
    """Greedy hypotheses of the :func:`held_out_batches` ``batches``, in order; their attention
    comes back on the CPU (:func:`rnnkit.decode.greedy_search` moves it there)."""
    model.eval()
    hyps = []
    for src, lengths in batches:
        hyps += greedy_search(model, src, lengths, max_len + 1)
    return hyps


def score(hyps, sources, targets, level: str) -> dict:
    """Per-sentence ``exact``, ``tokens`` (token accuracy) and ``aligned`` (alignment accuracy, None
    without attention) of greedy hypotheses against the targets of ``level``."""
    exact, tokens, aligned = [], [], []
    for h, s, t in zip(hyps, sources, targets):
        exact.append(float(h.tokens == t))
        tokens.append(sum(a == b for a, b in zip(h.tokens, t)) / len(t))
        if h.attention is not None:
            perm, steps = permutation(level, len(s)), min(len(h.tokens), len(t))
            if steps:
                arg = h.attention[:steps, : len(s)].argmax(1).tolist()
                aligned.append(sum(a == p for a, p in zip(arg, perm)) / steps)
            else:
                aligned.append(0.0)
    return {"exact": exact, "tokens": tokens, "aligned": aligned or None}


def _mean(values) -> float:
    return sum(values) / len(values) if values else math.nan


def _synthetic(cfg: Config, progress: bool):
    V = cfg.vocab + SPECIALS
    widths = matched_widths(cfg.attentions, cfg.hidden_size, (V, V), cfg.embedding_size, cfg.cell)
    counts = {k: common.count_parameters(build(k, w, (V, V), cfg.embedding_size, cfg.cell))
              for k, w in widths.items()}
    test_gen = torch.Generator().manual_seed(TEST_SEED)
    test_src = make_sources(cfg.test_size, cfg.vocab, cfg.min_len, cfg.max_len, test_gen)
    test_batches = held_out_batches(test_src, cfg.device)
    held_out = set(map(tuple, test_src))
    buckets = length_buckets(cfg.min_len, cfg.max_len, cfg.length_edges)
    heat_index = next((i for i, s in enumerate(test_src) if len(s) == cfg.heatmap_length), None)
    heat_kind = REFERENCE if REFERENCE in cfg.attentions else next(k for k in cfg.attentions if k != "none")
    per = {name: {k: {lv: [] for lv in cfg.levels} for k in cfg.attentions} for name in ("exact", "tokens", "aligned")}
    by_len = {k: {lv: {b: [] for b, _, _ in buckets} for lv in cfg.levels} for k in cfg.attentions}
    seconds = {k: [] for k in cfg.attentions}
    heat = {}
    for level in cfg.levels:
        test_tgt = [translate(level, s, cfg.vocab) for s in test_src]
        for kind in cfg.attentions:
            for seed in cfg.seeds:
                g = common.generator(seed)  # same seed: same initial draw and same training sources at every level

                def batch(g=g, level=level):
                    src = [s for s in make_sources(cfg.batch_size, cfg.vocab, cfg.min_len, cfg.max_len, g)
                           if tuple(s) not in held_out] or [[SPECIALS] * cfg.min_len]
                    return make_batch(src, [translate(level, s, cfg.vocab) for s in src], range(len(src)), BOS, EOS)

                model = build(kind, widths[kind], (V, V), cfg.embedding_size, cfg.cell).to(cfg.device)
                start = time.perf_counter()  # train_steps ends on a float() of the device: an honest clock
                common.train_steps(model, batch, _loss, cfg.train_steps, cfg.lr, cfg.clip, progress=progress,
                                   desc=f"{NAME} {level} {kind} seed {seed}")
                seconds[kind].append(time.perf_counter() - start)
                hyps = _decode(model, test_batches, cfg.max_len)
                s = score(hyps, test_src, test_tgt, level)
                for name in per:
                    if s[name] is not None:
                        per[name][kind][level].append(_mean(s[name]))
                for b, lo, hi in buckets:
                    by_len[kind][level][b].append(_mean([e for e, src in zip(s["exact"], test_src)
                                                         if lo <= len(src) <= hi]))
                if kind == heat_kind and seed == cfg.seeds[0] and heat_index is not None:
                    h, src = hyps[heat_index], test_src[heat_index]
                    heat[level] = {"source": src, "target": test_tgt[heat_index], "hypothesis": h.tokens,
                                   "permutation": permutation(level, len(src)),
                                   "attention": [[round(float(w), 4) for w in row[: len(src)]] for row in h.attention]}
    summary = {name: {k: {lv: common.summarize(v) for lv, v in per[name][k].items()} for k in cfg.attentions
                      if per[name][k][cfg.levels[0]]} for name in per}
    em = summary["exact"]
    attention_kinds = [k for k in cfg.attentions if k != "none"]
    gain = {lv: _mean([em[k][lv]["mean"] - em["none"][lv]["mean"] for k in attention_kinds]) for lv in cfg.levels}
    lengths = range(cfg.min_len, cfg.max_len + 1)
    return {"levels": list(cfg.levels), "models": list(cfg.attentions), "widths": widths, "parameters": counts,
            "level_tau": {lv: _mean([kendall_tau(permutation(lv, n)) for n in lengths if n > 1]) for lv in cfg.levels},
            "exact_match": em, "token_accuracy": summary["tokens"], "alignment_accuracy": summary["aligned"],
            "by_length": {k: {lv: {b: common.summarize(v) for b, v in d.items()} for lv, d in by_len[k].items()}
                          for k in cfg.attentions},
            "length_buckets": [b for b, _, _ in buckets], "gain": gain,
            "heatmaps": {"model": heat_kind, "seed": cfg.seeds[0], "examples": heat},
            "train_seconds": {k: common.summarize(v) for k, v in seconds.items()}}


# -- English -> Spanish ---------------------------------------------------------------------------


def short_pairs(pairs, tokenizer, max_len: int) -> list[tuple[str, str]]:
    """The pairs whose source and target both have 1..``max_len`` tokens under ``tokenizer``."""
    keep = []
    for en, es in pairs:
        a, b = len(tokenizer.tokenize(en)), len(tokenizer.tokenize(es))
        if 0 < a <= max_len and 0 < b <= max_len:
            keep.append((en, es))
    return keep


def _tau_buckets(edges) -> list[tuple[str, float, float]]:
    bounds = [-1.0, *edges, 1.0]
    return [(f"tau <= {b:g}" if a == -1.0 else f"{a:g} < tau <= {b:g}", a, b) for a, b in zip(bounds, bounds[1:])]


def _en_es(cfg: Config, progress: bool) -> dict:
    from sacrebleu.metrics import CHRF

    from ..config import SEQ2SEQ_RECIPES, Seq2SeqConfig, recipe_config
    from ..tasks.bleu import corpus_bleu, sentence_stats
    from ..tasks.translation import fit_codec
    from ..text import corpora
    from ..text.tokenize import make_tokenizer

    recipe = SEQ2SEQ_RECIPES["en-es"]
    n = cfg.en_es_max_len
    s2s = recipe_config(Seq2SeqConfig, recipe, attention=REFERENCE, max_src_len=n, max_tgt_len=n, min_freq=2)
    splits = corpora.load("en-es")
    tokenizer = make_tokenizer(s2s.level, s2s.lowercase)  # the codec's, to measure lengths before fitting it
    train = short_pairs(splits["train"], tokenizer, n)
    # held out: the validation and test splits (nothing here is tuned on the validation split)
    test = short_pairs(splits["validation"] + splits["test"], tokenizer, n)
    if cfg.en_es_test:
        test = test[: cfg.en_es_test]
    codec = fit_codec(train, s2s)
    sizes, v = (len(codec.src.vocab), len(codec.tgt.vocab)), codec.tgt.vocab
    specials = (v.pad_id, v.bos_id, v.eos_id)
    src_ids = [codec.src.encode(a)[:n] for a, _ in train]
    tgt_ids = [codec.tgt.encode(b)[:n] for _, b in train]
    test_ids = [codec.src.encode(a)[:n] for a, _ in test]
    test_batches = held_out_batches(test_ids, cfg.device)
    refs = [codec.tgt.normalize(b) for _, b in test]  # what Translator.reference compares with
    kinds = ("none", REFERENCE)
    widths = matched_widths(kinds, cfg.en_es_hidden, sizes, cfg.en_es_embedding, recipe["cell"])
    counts = {k: common.count_parameters(build(k, w, sizes, cfg.en_es_embedding, recipe["cell"]))
              for k, w in widths.items()}
    tau_b, len_b = _tau_buckets(cfg.tau_edges), length_buckets(1, n, cfg.en_es_length_edges)
    chrf_metric = CHRF()
    per_seed = []
    for seed in cfg.seeds[: cfg.en_es_seeds]:
        outputs = {}
        for kind in kinds:
            g = common.generator(seed)  # both models read the same batches
            model = build(kind, widths[kind], sizes, cfg.en_es_embedding, recipe["cell"], recipe["dropout"],
                          specials).to(cfg.device)
            batch = lambda g=g: make_batch(src_ids, tgt_ids, torch.randint(len(src_ids), (cfg.batch_size,),  # noqa: E731
                                                                           generator=g).tolist(), *specials[1:])
            common.train_steps(model, batch, lambda m, *b: _loss(m, *b, recipe["label_smoothing"]), cfg.en_es_steps,
                               recipe["lr"], cfg.clip, progress=progress, desc=f"{NAME} en-es {kind} seed {seed}")
            outputs[kind] = _decode(model, test_batches, n)  # greedy, as Translator.translate with DecodeConfig()
        hyps = {k: [codec.tgt.decode(h.tokens) for h in outputs[k]] for k in kinds}
        stats = {k: sentence_stats(hyps[k], refs) for k in kinds}
        chrf = {k: [chrf_metric.sentence_score(h, [r]).score for h, r in zip(hyps[k], refs)] for k in kinds}
        taus = []
        for h, src in zip(outputs[REFERENCE], test_ids):
            rows = h.attention[: len(h.tokens), : len(src)]  # the eos step left out
            taus.append(kendall_tau(rows.argmax(1).tolist()) if len(h.tokens) else math.nan)
        src_len = [len(src) for src in test_ids]
        groups = {"by_tau": {name: [i for i, x in enumerate(taus) if math.isfinite(x) and (lo < x <= hi or
                                                                                          (lo == -1.0 and x == -1.0))]
                             for name, lo, hi in tau_b},
                  "by_length": {name: [i for i, x in enumerate(src_len) if lo <= x <= hi] for name, lo, hi in len_b}}
        groups["by_tau"]["n/a"] = [i for i, x in enumerate(taus) if not math.isfinite(x)]
        seed_out = {"bleu": {k: corpus_bleu(stats[k]) for k in kinds}, "chrf": {k: _mean(chrf[k]) for k in kinds},
                    "tau": _mean([x for x in taus if math.isfinite(x)])}
        for grouping, members in groups.items():
            seed_out[grouping] = {}
            for name, idx in members.items():
                bleu = {k: corpus_bleu(stats[k][idx]) if idx else math.nan for k in kinds}
                seed_out[grouping][name] = {
                    "sentences": len(idx), "bleu_attention": bleu[REFERENCE], "bleu_none": bleu["none"],
                    "bleu_gain": bleu[REFERENCE] - bleu["none"],
                    "chrf_gain": _mean([chrf[REFERENCE][i] - chrf["none"][i] for i in idx])}
        per_seed.append(seed_out)

    def over_seeds(get):
        return common.summarize(get(s) for s in per_seed)

    result = {"pairs": {"train": len(train), "test": len(test)}, "max_len": n, "steps": cfg.en_es_steps,
              "seeds": list(cfg.seeds[: cfg.en_es_seeds]), "parameters": counts, "widths": widths,
              "bleu": {k: over_seeds(lambda s, k=k: s["bleu"][k]) for k in kinds},
              "chrf": {k: over_seeds(lambda s, k=k: s["chrf"][k]) for k in kinds},
              "tau": over_seeds(lambda s: s["tau"]),
              "tau_buckets": [*(b for b, _, _ in tau_b), "n/a"], "length_buckets": [b for b, _, _ in len_b]}
    for grouping in ("by_tau", "by_length"):
        result[grouping] = {name: {m: over_seeds(lambda s, g=grouping, name=name, m=m: s[g][name][m])
                                   for m in per_seed[0][grouping][name]} for name in per_seed[0][grouping]}
    return result


# -- the experiment -------------------------------------------------------------------------------


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    check(cfg)
    result = _synthetic(cfg, progress)
    result["en_es"] = _en_es(cfg, progress) if cfg.en_es_steps else None
    parameters = {f"{k} (synthetic)": n for k, n in result["parameters"].items()}
    if result["en_es"]:
        parameters.update({f"{k} (en-es)": n for k, n in result["en_es"]["parameters"].items()})
    result["parameters"] = parameters
    result["setup"] = setup(cfg, result)
    result["tables"] = tables(cfg, result)
    result["figures"] = figures(cfg, result, out)
    return result


def verdict(result: dict) -> str:
    """Whether attention's exact-match gain over none is larger (by more than ``SIMILAR``), similar
    or smaller at each reordered level than at the most monotone one (levels ordered by their
    permutations' tau), and on en-es whether the chrF
    gain is larger in the lowest filled bucket of tau than in the highest."""
    levels = sorted(result["levels"], key=lambda lv: -result["level_tau"][lv])
    first, others = levels[0], levels[1:]
    gain, em = result["gain"], result["exact_match"]
    best = max((k for k in em if k != "none"), key=lambda k: _mean([em[k][lv]["mean"] for lv in levels]))
    text = "synthetic: attention's exact-match gain over none " + ", ".join(
        f"{100 * gain[lv]:+.0f} pt at {lv}" for lv in levels)
    if others:
        groups = {"larger": [lv for lv in others if gain[lv] > gain[first] + SIMILAR],
                  f"similar (within {100 * SIMILAR:g} pt)": [lv for lv in others
                                                             if abs(gain[lv] - gain[first]) <= SIMILAR],
                  "smaller": [lv for lv in others if gain[lv] < gain[first] - SIMILAR]}
        text += f"; against {first}, of {len(others)} reordered levels: " + ", ".join(
            f"{word} at {len(lvs)}" + (f" ({', '.join(lvs)})" if lvs else "") for word, lvs in groups.items())
    parts = [text, f"{best} exact match " + ", ".join(f"{em[best][lv]['mean']:.0%}" for lv in levels)
             + " (none " + ", ".join(f"{em['none'][lv]['mean']:.0%}" for lv in levels) + ")"]
    e = result.get("en_es")
    if e:
        overall = e["bleu"][REFERENCE]["mean"] - e["bleu"]["none"]["mean"]
        filled = [b for b in e["tau_buckets"] if b != "n/a" and math.isfinite(e["by_tau"][b]["chrf_gain"]["mean"])]
        anchors = sorted(b - a for _, a, b in ANCHORS)
        text = (f"en-es: attention {overall:+.1f} BLEU overall (anchors {anchors[0]:+.1f} to {anchors[-1]:+.1f}, "
                f"Luong about +{LUONG_GAIN:g})")
        if len(filled) >= 2:
            low, high = e["by_tau"][filled[0]]["chrf_gain"]["mean"], e["by_tau"][filled[-1]]["chrf_gain"]["mean"]
            text += (f"; chrF gain {low:+.1f} for {filled[0]} against {high:+.1f} for {filled[-1]}: "
                     f"{'larger' if low > high else 'not larger'} for reordered sentences")
        else:
            text += "; too few buckets of tau filled to compare reordered with monotone sentences"
        parts.append(text)
    return "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "LEVELS", "KINDS", "run", "verdict", "check",
           "permutation", "target_map", "translate", "make_sources", "make_pairs", "kendall_tau", "length_buckets",
           "score", "matched_widths", "short_pairs", "held_out_batches"]

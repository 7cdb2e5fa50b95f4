"""Does beam search fix greedy decoding? Quality against beam size, search errors against model
errors, and how far one wrong token carries, on the dates task and on English -> Spanish.

Each corpus gets one sequence-to-sequence model (rnnkit's :class:`~rnnkit.models.seq2seq.Seq2Seq`,
built by :class:`~rnnkit.tasks.translation.TranslationTask` from the corpus' recipe in
:data:`rnnkit.config.SEQ2SEQ_RECIPES`, narrower and trained for a fixed number of AdamW steps), or
the model of ``Config.checkpoint`` (a ``rnnkit train seq2seq`` run folder; scored on the corpus its
record names, else on en-es). Every measurement is on the corpus' *test* split: the dates (human
date -> ISO, exact match) and the en-es verse pairs of at most ``max_words`` source words (corpus
BLEU of lowercased words, as :meth:`~rnnkit.tasks.translation.Translator.evaluate` scores).

1. Quality against beam size k, with length penalty off (alpha 0: raw log-probability) and on
   (alpha = ``length_penalty``: log-probability / length, :mod:`rnnkit.decode.beam`). k = 1 is
   greedy search (no penalty applies).
2. Search errors and model errors, for each k > 1 with alpha 0 (the model's own score): a *search
   error* of greedy is a sentence where the beam's output has a higher total log-probability than
   greedy's (greedy missed a more likely sentence); of those, a *model error* is one where the more
   likely output is the worse translation (lower sentence BLEU; not exact where greedy was exact).
3. Error propagation, for the greedy outputs: the first position where the output (eos included)
   differs from the reference (eos included). Positions after it are *after an error*: their
   free-running accuracy (the output's token at that position is the reference's, position by
   position, so an inserted or dropped token makes the rest wrong: the notes' "the whole sequence
   goes wrong") is compared with the teacher-forced accuracy at the same positions (the model's
   arg-max given the true prefix). Positions up to and including the first error had a right prefix:
   there greedy *is* teacher forcing.

Result keys beyond the contract's (beam sizes as strings, ``"5"``, so a result reads the same after
JSON; S = :func:`rnnkit.lab.common.summarize` over the seeds, one value per trained model):

- ``beam_sizes``: the k decoded (ints, 1 always included); ``length_penalty``: alpha when on;
- ``corpora``: ``{name: {...}}`` for each corpus measured, with
    - ``metric``: ``"bleu"`` (0-100) or ``"exact_match"`` (0-1); ``test_sentences``; ``source``: how the
      model was made (trained, or the checkpoint and what its record says);
    - ``by_beam``: ``{k: {"no_penalty": S, "penalty": S}}`` corpus quality;
    - ``length_ratio``: ``{k: {"no_penalty": S, "penalty": S}}`` output / reference tokens;
    - ``search_errors``: ``{k: S}`` (k > 1) share of sentences where beam (alpha 0) out-scores greedy;
    - ``model_errors``: ``{k: S}`` share of those search errors where the beam's output is worse
      (NaN when there is none);
    - ``search_counts``: ``{k: counts of search_model_errors, summed over seeds}``;
    - ``propagation``: ``{"with_error", "before_error", "after_error_free", "after_error_forced",
      "forced_all": S, "by_offset": {"free": [S, ...], "forced": [S, ...]}, "counts": {...}}``: share
      of sentences whose greedy output is not the reference; accuracy of the right-prefix positions,
      of the positions after the first error free-running and teacher-forced, teacher-forced over all
      positions; by offset 1..MAX_OFFSET after the first error; the counts summed over seeds;
    - ``train``: ``{"steps", "seconds": S, "final_loss": S}`` or None for a checkpoint;
- ``trend``: ``{corpus: {"no_penalty"|"penalty": see trend()}}``: best beam against the largest.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import SEQ2SEQ_RECIPES, Seq2SeqConfig, Seq2SeqModelConfig, TrainConfig, recipe_config
from ..decode import DecodeConfig, generate
from ..tasks.bleu import corpus_bleu, sentence_stats
from ..tasks.translation import MODEL_TYPE, TranslationTask, Translator, make_batch
from ..tasks.translation import to_device as batch_to_device
from ..text import corpora as bundled
from ..text.batching import pad_batch
from ..train.checkpoint import CheckpointError, read_meta
from ..train.runtime import module_device
from . import common
from .beam_vs_greedy_report import (
    MAX_TARGET_WORDS,
    fmt,
    propagation_figure,
    quality_figure,
    search_figure,
    setup,
    tables,
)
from .search_errors import (  # re-exported: what the experiment counts
    MAX_OFFSET,
    TIE,  # noqa: F401
    first_divergence,
    propagation_counts,
    propagation_rates,
    ratio,
    search_model_errors,
)

NAME = "beam-vs-greedy"
CLAIM = ("Beam search was introduced to fix greedy inference: if the decoder produces one wrong word, the whole "
         "sequence may go wrong; beam search keeps several hypotheses and picks the most likely full sentence.")

CORPORA = ("dates", "en-es")
METRIC = {"dates": "exact_match", "en-es": "bleu"}
# A largest beam this far below the best beam or less is "flat", beyond it "falls" (BLEU points;
# exact-match share: 1 % of the sentences).
FLAT = {"bleu": 0.5, "exact_match": 0.01}
VALIDATION = 16  # TranslationTask wants validation pairs; this loop never evaluates on them


def check_beam_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple; ValueError unless it is a non-empty collection of ints >= 1."""
    try:
        values = tuple(sizes)
    except TypeError:
        values = ()
    if isinstance(sizes, str) or not values or any(isinstance(k, bool) or not isinstance(k, int) or k < 1
                                                   for k in values):
        raise ValueError(f"beam sizes must be integers >= 1; got {sizes!r}")
    return values


@dataclass
class Config:
    """``beam_sizes``: the k decoded (1, greedy, is always added); ``length_penalty``: alpha of the
    "penalty" runs; ``checkpoint``: a seq2seq run folder to measure instead of training; ``corpora``:
    those trained and measured (ignored with a checkpoint); ``test_sentences`` per corpus; en-es pairs
    of at most ``max_words`` source words. Training: ``dates_steps`` / ``en_es_steps`` AdamW steps
    (peak lr ``lr``, see :func:`lr_factor`) of ``batch_size`` pairs; widths
    ``dates_hidden``, ``en_es_embedding``, ``en_es_hidden``; ``train_pairs`` caps the training pairs
    (None: all). One model per corpus and seed. ``device``: where models, batches and held-out
    tensors live (the runner sets it from ``--device``)."""

    beam_sizes: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50)
    checkpoint: str | None = None
    seeds: tuple[int, ...] = (0,)
    corpora: tuple[str, ...] = CORPORA
    length_penalty: float = 1.0
    test_sentences: int = 500
    max_words: int = 20
    dates_steps: int = 150
    dates_hidden: int = 64
    en_es_steps: int = 2000
    en_es_embedding: int = 128
    en_es_hidden: int = 256
    train_pairs: int | None = None
    batch_size: int = 64
    lr: float = 3e-3
    device: str = "cpu"

    def __post_init__(self):
        self.beam_sizes = check_beam_sizes(self.beam_sizes)
        self.seeds, self.corpora = tuple(self.seeds), tuple(self.corpora)
        if not self.corpora or any(c not in CORPORA for c in self.corpora):
            raise ValueError(f"corpora must name some of {', '.join(CORPORA)}; got {self.corpora!r}")
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed")
        for name in ("test_sentences", "max_words", "dates_steps", "dates_hidden", "en_es_steps", "en_es_embedding",
                     "en_es_hidden", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.train_pairs is not None and (isinstance(self.train_pairs, bool) or not isinstance(self.train_pairs, int)
                                             or self.train_pairs < 1):
            raise ValueError(f"train_pairs must be None (all) or an integer >= 1; got {self.train_pairs!r}")
        for name in ("dates_hidden", "en_es_hidden"):  # a bidirectional encoder splits the width in two
            if getattr(self, name) % 2:
                raise ValueError(f"{name} must be even (the bidirectional encoder halves it); "
                                 f"got {getattr(self, name)}")
        if not (math.isfinite(self.length_penalty) and self.length_penalty > 0):
            raise ValueError(f"length_penalty must be a positive number (it is the 'on' setting); "
                             f"got {self.length_penalty!r}")


PRESETS = {
    "tiny": Config(beam_sizes=(1, 2, 3), test_sentences=6, dates_steps=5, dates_hidden=16, en_es_steps=5,
                   en_es_embedding=16, en_es_hidden=16, train_pairs=300, batch_size=16),
    # en-es at 400 steps still sat on the plateau (greedy "y, y, y.", BLEU 0); at 800 it translates a little
    "quick": Config(beam_sizes=(1, 2, 5, 10, 50), test_sentences=150, en_es_steps=800, en_es_embedding=64,
                    en_es_hidden=128),
    "full": Config(),
}
# quick: 85 s measured on one thread of the shared machine; full: 277 s, the committed run
# (benchmarks/results/lab/beam-vs-greedy/result.json, idle 2-core machine, 2 threads)
RUN_TIME = {"quick": "1.2 min", "full": "4.6 min"}


# -- data and models --------------------------------------------------------------------------------


def _short(pairs, max_words: int):
    return [p for p in pairs if len(p[0].split()) <= max_words and len(p[1].split()) <= MAX_TARGET_WORDS]


def corpus_pairs(corpus: str, cfg: Config) -> dict[str, list[tuple[str, str]]]:
    """``{"train", "validation", "test"}`` pairs of ``corpus`` as ``cfg`` uses them: en-es cut to
    short pairs; the test split cut to ``test_sentences``, training to ``train_pairs``."""
    parts = bundled.load(corpus)
    if corpus == "en-es":
        parts = {name: _short(pairs, cfg.max_words) for name, pairs in parts.items()}
    return {"train": parts["train"][: cfg.train_pairs] if cfg.train_pairs else parts["train"],
            "validation": parts["validation"][:VALIDATION], "test": parts["test"][: cfg.test_sentences]}


def _configs(corpus: str, cfg: Config, seed: int):
    recipe = SEQ2SEQ_RECIPES[corpus]
    # no input feeding: the decoder reads the whole target in one call, about 1.4x faster to train
    # (en-es; measured once, not committed)
    s2s = recipe_config(Seq2SeqConfig, recipe, input_feeding=False)
    widths = {"hidden_size": cfg.dates_hidden} if corpus == "dates" else \
        {"embedding_size": cfg.en_es_embedding, "hidden_size": cfg.en_es_hidden}
    model = recipe_config(Seq2SeqModelConfig, recipe, **widths)
    train = recipe_config(TrainConfig, recipe, seed=seed, batch_size=cfg.batch_size, lr=cfg.lr)
    return model, s2s, train


def lr_factor(step: int, steps: int) -> float:
    """The learning rate of step ``step`` (0-based) of ``steps``, as a share of the peak: a linear
    warm-up over the first 5 %, the peak, then a linear decay over the last 20 % (to 1/k of the peak
    at the k-th last step). A short run stays at the peak most of the time: the loss of a word-level
    model sits on a plateau until attention starts working, and a run decayed from the start did
    not leave it within the quick preset's budget."""
    warmup, decay = max(1, steps // 20), max(1, steps // 5)
    if step < warmup:
        return (step + 1) / warmup
    return min(1.0, (steps - step) / decay)


def train_model(corpus: str, pairs: dict, cfg: Config, seed: int, progress: bool = False) -> tuple[Translator, dict]:
    """A model of ``corpus`` trained from seed ``seed``; returns it and ``{"steps", "seconds", "final_loss"}``."""
    model_cfg, s2s, train_cfg = _configs(corpus, cfg, seed)
    task = TranslationTask.from_pairs(pairs["train"], pairs["validation"], model_cfg, s2s, train_cfg)
    steps = cfg.dates_steps if corpus == "dates" else cfg.en_es_steps
    # built on the CPU (the same initial draw on every device), then moved; task.loss moves each
    # batch to the model's device, and float(loss) below waits for the step, so the clock is honest
    model = task.model.to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=train_cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps))
    batches = itertools.chain.from_iterable(task.train_batches(epoch) for epoch in itertools.count())
    losses, start = [], time.perf_counter()
    for _ in common.steps_bar(steps, f"beam-vs-greedy {corpus} seed {seed}", progress):
        model.train()
        loss, _ = task.loss(next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.clip)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    tail = losses[-max(1, steps // 10):]
    info = {"steps": steps, "seconds": time.perf_counter() - start, "final_loss": sum(tail) / len(tail)}
    return Translator(model, task.codec, s2s), info


def load_checkpoint_model(path: str, device: str = "cpu") -> tuple[Translator, str, str]:
    """``(translator, corpus, note)`` of the seq2seq run folder ``path``, its model on ``device``
    (a checkpoint written on any device loads): the corpus its record names when it is a bundled
    one, else en-es (the note says which). A CheckpointError (a ValueError) of one line for a
    missing folder, a damaged one or a model of another kind."""
    try:
        meta = read_meta(path, MODEL_TYPE)
        translator = Translator.load(path, device=device)
    except CheckpointError as err:
        raise CheckpointError(f"beam-vs-greedy needs the --out folder of `rnnkit train seq2seq`: {err}") from None
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    flags = data.get("flags") if isinstance(data.get("flags"), dict) else {}
    corpus = flags.get("corpus")
    if corpus in CORPORA:
        return translator, corpus, f"checkpoint {path} (its record: trained on the bundled {corpus})"
    origin = f"trained on {flags['data']}" if flags.get("data") else "names no bundled corpus"
    return translator, "en-es", f"checkpoint {path} (its record {origin}; measured on en-es)"


def check(cfg: Config) -> None:
    """The checks :func:`run` makes before any training: the beam sizes, and the checkpoint when
    given (a seq2seq run folder). Raises ValueError (CheckpointError) with one line."""
    check_beam_sizes(cfg.beam_sizes)
    if cfg.checkpoint is not None:  # only whether it loads: on the CPU, nothing is kept
        load_checkpoint_model(cfg.checkpoint)


# -- decoding and scoring ---------------------------------------------------------------------------


def decode(translator: Translator, src: list[list[int]], beam: int, alpha: float, batch_size: int = 64):
    """The best :class:`~rnnkit.decode.search.Hypothesis` of each source (ids ``src``), in order:
    greedy search for ``beam`` 1, else a beam of ``beam`` with length penalty ``alpha``. Sources
    are batched by length, so padding costs little. The ids go to the model's device (decoding
    starts its tokens on the source's device); the lengths stay on the CPU, as in
    :meth:`~rnnkit.tasks.translation.Translator.translate` (the layers read them there)."""
    max_len = translator.s2s_cfg.max_tgt_len + 1
    device = module_device(translator.model)
    config = DecodeConfig(num_beams=beam, length_penalty=alpha if beam > 1 else 1.0, max_new_tokens=max_len)
    order = sorted(range(len(src)), key=lambda i: len(src[i]))
    out = [None] * len(src)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        ids, lengths, _ = pad_batch([src[i] for i in index])
        for i, hyps in zip(index, generate(translator.model, ids.to(device), lengths, config)):
            out[i] = hyps[0]
    return out


@torch.no_grad()
def teacher_forced(translator: Translator, src: list[list[int]], refs: list[list[int]], batch_size: int = 64):
    """For each pair, the model's arg-max at every reference position given the true prefix:
    ``len(ref) + 1`` ids (the last one is where eos belongs)."""
    model = translator.model.eval()
    v, device = translator.codec.tgt.vocab, module_device(translator.model)
    order = sorted(range(len(src)), key=lambda i: len(src[i]))
    out = [None] * len(src)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        s, s_len, tgt_in, _ = batch_to_device(make_batch(src, refs, index, v.bos_id, v.eos_id), device)
        pred = model(s, s_len, tgt_in).argmax(-1)
        for row, i in enumerate(index):
            out[i] = pred[row, : len(refs[i]) + 1].tolist()
    return out


def sentence_quality(hyps: list[str], refs: list[str], metric: str) -> list[float]:
    """Per-sentence quality: 1/0 exact match, or sacrebleu's sentence BLEU (effective order, so a
    short sentence without a 4-gram match is not 0)."""
    if metric == "exact_match":
        return [float(h == r) for h, r in zip(hyps, refs)]
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    return [bleu.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]


def corpus_quality(hyps: list[str], refs: list[str], metric: str) -> float:
    """Exact-match share, or corpus BLEU (sacrebleu, via :mod:`rnnkit.tasks.bleu`)."""
    if metric == "exact_match":
        return sum(h == r for h, r in zip(hyps, refs)) / len(refs)
    return corpus_bleu(sentence_stats(hyps, refs))


def measure(translator: Translator, pairs: list[tuple[str, str]], metric: str, beam_sizes, alpha: float) -> dict:
    """One model's numbers on ``pairs``: ``by_beam`` and ``length_ratio`` ``{k: {"no_penalty",
    "penalty"}}``, ``search`` ``{k: counts}`` (k > 1) and ``propagation`` counts."""
    codec, eos = translator.codec.tgt, translator.model.eos_id
    max_tgt = translator.s2s_cfg.max_tgt_len
    src = translator.encode_sources([s for s, _ in pairs], warn=False)
    refs = [translator.reference(t) for _, t in pairs]
    ref_ids = [codec.encode(t)[:max_tgt] for _, t in pairs]
    ref_tokens = sum(len(r) for r in ref_ids)
    sizes = sorted(set(beam_sizes) | {1})
    runs = {(1, "no_penalty"): decode(translator, src, 1, 0.0)}
    for k in sizes[1:]:
        for key, a in (("no_penalty", 0.0), ("penalty", alpha)):
            runs[(k, key)] = decode(translator, src, k, a)
    texts = {run: [codec.decode(h.tokens) for h in hyps] for run, hyps in runs.items()}
    runs[(1, "penalty")], texts[(1, "penalty")] = runs[(1, "no_penalty")], texts[(1, "no_penalty")]
    by_beam, length_ratio = {}, {}
    for k in sizes:
        by_beam[str(k)] = {key: corpus_quality(texts[(k, key)], refs, metric) for key in ("no_penalty", "penalty")}
        length_ratio[str(k)] = {key: ratio(sum(len(h.tokens) for h in runs[(k, key)]), ref_tokens)
                                for key in ("no_penalty", "penalty")}
    greedy, greedy_text = runs[(1, "no_penalty")], texts[(1, "no_penalty")]
    greedy_q = sentence_quality(greedy_text, refs, metric)
    search = {}
    for k in sizes[1:]:
        beam, beam_text = runs[(k, "no_penalty")], texts[(k, "no_penalty")]
        search[str(k)] = search_model_errors([h.log_prob for h in greedy], [h.log_prob for h in beam], greedy_q,
                                             sentence_quality(beam_text, refs, metric),
                                             [g.tokens == b.tokens for g, b in zip(greedy, beam)])
    max_len = max_tgt + 1
    outputs = [h.tokens + [eos] if len(h.tokens) < max_len else list(h.tokens) for h in greedy]
    forced = teacher_forced(translator, src, ref_ids)
    propagation = propagation_counts(outputs, [r + [eos] for r in ref_ids], forced)
    return {"by_beam": by_beam, "length_ratio": length_ratio, "search": search, "propagation": propagation}


# -- over seeds ---------------------------------------------------------------------------------------


def _summaries(values: list) -> object:
    """Per-seed values (numbers, or lists / dicts of them alike) -> the same shape of summaries."""
    first = values[0]
    if isinstance(first, dict):
        return {k: _summaries([v[k] for v in values]) for k in first}
    if isinstance(first, list):
        return [_summaries([v[i] for v in values]) for i in range(len(first))]
    return common.summarize(values)


def _sum_counts(counts: list[dict]) -> dict:
    out = {}
    for key, value in counts[0].items():
        out[key] = [sum(c[key][i] for c in counts) for i in range(len(value))] if isinstance(value, list) \
            else sum(c[key] for c in counts)
    return out


def aggregate(per_seed: list[dict], metric: str) -> dict:
    """The per-corpus entry of the result from :func:`measure`'s dicts, one per seed."""
    ks = list(per_seed[0]["search"])
    propagation = _summaries([propagation_rates(m["propagation"]) for m in per_seed])
    propagation["counts"] = _sum_counts([m["propagation"] for m in per_seed])
    return {"metric": metric,
            "by_beam": _summaries([m["by_beam"] for m in per_seed]),
            "length_ratio": _summaries([m["length_ratio"] for m in per_seed]),
            "search_errors": {k: common.summarize([ratio(m["search"][k]["beam_higher"], m["search"][k]["sentences"])
                                                   for m in per_seed]) for k in ks},
            "model_errors": {k: common.summarize([ratio(m["search"][k]["model_errors"], m["search"][k]["beam_higher"])
                                                  for m in per_seed]) for k in ks},
            "search_counts": {k: _sum_counts([m["search"][k] for m in per_seed]) for k in ks},
            "propagation": propagation}


def trend(by_beam: dict, key: str, metric: str) -> dict:
    """Where quality peaks against the largest beam, from the means of ``by_beam[k][key]``:
    ``{"greedy", "best_beam", "best", "largest_beam", "largest", "drop", "falls"}``; the best is the
    smallest beam among equals; ``falls``: the largest beam is more than FLAT[metric] below the best."""
    ks = sorted(by_beam, key=int)
    mean = {k: by_beam[k][key]["mean"] for k in ks}
    best = max(ks, key=lambda k: (mean[k] if math.isfinite(mean[k]) else -math.inf, -int(k)))
    largest = ks[-1]
    drop = mean[best] - mean[largest]
    return {"greedy": mean.get("1", math.nan), "best_beam": int(best), "best": mean[best], "largest_beam": int(largest),
            "largest": mean[largest], "drop": drop, "falls": bool(drop > FLAT[metric])}


# -- the experiment -----------------------------------------------------------------------------------


def run(cfg: Config, out: Path, progress: bool = False) -> dict:
    check_beam_sizes(cfg.beam_sizes)
    loaded = load_checkpoint_model(cfg.checkpoint, cfg.device) if cfg.checkpoint is not None else None
    names = (loaded[1],) if loaded else cfg.corpora
    sizes = sorted(set(cfg.beam_sizes) | {1})
    results, parameters = {}, {}
    for corpus in names:
        metric = METRIC[corpus]
        pairs = corpus_pairs(corpus, cfg)
        per_seed, trained = [], []
        if loaded:
            translator, _, note = loaded
            per_seed.append(measure(translator, pairs["test"], metric, sizes, cfg.length_penalty))
        else:
            for seed in cfg.seeds:
                translator, info = train_model(corpus, pairs, cfg, seed, progress)
                trained.append(info)
                per_seed.append(measure(translator, pairs["test"], metric, sizes, cfg.length_penalty))
            note = (f"trained here: {trained[0]['steps']} steps on {len(pairs['train']):,} training pairs, "
                    f"{len(cfg.seeds)} seed(s)")
        parameters[f"{corpus} seq2seq"] = common.count_parameters(translator.model)
        entry = aggregate(per_seed, metric)
        entry.update(test_sentences=len(pairs["test"]), source=note,
                     train=None if loaded else {"steps": trained[0]["steps"],
                                                "seconds": common.summarize([t["seconds"] for t in trained]),
                                                "final_loss": common.summarize([t["final_loss"] for t in trained])})
        results[corpus] = entry
    result = {"setup": setup(cfg, results, bool(loaded)), "parameters": parameters, "beam_sizes": sizes,
              "length_penalty": cfg.length_penalty, "corpora": results,
              "trend": {c: {key: trend(r["by_beam"], key, r["metric"]) for key in ("no_penalty", "penalty")}
                        for c, r in results.items()}}
    result["tables"] = tables(result)
    result["figures"] = [quality_figure(result, out), search_figure(result, out), propagation_figure(result, out)]
    return result


def verdict(result: dict) -> str:
    """Per corpus: greedy, the best beam and the largest (with and without length penalty), search and
    model errors at the largest beam, and propagation; then whether quality falls at large beams."""
    parts, falls, gains = [], [], []
    for corpus, c in result["corpora"].items():
        m = c["metric"]
        t0, t1 = (trend(c["by_beam"], key, m) for key in ("no_penalty", "penalty"))
        name = "exact match" if m == "exact_match" else "BLEU"
        text = (f"{corpus} ({name}): greedy {fmt(m, t0['greedy'])}, best {fmt(m, t0['best'])} at "
                f"k={t0['best_beam']}, "
                f"{fmt(m, t0['largest'])} at k={t0['largest_beam']} ({'falls' if t0['falls'] else 'no fall'}); with "
                f"length penalty best {fmt(m, t1['best'])} at k={t1['best_beam']}, {fmt(m, t1['largest'])} at "
                f"k={t1['largest_beam']} ({'falls' if t1['falls'] else 'no fall'})")
        k = str(t0["largest_beam"])
        if k in c["search_errors"]:
            s, e = c["search_errors"][k]["mean"], c["model_errors"][k]["mean"]
            text += (f"; at k={k} beam out-scores greedy on {s:.0%} of sentences"
                     + (f", {e:.0%} of those worse (model errors)" if math.isfinite(e) else ""))
        p = c["propagation"]
        free, forced = p["after_error_free"]["mean"], p["after_error_forced"]["mean"]
        if math.isfinite(free):
            text += (f"; after greedy's first wrong token {free:.0%} of later tokens right free-running vs "
                     f"{forced:.0%} teacher-forced")
        parts.append(text)
        falls.append((corpus, t0["falls"] or t1["falls"]))
        best_beam = max(max((c["by_beam"][k][key]["mean"] for k in c["by_beam"] if k != "1"), default=math.nan)
                        for key in ("no_penalty", "penalty"))
        gains.append((corpus, best_beam > t0["greedy"]))
    fell = [c for c, f in falls if f]
    helped = [c for c, g in gains if g]
    summary = (f"beam beats greedy on {', '.join(helped) if helped else 'no corpus'}; quality falls at large beams "
               f"(Koehn & Knowles 2017) on {', '.join(fell) if fell else 'no corpus'}"
               f"{'' if len(fell) == len(falls) else ' (not there: ' + ', '.join(c for c, f in falls if not f) + ')'}")
    return summary + ". " + "; ".join(parts)


__all__ = ["NAME", "CLAIM", "Config", "PRESETS", "RUN_TIME", "run", "verdict", "check", "check_beam_sizes",
           "corpus_pairs", "train_model", "load_checkpoint_model", "decode", "teacher_forced", "search_model_errors",
           "first_divergence", "propagation_counts", "propagation_rates", "sentence_quality", "corpus_quality",
           "measure", "aggregate", "trend", "METRIC", "FLAT", "MAX_OFFSET"]

"""Batched beam search over the decoding protocol (see :mod:`rnnkit.decode.search`).

All sources x beams advance in one ``decode_step`` call per step. A hypothesis that emits eos is
finished and stops expanding; a source is done when enough hypotheses are finished and no live
one can still beat them (``early_stopping``), and its rows leave the batch; the search ends when every source is done
or at ``max_len``. Choosing the survivors is tensor work; Python touches only finished hypotheses.

Scores: ``log_prob / penalty(length)``, ``length`` counting the output tokens with the eos;
``penalty = length ** alpha`` (``length_penalty=alpha``; 0 = raw log-probability) or, with
``penalty="gnmt"``, ``((5 + length) / 6) ** alpha`` (Wu et al. 2016).
"""

from __future__ import annotations

import math

import torch

from ._topk import row_topk
from .search import Hypothesis


def _penalty(length: int, alpha: float, kind: str) -> float:
    if alpha == 0:
        return 1.0
    return ((5 + length) / 6) ** alpha if kind == "gnmt" else float(length) ** alpha


def _banned_by_ngrams(history: list[int], n: int) -> set[int]:
    """Tokens that would repeat an n-gram already in ``history``."""
    if n <= 0 or len(history) < n - 1:
        return set()
    if n == 1:
        return set(history)
    suffix = history[len(history) - n + 1 :]
    return {history[i + n - 1] for i in range(len(history) - n + 1) if history[i : i + n - 1] == suffix}


def _attention_path(attn_steps, parents, step: int, row: int) -> torch.Tensor:
    """The (step + 1, S) attention of the hypothesis whose last token was chosen at ``step`` from
    decoding row ``row``, following the back-pointers to the first step."""
    rows = [row]
    for t in range(step - 1, -1, -1):
        rows.append(int(parents[t][rows[-1]]))
    return torch.stack([attn_steps[t][r] for t, r in zip(range(step, -1, -1), rows)][::-1])


@torch.no_grad()
def beam_search(model, src, src_lengths, beam_size: int = 5, max_len: int = 100, min_len: int = 0,
                length_penalty: float = 1.0, n_best: int = 1, no_repeat_ngram_size: int = 0,
                penalty: str = "power", prefix: torch.Tensor | None = None,
                early_stopping: bool | str = False) -> list[list[Hypothesis]]:
    """The ``n_best`` highest-scoring hypotheses of each source, best first.

    Args:
        model: implements the decoding protocol.
        src, src_lengths: (B, S) source ids and (B,) lengths.
        beam_size: live hypotheses kept per source (K).
        max_len: most output tokens (eos included).
        min_len: fewest output tokens before the eos (the eos not counted: 1 forbids an empty
            output), Hugging Face's ``min_new_tokens`` and OpenNMT's ``min_length``.
        length_penalty: alpha of the length normalisation (0 = raw log-probability).
        n_best: hypotheses returned per source (at most ``beam_size``).
        no_repeat_ngram_size: forbid repeating any n-gram of this size (0 = off).
        penalty: ``"power"`` (``len ** alpha``) or ``"gnmt"``.
        early_stopping: when a source stops (Hugging Face's keyword and values): ``True`` as soon
            as ``beam_size`` of its hypotheses are finished; ``False`` when ``n_best`` are finished
            and its best live hypothesis, scored at its current length, cannot beat them (the usual
            heuristic, much faster with a length penalty); ``"never"`` when ``n_best`` are finished
            and no live hypothesis could beat them at any length up to ``max_len`` (exact: with a
            wide enough beam the result is the exhaustive search's, for any ``length_penalty``).
        prefix: (B, P) forced tokens (a language model's prompt), read before the search, not scored.

    Returns:
        For each source, a list of ``n_best`` :class:`Hypothesis`, sorted by ``score``.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1; got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must lie in [1, beam_size={beam_size}]; got {n_best}")
    if max_len < 1 or min_len < 0 or min_len > max_len:
        raise ValueError(f"need 0 <= min_len <= max_len and max_len >= 1; got min_len={min_len}, max_len={max_len}")
    if not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be a finite number; got {length_penalty}")
    if penalty not in ("power", "gnmt"):
        raise ValueError(f"penalty must be 'power' or 'gnmt'; got {penalty!r}")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never'; got {early_stopping!r}")
    B, K, device = src.shape[0], beam_size, src.device
    state = model.init_decoder_state(src, src_lengths)
    tokens = torch.full((B,), model.bos_id, dtype=torch.long, device=device)
    if prefix is not None:  # read once per source, then copied to its beams
        for j in range(prefix.shape[1]):
            _, state, _ = model.decode_step(tokens, state)
            tokens = prefix[:, j].to(device)
    # The state holds Kc rows for each source still searching (``alive``, A of them): one at the
    # first step (the beams would all be copies), K after it; a source that is done leaves the batch.
    alive = torch.arange(B)
    scores = torch.zeros(B, 1, dtype=torch.float64)  # (A, Kc)
    history = torch.zeros(B, 0, dtype=torch.long)  # (A*Kc, steps): tokens so far
    # Attention is kept as back-pointers, not copied along every step: attn_steps[t] is the
    # attention (rows, S) of the rows decoded at step t, and parents[t] maps each row kept after
    # step t to the row of step t it extends. A hypothesis' matrix is assembled only if it is
    # returned (see _attention_path).
    attn_steps: list[torch.Tensor] = []
    parents: list[torch.Tensor] = []
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    traces: dict[int, tuple[int, int]] = {}  # id(hypothesis) -> (step, row) where its attention path ends
    n_finished = torch.zeros(B, dtype=torch.long)
    nth_best = torch.full((B,), float("-inf"), dtype=torch.float64)  # score of the n_best-th finished
    # A live score s <= 0 only falls as tokens are added, so its best final score is s / p for
    # the largest penalty p it can still reach: at max_len when the penalty grows with length
    # (alpha > 0), at the current length otherwise (alpha < 0 shrinks it; alpha = 0 keeps 1).
    bound_scale = _penalty(max_len, length_penalty, penalty) if length_penalty > 0 else None
    width = 2 * K  # a source's candidates: enough that K survive even if K of them end with eos

    for step in range(max_len):
        log_probs, state, attn = model.decode_step(tokens, state)
        (A, Kc), V = scores.shape, log_probs.shape[1]
        if step < min_len or no_repeat_ngram_size:
            log_probs = log_probs.clone()
            if step < min_len:
                log_probs[:, model.eos_id] = float("-inf")
            if no_repeat_ngram_size:
                for r, hist in enumerate(history.tolist()):
                    banned = _banned_by_ngrams(hist, no_repeat_ngram_size)
                    if banned:
                        log_probs[r, list(banned)] = float("-inf")
        # Select per row first instead of scoring all K * V continuations: a row's K best tokens other
        # than eos, and eos. No other token is ever needed: K better live ones of the same row come
        # first, and they fill the source's K places.
        row_lp, row_tok = row_topk(log_probs, min(K + 1, V))
        if K + 1 < V:  # a row's eos always competes: where it ties with the (K+1)-th token, topk may
            # leave it out, and the hypothesis ending here would be lost to ones that go on and only lose
            missing = (row_tok != model.eos_id).all(1, keepdim=True)
            row_lp[:, -1:] = torch.where(missing, log_probs[:, model.eos_id : model.eos_id + 1], row_lp[:, -1:])
            row_tok[:, -1:] = torch.where(missing, model.eos_id, row_tok[:, -1:])
        W = row_lp.shape[1]
        cand = (scores.view(A * Kc, 1) + row_lp.cpu().double()).view(A, Kc * W)  # MPS has no float64
        top_scores, top_index = cand.topk(min(width, Kc * W), dim=1)  # (A, C), best first
        flat = top_index + (torch.arange(A) * Kc * W).unsqueeze(1)
        top_row, top_tok = flat // W, row_tok.cpu().view(-1)[flat]  # the row extended, the token added
        # Among equal scores an eos goes first: finishing takes no place of the K, so a live tie
        # ordered ahead of it must not push it out (which one topk put first is arbitrary).
        tied = (top_scores[:, 1:] == top_scores[:, :-1]) & (top_scores[:, 1:] > float("-inf"))
        if bool(tied.any()):  # (ties are rare: sorted once more only then)
            ends = (top_tok == model.eos_id).long()
            order = ends.argsort(dim=1, descending=True, stable=True)
            order = order.gather(1, top_scores.gather(1, order).argsort(dim=1, descending=True, stable=True))
            top_scores, top_row, top_tok = (t.gather(1, order) for t in (top_scores, top_row, top_tok))
        # Walk each source's candidates best first, as a loop would: an eos candidate finishes a
        # hypothesis, any other becomes live, until K are live.
        valid = top_scores > float("-inf")
        is_eos, is_live = valid & (top_tok == model.eos_id), valid & (top_tok != model.eos_id)
        live_before = is_live.long().cumsum(1) - is_live.long()
        take_eos, take_live = is_eos & (live_before < K), is_live & (live_before < K)
        new_scores = torch.full((A, K), float("-inf"), dtype=torch.float64)
        origin = torch.arange(A * K) // K * Kc  # empty slots point at a row of their source
        new_tokens = torch.full((A * K,), model.pad_id, dtype=torch.long)
        a_idx, c_idx = take_live.nonzero(as_tuple=True)
        slot = a_idx * K + live_before[a_idx, c_idx]
        new_scores.view(-1)[slot] = top_scores[a_idx, c_idx]
        origin[slot], new_tokens[slot] = top_row[a_idx, c_idx], top_tok[a_idx, c_idx]

        if attn is not None:
            attn_steps.append(attn.float().cpu())
        length, touched = step + 1, set()
        for a, c in take_eos.nonzero().tolist():
            b, row, s = int(alive[a]), int(top_row[a, c]), float(top_scores[a, c])
            hyp = Hypothesis(history[row].tolist(), s / _penalty(length, length_penalty, penalty), s)
            finished[b].append(hyp)
            traces[id(hyp)] = (step, row)
            touched.add(b)
        for b in touched:
            finished[b].sort(key=lambda h: h.score, reverse=True)
            n_finished[b] = len(finished[b])
            if len(finished[b]) >= n_best:
                nth_best[b] = finished[b][n_best - 1].score
        # A source is done when n_best hypotheses are finished and no live one can still beat them
        # (see early_stopping: at any length up to max_len, or at its current length), or, with
        # early_stopping=True, as soon as K are finished (Hugging Face's rule).
        live_best = new_scores[:, 0]
        exact = early_stopping == "never" and bound_scale is not None
        scale = bound_scale if exact else _penalty(length, length_penalty, penalty)
        no_live = live_best == float("-inf")  # nothing can finish any more
        enough = (n_finished[alive] >= K) if early_stopping is True else \
            (n_finished[alive] >= n_best) & (nth_best[alive] >= live_best / scale)
        done = no_live | enough
        if bool(done.all()):
            alive = alive[:0]
            break
        keep = (~done).nonzero().squeeze(1)
        rows = (keep.unsqueeze(1) * K + torch.arange(K)).view(-1)
        origin, alive, scores = origin[rows], alive[keep], new_scores[keep]
        history = torch.cat([history.index_select(0, origin), new_tokens[rows].unsqueeze(1)], dim=1)
        parents.append(origin)
        state = model.reorder_state(state, origin.to(device))
        tokens = new_tokens[rows].to(device)

    # max_len reached: the live hypotheses of the sources still searching compete as they are
    for a, b in enumerate(alive.tolist()):
        for k in range(K):
            s = float(scores[a, k])
            if s > float("-inf"):
                row = a * K + k
                hyp = Hypothesis(history[row].tolist(), s / _penalty(history.shape[1], length_penalty, penalty), s)
                finished[b].append(hyp)
                traces[id(hyp)] = (len(parents) - 1, int(parents[-1][row]))
    results = []
    for b in range(B):
        finished[b].sort(key=lambda h: h.score, reverse=True)
        best = finished[b][:n_best]
        if attn_steps:
            for h in best:
                h.attention = _attention_path(attn_steps, parents, *traces[id(h)])
        results.append(best)
    return results

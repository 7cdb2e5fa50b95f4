"""Batched beam search over the decoding protocol (see :mod:`rnnkit.decode.search`).

All sources x beams advance in one ``decode_step`` call per step. A hypothesis that emits eos is
finished and stops expanding; a source is done when ``n_best`` hypotheses are finished and no live
one can still beat them; the search ends when every source is done or at ``max_len``.

Scores: ``log_prob / penalty(length)``, ``length`` counting the output tokens with the eos;
``penalty = length ** alpha`` (``length_penalty=alpha``; 0 = raw log-probability) or, with
``penalty="gnmt"``, ``((5 + length) / 6) ** alpha`` (Wu et al. 2016).
"""

from __future__ import annotations

import torch

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


@torch.no_grad()
def beam_search(model, src, src_lengths, beam_size: int = 5, max_len: int = 100, min_len: int = 0,
                length_penalty: float = 1.0, n_best: int = 1, no_repeat_ngram_size: int = 0,
                penalty: str = "power", prefix: torch.Tensor | None = None) -> list[list[Hypothesis]]:
    """The ``n_best`` highest-scoring hypotheses of each source, best first.

    Args:
        model: implements the decoding protocol.
        src, src_lengths: (B, S) source ids and (B,) lengths.
        beam_size: live hypotheses kept per source (K).
        max_len: most output tokens (eos included).
        min_len: fewest output tokens before eos may end a hypothesis.
        length_penalty: alpha of the length normalisation (0 = raw log-probability).
        n_best: hypotheses returned per source (at most ``beam_size``).
        no_repeat_ngram_size: forbid repeating any n-gram of this size (0 = off).
        penalty: ``"power"`` (``len ** alpha``) or ``"gnmt"``.
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
    if penalty not in ("power", "gnmt"):
        raise ValueError(f"penalty must be 'power' or 'gnmt'; got {penalty!r}")
    B, K, device = src.shape[0], beam_size, src.device
    rows = torch.arange(B, device=device).repeat_interleave(K)
    state = model.init_decoder_state(src, src_lengths)
    tokens = torch.full((B,), model.bos_id, dtype=torch.long, device=device)
    if prefix is not None:  # read once per source, then copied to its beams
        for j in range(prefix.shape[1]):
            _, state, _ = model.decode_step(tokens, state)
            tokens = prefix[:, j].to(device)
    state = model.reorder_state(state, rows)
    tokens = tokens.repeat_interleave(K)
    # only the first beam of each source is alive at the start (the others are copies)
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0
    history = torch.zeros(B * K, 0, dtype=torch.long)  # tokens so far, one row per hypothesis
    attn_history: torch.Tensor | None = None  # (B*K, steps, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    bound_scale = _penalty(max_len, length_penalty, penalty)
    width = 2 * K  # enough candidates that K survive even if K of them end with eos

    for step in range(max_len):
        log_probs, state, attn = model.decode_step(tokens, state)
        V = log_probs.shape[1]
        if step + 1 < min_len or no_repeat_ngram_size:
            log_probs = log_probs.clone()
            if step + 1 < min_len:
                log_probs[:, model.eos_id] = float("-inf")
            if no_repeat_ngram_size:
                for r, hist in enumerate(history.tolist()):
                    banned = _banned_by_ngrams(hist, no_repeat_ngram_size)
                    if banned:
                        log_probs[r, list(banned)] = float("-inf")
        # The global top candidates of a source are among each of its rows' top `width` tokens:
        # select per row first instead of scoring all K * V continuations.
        row_lp, row_tok = log_probs.topk(min(width, V), dim=1)
        cand = scores.view(B * K, 1) + row_lp.double().cpu()  # (B*K, width)
        cand_tok = row_tok.cpu()
        top_scores, top_index = cand.view(B, -1).topk(min(width, cand.shape[1] * K), dim=1)
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        attn_cpu = None if attn is None else attn.float().cpu()
        new_scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
        origin = torch.arange(B * K)  # rows of done sources keep pointing at themselves
        new_tokens = torch.full((B * K,), model.pad_id, dtype=torch.long)
        length = step + 1
        n_cols = cand.shape[1]
        for b in range(B):
            if done[b]:
                continue
            kept = 0
            for s, idx in zip(top_scores[b], top_index[b]):
                if s == float("-inf") or kept == K:
                    break
                beam, col = divmod(idx, n_cols)
                row = b * K + beam
                token = int(cand_tok[row, col])
                if token == model.eos_id:
                    att = None
                    if attn_cpu is not None:
                        att = attn_cpu[row : row + 1] if attn_history is None else \
                            torch.cat([attn_history[row], attn_cpu[row : row + 1]])
                    finished[b].append(Hypothesis(history[row].tolist(), s / _penalty(length, length_penalty, penalty),
                                                  s, att))
                    continue
                new_scores[b, kept] = s
                origin[b * K + kept] = row
                new_tokens[b * K + kept] = token
                kept += 1
            finished[b].sort(key=lambda h: h.score, reverse=True)
            live_best = float(new_scores[b, 0])
            if len(finished[b]) >= n_best and (
                live_best == float("-inf") or finished[b][n_best - 1].score >= live_best / bound_scale
            ):
                done[b] = True
        if all(done):
            break
        history = torch.cat([history.index_select(0, origin), new_tokens.unsqueeze(1)], dim=1)
        if attn_cpu is not None:
            step_attn = attn_cpu.index_select(0, origin).unsqueeze(1)
            attn_history = step_attn if attn_history is None else \
                torch.cat([attn_history.index_select(0, origin), step_attn], dim=1)
        scores = new_scores
        state = model.reorder_state(state, origin.to(device))
        tokens = new_tokens.to(device)

    results = []
    for b in range(B):
        if not done[b]:  # max_len reached: live hypotheses compete as they are
            for k in range(K):
                s = float(scores[b, k])
                if s > float("-inf"):
                    row = b * K + k
                    finished[b].append(Hypothesis(history[row].tolist(), s / _penalty(history.shape[1], length_penalty,
                                                                                      penalty), s,
                                                  None if attn_history is None else attn_history[row].clone()))
        finished[b].sort(key=lambda h: h.score, reverse=True)
        results.append(finished[b][:n_best])
    return results

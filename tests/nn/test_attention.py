"""Attention: the three scores by hand, masks give exactly zero weight, padding changes nothing."""

import pytest
import torch

from rnnkit.nn import Attention


def _inputs(B=2, S=4, H=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, generator=g, dtype=torch.float64), torch.randn(B, S, H, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_scores_by_hand(kind):
    torch.manual_seed(0)
    att = Attention(kind, 6).double()
    q, k = _inputs()
    context, weights = att(q, k)
    if kind == "dot":
        s = torch.einsum("bh,bsh->bs", q, k)
    elif kind == "general":
        s = torch.einsum("bh,bsh->bs", q, k @ att.W.weight.t())
    else:
        s = (torch.tanh(k @ att.W_key.weight.t() + (q @ att.W_query.weight.t() + att.W_query.bias).unsqueeze(1))
             @ att.v.weight.t()).squeeze(-1)
    torch.testing.assert_close(weights, s.softmax(-1))
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", s.softmax(-1), k))


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_masked_positions_get_exactly_zero_weight_and_padding_changes_nothing(kind):
    torch.manual_seed(0)
    att = Attention(kind, 6, key_size=6).double()
    q, k = _inputs()
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    context, weights = att(q, k, mask)
    assert torch.all(weights[0, 2:] == 0) and torch.allclose(weights.sum(-1), torch.ones(2, dtype=torch.float64))
    c0, w0 = att(q[:1], k[:1, :2])  # the same source without its padding
    torch.testing.assert_close(context[0], c0[0])
    torch.testing.assert_close(weights[0, :2], w0[0])
    garbage = k.clone()
    garbage[0, 2:] = 1e3
    torch.testing.assert_close(att(q, garbage, mask)[0], context)


def test_many_queries_at_once_and_empty_sources():
    att = Attention("general", 4, key_size=6).double()
    q, k = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, 6, dtype=torch.float64)
    mask = torch.tensor([[False] * 5, [True] * 5])
    context, weights = att(q, k, mask)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    assert torch.all(weights[0] == 0) and torch.all(context[0] == 0) and torch.isfinite(context).all()
    assert torch.allclose(att(q[:, 1], k, mask)[0], context[:, 1])


@pytest.mark.parametrize(
    "make,call,match",
    [
        (lambda: Attention("cosine", 4), None, "kind must be one of"),
        (lambda: Attention("dot", 4, key_size=6), None, "dot attention needs equal"),
        (lambda: Attention("dot", 4), lambda a: a(torch.randn(2, 4), torch.randn(2, 3, 5)), "keys must have shape"),
        (lambda: Attention("dot", 4), lambda a: a(torch.randn(3, 4), torch.randn(2, 3, 4)), "query must have shape"),
        (lambda: Attention("dot", 4), lambda a: a(torch.randn(2, 4), torch.randn(2, 3, 4), torch.ones(2, 4).bool()),
         "mask must have shape"),
    ],
)
def test_bad_input(make, call, match):
    with pytest.raises(ValueError, match=match):
        att = make()
        call(att)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
@pytest.mark.parametrize("junk", [float("nan"), float("inf")])
def test_nan_or_inf_in_padded_keys_reaches_neither_context_nor_gradients(kind, junk):
    torch.manual_seed(0)
    att = Attention(kind, 6).double()
    q, k = _inputs(S=5)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    dirty, clean = k.clone(), k.clone()
    dirty[1, 2:], clean[1, 2:] = junk, 0.0
    results = []
    for keys in (clean, dirty):
        att.zero_grad()
        query = q.clone().requires_grad_()
        context, weights = att(query, keys, mask)
        context.sum().backward()
        results.append([context, weights, query.grad] + [p.grad for p in att.parameters()])
    for a, e in zip(results[1], results[0], strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, e)

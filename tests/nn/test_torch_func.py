"""torch.func over the layers: per-sample gradients (vmap of grad), jacrev and vmap of the forward.

Under a functorch transform every backend steps aside to the reference loop
(:func:`rnnkit.nn.backend.transformed`); torch.nn itself cannot be vmapped (its fused kernels have
no batching rule), so its per-sample gradients come from a loop over the samples.
"""

import pytest
import torch
from torch.func import functional_call, grad, jacrev, vmap

from rnnkit.nn.backend import transformed

from .harness import CELLS, is_lstm, run_torch, torch_module, twin

BACKENDS = ["auto", "bptt", "native", "reference"]
T, B, I = 4, 5, 3
LENGTHS = [4, 2, 3, 1, 4]


def _loss(out, state):
    h = state[0] if isinstance(state, tuple) else state
    return out.pow(2).sum() + h.tanh().sum()


def _data(seed=0):
    return torch.randn(B, T, I, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _torch_per_sample(module, x, lengths):
    """torch.nn's gradients of each sample's loss alone: (B, *shape) per parameter."""
    grads = []
    for b in range(x.shape[0]):
        n = T if lengths is None else lengths[b]
        loss = _loss(*module(x[b : b + 1, :n]))  # one sequence of its own length: what packing computes
        grads.append(torch.autograd.grad(loss, list(module.parameters())))
    return {name: torch.stack(g) for (name, _), g in zip(module.named_parameters(), zip(*grads))}


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_per_sample_gradients_equal_torch(cell, backend, with_lengths):
    module = torch_module(cell, input_size=I, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
    layer = twin(module, backend)
    params = {k: v.detach() for k, v in layer.named_parameters()}
    x = _data()

    def loss(p, x_b, n_b):
        kwargs = {} if n_b is None else {"lengths": n_b.unsqueeze(0)}
        return _loss(*functional_call(layer, p, (x_b.unsqueeze(0),), kwargs))

    lengths = torch.tensor(LENGTHS) if with_lengths else None
    actual = vmap(grad(loss), in_dims=(None, 0, 0 if with_lengths else None))(params, x, lengths)
    expected = _torch_per_sample(module, x, LENGTHS if with_lengths else None)
    for name, e in expected.items():
        torch.testing.assert_close(actual[name], e, atol=1e-10, rtol=1e-7, msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_jacrev_and_vmap_of_forward(cell, backend):
    module = torch_module(cell, input_size=I, hidden_size=4, batch_first=True)
    layer = twin(module, backend)
    x = _data(1)[:2]

    def out_of(m):
        return lambda x: m(x)[0]

    torch.testing.assert_close(jacrev(out_of(layer))(x), torch.autograd.functional.jacobian(out_of(module), x))
    # vmap over unbatched sequences (T, I) gives the batched forward's rows.
    expected, state = module(x)
    actual, actual_state = vmap(layer)(x)
    torch.testing.assert_close(actual, expected)
    h = state[0] if is_lstm(module) else state
    actual_h = actual_state[0] if is_lstm(module) else actual_state
    torch.testing.assert_close(actual_h, h.transpose(0, 1))  # vmap stacks the states on dim 0


def test_transformed_only_under_a_transform():
    seen = []

    def f(x):
        seen.append(transformed())
        return x.sum()

    f(torch.ones(2))
    grad(f)(torch.ones(2))
    vmap(f)(torch.ones(3, 2))
    assert seen == [False, True, True]


@pytest.mark.parametrize("cell", CELLS)
def test_batched_gradients_through_bptt(cell):
    """``is_grads_batched`` (gradcheck's batched-gradient check, ``jacobian(vectorize=True)``)
    vmaps the backward itself: the explicit BPTT answers it through its replay."""
    module = torch_module(cell, input_size=I, hidden_size=3, num_layers=2, bidirectional=True)
    layer = twin(module, "bptt")
    x = torch.randn(T, 3, I, dtype=torch.float64, requires_grad=True)
    lengths = [4, 2, 3]

    def out_of(m, rnnkit):
        return lambda x: m(x, lengths=lengths)[0] if rnnkit else run_torch(m, x, lengths=lengths)[0]

    assert torch.autograd.gradcheck(out_of(layer, True), (x,), check_batched_grad=True)
    actual = torch.autograd.functional.jacobian(out_of(layer, True), x, vectorize=True)
    torch.testing.assert_close(actual, torch.autograd.functional.jacobian(out_of(module, False), x))

"""rnnkit layers against torch.nn on the same weights: outputs, final states and gradients.

Every cell type x 1 and 2 layers x uni/bidirectional x batch_first x fixed/variable lengths, for
our explicit BPTT ("bptt") and the cell-loop reference, in float64; variable lengths are checked
against torch.nn fed ``pack_padded_sequence(..., enforce_sorted=False)``.
"""

import itertools

import pytest
import torch

from .harness import CELLS, assert_same, grads, random_state, run_torch, torch_module, twin

CASES = list(itertools.product(CELLS, [1, 2], [False, True], [False, True], [False, True]))


def _ids(case):
    cell, layers, bidir, batch_first, varlen = case
    return f"{cell}-L{layers}-{'bi' if bidir else 'uni'}-{'bf' if batch_first else 'tf'}-{'var' if varlen else 'fix'}"


@pytest.mark.parametrize("backend", ["bptt", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case, backend):
    cell, layers, bidir, batch_first, varlen = case
    ref = torch_module(cell, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    ours = twin(ref, backend)
    B, T = 4, 6
    lengths = torch.tensor([3, 6, 1, 4]) if varlen else None
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5), dtype=torch.float64)
    hx = random_state(ref, B)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, state_a = ours(xa, hx, lengths=lengths)
    out_b, state_b = run_torch(ref, xb, hx, lengths)
    assert_same(out_a, out_b)
    assert_same(state_a, state_b)
    # Gradients of a loss touching every output and every final state.
    def loss(out, state):
        w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        return (out * w).sum() + sum((s * s).sum() for s in (state if isinstance(state, tuple) else (state,)))
    loss(out_a, state_a).backward()
    loss(out_b, state_b).backward()
    assert_same(grads(ours, xa), grads(ref, xb))


@pytest.mark.parametrize("cell", CELLS)
def test_float32_fast_path_matches_torch(cell):
    """float32 runs the oneDNN packed product where available: equal to float32 rounding."""
    ref = torch_module(cell, input_size=16, hidden_size=32, num_layers=2, bidirectional=True, dtype=torch.float32)
    ours = twin(ref, "bptt")
    x = torch.randn(9, 5, 16)
    for lengths in (None, torch.tensor([9, 2, 5, 9, 1])):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_a, st_a = ours(xa, lengths=lengths)
        out_b, st_b = run_torch(ref, xb, None, lengths)
        assert_same(out_a, out_b, atol=2e-5, rtol=1e-4)
        assert_same(st_a, st_b, atol=2e-5, rtol=1e-4)
        out_a.sum().backward()
        out_b.sum().backward()
        assert_same(grads(ours, xa), grads(ref, xb), atol=1e-4, rtol=1e-4)
        ours.zero_grad()
        ref.zero_grad()


@pytest.mark.parametrize("cell", CELLS)
def test_native_backend_matches_torch(cell):
    ref = torch_module(cell, num_layers=2, bidirectional=True)
    ours = twin(ref, "native")
    x, lengths = torch.randn(6, 3, 5, dtype=torch.float64), torch.tensor([2, 6, 4])
    assert_same(ours(x, lengths=lengths), run_torch(ref, x, None, lengths))
    assert_same(ours(x), ref(x))


@pytest.mark.parametrize("cell", CELLS)
def test_packed_sequence_in_packed_sequence_out(cell):
    ref = torch_module(cell, num_layers=2, bidirectional=True)
    ours = twin(ref, "bptt")
    x = torch.randn(5, 4, 5, dtype=torch.float64)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([2, 5, 5, 3]), enforce_sorted=False)
    (pa, sa), (pb, sb) = ours(packed), ref(packed)
    assert isinstance(pa, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(pa.data, pb.data)
    assert torch.equal(pa.batch_sizes, pb.batch_sizes) and torch.equal(pa.sorted_indices, pb.sorted_indices)
    assert_same(sa, sb)


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input(cell):
    ref = torch_module(cell, num_layers=2)
    ours = twin(ref, "bptt")
    x = torch.randn(6, 5, dtype=torch.float64)
    assert_same(ours(x)[0], ref(x)[0])
    assert ours(x)[0].shape == (6, 7)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("backend", ["bptt", "reference"])
def test_more_padding_changes_nothing(cell, backend):
    ours = twin(torch_module(cell, bidirectional=True, batch_first=True), backend)
    x = torch.randn(3, 5, 5, dtype=torch.float64)
    lengths = [5, 2, 3]
    out, state = ours(x, lengths=lengths)
    longer = torch.cat([x, torch.randn(3, 4, 5, dtype=torch.float64)], dim=1)  # 4 more padded steps
    out2, state2 = ours(longer, lengths=lengths)
    assert_same(out2[:, :5], out)
    assert torch.all(out2[:, 5:] == 0)
    assert_same(state2, state)
    for b, n in enumerate(lengths):
        assert torch.all(out[b, n:] == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_zero_length_sequences_keep_their_initial_state(cell):
    ours = twin(torch_module(cell, bidirectional=True, num_layers=2), "bptt")
    ref = twin(torch_module(cell, bidirectional=True, num_layers=2), "reference")
    x, hx = torch.randn(4, 3, 5, dtype=torch.float64), random_state(ours, 3)
    lengths = [0, 4, 2]
    a, b = ours(x, hx, lengths=lengths), ref(x, hx, lengths=lengths)
    assert_same(a, b)
    assert torch.all(a[0][:, 0] == 0)


def test_state_dict_round_trips_both_ways():
    for cell in CELLS:
        ref = torch_module(cell, num_layers=2, bidirectional=True)
        ours = twin(ref, "auto")
        back = ours.to_torch()
        assert type(back) is type(ref)
        for (na, a), (nb, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
            assert na == nb and torch.equal(a, b)
        x = torch.randn(4, 2, 5, dtype=torch.float64)
        assert_same(back(x), ref(x))
        fresh = type(ours)(5, 7, num_layers=2, bidirectional=True, **(
            {"nonlinearity": ref.nonlinearity} if cell.startswith("RNN") else {})).double()
        fresh.load_state_dict(ref.state_dict())
        assert_same(fresh(x), ref(x))


def test_training_steps_follow_torch():
    """Five SGD steps from the same weights end at the same weights."""
    ref = torch_module("LSTM", num_layers=2, dropout=0.0)
    ours = twin(ref, "bptt")
    opt_a = torch.optim.SGD(ours.parameters(), lr=0.5)
    opt_b = torch.optim.SGD(ref.parameters(), lr=0.5)
    for step in range(5):
        x = torch.randn(6, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(step))
        for model, opt in ((ours, opt_a), (ref, opt_b)):
            opt.zero_grad()
            model(x)[0].pow(2).mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_dropout_between_layers_only_in_training():
    ours = twin(torch_module("GRU", num_layers=2, dropout=0.5), "bptt")
    x = torch.randn(5, 3, 5, dtype=torch.float64)
    ours.eval()
    assert_same(ours(x), ours(x))
    ours.train()
    torch.manual_seed(0)
    a = ours(x)[0]
    torch.manual_seed(1)
    b = ours(x)[0]
    assert not torch.allclose(a, b)

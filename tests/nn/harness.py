"""Shared test harness: build a torch.nn module and its rnnkit twin, run torch.nn as the reference."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn

CELLS = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def torch_module(cell: str, input_size=5, hidden_size=7, dtype=torch.float64, seed=0, **kw) -> torch.nn.RNNBase:
    torch.manual_seed(seed)
    if cell.startswith("RNN"):
        kw["nonlinearity"] = "relu" if cell == "RNN_RELU" else "tanh"
        cls = torch.nn.RNN
    else:
        cls = getattr(torch.nn, cell)
    return cls(input_size, hidden_size, **kw).to(dtype)


def twin(module: torch.nn.RNNBase, backend: str) -> rnn.RNNBase:
    return getattr(rnn, type(module).__name__).from_torch(module, backend=backend)


def is_lstm(module) -> bool:
    return isinstance(module, (torch.nn.LSTM, rnn.LSTM))


def random_state(module, batch: int, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (module.num_layers * (2 if module.bidirectional else 1), batch, module.hidden_size)
    h = torch.randn(shape, generator=g, dtype=dtype)
    return (h, torch.randn(shape, generator=g, dtype=dtype)) if is_lstm(module) else h


def run_torch(module, x, hx=None, lengths=None):
    """torch.nn's result, with lengths through pack_padded_sequence; output padded back to T."""
    if lengths is None:
        return module(x, hx)
    T = x.shape[1] if module.batch_first else x.shape[0]
    packed = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=module.batch_first, enforce_sorted=False)
    out, state = module(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=T)
    return out, state


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def assert_same(actual, expected, atol=1e-10, rtol=1e-7):
    for a, e in zip(flat(actual), flat(expected), strict=True):
        torch.testing.assert_close(a, e, atol=atol, rtol=rtol)


def grads(module, *tensors):
    return [p.grad.clone() for p in module.parameters()] + [t.grad.clone() for t in tensors if t is not None]


def into_one_buffer(layer):
    """What cuDNN's flattening (``flatten_parameters`` on a GPU) leaves: every weight of the layer a
    view into one contiguous buffer."""
    weights = layer._flat_weights
    storage = torch.cat([w.detach().reshape(-1) for w in weights]).untyped_storage()
    offset = 0
    with torch.no_grad():
        for w in weights:
            w.set_(storage, offset, w.shape)
            offset += w.numel()

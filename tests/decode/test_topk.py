"""row_topk (blocks of columns first, then the top k) equals torch.topk."""

import pytest
import torch

from rnnkit.decode._topk import row_topk


@pytest.mark.parametrize("V", [1000, 1024, 1037, 64 * 6, 300])
@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("block", [16, 64])
def test_equals_torch_topk(V, k, block):
    x = torch.randn(37, V, generator=torch.Generator().manual_seed(V + k)).log_softmax(1)
    x[0, :] = float("-inf")  # a row with nothing allowed but one token
    x[0, V - 1] = -3.0
    x[1, ::2] = float("-inf")  # banned tokens
    x[2, V - 1] = 5.0  # the best token in the short last block
    values, index = row_topk(x, k, block)
    want_values, want_index = x.topk(k, dim=1)
    torch.testing.assert_close(values, want_values, rtol=0, atol=0)
    finite = want_values > float("-inf")
    assert torch.equal(index[finite], want_index[finite])
    assert int(index.max()) < V


def test_ties_give_the_tied_values_at_distinct_columns():
    x = torch.zeros(4, 640)
    x[:, 100:110] = 1.0
    values, index = row_topk(x, 6)
    assert torch.equal(values, torch.ones(4, 6))
    assert all(len(set(row)) == 6 and all(100 <= c < 110 for c in row) for row in index.tolist())

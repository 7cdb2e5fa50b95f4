"""pad_sequences against a table of cases written from Keras' documented semantics
(keras.utils.pad_sequences: maxlen None = longest; "pre" pads/truncates at the start, "post" at the end)."""

import numpy as np
import pytest

from rnnkit.text import pad_batch, pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]

CASES = [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 2, "padding": "post", "truncating": "post"}, [[1, 0], [2, 3], [4, 5]]),
    ({"maxlen": 4, "value": -1}, [[-1, -1, -1, 1], [-1, -1, 2, 3], [-1, 4, 5, 6]]),
    ({"maxlen": 1}, [[1], [3], [6]]),
    ({"maxlen": 0, "truncating": "post"}, np.zeros((3, 0), dtype="int32")),  # "pre" raises, as in Keras
]


@pytest.mark.parametrize("kwargs,expected", CASES)
def test_table(kwargs, expected):
    out = pad_sequences(SEQS, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.asarray(expected, dtype="int32").reshape(out.shape))


def test_returns_numpy_with_dtype_and_float_values():
    out = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=-0.25)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, 1.5], [-0.25, 2.5]])


def test_empty_sequences_are_all_padding():
    np.testing.assert_array_equal(pad_sequences([[], [7]], maxlen=2), [[0, 0], [0, 7]])
    assert pad_sequences([], maxlen=3).shape == (0, 3)


# Keras' own behaviour on its edge cases (keras.utils.pad_sequences, read from its source): NumPy
# raises for the longest of no sequences, for a float dimension, and when s[-0:] (the whole
# sequence) is put into zero columns.
def test_no_sequences_without_maxlen_is_an_error_as_in_keras():
    with pytest.raises(ValueError, match="no sequences and maxlen=None"):
        pad_sequences([])


def test_a_float_maxlen_is_a_type_error_as_in_keras():
    with pytest.raises(TypeError, match=r"maxlen must be an integer or None; got 2.0 \(float\)"):
        pad_sequences([[1, 2, 3]], maxlen=2.0)
    assert pad_sequences([[1, 2, 3]], maxlen=np.int64(2)).tolist() == [[2, 3]]


def test_maxlen_zero_as_in_keras():
    with pytest.raises(ValueError, match="maxlen=0 with truncating='pre'"):
        pad_sequences([[1, 2], [3]], maxlen=0)
    assert pad_sequences([[1, 2], [3]], maxlen=0, truncating="post").shape == (2, 0)
    assert pad_sequences([[], []], maxlen=0).shape == (2, 0)  # nothing to keep: no error


def test_items_with_their_own_shape():
    out = pad_sequences([[[1, 1]], [[2, 2], [3, 3]]])
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[0], [[0, 0], [1, 1]])


def test_strings_with_object_dtype():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>", padding="post")
    assert out.tolist() == [["a", "b"], ["c", "<pad>"]]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"padding": "middle"}, 'padding must be "pre" or "post"'),
        ({"truncating": "both"}, 'truncating must be "pre" or "post"'),
        ({"maxlen": -1}, "maxlen must be a non-negative integer"),
        ({"value": "x"}, "not compatible"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences(SEQS, **kwargs)


def test_non_iterable_items():
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([[1], 2])


def test_pad_batch_post_padding_lengths_and_mask():
    ids, lengths, mask = pad_batch([[5, 6, 7], [8], [9, 10]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]


def test_pad_batch_truncates_and_pre_pads():
    ids, lengths, mask = pad_batch([[1, 2, 3, 4], [5]], max_len=3, padding="pre", truncating="pre")
    assert ids.tolist() == [[2, 3, 4], [0, 0, 5]]
    assert lengths.tolist() == [3, 1]
    assert mask.tolist() == [[True, True, True], [False, False, True]]
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        pad_batch([[1]], max_len=0)

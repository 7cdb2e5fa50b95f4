"""Text pipeline: tokenize -> vocabulary ids -> padded batches with lengths and masks."""

from .batching import BucketBatchSampler, PadCollate, pad_batch, pad_sequences, padding_fraction
from .tokenize import BPETokenizer, CharTokenizer, WordTokenizer, make_tokenizer
from .vocab import Vocab

__all__ = ["pad_sequences", "pad_batch", "BucketBatchSampler", "PadCollate", "padding_fraction", "CharTokenizer",
           "WordTokenizer", "BPETokenizer", "make_tokenizer", "Vocab"]

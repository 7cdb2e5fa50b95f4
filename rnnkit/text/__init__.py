"""Text pipeline: tokenize -> vocabulary ids (a :class:`TextCodec`) -> padded batches with lengths
and masks; the bundled corpora and their fixed splits live in :mod:`rnnkit.text.corpora`."""

from .batching import BucketBatchSampler, PadCollate, pad_batch, pad_sequences, padding_fraction
from .codec import CodecPair, TextCodec
from .tokenize import BPETokenizer, CharTokenizer, WordTokenizer, make_tokenizer
from .vocab import Vocab

__all__ = ["pad_sequences", "pad_batch", "BucketBatchSampler", "PadCollate", "padding_fraction", "CharTokenizer",
           "WordTokenizer", "BPETokenizer", "make_tokenizer", "Vocab", "TextCodec", "CodecPair"]

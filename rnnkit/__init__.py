"""rnnkit: recurrent sequence models (RNN, LSTM, GRU) on PyTorch, with explicit BPTT."""

__version__ = "0.1.0"  # the one place the version is set: pyproject.toml reads it from here

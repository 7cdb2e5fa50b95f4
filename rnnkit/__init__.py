"""rnnkit: recurrent sequence models (RNN, LSTM, GRU) on PyTorch, with explicit BPTT."""

__version__ = "0.1.0"

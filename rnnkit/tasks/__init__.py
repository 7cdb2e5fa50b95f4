"""Tasks: the glue between data, a model and the shared training loop (``rnnkit.train.Trainer``)."""

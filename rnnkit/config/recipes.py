"""Measured recipes: the defaults a command applies to every flag not given.

Each recipe is a flat ``{field: value}`` dict over several configs; :func:`recipe_config` takes
the fields that belong to one config. The figures behind them are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import dataclasses

# The character-level language-model recipe measured on the bundled Shakespeare with 2 CPU threads
# (benchmarks/bench_lm.py, 10-minute runs): 640 units, the widest layer before tokens/s falls off
# a cliff on this CPU (768 runs at half the speed); short windows and small batches give many
# updates per second of compute; AdamW at 3e-3 (4e-3 to 8e-3 measured worse at this width), warmed
# up briefly and decayed linearly to zero over the budget; no dropout (the model underfits in 10
# minutes: 0.1 cost 0.025 nats in one run, not committed); bfloat16 mixed precision where the
# hardware has it (1.6-1.8x the tokens/s of float32 on an AVX-512 BF16 CPU at 512 and 640 units:
# benchmarks/results/bench_lm_recipe512.json and bench_lm.json).
# `rnnkit train lm` and `rnnkit demo` default to it.
LM_RECIPE = {"embedding_size": 64, "hidden_size": 640, "num_layers": 1, "dropout": 0.0, "bptt": 64,
             "batch_size": 16, "lr": 3e-3, "schedule": "linear", "warmup_steps": 50, "clip": 1.0,
             "precision": "auto"}
# `rnnkit train lm --cell tcn`: LM_RECIPE's optimisation with a network that suits a TCN: one
# block of 640 channels would see 5 characters; 4 blocks of 384 with kernel 3 see 61 (Bai et al.
# 2018 use 3 blocks of 450 on PTB characters). Chosen, not tuned: the lab's cnn-vs-rnn experiment
# measures a TCN language model against the LSTM and GRU at equal time.
LM_TCN_RECIPE = {**LM_RECIPE, "hidden_size": 384, "num_layers": 4, "kernel_size": 3}
# `rnnkit demo` trains for 3 minutes, too short for 640 units to see enough text: there the
# previous recipe, 512 units at 6e-3, does better (1.44 against 1.52 nats/char in 3 minutes, one
# run each during development, not committed).
LM_DEMO_RECIPE = {**LM_RECIPE, "hidden_size": 512, "lr": 6e-3}

# The measured sequence-to-sequence recipes of benchmarks/bench_seq2seq.py, defaults of
# `rnnkit train seq2seq --corpus NAME` for every flag not given. Dates: 100 % exact match in 5
# minutes. En-es: beam 5 BLEU 31.8 in 15 minutes; no input feeding (about 1.4x faster to train on
# a CPU, measured once, not committed), lengths cut at 60 tokens (3 % of the pairs are longer),
# bfloat16 where the CPU has it.
SEQ2SEQ_RECIPES = {
    "dates": {"cell": "gru", "embedding_size": 32, "hidden_size": 128, "num_layers": 1, "dropout": 0.0,
              "bidirectional": True, "attention": "general", "level": "char", "lowercase": False, "max_src_len": 40,
              "max_tgt_len": 12, "min_freq": 1, "batch_size": 64, "lr": 3e-3, "eval_every": 300},
    "en-es": {"cell": "lstm", "embedding_size": 128, "hidden_size": 256, "num_layers": 1, "dropout": 0.2,
              "bidirectional": True, "attention": "general", "input_feeding": False, "level": "word",
              "lowercase": True, "max_src_len": 60, "max_tgt_len": 60, "min_freq": 3, "max_vocab": 12000,
              "label_smoothing": 0.1, "batch_size": 64, "lr": 3e-3, "schedule": "linear", "warmup_steps": 200,
              "precision": "auto"},
}


def recipe_config(config_cls, recipe: dict, **values):
    """``config_cls`` from the recipe's fields that belong to it, then ``values`` on top."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{**{k: v for k, v in recipe.items() if k in names}, **values})


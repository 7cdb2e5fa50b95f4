"""How far back can each cell remember? A synthetic recall task and a gradient-flow measurement.

The task: a sequence of ``steps`` random symbols (one-hot over ``symbols`` classes); the label is
the *first* symbol, read off the final state. Solving it means carrying one value across every
step, which is exactly what the vanilla RNN's repeated multiplication by W_hh and tanh' makes hard
and what the LSTM's additive cell path and the GRU's update gate make easy (docs/equations.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..models._common import recurrent_layer
from ..nn.cells import MEMORY_GATE, init_memory_bias


@dataclass
class RecallConfig:
    steps: int = 60
    symbols: int = 8
    hidden_size: int = 64
    batch_size: int = 64
    train_steps: int = 400
    lr: float = 3e-3
    seed: int = 0


class RecallModel(nn.Module):
    """One recurrent layer and a linear read-out of its final state.

    Shape: input (B, T, symbols) -> logits (B, symbols).
    """

    def __init__(self, cell: str, symbols: int, hidden_size: int):
        super().__init__()
        self.recurrent = recurrent_layer(cell)(symbols, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, symbols)
        open_memory_gate(self.recurrent)

    def forward(self, x):
        _, state = self.recurrent(x)
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1])


def open_memory_gate(layer: nn.Module, value: float = 3.0) -> None:
    """Start gated cells remembering: LSTM forget-gate bias (Jozefowicz et al. 2015) and GRU
    update-gate bias set to ``value``. With torch.nn's default init both gates sit near 0.5, so a
    stored value halves every step and nothing is learnt over tens of steps."""
    if layer.mode in MEMORY_GATE:  # an RNN has no gate: left as it is
        init_memory_bias(layer, value)


def recall_batch(cfg: RecallConfig, generator: torch.Generator):
    """(inputs (B, T, symbols) one-hot, labels (B,) = the first symbol)."""
    ids = torch.randint(cfg.symbols, (cfg.batch_size, cfg.steps), generator=generator)
    return nn.functional.one_hot(ids, cfg.symbols).float(), ids[:, 0]


def gradient_flow(model: RecallModel, cfg: RecallConfig, generator: torch.Generator) -> float:
    """||dL/dx_1|| / ||dL/dx_T||: how much of the loss gradient reaches the first step (1 = no decay)."""
    x, y = recall_batch(cfg, generator)
    x.requires_grad_(True)
    nn.functional.cross_entropy(model(x), y).backward()
    norms = x.grad.norm(dim=(0, 2))
    model.zero_grad()
    return float(norms[0] / norms[-1])


def train_recall(cell: str, cfg: RecallConfig, progress: bool = True) -> dict:
    """Trains one cell on the recall task; returns accuracy, size, time and gradient flow."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = RecallModel(cell, cfg.symbols, cfg.hidden_size)
    flow_at_init = gradient_flow(model, cfg, gen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    bar = tqdm(range(cfg.train_steps), desc=f"{cell:>4}", disable=not progress, leave=True)
    start = time.perf_counter()
    for _ in bar:
        x, y = recall_batch(cfg, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        test = torch.Generator().manual_seed(cfg.seed + 1)
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in (recall_batch(cfg, test) for _ in range(16)))
    return {
        "cell": cell,
        "accuracy": correct / (16 * cfg.batch_size),
        "chance": 1 / cfg.symbols,
        "parameters": sum(p.numel() for p in model.recurrent.parameters()),
        "train_seconds": seconds,
        "gradient_flow_at_init": flow_at_init,
        "config": asdict(cfg),
    }

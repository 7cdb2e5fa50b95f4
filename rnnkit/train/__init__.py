"""Training: the shared loop, checkpoints."""

from .checkpoint import CheckpointError, load_weights, read_meta, save_checkpoint
from .trainer import Trainer, TrainingError, seed_everything

__all__ = ["Trainer", "TrainingError", "seed_everything", "save_checkpoint", "read_meta", "load_weights",
           "CheckpointError"]

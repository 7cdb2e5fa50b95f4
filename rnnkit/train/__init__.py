"""Training: the shared loop, checkpoints, run folders."""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_weights, read_meta, save_checkpoint
from .run_folder import RunFolderError
from .runtime import resolve_device, resolve_precision, seed_everything
from .task import EpochAwareTask, ShardedTask, SizedTask, StatefulTask, Task
from .trainer import Trainer, TrainingError

__all__ = ["Trainer", "TrainingError", "seed_everything", "resolve_device", "resolve_precision", "save_checkpoint",
           "load_checkpoint", "Checkpoint", "read_meta", "load_weights", "CheckpointError", "RunFolderError", "Task",
           "SizedTask", "EpochAwareTask", "StatefulTask", "ShardedTask"]

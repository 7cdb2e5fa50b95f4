"""Gate saturation and kept dimensions of the inside-the-lstm experiment (claim 2; Karpathy,
Johnson & Fei-Fei 2015, Fig. 3): per unit of a gate, the share of steps it is left- (< ``LOW``) or
right-saturated (> ``HIGH``) and its longest right-saturated run; where a unit's state is nearly
unchanged by a step (:func:`kept`); the numbers the result keeps of both. Plain numpy over the
``(rows, T, units)`` arrays of :func:`rnnkit.nn.gate_activations`, apart from any model, so each is
checked by brute force in the tests.

The thresholds and the names of the gates and states read from each model (``GATES``, ``STATES``)
live here because :mod:`rnnkit.lab.inside_lstm` and :mod:`rnnkit.lab.inside_lstm_report` both use
them and the experiment module imports the report (defining them there would be an import cycle).
"""

from __future__ import annotations

import numpy as np

LOW, HIGH = 0.1, 0.9  # a gate value below LOW is left-saturated, above HIGH right-saturated
GATES = {"LSTM": ("input", "forget", "output"), "GRU": ("reset", "update")}
STATES = {"LSTM c": ("LSTM", "cell_state"), "LSTM h": ("LSTM", "hidden"), "GRU h": ("GRU", "hidden")}


def longest_run(mask: np.ndarray) -> np.ndarray:
    """Per unit of ``mask`` (rows, T, units) bool: the most consecutive True steps within one row."""
    run = np.zeros((mask.shape[0], mask.shape[2]), dtype=np.int64)
    longest = np.zeros_like(run)
    for t in range(mask.shape[1]):
        run = (run + 1) * mask[:, t]
        longest = np.maximum(longest, run)
    return longest.max(axis=0)


def saturation(gate: np.ndarray, low: float = LOW, high: float = HIGH) -> dict[str, np.ndarray]:
    """Per unit of ``gate`` (rows, T, units), NaN steps skipped: ``left`` / ``right``, the fractions
    of steps below ``low`` / above ``high``; ``longest_run``, the most consecutive steps above ``high``
    within one row (a NaN step breaks a run)."""
    valid = ~np.isnan(gate)
    steps = np.maximum(valid.sum(axis=(0, 1)), 1)
    with np.errstate(invalid="ignore"):
        below, above = (gate < low) & valid, (gate > high) & valid
    return {"left": below.sum(axis=(0, 1)) / steps, "right": above.sum(axis=(0, 1)) / steps,
            "longest_run": longest_run(above)}


def kept(gates: dict[str, np.ndarray], low: float = LOW, high: float = HIGH) -> np.ndarray:
    """Where a unit's state is nearly unchanged by a step, (rows, T, units) bool: an LSTM's c_t
    when f > ``high`` and |i * g| < ``low`` (c_t - c_(t-1) = (f - 1) c_(t-1) + i g); a GRU's h_t when
    z > ``high`` (h_t - h_(t-1) = (1 - z)(n - h_(t-1)), at most 2 (1 - z)). NaN steps are not kept."""
    with np.errstate(invalid="ignore"):
        if "forget" in gates:
            return (gates["forget"] > high) & (np.abs(gates["input"] * gates["cell"]) < low)
        return gates["update"] > high


def kept_summary(mask: np.ndarray) -> dict[str, float]:
    """The numbers the result keeps of one model's :func:`kept` mask."""
    share, runs = mask.mean(axis=(0, 1)), longest_run(mask)
    return {"mean": float(share.mean()), "most": float((share > 0.5).mean()),
            "longest_run_max": float(runs.max()), "longest_run_median": float(np.median(runs))}


def saturation_summary(s: dict[str, np.ndarray]) -> dict[str, float]:
    """The numbers of one gate's :func:`saturation` that the result keeps."""
    return {"mean_left": float(s["left"].mean()), "mean_right": float(s["right"].mean()),
            "right_most": float((s["right"] > 0.5).mean()), "left_most": float((s["left"] > 0.5).mean()),
            "longest_run_max": float(s["longest_run"].max()), "longest_run_median": float(np.median(s["longest_run"]))}


__all__ = ["LOW", "HIGH", "GATES", "STATES", "longest_run", "saturation", "kept", "kept_summary",
           "saturation_summary"]

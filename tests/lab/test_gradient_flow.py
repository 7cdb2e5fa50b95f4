"""The gradient-flow experiment: input gradients against central finite differences in float64,
profiles by distance, spectral-radius rescaling against NumPy's eigenvalues, clipping's bound on the
update, parameter matching, a verdict that follows the numbers, and the tiny preset end to end."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.lab import common, models
from rnnkit.lab import gradient_flow as exp

from .conftest import PNG_MAGIC


@pytest.mark.parametrize("kind", ["rnn", "lstm", "tcn"])
def test_input_gradient_norms_match_finite_differences(kind):
    torch.manual_seed(0)
    model = models.SequenceNet(kind, 2, 3, 3, steps=5, kernel_size=2).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    y = torch.tensor([0, 2])
    norms = exp.input_gradient_norms(model, x, y)

    def loss(v):
        with torch.no_grad():
            return F.cross_entropy(model(v), y).item()

    eps, grad = 1e-6, torch.zeros_like(x)
    for index in np.ndindex(*x.shape):
        up, down = x.clone(), x.clone()
        up[index] += eps
        down[index] -= eps
        grad[index] = (loss(up) - loss(down)) / (2 * eps)
    expected = torch.stack([grad[:, t].norm() for t in range(5)])
    assert torch.allclose(norms, expected, rtol=1e-5, atol=1e-10)
    assert all(p.grad is None for p in model.parameters())  # the probe leaves the model alone


def test_input_gradient_norms_keep_what_float32_flushes():
    # a ReLU RNN contracting by 0.5 per step: ~1e-20 of the last step's gradient is left 60 steps back
    torch.manual_seed(0)
    model = models.SequenceNet("rnn-relu", 4, 8, 4, steps=60)
    exp.set_spectral_radius(model.layer, 0.5)
    x = F.one_hot(torch.randint(4, (16, 60), generator=torch.Generator().manual_seed(0)), 4).float()
    norms = exp.input_gradient_norms(model, x, x[:, 0].argmax(1))
    assert norms.dtype == torch.float64 and bool((norms[:5] > 0).all())
    assert next(model.parameters()).dtype == torch.float32  # the model itself is not converted


def test_profile_is_relative_to_the_last_step_by_distance():
    assert exp.profile(torch.tensor([4.0, 2.0, 1.0])) == [1.0, 2.0, 4.0]
    assert all(math.isnan(v) for v in exp.profile(torch.tensor([1.0, 0.0])))
    assert exp.log10(0.0) == math.log10(exp.FLOOR) and exp.log10(100.0) == 2.0 and math.isnan(exp.log10(math.nan))


@pytest.mark.parametrize("radius", [0.5, 1.5])
def test_set_spectral_radius_against_numpy(radius):
    torch.manual_seed(1)
    layer = models.SequenceNet("rnn", 3, 6, 2).layer
    before = layer.weight_hh_l0.detach().clone()
    exp.set_spectral_radius(layer, radius)
    after = layer.weight_hh_l0.detach().double().numpy()
    assert np.abs(np.linalg.eigvals(after)).max() == pytest.approx(radius, rel=1e-5)
    # a rescaling, not a new matrix: the same direction
    ratio = torch.from_numpy(after) / before.double()
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)
    with pytest.raises(ValueError, match="radius"):
        exp.set_spectral_radius(layer, 0.0)


def test_clipping_bounds_the_sgd_update():
    torch.manual_seed(0)
    model = models.SequenceNet("rnn", 4, 8, 4, steps=6)
    exp.set_spectral_radius(model.layer, 3.0)
    g = torch.Generator().manual_seed(0)
    batch = lambda: exp.recall_batch(8, 6, 4, g)  # noqa: E731
    lr, clip = 0.5, 0.1
    clipped = exp.clipping_run(copy.deepcopy(model), batch, 5, lr, clip)
    assert all(u <= lr * clip * (1 + 1e-4) for u in clipped["update"])
    g.manual_seed(0)
    free = exp.clipping_run(copy.deepcopy(model), batch, 5, lr, 0.0)
    # without clipping SGD's step is lr times the whole gradient; the first one shares the state
    assert free["update"][0] == pytest.approx(lr * free["gradient"][0], rel=1e-4)
    assert free["gradient"][0] == pytest.approx(clipped["gradient"][0], rel=1e-5)


def test_models_are_matched_by_parameter_count():
    cfg = exp.PRESETS["quick"]
    counts = {}
    for spec in exp.model_specs(cfg):
        width = models.build(spec.kind, cfg.symbols, cfg.symbols, cfg.parameters, steps=cfg.steps,
                             kernel_size=cfg.kernel_size).head.in_features
        counts[spec.label] = common.count_parameters(exp.make_model(spec, width, cfg))
    assert len(counts) == len(cfg.kinds) + 2 * len(cfg.memory_biases) + len(cfg.radius_kinds) * len(cfg.radii)
    assert max(counts.values()) / min(counts.values()) < 1.05
    for count in counts.values():
        assert abs(count - cfg.parameters) / cfg.parameters < 0.05


def _fake(init: dict[str, float], trained: dict[str, float], update=(5.0, 0.1), loss=(2.1, 1.8)) -> dict:
    s = lambda v: {"mean": v, "std": 0.0, "n": 3, "values": [v] * 3}  # noqa: E731
    logs = lambda d: {k: s(math.log10(max(v, exp.FLOOR))) for k, v in d.items()}  # noqa: E731
    clip = {"unclipped": {"largest_update": s(update[0]), "final_loss": s(loss[0]), "nonfinite_steps": s(0)},
            "clipped": {"largest_update": s(update[1]), "final_loss": s(loss[1]), "nonfinite_steps": s(0)}}
    return {"distances": list(range(50)), "log10_ratio": {"init": logs(init), "trained": logs(trained)},
            "clipping": {"RNN (tanh) ρ=1.5": clip}}


def test_verdict_follows_the_numbers():
    vanishes = exp.verdict(_fake({"RNN (tanh)": 1e-9, "TCN": 0.2}, {"RNN (tanh)": 1e-6, "TCN": 0.3}))
    assert "below 0.001 of the last step's for RNN (tanh) (not for TCN 0.2)" in vanishes
    assert "49 steps back" in vanishes
    flows = exp.verdict(_fake({"RNN (tanh)": 0.5, "TCN": 1e-7}, {"RNN (tanh)": 0.5, "TCN": 1e-7}))
    assert "below 0.001 of the last step's for TCN (not for RNN (tanh) 0.5)" in flows
    none = exp.verdict(_fake({"LSTM": 0.9}, {"LSTM": 2.0}))
    assert "for no model (not for LSTM 0.9)" in none and "for no model (not for LSTM 2)" in none
    assert "largest update 5 -> 0.1, final loss 2.1 -> 1.8" in vanishes
    assert "largest update 0.2 -> 0.2, final loss 2 -> 2.5" in exp.verdict(
        _fake({"LSTM": 0.9}, {"LSTM": 2.0}, update=(0.2, 0.2), loss=(2.0, 2.5)))


def test_tiny_preset_runs(tmp_path, one_thread):
    cfg = exp.PRESETS["tiny"]
    result = exp.run(cfg, tmp_path)
    result = json.loads(json.dumps(result))  # JSON-able, and read back as the report reads it
    for key in ("setup", "parameters", "tables", "figures", "profiles", "ratio", "log10_ratio", "clipping",
                "spectral_radius", "probe_accuracy"):
        assert key in result
    labels = [s.label for s in exp.model_specs(cfg)]
    assert list(result["parameters"]) == labels
    assert result["distances"] == list(range(cfg.steps))
    for phase in exp.PHASES:
        for label in labels:
            prof = result["profiles"][phase][label]
            assert len(prof["per_seed"]) == len(cfg.seeds) and len(prof["mean_log10"]) == cfg.steps
            assert all(p[0] == 1.0 for p in prof["per_seed"])  # relative to the last step
            assert result["ratio"][phase][label]["values"] == [p[-1] for p in prof["per_seed"]]
    assert result["spectral_radius"]["RNN (tanh) ρ=1.5"]["mean"] == pytest.approx(1.5, rel=1e-5)
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes().startswith(PNG_MAGIC)
        assert fig["caption"]
    assert isinstance(exp.verdict(result), str) and exp.verdict(result)

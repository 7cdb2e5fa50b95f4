"""The cnn-vs-rnn experiment: image readings against brute force, padding that never changes a
sentence's prediction, parameter matching of every part, a verdict that follows the numbers, and
the tiny preset on a synthetic polarity file."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from rnnkit.lab import charlm, common
from rnnkit.lab import cnn_vs_rnn as exp

from .conftest import PNG_MAGIC


def test_as_sequence_reads_rows_and_pixels():
    images = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 8, 8)
    rows, pixels = exp.as_sequence(images, "rows"), exp.as_sequence(images, "pixels")
    assert rows.shape == (2, 8, 8) and pixels.shape == (2, 64, 1)
    for b in range(2):
        for t in range(64):
            assert pixels[b, t, 0] == images[b, t // 8, t % 8]
        for t in range(8):
            assert torch.equal(rows[b, t], images[b, t])
    with pytest.raises(ValueError, match="reading"):
        exp.as_sequence(images, "columns")


def test_image_batch_is_seeded():
    images, labels = torch.randn(30, 8, 8), torch.arange(30)
    x, y = exp.image_batch(images, labels, 7, torch.Generator().manual_seed(5))
    assert torch.equal(x, images[y])  # every image comes with its own label
    x2, y2 = exp.image_batch(images, labels, 7, torch.Generator().manual_seed(5))
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_digit_models_shapes():
    images = torch.rand(3, 8, 8)
    assert exp.DigitCNN(4)(images).shape == (3, 10)
    for kind, reading in (("lstm", "rows"), ("rnn", "pixels"), ("tcn", "pixels")):
        assert exp.ImageSequenceNet(kind, reading, 5, 7)(images).shape == (3, 10)


@pytest.mark.parametrize("label", exp.TEXT_MODELS)
@pytest.mark.parametrize("pooling", ["max", "last"])
def test_sentence_models_ignore_padding(label, pooling):
    cfg = exp.Config(text_embedding=6, text_maps=3, text_pooling=pooling)
    torch.manual_seed(0)
    model = exp._text_model(label, 30, 5, cfg).eval()
    ids = torch.tensor([[3, 4, 5, 6, 0, 0, 0], [7, 8, 9, 10, 11, 12, 13]])
    padded = model(ids, torch.tensor([4, 7]))
    garbage = ids.clone()
    garbage[0, 4:] = 29  # whatever the padding holds
    assert torch.allclose(model(garbage, torch.tensor([4, 7])), padded, atol=1e-6)
    alone = model(ids[:1, :4], torch.tensor([4]))
    assert torch.allclose(padded[0], alone[0], atol=1e-5)


def test_bad_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling"):
        exp.BiRNNClassifier("lstm", 10, 4, 4, 0.0, pooling="mean")


def test_parameter_matching_of_the_quick_preset():
    cfg = exp.PRESETS["quick"]
    widths = {label: common.match_width(lambda w, k=kind, r=reading: exp._digit_model(k, r, w, cfg),
                                        cfg.digits_parameters, high=512)
              for label, kind, reading in exp.DIGIT_MODELS}
    digits = [common.count_parameters(exp._digit_model(k, r, widths[label], cfg)) for label, k, r in exp.DIGIT_MODELS]
    assert charlm.parameter_gap(digits) < 0.08  # the CNN's width moves its count by ~12 % a step
    assert all(abs(n - cfg.digits_parameters) / cfg.digits_parameters < 0.06 for n in digits)
    text = exp.text_widths(cfg)
    assert text["CNN-rand"] == cfg.text_maps
    counts = [common.count_parameters(exp._text_model(label, 1, w, cfg)) for label, w in text.items()]
    assert charlm.parameter_gap(counts) < 0.03
    make = lambda kind, w: charlm.CharLM(kind, 88, w, cfg.lm_embedding, cfg.lm_window, cfg.lm_kernel)
    target = common.count_parameters(make("lstm", cfg.lm_hidden))
    for kind in ("gru", "tcn"):
        width = common.match_width(lambda w, k=kind: make(k, w), target, high=1024)
        assert charlm.parameter_gap([target, common.count_parameters(make(kind, width))]) < 0.05


def test_tiny_preset_runs(polarity_file, one_thread, tmp_path):
    cfg = exp.PRESETS["tiny"]
    result = exp.run(cfg, tmp_path)
    for key in ("setup", "parameters", "tables", "figures", "digits", "polarity", "lm"):
        assert key in result
    json.dumps(result, allow_nan=False)
    assert [f["file"] for f in result["figures"]] == ["cnn_vs_rnn_digits.png", "cnn_vs_rnn_polarity.png",
                                                      "cnn_vs_rnn_lm.png"]
    for fig in result["figures"]:
        assert (tmp_path / fig["file"]).read_bytes()[:8] == PNG_MAGIC
    assert set(result["digits"]["accuracy"]) == {m[0] for m in exp.DIGIT_MODELS}
    for part in ("digits", "polarity"):
        for summary in result[part]["accuracy"].values():
            assert summary["n"] == len(cfg.seeds) and 0.0 <= summary["mean"] <= 1.0
    for label in exp.LM_MODELS:
        assert result["lm"]["steps"][label]["mean"] >= 1
        assert result["lm"]["per_seed"][label][0]["curve"][0][0] == 0.0
    published = [row for table in result["tables"] for row in table["rows"] if "published" in str(row[0])]
    assert len(published) == 1 + len(exp.BAI_PTB_CHAR)
    assert isinstance(exp.verdict(result), str)


def _summary(mean: float, std: float = 0.01) -> dict:
    return {"mean": mean, "std": std, "n": 3, "values": [mean] * 3}


def _fake(cnn_digits: float, tcn_pixels: float, cnn_text: float, tcn_bpc: float) -> dict:
    digit_acc = {label: _summary(0.80) for label, _, _ in exp.DIGIT_MODELS}
    digit_acc["CNN (2-D)"], digit_acc["TCN pixels"] = _summary(cnn_digits), _summary(tcn_pixels)
    return {"digits": {"labels": [m[0] for m in exp.DIGIT_MODELS], "reading": {m[0]: m[2] for m in exp.DIGIT_MODELS},
                       "accuracy": digit_acc},
            "polarity": {"labels": list(exp.TEXT_MODELS),
                         "accuracy": {"CNN-rand": _summary(cnn_text), "BiLSTM": _summary(0.70),
                                      "BiGRU": _summary(0.69)}},
            "lm": {"labels": list(exp.LM_MODELS), "seconds": 4.0,
                   "bpc": {"TCN": _summary(tcn_bpc), "LSTM": _summary(2.5), "GRU": _summary(2.6)}}}


def test_verdict_follows_the_numbers():
    cnn_wins = exp.verdict(_fake(0.95, 0.90, 0.75, 2.2))
    assert "CNN-on-images holds" in cnn_wins and "on 3 of 3" in cnn_wins and "' holds here" in cnn_wins
    assert "CNN (2-D) 95 % vs best" in cnn_wins and "wins by 15 pt (beyond" in cnn_wins
    rnn_wins = exp.verdict(_fake(0.70, 0.60, 0.65, 2.9))
    assert "CNN-on-images does not hold" in rnn_wins and "on 0 of 3" in rnn_wins and "does not hold here" in rnn_wins
    assert "TCN 2.9 bpc vs best LSTM 2.5 bpc, loses by 0.4 bpc" in rnn_wins
    close = exp.verdict(_fake(0.805, 0.90, 0.75, 2.2))
    assert "wins by 0.5 pt (within the seeds' spread)" in close
    assert "CNN-on-images is a tie (within the seeds' spread) here" in close  # not "holds" by 0.5 pt
    assert len({cnn_wins, rnn_wins, close}) == 3
    unchanged = _fake(0.95, 0.90, 0.75, 2.2)
    assert exp.verdict(copy.deepcopy(unchanged)) == cnn_wins
    one_seed = _fake(0.95, 0.90, 0.75, 2.2)  # --seeds 1: a std of 0 is no spread, nothing is "beyond" it
    for part in one_seed.values():
        for summaries in part.values():
            if isinstance(summaries, dict):
                for summary in summaries.values():
                    if isinstance(summary, dict) and "n" in summary:
                        summary.update(std=0.0, n=1, values=summary["values"][:1])
    single = exp.verdict(one_seed)
    assert "beyond the seeds' spread" not in single and "(one seed: no spread to compare with)" in single

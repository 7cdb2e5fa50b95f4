"""BLEU from per-sentence statistics equals sacrebleu's corpus BLEU; bootstrap intervals behave."""

import numpy as np
import pytest
import sacrebleu

from rnnkit.tasks.bleu import bootstrap_interval, corpus_bleu, sentence_stats

REFS = ["el gato se sienta en la alfombra", "y dijo dios : sea la luz", "no", "en el principio era el verbo ,"]
HYPS = ["el gato se sienta en alfombra", "y dijo dios : sea la luz ; y fue la luz", "si", "en el principio era verbo"]


def test_summed_statistics_give_sacrebleus_corpus_bleu():
    stats = sentence_stats(HYPS, REFS)
    assert stats.shape == (4, 10)
    assert corpus_bleu(stats) == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert corpus_bleu(stats[[0, 3]]) == pytest.approx(sacrebleu.corpus_bleu([HYPS[0], HYPS[3]],
                                                                             [[REFS[0], REFS[3]]]).score, abs=1e-9)


def test_paired_interval_of_a_difference():
    refs = REFS * 10
    good, bad = sentence_stats(refs, refs), sentence_stats(HYPS * 10, refs)
    gain = lambda g: corpus_bleu(g[0][0]) - corpus_bleu(g[0][1])  # noqa: E731
    low, high = bootstrap_interval(gain, [[good, bad]], resamples=200)
    point = corpus_bleu(good) - corpus_bleu(bad)
    assert 0 < low <= point <= high
    assert bootstrap_interval(gain, [[bad, bad]], resamples=50) == (0.0, 0.0)  # paired: identical systems
    with pytest.raises(ValueError, match="same sentences"):
        bootstrap_interval(gain, [[good, bad[:3]]])


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 hypotheses for 4 references"):
        sentence_stats(HYPS[:3], REFS)
    assert np.issubdtype(sentence_stats(HYPS, REFS).dtype, np.integer)

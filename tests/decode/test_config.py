"""DecodeConfig: its checks, the strategy it names, and generate() running that strategy."""

import dataclasses

import pytest
import torch

from rnnkit.decode import DecodeConfig, beam_search, generate, greedy_search, sample, sampling_generator

from .test_search import LENGTHS, SRC, TABLE, TableModel


@pytest.mark.parametrize("kw,match", [
    ({"num_beams": 0}, "num_beams must be at least 1; got 0"),
    ({"max_new_tokens": 0}, "max_new_tokens must be at least 1"),
    ({"num_beams": 2, "min_new_tokens": 5, "max_new_tokens": 4}, "need 0 <= min_new_tokens <= max_new_tokens"),
    ({"num_beams": 2, "min_new_tokens": -1}, "need 0 <= min_new_tokens"),
    ({"num_return_sequences": 0}, "num_return_sequences must be at least 1"),
    ({"num_beams": 2, "num_return_sequences": 3}, r"num_return_sequences must lie in \[1, num_beams=2\]"),
    ({"num_return_sequences": 2}, r"num_return_sequences must lie in \[1, num_beams=1\]"),  # greedy gives one
    ({"do_sample": True, "num_beams": 3}, "sampling within a beam is not supported"),
    ({"no_repeat_ngram_size": 2}, "apply to beam search only"),
    ({"min_new_tokens": 2}, "apply to beam search only"),
    ({"length_penalty": float("nan")}, "length_penalty must be a finite number"),
    ({"length_penalty_kind": "log"}, "length_penalty_kind must be 'power' or 'gnmt'"),
    ({"num_beams": 2, "no_repeat_ngram_size": -1}, "no_repeat_ngram_size must be >= 0"),
    ({"early_stopping": "sometimes"}, "early_stopping must be True, False or 'never'"),
    ({"do_sample": True, "temperature": 0}, "temperature must be positive when sampling"),
    ({"temperature": float("nan")}, "temperature must be a positive number; got nan"),
    ({"temperature": -1}, "temperature must be a positive number"),
    ({"num_beams": 2.5}, "num_beams must be an integer; got 2.5"),
    ({"num_beams": True}, "num_beams must be an integer; got True"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer"),
    ({"top_k": 1.5}, "top_k must be an integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"top_p": "0.9"}, "top_p must be a number"),
    ({"do_sample": "yes"}, "do_sample must be True or False"),
    ({"top_k": -1}, "top_k must be >= 0"),
    ({"top_p": 0}, r"top_p must lie in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must lie in \(0, 1\]"),
    ({"seed": -1}, r"seed must lie in \[0, 2\*\*63\)"),
])
def test_bad_options_are_refused_when_built(kw, match):
    with pytest.raises(ValueError, match=match):
        DecodeConfig(**kw)


def test_temperature_zero_is_the_argmax_without_sampling_and_numpy_integers_pass():
    import numpy as np

    assert DecodeConfig(temperature=0).strategy == "greedy"  # Hugging Face only warns here
    assert DecodeConfig(num_beams=np.int64(3), top_k=np.int32(2), top_p=np.float32(0.5)).num_beams == 3


def test_replace_checks_again_and_the_config_is_frozen():
    config = DecodeConfig(num_beams=4)
    with pytest.raises(ValueError, match="num_return_sequences"):
        dataclasses.replace(config, num_return_sequences=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_beams = 1


@pytest.mark.parametrize("kw,strategy", [({}, "greedy"), ({"do_sample": True}, "sample"),
                                         ({"num_beams": 2}, "beam"), ({"temperature": 0.5}, "greedy"),
                                         ({"do_sample": True, "num_return_sequences": 4}, "sample")])
def test_strategy_follows_hugging_faces_rule(kw, strategy):
    assert DecodeConfig(**kw).strategy == strategy


def test_generate_runs_the_strategy_the_config_names():
    model = TableModel(TABLE)
    greedy = generate(model, SRC, LENGTHS, DecodeConfig(max_new_tokens=5))
    assert [[h.tokens for h in hs] for hs in greedy] == [[h.tokens] for h in greedy_search(model, SRC, LENGTHS, 5)]
    beam = generate(model, SRC, LENGTHS, DecodeConfig(num_beams=3, num_return_sequences=2, max_new_tokens=5,
                                                      length_penalty=0.0))
    direct = beam_search(model, SRC, LENGTHS, beam_size=3, n_best=2, max_len=5, length_penalty=0.0)
    assert [[(h.tokens, h.score) for h in hs] for hs in beam] == [[(h.tokens, h.score) for h in hs] for hs in direct]
    assert all(len(hs) == 2 for hs in beam)


def test_generate_samples_with_the_seeded_generator_as_sample_does():
    model = TableModel(TABLE)
    config = DecodeConfig(do_sample=True, num_return_sequences=3, max_new_tokens=6, seed=11, top_k=2)
    hyps = generate(model, SRC[:1], LENGTHS[:1], config)
    src, lengths = SRC[:1].repeat(3, 1), LENGTHS[:1].repeat(3)
    direct = sample(model, src, lengths, 6, top_k=2, generator=torch.Generator().manual_seed(11))
    assert len(hyps) == 1 and [h.tokens for h in hyps[0]] == [h.tokens for h in direct]


def test_a_generator_carries_on_across_calls():
    model, config = TableModel(TABLE), DecodeConfig(do_sample=True, max_new_tokens=4, seed=1)
    gen = sampling_generator(config)
    draws = [generate(model, SRC, LENGTHS, config, generator=gen)[0][0].tokens for _ in range(20)]
    assert len({tuple(d) for d in draws}) > 1  # a fresh generator each call would repeat one draw
    assert sampling_generator(DecodeConfig(seed=1)) is None  # greedy draws nothing
    assert sampling_generator(DecodeConfig(do_sample=True)) is None  # torch's global generator


def test_default_length_limit_applies_when_none_is_given():
    class Endless(TableModel):  # never ends: the limit must stop it
        def decode_step(self, tokens, state):
            return torch.log(torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0]]).expand(tokens.shape[0], 5)), state, None

    from rnnkit.decode.config import DEFAULT_MAX_NEW_TOKENS

    hyps = generate(Endless(TABLE), SRC, LENGTHS, DecodeConfig())
    assert len(hyps[0][0].tokens) == DEFAULT_MAX_NEW_TOKENS

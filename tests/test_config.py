import dataclasses

import pytest

from revs.config import REVSConfig


def test_defaults_fit_the_embedded_vocabulary():
    config = REVSConfig()
    assert config.validate(49_152) is config
    assert (config.initial_neurons, config.grow_factor, config.shrink_factor) == (5, 1.6, 0.8)
    assert (config.initial_logit_step, config.step_grow, config.step_shrink) == (-10.0, 1.3, 0.8)


def test_frozen_and_replaceable():
    config = REVSConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_neurons = 5
    assert dataclasses.replace(config, n_neurons=10).n_neurons == 10


def test_band_at_or_above_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="neuron_band .* reaches the vocabulary size 50400"):
        REVSConfig(neuron_band=(90_000, 100_000)).validate(50_400)


def test_relative_bands_scale_the_paper_bands():
    config = REVSConfig().with_relative_bands(49_152)
    assert config.neuron_band == (34_491, 38_323)
    assert config.mlp_band == (3_832, 3_832)
    assert config.residual_band == (3_832, 7_665)
    assert REVSConfig().with_relative_bands(128_256).neuron_band == (90_000, 100_000)
    custom = REVSConfig().with_relative_bands(1_000, neuron_band=(0.5, 0.6))
    assert custom.neuron_band == (500, 600)
    with pytest.raises(ValueError, match="unknown bands"):
        REVSConfig().with_relative_bands(1_000, attention_band=(0.1, 0.2))
    with pytest.raises(ValueError, match="fractions"):
        REVSConfig().with_relative_bands(1_000, neuron_band=(0.5, 1.0))


@pytest.mark.parametrize("field, value, message", [
    ("neuron_band", (45_000, 30_000), "low <= high"),
    ("n_neurons", 0, "at least 1"),
    ("initial_neurons", 40, "exceeds n_neurons"),
    ("act_filter", 10, "act_filter"),
    ("step_grow", 0.9, "step_grow"),
    ("initial_logit_step", 10.0, "initial_logit_step"),
    ("score_method", "grad", "score_method"),
    ("token_method", "longest", "token_method"),
    ("contrast_rank", 0, "at least 1"),
    ("protect_tokens", -1, "protect_tokens"),
])
def test_inconsistent_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        REVSConfig(**{field: value})

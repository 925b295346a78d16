"""REVSConfig: every setting of the REVS method, with the official code's hard-coded constants.

Only algorithm settings live here; seeds of data splits, thresholds of metrics and run bookkeeping
belong to the evaluation. Rank bands are absolute ranks (0 = top-1) and must lie inside the
vocabulary: :meth:`REVSConfig.validate` checks them against a model's ``d_vocab`` (a band at or
above it made the official code's logit steps grow without bound, spec §8.2 #7), and
:meth:`REVSConfig.with_relative_bands` expresses bands as fractions of the vocabulary, which is how
the paper's Llama-3 bands (V = 128,256) carry over to other vocabularies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = ["LLAMA3_BANDS", "SCORE_METHODS", "TOKEN_METHODS", "REVSConfig"]

SCORE_METHODS = ("rank", "activation", "random", "contrastive")
TOKEN_METHODS = ("rarest", "frequent", "first", "last", "random")

Band = tuple[int, int]

LLAMA3_BANDS = {
    "residual_band": (10_000 / 128_256, 20_000 / 128_256),
    "mlp_band": (10_000 / 128_256, 10_000 / 128_256),
    "neuron_band": (90_000 / 128_256, 100_000 / 128_256),
}
"""The official scripts' Llama-3-8B bands (spec §3) as fractions of its 128,256-token vocabulary."""


@dataclass(frozen=True)
class REVSConfig:
    """Settings of REVS.

    Defaults: the GPT-J demo set (spec §3, §9.3), whose bands fit SmolLM2's 49,152-token
    vocabulary. They are a starting point, not yet tuned for specificity on the SSN testbed.
    """

    # --- which tokens of a secret (spec §2.1); which *part* of it is the data's token rule,
    # carried by each record (revs.data.rules), not a setting of the method ---
    max_tokens: int | None = 2
    """Tokens unlearned per secret (paper: 2); ``None`` (or 0, as the official scripts) unlearns
    every candidate."""
    token_method: Literal["rarest", "frequent", "first", "last", "random"] = "rarest"
    """How candidates are ordered before keeping ``max_tokens`` (see :mod:`revs.targets`)."""

    # --- neuron selection (spec §2.4) ---
    n_neurons: int = 30
    """Most neurons edited per layer and token (the paper's N)."""
    act_filter: int | Literal["positive"] = 100
    """Candidates: the ``act_filter`` most activated neurons (signed, as the official ``top_K``),
    or every neuron with a positive activation."""
    score_method: Literal["rank", "activation", "random", "contrastive"] = "rank"
    """Order of candidates: the target's rank in each neuron's vocabulary projection (the
    paper), the activation, random (the paper's ablations), or ``contrastive`` (ours, see
    :mod:`revs.select`): how much more a neuron fires on this prompt than on other targets'
    prompts, among neurons ranking the token within ``contrast_rank``."""
    contrast_rank: int = 1_000
    """``contrastive`` only: a candidate must rank the token above this in its projection."""

    # --- rank bands, absolute ranks (spec §2.3, §2.5, §2.6) ---
    residual_band: Band = (1_000, 10_000)
    """Skip a layer whose residual already ranks the token at or below the band's lower end;
    editing stops adding neurons once the residual rank is inside the band."""
    mlp_band: Band = (1_000, 45_000)
    """Target band of the token's rank in the layer's MLP output; a layer whose MLP output ranks
    it at or below the upper end does not promote it and is skipped."""
    neuron_band: Band = (30_000, 45_000)
    """Band each edited neuron's projection must rank the token in after demotion."""
    protect_tokens: int = 0
    """Ours (0 = the paper): hold the logits of this many tokens fixed while demoting, namely
    those the paper's pseudo-inverse direction drags down most with the target (for a digit:
    the other nine digits; see :meth:`revs.vocab.VocabProjection.demotion_direction`)."""
    layers: tuple[int, ...] | None = None
    """Layers that may be edited (ours; the paper considers every layer). ``None``: all."""
    max_iter_mlp: int = 100
    """Iterations of the neuron-count search per layer (spec §2.6)."""
    max_iter_neuron: int = 100
    """Iterations of the per-neuron logit search (spec §2.5)."""

    # --- constants the official code hard-codes (spec §8.2 #6, #7) ---
    initial_neurons: int = 5
    """Neurons edited in the first try of a layer."""
    grow_factor: float = 1.6
    """While the MLP still ranks the token above its band: ``count = int(min(grow * count,
    n_neurons))``."""
    shrink_factor: float = 0.8
    """When the MLP ranks it past the band: ``count = int(max(shrink * count, 2))``."""
    initial_logit_step: float = -10.0
    """First change of the target's logit in a neuron's projection."""
    step_grow: float = 1.3
    """The logit change x this while the neuron's rank is above the band."""
    step_shrink: float = 0.8
    """The logit change x this once the neuron's rank is past the band."""
    seed: int = 0
    """Seed of the ``random`` token order and score method."""

    def __post_init__(self):
        _check_types(self)
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError(f"max_tokens must be None, 0 (every token) or more, got "
                             f"{self.max_tokens}")
        for name in ("residual_band", "mlp_band", "neuron_band"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(
                    f"{name} must be (low, high) with 0 <= low <= high, got {(low, high)}"
                )
        positive = ("n_neurons", "max_iter_mlp", "max_iter_neuron", "initial_neurons",
                "contrast_rank")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.initial_neurons > self.n_neurons:
            raise ValueError(
                f"initial_neurons ({self.initial_neurons}) exceeds n_neurons ({self.n_neurons})"
            )
        if self.act_filter != "positive" and (not isinstance(self.act_filter, int)
                                              or self.act_filter < self.n_neurons):
            raise ValueError(
                f"act_filter must be 'positive' or an int >= n_neurons ({self.n_neurons}), "
                f"got {self.act_filter!r}"
            )
        if self.protect_tokens < 0:
            raise ValueError(f"protect_tokens must be >= 0, got {self.protect_tokens}")
        if self.score_method not in SCORE_METHODS:
            raise ValueError(
                f"unknown score_method {self.score_method!r}; choose from {SCORE_METHODS}"
            )
        if self.token_method not in TOKEN_METHODS:
            raise ValueError(
                f"unknown token_method {self.token_method!r}; choose from {TOKEN_METHODS}"
            )
        if not (self.grow_factor > 1 and 0 < self.shrink_factor < 1 and self.step_grow > 1
                and 0 < self.step_shrink < 1 and self.initial_logit_step < 0):
            raise ValueError("need grow_factor, step_grow > 1; 0 < shrink_factor, step_shrink < 1; "
                             "initial_logit_step < 0")

    def validate(self, d_vocab: int, n_layers: int | None = None) -> REVSConfig:
        """Check the bands against ``d_vocab`` tokens and ``layers`` against ``n_layers``.

        ``n_layers`` is optional (``layers`` are then not checked); returns ``self``.

        Raises:
            ValueError: a band reaches the vocabulary size (no token can be ranked there), or a
                layer the model does not have.
        """
        if n_layers is not None and self.layers is not None:
            outside = [layer for layer in self.layers if not 0 <= layer < n_layers]
            if outside:
                raise ValueError(f"layers {outside} are not in this model: its layers are 0 to "
                                 f"{n_layers - 1}")
        for name in ("residual_band", "mlp_band", "neuron_band"):
            low, high = getattr(self, name)
            if high >= d_vocab:
                raise ValueError(
                    f"{name} {(low, high)} reaches the vocabulary size {d_vocab}: ranks run from 0 "
                    f"to {d_vocab - 1}. Lower the band, or use "
                    "REVSConfig.with_relative_bands(d_vocab, ...) to scale the paper's bands."
                )
        return self

    def with_relative_bands(
        self, d_vocab: int, **fractions: tuple[float, float]
    ) -> REVSConfig:
        """A copy whose bands are fractions of ``d_vocab`` (default: the paper's Llama-3 bands).

        Example: ``REVSConfig().with_relative_bands(49_152)`` maps the Llama-3 neuron band
        90,000-100,000 of 128,256 to 34,491-38,323 of 49,152.
        """
        unknown = set(fractions) - set(LLAMA3_BANDS)
        if unknown:
            raise ValueError(f"unknown bands {sorted(unknown)}; choose from {sorted(LLAMA3_BANDS)}")
        bands = {}
        for name, default in LLAMA3_BANDS.items():
            low, high = fractions.get(name, default)
            if not 0 <= low <= high < 1:
                raise ValueError(
                    f"{name} fractions must satisfy 0 <= low <= high < 1, got {(low, high)}"
                )
            bands[name] = (round(low * d_vocab), round(high * d_vocab))
        return dataclasses.replace(self, **bands).validate(d_vocab)


_INT, _FLOAT = "an integer", "a number"
_FIELD_KINDS = {
    "max_tokens": (_INT, True), "n_neurons": (_INT, False), "contrast_rank": (_INT, False),
    "protect_tokens": (_INT, False), "max_iter_mlp": (_INT, False),
    "max_iter_neuron": (_INT, False), "initial_neurons": (_INT, False), "seed": (_INT, False),
    "grow_factor": (_FLOAT, False), "shrink_factor": (_FLOAT, False),
    "initial_logit_step": (_FLOAT, False), "step_grow": (_FLOAT, False),
    "step_shrink": (_FLOAT, False),
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(config: REVSConfig) -> None:
    """A TypeError naming the setting, its value and what it should be (e.g. from ``--set``)."""
    def fail(name: str, wanted: str) -> None:
        value = getattr(config, name)
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")

    for name, (kind, optional) in _FIELD_KINDS.items():
        value = getattr(config, name)
        if optional and value is None:
            continue
        ok = _is_int(value) if kind == _INT else (
            isinstance(value, int | float) and not isinstance(value, bool))
        if not ok:
            fail(name, kind + (" or None" if optional else ""))
    for name in ("residual_band", "mlp_band", "neuron_band"):
        value = getattr(config, name)
        if not (isinstance(value, tuple) and len(value) == 2 and all(map(_is_int, value))):
            fail(name, "a (low, high) pair of integers, e.g. [30000, 45000]")
    if config.layers is not None and not (isinstance(config.layers, tuple)
                                          and all(map(_is_int, config.layers))):
        fail("layers", "a list of layer indices, e.g. [3, 4, 5], or None")
    if not (config.act_filter == "positive" or _is_int(config.act_filter)):
        fail("act_filter", "an integer or 'positive'")
    for name in ("token_method", "score_method"):
        if not isinstance(getattr(config, name), str):
            fail(name, "a string")

"""Unlearning methods behind one interface (:class:`Method`), listed in :data:`METHODS`.

REVS (:mod:`revs.methods.revs`) and the baselines the paper compares it with (spec §6), each
written from its paper's definition and trained on the same (prefix, target token) pairs as REVS
(:func:`forget_requests`): ``ft-l``, ``memit``, ``npo-kl``, ``rmu``, ``max-entropy`` and
``head-projection``; ``unedited`` is the model as loaded, and ``random-neurons`` the placebo
(REVS's edits moved to random neurons of the same layers, :mod:`.placebo`).
"""

from __future__ import annotations

from .base import FunctionMethod, Method, MethodRun
from .ft_l import FT_L
from .memit import HEAD_PROJECTION, MAX_ENTROPY, MEMIT
from .npo import NPO_KL
from .placebo import RANDOM_NEURONS
from .requests import forget_requests
from .revs import REVS, UNEDITED
from .rmu import RMU

__all__ = ["BASELINES", "CONTROLS", "METHODS", "FunctionMethod", "Method", "MethodRun",
           "forget_requests", "get_method", "register_method"]

METHODS: dict[str, Method] = {
    "unedited": UNEDITED,
    "revs": REVS,
    "ft-l": FT_L,
    "memit": MEMIT,
    "npo-kl": NPO_KL,
    "rmu": RMU,
    "head-projection": HEAD_PROJECTION,
    "max-entropy": MAX_ENTROPY,
    "random-neurons": RANDOM_NEURONS,
}
"""Name -> method; ``revs evaluate --method NAME`` looks names up here."""

BASELINES = ("ft-l", "memit", "npo-kl", "rmu", "head-projection", "max-entropy")
"""The paper's six baselines."""
CONTROLS = ("unedited", "random-neurons")
"""Rows of a comparison that are not unlearning methods: the model as it was (a floor) and the
placebo (what untargeted edits of the same size cost). Ranks are among REVS and the baselines."""


def register_method(method: Method) -> Method:
    """Add a method of your own to :data:`METHODS` under ``method.name`` (not a name taken)."""
    if method.name in METHODS and METHODS[method.name] is not method:
        raise ValueError(f"a method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The method called ``name``, or a ValueError listing the known names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None

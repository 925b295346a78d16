"""Baselines the paper compares REVS with (spec §6), each registered in :data:`revs.METHODS`.

Each is written from its paper's definition, trains on the same (prefix, target token) pairs as
REVS (:func:`forget_requests`) and follows :class:`revs.methods.Method`: ``ft-l``, ``memit``,
``npo-kl``, ``rmu``, ``max-entropy`` and ``head-projection``.
"""

from __future__ import annotations

from . import ft_l, memit, npo, rmu  # noqa: F401 - each registers its method(s)
from .requests import forget_requests

__all__ = ["forget_requests"]

"""Unlearning methods behind one interface, so the evaluation runner can score any of them.

A method is called as ``method(model, tokenizer, forget, retain=..., config=..., seed=...)``: it
edits ``model`` in place so that the ``forget`` records' secrets are unlearned (``retain``
records are data it may use to preserve the rest) and returns a :class:`MethodRun`. Its settings
are one frozen dataclass, ``method.default_config()`` gives the defaults, and
``dataclasses.asdict`` of it is recorded with every result. :data:`METHODS` maps names to methods;
:func:`register_method` adds one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import nn

from .config import REVSConfig
from .data.records import Record
from .patch import Patch

__all__ = ["METHODS", "FunctionMethod", "Method", "MethodRun", "get_method", "register_method"]


@dataclass
class MethodRun:
    """What a method did to the model it was given."""

    seconds: float
    """Wall-clock time of the method itself (not of loading or scoring)."""
    patch: Patch | None = None
    """The edit as a revertible patch, for methods that produce one (REVS)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Method-specific figures (JSON-serializable), e.g. neurons edited."""


class Method(Protocol):
    """The interface every unlearning method implements."""

    name: str

    def default_config(self) -> Any:
        """The method's default settings: a frozen dataclass (or ``None`` when it has none)."""

    def __call__(self, model: nn.Module, tokenizer, forget: Sequence[Record], *,
                 retain: Sequence[Record] = (), config: Any = None, seed: int = 0) -> MethodRun:
        """Unlearn ``forget`` from ``model`` in place."""


METHODS: dict[str, Method] = {}
"""Name -> method; ``revs evaluate --method NAME`` looks names up here."""


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` under ``method.name`` (refuses a name already taken)."""
    if method.name in METHODS and METHODS[method.name] is not method:
        raise ValueError(f"a method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``, or a ValueError listing the known names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None


@dataclass(frozen=True)
class FunctionMethod:
    """A :class:`Method` made of a name, a config factory and a function with its signature."""

    name: str
    make_config: Callable[[], Any]
    run: Callable[..., MethodRun]

    def default_config(self) -> Any:
        """A fresh default config."""
        return self.make_config()

    def __call__(self, model, tokenizer, forget, *, retain=(), config=None, seed=0) -> MethodRun:
        """Run the function with the default config when none is given."""
        return self.run(model, tokenizer, list(forget), retain=list(retain),
                        config=self.make_config() if config is None else config, seed=seed)


def _unedited(model, tokenizer, forget, *, retain, config, seed) -> MethodRun:
    return MethodRun(seconds=0.0)


def _revs(model, tokenizer, forget, *, retain, config: REVSConfig, seed) -> MethodRun:
    from .unlearn import unlearn

    if not isinstance(config, REVSConfig):
        raise TypeError(f"the revs method takes a REVSConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, seed=seed) if config.score_method == "random" else config
    start = time.perf_counter()
    result = unlearn(model, tokenizer, forget, config, contrast=retain, progress=False)
    return MethodRun(
        seconds=time.perf_counter() - start,
        patch=result.patch,
        details={
            "layer_edits": len(result.edits),
            "neurons_edited": result.n_neurons,
            "forward_passes": result.forward_passes,
            "skipped_targets": result.skipped,
        },
    )


register_method(FunctionMethod("unedited", lambda: None, _unedited))
register_method(FunctionMethod("revs", REVSConfig, _revs))

from . import baselines  # noqa: E402, F401 - the baselines register themselves

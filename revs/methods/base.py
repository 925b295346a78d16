"""The interface every unlearning method implements, so the evaluation can score any of them.

A method is called as ``method(model, tokenizer, forget, config=..., seed=...)``: it edits
``model`` in place so that the ``forget`` records' secrets are unlearned and returns a
:class:`MethodRun`. Its settings are one frozen dataclass, ``method.default_config()`` gives the
defaults, and ``dataclasses.asdict`` of it is recorded with every result. Methods that keep the
rest of the model with a retain term (NPO-KL, RMU) take their retain text from the general
corpus's training documents, never from the records a run scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import nn

from ..data.records import Record
from ..patch import Patch

__all__ = ["FunctionMethod", "Method", "MethodRun"]


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
                 config: Any = None, seed: int = 0) -> MethodRun:
        """Unlearn ``forget`` from ``model`` in place."""


@dataclass(frozen=True)
class FunctionMethod:
    """A :class:`Method` made of a name, a config factory and a function with its signature."""

    name: str
    make_config: Callable[[], Any]
    run: Callable[..., MethodRun]

    def default_config(self) -> Any:
        """A fresh default config."""
        return self.make_config()

    def __call__(self, model, tokenizer, forget, *, config=None, seed=0) -> MethodRun:
        """Run the function with the default config when none is given."""
        return self.run(model, tokenizer, list(forget),
                        config=self.make_config() if config is None else config, seed=seed)

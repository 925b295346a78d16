"""Where the data files that revs reads at run time lie, in a checkout and in an installed package.

In a checkout (or an editable install) they are the repository's ``data/``; a wheel carries the
same folder as ``revs/_data`` (``pyproject.toml`` maps one onto the other), so ``pip install``
gives a revs that finds its natural secrets, stored hyperparameters, the paper's numbers and the
stored comparison without the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_path"]

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def data_path(*parts: str) -> Path:
    """The path of ``data/<parts>`` (it may not exist yet: hyperparameters are written there).

    Raises FileNotFoundError, naming both places looked at, when neither holds a data folder.
    """
    # pyproject.toml marks a checkout: a bare site-packages/data may belong to another package.
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "data").is_dir():
        return _CHECKOUT.joinpath("data", *parts)
    if (_PACKAGE / "_data").is_dir():
        return _PACKAGE.joinpath("_data", *parts)
    raise FileNotFoundError(
        f"revs' data folder is missing: looked for {_CHECKOUT / 'data'} (a checkout) and "
        f"{_PACKAGE / '_data'} (an installed wheel); reinstall revs-unlearning, or run from a "
        "checkout of the repository"
    )

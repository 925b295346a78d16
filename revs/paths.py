"""Output paths: checked before any work, written atomically.

A command that would spend minutes unlearning first checks that it can write what it produces:
:func:`check_output_file` (a patch) and :func:`check_output_folder` (a saved model) raise an
``OSError`` subclass that says what is wrong and what to do. :func:`atomic_folder` writes a folder
beside its final name and renames it into place, so a saved model appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_folder", "check_output_file", "check_output_folder"]


def _writable_parent(path: Path) -> None:
    """Raise unless the nearest existing folder above ``path`` can be written by this process."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a "
                                 "folder")
    try:  # os.access is not enough: root passes it on read-only and virtual file systems
        handle, probe = tempfile.mkstemp(prefix=".revs-probe-", dir=parent)
    except OSError as error:
        raise PermissionError(f"cannot write {str(path)!r}: {str(parent)!r} is not writable "
                              f"({error.strerror}); choose another place") from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike, *, example: str = "patch.safetensors") -> Path:
    """``path`` as a file that can be written (replacing a file there): not a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder: give a file name, e.g. "
                                f"{str(path / example)!r}")
    _writable_parent(path)
    return path


def check_output_folder(path: str | os.PathLike, *, force: bool = False) -> Path:
    """``path`` as a folder to save a model in: new or empty, or replaced with ``force``."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{str(path)!r} is a file: give a folder for the model")
    if path.is_dir() and any(path.iterdir()) and not force:
        what = "holds a model" if (path / "config.json").is_file() else "is not empty"
        raise FileExistsError(f"{str(path)!r} {what}: choose a new folder, or pass --force to "
                              "replace it")
    _writable_parent(path)
    return path


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``; on success it replaces ``path``, else it is removed.

    A folder already at ``path`` is replaced whole (no stale files of it stay mixed in).
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        if path.exists():
            old = staging.with_suffix(".old")
            path.rename(old)
            staging.rename(path)
            shutil.rmtree(old)
        else:
            staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

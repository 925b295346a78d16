"""An earlier revision's ``revs/`` beside this checkout, for the before/after benchmarks."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "c54fe3e"  # the last commit before the speed work of issue 23


def extract(revision: str, folder: Path) -> Path:
    """``revs/`` and ``pyproject.toml`` of ``revision`` in ``folder``; returns ``folder``.

    This checkout's ``data/`` is linked beside them: the package finds its data there.
    """
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "revs",
                              "pyproject.toml"], check=True, capture_output=True).stdout
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "data").symlink_to(ROOT / "data")
    return folder

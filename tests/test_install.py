"""revs works when installed from its wheel, not only when run from the checkout."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from revs.resources import data_path

ROOT = Path(__file__).resolve().parents[1]
# Read at run time by the package (each through revs.resources.data_path).
RUNTIME_FILES = [("natural", "natural.csv"), ("paper", "revs-llama3-8b.csv"),
                 ("results", "comparison-smollm2-135m.json"),
                 ("hparams", "memit-smollm2-135m-ssn.json")]


def test_every_subpackage_goes_into_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in
             (ROOT / "revs").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def test_the_distribution_is_not_named_like_the_pypi_project_revs():
    # `pip install revs` gives a telegram-bot library.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "revs-unlearning"
    assert project["scripts"] == {"revs": "revs.cli:main"}


def test_a_checkout_reads_its_own_data_folder():
    assert data_path() == ROOT / "data"
    for parts in RUNTIME_FILES:
        assert data_path(*parts).is_file()


def _run(args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.integration
def test_pip_install_into_a_clean_venv_runs_outside_the_checkout(tmp_path):
    """The locked dependencies, then the package from its wheel (not editable), run elsewhere."""
    uv = Path(sys.executable).parent / "uv"
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    wheels = os.environ.get("TORCH_WHEELS", "/opt/wheels")
    _run([uv, "venv", "--quiet", "--python", sys.executable, venv])
    python = venv / "bin" / "python"
    _run([uv, "pip", "sync", "--quiet", "--python", python, "--require-hashes", "--find-links",
          wheels, ROOT / "requirements.lock"])
    _run([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "--no-build-isolation",
          ROOT])
    env = {**os.environ, "PYTHONPATH": ""}
    located = _run([python, "-c", "import revs.resources as r; print(r.data_path())"],
                   cwd=elsewhere, env=env).strip()
    assert Path(located).is_relative_to(venv) and located.endswith("revs/_data"), located
    for parts in RUNTIME_FILES:
        assert Path(located, *parts).is_file(), parts
    out = _run([venv / "bin" / "revs", "evaluate", "--method", "unedited", "--dataset", "ssn",
                "--seeds", "0", "--smoke", "--no-cache", "--json"], cwd=elsewhere, env=env)
    values = {(row["metric"], row["k"]): row["value"] for row in json.loads(out)}
    assert values[("specificity", None)] == 1.0 and values[("efficacy", 100)] == 0.0

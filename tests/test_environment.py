"""environment.yml must stay a thin wrapper around the lock, and pyproject.toml complete."""

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    return pyproject, environment


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text))


def test_environment_lists_only_python_pip_and_the_lock():
    _, environment = _load()
    conda_deps = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert sorted(re.split(r"[=<>!~ ]", d)[0] for d in conda_deps) == ["pip", "python"]
    assert pip_sections == [["-r requirements.lock"]], pip_sections


def test_environment_python_is_the_one_the_lock_was_made_for():
    _, environment = _load()
    (python,) = [
        d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    makefile = (ROOT / "Makefile").read_text()
    assert f"LOCK_PYTHON := {python.split('=', 1)[1]}\n" in makefile


def test_environment_python_satisfies_requires_python():
    pyproject, environment = _load()
    (python,) = [
        d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    pinned = _version_tuple(python.split("=", 1)[1])
    minimum = _version_tuple(pyproject["project"]["requires-python"].lstrip(">="))
    assert pinned >= minimum


def test_all_extra_covers_every_other_extra():
    pyproject, _ = _load()
    extras = pyproject["project"]["optional-dependencies"]
    (all_spec,) = extras["all"]
    name = pyproject["project"]["name"]
    named = set(re.fullmatch(rf"{name}\[([\w,-]+)\]", all_spec).group(1).split(","))
    assert named == set(extras) - {"all"}


def test_required_dependencies_are_declared():
    pyproject, _ = _load()
    declared = {re.split(r"[=<>!~\[ ]", d)[0].lower() for d in pyproject["project"]["dependencies"]}
    for extra in pyproject["project"]["optional-dependencies"].values():
        declared |= {re.split(r"[=<>!~\[ ]", d)[0].lower() for d in extra}
    required = {
        "torch",
        "transformers",
        "gguf",
        "safetensors",
        "seaborn",
        "pandas",
        "tqdm",
        "jupyterlab",
        "papermill",
        "ipykernel",
        "pytest",
        "nbval",
        "jupyter-book",
    }
    assert required <= declared, required - declared


def test_running_interpreter_satisfies_requires_python():
    pyproject, _ = _load()
    assert (
        sys.version_info[:2]
        >= _version_tuple(pyproject["project"]["requires-python"].lstrip(">="))[:2]
    )

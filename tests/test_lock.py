"""requirements.lock must pin, within its range, every dependency pyproject.toml names.

`make` installs the lock and nothing else, so a dependency added to pyproject.toml but not locked
would be missing from every fresh venv, and one locked outside its range would be a version the
package says it does not support.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
REFRESH = "run `make lock` and commit requirements.lock"
# The platform the lock is resolved for (the Makefile's LOCK_PYTHON and LOCK_PLATFORM).
LOCK_MARKERS = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
                "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def locked_versions(lock_text: str) -> dict[str, Version]:
    """``{canonical name: version}`` of every pin (``name==version \\``) in a uv/pip-tools lock."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*\\)?$", lock_text, re.M)
    return {canonicalize_name(name): Version(version) for name, version in pins}


def declared_requirements(pyproject_text: str, requirements_in: str) -> list[Requirement]:
    """What pyproject.toml (dependencies and every extra) and requirements.in ask for."""
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    lines += [line.split("#")[0].strip() for line in requirements_in.splitlines()]
    own = canonicalize_name(project["name"])
    return [Requirement(line) for line in lines
            if line and canonicalize_name(Requirement(line).name) != own]


def lock_problems(pyproject_text: str, requirements_in: str, lock_text: str) -> list[str]:
    """One sentence per requirement the lock misses or pins outside its range."""
    locked = locked_versions(lock_text)
    problems = []
    for requirement in declared_requirements(pyproject_text, requirements_in):
        if requirement.marker is not None and not requirement.marker.evaluate(LOCK_MARKERS):
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is required but requirements.lock lacks "
                            f"{requirement.name}: {REFRESH}")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"requirements.lock pins {requirement.name}=={locked[name]}, outside "
                            f"{requirement}: {REFRESH}")
    return problems


def _read(name):
    return (ROOT / name).read_text()


def test_the_lock_pins_every_declared_dependency_within_its_range():
    problems = lock_problems(_read("pyproject.toml"), _read("requirements.in"),
                             _read("requirements.lock"))
    assert not problems, "\n".join(problems)


def test_every_pin_of_the_lock_carries_a_hash():
    entries = re.split(r"\n(?=[A-Za-z0-9])", _read("requirements.lock").split("\n", 2)[2])
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not unhashed, f"pins without a hash: {unhashed}; {REFRESH}"


PYPROJECT = """
[project]
name = "revs-unlearning"
dependencies = ["transformers>=5.24", "numpy>=1.24", "pywin32>=300; sys_platform == 'win32'"]
[project.optional-dependencies]
test = ["pytest>=8"]
all = ["revs-unlearning[test]"]
"""
LOCK = """transformers==5.24.0 \\
    --hash=sha256:00
numpy==2.4.6 \\
    --hash=sha256:11
pytest==9.2.0 \\
    --hash=sha256:22
torch==2.13.0+cpu \\
    --hash=sha256:33
"""


def test_a_lock_that_agrees_has_no_problem():
    assert lock_problems(PYPROJECT, "torch==2.13.0+cpu\n", LOCK) == []


def test_a_dependency_missing_from_the_lock_is_named_with_the_fix():
    problems = lock_problems(PYPROJECT.replace('"numpy>=1.24"', '"numpy>=1.24", "scipy>=1.10"'),
                             "", LOCK)
    assert problems == [f"scipy>=1.10 is required but requirements.lock lacks scipy: {REFRESH}"]


def test_a_pin_outside_the_range_is_named_with_the_fix():
    problems = lock_problems(PYPROJECT.replace("transformers>=5.24", "transformers>=5.30"), "",
                             LOCK)
    assert problems == ["requirements.lock pins transformers==5.24.0, outside transformers>=5.30: "
                        f"{REFRESH}"]


def test_a_pin_of_requirements_in_must_be_the_locked_one():
    problems = lock_problems(PYPROJECT, "torch==2.14.1\n", LOCK)
    assert problems == [f"requirements.lock pins torch==2.13.0+cpu, outside torch==2.14.1: "
                        f"{REFRESH}"]


def _fake_python(tmp_path, version):
    """An interpreter that claims to be Python ``version`` when make asks it."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; "
                      f"sys.version_info = {version}; exec(sys.argv[1])' \"$2\"\n")
    script.chmod(0o755)
    return script


def _make_venv(tmp_path, **variables):
    venv = tmp_path / "venv"
    args = ["make", "--no-print-directory", "-C", str(ROOT), "venv", f"VENV={venv}"]
    args += [f"{key}={value}" for key, value in variables.items()]
    result = subprocess.run(args, capture_output=True, text=True,
                            env={**os.environ, "MAKEFLAGS": ""})
    return result, venv


def test_make_refuses_a_python_the_lock_was_not_made_for(tmp_path):
    result, venv = _make_venv(tmp_path, PYTHON=_fake_python(tmp_path, (3, 12, 1)))
    assert result.returncode != 0
    assert "requirements.lock was made for CPython 3.11" in result.stderr
    assert "is Python 3.12" in result.stderr and "make PYTHON=python3.11" in result.stderr
    assert not venv.exists(), "nothing may be built with the wrong interpreter"


@pytest.mark.parametrize("folder", ["/nonexistent", "."])
def test_make_refuses_a_folder_without_the_locked_torch_wheel(tmp_path, folder):
    result, venv = _make_venv(tmp_path, TORCH_WHEELS=folder)
    assert result.returncode != 0
    assert f"no torch-2.13.0+cpu wheel in {folder}" in result.stderr
    assert "make TORCH_WHEELS=" in result.stderr
    assert not venv.exists()

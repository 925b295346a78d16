"""The book's notebooks as files: ordered, listed in the table of contents, thin, output-free but
for the cells nbval checks, every glued figure captioned and referenced. (Running them is `make
test`'s nbval step and `book/build.py --smoke`.)"""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_notebooks_are_numbered_in_order_and_all_in_the_toc():
    names = [p.name for p in NOTEBOOKS]
    assert names, "no notebooks"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", n) for n in names), names
    assert [int(n[:2]) for n in names] == list(range(1, len(names) + 1))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [c for part in toc.get("parts", [toc]) for c in part["chapters"]]
    files = [entry["file"] for entry in entries]
    assert [f for f in files if f.startswith("notebooks/")] == [
        f"notebooks/{p.stem}" for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_small_thin_and_parameterized(path):
    assert path.stat().st_size < 60_000, "commit notebooks without outputs (book/build.py)"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"  # what papermill runs
    cells = notebook["cells"]
    assert cells[0]["cell_type"] == "markdown" and _text(cells[0]).startswith("# ")
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1 and re.search(r"^smoke = False$", _text(parameters[0]), re.M)
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        text = _text(cell)
        assert sum(1 for line in text.splitlines() if line.strip()) <= 15, (
            f"a long cell belongs in revs/: {text[:80]!r}")
        if CHECK_MARK in text:
            assert cell["outputs"] and cell["execution_count"], "run book/build.py --refresh-checks"
            # glue() displays a papermill record even with display=False: nbval would see an
            # output the stored cell lacks. Glue in the next cell instead.
            assert "glue(" not in text, f"glue in a checked cell: {text[:60]!r}"
        else:
            assert not cell.get("outputs"), f"stray outputs in {text[:60]!r}"


# What a checked cell may call: builtins that only arrange values already computed.
DISPLAY_CALLS = {"all", "any", "bool", "dict", "float", "getattr", "int", "len", "list", "max",
                 "min", "round", "set", "sorted", "str", "sum", "tuple"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_only_show_values_computed_before(path):
    # nbval compares every output of a checked cell, stderr included: a library warning or a
    # progress bar there fails the book (issue 20). So the work happens in the cell before, and
    # the checked cell only shows its numbers.
    for cell in _cells(path):
        text = _text(cell)
        if cell["cell_type"] != "code" or CHECK_MARK not in text:
            continue
        calls = [node.func for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)]
        computing = [ast.unparse(f) for f in calls
                     if not (isinstance(f, ast.Name) and f.id in DISPLAY_CALLS)]
        assert not computing, (f"checked cell {text[:60]!r} calls {computing}: compute in the "
                               "cell before it and show the result here")
        outputs = {output.get("name", output["output_type"]) for output in cell["outputs"]}
        assert outputs <= {"execute_result", "stdout"}, f"{outputs} stored for {text[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_figure_is_shown_captioned_and_referenced(path):
    code = "\n".join(_text(c) for c in _cells(path) if c["cell_type"] == "code")
    prose = "\n".join(_text(c) for c in _cells(path) if c["cell_type"] == "markdown")
    for name in re.findall(r'glue\("(fig_\w+)"', code):
        block = re.search(r"```\{glue:figure\} " + name + r"\n:name: ([\w-]+)\n\n(.+?)```", prose,
                          re.S)
        assert block, f"{name} is glued but not shown as a captioned glue:figure"
        assert f"{{numref}}`{block.group(1)}`" in prose, f"{name} is never referenced"


def test_an_executed_notebook_is_stale_when_data_revs_or_the_lock_change(tmp_path, monkeypatch):
    # Chapters read data/ (stored results, the paper's table): a new results file must
    # re-execute them, or the book shows the old numbers.
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for folder in ("notebooks", "revs", "data/results"):
        (tmp_path / folder).mkdir(parents=True)
    notebook = tmp_path / "notebooks" / "01_x.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "1"}]}))
    (tmp_path / "revs" / "a.py").write_text("x = 1\n")
    results = tmp_path / "data" / "results" / "r.json"
    results.write_text("{}")
    monkeypatch.setattr(build, "ROOT", tmp_path)
    first = build._stamp(notebook, smoke=True)
    assert build._stamp(notebook, smoke=True) == first
    assert build._stamp(notebook, smoke=False) != first
    results.write_text('{"rows": []}')
    second = build._stamp(notebook, smoke=True)
    assert second != first
    (tmp_path / "revs" / "a.py").write_text("x = 2\n")
    third = build._stamp(notebook, smoke=True)
    assert third != second
    (tmp_path / "requirements.lock").write_text("transformers==5.24.0\n")
    assert build._stamp(notebook, smoke=True) != third

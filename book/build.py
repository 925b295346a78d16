"""Execute the notebooks in order with papermill, then build the Jupyter Book from their outputs.

The committed notebooks carry no outputs but those nbval checks. Each is executed into
``_build/executed/<mode>/`` (mode ``full`` or ``smoke``) and re-executed only when its cells, the
``revs`` sources, ``data/`` or the mode changed; the heavy work inside (memorized testbeds,
evaluations) is cached by ``revs`` itself, so a prose edit rebuilds in seconds. The book is built
from a staging folder holding ``_config.yml``, ``_toc.yml``, ``book/`` and the executed
notebooks, with MathJax taken from the npm registry (never committed, never loaded from a CDN),
into ``_build/html`` (smoke: ``_build/smoke/_build/html``).

Usage: python book/build.py [--smoke] [--only 01 02 ...] [--no-book] [--refresh-checks]

``--refresh-checks`` (after a smoke run) writes into each source notebook the outputs of its
``# NBVAL_CHECK_OUTPUT`` cells, which nbval compares, and strips every other output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
MATHJAX = "mathjax@3.2.2"
MATHJAX_FILES = ("es5/tex-mml-chtml.js", "es5/output/chtml/fonts")


def notebooks() -> list[Path]:
    """The book's chapters, in order (``notebooks/NN_name.ipynb``)."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _stamp(source: Path, smoke: bool) -> str:
    """What an executed copy depends on: cells, ``revs``, ``data/``, the lock and the mode.

    The cells count by their text, not their outputs; ``data/`` because chapters read the stored
    results, the paper's table and the tuned settings from it; ``requirements.lock`` because
    other library versions can print other numbers.
    """
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    digest = hashlib.sha256(json.dumps([[c["cell_type"], c["source"]] for c in cells]).encode())
    data = (path for path in (ROOT / "data").rglob("*") if path.is_file())
    lock = (path for path in [ROOT / "requirements.lock"] if path.is_file())
    inputs = [*(ROOT / "revs").rglob("*.py"), *data, *lock]
    for path in sorted(inputs):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(b"smoke" if smoke else b"full")
    return digest.hexdigest()


def execute(source: Path, out_dir: Path, smoke: bool) -> float | None:
    """Run one notebook with papermill unless its executed copy is current; seconds, or None."""
    import papermill

    target = out_dir / source.name
    stamp_file = out_dir / f"{source.stem}.stamp"
    stamp = _stamp(source, smoke)
    if target.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return None
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source), str(target), parameters={"smoke": smoke}, kernel_name="python3",
        cwd=str(source.parent), progress_bar=False,
    )
    _hide_injected_parameters(target)
    stamp_file.write_text(stamp)
    return time.perf_counter() - start


def _hide_injected_parameters(path: Path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, path)


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def refresh_checks(source: Path, executed: Path) -> None:
    """Keep in ``source`` only the outputs nbval checks, taken from its executed smoke copy."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    ran = {cell.get("id"): cell for cell in nbformat.read(executed, as_version=4).cells}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        checked = CHECK_MARK in cell.source
        # nbval skips the comparison for a cell without an execution count.
        cell.outputs = ran[cell.id].outputs if checked else []
        cell.execution_count = ran[cell.id].execution_count if checked else None
    nbformat.write(notebook, source)


def mathjax(static: Path) -> None:
    """Copy MathJax 3 from the npm registry's tarball into ``static/mathjax`` (cached in _build)."""
    if (static / "mathjax" / "tex-mml-chtml.js").is_file():
        return
    cache = BUILD / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    tarballs = sorted(cache.glob("mathjax-*.tgz"))
    if not tarballs:
        subprocess.run(["npm", "pack", MATHJAX, "--silent", "--pack-destination", str(cache)],
                       check=True, stdout=subprocess.DEVNULL)
        tarballs = sorted(cache.glob("mathjax-*.tgz"))
    out = static / "mathjax"
    with tarfile.open(tarballs[-1]) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/")
            for wanted in MATHJAX_FILES:
                if name == wanted or name.startswith(wanted + "/"):
                    relative = name.removeprefix("es5/")
                    if member.isfile():
                        dest = out / relative
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with archive.extractfile(member) as src:
                            dest.write_bytes(src.read())


def stage(executed: Path, mode: str) -> Path:
    """The book's source folder: configuration, book pages and the executed notebooks."""
    source = BUILD / f"source-{mode}"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "book", source / "book",
                    ignore=shutil.ignore_patterns("build.py", "__pycache__"))
    (source / "notebooks").mkdir()
    for notebook in notebooks():
        if (executed / notebook.name).is_file():
            shutil.copy2(executed / notebook.name, source / "notebooks" / notebook.name)
    mathjax(source / "book" / "_static")
    return source


def main() -> int:
    """Execute what changed, then build the book; the build's exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="fast settings (as the tests use)")
    parser.add_argument("--only", nargs="+", default=None, help="notebook numbers to execute")
    parser.add_argument("--no-book", action="store_true", help="execute only, do not build")
    parser.add_argument("--refresh-checks", action="store_true",
                        help="copy the smoke run's checked outputs into the source notebooks")
    args = parser.parse_args()
    if args.refresh_checks:
        args.smoke = args.no_book = True

    mode = "smoke" if args.smoke else "full"
    executed = BUILD / "executed" / mode
    executed.mkdir(parents=True, exist_ok=True)
    timings_file = executed / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    names = {source.name for source in notebooks()}
    for stale in executed.glob("*.ipynb"):  # chapters renamed or removed since the last build
        if stale.name not in names:
            stale.unlink()
            stale.with_suffix(".stamp").unlink(missing_ok=True)
            timings.pop(stale.name, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for source in notebooks():
        if args.only and source.name[:2] not in args.only:
            continue
        seconds = execute(source, executed, args.smoke)
        if seconds is None:
            print(f"{source.name}: up to date ({timings.get(source.name, 0):.0f} s when run)")
        else:
            timings[source.name] = seconds
            timings_file.write_text(json.dumps(timings, indent=1))
            print(f"{source.name}: executed in {seconds:.0f} s ({mode})")
        if args.refresh_checks:
            refresh_checks(source, executed / source.name)
    if args.no_book:
        return 0
    source = stage(executed, mode)
    # Jupyter Book writes to <path-output>/_build/html: the full book to _build/html, the smoke
    # book (the tests') to _build/smoke/_build/html.
    output = ROOT if mode == "full" else BUILD / "smoke"
    # Sphinx only adds pages: a renamed or removed chapter would live on in the old HTML.
    shutil.rmtree(output / "_build" / "html", ignore_errors=True)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
               "--path-output", str(output), "-W", "-n", "--keep-going"]
    status = subprocess.run(command, check=False).returncode
    print(f"book ({mode}): {output / '_build' / 'html' / 'index.html'}, exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())

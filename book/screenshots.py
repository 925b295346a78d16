"""Screenshot every page of the built book in a headless browser, offline, to look at them.

Opens each HTML page from disk (``file://``, no server, no network) in headless Chromium and
saves a PNG per page; also reports pages whose rendered text still contains raw TeX (MathJax did
not run) or that reference an ``http`` script or stylesheet (which would need a network).

Usage: python book/screenshots.py [--html _build/html] [--out _build/screenshots]
       [--height 3000]   (needs a Chromium: ``apt-get install chromium`` on Debian)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("index.html", "book/*.html", "notebooks/*.html")


def browser() -> str:
    """The Chromium executable on this machine."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: install one (Debian: apt-get install chromium)")


def pages(html: Path) -> list[Path]:
    """The book's pages, in a stable order."""
    found = []
    for pattern in PAGES:
        found += sorted(html.glob(pattern))
    return found


def network_references(page: Path) -> list[str]:
    """Scripts and stylesheets the page would fetch from the network."""
    text = page.read_text(encoding="utf-8")
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)


def rendered_text(chromium: str, page: Path) -> str:
    """The page's DOM after its scripts ran (MathJax included)."""
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def screenshot(chromium: str, page: Path, out: Path, height: int) -> None:
    """A PNG of the page as a 1280-pixel-wide window of ``height`` pixels shows it."""
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=8000", f"--window-size=1280,{height}",
         f"--screenshot={out}", page.as_uri()], capture_output=True, timeout=120, check=True)


def main() -> int:
    """Screenshot every page; exit status 1 if a page needs the network or shows raw TeX."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("--height", type=int, default=3000, help="window height in pixels")
    args = parser.parse_args()
    chromium = browser()
    args.html, args.out = args.html.resolve(), args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    problems = 0
    for page in pages(args.html):
        name = page.relative_to(args.html).as_posix().replace("/", "_").removesuffix(".html")
        screenshot(chromium, page, args.out / f"{name}.png", args.height)
        remote = network_references(page)
        dom = rendered_text(chromium, page)
        # MathJax replaces $...$ with mjx-container elements; leftover delimiters mean it failed.
        raw_tex = "mjx-container" not in dom and bool(re.search(r"\\\(|\$\$|\\\[", dom))
        status = "ok"
        if remote or raw_tex:
            problems += 1
            status = f"remote {remote}" if remote else "raw TeX (MathJax did not render)"
        print(f"{name}: {status} -> {args.out / (name + '.png')}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fetch the JavaScript the website needs offline: MathJax, require.js, the widget manager.

The built site must work with no network, so these files are served by the site itself. They
are not committed: this script asks the npm registry for pinned versions (``npm pack``, which
checks each tarball's integrity hash) and copies the files the pages load into ``_vendor/``,
a folder listed in ``html_static_path`` (so Sphinx copies it to ``_build/html/_static/``).

Usage: ``python tools/fetch_vendor.py [DEST]`` (default ``_vendor``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# version -> (source folder inside the tarball, destination folder under DEST).
# html-manager 1.0.6 is the version myst-nb 1.4.0 loads by default (nb_ipywidgets_js).
PACKAGES = {
    "mathjax@3.2.2": ("package/es5", "mathjax"),
    "requirejs@2.3.7": ("package/require.js", "requirejs/require.js"),
    "@jupyter-widgets/html-manager@1.0.6": ("package/dist", "html-manager"),
}
# Files never loaded by a page: source maps and the non-AMD bundle.
SKIP_SUFFIXES = (".map",)
SKIP_NAMES = {"embed.js", "libembed-amd.js", "embed.js.LICENSE.txt"}


def npm_pack(spec: str, workdir: Path) -> Path:
    """Download one package tarball with npm and return its path."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "npm not found: the build fetches MathJax, require.js and the widget manager from "
            "the npm registry. Install Node.js with npm (Debian: apt-get install nodejs npm)."
        )
    out = subprocess.run(
        [npm, "pack", "--silent", spec, "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / out.stdout.strip().splitlines()[-1]


def copy_tree(src: Path, dest: Path) -> None:
    """Copy a file or a folder, leaving out files no page loads."""
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        return
    for path in src.rglob("*"):
        if path.is_dir() or path.suffix in SKIP_SUFFIXES or path.name in SKIP_NAMES:
            continue
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def main(dest: str = "_vendor") -> None:
    dest_path = Path(dest)
    shutil.rmtree(dest_path, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for spec, (inner, target) in PACKAGES.items():
            tarball = npm_pack(spec, work)
            unpacked = work / tarball.stem
            with tarfile.open(tarball) as tar:
                tar.extractall(unpacked, filter="data")
            copy_tree(unpacked / inner, dest_path / target)
            print(f"fetched {spec} -> {dest_path / target}")
    (dest_path / ".complete").write_text("\n".join(PACKAGES) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The gates themselves must bite: a raising notebook fails nbval, a broken link fails the build.

Each gate is also run on a good input, so these tests cannot pass by the tool failing on
everything.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(code)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-cell-timeout=60",
            "-p",
            "no:cacheprovider",
            "-q",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )


@pytest.mark.slow
def test_a_raising_cell_fails_the_notebook_tests(tmp_path):
    good = _nbval(_notebook(tmp_path / "good.ipynb", "assert x == 1"))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _nbval(_notebook(tmp_path / "bad.ipynb", "raise ValueError('boom from a cell')"))
    assert bad.returncode != 0
    assert "boom from a cell" in bad.stdout


def _mini_book(folder: Path, body: str) -> Path:
    folder.mkdir()
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    (folder / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", folder / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "images", folder / "book" / "images")
    shutil.copytree(ROOT / "book" / "_ext", folder / "book" / "_ext")  # the config's extensions
    (folder / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/other\n"
    )
    (folder / "book" / "intro.md").write_text(f"# Intro\n\n{body}\n")
    (folder / "book" / "other.md").write_text("# Other\n\n(other-label)=\n## A section\n\nText.\n")
    return folder


def _build(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(folder), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        cwd=folder,
    )


@pytest.mark.slow
def test_a_broken_cross_reference_fails_the_build(tmp_path):
    good = _build(_mini_book(tmp_path / "good", "See {doc}`other` and {ref}`other-label`."))
    assert good.returncode == 0, (good.stdout + good.stderr)[-3000:]
    bad = _build(_mini_book(tmp_path / "bad", "See {doc}`no-such-page` and {ref}`no-such-label`."))
    assert bad.returncode != 0
    assert "no-such" in bad.stdout + bad.stderr

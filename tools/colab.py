"""Authoring tool: the Colab setup at the top of every notebook's first code cell.

Google Colab opens one notebook from GitHub, without the rest of this repository, so
``import gptlab`` would fail there. The first code cell of every notebook therefore starts
with :func:`setup_code`: on Colab (where the ``google.colab`` module is loaded) and only
while gptlab is missing, it installs the tagged release of this version of gptlab from
GitHub, the pinned ``myst-nb`` (the notebooks call its ``glue``; ``--no-deps`` leaves
Colab's own Jupyter packages alone) and fetches the data. Anywhere else it does nothing and
prints nothing, so the stored outputs stay those of a clean run. Run from the repository root::

    python tools/colab.py            # write or update the setup in every notebook
    python tools/colab.py --check    # only say whether every notebook has the current one

The learner edition (tools/workshop.py) copies the first cell as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

import gptlab  # the version lives in one place, gptlab.__version__

ROOT = Path(__file__).resolve().parents[1]
# The setup block as written by an earlier version of this tool: replaced, not stacked.
_OLD_SETUP = re.compile(
    r'\Aimport importlib\.util\nimport sys\n\nif "google\.colab".*?!gptlab data fetch\n\n', re.S
)


def release() -> dict[str, str]:
    """The values the setup needs: the repository URL, gptlab's version and myst-nb's pin."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = (ROOT / "constraints.txt").read_text()
    myst_nb = re.search(r"^myst-nb==(\S+)", pins, re.M).group(1)
    return {"url": project["urls"]["Source"], "version": gptlab.__version__, "myst_nb": myst_nb}


def setup_code() -> str:
    """The lines that start every notebook's first code cell (ending with a blank line)."""
    r = release()
    return (
        "import importlib.util\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules and importlib.util.find_spec("gptlab") is None:\n'
        "    # On Google Colab only: install this course's package and fetch its data (once).\n"
        f'    !pip install --quiet "gptlab @ git+{r["url"]}@v{r["version"]}"\n'
        f"    !pip install --quiet --no-deps myst-nb=={r['myst_nb']}\n"
        "    !gptlab data fetch\n"
        "\n"
    )


def first_code_cell(nb) -> nbformat.NotebookNode:
    """The notebook's first code cell (ValueError if it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            return cell
    raise ValueError("the notebook has no code cell")


def add_setup(path: str | Path, check: bool = False) -> bool:
    """Put the current setup at the top of ``path``'s first code cell; only the source of that
    cell changes. Returns whether it changed (with ``check``, whether it would)."""
    nb = nbformat.read(path, as_version=4)
    cell = first_code_cell(nb)
    new = setup_code() + _OLD_SETUP.sub("", cell.source)
    if new == cell.source:
        return False
    if not check:
        cell.source = new
        nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/colab.py", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--check", action="store_true", help="only say what would change")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    stale = [str(p) for p in paths if add_setup(p, check=args.check)]
    verb = "would change" if args.check else "updated"
    print(f"Colab setup {verb}: {', '.join(stale)}" if stale else "Colab setup up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

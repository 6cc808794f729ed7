"""The Colab setup (tools/colab.py) that starts every notebook's first code cell: present and
current in every notebook (the learner edition is checked in tests/test_workshop.py), silent off
Colab, and on a simulated Colab (a fake ``google.colab`` module, shell commands recorded instead
of run) it installs the tagged release of this version, the pinned myst-nb and the data, with
commands that pip accepts."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402  (tools/ is not a package)

_FIND_SPEC = importlib.util.find_spec
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


class FakeShell:
    """Stands in for IPython: records each ``!command`` instead of running it."""

    def __init__(self):
        self.commands: list[str] = []

    def system(self, command: str) -> None:
        self.commands.append(command)


def run_setup(monkeypatch, on_colab: bool, installed: bool) -> list[str]:
    """Execute the setup block as IPython would, on a real or simulated Colab."""
    code = TransformerManager().transform_cell(colab.setup_code())  # `!` -> get_ipython().system
    if on_colab:
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real = _FIND_SPEC
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (
            (real(name, *a) if installed else None) if name == "gptlab" else real(name, *a)
        ),
    )
    shell = FakeShell()
    exec(code, {"get_ipython": lambda: shell})
    return shell.commands


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_starts_with_the_current_setup(path):
    cell = colab.first_code_cell(nbformat.read(path, as_version=4))
    assert cell.source.startswith(colab.setup_code()), f"run python tools/colab.py ({path.name})"
    assert "import gptlab" in cell.source.removeprefix(colab.setup_code()).split("\n")[0]


def test_off_colab_the_setup_does_nothing(monkeypatch):
    assert run_setup(monkeypatch, on_colab=False, installed=False) == []
    assert run_setup(monkeypatch, on_colab=True, installed=True) == []  # a second run on Colab


def test_on_colab_it_installs_the_release_and_fetches_the_data(monkeypatch):
    commands = [shlex.split(c) for c in run_setup(monkeypatch, on_colab=True, installed=False)]
    assert [c[:2] for c in commands] == [["pip", "install"], ["pip", "install"], ["gptlab", "data"]]
    import gptlab
    from gptlab.cli import build_parser

    package = Requirement(commands[0][-1])
    source = colab.release()["url"]
    assert package.name == "gptlab" and package.url == f"git+{source}@v{gptlab.__version__}"
    pin = [line for line in (ROOT / "constraints.txt").read_text().split() if "myst-nb" in line]
    assert commands[1][-1] == pin[0] and "--no-deps" in commands[1]
    build_parser().parse_args(commands[2][1:])  # `gptlab data fetch` is a real command


@pytest.mark.slow
def test_pip_accepts_the_install_commands(tmp_path):
    """A dry run of both installs, with this checkout standing in for the GitHub tag (only the
    package index is reachable here): the package builds as gptlab at this version."""
    import gptlab

    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps"]
    myst_nb = colab.release()["myst_nb"]
    cmd += ["--ignore-installed", "--report", str(report), str(ROOT), f"myst-nb=={myst_nb}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    found = {
        i["metadata"]["name"]: i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
    }
    assert found == {"gptlab": gptlab.__version__, "myst-nb": myst_nb}

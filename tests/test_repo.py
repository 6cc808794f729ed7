"""The repository's shape and conventions: layout, dependencies, notebook hygiene, README."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_layout():
    for name in [
        "book",
        "notebooks",
        "gptlab",
        "tests",
        "environment.yml",
        "_config.yml",
        "_toc.yml",
        "README.md",
        "pyproject.toml",
        "Makefile",
        ".ci/run",
        "LICENSE",
        ".gitignore",
        "CONTRIBUTING.md",
        "constraints.txt",
        "book/references.bib",
    ]:
        assert (ROOT / name).exists(), f"missing {name}"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    """The conda route installs the same thing as `make lab`: this project with the `lab` extra,
    under the same pins (constraints.txt), on a Python that the project supports, and the CPU
    build of PyTorch."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    pip_section = [line.strip() for line in next(d["pip"] for d in deps if isinstance(d, dict))]
    project = _pyproject()["project"]
    editable = [p for p in pip_section if p.startswith("-e")]
    assert editable == ["-e .[lab]"], "environment.yml must install the project with pip -e .[lab]"
    assert "lab" in project["optional-dependencies"]
    assert "-c constraints.txt" in pip_section, "environment.yml must use constraints.txt"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip_section
    version = tuple(int(x) for x in python.split("=")[1].split("."))
    minimum = tuple(int(x) for x in project["requires-python"].lstrip(">=").split("."))
    assert version == minimum, "environment.yml's Python is the lowest supported one, as CI's"
    # Anything else named there is pinned exactly as in constraints.txt.
    constraints = {
        _name(line): line.strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for req in pip_section:
        if req.startswith("-"):
            continue
        assert constraints.get(_name(req)) == req, f"{req} differs from constraints.txt"


def test_every_dependency_is_pinned_in_constraints():
    constraints = {
        _name(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    project = _pyproject()["project"]
    wanted = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted += [d for d in extra if not d.startswith("gptlab")]
    missing = sorted({_name(d) for d in wanted} - constraints)
    assert not missing, f"not pinned in constraints.txt (run `make constraints`): {missing}"


def test_torch_is_pinned_to_a_release():
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    line = next(pin for pin in pins if pin.startswith("torch=="))
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+", line), "pin torch without a local (+cpu) label"


def test_notebook_names_are_ordered_and_in_toc():
    assert NOTEBOOKS, "no notebooks found"
    toc = (ROOT / "_toc.yml").read_text()
    listed = re.findall(r"notebooks/(\d\d_[a-z0-9_]+)", toc)
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), (
            f"{path.name} is not NN_slug.ipynb"
        )
        assert path.stem in listed, f"{path.name} is not listed in _toc.yml"
    assert listed == sorted(listed), f"_toc.yml lists notebooks out of order: {listed}"
    numbers = [int(n[:2]) for n in listed]
    assert len(set(numbers)) == len(numbers), "two notebooks share a number"


def test_notebooks_hold_one_clean_run():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())  # parses
        counts = []
        for cell in nb["cells"]:
            if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
                continue
            counts.append(cell["execution_count"])
            for out in cell.get("outputs", []):
                assert out["output_type"] != "error", f"{path.name}: stored error output"
        assert counts == list(range(1, len(counts) + 1)), (
            f"{path.name}: execution counts {counts} are not 1..n; re-run it top to bottom "
            f"(make execute NB={path.relative_to(ROOT)})"
        )


# What a stored output must not show: the executing machine's paths, object reprs with
# addresses, a verdict object's repr under its printed verdict, progress-bar fragments.
MACHINE_PATH = re.compile(r"(?<![\w~.])/(?:root|home|tmp|work|Users|var|private)/")
OBJECT_REPR = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-f]+>|\bResult\('")


def _output_texts(cell) -> list[str]:
    texts = []
    for out in cell.get("outputs", []):
        texts.append("".join(out.get("text", "")))
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                texts.append("".join(value))
    return texts


def test_stored_outputs_are_clean():
    problems = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if "execution" in cell.get("metadata", {}):
                problems.append(f"{path.name} cell {i}: execution timestamps (strip them)")
            for text in _output_texts(cell):
                for bad in (MACHINE_PATH.search(text), OBJECT_REPR.search(text)):
                    if bad:
                        problems.append(f"{path.name} cell {i}: shows {bad.group(0)!r}")
                if "\r" in text or text.count("it/s]") + text.count("s/it]") > 1:
                    problems.append(f"{path.name} cell {i}: progress-bar fragments")
    assert not problems, "\n".join(problems)


def test_the_cleanliness_patterns_bite():
    assert MACHINE_PATH.search("texts are in /root/.cache/gptlab")
    assert MACHINE_PATH.search("python 3.11 (/work/main/.venv/bin/python)")
    assert not MACHINE_PATH.search("texts are in ~/.cache/gptlab and ../data/x")
    assert OBJECT_REPR.search("<torch._C.Generator at 0x7f52c03afc50>")
    assert OBJECT_REPR.search("Result('correct')")
    assert not OBJECT_REPR.search("✓ attention_weights: Correct!")


def test_notebook_conventions():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        first, second = nb["cells"][0], nb["cells"][1]
        assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# "), (
            f"{path.name}: the first cell must be a markdown title"
        )
        assert "Run time" in "".join(first["source"]), f"{path.name}: state the expected run time"
        src = "".join(second["source"])
        assert second["cell_type"] == "code" and "import gptlab" in src and "seed" in src, (
            f"{path.name}: the second cell must import gptlab and seed"
        )


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("\n## ")] if "\n## " in readme else readme
    assert "make book" in head and "make test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*(time\s+)?make test\s*$", ci, re.M), (
        ".ci/run must run the README's test command"
    )


def test_config_builds_offline_and_strict():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    makefile = (ROOT / "Makefile").read_text()
    assert "--warningiserror" in makefile and "--keep-going" in makefile


def test_package_lists_its_modules_and_leaves_authoring_tools_out():
    import subprocess
    import sys

    import gptlab

    here = ROOT / "gptlab"
    found = {p.stem for p in here.glob("*.py") if p.stem != "__init__"}
    found |= {p.name for p in here.iterdir() if (p / "__init__.py").exists()}
    assert gptlab._SUBMODULES == found, "gptlab/__init__.py's _SUBMODULES differs from the files"
    for name in found:
        assert f":mod:`gptlab.{name}`" in gptlab.__doc__, f"the package docstring omits {name}"
    assert not (here / "workshop.py").exists() and (ROOT / "tools" / "workshop.py").exists()
    probe = (
        "import sys, gptlab, gptlab.cli, gptlab.reference; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tools', 'nbformat')); "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


def test_one_version_number_and_the_licences():
    import gptlab

    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "gptlab.__version__"
    assert f"## {gptlab.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "MIT" in readme and "CC BY 4.0" in readme and (ROOT / "LICENSE-CONTENT").exists()
    for config in ("_config.yml", "_config_learner.yml"):
        footer = yaml.safe_load((ROOT / config).read_text())["html"]["extra_footer"]
        assert "MIT" in footer and "CC BY 4.0" in footer, config


def test_package_stays_thin():
    """Issue 10's budget: gptlab without its exercises is at most 5,000 lines (the exercises
    have their own budget, tests/test_exercises.py)."""
    files = [p for p in (ROOT / "gptlab").rglob("*.py") if "exercises" not in p.parts]
    lines = sum(len(p.read_text().splitlines()) for p in files)
    assert lines <= 5000, f"gptlab (without exercises/) has {lines} lines; the budget is 5,000"

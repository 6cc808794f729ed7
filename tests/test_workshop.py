"""The learner edition: no solution survives, stubs stay, one notebook runs, the CLI works.

Everything is data-driven: each test covers every ``notebooks/NN_slug.ipynb`` there is, so a new
chapter is checked as soon as it follows the exercise conventions (see tools/workshop.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # the authoring tools are scripts, not part of gptlab
import colab  # noqa: E402  (tools/colab.py)
import workshop  # noqa: E402  (tools/workshop.py)

cli_main = workshop.main
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

# A gated solution, in the joined text of a notebook's cells (written independently of the
# parser in tools/workshop.py, so that the two check each other).
SOLUTION_SPAN = re.compile(r"\{solution-start\}.*?\{solution-end\}", re.S)


def _joined(nb) -> str:
    return "\n\n".join(cell.source for cell in nb.cells)


def _solution_lines(nb) -> set[str]:
    """Lines that appear only inside solutions (code and prose), without comments or directives."""
    text = _joined(nb)
    inside = " ".join(SOLUTION_SPAN.findall(text))
    outside = SOLUTION_SPAN.sub(" ", text)
    outside_lines = {line.strip() for line in outside.splitlines()}
    lines = set()
    for span in SOLUTION_SPAN.findall(text):
        for line in span.splitlines():
            s = line.strip()
            if (
                len(s) < 8
                or s.startswith(("#", "```", ":::", ":"))
                or "{solution-" in s
                or s in outside_lines
            ):
                continue
            lines.add(s)
    assert inside or not lines
    return lines


@pytest.fixture(scope="module")
def learner_dir(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("learner")
    report = workshop.make_learner_edition(ROOT / "notebooks", dest, force=True)
    assert len(report.notebooks) == len(NOTEBOOKS)
    return dest


def test_solution_cells_are_tagged():
    """Every `# solution` cell carries the `solution` tag, and only those do."""
    assert len(NOTEBOOKS) >= 14, "the checks below would pass on no notebooks"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            first = cell.source.lstrip("\n").split("\n", 1)[0].strip()
            tagged = "solution" in cell.metadata.get("tags", [])
            assert tagged == (first == "# solution"), (
                f"{path.name} cell {i}: a code cell starting with '# solution' must be tagged "
                "'solution' and no other cell may be; run `python tools/workshop.py tag-solutions "
                f"{path.relative_to(ROOT)}`"
            )


def test_tagging_changes_only_the_tags(tmp_path):
    """Removing the tags and tagging again gives back the committed file byte for byte."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        n_tagged = 0
        for cell in nb.cells:
            tags = cell.metadata.get("tags")
            if tags and "solution" in tags:
                tags.remove("solution")
                n_tagged += 1
                if not tags:
                    del cell.metadata["tags"]
        copy = tmp_path / path.name
        nbformat.write(nb, copy)
        assert workshop.tag_solution_cells(copy) == n_tagged, (
            f"{path.name}: run `python tools/workshop.py tag-solutions {path.relative_to(ROOT)}`"
        )
        assert copy.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_every_figure_has_alt_text():
    """Each figure's cell carries a description for the website (myst-nb's mystnb.image.alt)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if workshop.figure_alt_text(nb, i) is None:
                continue
            alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt.strip()) > 20, (
                f"{path.name} cell {i}: a figure without alt text; run "
                f"`python tools/workshop.py alt-text {path.relative_to(ROOT)}`"
            )


def test_alt_text_comes_from_the_sentence_under_the_figure(tmp_path):
    png = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
    }
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("plt.plot(x)", outputs=[nbformat.from_dict(png)]),
        nbformat.v4.new_markdown_cell(
            "The loss falls {term}`fast <overfitting>` at $\\tau = 1$ "
            "and `lr` matters. A second sentence.\n\n## Next"
        ),
        nbformat.v4.new_code_cell("print(1)"),
        nbformat.v4.new_code_cell("# a plot\nplt.show()", outputs=[nbformat.from_dict(png)]),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert workshop.describe_figures(path) == 2
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].metadata["mystnb"]["image"]["alt"] == (
        "The loss falls fast at τ = 1 and lr matters. A second sentence."
    )
    assert cells[3].metadata["mystnb"]["image"]["alt"] == "Figure: a plot"
    assert "mystnb" not in cells[2].metadata
    assert workshop.describe_figures(path) == 0  # descriptions already there are kept


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_solution_survives(path, learner_dir):
    original = nbformat.read(path, as_version=4)
    learner = nbformat.read(learner_dir / path.name, as_version=4)
    learner_text = _joined(learner)
    learner_lines = {line.strip() for line in learner_text.splitlines()}
    leaked = sorted(line for line in _solution_lines(original) if line in learner_lines)
    assert not leaked, f"{path.name}: solution lines in the learner edition:\n" + "\n".join(leaked)

    n_solutions = len(SOLUTION_SPAN.findall(_joined(original)))
    assert len(SOLUTION_SPAN.findall(learner_text)) == n_solutions, (
        "the exercise structure must stay"
    )
    n_code = sum(
        any(original.cells[i].cell_type == "code" for i in region)
        for region in workshop.solution_regions(original)
    )  # solutions with code
    placeholders = [c for c in learner.cells if "solution" in c.metadata.get("tags", [])]
    assert len(placeholders) == n_code, "one placeholder cell per solution with code"
    for cell in placeholders:
        assert all(line.startswith("#") for line in cell.source.splitlines()), (
            "placeholders are comments only"
        )
        assert ".hint()" in cell.source
    n_written = n_solutions - n_code
    assert learner_text.count(workshop.PROSE_PLACEHOLDER) == n_written


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_learner_outputs_are_cleared(path, learner_dir):
    learner = nbformat.read(learner_dir / path.name, as_version=4)
    for cell in learner.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert "execution" not in cell.metadata


def test_website_variant_removes_solutions_and_keeps_other_outputs():
    """The learner website keeps outputs outside exercises and drops each gated solution whole."""
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        site, counts = workshop.learner_notebook(original, keep_outputs=True, remove_blocks=True)
        text = _joined(site)
        assert "{solution-start}" not in text and "{solution-end}" not in text
        assert workshop.PROSE_PLACEHOLDER not in text
        lines = {line.strip() for line in text.splitlines()}
        assert not [line for line in _solution_lines(original) if line in lines]
        kept = sum(bool(c.get("outputs")) for c in site.cells if c.cell_type == "code")
        before = sum(bool(c.get("outputs")) for c in original.cells if c.cell_type == "code")
        assert kept <= before and (kept > 0 or before == 0), path.name
        assert original.cells == nbformat.read(path, as_version=4).cells, (
            "the input must not change"
        )


def test_learner_config_is_the_book_config_with_solutions_hidden():
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    learner = yaml.safe_load((ROOT / "_config_learner.yml").read_text())
    assert learner["sphinx"]["config"].pop("hide_solutions") is True
    assert learner["sphinx"]["config"].pop("edition_link") == {}  # the Chinese one has solutions
    book["sphinx"]["config"].pop("edition_link")
    assert learner.pop("title").startswith(book.pop("title"))
    for key in ("binderhub_url", "colab_url"):
        assert learner["launch_buttons"].pop(key) == ""  # they would open the instructor notebooks
        book["launch_buttons"].pop(key)
    assert learner == book, "_config_learner.yml drifted from _config.yml: copy the change over"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_learner_notebook_parses_and_keeps_its_stubs(path, learner_dir):
    """Every learner notebook is valid, its code compiles, and every exercise stub is still there
    (the original notebooks themselves are executed by nbval once per test run)."""
    original = nbformat.read(path, as_version=4)
    learner = nbformat.read(learner_dir / path.name, as_version=4)
    nbformat.validate(learner)
    assert colab.first_code_cell(learner).source.startswith(colab.setup_code()), "Colab setup lost"
    for i, cell in enumerate(learner.cells):
        if cell.cell_type == "code":
            code = TransformerManager().transform_cell(cell.source)  # `!`, `%` as IPython does
            compile(code, f"{path.name}, cell {i}", "exec")

    def stubs(nb):
        return [c.source for c in nb.cells if "raise NotImplementedError" in c.source]

    assert stubs(learner) == stubs(original), f"{path.name}: an exercise stub changed or vanished"


# The learner notebooks of the chapters that run in seconds are executed end to end: they show
# that the stubs run (functions and module classes alike), that each check answers "Not
# attempted yet", and that removing the solutions breaks no later cell. The others share these
# conventions; executing them all would double the test run's time.
LEARNER_RUN = [
    ROOT / "notebooks" / name
    for name in (
        "03_attention.ipynb",
        "04_multihead_attention.ipynb",
        "14_inside_the_model.ipynb",
    )
]


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNER_RUN, ids=[p.stem for p in LEARNER_RUN])
def test_learner_notebook_runs_without_errors(path, learner_dir):
    """Run the learner notebook top to bottom: it must not raise, and each check says 'Not "
    "attempted'."""
    from nbclient import NotebookClient

    nb = nbformat.read(learner_dir / path.name, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(learner_dir)}}
    )
    client.execute()  # raises CellExecutionError on the first error
    checks = [c for c in nb.cells if c.cell_type == "code" and ".check(" in c.source]
    assert checks, f"{path.name} has no self-checks: pick a chapter with exercises"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "Not attempted yet" in text, f"{path.name}: check cell printed {text!r}"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error"


def test_cli_learner(tmp_path, capsys):
    src = tmp_path / "notebooks"
    src.mkdir()
    for path in NOTEBOOKS[:2]:
        shutil.copy(path, src / path.name)
    dest = tmp_path / "learner"
    assert cli_main(["learner", "--src", str(src), "--dest", str(dest)]) == 0
    assert "Learner edition" in capsys.readouterr().out
    assert sorted(p.name for p in dest.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS[:2])
    readme = (dest / "README.md").read_text()
    assert all(p.name in readme for p in NOTEBOOKS[:2]) and ".hint()" in readme
    # a second run would overwrite learners' answers: it refuses unless --force
    assert cli_main(["learner", "--src", str(src), "--dest", str(dest)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli_main(["learner", "--src", str(src), "--dest", str(dest), "--force"]) == 0
    # a folder without notebooks is a clear error, not a traceback
    assert cli_main(["learner", "--src", str(tmp_path / "none"), "--dest", str(dest)]) == 1
    assert "no NN_slug.ipynb notebooks" in capsys.readouterr().err


def test_cli_tag_solutions(tmp_path, capsys):
    path = NOTEBOOKS[1]
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    assert cli_main(["tag-solutions", str(copy)]) == 0
    assert "0 solution cells tagged" in capsys.readouterr().out  # already tagged
    assert copy.read_bytes() == path.read_bytes()


def test_workshop_script_runs_from_the_repository_root():
    """`make learner` runs the script with the venv's python; `gptlab` has no workshop command."""
    script = [sys.executable, str(ROOT / "tools" / "workshop.py")]
    result = subprocess.run([*script, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for action in ("learner", "learner-site", "tag-solutions", "alt-text"):
        assert action in result.stdout
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/python tools/workshop.py learner " in makefile
    gone = subprocess.run(
        [sys.executable, "-m", "gptlab.cli", "workshop", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert gone.returncode == 2 and "invalid choice" in gone.stderr

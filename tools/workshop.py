"""Authoring tool: the learner edition of the notebooks (without solutions), and alt text.

Not part of the ``gptlab`` package that learners import; run it from the repository root::

    python tools/workshop.py learner [--src notebooks] [--dest learner] [--force]
    python tools/workshop.py learner-site [--out _build/learner-html]
    python tools/workshop.py tag-solutions [NOTEBOOK ...]
    python tools/workshop.py alt-text [NOTEBOOK ...]
    python tools/workshop.py exercise-table [--check]
    python tools/workshop.py time-scripts [NN ...]
    python tools/workshop.py sync-timings [--check]
    python tools/workshop.py guide-tables [--check]

The last three serve the instructor guide (their code is in ``tools/teaching.py``):
``time-scripts`` runs each chapter's notebook and times every section of its run-and-explain
script (``book/scripts.yml``) into ``book/data/script-times.json``; ``sync-timings`` carries
the scripts' talk minutes and the measured compute minutes into ``book/agendas.yml`` and the
guide's tables; ``guide-tables`` rewrites only the generated tables of ``book/instructors.md``
and ``book/term-plan.md``.

In the course notebooks an exercise is a run of cells::

    markdown  ```{exercise-start} ...   the task
    code      starter code that raises NotImplementedError
    markdown  ```{exercise-end} ... ```{solution-start} <label>
    code      # solution            (tagged ``solution``)
    markdown  explanation ... ```{solution-end}
    code      chNN.name.check(answer)

and a discussion exercise keeps its written answer in markdown between
``solution-start`` and ``solution-end``. :func:`make_learner_edition` copies every
notebook with the solutions taken out:

- each solution code cell becomes a short comment that sends the learner to the starter
  cell above and to ``.hint()``;
- written solutions (and the explanations that follow solution code) become
  "(solution in the instructor edition)";
- extra lines in a check cell that use the learner's function run only once the check
  passes, so an unfinished exercise prints "Not attempted yet" instead of raising;
- all outputs and execution counts are cleared (``keep_outputs=True`` clears only the
  exercise cells, for a website that shows everything else).

The same code processes every ``notebooks/NN_slug.ipynb``: a new chapter needs nothing
here, only the conventions above. :func:`tag_solution_cells` adds the ``solution`` tag
that marks solution cells for tools (Jupyter's cell tags, nbconvert's TagRemovePreprocessor).
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from teaching import DISCUSSION_MINUTES, exercise_minutes  # noqa: F401  (tools/teaching.py)

SOLUTION_TAG = "solution"
SOLUTION_MARK = "# solution"
PROSE_PLACEHOLDER = "(solution in the instructor edition)"

# A directive that opens or closes a gated solution, in backtick or colon fences:
#   ```{solution-start} ex-01-perplexity      ```{solution-end}
#   :class: dropdown                          ```
#   ```
_START = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{solution-start\}[^\n]*\n"
    r"(?:[ \t]*:[\w-]+:[^\n]*\n)*(?P=fence)[ \t]*$",
    re.M,
)
_END = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution-end\}[^\n]*\n(?P=fence)[ \t]*$", re.M)
_CHECK_CALL = re.compile(r"^(?P<call>(?P<obj>[A-Za-z_][\w.]*)\.check\(.*\))\s*;?\s*$")


@dataclass
class LearnerReport:
    """What :func:`make_learner_edition` did."""

    dest: Path
    notebooks: list[Path] = field(default_factory=list)
    solutions_removed: int = 0
    written_solutions_removed: int = 0
    check_cells_guarded: int = 0

    def __str__(self) -> str:
        return (
            f"Learner edition in {self.dest}: {len(self.notebooks)} notebooks, "
            f"{self.solutions_removed} solution cells and {self.written_solutions_removed} "
            f"written solutions removed, {self.check_cells_guarded} check cells guarded."
        )


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _first_line(cell) -> str:
    return _source(cell).lstrip("\n").split("\n", 1)[0].strip()


def _markers(text: str) -> list[tuple[int, int, str]]:
    """Solution-start and -end directives in ``text`` as (start, end, kind), in order."""
    found = [(m.start(), m.end(), "start") for m in _START.finditer(text)]
    found += [(m.start(), m.end(), "end") for m in _END.finditer(text)]
    return sorted(found)


def solution_regions(nb) -> list[list[int]]:
    """For each gated solution, the indices of the cells it touches (first and last: markers)."""
    regions, current = [], None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for _, _, kind in _markers(_source(cell)):
                if kind == "start":
                    current = [i]
                elif current is not None:
                    if current[-1] != i:
                        current.append(i)
                    regions.append(current)
                    current = None
        elif current is not None:
            current.append(i)
    return regions


def tag_solution_cells(path: str | Path) -> int:
    """Add the ``solution`` tag to every ``# solution`` code cell inside a gated solution.

    Only ``metadata.tags`` changes; the notebook is rewritten with :func:`nbformat.write`
    only when a tag was added. Returns the number of cells tagged.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    added = 0
    for region in solution_regions(nb):
        for i in region:
            cell = nb.cells[i]
            if cell.cell_type == "code" and _first_line(cell).lower() == SOLUTION_MARK:
                tags = cell.metadata.setdefault("tags", [])
                if SOLUTION_TAG not in tags:
                    tags.append(SOLUTION_TAG)
                    added += 1
    if added:
        nbformat.write(nb, path)
    return added


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_MARKUP = re.compile(r"\{[a-z:-]+\}`([^`<]*?)(?:\s*<[^>`]*>)?`|`([^`]*)`|\*\*?|\$")


_TEX = {
    r"\approx": "≈",
    r"\tau": "τ",
    r"\alpha": "α",
    r"\sqrt": "sqrt",
    r"\ln": "ln",
    r"\log": "log",
    r"\times": "×",
    r"\cdot": "·",
    r"\le": "≤",
    r"\ge": "≥",
    r"\to": "→",
    r"\infty": "∞",
}


def _plain(text: str) -> str:
    """Markdown to plain words: roles and code keep their text, emphasis and math signs go."""
    text = _MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", text)
    text = re.sub(r"\\(?:operatorname|text|mathrm)\{([^}]*)\}", r"\1", text)
    text = re.sub(r"\\[a-zA-Z]+", lambda m: _TEX.get(m.group(0), m.group(0)[1:]), text)
    return " ".join(text.replace("{", "").replace("}", "").split())


def figure_alt_text(nb, index: int, limit: int = 250) -> str | None:
    """A description of the figure that cell ``index`` draws, or ``None`` if it draws none.

    The course's convention is a sentence under each figure saying what to see; the first
    sentence of the next markdown cell is used, cut at ``limit`` characters.
    """
    cell = nb.cells[index]
    if cell.cell_type != "code" or not any(
        any(t in out.get("data", {}) for t in _IMAGE_TYPES) for out in cell.get("outputs", [])
    ):
        return None
    for later in nb.cells[index + 1 :]:
        if later.cell_type == "markdown":
            text = _plain(re.split(r"^#+ ", later.source, maxsplit=1, flags=re.M)[0])
            if text:
                sentences = re.split(r"(?<=[.!?])\s", text)
                sentence = sentences[0]
                if len(sentence) < 60 and len(sentences) > 1:  # too short to describe a figure
                    sentence += " " + sentences[1]
                return (
                    sentence
                    if len(sentence) <= limit
                    else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
                )
            break
    return "Figure: " + (_first_line(cell) or "plot").lstrip("# ")


def describe_figures(path: str | Path) -> int:
    """Store alt text for every figure of a notebook, where the website reads it.

    myst-nb takes an image's ``alt`` from the cell metadata ``mystnb.image.alt``; without it
    the website's image has only its file path as alt text. A description already there is
    kept. Returns the number of cells changed.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for i, cell in enumerate(nb.cells):
        alt = figure_alt_text(nb, i)
        if alt is None:
            continue
        image = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
        if not str(image.get("alt", "")).strip():
            image["alt"] = alt
            changed += 1
    if changed:
        nbformat.write(nb, path)
    return changed


def _hint_call(nb, after: int) -> str | None:
    """The ``chNN.name.hint()`` call matching the first check cell after cell ``after``."""
    for cell in nb.cells[after + 1 : after + 4]:
        if cell.cell_type != "code":
            continue
        for line in _source(cell).splitlines():
            m = _CHECK_CALL.match(line.strip())
            if m:
                return f"{m.group('obj')}.hint()"
    return None


def _placeholder_code(hint: str | None) -> str:
    lines = [
        "# The solution is not part of the learner edition.",
        "# Write your answer in the exercise cell above, run it, then run the check cell below.",
    ]
    if hint:
        lines.append(f"# Stuck? Run {hint} for a hint.")
    else:
        lines.append("# Stuck? Call .hint() on the exercise object used by the check cell.")
    return "\n".join(lines)


def _guard_check_cell(source: str) -> str | None:
    """Put the lines after ``x.check(answer)`` under ``if x.check(answer):``; None if not needed."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        m = _CHECK_CALL.match(line)  # at top level only (no indentation)
        if not m:
            continue
        rest = lines[i + 1 :]
        if not any(line.strip() for line in rest):
            return None
        guarded = [f"if {m.group('call')}:  # the lines below run once your answer passes"]
        guarded += [("    " + line) if line.strip() else line for line in rest]
        return "\n".join(lines[:i] + guarded)
    return None


def learner_notebook(nb, keep_outputs: bool = False, remove_blocks: bool = False):
    """Return a learner copy of notebook ``nb`` (an nbformat node) and counts of what changed.

    ``nb`` itself is not modified. With ``remove_blocks=True`` each gated solution goes
    entirely, directives included, instead of keeping a placeholder inside it (used for the
    learner website: sphinx-exercise 1.x cannot hide *gated* solutions, its
    ``hide_solutions`` leaves their content on the page and fails on ``solution-end``).
    """
    nb = copy.deepcopy(nb)
    counts = {"solutions": 0, "written": 0, "guarded": 0}
    regions = solution_regions(nb)
    has_code = [any(nb.cells[i].cell_type == "code" for i in r) for r in regions]

    # 1. the cells around each solution: starter before it, check after it
    exercise_cells: list = []  # their outputs are cleared even with keep_outputs
    hints: list[str | None] = []
    for region in regions:
        hints.append(_hint_call(nb, region[-1]))
        for j in range(region[0] - 1, max(region[0] - 3, -1), -1):
            if nb.cells[j].cell_type == "code":
                exercise_cells.append(nb.cells[j])
                break
        for j in range(region[-1] + 1, min(region[-1] + 3, len(nb.cells))):
            cell = nb.cells[j]
            if cell.cell_type == "code" and ".check(" in _source(cell):
                guarded = _guard_check_cell(_source(cell))
                if guarded is not None:
                    cell.source = guarded
                    counts["guarded"] += 1
                exercise_cells.append(cell)
                break

    # 2. one pass over the cells: keep what lies outside solutions, replace what lies inside
    kept, inside, k, code_done = [], False, -1, False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text, out, pos, prose = _source(cell), [], 0, ""
            for begin, end, kind in _markers(text):
                if kind == "start" and not inside:
                    out.append(text[pos:begin] if remove_blocks else text[pos:end])
                    pos, inside, k, code_done = end, True, k + 1, False
                elif kind == "end" and inside:
                    prose += text[pos:begin]
                    if not has_code[k]:
                        if prose.strip():
                            counts["written"] += 1
                        if not remove_blocks:
                            lead = "\n\n" if "".join(out).strip() else ""
                            out.append(lead + PROSE_PLACEHOLDER + "\n\n")
                    pos, inside, prose = (end if remove_blocks else begin), False, ""
            if inside:
                prose += text[pos:]
            else:
                out.append(text[pos:])
            new = "".join(out)
            if remove_blocks:
                new = re.sub(r"\n{3,}", "\n\n", new).strip("\n")
            if new.strip():
                cell.source = new
                kept.append(cell)
            # a markdown cell wholly inside a solution disappears
        elif inside:
            if remove_blocks:
                counts["solutions"] += 1 if not code_done else 0
                code_done = True
            elif not code_done:  # the solution code becomes a pointer to the exercise and its hint
                cell.source = _placeholder_code(hints[k])
                tags = cell.metadata.setdefault("tags", [])
                if SOLUTION_TAG not in tags:
                    tags.append(SOLUTION_TAG)
                counts["solutions"] += 1
                exercise_cells.append(cell)
                kept.append(cell)
                code_done = True
            # further code cells of the same solution are dropped
        else:
            kept.append(cell)
    nb.cells = kept

    # 3. outputs
    clear = {id(c) for c in exercise_cells}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps of the instructor's run
        if cell.cell_type == "code" and (not keep_outputs or id(cell) in clear):
            cell.outputs = []
            cell.execution_count = None
    return nb, counts


README = """# gptlab: learner edition

These are the course notebooks with the exercise solutions taken out. They were made by
`python tools/workshop.py learner` (`make learner` in the repository) from the notebooks in
`{src}`, which stay the instructor edition. Running the command again replaces these
files only when given `--force`, so your answers here are not overwritten by accident.

How to work through a notebook:

1. Open it in JupyterLab (`jupyter lab {dest}`) and run it from the top
   (*Run -> Run All Cells*). It runs without errors. Its outputs start empty: compare
   what you get with the book's website.
2. Each exercise has a starter cell whose function raises `NotImplementedError`. Replace
   its body with your answer, run that cell, then run the check cell below it. The check
   prints "Correct!", "Not quite" with a hint about the mistake, or "Not attempted yet"
   while the starter code is unchanged.
3. Stuck? The comment under each exercise names its hint, for example
   `ch01.perplexity.hint()`.
4. Discussion exercises have no check: talk them through with your neighbour. Their
   written answers are in the instructor edition (the repository's notebooks and the
   website's solution dropdowns).

Notebooks:

{listing}
"""


def make_learner_edition(
    src: str | Path = "notebooks",
    dest: str | Path = "learner",
    *,
    keep_outputs: bool = False,
    readme: bool = True,
    force: bool = False,
    remove_blocks: bool = False,
) -> LearnerReport:
    """Write the learner edition of every ``NN_slug.ipynb`` in ``src`` into ``dest``.

    ``dest`` must not be ``src``. Notebooks already in ``dest`` (perhaps holding a learner's
    answers) are replaced only with ``force=True``; otherwise a :class:`FileExistsError`
    says so.
    With ``keep_outputs=True`` only the exercise cells lose their outputs (used for the
    learner website); otherwise every output and execution count is cleared.
    ``remove_blocks`` is passed to :func:`learner_notebook`.
    """
    src, dest = Path(src), Path(dest)
    notebooks = sorted(
        p for p in src.glob("*.ipynb") if re.fullmatch(r"\d\d_[\w-]+\.ipynb", p.name)
    )
    if not notebooks:
        raise FileNotFoundError(f"no NN_slug.ipynb notebooks in {src}")
    if dest.resolve() == src.resolve():
        raise ValueError("the learner edition must go to a different folder than the notebooks")
    existing = sorted(dest.glob("*.ipynb")) if dest.exists() else []
    if existing and not force:
        raise FileExistsError(
            f"{dest} already holds {len(existing)} notebooks (a learner's answers?): "
            "remove the folder or pass --force to replace them"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for old in existing:
        old.unlink()
    report = LearnerReport(dest=dest)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        learner, counts = learner_notebook(
            nb, keep_outputs=keep_outputs, remove_blocks=remove_blocks
        )
        out = dest / path.name
        nbformat.write(learner, out)
        report.notebooks.append(out)
        report.solutions_removed += counts["solutions"]
        report.written_solutions_removed += counts["written"]
        report.check_cells_guarded += counts["guarded"]
    if readme:
        listing = "\n".join(f"- `{p.name}`" for p in report.notebooks)
        (dest / "README.md").write_text(
            README.format(src=src.as_posix(), dest=dest.as_posix(), listing=listing),
            encoding="utf-8",
        )
    return report


def build_learner_site(
    root: str | Path = ".",
    out: str | Path = "_build/learner-html",
    config: str = "_config_learner.yml",
    quiet: bool = False,
) -> Path:
    """Build the website from the learner edition (solutions hidden) into ``out``.

    Stages ``_toc.yml``, ``book/`` and learner notebooks (outputs kept except in exercise
    cells, gated solutions removed whole) in ``_build/learner-book`` and runs
    ``jupyter-book build`` there with ``config``, which also sets sphinx-exercise's
    ``hide_solutions`` for any non-gated ``{solution}`` directive. ``--path-output`` keeps
    the build inside the staging folder (without it jupyter-book would find the
    repository's ``_config.yml`` above and write over ``_build/html``). Returns ``out``.
    """
    root = Path(root).resolve()
    stage = root / "_build" / "learner-book"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    shutil.copy2(root / "_toc.yml", stage / "_toc.yml")
    shutil.copytree(root / "book", stage / "book")
    make_learner_edition(
        root / "notebooks",
        stage / "notebooks",
        keep_outputs=True,
        readme=False,
        force=True,
        remove_blocks=True,
    )
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(jb) if jb.exists() else "jupyter-book",
        "build",
        str(stage),
        "--config",
        str(root / config),
        "--path-output",
        str(stage),
        "--warningiserror",
        "--keep-going",
    ]
    result = subprocess.run(cmd, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise RuntimeError(f"jupyter-book build of the learner site failed\n{detail[-4000:]}")
    out = Path(out) if Path(out).is_absolute() else root / out
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(stage / "_build" / "html", out)
    return out


CATALOG_START = "<!-- exercise catalog: written by `python tools/workshop.py exercise-table` -->"
CATALOG_END = "<!-- end of the exercise catalog -->"


def exercise_table() -> str:
    """The instructor guide's exercise catalog: a Markdown table from gptlab.exercises.catalog()."""
    from gptlab.exercises import catalog

    lines = [
        "| chapter | exercise | level | minutes | what the learner writes |",
        "|---|---|---|---:|---|",
    ]
    for row in catalog():
        prompt = row["prompt"].replace("|", "\\|")
        lines.append(
            f"| {row['chapter']:02d} | `{row['name']}` | {row['level']} | {row['minutes']} "
            f"| {prompt} |"
        )
    return "\n".join(lines)


def write_exercise_table(guide: str | Path = "book/instructors.md", check: bool = False) -> bool:
    """Put :func:`exercise_table` between the catalog markers of ``guide``; True if it changed.

    With ``check=True`` nothing is written and ValueError says the table is out of date.
    """
    guide = Path(guide)
    text = guide.read_text(encoding="utf-8")
    if CATALOG_START not in text or CATALOG_END not in text:
        raise ValueError(
            f"{guide} has no exercise catalog markers; add {CATALOG_START!r} and "
            f"{CATALOG_END!r} where the table goes"
        )
    before, rest = text.split(CATALOG_START, 1)
    _, after = rest.split(CATALOG_END, 1)
    new = f"{before}{CATALOG_START}\n{exercise_table()}\n{CATALOG_END}{after}"
    if new == text:
        return False
    if check:
        raise ValueError(
            f"the exercise catalog in {guide} is out of date: run "
            "python tools/workshop.py exercise-table"
        )
    guide.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="tools/workshop.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("learner", help="copy the notebooks without solutions or outputs")
    p.add_argument("--src", default="notebooks", help="course notebooks (default: notebooks)")
    p.add_argument("--dest", default="learner", help="where to write them (default: learner)")
    p.add_argument("--force", action="store_true", help="replace notebooks already in --dest")
    p = sub.add_parser("learner-site", help="build the website from the learner edition")
    p.add_argument("--out", default="_build/learner-html", help="default: _build/learner-html")
    for action, text in [
        ("tag-solutions", "add the `solution` tag to solution cells"),
        ("alt-text", "describe each figure from the sentence under it"),
    ]:
        p = sub.add_parser(action, help=text)
        p.add_argument("notebooks", nargs="*", help="default: every notebook in --src")
        p.add_argument("--src", default="notebooks", help="default: notebooks")
    p = sub.add_parser("exercise-table", help="write the exercise catalog into instructors.md")
    p.add_argument("--check", action="store_true", help="only say whether it is up to date")
    p = sub.add_parser("time-scripts", help="time each section of the chapters' scripts")
    p.add_argument("chapters", nargs="*", help="chapter numbers such as 07 (default: all)")
    for action, text in [
        ("sync-timings", "carry the scripts' minutes and the measurements into agendas.yml"),
        ("guide-tables", "write the generated tables of instructors.md and term-plan.md"),
    ]:
        p = sub.add_parser(action, help=text)
        p.add_argument("--check", action="store_true", help="only say whether it is up to date")
    args = parser.parse_args(argv)
    try:
        if args.action in ("time-scripts", "sync-timings", "guide-tables"):
            import teaching  # tools/teaching.py, already loaded above

            if args.action == "time-scripts":
                teaching.time_scripts(args.chapters or None)
                print("recorded in book/data/script-times.json; next: sync-timings")
            elif args.action == "sync-timings":
                changed = teaching.sync_timings(check=args.check)
                print("agendas and tables " + ("updated" if changed else "up to date"))
            else:
                changed = write_exercise_table(check=args.check)
                changed = teaching.write_guide_tables(check=args.check) or changed
                print("generated tables " + ("updated" if changed else "up to date"))
        elif args.action == "learner":
            print(make_learner_edition(args.src, args.dest, force=args.force))
        elif args.action == "exercise-table":
            changed = write_exercise_table(check=args.check)
            print("exercise catalog " + ("updated" if changed else "up to date"))
        elif args.action == "learner-site":
            out = build_learner_site(".", args.out)
            print(f"Learner website (solutions hidden) in {out}/index.html")
        else:
            for path in args.notebooks or sorted(Path(args.src).glob("*.ipynb")):
                if args.action == "alt-text":
                    n = describe_figures(path)
                    print(f"{path}: alt text added to {n} figure cell{'s' if n != 1 else ''}")
                else:
                    n = tag_solution_cells(path)
                    print(f"{path}: {n} solution cell{'s' if n != 1 else ''} tagged")
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"workshop: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-chapter front matter (with the measured run time) and glossary links, for every notebook."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEADINGS = ["**You will**", "**You need**", "**Run time**", "**Key points**"]
RUN_TIMES = ROOT / "book" / "data" / "run-times.json"  # written by tools/execute.py
BUDGET_S = 180  # every notebook runs in at most 3 minutes on 2 idle cores
sys.path.insert(0, str(ROOT / "tools"))
from execute import run_time_phrase  # noqa: E402  (tools/execute.py, an authoring script)

TERM = re.compile(r"\{term\}`(?:[^`<]*<([^>`]+)>|([^`]+))`")


def _glossary_terms() -> set[str]:
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text.split(":::{glossary}", 1)[1].split("\n:::", 1)[0]
    # a term is a non-indented, non-empty line; its definition is indented
    return {
        line.strip().lower() for line in body.splitlines() if line.strip() and not line[0].isspace()
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_cell_is_at_a_glance(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    src = first.source
    box = re.search(r"^:::\{admonition\} At a glance\n(.*?)^:::$", src, re.S | re.M)
    assert box, f"{path.name}: the first cell needs an 'At a glance' admonition"
    for heading in HEADINGS:
        assert heading in box.group(1), f"{path.name}: the 'At a glance' box needs {heading}"
    points = box.group(1).split("**Key points**", 1)[1]
    assert len(re.findall(r"^- ", points, re.M)) >= 2, f"{path.name}: list at least two key points"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_run_time_is_the_measured_one(path):
    """The At-a-glance box states the run time measured when the stored outputs were made."""
    record = json.loads(RUN_TIMES.read_text())
    assert record["machine"]["cpu_count"] == 2, "measure on the course's 2-core reference machine"
    measured = record["notebooks"].get(path.name)
    assert measured, f"{path.name}: no measured run; execute it with tools/execute.py"
    assert measured["wall_s"] <= BUDGET_S, f"{path.name} took {measured['wall_s']} s"
    phrase = run_time_phrase(measured["wall_s"])
    first = nbformat.read(path, as_version=4).cells[0].source
    assert f"**Run time** {phrase}" in first, f"{path.name}: state '{phrase}' (tools/execute.py)"


def test_run_time_phrases():
    assert run_time_phrase(9) == "about 10 seconds" and run_time_phrase(2) == "about 5 seconds"
    assert run_time_phrase(60) == "about a minute"
    assert run_time_phrase(100) == "about 1.5 minutes" and run_time_phrase(170) == "about 3 minutes"


def test_glossary_has_the_core_terms():
    terms = _glossary_terms()
    for term in [
        "token",
        "tokenizer",
        "bpe",
        "merge",
        "vocabulary",
        "embedding",
        "logits",
        "softmax",
        "temperature",
        "cross-entropy",
        "perplexity",
        "bits per character",
        "attention",
        "query",
        "key",
        "value",
        "causal mask",
        "head",
        "multi-head attention",
        "positional encoding",
        "rope",
        "layernorm",
        "gelu",
        "residual stream",
        "pre-ln",
        "post-ln",
        "dropout",
        "weight tying",
        "parameter",
        "flops",
        "kv cache",
        "pretraining",
        "fine-tuning",
        "decoder-only",
        "masked language modelling",
    ]:
        assert term in terms, f"book/glossary.md has no entry for {term!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_links_terms_to_the_glossary(path):
    nb = nbformat.read(path, as_version=4)
    targets = [
        (m.group(1) or m.group(2)).strip().lower()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for m in TERM.finditer(cell.source)
    ]
    in_code = [c for c in nb.cells if c.cell_type == "code" and "{term}`" in c.source]
    assert not in_code, "the {term} role belongs in markdown cells"
    assert targets, (
        f"{path.name}: link the first use of the chapter's main terms with {{term}}`...`"
    )
    unknown = sorted(set(targets) - _glossary_terms())
    assert not unknown, f"{path.name}: terms missing from book/glossary.md: {unknown}"
    assert len(targets) == len(set(targets)), (
        f"{path.name}: link each term once per chapter (its first use)"
    )


CHAPTERS = [p for p in NOTEBOOKS if p.name[:2] != "00"]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_predict_and_concept_check(path):
    """Each chapter asks the learner to predict a key cell's output before running it, and ends
    with a concept check of about five questions; every answer sits in a <details> block, which
    the website and JupyterLab both render without a kernel."""
    cells = nbformat.read(path, as_version=4).cells
    predict = [i for i, c in enumerate(cells) if c.source.startswith("**Predict before you run.**")]
    assert predict, f"{path.name}: no 'Predict before you run.' question"
    for i in predict:
        assert "<details>" in cells[i].source and "</details>" in cells[i].source
        assert cells[i + 1].cell_type == "code", f"{path.name}: the prediction precedes a code cell"
    quiz = [
        c for c in cells if c.cell_type == "markdown" and c.source.startswith("## Concept check")
    ]
    assert len(quiz) == 1, f"{path.name}: one '## Concept check' cell"
    questions = re.findall(r"^\d+\. ", quiz[0].source, re.M)
    answers = quiz[0].source.count("<summary>Answer</summary>")
    assert len(questions) >= 5 and answers == len(questions), (path.name, len(questions), answers)
    assert quiz[0].source.count("<details>") == quiz[0].source.count("</details>") == answers

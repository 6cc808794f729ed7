"""The exercises: one generic checker (gptlab.exercises) and the exercises declared as data.

For every exercise: the reference is accepted, every declared mistake is rejected with its own
hint, and the starter code is "not attempted". Every build exercise also accepts at least two
correct answers written independently (tests/alternatives/chNN.py) and rejects at least three
typical mistakes. The checker itself never lets a bad answer crash the notebook.
"""

from __future__ import annotations

import importlib
import inspect
import io
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from gptlab.exercises import Exercise, all_exercises, catalog

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = all_exercises()
IDS = [f"ch{e.chapter:02d}-{e.name}" for e in EXERCISES]
BUILD = [e for e in EXERCISES if e.level == "build"]
CHAPTERS = sorted({int(p.name[:2]) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")} - {0})


def _alternatives(exercise: Exercise) -> list:
    try:
        module = importlib.import_module(f"tests.alternatives.ch{exercise.chapter:02d}")
    except ModuleNotFoundError:
        return []
    return module.ALTERNATIVES.get(exercise.name, [])


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_reference_is_accepted(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.status == "correct", result.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_each_mistake_gets_its_own_hint(exercise):
    assert exercise.mistakes, f"{exercise.name} declares no mistake"
    for wrong, hint in exercise.mistakes:
        result = exercise.evaluate(wrong)
        assert result.status == "incorrect", f"{exercise.name} accepted a declared mistake"
        assert hint in result.message, (exercise.name, hint, result.message)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_independent_answers_are_accepted(exercise):
    for answer in _alternatives(exercise):
        result = exercise.evaluate(answer)
        assert result.status == "correct", (exercise.name, answer, result.message)


@pytest.mark.parametrize("exercise", BUILD, ids=[f"ch{e.chapter:02d}-{e.name}" for e in BUILD])
def test_build_exercises_are_tested_both_ways(exercise):
    assert len(_alternatives(exercise)) >= 2, f"{exercise.name}: fewer than 2 independent answers"
    assert len(exercise.mistakes) >= 3, f"{exercise.name}: fewer than 3 declared mistakes"
    hints = [hint for _, hint in exercise.mistakes]
    assert len(set(hints)) == len(hints), f"{exercise.name}: two mistakes share a hint"


def _stub(*args, **kwargs):
    raise NotImplementedError


class _StubModule(torch.nn.Module):
    """The learner edition's skeleton of a module: both methods still to write."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError

    def forward(self, *args, **kwargs):
        raise NotImplementedError


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_starter_code_is_not_attempted(exercise):
    for answer in (..., None):
        assert exercise.evaluate(answer).status == "not attempted"
    stub = _StubModule if isinstance(exercise.reference, type) else _stub
    result = exercise.evaluate(stub)
    assert result.status == "not attempted", (
        f"{exercise.name}: starter code gave {result.message!r}"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_solution_is_the_reference_source(exercise):
    out = io.StringIO()
    with redirect_stdout(out):
        exercise.solution()
    assert inspect.getsource(exercise.reference) in out.getvalue()


@pytest.mark.parametrize("nn", CHAPTERS)
def test_every_chapter_has_a_ladder_with_a_build_exercise(nn):
    levels = [e.level for e in EXERCISES if e.chapter == nn]
    assert "build" in levels, f"chapter {nn:02d} has no build exercise"
    assert len(levels) >= 3, f"chapter {nn:02d} has {len(levels)} exercises"


def test_catalog_lists_every_exercise():
    rows = catalog()
    assert len(rows) == len(EXERCISES) and len(rows) > 42
    assert {r["level"] for r in rows} == {"recall", "apply", "build"}
    assert all(r["minutes"] > 0 and r["prompt"] for r in rows)
    names = [(r["chapter"], r["name"]) for r in rows]
    assert len(set(names)) == len(names)


def test_exercises_package_stays_small():
    """At most 1,500 lines for every exercise of the course (the data-driven redesign replaced
    3,967 lines holding 42 smaller exercises)."""
    lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "gptlab/exercises").glob("*.py"))
    assert lines <= 1500, f"gptlab/exercises has {lines} lines; the budget is 1,500"


# --- the generic checker: bad answers give a verdict, never a traceback ---------------------


def _double(x):
    return 2 * x


DEMO = Exercise(
    chapter=0,
    name="double",
    level="recall",
    minutes=1,
    prompt="double(x) -> 2 x",
    reference=_double,
    inputs=lambda: [(torch.arange(4.0),), (torch.ones(2, 3),)],
    mistakes=[(lambda x: x + 2, "add x to itself, not 2")],
    conventions=[(lambda x: 2 * x + 1e-3, "a shifted convention")],
    forbidden=("torch.mul",),
    time_limit=1.0,
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda x: x * 2, "Correct!"),
        (lambda x: x + 2, "add x to itself"),
        (lambda x: 2 * x + 1e-3, "another convention"),
        (lambda x: 1 / 0, "raised ZeroDivisionError"),
        (lambda x: None, "expected a torch.Tensor, got NoneType"),
        (lambda x: (2 * x).tolist(), "expected a torch.Tensor, got list"),
        (lambda x: (2 * x).reshape(-1, 1), "expected shape"),
        (lambda x: x * float("nan"), "NaN"),
        (lambda x: torch.mul(x, 2), "work without torch.mul"),
        (lambda x: 3 * x, "expected"),
    ],
)
def test_checker_verdicts(answer, expected):
    result = DEMO.evaluate(answer)
    assert expected in result.message, result.message


def test_checker_time_limit():
    def forever(x):
        while True:
            pass

    start = time.perf_counter()
    result = DEMO.evaluate(forever)
    assert result.status == "incorrect" and "still running" in result.message
    assert time.perf_counter() - start < 5


def test_forbidden_functions_are_restored():
    DEMO.evaluate(lambda x: torch.mul(x, 2))
    assert torch.equal(torch.mul(torch.ones(2), 2), torch.full((2,), 2.0))


def test_check_prints_one_verdict_line():
    out = io.StringIO()
    with redirect_stdout(out):
        assert DEMO.check(lambda x: x + x)
    assert out.getvalue() == "✓ double: Correct!\n"

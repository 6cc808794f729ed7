"""Every exercise checker accepts its reference answer and rejects each known wrong answer."""

from __future__ import annotations

import pytest

from gptlab.exercises import Exercise, Incorrect, all_exercises

EXERCISES = all_exercises()


def test_framework_verdicts():
    def checker(answer):
        if answer != 42:
            raise Incorrect("think of the answer to everything")

    ex = Exercise(
        "demo",
        "what is it?",
        checker,
        "a number",
        "42",
        reference=lambda: 42,
        wrong_answers=[lambda: 41],
    )
    assert ex.evaluate(42).status == "correct"
    bad = ex.evaluate(41)
    assert bad.status == "incorrect" and "everything" in bad.message
    assert ex.evaluate(...).status == "not attempted"

    def stub():
        raise NotImplementedError

    def func_checker(f):
        f()

    assert (
        Exercise("f", "", func_checker, "", "", reference=lambda: None).evaluate(stub).status
        == "not attempted"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_reference_answer_is_accepted(exercise):
    result = exercise.evaluate(exercise.reference())
    assert result.status == "correct", result.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_wrong_answers_are_rejected_with_a_hint(exercise):
    assert exercise.wrong_answers, f"{exercise.name} has no wrong answer to test its checker with"
    for wrong in exercise.wrong_answers:
        result = exercise.evaluate(wrong())
        assert result.status == "incorrect", f"{exercise.name} accepted a wrong answer"
        assert len(result.message) > len("Not quite. "), "the rejection must carry a hint"


# --- coverage and "not attempted" verdicts (workshop and self-study, issue 6) --------------

import importlib  # noqa: E402
from pathlib import Path  # noqa: E402

NOTEBOOK_NUMBERS = sorted(
    {
        p.name[:2]
        for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")
    }
)


@pytest.mark.parametrize("nn", [n for n in NOTEBOOK_NUMBERS if n != "00"])
def test_every_chapter_has_two_checked_exercises(nn):
    try:
        module = importlib.import_module(f"gptlab.exercises.ch{nn}")
    except ModuleNotFoundError:
        pytest.fail(f"chapter {nn} has a notebook but no gptlab/exercises/ch{nn}.py")
    found = [v for v in vars(module).values() if isinstance(v, Exercise)]
    assert len(found) >= 2, (
        f"chapter {nn} has {len(found)} self-checked exercise(s); it needs at least 2"
    )


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_unattempted_answers_are_not_attempted(exercise):
    """`...`, `None` and the learner edition's starter function all give 'not attempted'."""
    for answer in (..., None):
        assert exercise.evaluate(answer).status == "not attempted"
    if callable(exercise.reference()):
        result = exercise.evaluate(_stub)
        assert result.status == "not attempted", (
            f"{exercise.name}: starter code gave {result.message!r}"
        )

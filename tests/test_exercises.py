"""Every exercise checker accepts its reference answer and rejects each known wrong answer."""

from __future__ import annotations

import pytest

from gptlab.exercises import Exercise, Incorrect, all_exercises

EXERCISES = all_exercises()


def test_framework_verdicts():
    def checker(answer):
        if answer != 42:
            raise Incorrect("think of the answer to everything")

    ex = Exercise("demo", "what is it?", checker, "a number", "42", reference=lambda: 42,
                  wrong_answers=[lambda: 41])
    assert ex.evaluate(42).status == "correct"
    bad = ex.evaluate(41)
    assert bad.status == "incorrect" and "everything" in bad.message
    assert ex.evaluate(...).status == "not attempted"

    def stub():
        raise NotImplementedError

    def func_checker(f):
        f()

    assert Exercise("f", "", func_checker, "", "", reference=lambda: None).evaluate(stub).status == "not attempted"


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

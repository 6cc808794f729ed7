"""Self-checking exercises.

Each chapter's exercises live in ``gptlab.exercises.chNN`` as :class:`Exercise` objects.
In a notebook::

    from gptlab.exercises import ch01
    ch01.perplexity.hint()          # a nudge
    ch01.perplexity.check(answer)   # prints a verdict and returns True/False
    ch01.perplexity.solution()      # the reference answer, as text

``check`` accepts the learner's answer (a value or a function). It reports one of
three verdicts:

- ``Correct`` when the checker accepts the answer;
- ``Not quite`` with a hint specific to the mistake when the checker rejects it;
- ``Not attempted yet`` when the answer is ``...``/``None`` or a function that still
  raises ``NotImplementedError`` (the starter code of the learner edition).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Incorrect(Exception):
    """Raised by a checker to reject an answer; the message is the hint shown to the learner."""


class NotAttempted(Exception):
    """The answer is still the starter code."""


@dataclass
class Result:
    """The verdict of one check."""

    status: str  # "correct", "incorrect" or "not attempted"
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"Result({self.status!r})"

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: ``check`` has already printed the verdict."""


@dataclass
class Exercise:
    """One self-checking exercise.

    ``checker(answer)`` returns normally for a correct answer and raises :class:`Incorrect`
    with a specific hint otherwise. ``reference`` is a correct answer, used by the tests to
    prove that the checker accepts it; ``wrong_answers`` are answers it must reject.
    """

    name: str
    prompt: str
    checker: Callable[[Any], None]
    hint_text: str
    solution_text: str
    reference: Callable[[], Any]
    wrong_answers: list[Callable[[], Any]] = field(default_factory=list)

    def evaluate(self, answer: Any) -> Result:
        """Run the checker on ``answer`` and return a :class:`Result` (prints nothing)."""
        if answer is None or answer is Ellipsis:
            return Result("not attempted", "Not attempted yet: replace the `...` with your answer.")
        try:
            self.checker(answer)
        except (NotImplementedError, NotAttempted):
            return Result(
                "not attempted",
                "Not attempted yet: your function still raises NotImplementedError; "
                "write its body, then run this cell again.",
            )
        except Incorrect as exc:
            return Result("incorrect", f"Not quite. {exc}")
        except Exception as exc:  # the learner's code crashed: say so, with the error
            return Result("incorrect", f"Not quite: your answer raised {type(exc).__name__}: {exc}")
        return Result("correct", "Correct!")

    def check(self, answer: Any) -> Result:
        """Check ``answer``, print the verdict and return it (truthy when correct)."""
        result = self.evaluate(answer)
        mark = {"correct": "✓", "incorrect": "✗", "not attempted": "…"}[result.status]
        print(f"{mark} {self.name}: {result.message}")
        return result

    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint ({self.name}): {self.hint_text}")

    def solution(self) -> None:
        """Print the reference solution."""
        print(f"Solution ({self.name}):\n{self.solution_text}")


def chapter(number: int):
    """The exercises module of chapter ``number`` (for example ``chapter(1)``)."""
    return importlib.import_module(f"gptlab.exercises.ch{number:02d}")


def all_exercises() -> list[Exercise]:
    """Every exercise of every chapter that has a ``gptlab.exercises.chNN`` module."""
    import pkgutil

    found: list[Exercise] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found += [v for v in vars(module).values() if isinstance(v, Exercise)]
    return found


def close(actual: float, expected: float, what: str, rel: float = 1e-3, hint: str = "") -> None:
    """Raise :class:`Incorrect` unless ``actual`` is within ``rel`` (relative) of ``expected``."""
    try:
        value = float(actual)
    except (TypeError, ValueError):
        raise Incorrect(f"{what} should be a number, got {type(actual).__name__}.") from None
    if abs(value - expected) > rel * max(abs(expected), 1e-12):
        raise Incorrect(f"{what} is {value:.6g}, expected about {expected:.6g}. {hint}".strip())


def as_number(value: Any, what: str) -> float:
    """``value`` as a float (a one-element tensor counts); :class:`Incorrect` if it is not a number."""
    try:
        import torch

        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
    except ImportError:  # pragma: no cover - torch is always installed with gptlab
        pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(f"{what} should return a number, got {type(value).__name__}.")
    return float(value)

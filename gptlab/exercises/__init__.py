"""Self-checking exercises, declared as data (one module ``chNN`` per chapter)::

    from gptlab.exercises import ch03
    ch03.attention_weights.hint()            # a nudge
    ch03.attention_weights.check(my_answer)  # prints a verdict, returns it (truthy if correct)
    ch03.attention_weights.solution()        # the reference answer's own source

An exercise runs the answer and a reference on every input; where they disagree, it shows the
hint of the declared mistake that behaves like the answer, else the input, the expected value
and what came back. Verdicts: ``Correct`` (or correct with a named alternative convention);
``Not quite`` with a hint, also for an exception, a wrong type, shape or NaN, a forbidden call
or a time-out; ``Not attempted yet`` for ``...``, ``None`` or ``NotImplementedError``. Verdicts,
hints and the solutions' comments are in the learner's language (``gptlab.utils.tr``)."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import torch

from gptlab.utils import tr

LEVELS = ("recall", "apply", "build")  # a fact or formula; a new case; a whole piece, unseen inputs
_STUB = "Not attempted yet: your code still raises NotImplementedError; write it, then run again."
_FORBIDDEN = "Not quite: work without {} (it was switched off while your answer ran)."
_TOO_SLOW = "Not quite: still running after {:g} s (the time limit): is there an endless loop?"
_NOT_QUITE = "Not quite. {}"
_GOT = "expected {}, got {}"
_CONVENTION = "Correct, with another convention: {}"
_EMPTY = "Not attempted yet: replace the `...` with your answer."
COMMENT = re.compile(r"(  # )(.+)$", re.M)  # a solution's comments, shown in the learner's language


class Incorrect(Exception):
    """Raised by a custom checker (or by ``run``) to reject an answer; its arguments, each in the
    learner's language, are the hint."""


class _Stop(BaseException):
    """A forbidden call or the time limit stopped the answer (a BaseException, which an answer's
    ``except Exception`` misses); its message is the verdict."""


@dataclass
class Result:
    """The verdict of one check: ``status`` is "correct", "incorrect" or "not attempted"."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: ``check`` has already printed the verdict."""


def describe(value: Any) -> str:
    """A short description of ``value`` for a message: a tensor's shape and dtype, else repr."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 8:
            return tr("tensor {} (dtype {})").format(value.tolist(), value.dtype)
        return tr("a tensor of shape {} (dtype {})").format(tuple(value.shape), value.dtype)
    return repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."


def same(got: Any, want: Any, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """``None`` if ``got`` matches ``want``, else why not (type, shape, dtype, NaN or values).

    Tensors match with ``allclose`` at the same shape (a bool tensor must stay bool); numbers
    with a relative tolerance (an int or a one-element tensor counts as a number); lists,
    tuples and dicts entry by entry; anything else with ``==``."""
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            shown = "" if got is None else f": {describe(got)}"
            return tr("expected a torch.Tensor, got {}{}").format(type(got).__name__, shown)
        if got.shape != want.shape:
            return tr("expected shape {}, got {}").format(tuple(want.shape), tuple(got.shape))
        if (want.dtype == torch.bool) != (got.dtype == torch.bool):
            return tr("expected dtype {}, got {}").format(want.dtype, got.dtype)
        if got.is_floating_point() and torch.isnan(got).any() and not torch.isnan(want).any():
            return tr("the result contains NaN")
        if not torch.allclose(got.double(), want.double(), rtol=rtol, atol=atol, equal_nan=True):
            if want.numel() <= 8:
                return tr(_GOT).format(describe(want), describe(got))
            gap = (got.double() - want.double()).abs().nan_to_num(float("inf")).max().item()
            return tr("the values differ by up to {:.3g} (shape {})").format(gap, tuple(want.shape))
        return None
    if isinstance(want, dict) and isinstance(got, dict):
        if set(got) != set(want):
            return tr("expected keys {}, got {}").format(sorted(want), sorted(got))
        got, want = [got[k] for k in want], list(want.values())
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(got) != len(want):
            return tr("expected {} items, got {}").format(len(want), len(got))
        whys = (same(g, w, rtol, atol) for g, w in zip(got, want, strict=True))
        return next((tr("item {}: {}").format(i, why) for i, why in enumerate(whys) if why), None)
    if isinstance(want, bool) or not isinstance(want, (int, float)):
        return None if got == want else tr(_GOT).format(describe(want), describe(got))
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return tr("expected a number, got {}").format(type(got).__name__)
    if math.isnan(got):
        return tr("the result is NaN")
    if not math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
        return tr("expected about {:.6g}, got {:.6g}").format(want, got)
    return None


def _forbid(name: str):
    """A patch that makes ``name`` raise :class:`_Stop`: a function of a module
    (``"torch.softmax"``) or a method of a class (``"torch.Tensor.softmax"``)."""
    owner, _, attr = name.rpartition(".")
    stop = _Stop(tr(_FORBIDDEN).format(name))
    return mock.patch.object(pkgutil.resolve_name(owner), attr, side_effect=stop)


@contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_Stop` after ``seconds`` (main thread of a Unix process only)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() != threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _Stop(tr(_TOO_SLOW).format(seconds))

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Exercise:
    """One self-checking exercise, declared as data (see the module docstring).

    ``inputs()`` returns the argument tuples; ``run(answer, *args)`` turns an answer into the
    behaviour compared (default: call it with the arguments). ``mistakes`` are
    ``(wrong answer, hint)`` pairs; ``conventions`` are ``(answer, note)`` pairs for correct
    alternatives the reference does not follow. ``forbidden`` names functions (for example
    ``"torch.softmax"``) that raise while the answer runs. ``checker`` replaces the comparison
    where behaviour cannot be compared directly: it raises :class:`Incorrect` with a hint."""

    chapter: int
    name: str
    level: str
    minutes: int
    prompt: str
    reference: Any
    inputs: Callable[[], Sequence[tuple]] = lambda: [()]
    mistakes: list[tuple[Any, str]] = field(default_factory=list)
    hint_text: str = ""
    run: Callable[..., Any] = lambda answer, *args: answer(*args)
    conventions: list[tuple[Any, str]] = field(default_factory=list)
    forbidden: tuple[str, ...] = ()
    checker: Callable[[Any], None] | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    time_limit: float = 20.0

    def _call(self, answer: Any, args: tuple) -> Any:
        """``run(answer, *args)`` on fresh copies of tensors (an answer may edit them in place)."""
        return self.run(answer, *(a.clone() if isinstance(a, torch.Tensor) else a for a in args))

    def _run_answer(self, answer: Any, args: tuple) -> Any:
        with ExitStack() as stack, _time_limit(self.time_limit):
            for name in self.forbidden:
                stack.enter_context(_forbid(name))
            return self._call(answer, args)

    def _behaves_like(self, other: Any, args: tuple, got: Any) -> bool:
        """Does ``other`` give ``got`` (a value, or the exception raised) on ``args``?"""
        try:
            theirs = self._call(other, args)
        except Exception as exc:  # a mistake that crashes the same way is this mistake
            return isinstance(got, Exception) and type(exc) is type(got)
        if isinstance(got, Exception):
            return False
        try:
            return same(got, theirs, self.rtol, self.atol) is None
        except Exception:
            return False

    def _agrees(self, answer: Any, other: Any, args: tuple) -> bool:
        try:
            got = self._run_answer(answer, args)
        except Exception as exc:
            got = exc
        return self._behaves_like(other, args, got)

    def _judge(self, answer: Any) -> Result:
        if self.checker is not None:
            with _time_limit(self.time_limit):
                self.checker(answer)
            return Result("correct", tr("Correct!"))
        cases = list(self.inputs())
        for args in cases:
            want = self._call(self.reference, args)
            try:
                got = self._run_answer(answer, args)
                why = same(got, want, self.rtol, self.atol)
            except (NotImplementedError, Incorrect):
                raise
            except Exception as exc:
                got, why = exc, tr("your answer raised {}: {}").format(type(exc).__name__, exc)
            if why is None:
                continue
            for other, note in self.conventions:
                if all(self._agrees(answer, other, a) for a in cases):
                    return Result("correct", tr(_CONVENTION).format(tr(note)))
            # the mistakes that behave like the answer here; the one that does so everywhere wins
            hints = [hint for wrong, hint in self.mistakes if self._behaves_like(wrong, args, got)]
            for wrong, hint in self.mistakes if len(hints) > 1 else []:
                if hint in hints and all(self._agrees(answer, wrong, a) for a in cases):
                    return Result("incorrect", tr(_NOT_QUITE).format(tr(hint)))
            if hints:
                return Result("incorrect", tr(_NOT_QUITE).format(tr(hints[0])))
            shown = ", ".join(describe(a) for a in args) or tr("no arguments")
            return Result("incorrect", tr("Not quite. On the input ({}): {}.").format(shown, why))
        return Result("correct", tr("Correct!"))

    def evaluate(self, answer: Any) -> Result:
        """Check ``answer`` and return a :class:`Result` (prints nothing, never raises)."""
        if answer is None or answer is Ellipsis:
            return Result("not attempted", tr(_EMPTY))
        try:  # inputs and weights drawn in a check leave the notebook's random state alone
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                return self._judge(answer)
        except NotImplementedError:
            return Result("not attempted", tr(_STUB))
        except _Stop as exc:  # a forbidden call or the time limit
            return Result("incorrect", str(exc))
        except Incorrect as exc:
            return Result("incorrect", tr(_NOT_QUITE).format(" ".join(map(tr, exc.args))))
        except Exception as exc:  # the learner's code crashed: say so, with the error
            crashed = tr("Not quite: your answer raised {}: {}").format(type(exc).__name__, exc)
            return Result("incorrect", crashed)

    def check(self, answer: Any) -> Result:
        """Check ``answer``, print the verdict and return it (truthy when correct)."""
        result = self.evaluate(answer)
        mark = {"correct": "✓", "incorrect": "✗", "not attempted": "…"}[result.status]
        print(f"{mark} {self.name}: {result.message}")
        return result

    def hint(self) -> None:
        """Print a hint."""
        print(tr("Hint ({}): {}").format(self.name, tr(self.hint_text)))

    def solution(self) -> None:
        """Print the reference answer's own source, the code that the checker compares with (its
        comments in the learner's language)."""
        source = COMMENT.sub(lambda m: m[1] + tr(m[2]), inspect.getsource(self.reference))
        print(tr("Solution ({}):").format(self.name), source, sep="\n")


def tiny_gpt(seed: int, vocab_size: int, block_size: int, n_layer: int = 1, **sizes: Any):
    """A small random, seeded ``gptlab.model.GPT`` in eval mode (n_head=2, n_embd=16 by default)."""
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(seed)
    sizes = {"n_head": 2, "n_embd": 16, "vocab_size": vocab_size, "block_size": block_size} | sizes
    return GPT(GPTConfig(n_layer=n_layer, **sizes)).eval()


def all_exercises() -> list[Exercise]:
    """Every exercise of every chapter module, in chapter order and the order they are defined."""
    names = sorted(i.name for i in pkgutil.iter_modules(__path__) if i.name.startswith("ch"))
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return [v for module in modules for v in vars(module).values() if isinstance(v, Exercise)]


def catalog() -> list[dict]:
    """One row per exercise (chapter, name, level, minutes, prompt): the instructor guide's rows."""
    keys = ("chapter", "name", "level", "minutes", "prompt")
    return [{k: getattr(e, k) for k in keys} for e in all_exercises()]

"""pytest setup for the notebooks that nbval executes (tests/conftest.py serves the unit tests):
the run-time budget of every notebook."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))  # the authoring tools are scripts, not part of gptlab
from execute import kernel_cpu_seconds  # noqa: E402  (tools/execute.py)

# Every notebook must run in at most 3 minutes on 2 idle cores (measured when it is executed
# for the repository). nbval runs each notebook in its own kernel; here we add up the kernel's
# CPU time, which a busy or shared machine does not inflate the way it inflates wall time, and
# fail the notebook's last cell past the budget: 3 minutes on 2 cores, plus a quarter for the
# machine's noise. GPTLAB_NOTEBOOK_CPU_BUDGET overrides it (a machine with many cores lets
# PyTorch spin more threads, which costs CPU time but not wall time).
NOTEBOOK_CPU_BUDGET_S = float(os.environ.get("GPTLAB_NOTEBOOK_CPU_BUDGET", 180 * 2 * 1.25))
NOTEBOOK_TIMES = ROOT / "_build" / "notebook-times.json"
_started: dict[str, float] = {}
_last_cell: dict[str, pytest.Item] = {}


def pytest_collection_modifyitems(items):
    for item in items:  # the last cell of each notebook closes its run-time measurement
        if str(item.path).endswith(".ipynb"):
            _last_cell[item.path.name] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    notebook = item.parent
    if not str(item.path).endswith(".ipynb") or not hasattr(notebook, "kernel"):
        return (yield)
    _started.setdefault(item.path.name, time.perf_counter())
    result = yield
    if item is _last_cell.get(item.path.name):
        cpu = kernel_cpu_seconds(notebook.kernel.km)
        wall = time.perf_counter() - _started[item.path.name]
        record = json.loads(NOTEBOOK_TIMES.read_text()) if NOTEBOOK_TIMES.exists() else {}
        record[item.path.name] = {"cpu_s": cpu and round(cpu, 1), "wall_s": round(wall, 1)}
        NOTEBOOK_TIMES.parent.mkdir(exist_ok=True)
        NOTEBOOK_TIMES.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        if cpu is not None and cpu > NOTEBOOK_CPU_BUDGET_S:
            raise AssertionError(
                f"{item.path.name} used {cpu:.0f} s of CPU time ({wall:.0f} s wall), over the "
                f"budget of {NOTEBOOK_CPU_BUDGET_S:.0f} s: every notebook must run in 3 minutes "
                "on 2 cores. Make it lighter (fewer steps, smaller data) or move the work into "
                "a gptlab command."
            )
    return result

"""Authoring tool: execute notebooks in place and record how long each one took.

Run it from the repository root, one notebook at a time, on an otherwise idle machine::

    python tools/execute.py notebooks/07_pretraining.ipynb [more notebooks ...]

For each notebook it runs every cell top to bottom (as a learner would), removes the
execution timestamps that nbclient writes into the cells (so that a re-run changes only what
really changed), and stores the wall-clock and CPU time of the run in
``book/data/run-times.json``. From that record it then writes the "Run time" phrase of the
notebook's At-a-glance box, and brings the instructor guide's table of minutes and the estimated
compute minutes of ``book/agendas.yml`` up to date (``tools/teaching.py``), so the run times the
book states are the measured ones (``tests/test_chapters.py`` checks it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "book" / "data" / "run-times.json"
PHRASE_IN_NOTEBOOK = re.compile(
    r"(\*\*Run time\*\* )(about [\d.]+ (?:seconds|minutes)|about a minute|under a minute)"
)


def run_time_phrase(seconds: float) -> str:
    """How the book states a measured run time: 'about 20 seconds', 'about 2.5 minutes'."""
    if seconds < 45:
        return f"about {max(5, 5 * round(seconds / 5))} seconds"
    if seconds < 75:
        return "about a minute"
    half_minutes = round(seconds / 30) / 2
    return f"about {half_minutes:g} minutes"


def run_cells(nb, cwd: Path, timeout: int = 600) -> dict:
    """Run every cell of the notebook ``nb`` (an nbformat node, changed in place) top to bottom
    in a fresh ``python3`` kernel started in the folder ``cwd``, as a learner's run would.

    Each code cell gets its outputs and, in ``metadata.execution``, nbclient's timestamps
    (``iopub.status.busy`` ... ``iopub.status.idle``). A cell that raises stops the run with
    nbclient's ``CellExecutionError``. Returns the wall-clock and CPU seconds of the whole run
    (``tools/workshop.py time-scripts`` uses the timestamps to time each section).
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    t0 = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        cpu = kernel_cpu_seconds(client.km)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 1), "cpu_s": cpu and round(cpu, 1)}


def execute(path: Path) -> dict:
    """Run the notebook in place; return its measured times."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    times = run_cells(nb, path.parent)  # CellExecutionError stops it: nothing written
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return times


def kernel_cpu_seconds(kernel_manager) -> float | None:
    """CPU seconds used so far by a Jupyter kernel's process and its children (all threads);
    None when psutil is missing or the kernel is gone (the wall time still counts).
    The root conftest.py uses it for the run-time budget of the notebooks nbval executes."""
    try:
        import psutil

        t = psutil.Process(kernel_manager.provisioner.process.pid).cpu_times()
    except Exception:
        return None
    return t.user + t.system + t.children_user + t.children_system


def state_run_time(path: Path, seconds: float) -> None:
    """Write the measured phrase into the notebook's first cell, then bring the instructor
    guide's tables and the estimated minutes of book/agendas.yml up to date."""
    phrase = run_time_phrase(seconds)
    nb = json.loads(path.read_text())
    first = "".join(nb["cells"][0]["source"])
    if not PHRASE_IN_NOTEBOOK.search(first):
        raise SystemExit(f"{path.name}: the first cell has no '**Run time** about ...' phrase")
    first = PHRASE_IN_NOTEBOOK.sub(lambda m: m.group(1) + phrase, first, count=1)
    nb["cells"][0]["source"] = first.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    # The instructor guide's table of minutes per chapter shows the same phrase: it is written
    # from run-times.json, like the estimated compute minutes of book/agendas.yml.
    import teaching  # tools/teaching.py

    try:
        teaching.sync_timings()
    except ValueError as err:
        print(f"{path.name}: the agendas were not updated: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {"notebooks": {}}
    machine = dict(cpu_count=os.cpu_count(), machine=platform.machine())
    record["machine"] = machine | {"python": platform.python_version()}
    for path in args.notebooks:
        times = execute(path)
        record["notebooks"][path.name] = {
            **times,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        state_run_time(path, times["wall_s"])
        print(f"{path}: {times['wall_s']:.0f} s wall, {times['cpu_s']} s CPU", flush=True)


if __name__ == "__main__":
    sys.exit(main())

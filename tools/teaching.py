"""Authoring tool: run-and-explain scripts, their measured timings, the agendas and the term plan.

The command line is ``tools/workshop.py`` (``time-scripts``, ``sync-timings``, ``guide-tables``);
this module holds the code. Sources of truth, all under ``book/``:

- ``scripts.yml``: for every chapter, one entry per section of its notebook (the cells before
  the first level-2 heading are the section ``Opening``) with a mode (``live``: run in front of
  the room; ``talk``: talk through it, its cells run ahead or while you talk; ``skip-if-late``),
  the minutes of talking it takes and a note for the instructor;
- ``data/script-times.json``: what :func:`time_scripts` measured, per chapter and section;
- ``agendas.yml``: per chapter its talk minutes (the script's), compute minutes (measured, or an
  estimate from ``data/run-times.json``) and exercise minutes, and the agendas; rewritten by
  :func:`sync_timings` when the measurements change;
- ``term-plan.yml``: the weekly plan of a term and its final project.

``instructors.md`` and ``term-plan.md`` show these as tables written between
``<!-- generated: NAME ... -->`` and ``<!-- end: NAME -->`` markers (:func:`write_guide_tables`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SCRIPTS = ROOT / "book" / "scripts.yml"
AGENDAS = ROOT / "book" / "agendas.yml"
TERM = ROOT / "book" / "term-plan.yml"
SCRIPT_TIMES = ROOT / "book" / "data" / "script-times.json"
RUN_TIMES = ROOT / "book" / "data" / "run-times.json"
GUIDE = ROOT / "book" / "instructors.md"
TERM_PAGE = ROOT / "book" / "term-plan.md"

OPENING = "Opening"  # the section of the cells before the first level-2 heading
MODES = ("live", "talk", "skip-if-late")
PARTS = ("teaching", "exercises", "excerpt", "break", "other")
FLEXIBLE_MIN = 5  # the flexible session of a day never shrinks below this
DISCUSSION_MINUTES = 10  # the discussion exercise and the concept check of each chapter

_HEADING = re.compile(r"^## +(?P<title>\S.*?)\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


# ---------------------------------------------------------------- notebooks and their sections


def notebook_path(nn: str, src: Path = NOTEBOOKS) -> Path:
    """The notebook ``src/NN_slug.ipynb`` of chapter ``nn`` ("07")."""
    found = sorted(src.glob(f"{nn}_*.ipynb"))
    if len(found) != 1:
        raise ValueError(f"expected one notebook {nn}_*.ipynb in {src}, found {len(found)}")
    return found[0]


def chapters(src: Path = NOTEBOOKS) -> list[str]:
    """The chapter numbers of the notebooks, in order: ["00", "01", ...]."""
    return sorted(p.name[:2] for p in src.glob("[0-9][0-9]_*.ipynb"))


def headings(markdown: str) -> list[str]:
    """The level-2 headings (``## Title``) of a markdown text, outside fenced code blocks."""
    found, fence = [], None
    for line in markdown.splitlines():
        m = _FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
            continue
        if fence is None:
            h = _HEADING.match(line)
            if h:
                found.append(h.group("title"))
    return found


def sections(nb) -> list[tuple[str, list[int]]]:
    """The sections of a notebook, in order, with the indices of their code cells.

    The first is ``Opening`` (the cells before the first level-2 heading); then one per
    ``## Title`` heading, wherever it stands in a markdown cell (after a MyST label line, or
    several in one cell: all but the last of those have no code cells).
    """
    found: list[tuple[str, list[int]]] = [(OPENING, [])]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found += [(title, []) for title in headings(cell.source)]
        elif cell.cell_type == "code":
            found[-1][1].append(i)
    return found


def section_titles(nn: str, src: Path = NOTEBOOKS) -> list[str]:
    """The section titles of chapter ``nn``'s notebook, ``Opening`` first."""
    nb = nbformat.read(notebook_path(nn, src), as_version=4)
    return [title for title, _ in sections(nb)]


# ---------------------------------------------------------------- the scripts (book/scripts.yml)


def load_scripts(path: Path = SCRIPTS) -> dict[str, dict]:
    """The run-and-explain scripts by chapter: {"07": {"must_leave_with", "sections"}}."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))["chapters"]


def modes(script: dict) -> dict[str, str]:
    """Section title -> mode, for one chapter's script."""
    return {s["section"]: s["mode"] for s in script["sections"]}


def talk_minutes(script: dict, only: list[str] | None = None) -> int:
    """The talk minutes of a script: all its sections, or only those named in ``only``."""
    return sum(
        s["talk_minutes"] for s in script["sections"] if only is None or s["section"] in only
    )


def script_problems(scripts: dict, src: Path = NOTEBOOKS) -> list[str]:
    """What is wrong with the scripts: missing chapters, sections that differ from the
    notebook's (missing, extra, out of order), bad modes, minutes or notes. Empty when all is well.
    """
    problems = []
    for nn in chapters(src):
        if nn not in scripts:
            problems.append(f"chapter {nn} has no script in {SCRIPTS.name}")
    for nn, script in sorted(scripts.items()):
        if not str(script.get("must_leave_with") or "").strip():
            problems.append(f"chapter {nn}: must_leave_with is empty")
        listed = [s.get("section") for s in script.get("sections", [])]
        wanted = section_titles(nn, src)
        if listed != wanted:
            missing = [t for t in wanted if t not in listed]
            extra = [t for t in listed if t not in wanted]
            detail = f"missing {missing}, not in the notebook {extra}" if missing or extra else ""
            problems.append(
                f"chapter {nn}: the script's sections differ from the notebook's "
                f"{detail or '(order)'}; the notebook has {wanted}"
            )
        for s in script.get("sections", []):
            where = f"chapter {nn}, section {s.get('section')!r}"
            if s.get("mode") not in MODES:
                problems.append(f"{where}: mode {s.get('mode')!r} is not one of {MODES}")
            minutes = s.get("talk_minutes")
            if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
                problems.append(f"{where}: talk_minutes must be a whole number >= 0")
            if not str(s.get("note") or "").strip():
                problems.append(f"{where}: the note is empty")
            elif "|" in s["note"]:
                problems.append(f"{where}: a note must not contain '|' (it breaks the tables)")
    return problems


# ---------------------------------------------------------------- timing the scripts


def cell_seconds(cell) -> float:
    """Wall-clock seconds a code cell took, from the timestamps nbclient recorded in it
    (kernel busy to kernel idle, or execute_input to execute_reply); 0 if there are none."""
    stamps = cell.get("metadata", {}).get("execution", {})
    for start, end in (
        ("iopub.status.busy", "iopub.status.idle"),
        ("iopub.execute_input", "shell.execute_reply"),
    ):
        if start in stamps and end in stamps:
            t0 = datetime.fromisoformat(stamps[start])
            t1 = datetime.fromisoformat(stamps[end])
            return max(0.0, (t1 - t0).total_seconds())
    return 0.0


def section_seconds(nb) -> dict[str, float]:
    """Seconds per section (Opening and each ``##`` section) of an executed notebook."""
    return {
        title: sum((cell_seconds(nb.cells[i]) for i in cells), 0.0) for title, cells in sections(nb)
    }


def machine() -> str:
    """The machine, for the record: '2 cores, <CPU model>'."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores, {model}"


def load_script_times(path: Path = SCRIPT_TIMES) -> dict[str, dict]:
    """What :func:`time_scripts` recorded, by chapter (empty when nothing was measured yet)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def dump_script_times(record: dict) -> str:
    """The record as written to book/data/script-times.json: sorted keys, 0.1 s, one format."""
    return json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _summed(sections_s: dict[str, float], script: dict) -> tuple[float, float]:
    """(live seconds, all seconds) of a chapter's measured sections under the script's modes."""
    mode = modes(script)
    live = sum(v for k, v in sections_s.items() if mode.get(k) == "live")
    return round(live, 1), round(sum(sections_s.values()), 1)


def time_chapter(nn: str, script: dict, src: Path = NOTEBOOKS) -> dict:
    """Run chapter ``nn``'s notebook and time each section of its script.

    The notebook runs as ``tools/execute.py`` runs it (its :func:`execute.run_cells`: a fresh
    kernel started in the notebooks folder), from an in-memory copy: the file is not written.
    Every cell runs, those of ``talk`` sections too (later cells need them); only the
    ``live`` sections count as the room's compute.
    """
    import execute  # tools/execute.py

    path = notebook_path(nn, src)
    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell("import torch\nprint(torch.get_num_threads())")
    nb.cells.append(probe)  # after the last section: how many threads the kernel's torch used
    execute.run_cells(nb, path.parent)
    nb.cells.pop()
    threads = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    per_section = {k: round(v, 1) for k, v in section_seconds(nb).items()}
    missing = [t for t in per_section if t not in modes(script)]
    if missing:
        raise ValueError(
            f"chapter {nn}: sections {missing} are not in its script in {SCRIPTS.name}; "
            "update the script first"
        )
    live, total = _summed(per_section, script)
    return {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "torch_threads": int(threads.strip() or 0),
        "sections": per_section,
        "live_compute_s": live,
        "total_compute_s": total,
    }


def time_scripts(
    numbers: list[str] | None = None,
    record: Path = SCRIPT_TIMES,
    scripts: Path = SCRIPTS,
    src: Path = NOTEBOOKS,
    log=print,
) -> dict:
    """Time the chapters ``numbers`` (default: all) and write them into ``record``.

    Entries of other chapters are kept. Run it on an otherwise idle machine, then
    ``sync-timings`` to carry the numbers into the agendas and the guide.
    """
    all_scripts = load_scripts(scripts)
    numbers = numbers or chapters(src)
    unknown = [nn for nn in numbers if nn not in all_scripts]
    if unknown:
        raise ValueError(f"no script for chapter(s) {unknown} in {scripts}")
    data = load_script_times(record)
    for nn in numbers:
        entry = time_chapter(nn, all_scripts[nn], src)
        data[nn] = entry
        Path(record).write_text(dump_script_times(data), encoding="utf-8")
        log(
            f"{nn}: live sections {entry['live_compute_s']:.1f} s, all sections "
            f"{entry['total_compute_s']:.1f} s ({entry['machine']}, "
            f"{entry['torch_threads']} torch threads)"
        )
    return data


# ---------------------------------------------------------------- minutes per chapter


def _run_times(path: Path = RUN_TIMES) -> dict[str, dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["notebooks"]


def estimated_compute(nn: str, run_times: dict | None = None, src: Path = NOTEBOOKS) -> int:
    """An upper bound of a chapter's compute minutes before its script is timed: the whole
    notebook's measured run time (book/data/run-times.json), rounded up to a minute."""
    run_times = _run_times() if run_times is None else run_times
    entry = run_times.get(notebook_path(nn, src).name)
    if entry is None:
        raise ValueError(f"chapter {nn} has no run time in {RUN_TIMES.name}: run tools/execute.py")
    return math.ceil(entry["wall_s"] / 60)


def measured_sections(nn: str, script: dict, measured: dict) -> dict[str, float] | None:
    """The measured seconds per section of chapter ``nn``, or None if it was not timed.

    A record whose sections are no longer the script's (the notebook changed) is refused.
    """
    entry = measured.get(nn)
    if entry is None:
        return None
    if set(entry["sections"]) != set(modes(script)):
        raise ValueError(
            f"chapter {nn}: the sections timed in {SCRIPT_TIMES.name} are not its script's "
            f"sections any more; time it again: python tools/workshop.py time-scripts {nn}"
        )
    return entry["sections"]


def chapter_minutes(nn: str, script: dict, measured: dict, run_times: dict | None = None) -> dict:
    """{talk, compute, timing, teaching} of a chapter: talk from its script, compute measured
    (the live sections' seconds, rounded up to a minute) or estimated."""
    talk = talk_minutes(script)
    secs = measured_sections(nn, script, measured)
    if secs is None:
        compute, timing = estimated_compute(nn, run_times), "estimated"
    else:
        live, _ = _summed(secs, script)
        compute, timing = math.ceil(live / 60), "measured"
    return {"talk": talk, "compute": compute, "timing": timing, "teaching": talk + compute}


def excerpt_minutes(
    nn: str, names: list[str], script: dict, measured: dict, run_times: dict | None = None
) -> int:
    """Minutes of an excerpt (some sections of a chapter, run in the room from a fresh kernel):
    their talk minutes plus their compute, every listed section's seconds when measured, else
    the chapter's estimated compute (the whole notebook's, an upper bound)."""
    unknown = [n for n in names if n not in modes(script)]
    if unknown:
        raise ValueError(f"chapter {nn} has no sections {unknown}")
    secs = measured_sections(nn, script, measured)
    if secs is None:
        compute = estimated_compute(nn, run_times)
    else:
        compute = math.ceil(round(sum(secs[n] for n in names), 1) / 60)
    return talk_minutes(script, names) + compute


def exercise_minutes() -> dict[str, int]:
    """Minutes of exercises per chapter ("01": ...): the catalog's plus the discussion's."""
    from gptlab.exercises import catalog

    minutes: dict[str, int] = {}
    for row in catalog():
        nn = f"{row['chapter']:02d}"
        minutes[nn] = minutes.get(nn, DISCUSSION_MINUTES) + row["minutes"]
    return minutes


def catalog_minutes(nn: str) -> dict[str, int]:
    """The minutes of chapter ``nn``'s exercises by name (and 'discussion'), from the catalog."""
    from gptlab.exercises import catalog

    found = {r["name"]: r["minutes"] for r in catalog() if f"{r['chapter']:02d}" == nn}
    found["discussion"] = DISCUSSION_MINUTES
    return found


# ---------------------------------------------------------------- agendas (book/agendas.yml)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def minutes_of(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def rebalance_day(agenda_id: str, d: int, day: dict, rows: dict, minutes_of_excerpt) -> None:
    """Give every session of a day its derived minutes, the flexible session what is left of
    the day, and every session its start; ValueError names the agenda and day when the
    flexible session would fall below FLEXIBLE_MIN minutes."""
    sessions = day["sessions"]
    flexible = [s for s in sessions if s.get("flexible")]
    where = f"agenda {agenda_id!r}, day {d}"
    if len(flexible) != 1:
        raise ValueError(f"{where}: needs exactly one flexible session, has {len(flexible)}")
    for s in sessions:
        if s["part"] == "teaching":
            s["minutes"] = rows[s["chapter"]]["teaching"]
        elif s["part"] == "excerpt":
            s["minutes"] = minutes_of_excerpt(s["chapter"], s["sections"])
        elif s["part"] == "exercises" and "exercises" in s:
            table = catalog_minutes(s["chapter"])
            s["minutes"] = sum(table[name] for name in s["exercises"])
    span = minutes_of(day["end"]) - minutes_of(day["start"])
    left = span - sum(s["minutes"] for s in sessions if not s.get("flexible"))
    if left < FLEXIBLE_MIN:
        raise ValueError(
            f"{where}: the flexible session {flexible[0]['title']!r} would last {left} minutes, "
            f"fewer than {FLEXIBLE_MIN}: shorten or move a session of that day in "
            f"{AGENDAS.name}"
        )
    flexible[0]["minutes"] = left
    clock = minutes_of(day["start"])
    for s in sessions:
        s["start"] = hhmm(clock)
        clock += s["minutes"]


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_SESSION_KEYS = (
    "start",
    "minutes",
    "part",
    "chapter",
    "sections",
    "exercises",
    "flexible",
    "title",
)
_CHAPTER_KEYS = ("title", "talk", "compute", "timing", "teaching", "exercises")


def _flow(mapping: dict, keys: tuple[str, ...]) -> str:
    unknown = set(mapping) - set(keys)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in {mapping}")
    parts = []
    for key in keys:
        if key not in mapping:
            continue
        value = mapping[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, list):
            text = "[" + ", ".join(_q(v) for v in value) + "]"
        elif key in ("part", "timing"):
            text = value
        else:
            text = _q(value)
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def dump_agendas(data: dict, header: str) -> str:
    """book/agendas.yml in its one canonical layout (``header``: the comment lines on top)."""
    out = [header.rstrip("\n"), "", "chapters:"]
    for nn, row in data["chapters"].items():
        out.append(f"  {_q(nn)}: {_flow(row, _CHAPTER_KEYS)}")
    out += ["", "agendas:"]
    for i, agenda in enumerate(data["agendas"]):
        if i:
            out.append("")
        out += [
            f"  - id: {agenda['id']}",
            f"    title: {_q(agenda['title'])}",
            f"    length_minutes: {agenda['length_minutes']}",
            "    days:",
        ]
        for day in agenda["days"]:
            out += [
                f"      - start: {_q(day['start'])}",
                f"        end: {_q(day['end'])}",
                "        sessions:",
            ]
            out += [f"          - {_flow(s, _SESSION_KEYS)}" for s in day["sessions"]]
    return "\n".join(out) + "\n"


def read_agendas(path: Path = AGENDAS) -> tuple[dict, str]:
    """The agendas file's data and its header (the comment lines before ``chapters:``)."""
    text = Path(path).read_text(encoding="utf-8")
    start = re.search(r"^chapters:", text, re.M)
    if start is None:
        raise ValueError(f"{path} has no 'chapters:' key")
    return yaml.safe_load(text), text[: start.start()]


def sync_timings(
    agendas: Path = AGENDAS,
    scripts: Path = SCRIPTS,
    record: Path = SCRIPT_TIMES,
    guide: Path = GUIDE,
    term_page: Path = TERM_PAGE,
    check: bool = False,
) -> bool:
    """Carry the scripts' talk minutes and the measured (or estimated) compute minutes into
    book/agendas.yml: every chapter row, every teaching, excerpt and exercise session, the
    flexible session of each day and every start; then rewrite the guide's tables.

    Also brings each record's live and total seconds up to the scripts' current modes. Returns
    True if a file changed; with ``check=True`` nothing is written and ValueError says what is
    out of date. ValueError too when a day's flexible session would fall below FLEXIBLE_MIN.
    """
    all_scripts = load_scripts(scripts)
    problems = script_problems(all_scripts)
    if problems:
        raise ValueError("the scripts do not match the notebooks:\n" + "\n".join(problems))
    measured = load_script_times(record)
    for nn, entry in measured.items():
        if nn in all_scripts and measured_sections(nn, all_scripts[nn], measured):
            entry["live_compute_s"], entry["total_compute_s"] = _summed(
                entry["sections"], all_scripts[nn]
            )
    run_times = _run_times()
    data, header = read_agendas(agendas)
    ex_minutes = exercise_minutes()
    for nn, row in data["chapters"].items():
        row.update(chapter_minutes(nn, all_scripts[nn], measured, run_times))
        row["exercises"] = ex_minutes.get(nn, row["exercises"])  # 00 has no checked exercises

    def minutes_of_excerpt(nn, names):
        return excerpt_minutes(nn, names, all_scripts[nn], measured, run_times)

    for agenda in data["agendas"]:
        for d, day in enumerate(agenda["days"], 1):
            rebalance_day(agenda["id"], d, day, data["chapters"], minutes_of_excerpt)
    changed = False
    for path, new in ((Path(agendas), dump_agendas(data, header)),):
        if path.read_text(encoding="utf-8") != new:
            if check:
                raise ValueError(
                    f"{path} is out of date: run python tools/workshop.py sync-timings"
                )
            path.write_text(new, encoding="utf-8")
            changed = True
    if measured and Path(record).read_text(encoding="utf-8") != dump_script_times(measured):
        if check:
            raise ValueError(f"{record} is out of date: run python tools/workshop.py sync-timings")
        Path(record).write_text(dump_script_times(measured), encoding="utf-8")
        changed = True
    tables = write_guide_tables(
        guide, term_page, check=check, data=data, scripts=all_scripts, measured=measured
    )
    return tables or changed


# ---------------------------------------------------------------- the generated tables


def _markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- generated: {name} (python tools/workshop.py guide-tables) -->",
        f"<!-- end: {name} -->",
    )


def replace_blocks(text: str, blocks: dict[str, str], where: str) -> str:
    """Put each block's content between its markers in ``text``."""
    for name, content in blocks.items():
        start, end = _markers(name)
        if start not in text or end not in text:
            raise ValueError(f"{where} has no markers for {name}: add {start!r} and {end!r}")
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = f"{before}{start}\n{content}\n{end}{after}"
    return text


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: list[str], align: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def chapter_table(data: dict, run_times: dict | None = None) -> str:
    """The table of minutes per chapter (instructor guide), from book/agendas.yml."""
    from execute import run_time_phrase  # tools/execute.py: how the book states a run time

    from gptlab.exercises import catalog

    run_times = _run_times() if run_times is None else run_times
    checked: dict[str, int] = {}
    for row in catalog():
        nn = f"{row['chapter']:02d}"
        checked[nn] = checked.get(nn, 0) + 1
    rows = []
    for nn, c in data["chapters"].items():
        phrase = run_time_phrase(run_times[notebook_path(nn).name]["wall_s"])
        total = c["teaching"] + c["exercises"]
        rows.append([nn, c["title"], checked.get(nn, 0), phrase, c["talk"], c["compute"]])
        rows[-1] += [c["timing"], c["teaching"], c["exercises"], total]
    header = ["chapter", "title", "checked exercises", "notebook run time", "talk (min)"]
    header += ["compute (min)", "timing", "teaching (min)", "exercises (min)", "total (min)"]
    align = ["---", "---", "---:", "---", "---:", "---:", "---", "---:", "---:", "---:"]
    return _table(header, align, rows)


def agenda_tables(agenda: dict) -> str:
    """An agenda's tables: one per day (with a 'Day N' line when there are several)."""
    parts = []
    for d, day in enumerate(agenda["days"], 1):
        rows = [
            [
                f"{s['start']}–{hhmm(minutes_of(s['start']) + s['minutes'])}",
                s["minutes"],
                s["title"],
            ]
            for s in day["sessions"]
        ]
        table = _table(["time", "minutes", "session"], ["---", "---:", "---"], rows)
        parts.append(f"**Day {d}**\n\n{table}" if len(agenda["days"]) > 1 else table)
    return "\n\n".join(parts)


def first_exercise_label(nn: str, src: Path = NOTEBOOKS) -> str | None:
    """The label of the first exercise in chapter ``nn``'s notebook (``ex-07-...``), if any."""
    m = re.search(r":label: (ex-\d\d-[\w-]+)", notebook_path(nn, src).read_text(encoding="utf-8"))
    return m.group(1) if m else None


def script_block(nn: str, script: dict, row: dict, measured: dict) -> str:
    """A chapter's run-and-explain script for the guide: the sentence every learner leaves
    with, one row per section, and the links to the chapter's material."""
    secs = measured_sections(nn, script, measured)
    rows = []
    for s in script["sections"]:
        seconds = "–" if secs is None else f"{secs[s['section']]:.1f}"
        rows.append([s["section"], s["mode"], s["talk_minutes"], seconds, s["note"]])
    table = _table(
        ["section", "mode", "talk (min)", "compute (s)", "what to do"],
        ["---", "---", "---:", "---:", "---"],
        rows,
    )
    stem = notebook_path(nn).stem
    label = first_exercise_label(nn)
    exercises = (
        f"{{ref}}`in the chapter <{label}>`, {{ref}}`in the catalog <exercise-catalog>`"
        if label
        else "none to check (the setup check is its exercise); {ref}`catalog <exercise-catalog>`"
    )
    timing = (
        f"compute {row['compute']} min measured by `time-scripts`"
        if row["timing"] == "measured"
        else f"compute {row['compute']} min estimated from the notebook's whole run time"
    )
    return (
        f"(script-{nn})=\n"
        f"**Run-and-explain script** (talk {row['talk']} min, {timing}). "
        f"**Every learner leaves with:** {' '.join(script['must_leave_with'].split())}\n\n"
        f"{table}\n\n"
        f"**Links.** Script: the table above (`book/scripts.yml`) · notebook: "
        f"{{doc}}`../notebooks/{stem}` · diagram: {{ref}}`the opening diagram <diagram-{nn}>`"
        f" · exercises: {exercises}"
        f' · slides: <a href="../slides/{stem}.html">{stem}.html</a> (on the website; '
        f"`make slides` writes the same deck to `_build/slides/{stem}.html` for the room)"
    )


def guide_blocks(
    data: dict | None = None, scripts: dict | None = None, measured: dict | None = None
) -> dict[str, str]:
    """Every generated block of the instructor guide, by name (default: from the files)."""
    data = read_agendas()[0] if data is None else data
    scripts = load_scripts() if scripts is None else scripts
    measured = load_script_times() if measured is None else measured
    blocks = {"chapter-minutes": chapter_table(data)}
    for agenda in data["agendas"]:
        blocks[f"agenda-{agenda['id']}"] = agenda_tables(agenda)
    for nn, row in data["chapters"].items():
        blocks[f"script-{nn}"] = script_block(nn, scripts[nn], row, measured)
    return blocks


def _write(path: Path, new: str, check: bool) -> bool:
    if path.read_text(encoding="utf-8") == new:
        return False
    if check:
        raise ValueError(
            f"the tables in {path} are out of date: run python tools/workshop.py guide-tables"
        )
    path.write_text(new, encoding="utf-8")
    return True


def write_guide_tables(
    guide: Path = GUIDE,
    term_page: Path = TERM_PAGE,
    check: bool = False,
    data: dict | None = None,
    scripts: dict | None = None,
    measured: dict | None = None,
) -> bool:
    """Write the generated tables of the instructor guide and of the term plan page (from
    ``data``, ``scripts`` and ``measured``, by default the files); True if a file changed.
    With ``check=True`` nothing is written and ValueError says what is out of date."""
    guide, term_page = Path(guide), Path(term_page)
    blocks = guide_blocks(data, scripts, measured)
    changed = _write(
        guide, replace_blocks(guide.read_text(encoding="utf-8"), blocks, guide.name), check
    )
    text = term_page.read_text(encoding="utf-8")
    return _write(term_page, replace_blocks(text, term_blocks(), term_page.name), check) or changed


# ---------------------------------------------------------------- the term plan


def load_term(path: Path = TERM) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def bib_keys(path: Path = ROOT / "book" / "references.bib") -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", Path(path).read_text(encoding="utf-8"), re.M))


def term_problems(term: dict) -> list[str]:
    """What is wrong with the term plan (unknown readings, exercises or chapters, missing
    chapters, a length outside 12-14 weeks, rubric weights that do not add up to 100)."""
    from gptlab.exercises import catalog

    problems, keys = [], bib_keys()
    by_name = {r["name"]: f"{r['chapter']:02d}" for r in catalog()}
    weeks = term["weeks"]
    if not 12 <= len(weeks) <= 14:
        problems.append(f"the term has {len(weeks)} weeks, not 12 to 14")
    if [w["week"] for w in weeks] != list(range(1, len(weeks) + 1)):
        problems.append("the weeks are not numbered 1, 2, 3, ... in order")
    taught = [nn for w in weeks for nn in w.get("chapters", [])]
    if taught != sorted(taught) or len(set(taught)) != len(taught):
        problems.append(f"the chapters are not taught once each, in order: {taught}")
    for nn in chapters():
        if nn not in taught:
            problems.append(f"chapter {nn} is in no week")
    assigned = [name for w in weeks for name in w.get("exercises", [])]
    for w in weeks:
        for key in w.get("readings", []):
            if key not in keys:
                problems.append(f"week {w['week']}: reading {key!r} is not in references.bib")
        for name in w.get("exercises", []):
            if name not in by_name:
                problems.append(f"week {w['week']}: no exercise {name!r} in the catalog")
            elif by_name[name] not in w.get("chapters", []):
                problems.append(f"week {w['week']}: {name!r} belongs to chapter {by_name[name]}")
    for name in by_name:
        if assigned.count(name) != 1:
            problems.append(f"exercise {name!r} is assigned {assigned.count(name)} times, not once")
    weights = [r["weight"] for r in term["project"]["rubric"]]
    if sum(weights) != 100:
        problems.append(f"the rubric's weights add up to {sum(weights)}, not 100")
    return problems


def term_blocks(term: dict | None = None) -> dict[str, str]:
    """The generated blocks of book/term-plan.md: weeks, project, milestones, rubric."""
    term = load_term() if term is None else term
    rows = []
    for w in term["weeks"]:
        chapter = " and ".join(
            f"{{doc}}`{nn} <../notebooks/{notebook_path(nn).stem}>`" for nn in w.get("chapters", [])
        )
        readings = "; ".join(f"{{cite:t}}`{key}`" for key in w.get("readings", []))
        exercises = ", ".join(f"`{name}`" for name in w.get("exercises", []))
        topic = w["topic"] if w.get("chapters") else f"**{w['topic']}**"
        rows.append([w["week"], chapter or "–", topic, readings or "–", exercises or "–"])
    weeks = _table(
        ["week", "chapter", "topic", "reading", "exercises (checked)"],
        ["---:", "---", "---", "---", "---"],
        rows,
    )
    homework = _table(
        ["week", "homework"], ["---:", "---"], [[w["week"], w["homework"]] for w in term["weeks"]]
    )
    milestones = _table(
        ["week", "project milestone"],
        ["---:", "---"],
        [[w["week"], w["project"]] for w in term["weeks"] if w.get("project")],
    )
    rubric = _table(
        ["criterion", "weight (%)", "what earns full marks"],
        ["---", "---:", "---"],
        [[r["criterion"], r["weight"], r["full_marks"]] for r in term["project"]["rubric"]],
    )
    project = term["project"]
    options = "\n".join(f"{i}. {' '.join(o.split())}" for i, o in enumerate(project["options"], 1))
    deliverables = "\n".join(f"- {' '.join(d.split())}" for d in project["deliverables"])
    brief = (
        f"**{project['title']}.** {' '.join(project['brief'].split())}\n\n"
        f"Three kinds of project fit the course; a pair may propose another of the same size.\n\n"
        f"{options}\n\n**Deliverables.**\n\n{deliverables}"
    )
    return {
        "term-weeks": weeks,
        "term-homework": homework,
        "term-project": brief,
        "term-milestones": milestones,
        "term-rubric": rubric,
    }

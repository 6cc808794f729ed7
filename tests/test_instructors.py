"""The instructor guide: its tables agree with book/agendas.yml, and every agenda adds up.

book/agendas.yml is the source of the timings; book/instructors.md shows them as tables. A new
chapter needs a row in both (the tests say so). A chapter's exercise minutes come from
gptlab.exercises.catalog() (plus the discussion), and an agenda's exercise session lists the
exercises done in the room and takes exactly their catalog minutes; teaching minutes are the
per-chapter table's. The exercise catalog in the guide is written by tools/workshop.py.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gptlab.exercises import catalog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import workshop  # noqa: E402  (tools/workshop.py)

GUIDE = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
DATA = yaml.safe_load((ROOT / "book" / "agendas.yml").read_text(encoding="utf-8"))
CHAPTERS = DATA["chapters"]
AGENDAS = DATA["agendas"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARTS = {"teaching", "exercises", "break", "other"}


def _minutes(hhmm: str) -> int:
    t = datetime.strptime(hhmm, "%H:%M")
    return t.hour * 60 + t.minute


def _hhmm(minutes: int) -> str:
    return (datetime(2000, 1, 1) + timedelta(minutes=minutes)).strftime("%H:%M")


def _section(label: str) -> str:
    """The text after the MyST label ``(label)=`` up to the next label or level-2 heading."""
    start = GUIDE.index(f"({label})=")
    rest = GUIDE[start + len(label) + 3 :]
    end = re.search(r"^\([\w-]+\)=$|^## ", rest, re.M)
    return rest[: end.start()] if end else rest


def _tables(text: str) -> list[list[list[str]]]:
    """Markdown tables in ``text``: a list of tables, each a list of rows of stripped cells."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = [cells]  # header
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current is not None:
            tables.append(current[1:])
            current = None
    if current is not None:
        tables.append(current[1:])
    return tables


CATALOG = catalog()
EXERCISE_MINUTES = workshop.exercise_minutes()  # per chapter: the catalog's + the discussion


def _exercise_count(chapter: str) -> int:
    return sum(f"{row['chapter']:02d}" == chapter for row in CATALOG)


def _first_cell(path: Path) -> str:
    import nbformat

    return nbformat.read(path, as_version=4).cells[0].source


def test_every_notebook_has_chapter_minutes():
    for path in NOTEBOOKS:
        nn = path.name[:2]
        assert nn in CHAPTERS, (
            f"{path.name} has no timing: add chapter {nn!r} to `chapters` in "
            "book/agendas.yml and a row to the table in book/instructors.md"
        )
        row = CHAPTERS[nn]
        assert isinstance(row["teaching"], int) and row["teaching"] > 0
        assert isinstance(row["exercises"], int) and row["exercises"] >= 0


def test_chapter_table_matches_agendas_yml():
    (table,) = _tables(_section("chapter-minutes"))
    rows = {r[0]: r for r in table}
    assert list(rows) == sorted(CHAPTERS), "the table lists the chapters of agendas.yml, in order"
    for nn, spec in CHAPTERS.items():
        _, title, checked, run_time, teaching, exercises, total = rows[nn]
        assert title == spec["title"]
        assert (int(teaching), int(exercises)) == (spec["teaching"], spec["exercises"]), (
            f"chapter {nn}"
        )
        assert int(total) == spec["teaching"] + spec["exercises"], (
            f"chapter {nn}: total is not the sum"
        )
        assert int(checked) == _exercise_count(nn), (
            f"chapter {nn}: checked exercises in gptlab.exercises.ch{nn}"
        )
        if nn in EXERCISE_MINUTES:
            assert spec["exercises"] == EXERCISE_MINUTES[nn], (
                f"chapter {nn}: exercise minutes are the catalog's plus "
                f"{workshop.DISCUSSION_MINUTES} for the discussion and the concept check"
            )
        notebook = next((p for p in NOTEBOOKS if p.name.startswith(nn + "_")), None)
        if notebook is not None:
            assert run_time in _first_cell(notebook), (
                f"chapter {nn}: run time differs from the notebook's"
            )


@pytest.mark.parametrize("agenda", AGENDAS, ids=[a["id"] for a in AGENDAS])
def test_agenda_adds_up(agenda):
    total = 0
    used: dict[str, dict[str, int]] = {}
    for d, day in enumerate(agenda["days"], 1):
        clock = _minutes(day["start"])
        for s in day["sessions"]:
            where = f"{agenda['id']} day {d} {s['start']} {s['title']!r}"
            assert s["start"] == _hhmm(clock), f"{where} should start at {_hhmm(clock)}"
            assert s["part"] in PARTS, where
            assert isinstance(s["minutes"], int) and s["minutes"] > 0, where
            if s["part"] in ("teaching", "exercises"):
                assert s.get("chapter") in CHAPTERS, (
                    f"{where}: a {s['part']} session names its chapter"
                )
                used.setdefault(s["chapter"], {"teaching": 0, "exercises": 0})[s["part"]] += s[
                    "minutes"
                ]
                if s["part"] == "exercises" and s["chapter"] in EXERCISE_MINUTES:
                    # a choice of the chapter's exercises, timed by the catalog
                    assert "exercises" in s, f"{where}: list the exercises done in the room"
                    minutes = {
                        r["name"]: r["minutes"]
                        for r in CATALOG
                        if f"{r['chapter']:02d}" == s["chapter"]
                    }
                    minutes["discussion"] = workshop.DISCUSSION_MINUTES
                    unknown = set(s["exercises"]) - set(minutes)
                    assert not unknown, f"{where}: no such exercise in the catalog: {unknown}"
                    assert s["minutes"] == sum(minutes[n] for n in s["exercises"]), (
                        f"{where}: the minutes are not the catalog's for {s['exercises']}"
                    )
            else:
                assert "chapter" not in s, (
                    f"{where}: only teaching and exercise sessions count for a chapter"
                )
            clock += s["minutes"]
        assert _hhmm(clock) == day["end"], (
            f"{agenda['id']} day {d} ends at {_hhmm(clock)}, not {day['end']}"
        )
        total += _minutes(day["end"]) - _minutes(day["start"])
    assert total == agenda["length_minutes"], f"{agenda['id']}: days add up to {total} minutes"
    for nn, minutes in used.items():
        assert minutes["teaching"] == CHAPTERS[nn]["teaching"], (
            f"{agenda['id']}: chapter {nn} gets {minutes['teaching']} minutes of teaching, "
            f"the table says {CHAPTERS[nn]['teaching']}"
        )
        assert minutes["exercises"] <= CHAPTERS[nn]["exercises"], (
            f"{agenda['id']}: chapter {nn} gets more exercise minutes than it has"
        )
    assert any(s["part"] == "break" for day in agenda["days"] for s in day["sessions"])


@pytest.mark.parametrize("agenda", AGENDAS, ids=[a["id"] for a in AGENDAS])
def test_agenda_tables_match_agendas_yml(agenda):
    tables = _tables(_section(f"agenda-{agenda['id']}"))
    assert len(tables) == len(agenda["days"]), f"{agenda['id']}: one table per day"
    for table, day in zip(tables, agenda["days"], strict=True):
        expected = [
            [
                f"{s['start']}–{_hhmm(_minutes(s['start']) + s['minutes'])}",
                str(s["minutes"]),
                s["title"],
            ]
            for s in day["sessions"]
        ]
        assert table == expected, (
            f"{agenda['id']}: the table in instructors.md differs from agendas.yml"
        )


def test_three_agendas_of_the_stated_lengths():
    lengths = {a["id"]: a["length_minutes"] for a in AGENDAS}
    assert lengths == {"taster": 180, "one-day": 480, "two-day": 960}
    assert [len(a["days"]) for a in AGENDAS] == [1, 1, 2]


def test_guide_covers_setup_offline_and_learner_edition():
    for needle in [
        "gptlab doctor",
        "ready: everything the course needs is here.",
        "make lab",
        "gptlab data fetch --from-file",
        "pip download -d wheelhouse",
        "--no-index",
        "--find-links wheelhouse",
        "make learner",
        "tools/workshop.py learner",
        "estimates",
    ]:
        assert needle in GUIDE, f"the instructor guide should mention {needle!r}"
    for path in NOTEBOOKS:
        nn = path.name[:2]
        assert re.search(rf"^### {nn} · ", GUIDE, re.M), f"no 'Chapter by chapter' section for {nn}"
    assert GUIDE.count("**Objectives.**") >= len(NOTEBOOKS)


def test_exercise_catalog_in_the_guide_is_current():
    assert workshop.write_exercise_table(ROOT / "book" / "instructors.md", check=True) is False

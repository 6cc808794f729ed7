"""The instructor guide: scripts, timings, agendas and the term plan agree and add up.

book/scripts.yml holds a run-and-explain script per chapter (one entry per section of its
notebook); book/data/script-times.json what `tools/workshop.py time-scripts` measured;
book/agendas.yml the minutes per chapter and the agendas; book/term-plan.yml the term. The tables
of book/instructors.md and book/term-plan.md are written from them by tools/teaching.py. Several
checks below are written independently of tools/teaching.py (headings, sums, clock times), so
that the two check each other.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from gptlab.exercises import catalog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import teaching  # noqa: E402  (tools/teaching.py)
import workshop  # noqa: E402  (tools/workshop.py)

GUIDE = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
DATA = yaml.safe_load((ROOT / "book" / "agendas.yml").read_text(encoding="utf-8"))
CHAPTERS = DATA["chapters"]
AGENDAS = DATA["agendas"]
SCRIPTS = yaml.safe_load((ROOT / "book" / "scripts.yml").read_text(encoding="utf-8"))["chapters"]
TIMES_PATH = ROOT / "book" / "data" / "script-times.json"
TIMES = json.loads(TIMES_PATH.read_text()) if TIMES_PATH.exists() else {}
RUN_TIMES = json.loads((ROOT / "book" / "data" / "run-times.json").read_text())["notebooks"]
TERM = yaml.safe_load((ROOT / "book" / "term-plan.yml").read_text(encoding="utf-8"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARTS = {"teaching", "exercises", "excerpt", "break", "other"}
CATALOG = catalog()
EXERCISE_MINUTES = workshop.exercise_minutes()  # per chapter: the catalog's + the discussion


def _notebook(nn: str) -> Path:
    return next(p for p in NOTEBOOKS if p.name.startswith(nn + "_"))


def _minutes(hhmm: str) -> int:
    t = datetime.strptime(hhmm, "%H:%M")
    return t.hour * 60 + t.minute


def _hhmm(minutes: int) -> str:
    return (datetime(2000, 1, 1) + timedelta(minutes=minutes)).strftime("%H:%M")


def _section(label: str, text: str = GUIDE) -> str:
    """The text after the MyST label ``(label)=`` up to the next label or level-2 heading."""
    start = text.index(f"({label})=")
    rest = text[start + len(label) + 3 :]
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


def _headings(path: Path) -> list[str]:
    """The notebook's level-2 headings, read here without tools/teaching.py: fenced code removed
    from each markdown cell, then every line that starts with '## '."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            text = re.sub(r"^(```|~~~).*?^\1[ \t]*$", "", cell.source, flags=re.M | re.S)
            found += re.findall(r"^## +(.+?)\s*$", text, re.M)
    return found


def _exercise_count(chapter: str) -> int:
    return sum(f"{row['chapter']:02d}" == chapter for row in CATALOG)


def _first_cell(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


def _sessions():
    for agenda in AGENDAS:
        for d, day in enumerate(agenda["days"], 1):
            for s in day["sessions"]:
                yield agenda, d, s


# ---------------------------------------------------------------- the scripts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_script_covers_the_notebooks_sections_in_order(path):
    nn = path.name[:2]
    assert nn in SCRIPTS, f"{path.name} has no run-and-explain script in book/scripts.yml"
    listed = [s["section"] for s in SCRIPTS[nn]["sections"]]
    assert listed == ["Opening", *_headings(path)], (
        f"chapter {nn}: the script must list Opening and then every '## ' heading of "
        f"{path.name}, once each and in order"
    )


def test_scripts_are_well_formed():
    assert sorted(SCRIPTS) == [p.name[:2] for p in NOTEBOOKS]
    assert teaching.script_problems(teaching.load_scripts()) == []
    for nn, script in SCRIPTS.items():
        assert set(script) == {"must_leave_with", "sections"}, nn
        assert len(script["must_leave_with"].split()) >= 8, f"chapter {nn}: must_leave_with"
        for s in script["sections"]:
            assert set(s) == {"section", "mode", "talk_minutes", "note"}, (nn, s)
            assert s["mode"] in ("live", "talk", "skip-if-late"), (nn, s["section"])
            assert isinstance(s["talk_minutes"], int) and s["talk_minutes"] >= 0
            assert s["note"].strip() and "|" not in s["note"]
        assert any(s["mode"] == "live" for s in script["sections"]), f"chapter {nn}: nothing live"


# ---------------------------------------------------------------- minutes per chapter


def test_every_notebook_has_chapter_minutes():
    for path in NOTEBOOKS:
        nn = path.name[:2]
        assert nn in CHAPTERS, (
            f"{path.name} has no timing: add chapter {nn!r} to `chapters` in book/agendas.yml"
        )
        row = CHAPTERS[nn]
        for key in ("talk", "compute", "teaching", "exercises"):
            assert isinstance(row[key], int) and row[key] >= 0, (nn, key)
        assert row["teaching"] == row["talk"] + row["compute"], f"chapter {nn}: teaching"
        assert row["talk"] == sum(s["talk_minutes"] for s in SCRIPTS[nn]["sections"]), (
            f"chapter {nn}: talk minutes are the sum of its script's (python tools/workshop.py "
            "sync-timings)"
        )
        assert row["timing"] in ("measured", "estimated"), nn


@pytest.mark.parametrize("nn", sorted(CHAPTERS))
def test_compute_minutes_are_measured_where_the_agenda_says_so(nn):
    row = CHAPTERS[nn]
    if row["timing"] == "measured":
        assert nn in TIMES, f"chapter {nn} says measured but script-times.json has no entry"
        entry = TIMES[nn]
        assert {"measured", "machine", "torch_threads", "sections"} <= set(entry)
        assert set(entry["sections"]) == {s["section"] for s in SCRIPTS[nn]["sections"]}
        live = sum(
            entry["sections"][s["section"]] for s in SCRIPTS[nn]["sections"] if s["mode"] == "live"
        )
        assert entry["live_compute_s"] == pytest.approx(live, abs=0.051)
        assert entry["total_compute_s"] == pytest.approx(sum(entry["sections"].values()), abs=0.051)
        assert row["compute"] == math.ceil(entry["live_compute_s"] / 60)
    else:
        assert nn not in TIMES, f"chapter {nn} was timed: run python tools/workshop.py sync-timings"
        wall = RUN_TIMES[_notebook(nn).name]["wall_s"]
        assert row["compute"] == math.ceil(wall / 60), (
            f"chapter {nn}: an estimated compute is the whole notebook's run time, rounded up"
        )


def test_script_times_record_is_in_its_one_format():
    if TIMES:
        assert TIMES_PATH.read_text() == json.dumps(TIMES, indent=1, sort_keys=True) + "\n"
        for entry in TIMES.values():
            for value in [*entry["sections"].values(), entry["live_compute_s"]]:
                assert value == round(value, 1)


def test_chapter_table_matches_agendas_yml():
    from execute import run_time_phrase  # tools/execute.py

    (table,) = _tables(_section("chapter-minutes"))
    rows = {r[0]: r for r in table}
    assert list(rows) == sorted(CHAPTERS), "the table lists the chapters of agendas.yml, in order"
    for nn, spec in CHAPTERS.items():
        _, title, checked, run_time, talk, compute, timing, teaching_, exercises, total = rows[nn]
        assert title == spec["title"]
        assert [int(talk), int(compute), timing, int(teaching_), int(exercises)] == [
            spec["talk"], spec["compute"], spec["timing"], spec["teaching"], spec["exercises"]
        ], f"chapter {nn}"  # fmt: skip
        assert int(total) == spec["teaching"] + spec["exercises"], f"chapter {nn}: total"
        assert int(checked) == _exercise_count(nn), f"chapter {nn}: checked exercises"
        if nn in EXERCISE_MINUTES:
            assert spec["exercises"] == EXERCISE_MINUTES[nn], (
                f"chapter {nn}: exercise minutes are the catalog's plus "
                f"{workshop.DISCUSSION_MINUTES} for the discussion and the concept check"
            )
        notebook = _notebook(nn)
        assert run_time == run_time_phrase(RUN_TIMES[notebook.name]["wall_s"])
        assert run_time in _first_cell(notebook), (
            f"chapter {nn}: run time differs from the notebook's"
        )


# ---------------------------------------------------------------- the agendas


def _excerpt_minutes(nn: str, names: list[str]) -> int:
    talk = sum(s["talk_minutes"] for s in SCRIPTS[nn]["sections"] if s["section"] in names)
    if CHAPTERS[nn]["timing"] == "measured":
        return talk + math.ceil(round(sum(TIMES[nn]["sections"][n] for n in names), 1) / 60)
    return talk + CHAPTERS[nn]["compute"]


@pytest.mark.parametrize("agenda", AGENDAS, ids=[a["id"] for a in AGENDAS])
def test_agenda_adds_up(agenda):
    total = 0
    used: dict[str, dict[str, int]] = {}
    for d, day in enumerate(agenda["days"], 1):
        clock = _minutes(day["start"])
        flexible = [s for s in day["sessions"] if s.get("flexible")]
        assert len(flexible) == 1, f"{agenda['id']} day {d}: one flexible session"
        assert flexible[0]["part"] == "other" and flexible[0]["minutes"] >= 5
        assert flexible[0]["title"].startswith("Questions and catch-up")
        for s in day["sessions"]:
            where = f"{agenda['id']} day {d} {s['start']} {s['title']!r}"
            assert s["start"] == _hhmm(clock), f"{where} should start at {_hhmm(clock)}"
            assert s["part"] in PARTS, where
            assert isinstance(s["minutes"], int) and s["minutes"] > 0, where
            if s["part"] in ("teaching", "exercises", "excerpt"):
                assert s.get("chapter") in CHAPTERS, (
                    f"{where}: a {s['part']} session names its chapter"
                )
            else:
                assert "chapter" not in s, (
                    f"{where}: only teaching, excerpts and exercises have one"
                )
            if s["part"] in ("teaching", "exercises"):
                used.setdefault(s["chapter"], {"teaching": 0, "exercises": 0})[s["part"]] += s[
                    "minutes"
                ]
            if s["part"] == "excerpt":
                known = [x["section"] for x in SCRIPTS[s["chapter"]]["sections"]]
                assert s["sections"] and all(n in known for n in s["sections"]), where
                assert s["sections"] == [n for n in known if n in s["sections"]], (
                    f"{where}: list the sections in notebook order"
                )
                assert s["sections"][0] == "Opening", f"{where}: an excerpt starts with the imports"
                assert s["minutes"] == _excerpt_minutes(s["chapter"], s["sections"]), (
                    f"{where}: an excerpt lasts its sections' talk minutes plus their compute"
                )
            if s["part"] == "exercises" and s["chapter"] in EXERCISE_MINUTES:
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
            clock += s["minutes"]
        assert _hhmm(clock) == day["end"], f"{agenda['id']} day {d} ends at {_hhmm(clock)}"
        total += _minutes(day["end"]) - _minutes(day["start"])
    assert total == agenda["length_minutes"], f"{agenda['id']}: days add up to {total} minutes"
    for nn, minutes in used.items():
        if minutes["teaching"]:
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
        assert table == expected, f"{agenda['id']}: the table in instructors.md differs"


def test_four_agendas_of_the_stated_lengths():
    lengths = {a["id"]: a["length_minutes"] for a in AGENDAS}
    assert lengths == {"taster": 180, "one-day": 480, "two-day": 960, "three-day": 1440}
    assert [len(a["days"]) for a in AGENDAS] == [1, 1, 2, 3]


def _by_id(agenda_id: str) -> list[dict]:
    agenda = next(a for a in AGENDAS if a["id"] == agenda_id)
    return [s for day in agenda["days"] for s in day["sessions"]]


def _covers(sessions: list[dict], nn: str, *sections: str) -> bool:
    """A whole chapter taught, or an excerpt of it holding all of ``sections``."""
    return any(
        s.get("chapter") == nn
        and (
            s["part"] == "teaching"
            or (s["part"] == "excerpt" and set(sections) <= set(s["sections"]))
        )
        for s in sessions
    )


def _code(nn: str, names: list[str]) -> str:
    nb = nbformat.read(_notebook(nn), as_version=4)
    return "\n".join(
        nb.cells[i].source
        for title, cells in teaching.sections(nb)
        if title in names
        for i in cells
    )


def test_the_taster_ends_on_a_trained_model():
    """Its last sessions before the wrap-up: the reference model generating at several
    temperatures (08) and a trained model's attention maps with a named head (14)."""
    sessions = _by_id("taster")
    *_, gen, inside, wrap_up = sessions
    assert (gen["part"], gen["chapter"], inside["part"], inside["chapter"]) == (
        "excerpt", "08", "excerpt", "14"
    )  # fmt: skip
    assert wrap_up["part"] == "other" and "wrap-up" in wrap_up["title"].lower()
    code = _code("08", gen["sections"])
    assert 'gptlab.pretrained("shakespeare")' in code, "08's excerpt loads the reference model"
    temperatures = {float(t) for t in re.findall(r"temperature=([0-9.]+)", code)}
    assert len(temperatures) >= 3 and 0 in temperatures, temperatures  # greedy and sampling
    code = _code("14", inside["sections"])
    assert 'gptlab.pretrained("shakespeare")' in code and "attention_maps(" in code
    assert "heatmap(" in code and '"previous token"' in code


def test_the_workshops_train_and_fine_tune():
    one_day, two_day, three_day = _by_id("one-day"), _by_id("two-day"), _by_id("three-day")
    run, sample = "4. A short training run", "6. The reference model"
    assert _covers(one_day, "07", run, sample), "the 1-day workshop runs 07's short run"
    assert _covers(two_day, "07", run, sample)
    assert _covers(two_day, "10", "7. Supervised fine-tuning") or _covers(
        two_day, "11", "5. LoRA against full fine-tuning on the genre task"
    ), "the 2-day workshop fine-tunes (10 or 11)"
    taught = {s["chapter"] for s in three_day if s["part"] == "teaching"}
    assert taught >= {f"{n:02d}" for n in range(15)} - {"12"}, (
        "the 3-day workshop covers the course"
    )
    code = _code("07", [run, sample])
    assert "my_train_loop(short_model" in code and "generate(m, prompt" in code


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names read, names bound) by a cell."""
    tree = ast.parse(TransformerManager().transform_cell(code))
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read, bound


@pytest.mark.parametrize(
    "session",
    [s for _, _, s in _sessions() if s["part"] == "excerpt"],
    ids=lambda s: f"{s['chapter']}-{len(s['sections'])}",
)
def test_an_excerpt_needs_no_skipped_section(session):
    """Every name an excerpt's cells read that a cell of the notebook binds is bound by a cell
    of the excerpt, before it (a static check: the excerpt runs on its own)."""
    nb = nbformat.read(_notebook(session["chapter"]), as_version=4)
    bound_by_skipped, bound = {}, set()
    for title, cells in teaching.sections(nb):
        for i in cells:
            read, new = _names(nb.cells[i].source)
            if title in session["sections"]:
                missing = {
                    n: bound_by_skipped[n] for n in read - bound - new if n in bound_by_skipped
                }
                assert not missing, (
                    f"cell {i} of {title!r} needs names of skipped sections: {missing}"
                )
                bound |= new
            else:
                for name in new - bound:
                    bound_by_skipped.setdefault(name, title)


# ---------------------------------------------------------------- generated tables, sync


def test_agendas_yml_and_every_generated_table_are_current():
    """agendas.yml is what sync-timings derives from the scripts, the measurements and the
    catalog, in its one layout, and the tables of both pages are written from them."""
    assert teaching.sync_timings(check=True) is False
    data, header = teaching.read_agendas()
    assert teaching.dump_agendas(data, header) == (ROOT / "book" / "agendas.yml").read_text()


def test_exercise_catalog_in_the_guide_is_current():
    assert workshop.write_exercise_table(ROOT / "book" / "instructors.md", check=True) is False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_chapter_links_its_script_slides_diagram_and_exercises(path):
    nn = path.name[:2]
    body = re.search(rf"^### {nn} · .*?(?=^### |^## )", GUIDE, re.M | re.S)
    assert body, f"no 'Chapter by chapter' section for {nn}"
    text = body.group(0)
    assert (
        "**Every learner leaves with:** " + " ".join(SCRIPTS[nn]["must_leave_with"].split()) in text
    )
    assert f"`_build/slides/{path.stem}.html`" in text and "make slides" in text
    # The website carries the decks (make book and the site fixture build them into slides/).
    assert f'<a href="../slides/{path.stem}.html">' in text
    assert f"<diagram-{nn}>`" in text, f"chapter {nn}: link its opening diagram"
    assert f"{{doc}}`../notebooks/{path.stem}`" in text and "<exercise-catalog>" in text
    (table,) = _tables(text)
    assert [row[0] for row in table] == [s["section"] for s in SCRIPTS[nn]["sections"]]
    labels = re.findall(r":label: (ex-\d\d-[\w-]+)", path.read_text())
    if labels:
        assert f"<{labels[0]}>" in text, f"chapter {nn}: link its first exercise"


def _sync_copy(tmp_path, times: dict):
    for name in ("agendas.yml", "instructors.md", "term-plan.md"):
        shutil.copy(ROOT / "book" / name, tmp_path / name)
    record = tmp_path / "script-times.json"
    record.write_text(teaching.dump_script_times(times))
    kwargs = dict(
        agendas=tmp_path / "agendas.yml",
        record=record,
        guide=tmp_path / "instructors.md",
        term_page=tmp_path / "term-plan.md",
    )
    return kwargs


def _fake_times(nn: str, seconds: float) -> dict:
    names = [s["section"] for s in SCRIPTS[nn]["sections"]]
    return {
        nn: {
            "measured": "2026-01-01T00:00:00+00:00",
            "machine": "2 cores, test",
            "torch_threads": 2,
            "sections": {n: seconds for n in names},
            "live_compute_s": 0.0,
            "total_compute_s": 0.0,
        }
    }


def test_sync_timings_carries_a_measurement_into_the_agendas(tmp_path):
    kwargs = _sync_copy(tmp_path, _fake_times("08", 20.0))
    assert teaching.sync_timings(**kwargs) is True
    data = yaml.safe_load((tmp_path / "agendas.yml").read_text())
    row, script = data["chapters"]["08"], SCRIPTS["08"]
    n_live = sum(s["mode"] == "live" for s in script["sections"])
    assert row["timing"] == "measured" and row["compute"] == math.ceil(20.0 * n_live / 60)
    assert row["teaching"] == row["talk"] + row["compute"]
    for agenda in data["agendas"]:
        for day in agenda["days"]:
            assert sum(s["minutes"] for s in day["sessions"]) == _minutes(day["end"]) - _minutes(
                day["start"]
            )
            for s in day["sessions"]:
                if s.get("chapter") == "08" and s["part"] == "excerpt":
                    talk = sum(
                        x["talk_minutes"]
                        for x in script["sections"]
                        if x["section"] in s["sections"]
                    )
                    assert s["minutes"] == talk + math.ceil(20.0 * len(s["sections"]) / 60)
    record = json.loads((tmp_path / "script-times.json").read_text())
    assert record["08"]["live_compute_s"] == 20.0 * n_live
    guide = (tmp_path / "instructors.md").read_text()
    (table,) = _tables(_section("chapter-minutes", guide))
    assert next(r for r in table if r[0] == "08")[6] == "measured"
    assert "| 2. Temperature | live | 6 | 20.0 |" in guide
    assert teaching.sync_timings(**kwargs) is False  # a second run changes nothing


def test_sync_timings_refuses_to_squeeze_a_flexible_session_below_five_minutes(tmp_path):
    kwargs = _sync_copy(tmp_path, _fake_times("14", 400.0))
    before = (tmp_path / "agendas.yml").read_text()
    with pytest.raises(ValueError, match=r"agenda 'taster', day 1: the flexible session"):
        teaching.sync_timings(**kwargs)
    assert (tmp_path / "agendas.yml").read_text() == before


def test_sections_and_cell_times_are_read_as_the_scripts_need():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("import math"),
        nbformat.v4.new_markdown_cell("(a-label)=\n## 1. First\n\n```bash\n## not a heading\n```"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("## Summary\n\nText.\n\n## Further reading"),
        nbformat.v4.new_code_cell("y = 2"),
    ]
    stamps = {"iopub.status.busy": "2026-01-01T00:00:00.000000Z"}
    for i, end in ((1, "00:00:01.250000"), (3, "00:00:02.500000"), (5, "00:00:00.100000")):
        nb.cells[i].metadata["execution"] = {**stamps, "iopub.status.idle": f"2026-01-01T{end}Z"}
    assert teaching.sections(nb) == [
        ("Opening", [1]), ("1. First", [3]), ("Summary", []), ("Further reading", [5])
    ]  # fmt: skip
    assert teaching.section_seconds(nb) == {
        "Opening": 1.25, "1. First": 2.5, "Summary": 0.0, "Further reading": 0.1
    }  # fmt: skip


@pytest.mark.slow
def test_time_scripts_runs_a_notebook_and_records_its_sections(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import time"),
        nbformat.v4.new_markdown_cell("## 1. Wait"),
        nbformat.v4.new_code_cell("time.sleep(0.6)"),
        nbformat.v4.new_markdown_cell("## Summary"),
    ]
    nbformat.write(nb, src / "99_probe.ipynb")
    scripts = tmp_path / "scripts.yml"
    sections = [("Opening", "talk"), ("1. Wait", "live"), ("Summary", "talk")]
    scripts.write_text(
        yaml.safe_dump(
            {
                "chapters": {
                    "99": {
                        "must_leave_with": "x",
                        "sections": [
                            {"section": s, "mode": m, "talk_minutes": 1, "note": "n"}
                            for s, m in sections
                        ],
                    }
                }
            }  # fmt: skip
        )
    )
    record = tmp_path / "times.json"
    record.write_text('{"00": {"kept": true}}\n')
    data = teaching.time_scripts(["99"], record=record, scripts=scripts, src=src, log=lambda _: 0)
    entry = data["99"]
    assert json.loads(record.read_text()) == data and data["00"] == {"kept": True}
    assert set(entry["sections"]) == {"Opening", "1. Wait", "Summary"}
    assert 0.6 <= entry["sections"]["1. Wait"] < 5 and entry["sections"]["Summary"] == 0.0
    assert entry["live_compute_s"] == entry["sections"]["1. Wait"]
    assert entry["torch_threads"] >= 1 and "cores" in entry["machine"]
    assert nbformat.read(src / "99_probe.ipynb", as_version=4) == nb, "the notebook is not written"


# ---------------------------------------------------------------- the term plan


def test_term_plan_is_consistent():
    assert teaching.term_problems(TERM) == []
    weeks = TERM["weeks"]
    assert 12 <= len(weeks) <= 14
    taught = [nn for w in weeks for nn in w["chapters"]]
    assert taught == [f"{n:02d}" for n in range(15)], "every chapter once, in order"
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), re.M))
    names = {r["name"]: f"{r['chapter']:02d}" for r in CATALOG}
    for w in weeks:
        assert set(w["readings"]) <= keys, w["week"]
        assert all(names[e] in w["chapters"] for e in w["exercises"]), w["week"]
        assert w["homework"].strip()
    assert sorted(e for w in weeks for e in w["exercises"]) == sorted(names)
    assert any(not w["chapters"] for w in weeks), "a week is left for the project"
    assert sum(r["weight"] for r in TERM["project"]["rubric"]) == 100


def test_term_plan_page_shows_the_plan():
    page = (ROOT / "book" / "term-plan.md").read_text(encoding="utf-8")
    weeks, homework, milestones, rubric = _tables(page)
    assert [r[1] for r in homework] == [" ".join(w["homework"].split()) for w in TERM["weeks"]]
    assert [int(r[0]) for r in weeks] == [w["week"] for w in TERM["weeks"]]
    for row, w in zip(weeks, TERM["weeks"], strict=True):
        for key in w["readings"]:
            assert f"{{cite:t}}`{key}`" in row[3]
        for name in w["exercises"]:
            assert f"`{name}`" in row[4]
    assert [int(r[0]) for r in milestones] == [w["week"] for w in TERM["weeks"] if w["project"]]
    assert [r[0] for r in rubric] == [r["criterion"] for r in TERM["project"]["rubric"]]
    toc = (ROOT / "_toc.yml").read_text()
    assert "- file: book/instructors\n      - file: book/term-plan\n" in toc
    assert "{doc}`term of weekly classes <term-plan>`" in GUIDE


# ---------------------------------------------------------------- the guide's prose


def test_guide_covers_setup_offline_timing_and_learner_edition():
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
        "time-scripts",
        "sync-timings",
        "Questions and catch-up",
        "### Running the day offline",
        "make slides",
        'gptlab.pretrained("shakespeare")',
        "HF_HUB_OFFLINE=1",
    ]:
        assert needle in GUIDE, f"the instructor guide should mention {needle!r}"
    opening = GUIDE.split("## Before the day")[0]
    for agenda in AGENDAS:
        name = agenda["title"].split(" workshop")[0]
        assert name in opening, f"the opening paragraph should name the {agenda['title']}"
    assert GUIDE.count("**Objectives.**") >= len(NOTEBOOKS)

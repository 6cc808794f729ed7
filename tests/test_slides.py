"""The slide decks (make slides): one per chapter, a slide per planned section, offline.

``tools/slides.py build`` writes the decks into a temporary folder; the checks read the HTML,
then open chapter 03's deck (math and plots) in headless Chromium, served on 127.0.0.1 and as a
file, with every outside host routed to the recording proxy of tests/test_site.py.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # the authoring tools are scripts, not part of gptlab
import slides  # noqa: E402  (tools/slides.py)
from test_site import _run_chromium, _serve, controls, proxy  # noqa: E402,F401  (fixtures reused)

NOTEBOOKS = slides.chapter_notebooks(ROOT / "notebooks")
BROWSER_DECK = "03_attention"  # math in headings and text, several key plots


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("slides")
    slides.build(out)
    return out


# --- what the notebooks plan -------------------------------------------------------------------


def planned_headings(path: Path) -> list[str]:
    """Level-2 headings (outside fenced blocks) of the cells marked "slide", title cell aside.

    Written here independently of tools/slides.py, from the marks stored in the notebook.
    """
    nb = nbformat.read(path, as_version=4)
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    headings = []
    for cell in markdown[1:]:
        if cell.metadata.get("slideshow", {}).get("slide_type") != "slide":
            continue
        fence = None
        for line in cell.source.split("\n"):
            m = re.match(r"\s*(`{3,}|~{3,}|:{3,})(.*)", line)
            if fence is None and m and (m.group(1)[0] != ":" or m.group(2).startswith("{")):
                fence = m.group(1)
            elif fence and m and m.group(1).startswith(fence) and not m.group(2).strip():
                fence = None
            elif fence is None and line.startswith("## "):
                headings.append(line[3:].strip())
    return headings


def sections_of(deck_html: str) -> list[tuple[str, str]]:
    """(attributes, inner HTML) of every slide of a deck, in order."""
    return re.findall(r"<section\b([^>]*)>(.*?)</section>", deck_html, re.S)


def test_marks_in_the_notebooks_are_current():
    result = subprocess.run(
        [sys.executable, "tools/slides.py", "mark", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        "slide marks differ from the plan; run `python tools/slides.py mark`:\n"
        + result.stdout
        + result.stderr
    )


def test_mark_changes_only_slide_metadata_and_is_idempotent(tmp_path):
    """Marks removed and stored again give the committed file byte for byte; then a no-op."""
    original = ROOT / "notebooks" / f"{BROWSER_DECK}.ipynb"
    nb = nbformat.read(original, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
    copy = tmp_path / original.name
    nbformat.write(nb, copy)
    assert slides.mark(copy) is True
    assert copy.read_bytes() == original.read_bytes()
    assert slides.mark(copy) is False and slides.mark(copy, check=True) is False


def test_plan_marks_titles_sections_and_first_plots():
    nb = nbformat.read(ROOT / "notebooks" / f"{BROWSER_DECK}.ipynb", as_version=4)
    marks = slides.planned_marks(nb)
    assert set(marks) == {slides.SLIDE, slides.SHOWN, slides.SKIP}
    assert marks[0] == slides.SLIDE and nb.cells[0].source.startswith("# ")
    for cell, kind in zip(nb.cells, marks, strict=True):
        if kind == slides.SHOWN:
            assert cell.cell_type == "code" and slides.image_output(cell)
        if kind == slides.SLIDE and cell is not nb.cells[0]:
            assert re.search(r"^## ", cell.source, re.M)


# --- the decks ---------------------------------------------------------------------------------


def test_a_deck_per_chapter_and_an_index(decks):
    built = sorted(p.stem for p in decks.glob("[0-9][0-9]_*.html"))
    assert built == [p.stem for p in NOTEBOOKS]
    index = (decks / "index.html").read_text(encoding="utf-8")
    for stem in built:
        assert f'href="{stem}.html"' in index


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_one_slide_per_planned_section_in_order(decks, notebook):
    page = (decks / f"{notebook.stem}.html").read_text(encoding="utf-8")
    found = sections_of(page)
    planned = planned_headings(notebook)
    assert planned, f"{notebook.name} plans no sections"
    headings = [html.unescape(re.search(r'data-heading="([^"]*)"', a).group(1)) for a, _ in found]
    assert headings == ["", *planned], f"{notebook.name}: slides differ from planned sections"
    title = nbformat.read(notebook, as_version=4).cells[0].source.split("\n", 1)[0]
    assert f"<h1>{html.escape(title[2:].strip(), quote=False)}</h1>" in found[0][1]
    assert "<h3>Key points</h3>" in found[0][1], f"{notebook.name}: no key points on the title"
    for _, body in found[1:]:
        assert re.search(r"<h2>.+</h2>", body), f"{notebook.name}: a slide without its heading"


def test_images_exist_have_alt_text_and_match_the_marks(decks):
    for notebook in NOTEBOOKS:
        page = (decks / f"{notebook.stem}.html").read_text(encoding="utf-8")
        images = re.findall(r'<img src="([^"]+)" alt="([^"]*)">', page)
        for src, alt in images:
            assert (decks / html.unescape(src)).is_file(), f"{notebook.stem}: {src} missing"
            assert alt.strip(), f"{notebook.stem}: {src} has no alt text"
        plots = [src for src, _ in images if "/section-" in src]
        nb = nbformat.read(notebook, as_version=4)
        shown = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "-"]
        assert len(plots) == len(shown), f"{notebook.stem}: a key plot is missing from the deck"


def test_title_slides_carry_the_instructor_notes(decks):
    for notebook in NOTEBOOKS:
        page = (decks / f"{notebook.stem}.html").read_text(encoding="utf-8")
        title = sections_of(page)[0][1]
        notes = re.search(r'<aside class="notes[^"]*">(.*?)</aside>', title, re.S)
        assert notes and "Objectives." in notes.group(1), f"{notebook.stem}: no speaker notes"
        assert "Teaching notes." in notes.group(1), notebook.stem


def test_sections_without_a_script_have_their_prose_as_notes(decks):
    page = (decks / f"{BROWSER_DECK}.html").read_text(encoding="utf-8")
    for _, body in sections_of(page)[1:]:
        notes = re.search(r'<aside class="notes[^"]*">(.*?)</aside>', body, re.S).group(1)
        assert "<p>" in notes and "<span" not in notes and "{term}" not in notes


# Addresses a file may hold that point nowhere: local hosts, XML namespace names (identifiers,
# never fetched), licence texts, and the licence comment that opens a vendored .js or .css file.
LOCAL = {"localhost", "127.0.0.1"}
NAMESPACES = {
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/XML/1998/namespace",
}
ADDRESS = re.compile(r"https?://([A-Za-z0-9][A-Za-z0-9.-]*)[^\s\"'<>()\\]*")
RELATIVE_TO_SCHEME = re.compile(
    r"""(?:src|href)\s*=\s*["']//[A-Za-z0-9]|url\(\s*["']?//[A-Za-z0-9]"""
)


def outside_addresses(name: str, text: str) -> list[str]:
    """Addresses of outside hosts in a file's text (see above for what is allowed)."""
    if name.startswith("LICENSE"):
        return []
    if name.endswith((".js", ".css")):
        text = re.sub(r"\A\s*/\*.*?\*/", "", text, flags=re.S)
    found = []
    for m in ADDRESS.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if m.group(1) in LOCAL or m.group(0) in NAMESPACES:
            continue
        if re.search(r"xmlns(?::[\w.-]+)?\s*=\s*[\"']$", before):
            continue
        found.append(m.group(0))
    return found + [m.group(0) for m in RELATIVE_TO_SCHEME.finditer(text)]


def test_the_address_scan_bites():
    assert outside_addresses("a.html", '<script src="https://cdn.example.org/x.js">')
    assert outside_addresses("a.css", "@import url(//fonts.example.com/css);")
    assert outside_addresses("a.js", 'x="https://cdn.jsdelivr.net/npm/a"; /*! https://a.org */')
    assert not outside_addresses("a.js", '/*! reveal https://revealjs.com */ x="http://"+y')
    assert not outside_addresses("a.svg", '<svg xmlns="http://www.w3.org/2000/svg">')
    assert outside_addresses(
        "a.svg", '<svg xmlns="http://www.w3.org/2000/svg"><a href="http://e.org">'
    )


def test_no_output_file_points_to_an_outside_host(decks):
    offenders = []
    files = [p for p in decks.rglob("*") if p.is_file()]
    assert any(p.name == "reveal.js" for p in files) and any(p.name == "startup.js" for p in files)
    for path in files:
        text = path.read_bytes().decode("latin-1")  # binary files too: fonts, images
        offenders += [f"{path.relative_to(decks)}: {a}" for a in outside_addresses(path.name, text)]
    assert not offenders, "outside addresses in the slides:\n" + "\n".join(offenders[:40])


def test_opening_diagram_figure_directive_and_scripts(tmp_path):
    """With a diagram list, a title cell holding its figure directive and a run-and-explain
    script (as the other parts of the course will add them), a deck shows the diagram with its
    alt text, keeps the directive off the slide, and takes its notes from the script."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "book" / "images" / "diagrams").mkdir(parents=True)
    for name in ("instructors.md", "references.bib"):
        shutil.copy(ROOT / "book" / name, root / "book" / name)
    nb = nbformat.read(ROOT / "notebooks" / f"{BROWSER_DECK}.ipynb", as_version=4)
    title, rest = nb.cells[0].source.split("\n", 1)
    nb.cells[0].source = (
        f"{title}\n\n:::{{figure}} ../book/images/diagrams/03_test.svg\n:name: diagram-03\n"
        f":alt: Test diagram.\n\nCAPTION-NOT-ON-SLIDES\n:::\n{rest}"
    )
    path = root / "notebooks" / f"{BROWSER_DECK}.ipynb"
    nbformat.write(nb, path)
    assert slides.mark(path, check=True) is False, "a figure in the title cell changes no mark"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect width="9"/></svg>'
    (root / "book" / "images" / "diagrams" / "03_test.svg").write_text(svg)
    listing = {"03": [{"file": "03_test.svg", "title": "Attention", "alt": "Queries meet keys."}]}
    (root / "book" / "images" / "diagrams" / "diagrams.json").write_text(json.dumps(listing))
    heading = slides.read_chapter(path, root).sections[3].heading
    script = {
        "chapters": {
            "03": {
                "must_leave_with": "why scores are scaled",
                "sections": [
                    {
                        "section": heading,
                        "mode": "live",
                        "talk_minutes": 7,
                        "note": "Predict first.",
                    }
                ],
            }
        }
    }
    (root / "book" / "scripts.yml").write_text(json.dumps(script))  # JSON is YAML

    out = tmp_path / "out"
    slides.build(out, ["03"], root=root)
    page = (out / f"{BROWSER_DECK}.html").read_text(encoding="utf-8")
    found = sections_of(page)
    src = re.search(
        r'<figure class="diagram"><img src="([^"]+)" alt="Queries meet keys.">', found[0][1]
    )
    assert src and (out / src.group(1)).is_file()
    assert "CAPTION-NOT-ON-SLIDES" not in page and ":name:" not in page
    assert "Every learner leaves with: why scores are scaled" in found[0][1]
    notes = re.search(r"<aside[^>]*>(.*?)</aside>", found[4][1], re.S).group(1)
    assert notes == "<p>Run live · 7 min</p><p>Predict first.</p>"
    assert html.escape(heading, quote=True) in found[4][0]


# --- in a browser ------------------------------------------------------------------------------


def _rendered(dom: str) -> tuple[str, list[str], int]:
    reveal = re.search(r'<div class="(reveal\b[^"]*)"', dom)
    classes = re.findall(r'<section\b[^>]*\bclass="([^"]*)"', dom)
    slides_shown = [c for c in classes if re.search(r"\b(past|present|future)\b", c)]
    math = len(re.findall(r'<mjx-container class="MathJax', dom))
    return (reveal.group(1) if reveal else ""), slides_shown, math


@pytest.mark.site
def test_deck_renders_offline_in_chromium(decks, controls, proxy):  # noqa: F811
    _, background = controls
    planned = len(planned_headings(ROOT / "notebooks" / f"{BROWSER_DECK}.ipynb")) + 1
    server = _serve(decks)
    try:
        before = len(proxy.hosts)
        url = f"http://127.0.0.1:{server.server_address[1]}/{BROWSER_DECK}.html"
        over_http = _run_chromium(["--dump-dom", url], proxy.server_address[1])
        as_file = _run_chromium(
            ["--dump-dom", (decks / f"{BROWSER_DECK}.html").as_uri()], proxy.server_address[1]
        )
        requested = set(proxy.hosts[before:]) - background
    finally:
        server.shutdown()
    assert not requested, f"the deck asked for outside hosts: {sorted(requested)}"
    for how, result in (("over HTTP", over_http), ("as a file", as_file)):
        assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
        reveal, shown, math = _rendered(result.stdout)
        assert "ready" in reveal.split(), f"{how}: reveal.js did not start ({reveal!r})"
        assert len(shown) == planned, f"{how}: {len(shown)} slides rendered, {planned} planned"
        assert math >= 10, f"{how}: MathJax typeset {math} formulas"
        text = re.sub(
            r"<aside.*?</aside>|<script.*?</script>|<[^>]+>",
            "",
            result.stdout.split('class="slides"')[1],
            flags=re.S,
        )
        assert "\\(" not in text, f"{how}: TeX left untypeset"


@pytest.mark.site
def test_screenshot_of_a_title_slide(decks, repo_root, proxy):  # noqa: F811
    """A picture of chapter 03's title slide in _build/screenshots/ for people to look at."""
    out = repo_root / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"slides-{BROWSER_DECK}-title.png"
    server = _serve(decks)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{BROWSER_DECK}.html#/0"
        result = _run_chromium(
            [f"--screenshot={target}", "--window-size=1280,720", "--hide-scrollbars", url],
            proxy.server_address[1],
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-2000:]
    assert target.exists() and target.stat().st_size > 10_000, "the title slide looks blank"

"""The Chinese edition (中文版): complete catalogs, its terms, and its website.

The catalogs (locales/zh_CN/LC_MESSAGES/*.po) are read with polib. The Chinese site is built
once per session by tools/zh.py with warnings as errors and checked like the English one: its
internal links, its language, glued numbers, Chinese search, and headless Chromium (math
typeset, no outside host).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import polib
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import zh  # noqa: E402  (tools/zh.py)
from test_site import _run_chromium, _serve, controls, proxy  # noqa: E402,F401
from test_site_links import _is_external, _parse  # noqa: E402

CATALOGS = sorted(zh.CATALOGS.rglob("*.po"))
TERMS = {k.lower(): v for k, v in zh.terms().items()}
TERM_ROLE = re.compile(r"\{term\}`([^`<]*)<([^>]+)>`")


def test_every_catalog_entry_is_translated_and_keeps_its_markup():
    problems = zh.check()
    assert not problems, f"{len(problems)} entries need work (python tools/zh.py check):\n" + (
        "\n".join(f"{k}: {'; '.join(v)}" for k, v in list(problems.items())[:20])
    )


def test_the_check_catches_what_it_should():
    assert zh.entry_problems("a `x` b", "", []) == ["not translated"]
    assert "fuzzy" in zh.entry_problems("a b", "甲乙", ["fuzzy"])
    assert zh.entry_problems("Use `x` here", "这里用 `y`", []) == ["inline code or roles differ"]
    assert zh.entry_problems("$a^2$ is 4", "$a^2$ 是 5", []) == ["numbers missing: ['4']"]
    english = "See {term}`tokens <token>` and {glue:text}`n:,`."
    assert zh.entry_problems(english, "见{term}`词元 <token>`和 {glue:text}`n:,`。", []) == []


def test_catalogs_cover_the_current_english_text(tmp_path):
    """Every message the English sources have now is in a catalog (python tools/zh.py update)."""
    cmd = [zh._jupyter_book(), "build", str(ROOT), "--path-output", str(tmp_path)]
    cmd += ["--builder", "custom", "--custom-builder", "gettext"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    templates = tmp_path / "_build" / "gettext"
    missing = []
    for pot in sorted(templates.rglob("*.pot")):
        po_path = zh.CATALOGS / pot.relative_to(templates).with_suffix(".po")
        assert po_path.exists(), f"no catalog for {pot.relative_to(templates)}"
        have = {e.msgid for e in polib.pofile(str(po_path)) if not e.obsolete}
        missing += [
            f"{po_path.name}: {e.msgid[:70]!r}"
            for e in polib.pofile(str(pot))
            if e.msgid not in have
        ]
    assert not missing, "run python tools/zh.py update, then translate:\n" + "\n".join(missing[:20])


def test_the_glossary_uses_the_chinese_terms():
    glossary = polib.pofile(str(zh.CATALOGS / "book" / "glossary.po"))
    headings = [e for e in glossary if e.msgid.lower() in TERMS]
    assert len(headings) >= 0.9 * len(TERMS), "most glossary headings are in terms.yml"
    for entry in headings:
        chinese = TERMS[entry.msgid.lower()]
        # a heading may add the English in brackets (two headings of one entry must differ)
        assert entry.msgstr in (chinese, f"{chinese}（{entry.msgid}）"), entry.msgid


def test_a_linked_term_is_written_with_its_chinese_term():
    """Where the English links a glossary term by its own name, the Chinese uses terms.yml's."""
    wrong = []
    for path in CATALOGS:
        for entry in polib.pofile(str(path)):
            english = {
                t.strip().lower(): x.strip().lower() for x, t in TERM_ROLE.findall(entry.msgid)
            }
            chinese = {t.strip().lower(): x for x, t in TERM_ROLE.findall(entry.msgstr)}
            for target, text in english.items():
                written = chinese.get(target, "")
                if target in TERMS and text == target and TERMS[target] not in written:
                    wrong.append(f"{path.name}: {target} -> {written!r}")
    assert not wrong, "\n".join(wrong)


# --- the Chinese notebooks -------------------------------------------------------------------

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def zh_notebooks(tmp_path_factory) -> tuple[Path, Path, dict]:
    import workshop  # tools/workshop.py

    folder = tmp_path_factory.mktemp("zh")
    report = zh.write_notebooks(folder / "notebooks-zh")
    workshop.make_learner_edition(folder / "notebooks-zh", folder / "learner-zh")
    workshop.make_learner_edition(ROOT / "notebooks", folder / "learner-en")
    return folder / "notebooks-zh", folder / "learner-zh", report


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chinese_notebook_has_the_english_code_and_outputs(path, zh_notebooks):
    """Same cells in the same order; code cells (source, outputs, metadata) identical, so that
    executing the English notebooks (nbval) covers the Chinese ones; every message placed."""
    folder, _, report = zh_notebooks
    assert not report[path.stem], f"messages no markdown cell held: {sorted(report[path.stem])[:3]}"
    english = nbformat.read(path, as_version=4)
    chinese = nbformat.read(folder / path.name, as_version=4)
    assert [c.cell_type for c in chinese.cells] == [c.cell_type for c in english.cells]
    for en, cn in zip(english.cells, chinese.cells, strict=True):
        if en.cell_type == "code":
            assert cn == en
    prose = [
        (en.source, cn.source)
        for en, cn in zip(english.cells, chinese.cells, strict=True)
        if en.cell_type == "markdown" and re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", en.source)
    ]
    assert all(re.search(r"[\u4e00-\u9fff]", cn) for _, cn in prose), "an English paragraph left"
    figures = re.findall(r"\{figure\} (\S+)", "".join(c.source for c in chinese.cells))
    assert figures and all(f.startswith(f"../book/images/diagrams/{zh.LANGUAGE}/") for f in figures)
    assert all((ROOT / "notebooks" / f).resolve().exists() for f in figures)


def test_chinese_learner_edition_is_the_english_one_in_chinese(zh_notebooks):
    """The learner edition made from the Chinese notebooks has the English learner edition's
    code cells (stubs in, solutions out) and the same cells otherwise."""
    _, learner, _ = zh_notebooks
    for path in NOTEBOOKS:
        chinese = nbformat.read(learner / path.name, as_version=4)
        english = nbformat.read(learner.with_name("learner-en") / path.name, as_version=4)
        assert [c.cell_type for c in chinese.cells] == [c.cell_type for c in english.cells]
        code = [(c.source, c.get("outputs")) for c in english.cells if c.cell_type == "code"]
        mine = [(c.source, c.get("outputs")) for c in chinese.cells if c.cell_type == "code"]
        assert mine == code


# --- the diagrams, drawn again with Chinese words ---------------------------------------------

ENGLISH_DIAGRAMS = [*sorted(zh.DIAGRAMS.glob("*.svg")), zh.IMAGES / "course-arc.svg"]
SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def _svg_lines(path: Path) -> list[str]:
    from xml.etree import ElementTree

    tree = ElementTree.parse(path)
    return sorted("".join(t.itertext()).strip() for t in tree.iter(SVG_TEXT))


def test_the_diagram_catalog_has_every_text_with_a_word():
    drawn = zh.diagram_messages()
    catalog = {e.msgid for e in polib.pofile(str(zh.DIAGRAM_MESSAGES)) if not e.obsolete}
    assert set(drawn) == catalog, "run python tools/zh.py diagrams, then translate"
    assert len(drawn) > 300


@pytest.fixture(scope="module")
def drawn_in_chinese(tmp_path_factory) -> dict[str, list[str]]:
    """Per drawing, the lines of text of an SVG drawn now with the catalog's words (without the
    Chinese font, so only the words, not their places, are compared)."""
    import warnings

    words = {e.msgid: e.msgstr for e in polib.pofile(str(zh.DIAGRAM_MESSAGES)) if e.msgstr}
    folder = tmp_path_factory.mktemp("drawn")
    lines = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # glyphs missing from DejaVu Sans
        for english, fig, _ in zh._drawn(lambda s: words.get(s, s)):
            fig.savefig(folder / english.name, format="svg")
            lines[english.name] = _svg_lines(folder / english.name)
    return lines


@pytest.mark.parametrize("english", ENGLISH_DIAGRAMS, ids=[p.stem for p in ENGLISH_DIAGRAMS])
def test_each_diagram_has_a_current_chinese_drawing(english, drawn_in_chinese):
    """book/images/diagrams/zh_CN/ holds each diagram drawn with the catalog's words: its text
    is exactly the English drawing's text translated (python tools/zh.py diagrams redraws)."""
    chinese = zh.chinese_twin(english)
    assert chinese.exists(), "run python tools/zh.py diagrams"
    lines = _svg_lines(chinese)
    assert [x for x in lines if x] == [x for x in drawn_in_chinese[english.name] if x]
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", x)) for x in lines) >= 3


# --- the website ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zh_site() -> Path:
    try:
        return zh.build_site(quiet=True)
    except RuntimeError as error:
        pytest.fail(str(error))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_chinese_site_shows_the_chinese_diagrams(zh_site):
    """The chapters and the diagrams page show the Chinese drawings, never the English ones."""
    pages = [*(zh_site / "notebooks").glob("*.html"), *(zh_site / "book").glob("*.html")]
    shown = set()
    for page in pages:
        for src in re.findall(r'<img[^>]+src="([^"]+\.svg)"', _text(page)):
            shown.add((page.parent / src).resolve().read_bytes())
    for english in ENGLISH_DIAGRAMS:
        assert zh.chinese_twin(english).read_bytes() in shown, english.name
        assert english.read_bytes() not in shown, f"{english.name} is shown in English"


def test_pages_are_chinese(zh_site):
    page = _text(zh_site / "notebooks" / "03_attention.html")
    assert '<html lang="zh-CN"' in page
    assert re.search(r"<h1>03 · 注意力机制", page)
    assert "<h2>1. 词元即向量" in page or re.search(r"<h2>1\. [^<]*[\u4e00-\u9fff]", page)
    assert "入门" in page  # the part captions of _toc.yml
    # glued numbers inside translated paragraphs are filled in (chapter 07's short run)
    short = _text(zh_site / "notebooks" / "07_pretraining.html")
    assert "{glue:text}" not in short
    assert re.search(r'运行 <span class="pasted-text">\d+</span> 秒', short)


def test_code_and_outputs_are_the_english_editions(zh_site, built_site):
    """Code cells and outputs are shared: the same code blocks on both editions' pages."""
    for name in ("03_attention", "07_pretraining", "14_inside_the_model"):
        pattern = re.compile(r'<div class="highlight-ipython3 notranslate">.*?</div>', re.S)
        en = pattern.findall(_text(built_site / "notebooks" / f"{name}.html"))
        cn = pattern.findall(_text(zh_site / "notebooks" / f"{name}.html"))
        assert en and en == cn, name


def test_every_page_links_to_itself_in_the_other_edition(zh_site, built_site):
    """English page -> the same Chinese page and back (book/_ext/editions.py)."""
    link = re.compile(r'<p class="edition-link"><a href="([^"]+)"')
    pages = [p.relative_to(built_site) for p in built_site.rglob("*.html")]
    pages = [p for p in pages if p.parts[0] not in {"_static", "_sources", "slides"}]
    assert len(pages) > 30
    for page, site, other in [(p, built_site, zh_site) for p in pages] + [
        (p, zh_site, built_site) for p in pages
    ]:
        if page.name in {"genindex.html", "search.html", "py-modindex.html"}:
            continue  # generated by Sphinx, not pages of the book
        if not (site / page).exists() or page == Path("index.html"):  # index: a redirect
            continue
        found = link.search(_text(site / page))
        assert found, f"{site.name}/{page}: no link to the other edition"
        target = ((site / page).parent / found.group(1)).resolve()
        assert target == (other / page).resolve() and target.exists(), (page, found.group(1))


def test_internal_links_resolve(zh_site, built_site):
    broken = []
    for page in sorted(zh_site.rglob("*.html")):
        if page.relative_to(zh_site).parts[0] in {"_static", "_sources", "_images"}:
            continue
        for _, url in _parse(page).links:
            if _is_external(url) or url.startswith("#"):
                continue
            target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
            if url.split("#")[0] and not target.exists():
                broken.append(f"{page.relative_to(zh_site)} -> {url}")
    assert not broken, "\n".join(broken[:20])


def test_search_finds_chinese_words(zh_site):
    index = _text(zh_site / "searchindex.js")
    terms = json.loads(index[index.index("(") + 1 : index.rindex(")")])["terms"]
    for word in ("注意力机制", "词元", "困惑度", "预训练", "微调", "低秩适配"):
        assert word in terms, f"{word} is not in the search index (is jieba installed?)"


@pytest.mark.parametrize("path", ["notebooks/03_attention.html", "book/glossary.html"])
def test_page_renders_offline_in_chromium(zh_site, proxy, controls, path):  # noqa: F811
    _, background = controls
    server = _serve(zh_site)
    try:
        before = len(proxy.hosts)
        url = f"http://127.0.0.1:{server.server_address[1]}/{path}"
        result = _run_chromium(["--dump-dom", url], proxy.server_address[1])
    finally:
        server.shutdown()
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    assert not set(proxy.hosts[before:]) - background, f"{path} asked for outside hosts"
    if path.startswith("notebooks"):
        assert "mjx-container" in result.stdout, "MathJax did not typeset the math"


def test_chinese_readme_opens_with_the_same_commands_and_mirror_notes():
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    first = re.compile(r"```bash\n(.*?)```", re.S)

    def commands(text: str) -> list[str]:
        return [line.split("#")[0].strip() for line in first.search(text).group(1).splitlines()]

    assert commands(chinese)[:2] == commands(english)[:2] == ["make book", "make test"]
    assert "README.zh-CN.md" in english and "(README.md)" in chinese
    for needed in ("PIP_INDEX_URL", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TORCH_INDEX"):
        assert needed in chinese, needed
    # Mirrors are the learner's choice: none is named in what the project installs or runs.
    project = ["Makefile", "pyproject.toml", "constraints.txt", "environment.yml", ".ci/run"]
    project += [str(p.relative_to(ROOT)) for p in (ROOT / "binder").iterdir()]
    project += [str(p.relative_to(ROOT)) for p in (ROOT / ".github").rglob("*.yml")]
    for name in project:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert not re.search(r"mirror|tuna\.|aliyun|hf-mirror|HF_ENDPOINT", text, re.I), name

"""Authoring tool for the Chinese edition (中文版): its catalogs and its website.

The Chinese book is built from the same sources as the English one. Every paragraph, heading,
list item and table cell of book/ and of the notebooks' markdown cells is a message in a gettext
catalog, locales/zh_CN/LC_MESSAGES/<page>.po, whose translation Sphinx puts in its place; code,
math and stored outputs are shared, not copied. Run from the repository root:

    python tools/zh.py update     # extract the English messages, merge them into the catalogs
    python tools/zh.py check      # every entry translated, none fuzzy, markup and numbers kept
    python tools/zh.py site       # build the Chinese website into _build/html-zh (-W)
    python tools/zh.py notebooks  # Chinese notebooks (notebooks-zh/) and learner edition
    python tools/zh.py messages   # gptlab's own messages: catalog updated, then compiled
    python tools/zh.py diagrams   # the diagrams' words: catalog updated, Chinese SVGs drawn

`update` marks an entry fuzzy when its English changed; translate it and remove the flag.
Terms: locales/zh_CN/terms.yml gives the one Chinese term for each glossary term.

gptlab's own messages (what a learner reads from the package: exercise verdicts, hints and
solutions' comments, `gptlab doctor`'s lines, the clear errors) go through gptlab.utils.tr,
which looks them up in gptlab/locales/<lang>/LC_MESSAGES/gptlab.mo when GPTLAB_LANG names a
language. `messages` collects them (every literal passed to tr, and the exercises' texts), merges
them into locales/zh_CN/LC_MESSAGES/gptlab.po and compiles that into the .mo that gptlab ships.

The diagrams (book/images/make_diagrams.py) and the course map are drawn again with the words
of locales/zh_CN/LC_MESSAGES/diagrams.po into a zh_CN/ folder beside the English SVGs, which
the Chinese site shows (Sphinx's figure_language_filename) and the Chinese notebooks link.
Drawing them needs the Noto Sans CJK font (apt-get install fonts-noto-cjk) to measure the
Chinese; the SVGs are committed, so building the site does not.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh_CN"
LOCALES = ROOT / "locales"
CATALOGS = LOCALES / LANGUAGE / "LC_MESSAGES"
TERMS = LOCALES / LANGUAGE / "terms.yml"
SITE = ROOT / "_build" / "html-zh"
STAGE = ROOT / "_build" / "zh"

# What the Chinese edition's configuration changes in _config.yml (the rest is shared).
OVERRIDES = {
    "title": "gptlab：从零构建 GPT",
    "sphinx.config.language": LANGUAGE,
    # Sphinx's Chinese search splits words with jieba when it is installed.
    "sphinx.config.html_search_language": "zh",
    # A figure shows its Chinese drawing where there is one (tools/zh.py diagrams).
    "sphinx.config.figure_language_filename": "{path}{language}/{basename}{ext}",
}


def _jupyter_book() -> str:
    jb = Path(sys.executable).with_name("jupyter-book")
    return str(jb) if jb.exists() else "jupyter-book"


def zh_config(path: Path) -> Path:
    """Write _config.yml with OVERRIDES applied to ``path`` and return it."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    for dotted, value in OVERRIDES.items():
        node = config
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    # The catalogs live in the repository; the staged build must find them by absolute path.
    config["sphinx"]["config"]["locale_dirs"] = [str(LOCALES)]
    # Chinese search: jieba splits the text into words; the course's terms are words too.
    words = path.with_name("jieba-terms.txt")
    words.write_text("".join(f"{t} 10 n\n" for t in sorted(set(terms().values()))), "utf-8")
    config["sphinx"]["config"]["html_search_options"] = {"dict": str(words)}
    # Glued numbers in translated paragraphs (tools/zh_glue.py says why).
    extensions = config["sphinx"].setdefault("local_extensions", {})
    for name, folder in extensions.items():  # the staged config sits elsewhere: absolute paths
        extensions[name] = str(ROOT / folder)
    extensions["zh_glue"] = str(ROOT / "tools")
    # Each page links to the same page of the English edition (book/_ext/editions.py).
    english = {"folder": "html", "label": "English", "lang": "en"}
    config["sphinx"]["config"]["edition_link"] = english
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def build_site(out: Path = SITE, quiet: bool = False) -> Path:
    """Build the Chinese website with warnings as errors into ``out`` and return it.

    Raises RuntimeError with the end of jupyter-book's output when the build fails.
    """
    STAGE.mkdir(parents=True, exist_ok=True)
    config = zh_config(STAGE / "_config_zh.yml")
    cmd = [_jupyter_book(), "build", str(ROOT), "--config", str(config)]
    cmd += ["--path-output", str(STAGE), "--warningiserror", "--keep-going"]
    result = subprocess.run(cmd, capture_output=quiet, text=True, cwd=ROOT)
    if result.returncode != 0:
        detail = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise RuntimeError(f"jupyter-book build of the Chinese site failed\n{detail[-4000:]}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(STAGE / "_build" / "html", out)
    # The instructor guide links the slide decks (still in English), as `make book` does.
    slides = [sys.executable, str(ROOT / "tools" / "slides.py"), "build", "--out"]
    subprocess.run([*slides, str(out / "slides")], check=True, capture_output=quiet, cwd=ROOT)
    return out


def update() -> None:
    """Extract the English messages (Sphinx's gettext builder, and gptlab's own messages) and
    merge them into the catalogs."""
    pot = ROOT / "_build" / "i18n"
    cmd = [_jupyter_book(), "build", str(ROOT), "--path-output", str(pot)]
    subprocess.run(cmd + ["--builder", "custom", "--custom-builder", "gettext"], check=True)
    intl = Path(sys.executable).with_name("sphinx-intl")
    templates = pot / "_build" / "gettext"
    subprocess.run(
        [str(intl), "update", "-p", str(templates), "-l", LANGUAGE, "-d", str(LOCALES)], check=True
    )
    update_messages()


# --- checking a translation ------------------------------------------------------------------

CODE = re.compile(r"\{[a-z:-]+\}`[^`]+`|``.+?``|(?<!\})`[^`]+`")
# In {term}/{ref}/{doc}/{numref} roles with a <target> only the visible text is translated.
ROLE_WITH_TEXT = re.compile(r"\{(term|ref|doc|numref)\}`[^`<]*<([^>]+)>`")
MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
URL = re.compile(r"https?://[^\s)>\]]+")
NUMBER = re.compile(r"(?<![\w.])\d[\d,.]*\d|(?<![\w.])\d(?![\w])")


def _code(text: str) -> list[str]:
    text = ROLE_WITH_TEXT.sub(lambda m: f"{{{m[1]}}}<{m[2]}>", text)
    return sorted(CODE.findall(text))


def entry_problems(msgid: str, msgstr: str, flags: list[str]) -> list[str]:
    """What is wrong with one translation (empty list: nothing)."""
    if not msgstr.strip():
        return ["not translated"]
    found = ["fuzzy"] if "fuzzy" in flags else []
    if _code(msgid) != _code(msgstr):
        found.append("inline code or roles differ")
    for name, pattern in (("math", MATH), ("links", URL)):
        if Counter(pattern.findall(msgid)) != Counter(pattern.findall(msgstr)):
            found.append(f"{name} differ")

    def prose(s: str) -> str:
        return MATH.sub("", CODE.sub("", s))

    missing = Counter(NUMBER.findall(prose(msgid))) - Counter(NUMBER.findall(prose(msgstr)))
    if missing:
        found.append(f"numbers missing: {sorted(missing.elements())}")
    if msgid.count("**") != msgstr.count("**"):
        found.append("bold markers differ")
    return found


def check(paths: list[Path] | None = None) -> dict[str, list[str]]:
    """Problems per catalog entry, as {"page.po: msgid...": [problems]} (empty: all good)."""
    import polib

    problems: dict[str, list[str]] = {}
    for path in paths or sorted(CATALOGS.rglob("*.po")):
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            found = entry_problems(entry.msgid, entry.msgstr, entry.flags)
            if path == MESSAGES and entry.msgstr and placeholders_differ(entry.msgid, entry.msgstr):
                found.append("placeholders differ")
            if found:
                key = f"{path.relative_to(CATALOGS)}: {entry.msgid[:60]!r}"
                problems[key] = found
    return problems


# --- gptlab's own messages -------------------------------------------------------------------

MESSAGES = CATALOGS / "gptlab.po"
COMPILED = ROOT / "gptlab" / "locales" / LANGUAGE / "LC_MESSAGES" / "gptlab.mo"
PLACEHOLDER = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")
# A word of prose: three letters or more, not part of a name, an attribute or a call.
WORD = re.compile(r"(?<![\w.])[A-Za-z]{3,}(?![\w(.])")
# tr() calls whose argument is not a string literal: the runtime text that reaches them.
DYNAMIC = {
    "checkup.py": {"why"},  # _PACKAGES' values
    "exercises/__init__.py": {"note", "hint", "hints[0]", "self.hint_text", "m[2]"},
}


def _literal_messages(path: Path) -> tuple[dict[str, str], list[str]]:
    """The strings passed to ``tr`` in one module (literals, or module constants), with where
    they are, and the other arguments passed to it (as source text)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found, dynamic = {}, []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr"):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found[arg.value] = f"{where}:{node.lineno}"
        elif isinstance(arg, ast.Name) and arg.id in constants:
            found[constants[arg.id]] = f"{where}:{node.lineno}"
        else:
            dynamic.append(ast.unparse(arg))
    return found, dynamic


def package_messages() -> dict[str, str]:
    """Every English message gptlab passes to ``tr``, with where it comes from.

    Raises ValueError for a ``tr`` call whose text this function cannot know: a new one must be
    a string literal, a module constant or one of the DYNAMIC texts collected below."""
    from gptlab import checkup
    from gptlab.exercises import COMMENT, all_exercises

    messages: dict[str, str] = {}
    for path in sorted((ROOT / "gptlab").rglob("*.py")):
        found, dynamic = _literal_messages(path)
        messages |= found
        known = DYNAMIC.get(path.relative_to(ROOT / "gptlab").as_posix(), set())
        if unknown := set(dynamic) - known:
            raise ValueError(f"{path.name}: tr() of {sorted(unknown)}: its text is unknown here")
    for why in checkup._PACKAGES.values():
        messages.setdefault(why, "gptlab/checkup.py:_PACKAGES")
    for ex in all_exercises():
        where = f"exercises ch{ex.chapter:02d}.{ex.name}"
        texts = [ex.hint_text] + [h for _, h in ex.mistakes] + [n for _, n in ex.conventions]
        comments = [m[2] for m in COMMENT.finditer(inspect.getsource(ex.reference))]
        texts += [c for c in comments if solution_comment(c)]
        for text in texts:
            messages.setdefault(text, where)
    return messages


def placeholders_differ(msgid: str, msgstr: str) -> bool:
    """Whether a translation of a gptlab message has other ``{...}`` fields than the English."""
    return sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr))


def solution_comment(text: str) -> bool:
    """Whether a comment of a solution is prose to translate (not only shapes or code)."""
    return len(WORD.findall(text)) >= 2


def _merge(english: dict[str, str], path: Path) -> tuple[int, int]:
    """Write the catalog ``path`` with one entry per message of ``english`` (msgid -> where it
    comes from), in that order, keeping the translations it has (new entries empty, gone ones
    dropped); return (entries, translated)."""
    import polib

    old = {e.msgid: e for e in polib.pofile(str(path))} if path.exists() else {}
    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Project-Id-Version": "gptlab", "Language": LANGUAGE,
                   "Content-Type": "text/plain; charset=UTF-8"}  # fmt: skip
    for msgid, where in english.items():
        kept = old.get(msgid)
        entry = polib.POEntry(msgid=msgid, msgstr=kept.msgstr if kept else "")
        entry.comment = where
        entry.flags = [f for f in (kept.flags if kept else []) if f == "fuzzy"]
        po.append(entry)
    po.save(str(path))
    return len(po), sum(bool(e.msgstr) for e in po)


def update_messages() -> tuple[int, int]:
    """Merge :func:`package_messages` into gptlab.po, compile it into gptlab/locales, and
    return (entries, translated)."""
    english = dict(sorted(package_messages().items(), key=lambda item: item[1]))
    counts = _merge(english, MESSAGES)
    compile_messages()
    return counts


def compile_messages() -> Path:
    """gptlab.po -> the .mo gptlab reads (polib writes the translated, not fuzzy entries)."""
    import polib

    COMPILED.parent.mkdir(parents=True, exist_ok=True)
    polib.pofile(str(MESSAGES)).save_as_mofile(str(COMPILED))
    return COMPILED


# --- the diagrams' words ------------------------------------------------------------------------

DIAGRAM_MESSAGES = CATALOGS / "diagrams.po"
IMAGES = ROOT / "book" / "images"
DIAGRAMS = IMAGES / "diagrams"
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # fonts-noto-cjk
CJK_CSS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei'"


if str(IMAGES) not in sys.path:  # the drawing scripts and their shared style, book/images/*.py
    sys.path.append(str(IMAGES))


def chinese_twin(english: Path) -> Path:
    """Where the Chinese drawing of an English SVG lives (figure_language_filename)."""
    return english.parent / LANGUAGE / english.name


def _drawings():
    """(English SVG, SVG-id salt, text colour, draw) for every drawing of the book with words:
    the chapter diagrams (make_diagrams.py) and the course map (make_arc_figure.py)."""
    import make_arc_figure
    import make_diagrams

    for _, d in make_diagrams.registry():
        draw = functools.partial(d["draw"], d["title"])
        yield DIAGRAMS / d["file"], f"gptlab-diagram-{d['file']}", make_diagrams.TEXT, draw
    yield IMAGES / "course-arc.svg", "gptlab-course-arc", None, make_arc_figure.draw


def _drawn(translate=None, fallback: str | None = None):
    """Draw every drawing, each text passed through ``translate`` (None: as it is) and set in
    its font with the font ``fallback`` behind it (glyphs missing from the first are measured
    and named in the second); yield (English SVG path, figure, the texts drawn)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from bookstyle import use_book_style
    from matplotlib.text import Text

    original = Text.set_text
    texts: list[str] = []

    def set_text(self, s):
        if isinstance(s, str) and s.strip():
            texts.append(s)
            s = translate(s) if translate else s
        return original(self, s)

    Text.set_text = set_text
    try:
        for english, salt, colour, draw in _drawings():
            texts.clear()
            use_book_style(salt)
            matplotlib.rcParams["text.color"] = colour or matplotlib.rcParamsDefault["text.color"]
            if fallback:  # text in the default family, measured during drawing (tight_layout)
                matplotlib.rcParams["font.family"] = ["DejaVu Sans", fallback]
            fig = draw()
            for t in fig.findobj(Text) if fallback else []:
                first = {"sans-serif": "DejaVu Sans", "monospace": "DejaVu Sans Mono"}
                t.set_fontfamily([first.get(f, f) for f in t.get_fontfamily()] + [fallback])
            yield english, fig, list(texts)
            plt.close(fig)
    finally:
        Text.set_text = original


def diagram_messages() -> dict[str, str]:
    """Every text of the drawings that holds a word (code, numbers and symbols do not), with
    the file that draws it."""
    found: dict[str, str] = {}
    for english, _, texts in _drawn():
        for s in texts:
            if WORD.search(s):
                found.setdefault(s, english.name)
    return found


def draw_chinese_diagrams() -> list[Path]:
    """Draw the drawings with the translations of diagrams.po next to the English ones (see
    :func:`chinese_twin`; Sphinx shows them in the Chinese edition). Text stays text, in DejaVu
    Sans with Noto Sans CJK after it; the CJK font measures the Chinese for the layout."""
    import polib
    from bookstyle import SVG_METADATA
    from matplotlib import font_manager

    if not CJK_FONT.exists():
        raise RuntimeError(f"{CJK_FONT} is missing: apt-get install fonts-noto-cjk")
    for weight in ("Regular", "Bold"):
        font_manager.fontManager.addfont(str(CJK_FONT).replace("Regular", weight))
    cjk = font_manager.FontProperties(fname=str(CJK_FONT)).get_name()
    words = {e.msgid: e.msgstr for e in polib.pofile(str(DIAGRAM_MESSAGES)) if e.msgstr}
    written = []
    for english, fig, _ in _drawn(lambda s: words.get(s, s), cjk):
        path = chinese_twin(english)
        path.parent.mkdir(exist_ok=True)
        fig.savefig(path, format="svg", metadata=SVG_METADATA)
        # The CSS names Simplified Chinese faces (the font file's first face is Japanese), then
        # the browser's generic family, as the English drawings do.
        svg = path.read_text(encoding="utf-8")
        for family, generic in (("DejaVu Sans Mono", "monospace"), ("DejaVu Sans", "sans-serif")):
            svg = svg.replace(f"'{family}', '{cjk}'", f"'{family}', {CJK_CSS}, {generic}")
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    return written


def update_diagram_messages() -> tuple[int, int]:
    """Merge :func:`diagram_messages` into diagrams.po, draw the Chinese diagrams, and return
    (entries, translated)."""
    counts = _merge(diagram_messages(), DIAGRAM_MESSAGES)
    draw_chinese_diagrams()
    return counts


# --- Chinese notebooks ---------------------------------------------------------------------

# Where a message may start in a markdown cell: at the start of a line, after the markup that
# opens a heading, list item, quote, table cell, directive or option (Sphinx's messages are the
# text of paragraphs, headings, items, cells and titles, with their line breaks as spaces).
_OPENER = (
    r"(?:^|(?<=\n))[ \t]*(?:#{1,6} |[-*+] |\d+\. |> |\| |:::?\{[\w:-]+\} |```\{[\w:-]+\} |:alt: )?"
    r"|(?<=\|)[ \t]+"  # a table cell after the first
)


def catalog(page: str) -> dict[str, str]:
    """msgid -> msgstr of a page's catalog (``notebooks/03_attention``), translated entries only."""
    import polib

    path = CATALOGS / f"{page}.po"
    return {e.msgid: e.msgstr for e in polib.pofile(str(path)) if e.msgstr and not e.obsolete}


def translate_markdown(text: str, messages: dict[str, str]) -> tuple[str, set[str]]:
    """``text`` with every message of ``messages`` it holds replaced by its translation.

    A message matches where a block of text starts (see _OPENER), with any white space for its
    spaces, and where that block ends (end of line, or the next table cell). Longer messages go
    first, so a short one never replaces words inside a longer one. Returns the new text and
    the messages found.
    """
    found: set[str] = set()
    for msgid in sorted(messages, key=len, reverse=True):
        words = msgid.split()
        if not words:
            continue
        body = r"[ \t]*\n?[ \t]*".join(re.escape(w) for w in words)
        pattern = re.compile(f"({_OPENER})" + body + r"(?=[ \t]*(?:\n|$| \|))")
        translated = messages[msgid]
        text, count = pattern.subn(lambda m, t=translated: m.group(1) + t, text)
        if count:
            found.add(msgid)
    return text, found


# A diagram in a notebook, shown in Chinese where tools/zh.py diagrams drew it.
CHINESE_DIAGRAM = re.compile(r"(\.\./book/images/diagrams/)(\w+\.svg)")


def chinese_notebook(path: Path):
    """The notebook at ``path`` with its markdown cells translated; code and outputs untouched.

    Returns (notebook, messages of the catalog that no markdown cell held).
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    messages = catalog(f"notebooks/{path.stem}")
    found: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, seen = translate_markdown(cell.source, messages)
            cell.source = CHINESE_DIAGRAM.sub(rf"\1{LANGUAGE}/\2", cell.source)
            found |= seen
    missing = {m for m in messages if m not in found and messages[m] != m}
    return nb, missing


def write_notebooks(dest: Path = ROOT / "notebooks-zh") -> dict[str, set[str]]:
    """Write the Chinese notebooks into ``dest`` (with the data folders they read) and return
    the untranslated messages per notebook (empty sets when complete)."""
    import nbformat

    dest.mkdir(parents=True, exist_ok=True)
    report = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb, missing = chinese_notebook(path)
        nbformat.write(nb, dest / path.name)
        report[path.stem] = missing
    return report


def terms() -> dict[str, str]:
    """The Chinese term for each English glossary term (locales/zh_CN/terms.yml)."""
    return yaml.safe_load(TERMS.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/zh.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("update", help="extract the English messages and merge them into the catalogs")
    sub.add_parser("check", help="every entry translated, none fuzzy, markup and numbers kept")
    p = sub.add_parser("notebooks", help="notebooks with Chinese prose, and a learner edition")
    p.add_argument("--dest", default="notebooks-zh", help="default: notebooks-zh")
    p.add_argument("--learner", default="learner-zh", help="default: learner-zh ('' for none)")
    sub.add_parser("messages", help="gptlab's own messages: update gptlab.po and compile it")
    sub.add_parser("diagrams", help="the diagrams' words: update diagrams.po, draw Chinese SVGs")
    p = sub.add_parser("site", help="build the Chinese website (warnings are errors)")
    p.add_argument("--out", default=str(SITE), help="default: _build/html-zh")
    args = parser.parse_args(argv)
    if args.action == "update":
        update()
    elif args.action == "check":
        problems = check()
        for key, found in problems.items():
            print(f"{key}: {'; '.join(found)}")
        print(f"{len(problems)} catalog entries need work" if problems else "catalogs complete")
        return 1 if problems else 0
    elif args.action == "messages":
        entries, translated = update_messages()
        print(f"{MESSAGES.relative_to(ROOT)}: {entries} messages, {translated} translated; "
              f"compiled into {COMPILED.relative_to(ROOT)}")  # fmt: skip
    elif args.action == "diagrams":
        entries, translated = update_diagram_messages()
        print(f"{DIAGRAM_MESSAGES.relative_to(ROOT)}: {entries} texts, {translated} translated; "
              f"Chinese drawings in {LANGUAGE}/ beside the English ones")  # fmt: skip
    elif args.action == "notebooks":
        report = write_notebooks(ROOT / args.dest)
        missing = {name: found for name, found in report.items() if found}
        for name, found in missing.items():
            print(f"{name}: {len(found)} messages not placed, e.g. {sorted(found)[0][:60]!r}")
        print(f"Chinese notebooks: {args.dest}/ ({len(report)} notebooks)")
        if args.learner:
            import workshop  # tools/workshop.py

            workshop.make_learner_edition(ROOT / args.dest, ROOT / args.learner, force=True)
            print(f"Chinese learner edition: {args.learner}/")
        return 1 if missing else 0
    else:
        out = build_site(Path(args.out).resolve())
        print(f"Chinese website: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

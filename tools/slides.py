"""Authoring tool: a reveal.js slide deck per chapter, built from the notebooks, usable offline.

Not part of the ``gptlab`` package that learners import; run it from the repository root::

    python tools/slides.py mark [--check] [NOTEBOOK ...]
    python tools/slides.py build [--out _build/slides] [NN ...]

``mark`` stores Jupyter's standard slide metadata (``cell.metadata.slideshow.slide_type``) in
every ``notebooks/NN_slug.ipynb``, the same way each time:

- ``"slide"``: the title cell (the first markdown cell) and every markdown cell that holds a
  level-2 heading (``## ...``, a *planned section*; a MyST label line may come before it). In
  the notebooks a heading often stands lower in a cell, after the words about the previous
  section's figure, and a cell may hold two headings: each level-2 heading gets its slide;
- ``"-"``: in each section, the first code cell whose stored outputs hold an image (the
  section's key plot, shown on the section's slide);
- ``"skip"``: every other cell.

Only that metadata changes; running ``mark`` again changes nothing, and ``mark --check`` fails
when a notebook's marks differ from what ``mark`` would store (after a merge, run ``mark``).

``build`` writes ``<out>/NN_slug.html`` per chapter, ``<out>/index.html`` and everything they
load under ``<out>/_assets/``: reveal.js (from the ``sphinx-revealjs`` package), MathJax 3 (from
the ``sphinx-mathjax-offline`` package), the chapter's opening diagram and its key plots. A deck
is a title slide (title, the At-a-glance box's key points, the opening diagram) and one slide per
planned section (heading, the section's first paragraph, its key plot). Speaker notes (press S)
come from the instructor guide (``book/instructors.md``) and, when it exists, the run-and-explain
script ``book/scripts.yml``; without a script a section's notes are its prose as plain text.

The decks load nothing from the internet: they work opened as files and served over HTTP. Links
in the prose keep their text only, and any address of an outside host left in the text loses its
``https://``, so no output file points a browser elsewhere (``tests/test_slides.py`` checks).
"""

from __future__ import annotations

import argparse
import ast
import base64
import html
import importlib.metadata
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAME = re.compile(r"(\d\d)_[\w-]+\.ipynb")
SLIDE, SHOWN, SKIP = "slide", "-", "skip"
IMAGE_TYPES = {"image/png": "png", "image/svg+xml": "svg"}


# --- 1. Notebooks: headings, fenced blocks, images --------------------------------------------


def chapter_notebooks(folder: Path, chapters: list[str] | None = None) -> list[Path]:
    """The ``NN_slug.ipynb`` notebooks in ``folder`` in order (only ``chapters``, if given)."""
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.fullmatch(p.name))
    if chapters:
        found = [p for p in found if p.name[:2] in chapters]
    return found


def source(cell) -> str:
    """A cell's source as one string."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$")


@dataclass
class Block:
    """A fenced block of markdown: code (```` ```python ````) or a MyST directive (``{name}``)."""

    start: int  # first line (the opening fence)
    end: int  # last line (the closing fence, or the last line of the text if unclosed)
    name: str  # the directive's name, "" for code
    argument: str = ""
    options: dict[str, str] = field(default_factory=dict)
    body: str = ""


def fenced_blocks(text: str) -> list[Block]:
    """The top-level fenced blocks of ``text`` (backtick, tilde or MyST colon fences).

    A colon fence opens only with a directive (``:::{note}``). A block closes at a line of the
    same fence character, at least as long as the opening one and with nothing after it, so
    blocks nested with longer outer fences (MyST's rule) stay inside their parent.
    """
    lines = text.split("\n")
    blocks, open_at, fence = [], None, ""
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if open_at is None:
            if m and (m.group(1)[0] != ":" or m.group(2).startswith("{")):
                open_at, fence = i, m.group(1)
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            if not m.group(2).strip():
                blocks.append(_block(lines, open_at, i, fence))
                open_at = None
    if open_at is not None:
        blocks.append(_block(lines, open_at, len(lines) - 1, fence, closed=False))
    return blocks


def _block(lines: list[str], start: int, end: int, fence: str, closed: bool = True) -> Block:
    info = lines[start].strip()[len(fence) :].strip()
    m = re.match(r"\{([\w:-]+)\}\s*(.*)", info)
    if not m:
        return Block(start, end, "")
    body = lines[start + 1 : end if closed else end + 1]
    options = {}
    while body and re.match(r"\s*:[\w-]+:", body[0]):
        key, _, value = body.pop(0).strip()[1:].partition(":")
        options[key] = value.strip()
    return Block(start, end, m.group(1), m.group(2).strip(), options, "\n".join(body).strip("\n"))


def strip_directives(text: str) -> str:
    """``text`` without its MyST directive blocks (content included) and ``(label)=`` lines."""
    lines = text.split("\n")
    for block in reversed(fenced_blocks(text)):
        if block.name:
            del lines[block.start : block.end + 1]
    kept = [line for line in lines if not re.fullmatch(r"\s*\([\w:.-]+\)=\s*", line)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


_HEADING2 = re.compile(r"## +(.+?)(?: +#+)?\s*")


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split markdown at its level-2 headings (outside fenced blocks).

    Returns the text before the first heading and a list of ``(heading, body)``: the heading's
    text without ``## `` and the markdown up to the next level-2 heading.
    """
    lines = text.split("\n")
    fenced = {i for b in fenced_blocks(text) for i in range(b.start, b.end + 1)}
    cuts = [i for i, line in enumerate(lines) if i not in fenced and _HEADING2.fullmatch(line)]
    if not cuts:
        return text, []
    parts = []
    for k, i in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else len(lines)
        heading = _HEADING2.fullmatch(lines[i]).group(1)
        parts.append((heading, "\n".join(lines[i + 1 : end]).strip("\n")))
    return "\n".join(lines[: cuts[0]]).strip("\n"), parts


def image_output(cell) -> tuple[str, str] | None:
    """The first stored image of a code cell as ``(mime type, data)``, or ``None``."""
    if cell.cell_type != "code":
        return None
    for out in cell.get("outputs", []):
        for mime in IMAGE_TYPES:
            if mime in out.get("data", {}):
                data = out["data"][mime]
                return mime, "".join(data) if isinstance(data, list) else data
    return None


# --- 2. Slide marks ----------------------------------------------------------------------------


def title_index(nb) -> int | None:
    """The index of the notebook's title cell (its first markdown cell)."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), None)


def planned_marks(nb) -> list[str]:
    """The slide type of every cell of ``nb``, as ``mark`` stores it (see the module docstring)."""
    marks = [SKIP] * len(nb.cells)
    title = title_index(nb)
    in_section, has_plot = False, False
    for i, cell in enumerate(nb.cells):
        if i == title:
            marks[i] = SLIDE
        elif cell.cell_type == "markdown" and split_sections(source(cell))[1]:
            marks[i] = SLIDE
            in_section, has_plot = True, False
        elif in_section and not has_plot and image_output(cell):
            marks[i] = SHOWN
            has_plot = True
    return marks


def stored_marks(nb) -> list[str | None]:
    """The slide type stored in every cell of ``nb`` (``None`` where a cell has none)."""
    return [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]


def mark(path: Path, check: bool = False) -> bool:
    """Store the planned slide marks in notebook ``path``; return whether they differed.

    With ``check=True`` nothing is written. Only ``metadata.slideshow.slide_type`` changes,
    and the file is written (as nbformat writes it: one-space indent, final newline) only when
    a mark changed.
    """
    nb = nbformat.read(path, as_version=4)
    planned = planned_marks(nb)
    if stored_marks(nb) == planned:
        return False
    if not check:
        for cell, kind in zip(nb.cells, planned, strict=True):
            cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
        nbformat.write(nb, path)
    return True


# --- 3. MyST markup: roles, glue, citations ------------------------------------------------------


def glued_values(nb) -> dict[str, str]:
    """The values a notebook glues (myst-nb ``glue``), by name, as their stored ``text/plain``."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            text = out.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if "name" in scrap and text is not None:
                values[scrap["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def format_glued(text: str, spec: str) -> str:
    """A glued ``text/plain`` value shown with a format spec, as ``{glue:text}`name:spec``` does."""
    try:
        value = ast.literal_eval(text)  # a repr: 0.25, 1234, 'a string'
    except (SyntaxError, ValueError):
        value = text
    if not spec:
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


def read_bibliography(path: Path) -> dict[str, tuple[str, str]]:
    """``key -> (short author list, year)`` from a BibTeX file: "Vaswani et al.", "2017"."""
    if not path.exists():
        return {}
    found = {}
    for entry in re.split(r"\n(?=@)", path.read_text(encoding="utf-8")):
        key = re.match(r"@\w+\{([^,\s]+),", entry.strip())
        author = re.search(r"\bauthor\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", entry)
        year = re.search(r"\byear\s*=\s*\{?(\d{4})", entry)
        if not (key and author):
            continue
        names = [n.strip() for n in re.split(r"\s+and\s+", author.group(1))]
        surnames = [
            re.sub(r"[{}\\]", "", n.split(",")[0] if "," in n else n.split()[-1]) for n in names
        ]
        if len(names) > 2 or "others" in names:
            short = f"{surnames[0]} et al."
        else:
            short = " and ".join(surnames)
        found[key.group(1)] = (short, year.group(1) if year else "n.d.")
    return found


def _cite(keys: str, bib: dict, textual: bool) -> str:
    parts = []
    for key in (k.strip() for k in keys.split(",")):
        who, year = bib.get(key, (key, ""))
        parts.append(f"{who} ({year})" if textual else f"{who}, {year}".rstrip(", "))
    return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"


def role_text(name: str, content: str, env: dict) -> str | None:
    """What a MyST role shows on a slide, as plain text; ``None`` for a role left as it is.

    ``{term}``, ``{ref}``, ``{numref}`` and ``{doc}`` show their text (``text <target>``), or for
    a bare ``{ref}`` the heading its label names; ``{glue:text}`` the glued value formatted
    (nothing when the notebook has no such value); ``{cite:p}``/``{cite:t}`` "(Author, year)".
    """
    explicit = re.fullmatch(r"(.*?)\s*<([^<>]*)>", content, re.S)
    if name in ("term", "ref", "numref", "doc", "eq"):
        if explicit:
            return explicit.group(1)
        return env.get("labels", {}).get(content, content.rsplit("/", 1)[-1].replace("-", " "))
    if name in ("glue", "glue:text", "glue:"):
        key, _, spec = content.partition(":")
        if key not in env.get("glue", {}):
            return ""
        try:
            return format_glued(env["glue"][key], spec)
        except (TypeError, ValueError):
            return ""
    if name.startswith("cite"):
        return _cite(content, env.get("bib", {}), textual=name == "cite:t")
    return None


_ROLE_AT_END = re.compile(r"\{([a-z][\w:-]*)\}$")


def _myst_for_slides(state) -> None:
    """markdown-it core rule: resolve MyST roles and drop raw HTML, links and images.

    A role parses as text ending in ``{name}`` followed by a code span. Raw HTML (``<details>``
    and the like) is dropped, links keep their text, images their alt text.
    """
    state.tokens = [t for t in state.tokens if t.type != "html_block"]
    for token in state.tokens:
        if token.type != "inline" or not token.children:
            continue
        children: list[Token] = []
        for child in token.children:
            if child.type in ("html_inline", "link_open", "link_close"):
                continue
            if child.type == "image":
                child = Token("text", "", 0, content=child.content)
            previous = children[-1] if children else None
            m = previous and previous.type == "text" and _ROLE_AT_END.search(previous.content)
            if m and child.type == "code_inline":
                if m.group(1) == "math":
                    child = Token("math_inline", "math", 0, content=child.content, markup="$")
                else:
                    shown = role_text(m.group(1), child.content, state.env)
                    if shown is not None:
                        child = Token("text", "", 0, content=shown)
                if child.type != "code_inline":
                    previous.content = previous.content[: m.start()]
            children.append(child)
        token.children = children


def _math_html(content: str, options: dict) -> str:
    """TeX between MathJax's delimiters (the plugin wraps it in a span or div of class math)."""
    if options.get("display_mode"):
        return f"\\[{html.escape(content)}\\]"
    return f"\\({html.escape(content)}\\)"


def markdown_parser() -> MarkdownIt:
    """CommonMark with tables and MyST roles; dollar math becomes MathJax's \\( \\) and \\[ \\]."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    dollarmath_plugin(md, renderer=_math_html, double_inline=True)
    md.core.ruler.push("myst_for_slides", _myst_for_slides)
    return md


def plain_text(tokens: list[Token]) -> str:
    """Parsed markdown as plain text: one paragraph per block, math kept as ``$TeX$``."""
    out: list[str] = []
    lists: list[list] = []  # per open list: [ordered?, next number]
    for t in tokens:
        if t.type in ("bullet_list_open", "ordered_list_open"):
            lists.append([t.type == "ordered_list_open", int(t.attrGet("start") or 1)])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif t.type == "list_item_open":
            ordered, number = lists[-1]
            out.append("  " * (len(lists) - 1) + (f"{number}. " if ordered else "- "))
            lists[-1][1] += 1
        elif t.type == "inline":
            for c in t.children or []:
                if c.type == "math_inline":
                    out.append(f"${c.content}$")
                elif c.type in ("softbreak", "hardbreak"):
                    out.append(" ")
                else:
                    out.append(c.content)
        elif t.type in ("paragraph_close", "heading_close", "tr_close"):
            out.append("\n" if lists and t.type == "paragraph_close" else "\n\n")
        elif t.type in ("th_close", "td_close"):
            out.append(" | ")
        elif t.type in ("fence", "code_block"):
            out.append(t.content.rstrip("\n") + "\n\n")
        elif t.type in ("math_block", "math_block_label"):
            out.append(f"$${t.content.strip()}$$\n\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


# --- 4. A chapter: title, key points, diagram, sections -----------------------------------------


@dataclass
class Section:
    """A planned section: its heading (markdown), the markdown of its cells, its key plot."""

    heading: str
    lead: str  # the markdown that follows the heading in its own cell
    prose: list[str] = field(default_factory=list)
    plot: tuple[str, str, str] | None = None  # (mime type, data, alt text)


@dataclass
class Chapter:
    """What the deck of one notebook shows."""

    path: Path
    number: str  # "03"
    title: str  # "03 · Attention"
    key_points: str  # markdown of the At-a-glance box's key points
    diagram: tuple[Path, str] | None  # (file, alt text)
    sections: list[Section]
    glue: dict[str, str]
    marks: str  # "planned" (as `mark` stores them), "differ" or "none" (never marked)


def key_points(title_cell: str) -> str:
    """The bulleted list under "**Key points**" in the At-a-glance box of a title cell."""
    for block in fenced_blocks(title_cell):
        if block.name == "admonition" and "glance" in block.argument.lower():
            m = re.search(
                r"^\*\*Key points\*\*\s*\n+((?:[-*] .*\n?(?:[ \t]+.*\n?)*)+)", block.body, re.M
            )
            return m.group(1).strip() if m else ""
    return ""


def opening_diagram(root: Path, number: str, title_cell: str) -> tuple[Path, str] | None:
    """The chapter's opening diagram and its alt text, or ``None``.

    The first entry for the chapter in ``book/images/diagrams/diagrams.json``; failing that, the
    first ``{figure}`` directive of the title cell (a path relative to ``notebooks/``).
    """
    folder = root / "book" / "images" / "diagrams"
    listing = folder / "diagrams.json"
    if listing.exists():
        entries = json.loads(listing.read_text(encoding="utf-8")).get(number) or []
        if entries and (folder / entries[0]["file"]).exists():
            return folder / entries[0]["file"], entries[0].get("alt") or entries[0].get("title", "")
    for block in fenced_blocks(title_cell):
        if block.name == "figure" and (root / "notebooks" / block.argument).exists():
            return (root / "notebooks" / block.argument).resolve(), block.options.get("alt", "")
    return None


def read_chapter(path: Path, root: Path = ROOT) -> Chapter:
    """Read what the deck of notebook ``path`` shows, following the slide marks it stores."""
    nb = nbformat.read(path, as_version=4)
    marks = stored_marks(nb)
    title = title_index(nb)
    title_cell = source(nb.cells[title]) if title is not None else ""
    heading = re.search(r"^# +(.+)$", title_cell, re.M)
    number = path.name[:2]
    sections: list[Section] = []
    for i, cell in enumerate(nb.cells):
        if i == title:
            continue
        if cell.cell_type == "markdown":
            before, parts = split_sections(source(cell))
            if sections:
                sections[-1].prose.append(before)
            for text, body in parts:
                if marks[i] == SLIDE:
                    sections.append(Section(text, body, [body]))
                elif sections:  # a heading whose cell is not marked as a slide stays in the notes
                    sections[-1].prose.append(f"### {text}\n\n{body}")
        elif marks[i] == SHOWN and sections and sections[-1].plot is None and image_output(cell):
            mime, data = image_output(cell)
            alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
            sections[-1].plot = (mime, data, alt or f"Figure from section {len(sections)}")
    return Chapter(
        path=path,
        number=number,
        title=heading.group(1).strip() if heading else path.stem,
        key_points=key_points(title_cell),
        diagram=opening_diagram(root, number, title_cell),
        sections=sections,
        glue=glued_values(nb),
        marks="none" if not any(marks) else "planned" if marks == planned_marks(nb) else "differ",
    )


def heading_labels(paths: list[Path]) -> dict[str, str]:
    """MyST labels (``(label)=`` before a heading) to the heading's text, over ``paths``."""
    labels = {}
    for path in paths:
        text = "\n".join(
            source(c) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
        )
        for m in re.finditer(r"^\(([\w:.-]+)\)=\s*\n+#+ +(.+)$", text, re.M):
            labels[m.group(1)] = m.group(2).strip()
    return labels


# --- 5. Speaker notes ---------------------------------------------------------------------------


def instructor_paragraphs(guide: Path, number: str) -> list[str]:
    """The "Objectives" and "Teaching notes" paragraphs of chapter ``number`` in the guide."""
    if not guide.exists():
        return []
    text = guide.read_text(encoding="utf-8")
    m = re.search(rf"^### {number} · [^\n]*\n(.*?)(?=^#{{1,3}} |\Z)", text, re.M | re.S)
    if not m:
        return []
    return [
        p.strip()
        for p in re.split(r"\n\s*\n", m.group(1))
        if p.strip().startswith(("**Objectives.**", "**Teaching notes.**"))
    ]


def read_scripts(root: Path) -> dict | None:
    """``book/scripts.yml`` (the run-and-explain scripts), or ``None`` where there is none."""
    path = root / "book" / "scripts.yml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def chapter_script(scripts: dict | None, number: str) -> dict | None:
    """One chapter's run-and-explain script (the key may have been read as a string or a number)."""
    chapters = (scripts or {}).get("chapters") or {}
    return chapters.get(number) or chapters.get(int(number))


MODES = {"live": "Run live", "talk": "Talk through", "skip-if-late": "Skip if late"}


def script_entry(script: dict | None, heading: str) -> dict | None:
    """The script's entry for the section with this heading (its exact text, spaces normalised)."""
    for entry in (script or {}).get("sections") or []:
        if " ".join(str(entry.get("section", "")).split()) == " ".join(heading.split()):
            return entry
    return None


def notes_html(texts: list[str]) -> str:
    """An ``<aside class="notes">`` holding plain text, a ``<p>`` per paragraph (line breaks kept).

    MathJax leaves the notes alone: the speaker view shows them as written, TeX included.
    """
    paragraphs = [p for text in texts for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<aside class="notes mathjax_ignore">{body}</aside>'


# --- 6. HTML ------------------------------------------------------------------------------------


class Renderer:
    """Markdown of one chapter to slide HTML and to plain text (its glue, labels and citations)."""

    def __init__(self, chapter: Chapter, labels: dict, bib: dict):
        self.md = markdown_parser()
        self.env = {"glue": chapter.glue, "labels": labels, "bib": bib}

    def tokens(self, text: str) -> list[Token]:
        return self.md.parse(strip_directives(text), dict(self.env))

    def html(self, text: str) -> str:
        return self.md.renderer.render(self.tokens(text), self.md.options, {})

    def inline(self, text: str) -> str:
        return self.md.renderInline(text, dict(self.env))

    def plain(self, text: str) -> str:
        return plain_text(self.tokens(text))

    def lead(self, text: str) -> str:
        """The first paragraph or list of ``text`` as HTML: a slide's short lead.

        A long paragraph keeps its first sentences (about :data:`LEAD_CHARS` characters). A
        paragraph that runs on (it ends without a full stop) keeps the formula, list or table
        that follows it.
        """
        tokens = self.tokens(text)
        for k, t in enumerate(tokens):
            if t.level != 0 or t.type not in (
                "paragraph_open",
                "bullet_list_open",
                "ordered_list_open",
            ):
                continue
            end = next(j for j in range(k + 1, len(tokens)) if tokens[j].level == 0)
            if t.type == "paragraph_open":
                words = tokens[k + 1].content.strip()
                short = first_sentences(words, LEAD_CHARS)
                if short != words:
                    return self.html(short)
                if not words.endswith((".", "!", "?")) and end + 1 < len(tokens):
                    follows = tokens[end + 1].type
                    if follows in ("math_block", "math_block_label"):
                        end += 1  # the paragraph runs on into a displayed formula
                    elif follows in ("bullet_list_open", "ordered_list_open", "table_open"):
                        end = next(  # ... or into the list or table it announces
                            j for j in range(end + 2, len(tokens)) if tokens[j].level == 0
                        )
            return self.md.renderer.render(tokens[k : end + 1], self.md.options, {})
        return ""


LEAD_CHARS = 320


def first_sentences(text: str, limit: int) -> str:
    """The first sentences of markdown ``text`` that fit in ``limit`` characters (at least one).

    Sentences end at ``.``, ``!`` or ``?`` followed by a space and a capital letter, outside
    math (``$...$``) and code spans.
    """
    if len(text) <= limit:
        return text
    protected = re.sub(r"\$[^$]*\$|`[^`]*`", lambda m: "x" * len(m.group(0)), text)
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s+[A-Z])", protected)]
    fitting = [e for e in ends if e <= limit]
    cut = fitting[-1] if fitting else (ends[0] if ends else len(text))
    return text[:cut]


def _img(src: str, alt: str, cls: str) -> str:
    return f'<figure class="{cls}"><img src="{html.escape(src)}" alt="{html.escape(alt)}"></figure>'


def png_without_text(data: bytes) -> bytes:
    """A PNG without its text chunks (matplotlib writes its name and web address there)."""
    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk = data[pos : pos + 12 + length]
        if chunk[4:8] not in (b"tEXt", b"iTXt", b"zTXt"):
            out.append(chunk)
        pos += 12 + length
    return b"".join(out)


def is_wide(image: Path) -> bool:
    """Whether a PNG is more than twice as wide as it is high (it goes under the text)."""
    if image.suffix != ".png":
        return False
    head = image.read_bytes()[16:24]  # the IHDR chunk: width, height
    return int.from_bytes(head[:4], "big") > 2 * int.from_bytes(head[4:], "big")


def write_image(mime: str, data: str, target: Path) -> None:
    """Write a stored notebook image (PNG as base64, SVG as text) to ``target``."""
    if IMAGE_TYPES[mime] == "png":
        target.write_bytes(png_without_text(base64.b64decode(data)))
    else:
        target.write_text(neutralise_urls(data), encoding="utf-8")


def deck_html(
    chapter: Chapter, out: Path, root: Path, labels: dict, bib: dict, scripts: dict | None
) -> str:
    """The HTML of a chapter's deck; its images are written under ``out/_assets/<stem>/``."""
    r = Renderer(chapter, labels, bib)
    stem = chapter.path.stem
    assets = out / "_assets" / stem
    shutil.rmtree(assets, ignore_errors=True)
    assets.mkdir(parents=True)
    script = chapter_script(scripts, chapter.number)

    title_notes = [
        r.plain(p) for p in instructor_paragraphs(root / "book" / "instructors.md", chapter.number)
    ]
    if script and script.get("must_leave_with"):
        title_notes.append(f"Every learner leaves with: {script['must_leave_with']}")
    figure = ""
    if chapter.diagram:
        file, alt = chapter.diagram
        target = assets / f"diagram{file.suffix}"
        if file.suffix == ".svg":
            target.write_text(neutralise_urls(file.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copyfile(file, target)
        figure = _img(f"_assets/{stem}/{target.name}", alt, "diagram")
    points = r.html(chapter.key_points)
    points = "<h3>Key points</h3>" + points if points else ""
    slides = [
        f'<section id="title" class="title-slide" data-heading="">\n'
        f"<h1>{r.inline(chapter.title)}</h1>\n"
        f'<div class="slide-body{" with-figure" if figure else ""}">'
        f'<div class="text">{points}</div>{figure}</div>\n'
        f"{notes_html(title_notes)}\n</section>"
    ]
    for n, section in enumerate(chapter.sections, start=1):
        figure, layout = "", ""
        if section.plot:
            mime, data, alt = section.plot
            target = assets / f"section-{n:02d}.{IMAGE_TYPES[mime]}"
            write_image(mime, data, target)
            figure = _img(f"_assets/{stem}/{target.name}", alt, "plot")
            layout = " wide-figure" if is_wide(target) else " with-figure"
        entry = script_entry(script, section.heading)
        if entry:
            minutes = entry.get("talk_minutes")
            notes = [
                MODES.get(entry.get("mode"), str(entry.get("mode", "")))
                + (f" · {minutes} min" if minutes is not None else ""),
                r.plain(str(entry.get("note", ""))),
            ]
        else:
            notes = [r.plain(p) for p in section.prose]
        slides.append(
            f'<section id="s{n}" data-heading="{html.escape(section.heading)}">\n'
            f"<h2>{r.inline(section.heading)}</h2>\n"
            f'<div class="slide-body{layout}">'
            f'<div class="text">{r.lead(section.lead)}</div>{figure}</div>\n'
            f"{notes_html(notes)}\n</section>"
        )
    page = DECK.format(
        title=html.escape(chapter.title),
        slides="\n".join(slides),
    )
    return neutralise_urls(page)


DECK = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · gptlab slides</title>
<link rel="stylesheet" href="_assets/reveal/dist/reveal.css">
<link rel="stylesheet" href="_assets/reveal/dist/theme/white.css">
<link rel="stylesheet" href="_assets/slides.css">
</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script>
window.MathJax = {{
  loader: {{load: ["input/tex", "output/chtml"]}},
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}},
  startup: {{
    pageReady: () => MathJax.startup.defaultPageReady().then(() => {{
      if (window.Reveal && Reveal.isReady()) Reveal.layout();
    }}),
  }},
}};
</script>
<script src="_assets/mathjax/startup.js"></script>
<script src="_assets/reveal/dist/reveal.js"></script>
<script src="_assets/reveal/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{
  hash: true, width: 1280, height: 720, margin: 0.04, center: false,
  slideNumber: "c/t", transition: "fade", plugins: [RevealNotes],
}});
</script>
</body>
</html>
"""

STYLE = """/* gptlab slides: reveal.js's white theme, laid out for a heading, text and a figure. */
.reveal .slides section { text-align: left; height: 100%; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none; }
.reveal h1 { font-size: 1.7em; margin-top: 0.6em; }
.reveal h2 { font-size: 1.15em; margin-bottom: 0.5em; }
.reveal h3 { font-size: 0.8em; color: #555; }
.reveal .slide-body { display: flex; gap: 1.2em; align-items: flex-start; height: 560px; }
.reveal .slide-body .text { flex: 1 1 0; font-size: 0.62em; line-height: 1.4;
  max-height: 560px; overflow-y: auto; }
.reveal .slide-body.with-figure .text { flex: 0 0 42%; }
.reveal .slide-body figure { flex: 1 1 0; margin: 0; height: 100%; display: flex;
  align-items: flex-start; justify-content: center; }
.reveal .slide-body figure img { max-width: 100%; max-height: 100%; margin: 0;
  object-fit: contain; }
/* A figure more than twice as wide as high goes under the text. */
.reveal .slide-body.wide-figure { flex-direction: column; gap: 0.5em; }
.reveal .slide-body.wide-figure .text { flex: 0 1 auto; max-height: 290px; }
.reveal .slide-body.wide-figure figure { width: 100%; height: auto; min-height: 0; }
.reveal .slide-body ul, .reveal .slide-body ol { margin-left: 1.2em; display: block; }
.reveal .slide-body li { margin-bottom: 0.35em; }
.reveal .slide-body table { font-size: 0.85em; }
.reveal .slide-body pre { width: 100%; font-size: 0.7em; box-shadow: none; }
.reveal .slide-body code { font-size: 0.9em; }
.reveal .title-slide .slide-body { height: 480px; }
.reveal .title-slide .slide-body .text { font-size: 0.55em; }
.reveal .slide-body div.math { margin: 0.4em 0; }
.reveal .notes { display: none; }
"""

INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gptlab slides</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em;
  line-height: 1.5; }}
li {{ margin: 0.3em 0; }}
</style>
</head>
<body>
<h1>gptlab slides</h1>
<p>One deck per chapter, built from the notebooks by <code>make slides</code>. They need no
internet. Keys: arrows to move, <kbd>S</kbd> for the speaker notes, <kbd>F</kbd> full screen,
<kbd>Esc</kbd> for an overview.</p>
<ul>
{items}
</ul>
</body>
</html>
"""


def index_html(out: Path) -> str:
    """A page listing every deck in ``out`` (by the title in its ``<title>``)."""
    items = []
    for deck in sorted(out.glob("*.html")):
        if not NOTEBOOK_NAME.fullmatch(deck.stem + ".ipynb"):
            continue
        m = re.search(r"<title>(.*?) · gptlab slides</title>", deck.read_text(encoding="utf-8"))
        items.append(f'<li><a href="{deck.name}">{m.group(1) if m else deck.stem}</a></li>')
    return INDEX.format(items="\n".join(items))


# --- 7. reveal.js and MathJax, copied from their Python packages ---------------------------------

LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# XML namespace names: identifiers that code and SVG files compare, never addresses to load.
XML_NAMESPACES = {
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/XML/1998/namespace",
}
_URL = re.compile(r"https?://([A-Za-z0-9][A-Za-z0-9.-]*)[^\s\"'<>()\\]*")
_XMLNS_BEFORE = re.compile(r"xmlns(?::[\w.-]+)?\s*=\s*[\"']$")


def neutralise_urls(text: str, keep_licence_comment: bool = False) -> str:
    """``text`` with ``http(s)://`` taken off every address of an outside host.

    Local hosts, XML namespace names (and any ``xmlns`` attribute's value) stay; with
    ``keep_licence_comment`` so does the comment that opens a file (its licence and authors).
    """
    head = ""
    if keep_licence_comment:
        m = re.match(r"\s*/\*.*?\*/", text, re.S)
        if m:
            head, text = m.group(0), text[m.end() :]

    def fix(m: re.Match) -> str:
        url = m.group(0)
        if m.group(1) in LOCAL_HOSTS or url in XML_NAMESPACES:
            return url
        if _XMLNS_BEFORE.search(m.string[max(0, m.start() - 40) : m.start()]):
            return url
        return url.split("://", 1)[1]

    return head + _URL.sub(fix, text)


def package_folder(dist: str, folder: str) -> Path:
    """A folder of data files inside an installed distribution (reveal.js, MathJax)."""
    try:
        path = Path(importlib.metadata.distribution(dist).locate_file(folder))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_dir():
        sys.exit(
            f"tools/slides.py: the slides copy files from the {dist} package, which is not "
            "installed here. Install the book's tools (make slides does: pip install -e '.[dev]')."
        )
    return path


# What the decks load, relative to each package's folder.
REVEAL_FILES = [
    "LICENSE",
    "dist/reveal.js",
    "dist/reveal.css",
    "dist/theme/white.css",
    "dist/theme/fonts/source-sans-pro",
    "plugin/notes/notes.js",
]
MATHJAX_FILES = [
    "startup.js",
    "core.js",
    "input/tex.js",
    "input/tex-base.js",
    "input/tex/extensions",  # loaded on demand (\boldsymbol, \cancel, ...)
    "output/chtml.js",
    "output/chtml/fonts",
]
# mhchem (chemistry) and all-packages carry a licence notice with web addresses in the middle of
# the file; the decks never need them.
MATHJAX_LEFT_OUT = {"mhchem.js", "all-packages.js"}
TEXT_SUFFIXES = {".js", ".css", ".html", ".svg", ".json"}

MATHJAX_NOTICE = """MathJax 3 (Apache License 2.0), copied from the files of the Python package
sphinx-mathjax-offline by tools/slides.py: startup, core, TeX input, CommonHTML output and fonts.
"""


def _copy(src: Path, dst: Path) -> None:
    """Copy a file or a folder; text files lose outside addresses, not their licence comment."""
    files = sorted(src.rglob("*")) if src.is_dir() else [src]
    for file in files:
        if file.is_dir() or file.name in MATHJAX_LEFT_OUT:
            continue
        target = dst / file.relative_to(src) if src.is_dir() else dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.suffix in TEXT_SUFFIXES:
            text = file.read_text(encoding="utf-8")
            target.write_text(neutralise_urls(text, keep_licence_comment=True), encoding="utf-8")
        else:
            shutil.copyfile(file, target)


def copy_assets(out: Path) -> None:
    """reveal.js, MathJax and the slides' style sheet into ``out/_assets/``."""
    reveal = package_folder("sphinx-revealjs", "sphinx_revealjs/_static/revealjs")
    mathjax = package_folder("sphinx-mathjax-offline", "sphinx-mathjax-offline/static/mathjax")
    assets = out / "_assets"
    for name in ("reveal", "mathjax"):
        shutil.rmtree(assets / name, ignore_errors=True)
    for rel in REVEAL_FILES:
        _copy(reveal / rel, assets / "reveal" / rel)
    for rel in MATHJAX_FILES:
        _copy(mathjax / rel, assets / "mathjax" / rel)
    (assets / "mathjax" / "NOTICE.txt").write_text(MATHJAX_NOTICE, encoding="utf-8")
    (assets / "slides.css").write_text(STYLE, encoding="utf-8")


# --- 8. Building, and the command line -----------------------------------------------------------


def build(out: Path, chapters: list[str] | None = None, root: Path = ROOT) -> list[Path]:
    """Write the decks of ``chapters`` (all by default) into ``out``; return their paths."""
    notebooks = chapter_notebooks(root / "notebooks", chapters)
    if not notebooks:
        sys.exit(f"tools/slides.py: no notebooks found for chapters {chapters or 'all'}")
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    labels = heading_labels(chapter_notebooks(root / "notebooks"))
    bib = read_bibliography(root / "book" / "references.bib")
    scripts = read_scripts(root)
    written = []
    for path in notebooks:
        chapter = read_chapter(path, root)
        if chapter.marks == "none":
            sys.exit(f"tools/slides.py: {path.name} has no slide marks: run tools/slides.py mark")
        if chapter.marks == "differ":
            print(
                f"warning: {path.name}: slide marks differ from the plan (tools/slides.py mark)",
                file=sys.stderr,
            )
        deck = out / f"{path.stem}.html"
        deck.write_text(deck_html(chapter, out, root, labels, bib, scripts), encoding="utf-8")
        written.append(deck)
    (out / "index.html").write_text(index_html(out), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``mark [--check] [NOTEBOOK ...]`` and ``build [--out DIR] [NN ...]``."""
    parser = argparse.ArgumentParser(prog="tools/slides.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("mark", help="store the slide marks in the notebooks")
    p.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    p.add_argument("--check", action="store_true", help="fail if a notebook's marks differ")
    p = sub.add_parser("build", help="write the reveal.js decks")
    p.add_argument("chapters", nargs="*", help="chapter numbers (NN); default: all")
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "slides")
    args = parser.parse_args(argv)

    if args.command == "mark":
        paths = args.notebooks or chapter_notebooks(ROOT / "notebooks")
        differ = [p for p in paths if mark(p, check=args.check)]
        for path in differ:
            print(f"{path}: {'marks differ' if args.check else 'marked'}")
        if args.check and differ:
            print("Run: python tools/slides.py mark", file=sys.stderr)
            return 1
        return 0
    decks = build(args.out, args.chapters)
    print(f"{len(decks)} decks in {args.out} (open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

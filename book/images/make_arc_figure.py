"""Draw the arc of the course, book/images/course-arc.svg, shown on the landing page.

Run from the repository root after changing the chapter list:

    .venv/bin/python book/images/make_arc_figure.py

The output is deterministic (fixed SVG ids, no date), so re-running it without changes
leaves the committed file as it is. Colours and type come from bookstyle.py, which the
chapter diagrams (make_diagrams.py) share.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from bookstyle import (  # noqa: E402
    BLUE,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    PURPLE,
    SVG_METADATA,
    TEXT,
    YELLOW,
    use_book_style,
)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).with_name("course-arc.svg")

# (number, title, what it builds); two rows (eight, then seven), read like text.
CHAPTERS = [
    ("00", "Setup", "doctor, data"),
    ("01", "Language models", "bigram baseline"),
    ("02", "Tokenization", "byte-level BPE"),
    ("03", "Attention", "causal, scaled"),
    ("04", "Multi-head\nattention", "heads, positions"),
    ("05", "Transformer\nblock", "LayerNorm, MLP"),
    ("06", "The GPT model", "= GPT-2"),
    ("07", "Pretraining", "AdamW, schedule"),
    ("08", "Generation", "sampling, KV cache"),
    ("09", "Classification", "fine-tuning"),
    ("10", "Instruction\ntuning", "SFT"),
    ("11", "LoRA", "adapters"),
    ("12", "Hugging Face", "the same, in HF"),
    ("13", "Evaluation", "prompting, metrics"),
    ("14", "Inside the model", "heads, logit lens"),
]
# Parts of the book: (first chapter, last chapter, name, colour)
PARTS = [
    (0, 2, "Text to numbers", BLUE),
    (3, 6, "Build the model", ORANGE),
    (7, 8, "Train and generate", GREEN),
    (9, 13, "Adapt and evaluate", PURPLE),
    (14, 14, "Look inside", YELLOW),
]


def colour_of(index: int) -> str:
    return next(c for first, last, _, c in PARTS if first <= index <= last)


def draw() -> Figure:
    """The course map: the fifteen chapters in order, coloured by part."""
    fig, ax = plt.subplots(figsize=(13.5, 4.0))
    ax.set_xlim(0, 15.8)
    ax.set_ylim(0.05, 5.2)
    ax.axis("off")
    ax.set_title(
        "The arc of the course: from counting characters to a GPT you can train and adapt",
        fontsize=13,
        pad=6,
    )

    w, h = 1.62, 1.25
    per_row = 8
    xs = [0.25 + 1.95 * i for i in range(per_row)]
    rows = {0: 3.75, 1: 1.05}
    centres = []
    for i, (num, title, builds) in enumerate(CHAPTERS):
        row, col = divmod(i, per_row)
        x, y = xs[col], rows[row]
        box = FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            linewidth=1.2,
            edgecolor=INK,
            facecolor=colour_of(i),
        )
        ax.add_patch(box)
        ax.text(x + 0.1, y + h - 0.12, num, fontsize=10, fontweight="bold", va="top", color=TEXT)
        ax.text(x + w / 2, y + h / 2 + 0.02, title, fontsize=10, ha="center", va="center")
        ax.text(
            x + w / 2,
            y + 0.13,
            builds,
            fontsize=8,
            ha="center",
            va="bottom",
            color=MUTED,
            style="italic",
        )
        centres.append((x, y))

    arrow = dict(arrowstyle="-|>", mutation_scale=12, linewidth=1.2, color=INK)
    for i in range(len(CHAPTERS) - 1):
        (x0, y0), (x1, y1) = centres[i], centres[i + 1]
        if y0 == y1:
            ax.add_patch(FancyArrowPatch((x0 + w, y0 + h / 2), (x1, y1 + h / 2), **arrow))
        else:  # from the end of the first row, back along the gap, down to the second row
            gap = (y0 + y1 + h) / 2
            ax.plot([x0 + w / 2, x0 + w / 2, x1 + w / 2], [y0, gap, gap], color=INK, linewidth=1.2)
            ax.add_patch(FancyArrowPatch((x1 + w / 2, gap), (x1 + w / 2, y1 + h), **arrow))

    # legend of the parts, below the boxes
    for k, (_, _, name, colour) in enumerate(PARTS):
        x = 0.25 + 3.2 * k
        ax.add_patch(
            FancyBboxPatch(
                (x, 0.2),
                0.35,
                0.35,
                boxstyle="round,pad=0.01,rounding_size=0.05",
                linewidth=1,
                edgecolor=INK,
                facecolor=colour,
            )
        )
        ax.text(x + 0.5, 0.375, name, fontsize=10, va="center")

    fig.tight_layout()
    return fig


def main() -> None:
    use_book_style("gptlab-course-arc")
    fig = draw()
    fig.savefig(OUT, format="svg", metadata=SVG_METADATA)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

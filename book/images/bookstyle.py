"""One palette and one type style for every figure drawn from code in book/images/.

Used by make_arc_figure.py (the course map on the landing page) and make_diagrams.py (the
chapter diagrams). Colours carry the same meaning in every diagram:

- blue: data (text, bytes, token ids, batches, files);
- orange: the model's computation (layers, attention, projections);
- green: training (loss, gradients, the optimizer, what is trained);
- purple: what fine-tuning adds (a classification head, LoRA adapters);
- yellow: what a diagram points at (a highlighted value, a read-out);
- grey: frozen weights, masked positions, ignored labels.

Each colour has a light shade for fills and a dark shade for lines and emphasised text.
tests/test_diagrams.py checks that the SVGs use no other colour.
"""

from __future__ import annotations

import matplotlib

# Light shades: box fills. The first five are the parts of the book on the course map.
BLUE = "#dbe9f6"
ORANGE = "#fde2c8"
GREEN = "#d9f0d3"
PURPLE = "#e8dff2"
YELLOW = "#fff2b3"
GREY = "#ececec"

# Dark shades of the same hues: lines, arrows and emphasised text.
BLUE_DARK = "#2f6a9f"
ORANGE_DARK = "#c2611b"
GREEN_DARK = "#3a8a34"
PURPLE_DARK = "#6b4c9a"
YELLOW_DARK = "#a07c00"
GREY_DARK = "#8c8c8c"

# Ink: outlines and arrows, body text, secondary text.
INK = "#444444"
TEXT = "#333333"
MUTED = "#555555"
WHITE = "#ffffff"

PALETTE: dict[str, str] = {
    "blue": BLUE,
    "orange": ORANGE,
    "green": GREEN,
    "purple": PURPLE,
    "yellow": YELLOW,
    "grey": GREY,
    "blue_dark": BLUE_DARK,
    "orange_dark": ORANGE_DARK,
    "green_dark": GREEN_DARK,
    "purple_dark": PURPLE_DARK,
    "yellow_dark": YELLOW_DARK,
    "grey_dark": GREY_DARK,
    "ink": INK,
    "text": TEXT,
    "muted": MUTED,
    "white": WHITE,
}

# Metadata that would change from run to run or from machine to machine, left out.
SVG_METADATA = {"Date": None, "Creator": None}


def use_book_style(salt: str) -> None:
    """Set matplotlib up for a book figure: text kept as text, sans-serif, fixed SVG ids.

    Text stays text (``svg.fonttype = "none"``): small, sharp, searchable and readable by a
    screen reader. The fonts named are DejaVu Sans and DejaVu Sans Mono, with the browser's
    generic sans-serif and monospace fonts after them; layouts leave room for wider fonts.
    ``salt`` fixes the ids that matplotlib writes, so re-running gives identical files.
    """
    matplotlib.rcParams["svg.hashsalt"] = salt
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["font.family"] = "sans-serif"

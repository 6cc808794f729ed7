"""The chapter diagrams (book/images/make_diagrams.py): one per chapter, shown where it belongs,
drawn reproducibly in the book's palette, described for readers who cannot see them, and
printing the course's own numbers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "book" / "images"
DIAGRAMS = IMAGES / "diagrams"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(IMAGES))  # the figure scripts are scripts, not part of gptlab
import bookstyle  # noqa: E402  (book/images/bookstyle.py)
import make_diagrams  # noqa: E402  (book/images/make_diagrams.py)

INDEX = json.loads((DIAGRAMS / "diagrams.json").read_text(encoding="utf-8"))
ENTRIES = [(nn, d) for nn, items in INDEX.items() for d in items]
SVGS = sorted(DIAGRAMS.glob("*.svg"))
SVG_NS = "{http://www.w3.org/2000/svg}"


def _notebook(nn: str) -> dict:
    (path,) = (p for p in NOTEBOOKS if p.name.startswith(nn + "_"))
    return json.loads(path.read_text(encoding="utf-8"))


def _glued(nb: dict, name: str) -> str:
    """The value a notebook glued under ``name`` (myst-nb's record in the stored outputs)."""
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == name:
                return next(iter(out["data"].values()))
    raise KeyError(f"nothing glued as {name!r}")


def _printed(nb: dict) -> str:
    """Everything the notebook's code cells printed."""
    return "\n".join(
        "".join(out.get("text", ""))
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
        if out["output_type"] == "stream"
    )


def _svg_text(path: Path) -> str:
    return " ".join("".join(t.itertext()) for t in ET.parse(path).iter(f"{SVG_NS}text"))


# --------------------------------------------------------------------------------------------
# One diagram per chapter, and every file accounted for
# --------------------------------------------------------------------------------------------


def test_every_chapter_has_an_opening_diagram():
    chapters = [p.name[:2] for p in NOTEBOOKS]
    assert sorted(INDEX) == chapters, "diagrams.json has an entry for each notebook, no other"
    for nn in chapters:
        first = INDEX[nn][0]
        assert first["name"] == f"diagram-{nn}"
        assert first["file"].startswith(nn + "_") and (DIAGRAMS / first["file"]).exists()
    files = {d["file"] for _, d in ENTRIES}
    assert files == {p.name for p in SVGS}, "every SVG is registered, and only those"
    assert len({d["name"] for _, d in ENTRIES}) == len(ENTRIES), "names are unique"


def test_the_index_is_the_registry():
    assert make_diagrams.index() == INDEX, "run: python book/images/make_diagrams.py"


@pytest.mark.parametrize("path", SVGS, ids=[p.stem for p in SVGS])
def test_svg_is_well_formed_and_page_sized(path):
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag == f"{SVG_NS}svg"
    box = [float(v) for v in root.get("viewBox").split()]
    assert len(box) == 4 and box[2] > 0 and box[3] > 0
    width, height = (float(root.get(k).removesuffix("pt")) * 4 / 3 for k in ("width", "height"))
    assert (width, height) == pytest.approx((box[2] * 4 / 3, box[3] * 4 / 3))
    assert 850 <= width <= 950 and 300 <= height <= 500, "about 900 px wide, legible at page width"
    assert "<dc:date>" not in path.read_text(encoding="utf-8"), "no dates: re-runs are identical"
    assert len(_svg_text(path)) > 100, "text stays text (svg.fonttype none)"


# --------------------------------------------------------------------------------------------
# Alt text and captions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nn,d", ENTRIES, ids=[d["name"] for _, d in ENTRIES])
def test_alt_text_describes_the_diagram(nn, d):
    alt = d["alt"]
    assert 40 <= len(alt) <= 400, f"{d['file']}: one to three sentences ({len(alt)} characters)"
    assert not re.match(r"(diagram|image|picture|figure) of", alt, re.I), "say what it shows"
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", alt)) <= 3, "one to three sentences"
    assert "\n" not in alt and "\n" not in d["caption"], "one line each (a MyST option)"
    assert d["caption"].endswith(".") and len(d["caption"]) <= 200, "a one-sentence caption"
    # a number that the alt text quotes is one that the diagram shows
    shown = _svg_text(DIAGRAMS / d["file"])
    for number in re.findall(r"\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+", alt):
        assert number in shown, f"{d['file']}: the alt text quotes {number}, the diagram does not"


# --------------------------------------------------------------------------------------------
# Drawn reproducibly, in the book's palette
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generator_output_is_byte_identical(tmp_path):
    script = IMAGES / "make_diagrams.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in DIAGRAMS.iterdir() if p.is_file())
    for name in made:
        assert (tmp_path / name).read_bytes() == (DIAGRAMS / name).read_bytes(), (
            f"{name} differs from the committed file: run python book/images/make_diagrams.py"
        )


COLOUR = re.compile(r"(?:^|;)\s*(fill|stroke)\s*:\s*([^;]+)")


def _colours(path: Path) -> set[str]:
    found = set()
    for el in ET.parse(path).iter():
        for key in ("fill", "stroke"):
            if el.get(key):
                found.add(el.get(key).strip().lower())
        for _, value in COLOUR.findall(el.get("style") or ""):
            found.add(value.strip().lower())
    return found


@pytest.mark.parametrize("path", [*SVGS, IMAGES / "course-arc.svg"], ids=lambda p: p.stem)
def test_only_palette_colours(path):
    allowed = {c.lower() for c in bookstyle.PALETTE.values()} | {"#ffffff", "#000000", "none"}
    stray = _colours(path) - allowed
    assert not stray, f"{path.name} uses colours outside bookstyle.PALETTE: {sorted(stray)}"


def test_palette_is_shared_with_the_course_map():
    source = (IMAGES / "make_arc_figure.py").read_text(encoding="utf-8")
    assert "from bookstyle import" in source and not re.search(r'"#[0-9a-fA-F]{6}"', source), (
        "the course map takes its colours from bookstyle.py"
    )


# --------------------------------------------------------------------------------------------
# Shown where they belong: the notebooks, the diagrams page and the landing page
# --------------------------------------------------------------------------------------------


def _figure(nn: str, d: dict) -> str:
    return make_diagrams.figure_block(nn, make_diagrams.DIAGRAMS[nn][INDEX[nn].index(d)])


@pytest.mark.parametrize("nn,d", ENTRIES, ids=[d["name"] for _, d in ENTRIES])
def test_notebook_shows_its_diagram(nn, d):
    cells = [c for c in _notebook(nn)["cells"] if c["cell_type"] == "markdown"]
    block = _figure(nn, d)
    assert f":::{{figure}} ../book/images/diagrams/{d['file']}\n:name: {d['name']}\n" in block
    assert f"\n:alt: {d['alt']}\n" in block and f"\n{d['caption']}\n:::" in block
    holding = [i for i, c in enumerate(cells) if block in "".join(c["source"])]
    assert holding, (
        f"chapter {nn} lacks the figure {d['name']} as diagrams.json has it: run "
        "python book/images/make_diagrams.py --notebooks"
    )
    source = "".join(cells[holding[0]]["source"])
    if d["name"] == f"diagram-{nn}":  # the opening diagram: right after the At-a-glance box
        assert holding == [0]
        box = make_diagrams.AT_A_GLANCE.search(source)
        assert source[box.end() :].lstrip("\n").startswith(block)
    assert (ROOT / "notebooks" / f"../book/images/diagrams/{d['file']}").resolve().exists()


def test_training_loop_diagram_opens_the_section_on_the_loop():
    cells = [c for c in _notebook("07")["cells"] if c["cell_type"] == "markdown"]
    (cell,) = [c for c in cells if "diagram-07-training-loop" in "".join(c["source"])]
    assert "## 2. The pieces of the training loop\n" in "".join(cell["source"])


def test_notebooks_and_page_are_up_to_date(tmp_path):
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / path.name)
    assert make_diagrams.update_notebooks(tmp_path) == [], (
        "run: python book/images/make_diagrams.py --notebooks"
    )
    page = (ROOT / "book" / "diagrams.md").read_text(encoding="utf-8")
    assert page == make_diagrams.page(), "run: python book/images/make_diagrams.py --notebooks"


def test_diagrams_page_and_landing_page_link_every_diagram():
    page = (ROOT / "book" / "diagrams.md").read_text(encoding="utf-8")
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    for nn, d in ENTRIES:
        assert f":::{{figure}} images/diagrams/{d['file']}\n:alt: {d['alt']}\n" in page
        assert d["caption"] in page
        (stem,) = (p.stem for p in NOTEBOOKS if p.name.startswith(nn + "_"))
        assert f"<../notebooks/{stem}>`" in page, f"the diagrams page links chapter {nn}"
        assert f"<{d['name']}>`" in intro, f"the landing page links {d['name']}"
    assert "{doc}`diagrams`" in intro
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    teaching = toc.split("caption: Teaching and reference", 1)[1]
    assert "- file: book/diagrams\n" in teaching


# --------------------------------------------------------------------------------------------
# The numbers the diagrams print are the course's
# --------------------------------------------------------------------------------------------


def test_bpe_merges_are_gptlabs():
    from gptlab.tokenizers import BPETokenizer

    steps = make_diagrams.bpe_steps()
    ours = {s["pair"]: s["new_id"] for s in steps[1:]}
    tok = BPETokenizer.train(make_diagrams.BPE_TEXT, 256 + make_diagrams.BPE_MERGES)
    assert tok.merges == ours
    assert tok.encode(make_diagrams.BPE_TEXT) == [i for ids in steps[-1]["chunks"] for i in ids]
    assert steps[1]["ties"], "the drawing explains a tie; the text must still have one"


def test_bigram_numbers_are_chapter_01s():
    nb = _notebook("01")
    row = dict(make_diagrams.BIGRAM_AFTER_SPACE)
    assert round(100 * row["t"], 1) == round(float(_glued(nb, "p_t_after_space_pct")), 1)
    assert f"counted {make_diagrams.BIGRAM_U_AFTER_Q:.3f}" in _printed(nb)
    assert f"{make_diagrams.N_CHARS} characters:" in _printed(nb)
    assert sum(row.values()) + make_diagrams.BIGRAM_OTHERS_AFTER_SPACE == pytest.approx(1, abs=5e-4)
    assert max(row.values()) == row["t"], "the bars are the most likely characters, largest first"


def test_causal_softmax_rows():
    w = make_diagrams.causal_softmax(make_diagrams.ATTENTION_SCORES)
    for i, row in enumerate(w):
        assert sum(row) == pytest.approx(1) and all(x == 0 for x in row[i + 1 :])


def test_pretraining_numbers_are_chapter_07s():
    from gptlab.reference import model_info
    from gptlab.tokenizers import BPETokenizer
    from gptlab.train import lr_schedule, short_run_config

    nb, c = _notebook("07"), make_diagrams.CORPUS
    for key in ("train_chars", "val_chars", "train_tokens", "val_tokens"):
        assert int(_glued(nb, key)) == c[key] == model_info()["corpus"][key]
    tok = BPETokenizer.load(ROOT / "gptlab" / "weights" / "shakespeare" / "tokenizer.json")
    assert tok.tokens(make_diagrams.WINDOW_TEXT) == make_diagrams.WINDOW_TOKENS
    cfg, run = short_run_config(), make_diagrams.SHORT_RUN
    assert (cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.max_steps) == tuple(run.values())
    for step in (0, 199, 200, 500, 799):
        ours = make_diagrams.lr_at(step, run["lr"], run["min_lr"], run["warmup"], run["total"])
        assert ours == lr_schedule(step, run["lr"], run["warmup"], run["total"], run["min_lr"])


def test_classifier_and_lora_numbers():
    nb9 = _notebook("09")
    for mode, n in make_diagrams.CLASSIFY_TRAINABLE.items():
        assert re.search(rf"^{mode}\s+{n:,} trainable", _printed(nb9), re.M)
    svg = _svg_text(DIAGRAMS / "11_lora.svg")
    nb11 = _notebook("11")
    assert f"{int(_glued(nb11, 'r4_attn_ref')):,}" in svg
    assert f"{float(_glued(nb11, 'r4_attn_ref_pct')):.2f} %" in svg
    assert 4 * (256 + 768) == 4_096 and 768 * 256 == 196_608


def test_instruction_tuning_example_is_chapter_10s():
    from gptlab.finetune import sft
    from gptlab.tokenizers import BPETokenizer

    assert make_diagrams.SFT_TEMPLATE == sft.DEFAULT_TEMPLATE
    assert make_diagrams.SFT_END == sft.END_OF_RESPONSE
    tok = BPETokenizer.load(ROOT / "gptlab" / "weights" / "shakespeare" / "tokenizer.json")
    ids, labels = sft.encode_example(make_diagrams.SFT_EXAMPLE, tok, 128)
    assert labels.count(sft.IGNORE_INDEX) == make_diagrams.SFT_PROMPT_TOKENS
    tail = make_diagrams.SFT_TAIL
    assert len(ids) == tail[-1][0] + 1
    for t, token, i, label in tail:
        assert (tok.decode([ids[t]]), ids[t], labels[t]) == (token, i, label)
    assert make_diagrams.SFT_EXAMPLE["input"] in _printed(_notebook("10"))


def test_hugging_face_names_are_gptlab_hfs():
    from gptlab import hf

    assert [f for f, _ in make_diagrams.HF_FILES] == list(hf.EXPORTED_FILES)
    transposed = {
        ours.removeprefix("h.0.") for ours, *_, how in make_diagrams.HF_ROWS if how == "t"
    }
    assert transposed == set(hf._CONV1D)


def test_evaluation_numbers_are_chapter_13s():
    printed, e = _printed(_notebook("13")), make_diagrams.EVAL_NUMBERS
    assert (
        f"{e['predictions']} predictions: {e['nats_per_token']:.3f} nats/token, perplexity "
        f"{e['perplexity']:.1f}" in printed
    )
    assert (
        f"{e['chars_per_token']:.2f} characters per token -> {e['nats_per_char']:.3f} "
        f"nats/char = {e['bits_per_char']:.3f} bits/char" in printed
    )
    assert make_diagrams.FEW_SHOT_PROMPT + "..." in printed
    for title, score in make_diagrams.FEW_SHOT_SCORES:
        assert re.search(rf"^\s*{score:.2f}  {re.escape(title)}", printed, re.M)
    assert f"{make_diagrams.FEW_SHOT_ANSWER}   <- answer" in printed


def test_kv_cache_memory_is_chapter_08s():
    mb = float(_glued(_notebook("08"), "ref_cache_fp32_mb"))
    assert f"{mb:.2f} MB" in _svg_text(DIAGRAMS / "08_kv_cache.svg")
    assert 2 * 6 * 128 * 256 * 4 / 1e6 == pytest.approx(mb)

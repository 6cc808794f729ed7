"""Numbers in the prose come from the outputs (myst-nb ``glue``), not typed by hand.

A number that a notebook's markdown quotes and that also appears among the same notebook's
stored outputs (at the precision the prose uses, or as a percentage of an output fraction) is a
computed number typed by hand: it goes stale the next time the notebook runs. Bind it with
``glue("name", value, display=False)`` in the code and ``{glue:text}`name:.2f``` in the prose.
Numbers that are inputs (written as literals in the notebook's code: a learning rate, a
dropout rate) and the few facts listed in FACTS are exempt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A number with a decimal point, a thousands separator or a percent sign (plain integers such
# as years, chapter numbers and small counts are too common to judge).
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?!\w)")
# What the prose may contain that is not a quoted number: glue roles, inline code, math, links,
# citations.
NOT_PROSE = [
    re.compile(p, re.S)
    for p in (
        r"\{glue(?::\w+)?\}`[^`]*`",
        r"`[^`]*`",
        r"\$\$.*?\$\$",
        r"\$[^$]*\$",
        r"\]\([^)]*\)",
        r"\*\*Run time\*\*[^\n]*",  # measured and bound by tests/test_chapters.py
        # a chapter diagram's figure: its alt text and caption come from diagrams.json, and
        # tests/test_diagrams.py checks the numbers the diagrams print against the outputs
        r"(?m)^:::\{figure\} \.\./book/images/diagrams/.*?^:::$",
    )
]

# Notebooks whose prose binds every computed number. The others are converted chapter by
# chapter (issue 13); a notebook joins this list when its prose passes.
CHECKED = [
    "00_setup",
    "01_language_models",
    "02_tokenization",
    "03_attention",
    "04_multihead_attention",
    "05_transformer_block",
    "06_gpt_model",
    "07_pretraining",
    "08_generation",
    "09_classification",
    "10_instruction_tuning",
    "11_lora",
    "12_huggingface",
    "13_evaluation",
]

# Facts and recipe settings that a notebook quotes and that also happen to be printed: not
# results of the notebook's computation. notebook -> {number as written: why it is exempt}.
SWEEP = "chapter 07's sweep of 90-second runs, a table of runs made outside the notebook"
FACTS = {
    "00_setup": {"3.11": "the oldest Python the course supports (a requirement)"},
    "01_language_models": {
        "3.3": "the loss per token in the worked example of exercise 2's solution (an input)",
    },
    "02_tokenization": {
        "3,840": "the merges a 4,096-token vocabulary needs beyond the 256 bytes (a setting)",
        "2.2": "a section number of the GPT-2 paper",
    },
    "03_attention": {
        "0.02": "the initialisation std that chapter 06 uses (GPT-2's setting)",
        "0.31": "768 x 0.02^2, arithmetic on GPT-2 small's width and init std (facts)",
    },
    "04_multihead_attention": {
        "1,024": "the training length of the exercise's hypothetical model (GPT-2's context)",
    },
    "06_gpt_model": {
        "15%": "BERT's masking rate (a setting of the BERT paper)",
        "50,257": "GPT-2's vocabulary size (a fact)",
        "1,024": "GPT-2's context length (a fact)",
    },
    "07_pretraining": {
        "1,024": "tokens per step, 32 windows x 32 tokens (a setting)",
        "1,200": SWEEP,
        "1.70": SWEEP,
        "0.005": SWEEP,
        "0.07": SWEEP,
        "1.568": SWEEP,
        "1.650": SWEEP,
        "1.61": SWEEP,
    },
    "08_generation": {
        "4,096": "the reference model's vocabulary size (a setting of chapter 07)",
        "90%": "the nucleus threshold p = 0.9 written as a percentage (a setting)",
        "1,024": "GPT-2 XL's context length (a fact), the sequence length of the cache example",
        "0.1": "the illustrative range 0.1-0.3 of a discussion answer, not a measured value",
    },
    "10_instruction_tuning": {
        "4.5": "the size of the pretraining split in MB (chapter 07's corpus, a fact)",
    },
    "11_lora": {
        "0.9": "AdamW's beta1 in the course's one loop (a setting)",
        "0.95": "AdamW's beta2 in the course's one loop (a setting)",
        "0.5": "the LoRA scale alpha / r = 8 / 16 for rank 16 (settings)",
        "1.2": "the LoRA paper's 1.2 TB (published) and exercise 4's 1.2 MB (worked answer)",
        "124,439,808": "GPT-2 small's parameter count (a fact, counted in chapter 06)",
        "0.6": "the 0.6 GB of exercise 4's worked answer (arithmetic, not a result)",
    },
    "12_huggingface": {
        "4,096": "the reference model's vocabulary size (a setting of chapter 07)",
        "5.23": "the transformers version the offline wrinkle was measured with (a fact)",
    },
    "13_evaluation": {
        "0.2": "the reference recipe's dropout (a setting, printed from its model card)",
    },
}


def _value(match: re.Match) -> tuple[str, float]:
    whole, frac, pct = match.groups()
    return ("%" if pct else "n"), float(whole.replace(",", "") + (frac or ""))


def output_numbers(nb: dict) -> set[tuple[str, float]]:
    """Every number in the stored outputs, also rounded to fewer decimals and as a percentage."""
    found = set()
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            for m in NUMBER.finditer(text):
                kind, x = _value(m)
                found.add((kind, round(x, 6)))
                decimals = len(m.group(2) or ".") - 1
                for d in range(decimals):
                    found.add(("n", round(x, d)))
                if kind == "n" and decimals and x <= 1:
                    found.update(("%", round(100 * x, d)) for d in range(3))
    return found


def code_literals(nb: dict) -> set[str]:
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return {m.group(0) for m in NUMBER.finditer(text)}


def unbound_numbers(nb: dict, facts: dict[str, str]) -> list[str]:
    outputs, literals = output_numbers(nb), code_literals(nb)
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        prose = "".join(cell["source"])
        for pattern in NOT_PROSE:
            prose = pattern.sub(" ", prose)
        for m in NUMBER.finditer(prose):
            whole, frac, pct = m.groups()
            if not (frac or pct or "," in whole) or m.group(0).rstrip("%") in literals:
                continue
            if m.group(0) in facts:
                continue
            kind, x = _value(m)
            if (kind, round(x, 6)) in outputs:
                context = prose[max(0, m.start() - 40) : m.end() + 10].replace("\n", " ")
                found.append(f"cell {i}: {m.group(0)} in '...{context}...'")
    return found


@pytest.mark.parametrize("name", CHECKED)
def test_prose_binds_its_computed_numbers(name):
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    found = unbound_numbers(nb, FACTS.get(name, {}))
    assert not found, f"{name}: numbers typed by hand that the outputs compute:\n" + "\n".join(
        found
    )


def test_the_check_bites():
    """A prose number equal to an output is caught; glued, literal and exempt numbers are not."""
    nb = {
        "cells": [
            {"cell_type": "code", "source": ["lr = 0.25\nprint(f'{acc:.3f}')"],
             "outputs": [{"output_type": "stream", "text": ["acc 0.228, 1,321,728\n"]}]},
            {"cell_type": "markdown", "source": ["Accuracy is 0.23 (23%), with 1,321,728."]},
            {"cell_type": "markdown", "source": ["Accuracy is {glue:text}`acc:.2f`, lr 0.25."]},
        ]
    }  # fmt: skip
    found = unbound_numbers(nb, {})
    assert [f.split(" in ")[0] for f in found] == [
        "cell 1: 0.23",
        "cell 1: 23%",
        "cell 1: 1,321,728",
    ]
    assert unbound_numbers(nb, {"0.23": "x", "23%": "x", "1,321,728": "x"}) == []


def test_benchmarks_page_quotes_the_measured_run():
    """book/benchmarks.md's table is the stored `gptlab bench --json` run, number for number."""
    bench = json.loads((ROOT / "book" / "data" / "bench.json").read_text())
    page = (ROOT / "book" / "benchmarks.md").read_text()
    table = page.split("## Measured", 1)[1].split("What the numbers say", 1)[0]
    rates = {**bench["train_tokens_per_s"], **bench["generate_tokens_per_s"]}
    rates |= {f"small_{k}": v for k, v in bench["train_small_tokens_per_s"].items()}
    for value in rates.values():
        assert f"{value:,.0f}" in table, f"{value:,.0f} tokens/s is not in the table"
    for value in bench["ratios"].values():
        assert f"**{value:.2f}×**" in table, f"ratio {value:.2f} is not in the table"
    quoted = re.findall(r"\*\*(\d+\.\d\d)×\*\*", table)
    assert len(quoted) == len(bench["ratios"]), "every ratio in the table comes from the file"

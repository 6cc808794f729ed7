"""gptlab's own messages in the learner's language (GPTLAB_LANG=zh_CN).

What a learner reads from the package itself (exercise verdicts, hints and the solutions'
comments, `gptlab doctor`'s lines, the clear errors the chapters show) goes through
gptlab.utils.tr. These tests compare the English message set (collected from the code by
tools/zh.py) with the Chinese catalog and the compiled file gptlab ships, check that the errors
the notebooks show are in it, and read a few messages in both languages as a learner would.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import polib
import pytest
import torch

from gptlab import checkup
from gptlab.exercises import ch03, ch07
from gptlab.generate import generate
from gptlab.model import GPT, GPTConfig
from gptlab.utils import catalog, tr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import zh  # noqa: E402  (tools/zh.py)

ENGLISH = zh.package_messages()
CHINESE = {e.msgid: e for e in polib.pofile(str(zh.MESSAGES)) if not e.obsolete}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _template(msgid: str) -> re.Pattern:
    """A message with its ``{...}`` fields as wildcards (``{{``/``}}`` are literal braces)."""
    parts = re.split(r"(\{\{|\}\}|\{[^{}]*\})", msgid)
    literal = {"{{": "{", "}}": "}"}
    pattern = "".join(
        re.escape(literal[p]) if p in literal else "(.*?)" if p[:1] == "{" else re.escape(p)
        for p in parts
    )
    return re.compile(pattern + "$", re.S)


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setenv("GPTLAB_LANG", "zh_CN")


# --- the message sets ------------------------------------------------------------------------


def test_english_and_chinese_message_sets_are_the_same():
    """Every English message has a Chinese entry and no entry is left over
    (python tools/zh.py messages merges new ones)."""
    assert len(ENGLISH) > 300
    missing = sorted(set(ENGLISH) - set(CHINESE))
    stale = sorted(set(CHINESE) - set(ENGLISH))
    assert not missing, f"{len(missing)} messages have no entry, e.g. {missing[:3]}"
    assert not stale, f"{len(stale)} entries are no longer used, e.g. {stale[:3]}"


def test_every_message_is_translated_and_keeps_its_fields_and_code():
    problems = zh.check([zh.MESSAGES])
    assert not problems, "\n".join(f"{k}: {v}" for k, v in list(problems.items())[:20])
    assert all(HAN.search(e.msgstr) for e in CHINESE.values())


def test_the_shipped_catalog_is_the_compiled_po_file():
    """gptlab/locales/zh_CN/LC_MESSAGES/gptlab.mo holds exactly the translations of gptlab.po."""
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(zh.COMPILED)) if e.msgid}
    assert compiled == {
        k: e.msgstr for k, e in CHINESE.items() if e.msgstr and "fuzzy" not in e.flags
    }


def test_a_message_the_collector_cannot_know_is_an_error(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text('A = "fixed"\ntr("literal")\ntr(A)\ntr(f"x {y}")\ntr(name)\n')
    found, dynamic = zh._literal_messages(module.resolve())
    assert set(found) == {"literal", "fixed"}
    assert dynamic == ["f'x {y}'", "name"]


def test_the_placeholder_check_bites():
    assert zh.placeholders_differ("got {}.", "得到。")
    assert zh.placeholders_differ("{a} and {b}", "{a} 和 {c}")
    assert not zh.placeholders_differ("{a} and {b!r}", "{b!r} 与 {a}")
    assert not zh.placeholders_differ("end with {{response}} ({n})", "以 {{response}} 结尾（{n}）")


def test_prose_comments_of_solutions_are_messages_and_shapes_are_not():
    assert zh.solution_comment("no query sees a later key")
    assert not zh.solution_comment("(B, nh, T, hs)")
    assert not zh.solution_comment("(B, T + max_new_tokens)")
    assert "no query sees a later key" in ENGLISH


def _shown_errors() -> list[tuple[str, str, str]]:
    """(notebook, error type, message) for every error a chapter's stored outputs show."""
    shown = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                for line in "".join(output.get("text", "")).splitlines():
                    if m := re.search(r"\b(\w*Error): (.+)$", line):
                        shown.append((path.stem, m[1], m[2]))
    return shown


def test_the_errors_the_chapters_show_are_in_both_languages():
    shown = _shown_errors()
    assert len(shown) >= 12 and {nb[:2] for nb, _, _ in shown} >= {"03", "04", "07", "08", "11"}
    templates = [(_template(msgid), msgid) for msgid in ENGLISH]
    for notebook, kind, message in shown:
        hits = [msgid for pattern, msgid in templates if pattern.match(message)]
        assert hits, f"{notebook}: {kind}: {message[:80]!r} is not a gptlab message"
        assert all(CHINESE[h].msgstr for h in hits)


# --- what a learner reads ---------------------------------------------------------------------


def test_english_is_the_default_and_an_unknown_language_falls_back_to_it(monkeypatch):
    monkeypatch.delenv("GPTLAB_LANG", raising=False)
    assert tr("Correct!") == "Correct!"
    monkeypatch.setenv("GPTLAB_LANG", "xx_YY")
    assert tr("Correct!") == "Correct!"
    report = checkup.doctor(check_network=False, print_report=False)
    assert report.checks[-1].name == "language" and report.checks[-1].status == "WARN"
    assert "GPTLAB_LANG=xx_YY" in report.checks[-1].detail


def test_errors_in_chinese_carry_their_values(chinese):
    with pytest.raises(ValueError) as caught:
        generate(torch.nn.Identity(), torch.tensor([[1, 2]]), 3, temperature=-0.5)
    message = str(caught.value)
    assert HAN.search(message) and "-0.5" in message
    assert message == CHINESE["temperature must be >= 0 (0 means greedy), got {}."].msgstr.format(
        -0.5
    )
    model = GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match="4") as caught:
        model(torch.zeros(1, 5, dtype=torch.long))
    assert HAN.search(str(caught.value)) and "block_size" in str(caught.value)


def test_an_exercise_speaks_chinese(chinese, capsys):
    def unscaled(q, k):
        return torch.softmax(q @ k.mT, dim=-1)

    result = ch03.attention_weights.check(unscaled)
    hint = ch03.attention_weights.mistakes[0][1]
    assert not result and result.message == tr("Not quite. {}").format(tr(hint))
    assert HAN.search(result.message) and tr(hint) != hint
    assert HAN.search(ch03.attention_weights.check(ch03.attention_weights.reference).message)
    ch03.attention_weights.hint()
    ch03.causal_attention.solution()
    out = capsys.readouterr().out
    assert tr(ch03.attention_weights.hint_text) in out
    assert "# " + tr("no query sees a later key") in out and "no query sees" not in out
    assert "scores.masked_fill(~mask" in out  # the code itself is unchanged


def test_a_custom_checker_hint_is_translated_too(chinese):
    def frozen(model, get_batch, steps, lr):  # never steps the optimizer
        for _ in range(steps):
            model(*get_batch())

    result = ch07.train_loop.evaluate(frozen)
    assert not result and tr(ch07.train_loop.mistakes[0][1]) in result.message
    assert HAN.search(result.message)


def test_doctor_speaks_chinese(chinese):
    report = checkup.doctor(check_network=False, print_report=False)
    lines = report.text().splitlines()
    assert HAN.search(lines[-1])  # ready / not ready
    assert any(c.name == "language" and c.detail == "zh_CN" for c in report.checks)
    hub = next(c for c in report.checks if c.name == "hugging face hub")
    assert HAN.search(hub.detail)


def test_the_catalog_is_read_per_language():
    assert catalog("zh_CN") is catalog("zh_CN")
    assert catalog("zh_CN").gettext("Correct!") != "Correct!"
    assert catalog("xx_YY").gettext("Correct!") == "Correct!"

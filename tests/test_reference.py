"""The shipped reference model, the `gptlab generate` and `gptlab bench` commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

import gptlab
from gptlab import reference

GPTLAB = [sys.executable, "-m", "gptlab.cli"]


@pytest.fixture(scope="module")
def shipped():
    return gptlab.pretrained("shakespeare")


def test_reference_loads_in_one_call_and_checks_its_hash(shipped):
    model, tok = shipped
    assert not model.training
    info = reference.model_info("shakespeare")
    assert info["sha256"] == reference.REFERENCE_MODELS["shakespeare"]
    assert (
        reference.WEIGHTS_DIR / "shakespeare" / "model.safetensors"
    ).stat().st_size <= 16 * 2**20
    ids = torch.tensor([tok.encode("ROMEO:\nBut soft, what light")])
    logits, _ = model(ids)
    assert logits.shape == (1, ids.size(1), model.config.vocab_size)


def test_reference_meets_its_goal(shipped):
    info = reference.model_info("shakespeare")
    assert info["final"]["val_loss_per_char"] <= 1.45
    assert info["final"]["parameters"] == shipped[0].num_params()
    card = (reference.WEIGHTS_DIR / "shakespeare" / "MODEL_CARD.md").read_text()
    for fact in ["validation", "wall", "steps", "nats"]:
        assert fact in card.lower()


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    fake = tmp_path / "shakespeare"
    shutil.copytree(reference.WEIGHTS_DIR / "shakespeare", fake)
    with open(fake / "model.safetensors", "r+b") as fh:
        fh.seek(4000)
        fh.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(reference, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(reference.PretrainedError, match="SHA-256"):
        reference.pretrained("shakespeare")
    with pytest.raises(reference.PretrainedError, match="available"):
        reference.pretrained("no-such-model")


def test_reference_text_is_shakespearean(shipped):
    """Not a quality metric: the model's greedy continuation uses the corpus' vocabulary."""
    from gptlab.generate import generate

    model, tok = shipped
    out = generate(model, torch.tensor([tok.encode("KING HENRY:\n")]), 60, temperature=0)
    text = tok.decode(out[0].tolist())
    words = [w.strip(".,;:!?'").lower() for w in text.split()]
    common = {
        "the",
        "and",
        "of",
        "to",
        "my",
        "i",
        "a",
        "you",
        "that",
        "in",
        "thy",
        "thou",
        "is",
        "not",
        "me",
        "with",
    }
    assert sum(w in common for w in words) >= 5, text


def test_generate_command(tmp_path):
    result = subprocess.run(
        [
            *GPTLAB,
            "generate",
            "--prompt",
            "JULIET:\n",
            "--max-new-tokens",
            "20",
            "--temperature",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("JULIET:\n") and len(result.stdout) > 30
    again = subprocess.run(
        [
            *GPTLAB,
            "generate",
            "--prompt",
            "JULIET:\n",
            "--max-new-tokens",
            "20",
            "--temperature",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.stdout == result.stdout
    bad = subprocess.run(
        [*GPTLAB, "generate", "--prompt", "x", "--top-p", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "top_p" in bad.stderr
    missing = subprocess.run(
        [*GPTLAB, "generate", "--prompt", "x", "--checkpoint", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "No checkpoint" in missing.stderr


@pytest.mark.slow
def test_bench_command_reports_every_number():
    """A smoke test of `gptlab bench --json --quick`: the keys, not the speeds (never asserted)."""
    result = subprocess.run(
        [*GPTLAB, "bench", "--json", "--quick"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert set(data["train_tokens_per_s"]) == {"gptlab", "hf"}
    assert set(data["train_small_tokens_per_s"]) == {"gptlab", "hf"}
    assert (
        data["configs"]["train"]["n_embd"] == 256
        and data["configs"]["train_small"]["n_embd"] == 128
    )
    assert set(data["generate_tokens_per_s"]) == {"gptlab_cache", "gptlab_nocache", "hf"}
    assert all(v > 0 for v in data["train_tokens_per_s"].values())

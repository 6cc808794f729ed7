"""The ablation ladder (gptlab.ladder, chapter 07): every rung, tiny, plus the committed result."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path

import pytest
import torch

from gptlab import data, ladder
from gptlab.attention import MultiHeadAttention
from gptlab.model import MLP, LayerNorm

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_embd=16, block_size=16, n_head=4, n_layer=2)
BUDGET = ladder.Budget(
    steps=30,
    batch_size=8,
    block_size=16,
    n_embd=16,
    n_head=4,
    n_layer=2,
    lr=3e-2,
    min_lr=3e-3,
    warmup=3,
    eval_windows=16,
)


@pytest.fixture(scope="module")
def texts() -> tuple[str, str]:
    text = data.python_docs()[:20_000]
    return text[:18_000], text[18_000:]


@pytest.fixture(scope="module")
def vocab(texts) -> int:
    return ladder.encode_splits(*texts)[0]


@pytest.fixture(scope="module")
def tiny_ladder(texts) -> dict:
    return ladder.run_ladder(seeds=(0, 1), budget=BUDGET, progress=False, texts=texts)


def count(model: torch.nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_every_rung_builds_with_the_expected_parts(vocab):
    models = [ladder.LadderModel(r, vocab, **TINY) for r in range(len(ladder.RUNGS))]
    idx = torch.randint(vocab, (2, 16))
    for r, model in enumerate(models):
        logits, loss = model(idx, idx)
        assert logits.shape == (2, 16, vocab)
        assert math.isfinite(loss.item()) and abs(loss.item() - math.log(vocab)) < 0.5, r
    assert count(models[0], MultiHeadAttention) == 0 and models[0].table.weight.shape == (
        vocab,
        vocab,
    )
    assert models[1].h[0].attn.n_head == 1 and models[1].wpe is None
    assert models[2].wpe is not None and models[3].h[0].attn.n_head == 4
    assert count(models[3], MLP) == 0 and count(models[4], MLP) == 1
    assert not models[4].h[0].residual and models[5].h[0].residual
    assert count(models[5], LayerNorm) == 0 and count(models[6], LayerNorm) == 3
    assert len(models[6].h) == 1 and len(models[7].h) == TINY["n_layer"]
    p = [m.num_params() for m in models]
    assert p[0] == vocab * vocab and p[1] < p[2] < p[3] < p[4] == p[5] < p[6] < p[7]
    assert ladder.rung_index("+ positions") == 2 and ladder.LadderModel("bigram", vocab).rung == 0


@pytest.mark.parametrize("rung", range(len(ladder.RUNGS)))
def test_every_rung_is_causal(rung, vocab):
    torch.manual_seed(0)
    model = ladder.LadderModel(rung, vocab, **TINY).eval()
    a = torch.randint(vocab, (1, 16))
    b = a.clone()
    b[0, 10:] = (b[0, 10:] + 1) % vocab  # change only the future
    torch.testing.assert_close(model(a)[0][:, :10], model(b)[0][:, :10])


def test_full_block_rungs_are_gpt2_blocks(vocab):
    from gptlab.model import Block

    for rung in (6, 7):
        model = ladder.LadderModel(rung, vocab, **TINY)
        assert all(type(layer) is Block for layer in model.h), rung
    assert not any(isinstance(layer, Block) for layer in ladder.LadderModel(5, vocab, **TINY).h)


def test_tiny_ladder_trains_and_reports(tiny_ladder, vocab, tmp_path):
    rows = tiny_ladder["rungs"]
    assert [r["name"] for r in rows] == [name for name, _ in ladder.RUNGS]
    for row in rows:
        assert len(row["runs"]) == 2
        assert all(
            math.isfinite(run["val_loss"]) and math.isfinite(run["train_loss"])
            for run in row["runs"]
        )
        assert row["val_mean"] == pytest.approx(
            statistics.fmean(run["val_loss"] for run in row["runs"])
        )
    # A few dozen steps already beat the uniform guess, log(V), for the bigram and the full block.
    for r in (0, 6):
        assert rows[r]["train_mean"] < math.log(vocab) - 0.3, rows[r]  # bigram ~-0.5, block ~-1.3
    header = tiny_ladder["header"]
    assert header["budget"]["steps"] == 30 and header["seeds"] == [0, 1]
    assert header["wall_time_s"] > 0 and header["hardware"]["torch_threads"] >= 1
    table = ladder.format_table(tiny_ladder)
    assert len(table.splitlines()) == 1 + len(rows) and "± " in table and "bigram" in table
    fig = ladder.plot(tiny_ladder)
    assert fig.axes[0].get_title() and fig.axes[0].get_ylabel()
    path = ladder.save_results(tiny_ladder, tmp_path / "sub" / "ablation.json")
    assert ladder.load_results(path) == json.loads(json.dumps(tiny_ladder))
    assert [p.name for p in path.parent.iterdir()] == ["ablation.json"]  # no temporary file left
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, like any written file


def test_same_seed_same_result(texts):
    budget = dataclasses.replace(BUDGET, steps=5, warmup=1)
    a, b = (ladder.run_rung("+ MLP", 3, budget, texts=texts) for _ in range(2))
    assert a["val_loss"] == b["val_loss"] and a["parameters"] == b["parameters"]


def test_committed_ablation_result():
    results = json.loads((ROOT / "book" / "data" / "ablation.json").read_text())
    header = results["header"]
    for key in (
        "hardware",
        "torch",
        "date",
        "budget",
        "wall_time_s",
        "cpu_time_s",
        "seeds",
        "data",
    ):
        assert key in header, key
    assert header["hardware"]["cpu_count"] and header["data"]["corpus"] == "shakespeare"
    assert [row["name"] for row in results["rungs"]] == [name for name, _ in ladder.RUNGS]
    for row in results["rungs"]:
        vals = [run["val_loss"] for run in row["runs"]]
        assert len(vals) == 3 and sorted(run["seed"] for run in row["runs"]) == [0, 1, 2]
        assert row["val_mean"] == pytest.approx(statistics.fmean(vals))
        assert row["val_std"] == pytest.approx(statistics.stdev(vals))
        assert row["train_mean"] == pytest.approx(
            statistics.fmean(run["train_loss"] for run in row["runs"])
        )
        assert all(0 < v < math.log(header["data"]["vocab_size"]) for v in vals)
    # The full model beats the bigram on held-out works.
    assert results["rungs"][-1]["val_mean"] < results["rungs"][0]["val_mean"]


def test_bad_input_is_a_clear_error(vocab, texts):
    with pytest.raises(ValueError, match="Unknown rung"):
        ladder.LadderModel("transformer", vocab)
    with pytest.raises(ValueError, match="Unknown rung"):
        ladder.run_rung(8, 0, BUDGET, texts=texts)
    with pytest.raises(ValueError, match="steps"):
        ladder.Budget(steps=0)
    with pytest.raises(ValueError, match="steps"):
        ladder.Budget(steps=-5, warmup=0)
    with pytest.raises(ValueError, match="block_size"):
        ladder.LadderModel(3, vocab, **TINY)(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="seed"):
        ladder.run_ladder(seeds=(), budget=BUDGET, progress=False, texts=texts)


def test_cli_rejects_bad_steps(capsys):
    from gptlab.cli import main

    assert main(["ablate", "--steps", "0"]) == 1
    assert "steps" in capsys.readouterr().err

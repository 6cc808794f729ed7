"""gptlab.train and gptlab.checkpoint: loop, schedule, optimizer, resume after a kill, DDP."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gptlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gptlab.model import GPT, GPTConfig
from gptlab.train import (
    TrainConfig,
    configure_optimizer,
    even_windows,
    lr_schedule,
    prepare_corpus,
    train,
    train_loop,
)

GPTLAB = [sys.executable, "-m", "gptlab.cli"]


def tiny(**overrides) -> TrainConfig:
    values = dict(
        corpus="python_docs",
        vocab_size=300,
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=32,
        dropout=0.1,
        batch_size=8,
        max_steps=12,
        warmup_steps=3,
        eval_interval=4,
        eval_batches=2,
        checkpoint_interval=4,
        lr=3e-3,
        min_lr=3e-4,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def corpus():
    return prepare_corpus(tiny())


def test_lr_schedule_warms_up_then_decays_to_min():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110)
    lrs = [cfg.lr_at(s) for s in range(110)]
    assert lrs == [lr_schedule(s, 1e-3, 10, 110, 1e-4) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10], strict=True))  # warmup rises
    assert all(a >= b for a, b in zip(lrs[10:-1], lrs[11:], strict=True))  # cosine falls
    assert cfg.lr_at(110) == pytest.approx(1e-4) and cfg.lr_at(60) == pytest.approx(5.5e-4)


def test_weight_decay_only_on_matrices():
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=2, n_head=2, n_embd=16))
    opt = configure_optimizer(model, 1e-3, weight_decay=0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(
        p.dim() == 1 for p in no_decay["params"]
    )
    total = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert total == model.num_params()  # the tied matrix once


def test_even_windows_cover_the_stream_once():
    ids = torch.arange(100)
    x, y = even_windows(ids, 10)
    assert x.shape == (9, 10) and torch.equal(y, x + 1)
    assert torch.equal(x.flatten(), torch.arange(90))
    with pytest.raises(ValueError, match="block_size"):
        even_windows(torch.arange(5), 10)


def test_training_lowers_the_loss(corpus, tmp_path):
    result = train(tiny(max_steps=40, eval_interval=40, dropout=0.0), corpus=corpus, progress=False)
    first = math.log(300)
    assert result.history[-1]["train_loss"] < first - 0.8  # measured: about 5.70 -> 4.3 nats
    assert result.summary["steps"] == 40


def test_resume_reaches_the_same_losses(corpus, tmp_path):
    whole = train(tiny(), out_dir=tmp_path / "whole", corpus=corpus, progress=False)
    train(tiny(), out_dir=tmp_path / "split", corpus=corpus, progress=False, stop_after=6)
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 6
    resumed = train(tiny(), out_dir=tmp_path / "split", corpus=corpus, progress=False, resume=True)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history] == [4, 8, 12]
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
    for (name, p), q in zip(
        whole.model.named_parameters(), resumed.model.parameters(), strict=True
    ):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)


@pytest.mark.slow
def test_resume_after_a_kill(tmp_path):
    """Kill -9 a `gptlab pretrain` process after its first checkpoint, resume, compare."""
    args = [
        "--set",
        "corpus=python_docs",
        "--set",
        "vocab_size=300",
        "--set",
        "n_layer=2",
        "--set",
        "n_head=2",
        "--set",
        "n_embd=64",
        "--set",
        "block_size=64",
        "--set",
        "batch_size=16",
        "--set",
        "max_steps=150",
        "--set",
        "eval_interval=50",
        "--set",
        "eval_batches=2",
        "--set",
        "checkpoint_interval=10",
        "--set",
        "dropout=0.1",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = subprocess.run(
        [*GPTLAB, "pretrain", "--out", str(tmp_path / "ref"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ref.returncode == 0, ref.stderr[-2000:]
    proc = subprocess.Popen(
        [*GPTLAB, "pretrain", "--out", str(tmp_path / "run"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    state = tmp_path / "run" / "checkpoint" / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["step"]
    assert killed_at < 150, "the run finished before it could be killed; make it longer"
    resumed = subprocess.run(
        [*GPTLAB, "pretrain", "--out", str(tmp_path / "run"), "--resume", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((tmp_path / "ref" / "history.json").read_text())["history"]
    b = json.loads((tmp_path / "run" / "history.json").read_text())["history"]
    assert [h["step"] for h in a] == [h["step"] for h in b] == [50, 100, 150]
    for x, y in zip(a, b, strict=True):
        assert x["val_loss"] == pytest.approx(y["val_loss"], abs=1e-5)


@pytest.mark.slow
def test_two_processes_match_one_on_the_same_global_batch(tmp_path):
    args = [
        "--set",
        "corpus=python_docs",
        "--set",
        "vocab_size=300",
        "--set",
        "n_layer=2",
        "--set",
        "n_head=2",
        "--set",
        "n_embd=32",
        "--set",
        "block_size=32",
        "--set",
        "batch_size=8",
        "--set",
        "max_steps=8",
        "--set",
        "eval_interval=4",
        "--set",
        "eval_batches=2",
        "--set",
        "dropout=0.0",
        "--set",
        "device=cpu",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [*GPTLAB, "pretrain", "--out", str(tmp_path / "one"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "gptlab.cli",
            "pretrain",
            "--out",
            str(tmp_path / "two"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ddp.returncode == 0, (ddp.stdout + ddp.stderr)[-3000:]
    assert ddp.stdout.count("done:") == 1, "only rank 0 reports"
    a = json.loads((tmp_path / "one" / "history.json").read_text())
    b = json.loads((tmp_path / "two" / "history.json").read_text())
    assert b["summary"]["world_size"] == 2
    assert [h["step"] for h in a["history"]] == [h["step"] for h in b["history"]] == [4, 8]
    for x, y in zip(a["history"], b["history"], strict=True):
        assert x["val_loss"] == pytest.approx(y["val_loss"], abs=1e-4)
    m1, _, _, _ = load_checkpoint(tmp_path / "one" / "checkpoint")
    m2, _, _, _ = load_checkpoint(tmp_path / "two" / "checkpoint")
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-4)


def test_resume_refuses_other_settings(corpus, tmp_path):
    train(tiny(max_steps=4), out_dir=tmp_path, corpus=corpus, progress=False)
    with pytest.raises(CheckpointError, match="n_embd"):
        train(tiny(n_embd=64), out_dir=tmp_path, corpus=corpus, progress=False, resume=True)
    with pytest.raises(CheckpointError, match="lr"):
        train(tiny(lr=1e-2), out_dir=tmp_path, corpus=corpus, progress=False, resume=True)
    # extending max_steps is allowed
    more = train(tiny(max_steps=8), out_dir=tmp_path, corpus=corpus, progress=False, resume=True)
    assert more.summary["steps"] == 8


def test_missing_partial_and_corrupt_checkpoints(corpus, tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    train(tiny(max_steps=4), out_dir=tmp_path, corpus=corpus, progress=False)
    ckpt = tmp_path / "checkpoint"
    weights = ckpt / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or partial"):
        load_checkpoint(ckpt)
    weights.unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(ckpt)


def test_a_failed_save_keeps_the_old_checkpoint(corpus, tmp_path, monkeypatch):
    result = train(tiny(max_steps=4), out_dir=tmp_path, corpus=corpus, progress=False)
    ckpt = tmp_path / "checkpoint"
    before = (ckpt / "state.json").read_text()

    import gptlab.checkpoint as ck

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, result.model, result.tokenizer, {"step": 99}, {"x": torch.zeros(1)})
    assert (ckpt / "state.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "history.json"]
    model, tok, state, trainer = load_checkpoint(ckpt)
    assert state["step"] == 4 and trainer is not None


def test_a_corpus_too_small_for_the_block_size():
    with pytest.raises(ValueError, match="block_size"):
        prepare_corpus(tiny(block_size=10**6))


def test_bad_recipe_values(tmp_path, capsys):
    from gptlab import cli

    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \[.n_layers.\]"):
        TrainConfig.from_dict({"n_layers": 3})
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-4, min_lr=1e-3)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("- just\n- a list\n")
    assert cli.main(["pretrain", "--config", str(recipe), "--out", str(tmp_path / "run")]) == 1
    assert "must be a YAML mapping" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_shipped_recipe_parses(repo_root):
    import yaml

    cfg = TrainConfig.from_dict(
        yaml.safe_load((repo_root / "configs" / "shakespeare.yaml").read_text())
    )
    assert cfg.corpus == "shakespeare" and cfg.vocab_size == 4096


def test_short_run_recipe_is_chapter_07s(tmp_path, monkeypatch):
    """The recipe chapters 07 and 13 share (chapter 13 loads it as a shipped model)."""
    from gptlab.train import short_run_config

    cfg = short_run_config()
    assert (cfg.n_layer, cfg.n_embd, cfg.block_size, cfg.max_steps, cfg.lr) == (
        4,
        128,
        32,
        800,
        5e-3,
    )
    assert cfg.model_config().vocab_size == 4096 and cfg.dropout == 0.0
    assert short_run_config(max_steps=10).max_steps == 10


def _toy():
    """A linear model, a fixed batch and its loss: the smallest thing train_loop can train."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(16, 4)
    y = x @ torch.randn(4, 1) + 0.5  # a line the model can fit exactly
    return model, (lambda: (x, y)), (lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]))


def test_train_loop_records_every_step_and_learns():
    model, get_batch, loss_fn = _toy()
    opt = configure_optimizer(model, 0.1)
    evals = []
    history = train_loop(
        model,
        get_batch,
        loss_fn,
        opt,
        lambda s: 0.1,
        30,
        eval_every=10,
        eval_fn=lambda m: {"e": len(evals)} if not evals.append(1) else {},
        sample_fn=lambda m: "text",
        sample_at=(0, 15),
    )
    assert [h["step"] for h in history] == list(range(31))
    assert history[0] == {"step": 0, "sample": "text"} and history[15]["sample"] == "text"
    assert [h["step"] for h in history if "e" in h] == [10, 20, 30]
    assert history[-1]["loss"] < history[1]["loss"] / 2


def test_train_loop_accumulation_equals_one_big_batch():
    results = []
    for accum in (1, 4):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        parts = iter([(x[i::accum], y[i::accum]) for i in range(accum)] * 3)

        def batches(x=x, y=y, parts=parts, accum=accum):
            return (x, y) if accum == 1 else next(parts)

        opt = configure_optimizer(model, 0.05)
        train_loop(
            model,
            batches,
            lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
            opt,
            lambda s: 0.05,
            3,
            grad_accum=accum,
        )
        results.append(model.weight.detach().clone())
    torch.testing.assert_close(results[0], results[1])


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_train_loop_refuses_bad_step_counts(steps):
    model, get_batch, loss_fn = _toy()
    with pytest.raises(ValueError, match="steps must be a positive whole number"):
        train_loop(model, get_batch, loss_fn, configure_optimizer(model, 0.1), lambda s: 0.1, steps)


@pytest.mark.parametrize("lr", [0, -1e-3, "3e-4", float("nan"), None])
def test_bad_learning_rates_are_refused(lr):
    model, _, _ = _toy()
    with pytest.raises(ValueError, match="lr must be a positive number"):
        configure_optimizer(model, lr)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        TrainConfig(lr=lr)


def test_no_trainable_parameters_is_refused():
    model, _, _ = _toy()
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        configure_optimizer(model, 1e-3)


def test_an_empty_corpus_is_refused():
    with pytest.raises(ValueError, match="block_size"):
        from gptlab.data import random_windows

        random_windows(torch.tensor([], dtype=torch.long), 4, 8)


def test_the_package_calls_backward_in_one_place(repo_root):
    """One training loop: train_loop is the only code in gptlab that calls backward()."""
    calls = [
        (p.relative_to(repo_root).as_posix(), n)
        for p in sorted((repo_root / "gptlab").rglob("*.py"))
        if "exercises" not in p.parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if ".backward(" in line and not line.lstrip().startswith(("#", "``", "-"))
    ]
    assert [c[0] for c in calls] == ["gptlab/train.py"], calls


def test_short_run_samples_are_kept(corpus):
    run = train(tiny(max_steps=8, sample_at=(0, 4, 8), dropout=0.0), corpus=corpus, progress=False)
    assert sorted(run.samples) == [0, 4, 8] and all(
        isinstance(t, str) and t for t in run.samples.values()
    )
    again = train(tiny(max_steps=8, dropout=0.0), corpus=corpus, progress=False)
    assert [h["val_loss"] for h in run.history] == [h["val_loss"] for h in again.history]

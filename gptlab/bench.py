"""Benchmarks: gptlab side by side with Hugging Face ``transformers`` in one process.

Speed is never asserted in tests; it is measured here and reported as ratios. The contenders
take turns (gptlab, HF, gptlab ...) so that a machine that gets busier or cooler affects all
alike, and the median of the repetitions is reported.

- training: tokens/s of :func:`gptlab.train.train_loop` steps (forward, backward, AdamW),
  same weights, batch and threads;
- generation: new tokens/s of greedy decoding of 256 tokens with gptlab's KV cache, gptlab
  without a cache, and HF ``generate`` (which uses its cache).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from gptlab.generate import generate
from gptlab.model import GPT, GPTConfig
from gptlab.train import configure_optimizer, train_loop

# Training on the shape of the shipped reference model (`gptlab pretrain --config
# configs/shakespeare.yaml`) and on chapter 07's small shape, where the output layer does most
# of the work and the two libraries differ least.
TRAIN_CONFIG = GPTConfig(vocab_size=4096, block_size=128, n_layer=6, n_head=4, n_embd=256)
SMALL_TRAIN_CONFIG = GPTConfig(vocab_size=4096, block_size=128, n_layer=4, n_head=4, n_embd=128)
GENERATE_CONFIG = GPTConfig(vocab_size=4096, block_size=512, n_layer=6, n_head=4, n_embd=256)


def _alternate(contenders: dict[str, Callable[[], int]], reps: int) -> dict[str, float]:
    """Run each contender once per round, ``reps`` rounds; median units per second each."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            start = time.perf_counter()
            units = fn()
            rates[name].append(units / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def bench_train(
    config: GPTConfig = TRAIN_CONFIG,
    batch_size: int = 32,
    steps: int = 5,
    reps: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Training tokens/s of gptlab's GPT and HF's GPT2LMHeadModel (same weights and batch)."""
    torch.manual_seed(seed)
    ours = GPT(config).train()
    theirs = ours.to_hf().train()
    x = torch.randint(0, config.vocab_size, (batch_size, config.block_size))
    y = torch.randint(0, config.vocab_size, (batch_size, config.block_size))

    def trainer(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor]) -> Callable[[], int]:
        opt = configure_optimizer(model, 1e-4)

        def run() -> int:  # the course's one loop, without clipping, for both models
            train_loop(model, lambda: (x, y), loss_fn, opt, lambda s: 1e-4, steps, grad_clip=0)
            return steps * x.numel()

        return run

    runs = {
        "gptlab": trainer(ours, lambda m, b: m(*b)[1]),
        "hf": trainer(theirs, lambda m, b: m(input_ids=b[0], labels=b[1]).loss),
    }
    for run in runs.values():  # warm up
        run()
    return _alternate(runs, reps)


def bench_generate(
    config: GPTConfig = GENERATE_CONFIG,
    new_tokens: int = 256,
    prompt_len: int = 16,
    reps: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Greedy generation tokens/s: gptlab with and without its KV cache, and HF ``generate``."""
    torch.manual_seed(seed)
    ours = GPT(config).eval()
    theirs = ours.to_hf().eval()
    idx = torch.randint(0, config.vocab_size, (1, prompt_len))

    def hf_generate(n: int) -> torch.Tensor:
        with torch.no_grad():
            return theirs.generate(
                idx,
                attention_mask=torch.ones_like(idx),
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=0,
            )

    # the three must agree before their speed means anything
    if not torch.equal(generate(ours, idx, 32, temperature=0), hf_generate(32)):
        raise RuntimeError(
            "gptlab and HF generated different tokens; the benchmark would compare unlike work"
        )

    def new(out: torch.Tensor) -> int:
        return out.size(1) - prompt_len

    runs = {
        "gptlab_cache": lambda: new(generate(ours, idx, new_tokens, temperature=0)),
        "gptlab_nocache": lambda: new(
            generate(ours, idx, new_tokens, temperature=0, use_cache=False)
        ),
        "hf": lambda: new(hf_generate(new_tokens)),
    }
    runs["gptlab_cache"](), runs["hf"]()  # warm up
    return _alternate(runs, reps)


def run_all(quick: bool = False) -> dict[str, Any]:
    """Every benchmark; ``quick`` shrinks repetitions (for smoke tests, not for reporting)."""
    train = bench_train(steps=1 if quick else 3, reps=1 if quick else 5)
    small = bench_train(SMALL_TRAIN_CONFIG, steps=1 if quick else 5, reps=1 if quick else 5)
    gen = bench_generate(new_tokens=16 if quick else 256, reps=1 if quick else 3)
    return {
        "train_tokens_per_s": train,
        "train_small_tokens_per_s": small,
        "generate_tokens_per_s": gen,
        "ratios": {
            "train_gptlab_over_hf": train["gptlab"] / train["hf"],
            "train_small_gptlab_over_hf": small["gptlab"] / small["hf"],
            "generate_cache_over_nocache": gen["gptlab_cache"] / gen["gptlab_nocache"],
            "generate_gptlab_cache_over_hf": gen["gptlab_cache"] / gen["hf"],
        },
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "configs": {
            "train": TRAIN_CONFIG.to_dict(),
            "train_small": SMALL_TRAIN_CONFIG.to_dict(),
            "generate": GENERATE_CONFIG.to_dict(),
        },
    }


def format_table(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    t, g, r = results["train_tokens_per_s"], results["generate_tokens_per_s"], results["ratios"]
    ts, m = results["train_small_tokens_per_s"], results["machine"]
    rows = [
        ("train 6x256  gptlab GPT", f"{t['gptlab']:,.0f}"),
        ("train 6x256  HF GPT2LMHeadModel", f"{t['hf']:,.0f}"),
        ("train 4x128  gptlab GPT", f"{ts['gptlab']:,.0f}"),
        ("train 4x128  HF GPT2LMHeadModel", f"{ts['hf']:,.0f}"),
        ("generate  gptlab, KV cache", f"{g['gptlab_cache']:,.1f}"),
        ("generate  gptlab, no cache", f"{g['gptlab_nocache']:,.1f}"),
        ("generate  HF generate (cache)", f"{g['hf']:,.1f}"),
    ]
    return "\n".join(
        [f"{'benchmark':<40}{'tokens/s':>12}"]
        + [f"{name:<40}{rate:>12}" for name, rate in rows]
        + [
            "",
            f"train: gptlab / HF = {r['train_gptlab_over_hf']:.2f}x (6x256, the reference model's "
            f"shape), {r['train_small_gptlab_over_hf']:.2f}x (4x128)",
            f"generate: cache / no cache = {r['generate_cache_over_nocache']:.2f}x; "
            f"gptlab cache / HF = {r['generate_gptlab_cache_over_hf']:.2f}x",
            f"({m['threads']} threads, torch {m['torch']})",
        ]
    )


def main(as_json: bool = False, quick: bool = False) -> dict[str, Any]:
    results = run_all(quick=quick)
    print(json.dumps(results) if as_json else format_table(results))
    return results

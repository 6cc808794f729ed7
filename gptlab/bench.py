"""Benchmarks: gptlab side by side with Hugging Face ``transformers`` in one process.

Speed is never asserted in tests; it is measured here and reported as ratios. Each
measurement alternates the contenders (gptlab, then HF, then gptlab ...) so that a
machine that gets busier or cooler during the run affects both alike, and reports the
median of the repetitions.

- training throughput: tokens per second of forward + backward + AdamW step, same
  architecture, same weights, same batch, same threads;
- generation throughput: new tokens per second for greedy decoding of 256 tokens with
  gptlab's KV cache, gptlab without a cache, and HF ``generate`` (which uses its cache).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from typing import Any, Callable

import torch

from gptlab.generate import generate
from gptlab.model import GPT, GPTConfig

# Training is measured on the shape of the shipped reference model (what `gptlab pretrain
# --config configs/shakespeare.yaml` trains), and on chapter 07's small shape, where the
# output layer (4,096 x 128) does most of the work and the two libraries differ least.
TRAIN_CONFIG = GPTConfig(vocab_size=4096, block_size=128, n_layer=6, n_head=4, n_embd=256)
SMALL_TRAIN_CONFIG = GPTConfig(vocab_size=4096, block_size=128, n_layer=4, n_head=4, n_embd=128)
GENERATE_CONFIG = GPTConfig(vocab_size=4096, block_size=512, n_layer=6, n_head=4, n_embd=256)


def _median_rate(fn: Callable[[], int], reps: int) -> list[float]:
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        units = fn()
        rates.append(units / (time.perf_counter() - start))
    return rates


def _alternate(contenders: dict[str, Callable[[], int]], reps: int) -> dict[str, float]:
    """Run each contender once per round, ``reps`` rounds; median units per second each."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            rates[name] += _median_rate(fn, 1)
    return {name: statistics.median(r) for name, r in rates.items()}


def bench_train(config: GPTConfig = TRAIN_CONFIG, batch_size: int = 32, steps: int = 5,
                reps: int = 5, seed: int = 0) -> dict[str, float]:
    """Training tokens/s of gptlab's GPT and HF's GPT2LMHeadModel (same weights and batch)."""
    torch.manual_seed(seed)
    ours = GPT(config)
    theirs = ours.to_hf()
    ours.train()
    theirs.train()
    x = torch.randint(0, config.vocab_size, (batch_size, config.block_size))
    y = torch.randint(0, config.vocab_size, (batch_size, config.block_size))
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=1e-4)

    def step_ours() -> int:
        for _ in range(steps):
            _, loss = ours(x, y)
            loss.backward()
            opt_ours.step()
            opt_ours.zero_grad(set_to_none=True)
        return steps * x.numel()

    def step_theirs() -> int:
        for _ in range(steps):
            loss = theirs(input_ids=x, labels=y).loss
            loss.backward()
            opt_theirs.step()
            opt_theirs.zero_grad(set_to_none=True)
        return steps * x.numel()

    step_ours(), step_theirs()  # warm up both
    return _alternate({"gptlab": step_ours, "hf": step_theirs}, reps)


def bench_generate(config: GPTConfig = GENERATE_CONFIG, new_tokens: int = 256, prompt_len: int = 16,
                   reps: int = 3, seed: int = 0) -> dict[str, float]:
    """Greedy generation tokens/s: gptlab with and without its KV cache, and HF ``generate``."""
    torch.manual_seed(seed)
    ours = GPT(config).eval()
    theirs = ours.to_hf().eval()
    idx = torch.randint(0, config.vocab_size, (1, prompt_len))
    mask = torch.ones_like(idx)

    def run_cache() -> int:
        generate(ours, idx, new_tokens, temperature=0, use_cache=True)
        return new_tokens

    def run_nocache() -> int:
        generate(ours, idx, new_tokens, temperature=0, use_cache=False)
        return new_tokens

    def run_hf() -> int:
        with torch.no_grad():
            out = theirs.generate(idx, attention_mask=mask, max_new_tokens=new_tokens,
                                  min_new_tokens=new_tokens, do_sample=False, use_cache=True,
                                  pad_token_id=0)
        return out.size(1) - prompt_len

    # the three must agree before their speed means anything
    a = generate(ours, idx, 32, temperature=0, use_cache=True)
    b = theirs.generate(idx, attention_mask=mask, max_new_tokens=32, min_new_tokens=32,
                        do_sample=False, pad_token_id=0)
    if not torch.equal(a, b):
        raise RuntimeError("gptlab and HF generated different tokens; the benchmark would compare unlike work")
    run_cache(), run_hf()  # warm up
    return _alternate({"gptlab_cache": run_cache, "gptlab_nocache": run_nocache, "hf": run_hf}, reps)


def run_all(quick: bool = False) -> dict[str, Any]:
    """Every benchmark; ``quick`` shrinks repetitions (for smoke tests, not for reporting)."""
    train_rates = bench_train(steps=1 if quick else 3, reps=1 if quick else 5)
    small_rates = bench_train(SMALL_TRAIN_CONFIG, steps=1 if quick else 5, reps=1 if quick else 5)
    gen_rates = bench_generate(new_tokens=16 if quick else 256, reps=1 if quick else 3)
    return {
        "train_tokens_per_s": train_rates,
        "train_small_tokens_per_s": small_rates,
        "generate_tokens_per_s": gen_rates,
        "ratios": {
            "train_gptlab_over_hf": train_rates["gptlab"] / train_rates["hf"],
            "train_small_gptlab_over_hf": small_rates["gptlab"] / small_rates["hf"],
            "generate_cache_over_nocache": gen_rates["gptlab_cache"] / gen_rates["gptlab_nocache"],
            "generate_gptlab_cache_over_hf": gen_rates["gptlab_cache"] / gen_rates["hf"],
        },
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "configs": {"train": TRAIN_CONFIG.to_dict(), "train_small": SMALL_TRAIN_CONFIG.to_dict(),
                    "generate": GENERATE_CONFIG.to_dict()},
    }


def format_table(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    t, g, r = results["train_tokens_per_s"], results["generate_tokens_per_s"], results["ratios"]
    ts = results["train_small_tokens_per_s"]
    lines = [
        f"{'benchmark':<40}{'tokens/s':>12}",
        f"{'train 6x256  gptlab GPT':<40}{t['gptlab']:>12,.0f}",
        f"{'train 6x256  HF GPT2LMHeadModel':<40}{t['hf']:>12,.0f}",
        f"{'train 4x128  gptlab GPT':<40}{ts['gptlab']:>12,.0f}",
        f"{'train 4x128  HF GPT2LMHeadModel':<40}{ts['hf']:>12,.0f}",
        f"{'generate  gptlab, KV cache':<40}{g['gptlab_cache']:>12,.1f}",
        f"{'generate  gptlab, no cache':<40}{g['gptlab_nocache']:>12,.1f}",
        f"{'generate  HF generate (cache)':<40}{g['hf']:>12,.1f}",
        "",
        f"train: gptlab / HF = {r['train_gptlab_over_hf']:.2f}x (6x256, the reference model's shape), "
        f"{r['train_small_gptlab_over_hf']:.2f}x (4x128)",
        f"generate: cache / no cache = {r['generate_cache_over_nocache']:.2f}x; "
        f"gptlab cache / HF = {r['generate_gptlab_cache_over_hf']:.2f}x",
        f"({results['machine']['threads']} threads, torch {results['machine']['torch']})",
    ]
    return "\n".join(lines)


def main(as_json: bool = False, quick: bool = False) -> dict[str, Any]:
    results = run_all(quick=quick)
    print(json.dumps(results) if as_json else format_table(results))
    return results

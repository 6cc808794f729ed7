"""Benchmarks, gptlab beside Hugging Face ``transformers`` in one process (book: benchmarks):
training tokens/s of :func:`gptlab.train.train_loop` steps and greedy-generation tokens/s (gptlab
with and without its KV cache, HF ``generate``). The contenders take turns, so that a machine
that gets busier or cooler affects all alike; the median is reported, never asserted."""

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from gptlab.generate import generate
from gptlab.model import GPT, GPTConfig
from gptlab.train import configure_optimizer, train_loop

# The shipped reference model's shape, and chapter 07's small one (where the output layer does
# most of the work and the two libraries differ least), by their names in the results.
CONFIGS = {
    "train": GPTConfig(vocab_size=4096, block_size=128, n_layer=6, n_head=4, n_embd=256),
    "train_small": GPTConfig(vocab_size=4096, block_size=128, n_layer=4, n_head=4, n_embd=128),
    "generate": GPTConfig(vocab_size=4096, block_size=512, n_layer=6, n_head=4, n_embd=256),
}


def _alternate(contenders: dict[str, Callable[[], int]], reps: int) -> dict[str, float]:
    """Run each contender once per round, ``reps`` rounds; median units per second each."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            start = time.perf_counter()
            rates[name].append(fn() / (time.perf_counter() - start))  # fn() returns its units
    return {name: statistics.median(r) for name, r in rates.items()}


def bench_train(
    config: GPTConfig = CONFIGS["train"], steps: int = 5, reps: int = 5
) -> dict[str, float]:
    """Training tokens/s of gptlab's GPT and HF's GPT2LMHeadModel (same weights, batch of 32)."""
    torch.manual_seed(0)
    ours = GPT(config).train()
    theirs = ours.to_hf().train()
    x, y = torch.randint(0, config.vocab_size, (2, 32, config.block_size))  # inputs, targets

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
    config: GPTConfig = CONFIGS["generate"], new_tokens: int = 256, reps: int = 3
) -> dict[str, float]:
    """Greedy generation tokens/s after a 16-token prompt: gptlab with and without its KV
    cache, and HF ``generate``."""
    torch.manual_seed(0)
    ours = GPT(config).eval()
    theirs = ours.to_hf().eval()
    prompt_len = 16
    idx = torch.randint(0, config.vocab_size, (1, prompt_len))

    def hf_generate(n: int) -> torch.Tensor:
        kwargs = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
        return theirs.generate(idx, attention_mask=torch.ones_like(idx), **kwargs)  # no_grad inside

    def gptlab_generate(n: int, use_cache: bool = True) -> torch.Tensor:
        return generate(ours, idx, n, temperature=0, use_cache=use_cache)

    # the three must agree before their speed means anything
    if not torch.equal(gptlab_generate(32), hf_generate(32)):
        raise RuntimeError("gptlab and HF generate different tokens: not timing unlike work")
    runs = {
        "gptlab_cache": lambda: gptlab_generate(new_tokens).size(1) - prompt_len,
        "gptlab_nocache": lambda: gptlab_generate(new_tokens, use_cache=False).size(1) - prompt_len,
        "hf": lambda: hf_generate(new_tokens).size(1) - prompt_len,
    }
    runs["gptlab_cache"](), runs["hf"]()  # warm up
    return _alternate(runs, reps)


def run_all(quick: bool = False) -> dict[str, Any]:
    """Every benchmark; ``quick`` shrinks repetitions (for smoke tests, not for reporting)."""
    train = bench_train(steps=1 if quick else 3, reps=1 if quick else 5)
    small = bench_train(CONFIGS["train_small"], steps=1 if quick else 5, reps=1 if quick else 5)
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
        "configs": {name: config.to_dict() for name, config in CONFIGS.items()},
    }


def format_table(results: dict[str, Any]) -> str:
    """The results as a plain-text table: tokens per second, then the ratios."""
    labels = {"train_tokens_per_s": "train 6x256", "train_small_tokens_per_s": "train 4x128"}
    labels["generate_tokens_per_s"] = "generate 256 tokens, 6x256"
    lines = [f"{'benchmark':<44}{'tokens/s':>12}"]
    for key, label in labels.items():
        lines += [f"{label + ', ' + who:<44}{rate:>12,.1f}" for who, rate in results[key].items()]
    lines += ["", *(f"{name}: {ratio:.2f}x" for name, ratio in results["ratios"].items())]
    m = results["machine"]
    return "\n".join([*lines, f"({m['threads']} threads, torch {m['torch']})"])

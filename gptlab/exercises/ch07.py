"""Self-checking exercises of chapter 07 (pretraining).

In the notebook::

    from gptlab.exercises import ch07
    ch07.lr_schedule.check(lr_at)
    ch07.tokens_and_epochs.check(tokens_and_epochs)
    ch07.decay_names.check(decay_names)
"""

from __future__ import annotations

import math

from gptlab.exercises import Exercise, Incorrect, as_number

__all__ = ["lr_schedule", "tokens_and_epochs", "decay_names"]


_number = as_number  # shared helper: a one-element tensor or a number


# --------------------------------------------------------------------------------------------
# (a) linear warmup + cosine decay
# --------------------------------------------------------------------------------------------


def _ref_lr_at(step: int, warmup: int, max_steps: int, lr: float, min_lr: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, max_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


_SCHEDULES = [  # (warmup, max_steps, lr, min_lr)
    (10, 110, 1e-3, 1e-4),
    (100, 1000, 3e-3, 3e-4),
    (4, 20, 0.5, 0.0),
]


def _check_lr_schedule(f) -> None:
    for warmup, max_steps, lr, min_lr in _SCHEDULES:
        setting = f"(warmup={warmup}, max_steps={max_steps}, lr={lr:g}, min_lr={min_lr:g})"
        steps = sorted(
            {
                0,
                1,
                warmup // 2,
                warmup - 1,
                warmup,
                warmup + 1,
                (warmup + max_steps) // 2,
                max_steps - 1,
                max_steps,
                max_steps + 5,
            }
        )
        for step in steps:
            got = _number(f(step, warmup, max_steps, lr, min_lr), "lr_at(...)")
            want = _ref_lr_at(step, warmup, max_steps, lr, min_lr)
            if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12):
                continue
            where = f"At step {step} {setting} expected {want:.6g}, got {got:.6g}."
            if step == 0 and got == 0:
                raise Incorrect(
                    f"{where} A learning rate of 0 at step 0 wastes the first step: "
                    "warm up with lr * (step + 1) / warmup, so step warmup - 1 "
                    "reaches the full lr."
                )
            if step < warmup and math.isclose(got, lr * step / warmup, rel_tol=1e-6, abs_tol=1e-12):
                raise Incorrect(
                    f"{where} Off by one in the warmup: use (step + 1) / warmup, so "
                    "that step 0 already moves the weights and step warmup - 1 "
                    "reaches the full lr."
                )
            no_warmup = min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, step / max_steps))) * (
                lr - min_lr
            )
            if math.isclose(got, no_warmup, rel_tol=1e-6, abs_tol=1e-12):
                raise Incorrect(
                    f"{where} This is a cosine over the whole run: the warmup steps "
                    "are missing. Rise linearly for the first `warmup` steps, then let "
                    "the cosine run over the remaining max_steps - warmup steps."
                )
            if step >= warmup:
                progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
                to_zero = 0.5 * (1 + math.cos(math.pi * progress)) * lr
                if math.isclose(got, to_zero, rel_tol=1e-6, abs_tol=1e-12):
                    raise Incorrect(
                        f"{where} The cosine should end at min_lr, not at 0: "
                        "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr)."
                    )
                if step > max_steps and got < min_lr - 1e-12:
                    raise Incorrect(
                        f"{where} After max_steps the rate should stay at min_lr: "
                        "clamp the progress to at most 1."
                    )
            raise Incorrect(
                where + " Warmup: lr * (step + 1) / warmup for step < warmup; then "
                "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr) with "
                "progress = (step - warmup) / (max_steps - warmup), at most 1."
            )


def _wrong_no_warmup():
    def f(step, warmup, max_steps, lr, min_lr):
        progress = min(1.0, step / max_steps)
        return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)

    return f


def _wrong_off_by_one():
    def f(step, warmup, max_steps, lr, min_lr):
        if step < warmup:
            return lr * step / warmup
        return _ref_lr_at(step, warmup, max_steps, lr, min_lr)

    return f


def _wrong_decays_to_zero():
    def f(step, warmup, max_steps, lr, min_lr):
        if step < warmup:
            return lr * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / (max_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress)) * lr

    return f


lr_schedule = Exercise(
    name="lr_schedule",
    prompt="Write lr_at(step, warmup, max_steps, lr, min_lr): linear warmup over the first "
    "`warmup` steps (reaching lr at step warmup - 1), then a half cosine from lr down "
    "to min_lr at max_steps, and min_lr after that.",
    checker=_check_lr_schedule,
    hint_text="Two cases. step < warmup: lr * (step + 1) / warmup. Otherwise progress = "
    "(step - warmup) / (max_steps - warmup), clamped to 1, and "
    "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr).",
    solution_text=(
        "import math\n\n"
        "def lr_at(step, warmup, max_steps, lr, min_lr):\n"
        "    if step < warmup:\n"
        "        return lr * (step + 1) / warmup\n"
        "    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))\n"
        "    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)"
    ),
    reference=lambda: _ref_lr_at,
    wrong_answers=[_wrong_no_warmup, _wrong_off_by_one, _wrong_decays_to_zero],
)


# --------------------------------------------------------------------------------------------
# (b) tokens per optimizer step and epochs
# --------------------------------------------------------------------------------------------


def _ref_tokens_and_epochs(
    batch_size: int, grad_accum: int, block_size: int, max_steps: int, train_tokens: int
) -> tuple[int, float]:
    per_step = batch_size * grad_accum * block_size
    return per_step, per_step * max_steps / train_tokens


_RUNS = [  # (batch_size, grad_accum, block_size, max_steps, train_tokens)
    (32, 1, 128, 2800, 1_550_000),
    (16, 4, 256, 1000, 1_000_000),
    (8, 5, 1024, 600_000, 9_000_000_000),
]


def _check_tokens_and_epochs(f) -> None:
    for B, A, T, S, N in _RUNS:
        setting = (
            f"batch_size={B}, grad_accum={A}, block_size={T}, max_steps={S:,}, train_tokens={N:,}"
        )
        answer = f(B, A, T, S, N)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise Incorrect("Return a pair (tokens_per_step, epochs).")
        per_step = _number(answer[0], "tokens_per_step")
        epochs = _number(answer[1], "epochs")
        want_step, want_epochs = _ref_tokens_and_epochs(B, A, T, S, N)
        if per_step != want_step:
            if A > 1 and per_step == B * T:
                raise Incorrect(
                    f"For {setting}: {int(per_step):,} tokens per step forgets the "
                    f"gradient accumulation: each optimizer step averages grad_accum "
                    f"micro-batches, so it sees batch_size * grad_accum * block_size "
                    f"= {want_step:,} tokens."
                )
            if per_step == B * A * (T + 1):
                raise Incorrect(
                    f"For {setting}: a window of block_size + 1 ids gives block_size "
                    f"predictions (inputs x and targets y overlap in all but one id); "
                    f"count block_size tokens per window."
                )
            raise Incorrect(
                f"For {setting}: expected {want_step:,} tokens per step, got {per_step:,.0f}."
            )
        if not math.isclose(epochs, want_epochs, rel_tol=1e-6):
            if math.isclose(epochs, want_epochs / A, rel_tol=1e-6) and A > 1:
                raise Incorrect(
                    f"For {setting}: the epochs forget the accumulation; use the "
                    f"tokens per optimizer step you just computed."
                )
            raise Incorrect(
                f"For {setting}: expected {want_epochs:.4g} epochs (total tokens "
                f"max_steps * tokens_per_step over train_tokens), got {epochs:.4g}."
            )


def _wrong_no_accum():
    def f(batch_size, grad_accum, block_size, max_steps, train_tokens):
        per_step = batch_size * block_size
        return per_step, per_step * max_steps / train_tokens

    return f


def _wrong_block_plus_one():
    def f(batch_size, grad_accum, block_size, max_steps, train_tokens):
        per_step = batch_size * grad_accum * (block_size + 1)
        return per_step, per_step * max_steps / train_tokens

    return f


tokens_and_epochs = Exercise(
    name="tokens_and_epochs",
    prompt="Write tokens_and_epochs(batch_size, grad_accum, block_size, max_steps, train_tokens) "
    "-> (tokens_per_step, epochs): the number of predicted tokens in one optimizer step, "
    "and how many passes over the training tokens the whole run makes.",
    checker=_check_tokens_and_epochs,
    hint_text="One optimizer step averages the gradients of grad_accum micro-batches of "
    "batch_size windows, each with block_size predictions.",
    solution_text=(
        "def tokens_and_epochs(batch_size, grad_accum, block_size, max_steps, train_tokens):\n"
        "    per_step = batch_size * grad_accum * block_size\n"
        "    return per_step, per_step * max_steps / train_tokens"
    ),
    reference=lambda: _ref_tokens_and_epochs,
    wrong_answers=[_wrong_no_accum, _wrong_block_plus_one],
)


# --------------------------------------------------------------------------------------------
# (c) which parameters get weight decay
# --------------------------------------------------------------------------------------------


def _ref_decay_names(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.dim() >= 2}


def _models():
    import torch

    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    return [
        GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=2, n_head=2, n_embd=16)),
        GPT(GPTConfig(vocab_size=30, block_size=4, n_layer=1, n_head=1, n_embd=8, bias=False)),
    ]


def _check_decay_names(f) -> None:
    for model in _models():
        answer = f(model)
        try:
            got = {str(n) for n in answer}
        except TypeError:
            raise Incorrect(
                "Return a set (or list) of parameter names, as named_parameters() spells them."
            ) from None
        got.discard("lm_head.weight")  # the same tensor as wte.weight (tied); accept either way
        want = _ref_decay_names(model)
        if got == want:
            continue
        extra, missing = sorted(got - want), sorted(want - got)
        if any(n.endswith(".bias") for n in extra):
            raise Incorrect(
                f"Biases should not be decayed ({extra[:3]} ...): a bias shifts a "
                "unit's output and pulling it toward 0 does not limit the model's "
                "capacity in any useful way."
            )
        if any("ln" in n for n in extra):
            raise Incorrect(
                f"The LayerNorm gains ({[n for n in extra if 'ln' in n][:3]} ...) "
                "should not be decayed: their natural value is 1, and pulling them "
                "toward 0 just fights the normalisation. Checking for 'weight' in "
                "the name is not enough; look at the shape (p.dim() >= 2)."
            )
        if any(n in ("wte.weight", "wpe.weight") for n in missing):
            raise Incorrect(
                f"The embedding matrices {[n for n in missing if 'wp' in n or 'wt' in n]} "
                "are 2-D weight matrices like the others and are decayed too."
            )
        raise Incorrect(f"Expected the 2-D parameters; extra: {extra[:4]}, missing: {missing[:4]}.")


def _wrong_by_weight_name():
    return lambda model: {n for n, _ in model.named_parameters() if n.endswith("weight")}


def _wrong_everything():
    return lambda model: {n for n, _ in model.named_parameters()}


def _wrong_linear_only():
    return lambda model: {
        n for n, p in model.named_parameters() if p.dim() >= 2 and n.startswith("h.")
    }


decay_names = Exercise(
    name="decay_names",
    prompt="Write decay_names(model) -> the set of parameter names (as in "
    "model.named_parameters()) that AdamW should decay.",
    checker=_check_decay_names,
    hint_text="Decide by shape, not by name: matrices (p.dim() >= 2) are decayed; biases and "
    "LayerNorm gains (1-D) are not.",
    solution_text=(
        "def decay_names(model):\n"
        "    return {name for name, p in model.named_parameters() if p.dim() >= 2}"
    ),
    reference=lambda: _ref_decay_names,
    wrong_answers=[_wrong_by_weight_name, _wrong_everything, _wrong_linear_only],
)

"""Chapter 07 (pretraining): the learning-rate schedule, which parameters to decay, and a
whole training loop that must reach a held-out loss within a budget (build).
"""
# fmt: off

import functools
import math

import torch

from gptlab.exercises import Exercise, Incorrect


def lr_at(step, warmup, max_steps, lr, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup  # step 0 already moves; step warmup-1 reaches lr
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)

def _cosine(to_zero=False, clamp=True, start=None):  # a schedule with one thing changed
    def f(step, warmup, max_steps, lr, min_lr):
        if step < warmup:
            return lr * (step + 1) / warmup
        p = (step - warmup) / (max_steps - warmup)
        low = 0 if to_zero else min_lr
        return low + 0.5 * (1 + math.cos(math.pi * (min(p, 1.0) if clamp else p))) * (lr - low)
    return f
lr_schedule = Exercise(
    7, "lr_schedule", "apply", 10,
    "lr_at(step, warmup, max_steps, lr, min_lr): linear warmup over the first `warmup` steps "
    "(reaching lr at step warmup - 1), then a half cosine down to min_lr at max_steps.",
    lr_at, lambda: [(10, 110, 1e-3, 1e-4), (100, 1000, 3e-3, 3e-4), (4, 20, 0.5, 0.0)],
    run=lambda f, w, m, lr, lo: [f(s, w, m, lr, lo) for s in
                                 sorted({0, 1, w // 2, w - 1, w, w + 1, (w + m) // 2, m, m + 5})],
    hint_text="step < warmup: lr * (step + 1) / warmup. Otherwise progress = (step - warmup) / "
    "(max_steps - warmup), at most 1, and min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr).",
    conventions=[(lambda s, w, m, lr, lo: lr * s / w if s < w else lr_at(s, w, m, lr, lo),
                  "your warmup starts from 0 at step 0, as Hugging Face's schedules do; this "
                  "course starts at lr / warmup so the first step already learns.")],
    mistakes=[
        (lambda s, w, m, lr, lo: lo + 0.5 * (1 + math.cos(math.pi * min(1, s / m))) * (lr - lo),
         "the warmup is missing: rise linearly for the first `warmup` steps, then run the "
         "cosine over the remaining max_steps - warmup steps."),
        (_cosine(to_zero=True), "the cosine should end at min_lr, not at 0."),
        (_cosine(clamp=False), "after max_steps the rate should stay at min_lr: clamp the "
         "progress to at most 1."),
    ])

def decay_names(model):
    return {name for name, p in model.named_parameters() if p.dim() >= 2}  # matrices only

def _models():
    from gptlab.model import GPT, GPTConfig

    return [(GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=2, n_head=2, n_embd=16)),),
            (GPT(GPTConfig(vocab_size=30, block_size=4, n_layer=1, n_head=1, n_embd=8,
                           bias=False)),)]
decay_names = Exercise(
    7, "decay_names", "apply", 5,
    "decay_names(model): the set of parameter names (as model.named_parameters() spells them) "
    "that AdamW should decay.",
    decay_names, _models, run=lambda f, model: set(map(str, f(model))) - {"lm_head.weight"},
    hint_text="Decide by shape, not by name: matrices (p.dim() >= 2) are decayed; biases and "
    "LayerNorm gains (1-D) are not.",
    conventions=[(lambda m: {n for n, p in m.named_parameters() if p.dim() >= 2 and "wte" not in n
                             and "wpe" not in n}, "you leave the embeddings undecayed, as minGPT "
                  "does; GPT-2-style training (and this course) decays them like other matrices.")],
    mistakes=[
        (lambda m: {n for n, _ in m.named_parameters() if n.endswith("weight")}, "the LayerNorm "
         "gains are 1-D and should not be decayed: decide by shape (p.dim() >= 2), not by name."),
        (lambda m: {n for n, _ in m.named_parameters()}, "biases and LayerNorm parameters should "
         "not be decayed: pulling them toward 0 does not limit capacity usefully."),
        (lambda m: set(), "the matrices (p.dim() >= 2) are decayed."),
    ])

def tokens_and_epochs(batch_size, grad_accum, block_size, max_steps, train_tokens):
    per_step = batch_size * grad_accum * block_size  # every window position is one prediction
    return per_step, per_step * max_steps / train_tokens
tokens_and_epochs = Exercise(
    7, "tokens_and_epochs", "apply", 5,
    "tokens_and_epochs(batch_size, grad_accum, block_size, max_steps, train_tokens) -> "
    "(tokens per optimizer step, passes over the training tokens).",
    tokens_and_epochs, lambda: [(32, 1, 128, 2800, 1_471_830), (8, 4, 256, 2800, 1_471_830),
                                (4, 2, 64, 100, 50_000)],
    hint_text="One step sees batch_size * grad_accum windows of block_size predictions each.",
    mistakes=[
        (lambda b, a, t, s, n: (b * t, b * t * s / n), "gradient accumulation multiplies the "
         "windows per step by grad_accum."),
        (lambda b, a, t, s, n: (b * a * (t + 1), b * a * (t + 1) * s / n), "a window has "
         "block_size + 1 tokens but block_size predictions: count the predictions."),
    ])

@functools.cache
def _markov_text(n: int = 24_000, V: int = 16):
    """Text from a fixed random Markov chain: a model can learn it to about 1.06 nats."""
    g = torch.Generator().manual_seed(7)
    P = (3 * torch.randn(V, V, generator=g)).softmax(-1)
    ids = [0]
    for u in torch.rand(n, generator=g).tolist():
        ids.append(min(int(torch.searchsorted(P[ids[-1]].cumsum(0), u)), V - 1))
    return torch.tensor(ids[: n // 6 * 5]), torch.tensor(ids[n // 6 * 5:])

TARGET, STEPS = 1.20, 150  # reference: 1.10-1.12 over three seeds in 150 steps (0.5 s)

def _check_train(train) -> None:
    from gptlab.model import GPT, GPTConfig

    data, held_out = _markov_text()
    g = torch.Generator().manual_seed(1)

    def get_batch(B=16, T=16):
        ix = torch.randint(0, len(data) - T - 1, (B,), generator=g).tolist()
        return (torch.stack([data[i:i + T] for i in ix]),
                torch.stack([data[i + 1:i + T + 1] for i in ix]))

    def loss():
        n = (len(held_out) - 1) // 16 * 16
        with torch.no_grad():
            return model(held_out[:n].view(-1, 16), held_out[1:n + 1].view(-1, 16))[1].item()

    model = GPT(GPTConfig(vocab_size=16, block_size=16, n_layer=1, n_head=2, n_embd=32))
    before, start = [p.detach().clone() for p in model.parameters()], loss()
    train(model, get_batch, STEPS, 1e-2)
    if all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)):
        if all(p.grad is None for p in model.parameters()):
            raise Incorrect("no gradient was ever computed: call loss.backward() each step.")
        raise Incorrect("the weights never changed: call optimizer.step() after backward().")
    end = loss()
    if not end < start:
        raise Incorrect(f"the loss went UP, from {start:.2f} to {end:.2f}: gradients add up "
                        "across backward() calls, so zero them every step (optimizer.zero_grad()).")
    if end > TARGET:
        raise Incorrect(f"the held-out loss fell from {start:.2f} to {end:.2f}, short of "
                        f"{TARGET}: with plain SGD or a tiny learning rate {STEPS} steps are too "
                        "few; AdamW at the given lr gets there.")

def train(model, get_batch, steps, lr):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        x, y = get_batch()
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

def _loop(backward=True, step=True, zero=True, opt=torch.optim.AdamW):  # a loop missing a step
    def train(model, get_batch, steps, lr):
        o = opt(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = model(*get_batch())[1]
            _ = zero and o.zero_grad()
            _ = backward and loss.backward()
            _ = step and o.step()
    return train
train_loop = Exercise(
    7, "train_loop", "build", 25,
    f"train(model, get_batch, steps, lr): the training loop; it must bring a small GPT to a "
    f"held-out loss below {TARGET} nats in {STEPS} steps at lr=1e-2.",
    train, checker=_check_train, time_limit=60,
    hint_text="Create the optimizer once; each step: a batch, the forward pass with targets, "
    "zero the gradients, backward, optimizer step.",
    mistakes=[(_loop(step=False), "the weights never changed"),
              (_loop(backward=False), "no gradient was ever computed"),
              (_loop(zero=False), "the loss went UP"),
              (_loop(opt=torch.optim.SGD), "short of")])

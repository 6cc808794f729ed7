"""Independent correct answers for chapter 07's exercises."""

import math

import torch


def train_adam_clipped(model, get_batch, steps, lr):
    """Adam without weight decay, gradients clipped to norm 1, model.zero_grad()."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.95))
    model.train()
    for _ in range(steps):
        inputs, targets = get_batch()
        logits, _ = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        model.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()


def train_with_warmup(model, get_batch, steps, lr):
    """AdamW with a short linear warmup through a LambdaLR scheduler; train mode each step."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    step = 0
    while step < steps:
        model.train(True)
        x, y = get_batch()
        loss = model(x, targets=y)[1]
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        step += 1


def train_accumulating(model, get_batch, steps, lr):
    """gptlab's own configure_optimizer, two micro-batches per step, set_to_none after the step."""
    from gptlab.train import configure_optimizer

    opt = configure_optimizer(model, lr)
    model.train()
    for _ in range(steps):
        for _ in range(2):
            x, y = get_batch()
            (model(x, y)[1] / 2).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


def lr_hf_cosine(step, warmup, max_steps, lr, min_lr):
    """Written from the cosine's value at the end of warmup, progress clamped with max/min."""
    if step < warmup:
        return lr * (step + 1) / warmup
    p = max(0.0, min(1.0, (step - warmup) / (max_steps - warmup)))
    return min_lr + (lr - min_lr) * (math.cos(math.pi * p) + 1) / 2


ALTERNATIVES = {
    "train_loop": [train_adam_clipped, train_with_warmup, train_accumulating],
    "lr_schedule": [lr_hf_cosine],
    "decay_names": [lambda m: [n for n, p in m.named_parameters() if p.ndim > 1]],
}

"""Independent correct answers for chapter 07's exercises."""

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
    """AdamW with a short linear warmup through a LambdaLR scheduler."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    step = 0
    while step < steps:
        x, y = get_batch()
        loss = model(x, targets=y)[1]
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        step += 1


ALTERNATIVES = {"train_loop": [train_adam_clipped, train_with_warmup]}

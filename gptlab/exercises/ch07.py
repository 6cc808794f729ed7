"""Chapter 07 (pretraining): schedule, decay groups, tokens per step, a loop to a target (build)."""
# fmt: off

import math

import torch

from gptlab.exercises import Exercise, Incorrect, tiny_gpt


def lr_at(step, warmup, max_steps, lr, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup  # step 0 already moves; step warmup-1 reaches lr
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)
lr_schedule = Exercise(7, "lr_schedule", "apply", 10,
    "lr_at(step, warmup, max_steps, lr, min_lr): a linear warmup, then half a cosine to min_lr.",
    lr_at, lambda: [(10, 110, 1e-3, 1e-4), (100, 1000, 3e-3, 3e-4), (4, 20, 0.5, 0.0)],
    run=lambda f, w, m, lr, lo: [f(s, w, m, lr, lo) for s in range(m + 6)],
    hint_text="lr * (step+1) / warmup; then min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2, p <= 1",
    conventions=[(lambda s, w, m, lr, lo: lr * s / w if s < w else lr_at(s, w, m, lr, lo), "your "
                  "warmup starts from 0, as Hugging Face's does; ours starts at lr / warmup.")],
    mistakes=[(lambda s, w, m, lr, lo: lr_at(s, 0, m, lr, lo), "the linear warmup is missing."),
        (lambda s, w, m, lr, lo: lr_at(s, w, m, lr, 0), "the cosine should end at min_lr, not 0."),
        (lambda s, w, m, lr, lo: lr_at(min(s, 2 * m - s), w, m, lr, lo), "after max_steps the "
         "rate should stay at min_lr: clamp the progress to at most 1.")])

def decay_names(model):
    return {name for name, p in model.named_parameters() if p.dim() >= 2}  # matrices only
decay_names = Exercise(7, "decay_names", "apply", 5,
    "decay_names(model): the names (as model.named_parameters() spells them) AdamW should decay.",
    decay_names, lambda: [(tiny_gpt(0, 50, 8, n_layer=2),), (tiny_gpt(1, 30, 4, bias=False),)],
    run=lambda f, model: set(map(str, f(model))) - {"lm_head.weight"},  # it is wte.weight
    hint_text="By shape, not name: matrices (p.dim() >= 2) are decayed, 1-D tensors are not.",
    conventions=[(lambda m: decay_names.reference(m) - {"wte.weight", "wpe.weight"}, "you leave "
                  "the embeddings undecayed, as minGPT does; nanoGPT and this course decay them.")],
    mistakes=[(lambda m: {n for n, _ in m.named_parameters() if n.endswith("weight")}, "the "
               "LayerNorm gains are 1-D and should not be decayed: decide by p.dim() >= 2."),
        (lambda m: {n for n, _ in m.named_parameters()}, "1-D biases and gains are not decayed."),
        (lambda m: set(), "the matrices (p.dim() >= 2) are decayed.")])

def tokens_and_epochs(batch_size, grad_accum, block_size, max_steps, train_tokens):
    per_step = batch_size * grad_accum * block_size  # every window position is one prediction
    return per_step, per_step * max_steps / train_tokens
tokens_and_epochs = Exercise(7, "tokens_and_epochs", "apply", 5,
    "tokens_and_epochs(...) -> (tokens per optimizer step, passes over the training tokens).",
    tokens_and_epochs, lambda: [(32, 1, 128, 2800, 1_471_830), (8, 4, 256, 2800, 1_471_830)],
    hint_text="One step sees batch_size * grad_accum windows of block_size predictions each.",
    mistakes=[(lambda b, a, t, s, n: (b * t, b * t * s / n), "multiply by grad_accum too."),
        (lambda b, a, t, s, n: (b * a * (t + 1), b * a * (t + 1) * s / n), "a window has "
         "block_size + 1 tokens but block_size predictions: count the predictions.")])

def train_loop(model, get_batch, steps, lr):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()  # dropout on: the model may come straight from an evaluation
    for _ in range(steps):
        x, y = get_batch()
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
TARGET, STEPS = 1.25, 150  # measured: the reference 1.18, lr / 10 1.30 (the best possible 1.12)
def _check_train(train):  # measures what the loop did: flags in the order of the mistakes below
    walk = torch.multinomial((5 * torch.randn(16)).softmax(0), 24_000, True).cumsum(0) % 16
    ix = torch.randint(0, 19_984, (10 * STEPS, 16, 1)) + torch.arange(16)  # in the first 20,000
    get_batch, held = iter(zip(walk[ix], walk[ix + 1])).__next__, walk[20_000:].unfold(0, 17, 17)
    model, modes = tiny_gpt(0, 16, 16, n_embd=32, dropout=0.1), set()
    model.register_forward_pre_hook(lambda module, args: modes.add(module.training))
    loss = torch.no_grad()(lambda: model.eval()(held[:, :-1], held[:, 1:])[1].item())
    before, start = torch.nn.utils.parameters_to_vector(model.parameters()), loss()
    try:
        threads, _ = torch.get_num_threads(), torch.set_num_threads(1)  # fastest for this size
        train(model, get_batch, STEPS, 1e-2)
    finally:
        torch.set_num_threads(threads)
    if True in (flags := [torch.equal(before, torch.nn.utils.parameters_to_vector(
            model.parameters())), (end := loss()) >= start, True not in modes, end > TARGET]):
        raise Incorrect(train_loop.mistakes[flags.index(True)][1], f"({start:.2f} -> {end:.2f})")
def _loop(step=True, zero=True, mode=True, scale=1):  # the loop, one part off
    def train(model, get_batch, steps, lr):
        o, _ = torch.optim.AdamW(model.parameters(), lr=lr * scale), mode and model.train()
        for loss in (model(*get_batch())[1] for _ in range(steps)):  # lazily: one step at a time
            _ = (zero and o.zero_grad(), loss.backward(), step and o.step())
    return train
train_loop = Exercise(7, "train_loop", "build", 25,
    f"my_train(model, get_batch, steps, lr): train a GPT below {TARGET} nats in {STEPS} steps.",
    train_loop, checker=_check_train, hint_text="Each step: loss, zero_grad, backward, step.",
    mistakes=[(_loop(step=False), "the weights never moved: call backward() and optimizer.step()."),
        (_loop(zero=False), "the loss rose: backward() adds up gradients; zero them every step."),
        (_loop(mode=False), "you trained in eval mode, dropout off: call model.train() first."),
        (_loop(scale=0.01), f"the loss fell, but not below {TARGET} in {STEPS} steps: use AdamW "
         "at the lr you are given (plain SGD or a smaller rate is far slower).")])

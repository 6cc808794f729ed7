"""Chapter 06 (the GPT model): parameters, AdamW memory, the forward pass from its parts (build)."""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt
from gptlab.model import GPTConfig


def param_count(config):
    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
    per_block = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (
        4 * C * C + C)  # ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj
    return V * C + T * C + L * per_block + 2 * C  # + ln_f; lm_head is tied to wte: 0 extra
_count = param_count
param_count = Exercise(6, "param_count", "apply", 10,
    "param_count(config): the parameters of GPT(config) (bias=True), from the config alone.",
    param_count, lambda: [(GPTConfig.preset("gpt2"),), (GPTConfig.preset("gpt2-xl"),),
                          (GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6),)],
    hint_text="wte V*C + wpe T*C + n_layer * (12 C^2 + 13 C) + ln_f 2C. The output layer is "
    "the token embedding (tied), so it adds nothing.",
    mistakes=[(lambda c: _count(c) + c.vocab_size * c.n_embd, "you counted lm_head's V x C "
               "matrix: it IS the token embedding (weight tying), so it adds nothing."),
        (lambda c: _count(c) - (4 * c.n_layer + 2) * c.n_embd, "the LayerNorms are missing: "
         "ln_1 and ln_2 in every block and ln_f, each with C gains and C shifts."),
        (lambda c: _count(c) - c.block_size * c.n_embd, "the position embeddings are missing: "
         "wpe is a block_size x C table.")])

def adamw_memory_gb(n_params):
    return n_params * (4 + 2 * 4) / 1e9  # float32 weights + AdamW's m and v
adamw_memory_gb = Exercise(6, "adamw_memory_gb", "recall", 5,
    "adamw_memory_gb(n_params): GB (10**9 bytes) for float32 weights plus AdamW's optimizer "
    "state (no gradients, no activations).",
    adamw_memory_gb, lambda: [(124_439_808,), (1.5e9,), (1000,)],
    hint_text="Weights: 4 bytes. AdamW: two float32 moments, 4 + 4 bytes.",
    mistakes=[(lambda n: 4 * n / 1e9, "that is the weights alone: AdamW keeps two more float32 "
               "numbers per parameter (its first and second moments)."),
        (lambda n: 16 * n / 1e9, "16 bytes also counts a gradient; this exercise leaves "
         "gradients out: weights + m + v = 12 bytes."),
        (lambda n: 12 * n / 2**30, "a GB here is 10**9 bytes, not 2**30 (a GiB).")])

def gpt_forward(model, idx, targets=None):
    B, T = idx.shape
    positions = torch.arange(T, device=idx.device)  # 0 .. T-1
    x = model.wte(idx) + model.wpe(positions)  # (B, T, C): token + position
    for block in model.h:
        x = block(x)
    logits = model.lm_head(model.ln_f(x))  # (B, T, V)
    if targets is None:
        return logits, None
    return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
def _run_gpt(answer, seed, idx, targets):
    return torch.no_grad()(answer)(tiny_gpt(seed, 37, 12, n_layer=2), idx, targets)
def _slip(embed=None, final=None, loss=None):  # the reference with one step done wrong
    def forward(model, idx, targets=None):
        x = (embed or (lambda m, i: m.wte(i) + m.wpe(torch.arange(i.size(1)))))(model, idx)
        for block in model.h:
            x = block(x)
        logits = model.lm_head((final or model.ln_f)(x))
        return logits, (loss or (lambda lg, t: F.cross_entropy(lg.flatten(0, 1), t.flatten())))(
            logits, targets) if targets is not None else None
    return forward
gpt_forward = Exercise(6, "gpt_forward", "build", 20,
    "gpt_forward(model, idx, targets=None) -> (logits, loss): a gptlab GPT's forward pass from "
    "its parts (wte, wpe, h, ln_f, lm_head), without calling the model itself.",
    gpt_forward, lambda: [(1, torch.randint(0, 37, (2, 9)), torch.randint(0, 37, (2, 9))),
        (2, torch.randint(0, 37, (1, 12)), None), (3, *torch.randint(0, 37, (2, 3, 1)))],
    run=_run_gpt, forbidden=("gptlab.model.GPT.forward", "gptlab.model.GPT.hidden_states"),
    hint_text="Embed the tokens and add the embeddings of positions 0..T-1, run the blocks in "
    "order, apply ln_f, then lm_head; the loss is the cross-entropy over all B*T positions.",
    mistakes=[(_slip(embed=lambda m, i: m.wte(i)), "the position embeddings are missing: add "
               "model.wpe(torch.arange(T)) to the token embeddings."),
        (_slip(embed=lambda m, i: m.wte(i) + m.wpe(torch.arange(1, i.size(1) + 1))),
         "positions start at 0: the first token takes row 0 of wpe."),
        (_slip(final=lambda x: x), "the final LayerNorm ln_f is missing before lm_head."),
        (_slip(loss=lambda lg, t: F.cross_entropy(lg[:, :-1].flatten(0, 1), t[:, 1:].flatten())),
         "targets[:, t] already is the token after idx[:, t]: do not shift them again."),
        (_slip(loss=lambda lg, t: F.cross_entropy(lg.softmax(-1).flatten(0, 1), t.flatten())),
         "cross_entropy expects raw logits (it applies log-softmax itself): no softmax first.")])

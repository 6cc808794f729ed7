"""Chapter 11 (LoRA): the merged weight, the parameter count of a LoRA'd GPT, and a whole LoRA
layer that trains only its adapter and merges exactly (build).
"""
# fmt: off

import torch
from torch import nn

from gptlab.exercises import Exercise


def merged_weight(W, A, B, alpha):
    r = A.shape[0]
    return W + (alpha / r) * (B @ A)  # (out, in): x @ W.T + x @ A.T @ B.T * alpha / r
merged_weight = Exercise(
    11, "merged_weight", "apply", 5,
    "merged_weight(W, A, B, alpha) -> the weight of the plain Linear layer that computes the "
    "same as the LoRA layer (W (out, in), A (r, in), B (out, r)).",
    merged_weight,
    lambda: [(torch.randn(o, i), torch.randn(r, i), torch.randn(o, r), a)
             for i, o, r, a in [(6, 9, 2, 16.0), (5, 5, 4, 4.0), (8, 3, 1, 2.0)]],
    hint_text="forward(x) = x @ W.T + (x @ A.T @ B.T) * alpha / r = x @ (W + ...).T, r = len(A).",
    mistakes=[
        (lambda W, A, B, a: W + B @ A, "the scaling alpha / r is missing."),
        (lambda W, A, B, a: W + a * (B @ A), "the scaling is alpha / r, not alpha."),
        (lambda W, A, B, a: W + (a / A.shape[0]) * (A.T @ B.T), "B @ A has the weight's shape "
         "(out, in); A.T @ B.T is its transpose."),
    ])

def gpt_lora_count(config, r):
    C = config.n_embd
    return config.n_layer * r * (C + 3 * C)  # per block: c_attn (C -> 3C) gets A (r, C), B (3C, r)

def _configs():
    from gptlab.model import GPTConfig

    return [(c, r) for c in (GPTConfig.preset("gpt2"), GPTConfig(vocab_size=4096, block_size=128,
            n_layer=6, n_head=4, n_embd=256)) for r in (1, 8)]
gpt_lora_count = Exercise(
    11, "gpt_lora_count", "apply", 5,
    "gpt_lora_count(config, r): the trainable parameters of a GPT after apply_lora(model, "
    "targets=('c_attn',), r=r), everything else frozen.",
    gpt_lora_count, _configs,
    hint_text="One adapter per block; c_attn is Linear(C, 3C); an adapter has r * (in + out).",
    mistakes=[
        (lambda c, r: c.n_layer * r * 2 * c.n_embd, "c_attn maps C to 3C: its adapter has "
         "r * (C + 3C) parameters, not r * 2C."),
        (lambda c, r: r * 4 * c.n_embd, "every block has its own c_attn: multiply by n_layer."),
        (lambda c, r: c.n_layer * r * 3 * c.n_embd * c.n_embd, "the adapter is two thin "
         "matrices, A (r, C) and B (3C, r), not r copies of the weight."),
    ])

class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)  # frozen, shared with the model
        self.scaling = alpha / r
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / r)  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))  # (out, r): starts as W

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            merged.bias.copy_(self.base.bias)
        return merged

def _run_lora(cls, seed, fan_in, fan_out, r, alpha):
    torch.manual_seed(seed)
    layer = cls(nn.Linear(fan_in, fan_out), r, alpha)
    g = torch.Generator().manual_seed(seed)  # whatever the answer's __init__ drew
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(r, fan_in, generator=g))
        layer.lora_B.copy_(torch.randn(fan_out, r, generator=g))  # as after some training
        x = torch.randn(3, fan_in, generator=g)
        trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
        merged = layer.merge()
        return layer(x), merged(x) if isinstance(merged, nn.Linear) else None, trainable

class _AlphaScaled(LoRALinear):  # scaled by alpha instead of alpha / r
    def forward(self, x):
        return self.base(x) + x @ self.lora_A.T @ self.lora_B.T * self.scaling * len(self.lora_A)

class _BaseTrains(LoRALinear):  # the base layer left trainable
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        base.requires_grad_(True)

class _MergeUnscaled(LoRALinear):  # the merge forgets the scaling
    def merge(self):
        self.scaling, merged = 1.0, super().merge()
        return merged
LoRALinear = Exercise(
    11, "LoRALinear", "build", 25,
    "class LoRALinear(base, r, alpha): a frozen nn.Linear plus a trainable update "
    "(x @ A.T @ B.T) * alpha / r, with lora_A (r, in), lora_B (out, r), and merge() returning "
    "a plain nn.Linear that computes the same.",
    LoRALinear, lambda: [(1, 6, 9, 2, 16.0), (2, 5, 5, 4, 4.0), (3, 8, 3, 1, 2.0)], run=_run_lora,
    forbidden=("gptlab.finetune.lora.LoRALinear.forward", "gptlab.finetune.lora.LoRALinear.merge"),
    hint_text="Freeze base with requires_grad_(False); forward adds the low-rank path; merge "
    "builds nn.Linear(in, out) with weight W + alpha / r * B @ A and the base's bias.",
    mistakes=[
        (_AlphaScaled, "the update is scaled by alpha; LoRA scales it by alpha / r."),
        (_BaseTrains, "the base layer is still trainable: freeze it with requires_grad_(False)."),
        (_MergeUnscaled, "the merged layer differs from the LoRA layer: the merged weight "
         "needs the same scaling, W + alpha / r * B @ A."),
    ])

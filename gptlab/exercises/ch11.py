"""Chapter 11 (LoRA): the merged weight, a LoRA'd GPT's trainable count, a LoRA layer (build)."""
# fmt: off

import torch
from torch import nn

from gptlab.exercises import Exercise
from gptlab.model import GPTConfig


def merged_weight(W, A, B, alpha):
    return W + (alpha / A.shape[0]) * (B @ A)  # r = A.shape[0]; (out, r) @ (r, in) -> (out, in)
merged_weight = Exercise(11, "merged_weight", "apply", 5,
    "merged_weight(W, A, B, alpha): the weight of the nn.Linear that computes what the LoRA "
    "layer computes; W (out, in), A (r, in), B (out, r).",
    merged_weight, lambda: [(torch.randn(o, i), torch.randn(r, i), torch.randn(o, r), a)
                            for i, o, r, a in [(6, 9, 2, 16.0), (5, 5, 4, 4.0), (8, 3, 1, 2.0)]],
    hint_text="forward(x) = x @ W.T + (x @ A.T @ B.T) * alpha / r = x @ (W + ...).T, r = len(A).",
    mistakes=[(lambda W, A, B, a: W + B @ A, "the scaling alpha / r is missing."),
        (lambda W, A, B, a: W + a * (B @ A), "the scaling is alpha / r, not alpha."),
        (lambda W, A, B, a: W + (a / A.shape[0]) * (A.T @ B.T), "B @ A has the weight's shape "
         "(out, in); A.T @ B.T is its transpose.")])

def gpt_lora_count(config, r):
    return config.n_layer * r * (config.n_embd + 3 * config.n_embd)  # c_attn: A (r, C), B (3C, r)
gpt_lora_count = Exercise(11, "gpt_lora_count", "apply", 5,
    "gpt_lora_count(config, r): a GPT's trainable parameters after apply_lora(model, "
    "targets=('c_attn',), r=r).",
    gpt_lora_count, lambda: [(GPTConfig(n_layer=L, n_head=16, n_embd=C), r)
                             for L, C in [(12, 768), (24, 1024), (6, 256)] for r in (1, 8)],
    hint_text="One adapter per block; c_attn is Linear(C, 3C); an adapter has r * (in + out).",
    mistakes=[(lambda c, r: c.n_layer * r * 2 * c.n_embd, "c_attn maps C to 3C: its adapter has "
         "r * (C + 3C) parameters, not r * 2C."),
        (lambda c, r: r * 4 * c.n_embd, "every block has its own c_attn: multiply by n_layer."),
        (lambda c, r: c.n_layer * r * 3 * c.n_embd ** 2, "the adapter is two thin matrices, "
         "A (r, C) and B (3C, r), not r copies of the weight.")])

class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)  # frozen, shared with the model
        self.scaling = alpha / r
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / r)  # (r, in), random
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))  # (out, r): BA = 0 at first

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def delta_weight(self):  # what training changed in W, (out, in)
        return self.scaling * self.lora_B @ self.lora_A

    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features)
        merged.load_state_dict({"weight": self.base.weight + self.delta_weight(),
                                "bias": self.base.bias})
        return merged
def _run_lora(cls, seed, fan_in, fan_out, r, alpha):
    torch.manual_seed(seed)
    layer = cls(nn.Linear(fan_in, fan_out), r, alpha)
    trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
    init = [n + (" != 0" if getattr(layer, n).any() else " = 0") for n in ("lora_A", "lora_B")]
    g = torch.Generator().manual_seed(seed)  # then non-zero A and B, as after some training
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(r, fan_in, generator=g))
        layer.lora_B.copy_(torch.randn(fan_out, r, generator=g))
        x = torch.randn(3, fan_in, generator=g)
        out, merged = layer(x), layer.merge()  # forward first: a merge may edit the layer
        return out, merged(x) if isinstance(merged, nn.Linear) else merged, trainable, init
def _delta_as(wrong):  # the reference, but its merge adds the update wrong(layer)
    return type("Wrong", (LoRALinear,), {"delta_weight": wrong})
LoRALinear = Exercise(11, "LoRALinear", "build", 25,
    "class LoRALinear(base, r, alpha): a frozen nn.Linear plus (x @ A.T @ B.T) * alpha / r, with "
    "lora_A (r, in) random, lora_B (out, r) zero; merge() returns an nn.Linear computing the same.",
    LoRALinear, lambda: [(2, 5, 5, 4, 4.0), (1, 6, 9, 2, 16.0), (3, 8, 3, 1, 2.0)], run=_run_lora,
    forbidden=("gptlab.finetune.lora.LoRALinear.forward", "gptlab.finetune.lora.LoRALinear.merge"),
    hint_text="Freeze base with requires_grad_(False); forward adds the low-rank path; merge "
    "builds nn.Linear(in, out) with weight W + alpha / r * B @ A and the base's bias.",
    mistakes=[(lambda base, r, a: LoRALinear.reference(base, r, a * r), "the update is scaled "
         "by alpha; LoRA scales it by alpha / r."),
        (lambda base, r, a: LoRALinear.reference(base, r, a).requires_grad_(True), "the base "
         "layer is still trainable: freeze it with requires_grad_(False)."),
        (_delta_as(lambda s: s.lora_B @ s.lora_A), "the merged layer differs from the LoRA "
         "layer: the merged weight needs the same scaling, W + alpha / r * B @ A."),
        (_delta_as(lambda s: s.scaling * s.lora_A.T @ s.lora_B.T), "the merged weight adds "
         "A.T @ B.T, of shape (in, out): the update is B @ A, of shape (out, in) like W."),
        (lambda base, r, a: (m := LoRALinear.reference(base, r, a)).lora_B.data.normal_() is not
         None and m, "B must start at zero, so that the adapted layer starts as the base layer."),
        (lambda base, r, a: (m := LoRALinear.reference(base, r, a)).lora_A.data.zero_() is not
         None and m, "A must start random: with A = 0 and B = 0 neither gets a gradient.")])

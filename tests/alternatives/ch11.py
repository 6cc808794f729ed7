"""Independent correct answers for chapter 11's exercises."""

import torch
from torch import nn


class LoRAFunctional(nn.Module):
    """F.linear throughout; the base kept in a list so it is not registered (frozen by hand)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        for p in base.parameters():
            p.requires_grad = False
        self.base = base
        self.r, self.alpha = r, alpha
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features).uniform_(-0.1, 0.1))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        F = torch.nn.functional
        return F.linear(x, self.base.weight, self.base.bias) + F.linear(
            F.linear(x, self.lora_A), self.lora_B
        ) * (self.alpha / self.r)

    def merge(self):
        out = nn.Linear(self.base.in_features, self.base.out_features)
        out.weight = nn.Parameter(
            torch.addmm(
                self.base.weight, self.lora_B, self.lora_A, alpha=self.alpha / self.r
            ).detach()
        )
        out.bias = nn.Parameter(self.base.bias.detach().clone())
        return out


class LoRAEinsum(nn.Module):
    """einsum for the update; the merge through a deep copy of the base layer."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.base.bias.requires_grad_(False)
        self.s = alpha / r
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + self.s * torch.einsum("bi,ri,or->bo", x, self.lora_A, self.lora_B)

    def merge(self):
        import copy

        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.s * torch.einsum("or,ri->oi", self.lora_B, self.lora_A)
        return merged


ALTERNATIVES = {"LoRALinear": [LoRAFunctional, LoRAEinsum]}

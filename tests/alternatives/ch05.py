"""Independent correct answers for chapter 05's exercises."""

import math

import torch
from torch import nn

from gptlab.attention import MultiHeadAttention


class _MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        h = self.c_fc(x)
        return self.c_proj(
            0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
        )


class BlockWithModules(nn.Module):
    """Sub-modules all the way down; GELU written out."""

    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.mlp = _MLP(n_embd)

    def forward(self, x):
        x = self.attn(self.ln_1(x)) + x
        return self.mlp(self.ln_2(x)) + x


class BlockFunctional(nn.Module):
    """Its own LayerNorm arithmetic on the ln parameters, nn.GELU for the MLP."""

    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = (
            nn.Linear(n_embd, 4 * n_embd),
            nn.Linear(4 * n_embd, n_embd),
        )
        self.act = nn.GELU(approximate="tanh")

    @staticmethod
    def _norm(x, ln):
        mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        return (x - mu) * torch.rsqrt(var + ln.eps) * ln.weight + ln.bias

    def forward(self, x):
        residual = x + self.attn(self._norm(x, self.ln_1))
        update = self.mlp.c_proj(self.act(self.mlp.c_fc(self._norm(residual, self.ln_2))))
        return residual + update


def layer_norm_var(x, weight, bias, eps=1e-5):
    return (x - x.mean(-1, keepdim=True)) * torch.rsqrt(
        x.var(-1, unbiased=False, keepdim=True) + eps
    ) * weight + bias


ALTERNATIVES = {
    "Block": [BlockWithModules, BlockFunctional],
    "layer_norm": [layer_norm_var],
}

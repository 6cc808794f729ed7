"""Chapter 05 (the transformer block): LayerNorm, GELU, the residual scaling, the block (build)."""
# fmt: off

import math

import torch
import torch.nn.functional as F
from torch import nn

import gptlab.model as _gptlab
from gptlab.attention import MultiHeadAttention
from gptlab.exercises import Exercise


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1): divide by C, not C - 1
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
def _ln(dim=-1, ddof=0, out=False):  # a LayerNorm with one slip (var over dim, C - ddof)
    return lambda x, w, b, eps=1e-5: (d := x - x.mean(dim, True)) / (d.pow(2).sum(dim, True).div(
        x.size(dim) - ddof).add(0 if out else eps).sqrt() + (eps if out else 0)) * w + b
layer_norm = Exercise(5, "layer_norm", "apply", 10,
    "layer_norm(x, weight, bias, eps=1e-5) over x's last dimension, without PyTorch's LayerNorm.",
    layer_norm, lambda: [(s * torch.randn(sh).double() + 1, *torch.randn(2, sh[-1]).double(), eps)
        for sh, s, eps in [((2, 3, 8), 3, 1e-5), ((4, 7, 12), 1e-3, 1e-5), ((3, 10), 1, 0.1)]],
    forbidden=("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm"),
    hint_text="x - mean, divided by sqrt(var + eps) (var: divide by C), times weight, plus bias.",
    mistakes=[(_ln(ddof=1), "you used the unbiased variance (dividing by C - 1); divide by C."),
        (_ln(dim=0), "that normalises over the batch (dim=0), like BatchNorm; use dim=-1."),
        (_ln(out=True), "eps is added outside the square root: (x - mean) / sqrt(var + eps).")])

def gelu_tanh(x):
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return 0.5 * x * (1 + torch.tanh(inner))
gelu_tanh = Exercise(5, "gelu_tanh", "recall", 5, "gelu_tanh(x): GPT-2's GELU, the tanh form.",
    gelu_tanh, lambda: [(torch.linspace(-6, 6, 241),)], forbidden=("torch.nn.functional.gelu",),
    hint_text="0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))).",
    conventions=[(lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), "that is the exact "
                  "GELU, x * Phi(x); GPT-2 uses the tanh approximation, which differs by < 1e-3.")],
    mistakes=[(lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)), "the cubic term "
               "is missing: the tanh's argument is sqrt(2/pi) * (x + 0.044715 * x**3)."),
        (lambda x: 0.5 * x * (1 + torch.tanh(x + 0.044715 * x**3)), "the factor sqrt(2/pi) in "
         "front of (x + 0.044715 x^3) is missing.")])

def residual_init_std(n_layer, base_std=0.02):
    return base_std / math.sqrt(2 * n_layer)  # 2 residual additions per block; variances add
residual_init_std = Exercise(5, "residual_init_std", "recall", 3,
    "residual_init_std(n_layer, base_std=0.02): the std of GPT-2's residual output projections.",
    residual_init_std, lambda: [(12, 0.02), (1, 0.02), (48, 0.02), (6, 0.05)],
    hint_text="2 * n_layer residual additions; variances add: scale by 1 / sqrt(2 * n_layer).",
    mistakes=[(lambda n, b: b / math.sqrt(n), "count 2 additions per block (attention and MLP)."),
        (lambda n, b: b / (2 * n), "variances add: divide by the SQUARE ROOT of 2 * n_layer.")])

class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)  # chapter 04's
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(n_embd, 4 * n_embd),
                                  "c_proj": nn.Linear(4 * n_embd, n_embd)})

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # each sub-layer reads a normalised copy ...
        h = F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp.c_proj(h)  # ... and adds its output to the residual stream
class _Slip(Block):  # the reference with the one slip its class is named after
    def forward(self, x):
        slip, ln_1, attn, ln_2, mlp = type(self).__name__, self.ln_1, self.attn, self.ln_2, self.mlp
        act = lambda h: F.gelu(h, approximate="none" if slip == "erf" else "tanh")  # noqa: E731
        if slip == "post":
            return ln_2((y := ln_1(x + attn(x))) + mlp.c_proj(act(mlp.c_fc(y))))
        h = (ln_1 if slip == "ln_1" else ln_2)((x, (y := x + attn(ln_1(x))))[slip != "parallel"])
        return (0 if slip == "no_residual" else y) + mlp.c_proj(act(mlp.c_fc(h)))
def _with_gptlab_weights(cls, n_embd, n_head, x):
    torch.manual_seed(n_embd + n_head)  # weights drawn first: any __init__ gets the same ones
    theirs = _gptlab.Block(_gptlab.GPTConfig(n_embd=n_embd, n_head=n_head)).state_dict()
    weights = {k: v + 0.3 * torch.randn_like(v) for k, v in theirs.items()}  # ln_1 != ln_2
    (module := cls(n_embd, n_head)).load_state_dict(weights)
    return module.eval()(x)
Block = Exercise(5, "Block", "build", 25,
    "MyBlock(n_embd, n_head): GPT-2's pre-LN block, so that a gptlab Block's weights load into it.",
    Block, lambda: [(16, 2, 2 * torch.randn(3, 5, 16) + 1), (12, 3, torch.randn(1, 7, 12))],
    run=_with_gptlab_weights, forbidden=("gptlab.model.Block.forward", "gptlab.model.MLP.forward"),
    hint_text="x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)), mlp = c_proj(GELU_tanh(c_fc)).",
    conventions=[(type("erf", (_Slip,), {}), "your MLP uses the exact GELU (erf), a common "
                  "alternative; GPT-2 was trained with the tanh form, within 1e-3 of it.")],
    mistakes=[(type(slip, (_Slip,), {}), hint) for slip, hint in [
        ("post", "that is post-LN; GPT-2 normalises each sub-layer's INPUT: x + attn(ln_1(x))."),
        ("parallel", "attention and the MLP read the same x; the MLP must read x after attention."),
        ("ln_1", "the MLP reads through ln_1; each sub-layer has its own LayerNorm: use ln_2."),
        ("no_residual", "the MLP's residual is missing: x + mlp(ln_2(x)), not mlp(ln_2(x)).")]])

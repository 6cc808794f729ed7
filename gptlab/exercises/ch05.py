"""Chapter 05 (the transformer block): LayerNorm and GELU by hand, and a whole GPT-2 block
that takes gptlab's weights (build).
"""
# fmt: off

import math

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.exercises import Exercise


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divide by C
    return (x - mean) / torch.sqrt(var + eps) * weight + bias

_layer_norm = layer_norm

def _ln_inputs():
    return [(s * torch.randn(*shape, dtype=torch.float64) + 0.5,
             1 + 0.3 * torch.randn(shape[-1], dtype=torch.float64),
             0.2 * torch.randn(shape[-1], dtype=torch.float64), eps)
            for shape, s, eps in [((2, 3, 8), 1.0, 1e-5), ((5, 6), 3.0, 1e-5),
                                  ((4, 7, 12), 1e-3, 1e-5), ((3, 10), 1.0, 0.1)]]

def _ln_with(norm):  # a wrong LayerNorm: norm(x, eps) -> the normalised x
    return lambda x, w, b, eps=1e-5: norm(x, eps) * w + b
layer_norm = Exercise(
    5, "layer_norm", "apply", 10,
    "layer_norm(x, weight, bias, eps=1e-5) for x (..., C), normalising over the last "
    "dimension, without calling PyTorch's LayerNorm.",
    layer_norm, _ln_inputs,
    forbidden=("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm"),
    hint_text="mean = x.mean(dim=-1, keepdim=True); the variance is the MEAN of (x - mean)**2 "
    "(divide by C, not C - 1); then (x - mean) / torch.sqrt(var + eps) * weight + bias.",
    mistakes=[
        (_ln_with(lambda x, e: (x - x.mean(-1, True)) / ((x - x.mean(-1, True)) ** 2).sum(-1, True)
                  .div(x.size(-1) - 1).add(e).sqrt()),
         "you used the unbiased variance (dividing by C - 1); LayerNorm divides by C."),
        (_ln_with(lambda x, e: (x - x.mean(0, True)) / ((x - x.mean(0, True)) ** 2).mean(0, True)
                  .add(e).sqrt()),
         "you normalised over the batch (dim=0), as BatchNorm does; LayerNorm normalises each "
         "vector over its channels, dim=-1."),
        (_ln_with(lambda x, e: (x - x.mean(-1, True)) / (((x - x.mean(-1, True)) ** 2)
                  .mean(-1, True).sqrt() + e)),
         "eps is added outside the square root: compute (x - mean) / sqrt(var + eps)."),
        (lambda x, w, b, eps=1e-5: _layer_norm(x, 1, 0, eps), "the normalisation is right but "
         "the gain and shift are missing: multiply by weight, then add bias."),
    ])

def gelu_tanh(x):
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return 0.5 * x * (1 + torch.tanh(inner))
gelu_tanh = Exercise(
    5, "gelu_tanh", "recall", 5,
    "gelu_tanh(x): GELU with the tanh approximation used by GPT-2, elementwise.",
    gelu_tanh, lambda: [(torch.linspace(-6, 6, 241, dtype=torch.float64),)],
    forbidden=("torch.nn.functional.gelu",),
    hint_text="0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))).",
    conventions=[(lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), "that is the exact "
                  "GELU, x * Phi(x); GPT-2 uses the tanh approximation, which differs by < 1e-3.")],
    mistakes=[
        (lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)), "the cubic term is "
         "missing: the tanh's argument is sqrt(2/pi) * (x + 0.044715 * x**3)."),
        (lambda x: 0.5 * x * (1 + torch.tanh(x + 0.044715 * x**3)), "the factor sqrt(2/pi) in "
         "front of (x + 0.044715 x^3) is missing."),
        (torch.relu, "that is ReLU; GELU is smooth and slightly negative for negative inputs."),
    ])

def residual_init_std(n_layer, base_std=0.02):
    return base_std / math.sqrt(2 * n_layer)  # 2 residual additions per block; variances add
residual_init_std = Exercise(
    5, "residual_init_std", "recall", 3,
    "residual_init_std(n_layer, base_std=0.02): the std GPT-2 uses for the weights of the "
    "projections that write into the residual stream.",
    residual_init_std, lambda: [(12, 0.02), (1, 0.02), (48, 0.02), (6, 0.05)],
    hint_text="There are 2 * n_layer residual additions; variances add, so scale the standard "
    "deviation by 1 / sqrt(2 * n_layer).",
    mistakes=[
        (lambda n, b=0.02: b / math.sqrt(n), "each block adds TWO outputs to the stream "
         "(attention and MLP): divide by sqrt(2 * n_layer)."),
        (lambda n, b=0.02: b / (2 * n), "variances add, so the standard deviation is divided by "
         "the SQUARE ROOT of 2 * n_layer."),
    ])

class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        from gptlab.attention import MultiHeadAttention  # chapter 04's

        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(n_embd, 4 * n_embd),
                                  "c_proj": nn.Linear(4 * n_embd, n_embd)})

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # each sub-layer reads a normalised copy ...
        h = F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp.c_proj(h)  # ... and adds its output to the residual stream

class _Slip(Block):  # the reference with one slip, named by `slip`
    def forward(self, x):
        def mlp(h):
            return self.mlp.c_proj(F.gelu(self.mlp.c_fc(h), approximate="tanh"))
        if self.slip == "post":
            x = self.ln_1(x + self.attn(x))
            return self.ln_2(x + mlp(x))
        if self.slip == "parallel":
            return x + self.attn(self.ln_1(x)) + mlp(self.ln_2(x))
        x = x + self.attn(self.ln_1(x))
        return x + mlp(self.ln_1(x)) if self.slip == "ln_1" else mlp(self.ln_2(x))

def _with_gptlab_weights(cls, n_embd, n_head, x):
    from gptlab.model import Block as Theirs
    from gptlab.model import GPTConfig

    torch.manual_seed(n_embd + n_head)
    theirs = Theirs(GPTConfig(n_embd=n_embd, n_head=n_head, n_layer=1, block_size=16))
    weights = {k: v + 0.3 * torch.randn_like(v) for k, v in theirs.state_dict().items()}
    module = cls(n_embd, n_head)
    module.load_state_dict(weights)
    with torch.no_grad():
        return module.eval()(x)
Block = Exercise(
    5, "Block", "build", 25,
    "class MyBlock(n_embd, n_head): GPT-2's pre-LN block with children ln_1, attn (a gptlab "
    "MultiHeadAttention), ln_2 and mlp (with c_fc: C -> 4C and c_proj: 4C -> C).",
    Block, lambda: [(16, 2, 2 * torch.randn(3, 5, 16) + 1), (12, 3, torch.randn(1, 7, 12))],
    run=_with_gptlab_weights,
    forbidden=("gptlab.model.Block.forward",),
    hint_text="x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)), mlp = c_proj(GELU_tanh(c_fc)).",
    conventions=[(type("_Erf", (Block,), {"forward": lambda s, x: (y := x + s.attn(s.ln_1(x)))
                  + s.mlp.c_proj(F.gelu(s.mlp.c_fc(s.ln_2(y))))}),
                  "your MLP uses the exact GELU; GPT-2 was trained with the tanh form.")],
    mistakes=[
        (type("_Post", (_Slip,), {"slip": "post"}), "that is the post-LN block of the original "
         "Transformer (normalise after adding); GPT-2 normalises each sub-layer's INPUT."),
        (type("_Par", (_Slip,), {"slip": "parallel"}), "attention and the MLP ran side by side on "
         "the same x; in GPT-2 the MLP reads x after the attention update."),
        (type("_Ln1", (_Slip,), {"slip": "ln_1"}), "the MLP reads through ln_1; each sub-layer "
         "has its own LayerNorm, so use ln_2."),
        (type("_NoRes", (_Slip,), {"slip": "no_res"}), "the second residual connection is missing: "
         "x + mlp(ln_2(x)), not mlp(ln_2(x))."),
    ])

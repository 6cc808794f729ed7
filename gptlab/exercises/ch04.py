"""Chapter 04 (multi-head attention and position): splitting heads, the parameter count, a
sinusoidal encoding, and a whole multi-head attention module (build).
"""
# fmt: off

import math

import torch
from torch import nn

from gptlab.exercises import Exercise


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, T, nh, hs) -> (B, nh, T, hs)
split_heads = Exercise(
    4, "split_heads", "apply", 5,
    "split_heads(x, n_head): (B, T, C) -> (B, nh, T, hs), head h holding channels h*hs..(h+1)*hs.",
    split_heads, lambda: [(torch.arange(48.0).view(2, 3, 8), 2), (torch.randn(1, 5, 12), 3)],
    hint_text="Two steps: x.view(B, T, n_head, hs) splits each token's channels into heads; "
    ".transpose(1, 2) then puts the head dimension before the time dimension.",
    mistakes=[
        (lambda x, nh: x.reshape(x.size(0), nh, x.size(1), -1), "the shape is right but tokens "
         "are mixed: view as (B, T, nh, hs) first (that only splits C), then transpose(1, 2)."),
        (lambda x, nh: x.view(*x.shape[:2], nh, -1), "that is (B, T, nh, hs): swap the T and nh "
         "dimensions with .transpose(1, 2)."),
        (lambda x, nh: x.view(*x.shape[:2], -1, nh).permute(0, 3, 1, 2), "the heads are "
         "interleaved: head h owns consecutive channels, so split C as (nh, hs), not (hs, nh)."),
    ])

def mha_param_count(C, n_head, bias=True):
    return 4 * C * C + (4 * C if bias else 0)  # c_attn: C -> 3C, c_proj: C -> C; n_head is free
mha_param_count = Exercise(
    4, "mha_param_count", "recall", 3,
    "mha_param_count(C, n_head, bias=True): the parameters of GPT-2's multi-head attention.",
    mha_param_count, lambda: [(768, 12), (64, 4, False), (10, 5, True)],
    hint_text="Two linear layers: c_attn maps C -> 3C and c_proj maps C -> C. Count weights "
    "and biases. Does the number of heads change any shape?",
    mistakes=[
        (lambda C, nh, bias=True: 3 * C * C + (3 * C if bias else 0), "c_proj is missing: "
         "after the heads are merged, one more C x C layer (and C biases) mixes them."),
        (lambda C, nh, bias=True: 4 * C * C, "the biases are missing: 3C in c_attn, C in c_proj."),
        (lambda C, nh, bias=True: nh * (4 * C * C + (4 * C if bias else 0)), "the heads split C "
         "into n_head slices of one set of matrices; they add no parameters."),
    ])

def sinusoidal_pe(p, i, C):
    angle = p / 10000 ** (2 * (i // 2) / C)  # channels 2j and 2j+1 share a frequency
    return math.sin(angle) if i % 2 == 0 else math.cos(angle)

def _pe_with(exponent, even=math.sin, odd=math.cos):
    return lambda p, i, C: (even if i % 2 == 0 else odd)(p / 10000 ** exponent(i, C))
sinusoidal_pe = Exercise(
    4, "sinusoidal_pe", "apply", 10,
    "sinusoidal_pe(p, i, C): entry i of the sinusoidal encoding of position p (width C).",
    sinusoidal_pe, lambda: [(12, 16), (5, 6)],
    run=lambda f, T, C: torch.tensor([[float(f(p, i, C)) for i in range(C)] for p in range(T)]),
    hint_text="Channel i belongs to pair i // 2, whose angle is p / 10000 ** (2 * (i // 2) / C). "
    "Even i takes the sine of that angle, odd i the cosine.",
    mistakes=[
        (_pe_with(lambda i, C: i / C), "the odd channels use the wrong frequency: channels 2j "
         "and 2j+1 share 1 / 10000^(2j/C), so use 2 * (i // 2) in the exponent."),
        (_pe_with(lambda i, C: 2 * i / C), "i is the channel, not the pair: the exponent is "
         "2 * (i // 2) / C, not 2 * i / C."),
        (_pe_with(lambda i, C: 2 * (i // 2) / C, math.cos, math.sin), "sine and cosine are "
         "swapped: even channels (i = 0, 2, ...) take sin, odd channels cos."),
    ])

class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k and v of every head at once
        self.c_proj = nn.Linear(n_embd, n_embd)  # mixes the heads' outputs

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=-1)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.c_proj(y)

class _Slip(MultiHeadAttention):  # the reference with one slip, named by `slip`
    slip = ""

    def forward(self, x):
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=-1)
        q, k, v = (t.reshape(B, nh, T, hs) if self.slip == "view" else
                   t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))
        s = q @ k.mT / math.sqrt(C if self.slip == "scale" else hs)
        if self.slip != "mask":
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        return y if self.slip == "proj" else self.c_proj(y)

def _with_gptlab_weights(cls, n_embd, n_head, x):
    from gptlab.attention import MultiHeadAttention as Theirs

    torch.manual_seed(n_embd * n_head)
    weights = Theirs(n_embd, n_head).state_dict()
    module = cls(n_embd, n_head)
    module.load_state_dict(weights)
    with torch.no_grad():
        return module.eval()(x)
MultiHeadAttention = Exercise(
    4, "MultiHeadAttention", "build", 30,
    "class MyMultiHeadAttention(n_embd, n_head): causal multi-head self-attention with GPT-2's "
    "c_attn (C -> 3C) and c_proj (C -> C), (B, T, C) in and out; checked with gptlab's weights.",
    MultiHeadAttention,
    lambda: [(12, 3, torch.randn(2, 5, 12)), (16, 4, torch.randn(1, 9, 16)),
             (8, 1, torch.randn(3, 1, 8))],
    run=_with_gptlab_weights,
    forbidden=("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
               "gptlab.attention.MultiHeadAttention.forward"),
    hint_text="c_attn(x) holds q, k, v side by side: split it into three (B, T, C) tensors, "
    "split each into heads (B, nh, T, hs), attend causally with scale 1/sqrt(hs), put the heads "
    "side by side again and apply c_proj.",
    mistakes=[
        (type("_View", (_Slip,), {"slip": "view"}), "the heads mix tokens: view q, k, v as "
         "(B, T, nh, hs) and then transpose(1, 2); a direct reshape to (B, nh, T, hs) scrambles."),
        (type("_Mask", (_Slip,), {"slip": "mask"}), "no causal mask: block the keys j > i with "
         "-inf before the softmax."),
        (type("_Scale", (_Slip,), {"slip": "scale"}), "each head's scores are scaled by sqrt(C); "
         "a head works in hs = C / n_head dimensions, so divide by sqrt(hs)."),
        (type("_Proj", (_Slip,), {"slip": "proj"}), "the output projection is missing: apply "
         "c_proj to the merged heads."),
    ])

"""Chapter 04 (multi-head attention, position): heads, parameters, sinusoids, the module (build)."""
# fmt: off

import math

import torch

from gptlab.attention import MultiHeadAttention as _Gptlab
from gptlab.exercises import Exercise


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, T, nh, hs) -> (B, nh, T, hs)
split_heads = Exercise(4, "split_heads", "apply", 5,
    "split_heads(x, n_head): (B, T, C) -> (B, nh, T, hs), head h holding channels h*hs..(h+1)*hs.",
    split_heads, lambda: [(torch.arange(48.0).view(2, 3, 8), 2), (torch.randn(1, 5, 12), 3)],
    hint_text="x.view(B, T, n_head, hs) splits each token's channels; then transpose(1, 2).",
    mistakes=[(lambda x, nh: x.view(*x.shape[:2], nh, -1), "now swap T and nh: transpose(1, 2)."),
        (lambda x, nh: x.reshape(x.size(0), nh, x.size(1), -1), "the shape is right but tokens "
         "are mixed: view as (B, T, nh, hs) first (that only splits C), then transpose(1, 2)."),
        (lambda x, nh: x.view(*x.shape[:2], -1, nh).permute(0, 3, 1, 2), "the heads are "
         "interleaved: head h owns consecutive channels, so split C as (nh, hs), not (hs, nh).")])

def mha_param_count(C, n_head, bias=True):
    return 4 * C * C + (4 * C if bias else 0)  # c_attn: C -> 3C, c_proj: C -> C; n_head is free
mha_param_count = Exercise(4, "mha_param_count", "recall", 3,
    "mha_param_count(C, n_head, bias=True): the parameters of GPT-2's multi-head attention.",
    mha_param_count, lambda: [(768, 12), (64, 4, False), (10, 5, True)],
    hint_text="c_attn maps C -> 3C and c_proj C -> C: count weights and biases. Do heads add any?",
    mistakes=[(lambda C, nh, bias=True: 4 * C * C, "add the biases: 3C in c_attn, C in c_proj."),
        (lambda C, nh, bias=True: 3 * C * C + 3 * C * bias, "c_proj is missing: after the heads "
         "are merged, one more C x C layer (and C biases) mixes them."),
        (lambda C, nh, bias=True: nh * (4 * C * C + 4 * C * bias), "the heads split C into "
         "n_head slices of one set of matrices; they add no parameters.")])

def sinusoidal_pe(p, i, C):
    angle = p / 10000 ** (2 * (i // 2) / C)  # channels 2j and 2j+1 share a frequency
    return math.sin(angle) if i % 2 == 0 else math.cos(angle)
sinusoidal_pe = Exercise(4, "sinusoidal_pe", "apply", 10,
    "sinusoidal_pe(p, i, C): entry i of the sinusoidal encoding of position p (width C).",
    sinusoidal_pe, lambda: [(12, 16), (5, 6)],
    run=lambda f, T, C: torch.tensor([[float(f(p, i, C)) for i in range(C)] for p in range(T)]),
    hint_text="Pair j = i // 2 has the angle p / 10000 ** (2 * j / C): sin for even i, else cos.",
    mistakes=[
        (lambda p, i, C: (math.sin, math.cos)[i % 2](p / 10000 ** (i / C)), "the odd channels "
         "use the wrong frequency: 2j and 2j+1 share 1 / 10000^(2j/C); use 2 * (i // 2)."),
        (lambda p, i, C: (math.sin, math.cos)[i % 2](p / 10000 ** (2 * i / C)), "i is the "
         "channel, not the pair: the exponent is 2 * (i // 2) / C, not 2 * i / C."),
        (lambda p, i, C: (math.cos, math.sin)[i % 2](p / 10000 ** (i // 2 * 2 / C)), "sine and "
         "cosine are swapped: even channels (i = 0, 2, ...) take sin, odd channels cos.")])

class MultiHeadAttention(torch.nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd)  # q, k and v of every head at once
        self.c_proj = torch.nn.Linear(n_embd, n_embd)  # mixes the heads' outputs

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2)  # each (B, nh, T, hs)
                   for t in self.c_attn(x).split(C, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # key j > query i
        weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
        return self.c_proj((weights @ v).transpose(1, 2).reshape(B, T, C))  # heads side by side
class _Slip(MultiHeadAttention):  # the reference with the one slip its class is named after
    def forward(self, x):
        (B, T, C), nh, slip = x.shape, self.n_head, type(self).__name__
        q, k, v = (t.reshape(B, nh, T, -1) if slip == "split" else t.view(B, T, nh, -1)
                   .transpose(1, 2) for t in self.c_attn(x).split(C, dim=-1))
        s = q @ k.mT / math.sqrt(C if slip == "scale" else C // nh)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1) & (slip != "mask"), -math.inf)
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        return y if slip == "proj" else self.c_proj(y)
def _with_gptlab_weights(cls, n_embd, n_head, x):
    torch.manual_seed(n_embd * n_head)
    weights = _Gptlab(n_embd, n_head).state_dict()  # drawn first: any __init__ gets the same
    (module := cls(n_embd, n_head)).load_state_dict(weights)
    return module.eval()(x)
MultiHeadAttention = Exercise(4, "MultiHeadAttention", "build", 30,
    "MyMultiHeadAttention(n_embd, n_head): GPT-2's causal self-attention, loaded with its weights.",
    MultiHeadAttention, lambda: [(12, 3, torch.randn(2, 5, 12)), (16, 4, torch.randn(1, 9, 16)),
                                 (8, 1, torch.randn(3, 1, 8))], run=_with_gptlab_weights,
    forbidden=("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention"),
    hint_text="c_attn(x) -> q, k, v -> heads; causal scores / sqrt(hs); merge the heads; c_proj.",
    mistakes=[(type(slip, (_Slip,), {}), hint) for slip, hint in [
        ("split", "the heads mix tokens: view q, k, v as (B, T, nh, hs), then transpose(1, 2)."),
        ("mask", "no causal mask: set the scores of keys j > i to -inf before the softmax."),
        ("scale", "a head has hs = C / n_head dimensions: divide its scores by sqrt(hs), not C's."),
        ("proj", "the output projection is missing: apply c_proj to the merged heads.")]])

"""Chapter 03 (attention): the weights, a stable softmax, one causal head (build)."""
# fmt: off

import math

import torch

from gptlab.exercises import Exercise


def attention_weights(q, k):
    d = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)
    return torch.softmax(scores, dim=-1)
attention_weights = Exercise(3, "attention_weights", "recall", 5,
    "attention_weights(q, k) -> softmax(q k^T / sqrt(d)) for q (..., Tq, d), k (..., Tk, d).",
    attention_weights, lambda: [(torch.randn(2, 5, 16), torch.randn(2, 7, 16)),
                                (torch.randn(4, 9), torch.randn(6, 9))],
    hint_text="Scores are q @ k.transpose(-2, -1), (..., Tq, Tk); divide by math.sqrt(d), "
    "d = q.size(-1); softmax over the keys (dim=-1).",
    mistakes=[(lambda q, k: torch.softmax(q @ k.mT, dim=-1), "the scores are not scaled: "
               "divide q @ k^T by sqrt(d) before the softmax."),
        (lambda q, k: torch.softmax(q @ k.mT / q.size(-1), dim=-1), "you divided by d; divide by "
         "its square root, math.sqrt(d)."),
        (lambda q, k: torch.softmax(q @ k.mT / math.sqrt(q.size(-1)), dim=-2), "the softmax runs "
         "over the wrong dimension: each ROW (one query) sums to 1 over the keys: dim=-1.")])

def stable_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values  # the largest entry of each row becomes 0
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)
stable_softmax = Exercise(3, "stable_softmax", "apply", 10,
    "stable_softmax(x): a softmax over the last dimension that works for inputs like 1000, "
    "without calling torch's softmax.",
    stable_softmax, lambda: [(torch.randn(3, 6),), (torch.tensor([[1e3, 1001.0, 1002.0, 990.0]]),),
        (torch.tensor([[1e3, 1001.0, 1002.0], [-1e3, -1001.0, -1002.0], [0.5, 0.0, -0.5]]),)],
    forbidden=("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax",
               "torch.special.softmax"),
    hint_text="softmax(x) = softmax(x - c) for any constant c: subtract each row's maximum "
    "(x.max(dim=-1, keepdim=True).values), so the largest exponent is exp(0) = 1.",
    mistakes=[(lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True), "exp(1000) overflows to "
               "inf and inf / inf = nan: subtract each row's maximum before exponentiating."),
        (lambda x: (x - x.max()).exp() / (x - x.max()).exp().sum(dim=-1, keepdim=True),
         "subtract each ROW's own maximum, not one maximum for the whole tensor."),
        (lambda x: (x - x.max(dim=-1).values).exp() / x.exp().sum(-1), "the shapes do not line "
         "up: keep the reduced dimension (keepdim=True) so max and sum broadcast over the rows.")])

def causal_attention(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (B, T, d)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, T, T)
    T = x.size(-2)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
    scores = scores.masked_fill(~mask, float("-inf"))  # no query sees a later key
    return torch.softmax(scores, dim=-1) @ v  # (B, T, d)
def _heads():
    return [(torch.randn(B, T, C), *(torch.randn(C, d) / math.sqrt(C) for _ in range(3)))
            for B, T, C, d in [(2, 6, 12, 8), (1, 11, 16, 4), (3, 1, 8, 8)]]
def _head_with(mix):  # a wrong head: right projections, then mix(scaled scores, v, T)
    return lambda x, q, k, v: mix((x @ q) @ (x @ k).mT / math.sqrt(q.size(1)), x @ v, x.size(1))
def _future(T):
    return torch.ones(T, T, dtype=torch.bool).triu(1)
causal_attention = Exercise(3, "causal_attention", "build", 20,
    "causal_attention(x, w_q, w_k, w_v): one causal self-attention head for x (B, T, C) and "
    "projections (C, d), returning (B, T, d), without scaled_dot_product_attention.",
    causal_attention, _heads, forbidden=("torch.nn.functional.scaled_dot_product_attention",),
    hint_text="Project x into q, k and v; score q against k, scaled by sqrt(d); set the scores "
    "of later keys (j > i) to -inf; softmax over the keys; average the values with the weights.",
    mistakes=[(_head_with(lambda s, v, T: s.softmax(-1) @ v), "every query sees the future: set "
               "the scores of keys j > i to -inf before the softmax."),
        (_head_with(lambda s, v, T: s.softmax(-1).tril() @ v), "you zeroed the future weights "
         "AFTER the softmax, so the rows no longer sum to 1: mask the scores before it."),
        (_head_with(lambda s, v, T: s.masked_fill(_future(T).mT, float("-inf")).softmax(-1) @ v),
         "the mask blocks the past instead of the future: block the entries ABOVE the diagonal."),
        (_head_with(lambda s, v, T: (s * math.sqrt(v.size(-1))).masked_fill(_future(T),
                    float("-inf")).softmax(-1) @ v), "the scores are not scaled: divide "
         "q @ k^T by sqrt(d), d = q.size(-1).")])

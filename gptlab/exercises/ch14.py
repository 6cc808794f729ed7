"""Chapter 14 (inside the model): an induction head's target, the logit lens, induction scores."""
# fmt: off

import torch

from gptlab.exercises import Exercise, tiny_gpt


def induction_target(t, period):
    return t - period + 1  # the token that followed the earlier copy of token t
induction_target = Exercise(14, "induction_target", "recall", 5,
    "induction_target(t, period): the key an induction head attends to from query t (t >= "
    "period) in a sequence that repeats itself every `period` tokens.",
    induction_target, lambda: [(20, 16), (9, 5), (33, 16), (5, 5)],
    hint_text="Token t also stood at t - period; the head looks at the token that came next.",
    mistakes=[(lambda t, p: t - p, "t - period is the earlier copy of the current token (a "
               "duplicate-token head); the induction head looks one position further."),
        (lambda t, p: t - 1, "t - 1 is the previous token; an induction head looks back a whole "
         "period, to the token after the earlier copy."),
        (lambda t, p: t + 1, "t + 1 is in the future, which the causal mask hides.")])

def lens_logits(model, resid):
    return model.lm_head(model.ln_f(resid))  # (..., C) -> (..., V)
def _lens_case(seed, V, C):  # a learned final LayerNorm (not the identity), a large residual
    model = tiny_gpt(seed, V, 8, n_embd=C)
    torch.nn.init.uniform_(model.ln_f.weight, 0.5, 2.0), torch.nn.init.normal_(model.ln_f.bias)
    return model, 3 * torch.randn(2, 5, C)
lens_logits = Exercise(14, "lens_logits", "apply", 10,
    "lens_logits(model, resid): read a residual stream (..., C) out as next-token logits "
    "(..., V), the way the model reads its last layer.",
    lens_logits, lambda: [_lens_case(1, 11, 16), _lens_case(2, 7, 8)],
    hint_text="Do what the model does after its last block: model.ln_f, then model.lm_head.",
    mistakes=[(lambda m, r: m.lm_head(r), "the final LayerNorm is missing: apply model.ln_f "
               "before the output layer, as the model does after its last block."),
        (lambda m, r: m.lm_head(torch.nn.functional.layer_norm(r, r.shape[-1:])),
         "that LayerNorm has no learned scale and shift: use the model's own model.ln_f."),
        (lambda m, r: m.lm_head(m.ln_f(r)).softmax(-1), "return logits, not probabilities.")])

def induction_scores(maps, period):
    t = torch.arange(period, maps.size(-1))  # the queries in the second copy
    return maps[..., t, t - period + 1].mean(dim=(1, 3))  # (L, B, nh, n) -> (L, nh)
def _causal(*shape):  # random attention maps: causal rows that sum to 1
    s = 3 * torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    return (s + torch.full(shape[-2:], -torch.inf).triu(1)).softmax(-1)
induction_scores = Exercise(14, "induction_scores", "build", 20,
    "induction_scores(maps, period): for attention maps (n_layer, B, n_head, T, T) of sequences "
    "that repeat every `period` tokens, each head's mean attention from the queries t >= period "
    "to key t - period + 1, averaged over the batch: (n_layer, n_head).",
    induction_scores, lambda: [(_causal(3, 2, 4, 12, 12), 6), (_causal(2, 1, 2, 11, 11), 4)],
    forbidden=("gptlab.interpret.head_scores",),
    hint_text="Average maps[..., t, t - period + 1] over t = period..T - 1 and the batch (dim 1).",
    mistakes=[(lambda m, p: m.diagonal(-p, -2, -1).mean(dim=(1, 3)), "you scored t - period, the "
               "earlier copy of the current token; the induction head attends to t - period + 1."),
        (lambda m, p: m.diagonal(1 - p, -2, -1).mean(dim=(1, 3)), "you also scored query t = "
         "period - 1, still in the first copy; start at t = period."),
        (lambda m, p: m.diagonal(1 - p, -2, -1)[..., 1:].mean(dim=3), "average over the batch "
         "too: the result has shape (n_layer, n_head)."),
        (lambda m, p: m.diagonal(1 - p, -2, -1)[..., 1:].sum(dim=(1, 3)), "average over the "
         "queries and the batch; you summed.")])

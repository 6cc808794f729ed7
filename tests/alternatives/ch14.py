"""Independent correct answers for chapter 14's exercises."""

import torch


def induction_loop(maps, period):
    """Query by query, head by head: the weight on the token after the earlier copy."""
    n_layer, batch, n_head, T, _ = maps.shape
    scores = torch.zeros(n_layer, n_head)
    for layer in range(n_layer):
        for head in range(n_head):
            picked = [maps[layer, b, head, t, t - period + 1] for b in range(batch)
                      for t in range(period, T)]  # fmt: skip
            scores[layer, head] = torch.stack(picked).mean()
    return scores


def induction_diagonal(maps, period):
    """The (period - 1)-th diagonal below the main one, without its first entry (t = period - 1)."""
    diagonal = torch.diagonal(maps, offset=-(period - 1), dim1=-2, dim2=-1)  # (L, B, nh, n)
    return diagonal[..., 1:].mean(dim=-1).mean(dim=1)


def induction_mask(maps, period):
    """A 0/1 mask of the scored (query, key) pairs, summed against the maps."""
    T = maps.size(-1)
    q, k = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = ((q >= period) & (k == q - period + 1)).to(maps.dtype)  # (T, T)
    return torch.einsum("lbhqk,qk->lh", maps, mask) / (maps.size(1) * (T - period))


ALTERNATIVES = {
    "induction_scores": [induction_loop, induction_diagonal, induction_mask],
    "induction_target": [lambda t, period: (t + 1) - period],
    "lens_logits": [lambda model, resid: model.ln_f(resid) @ model.wte.weight.T],  # tied weights
}

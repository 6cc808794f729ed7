"""Independent correct answers for chapter 13's exercises."""

import torch
import torch.nn.functional as F


def scores_batched(model, prompt_ids, choices_ids, normalize="sum"):
    """Token by token through cross_entropy, one choice at a time."""
    out = []
    for choice in choices_ids:
        full = torch.tensor(prompt_ids + choice).unsqueeze(0)
        logits = model(full)[0][0]  # (T, V); the last position is not needed
        n = len(choice)
        targets = full[0, -n:]
        nll = F.cross_entropy(logits[-n - 1 : -1], targets, reduction="none")
        total = -nll.sum()
        out.append(float(total if normalize == "sum" else total / n))
    return out


def scores_loop(model, prompt_ids, choices_ids, normalize="sum"):
    """One forward pass per choice token, reading the next-token distribution each time."""
    out = []
    for choice in choices_ids:
        context, logp = list(prompt_ids), 0.0
        for tok in choice:
            dist = torch.log_softmax(model(torch.tensor([context]))[0][0, -1], dim=-1)
            logp += dist[tok].item()
            context.append(tok)
        out.append(logp / (len(choice) if normalize == "mean" else 1))
    return out


def precision_loops(hyp, ref, n):
    """No Counter: strike each matched n-gram from a list of the reference's n-grams."""
    left = [ref[i : i + n] for i in range(len(ref) - n + 1)]
    grams = [hyp[i : i + n] for i in range(len(hyp) - n + 1)]
    matched = 0
    for g in grams:
        if g in left:
            left.remove(g)
            matched += 1
    return matched / len(grams) if grams else 0.0


ALTERNATIVES = {
    "choice_scores": [scores_batched, scores_loop],
    "clipped_precision": [precision_loops],
}

"""Independent correct answers for chapter 08's exercises."""

import torch

from gptlab.attention import KVCache


def greedy_preallocated(model, idx, max_new_tokens):
    """Preallocate the output; the cache is sized to the model's context."""
    B, T = idx.shape
    out = torch.zeros(B, T + max_new_tokens, dtype=torch.long)
    out[:, :T] = idx
    cache = KVCache.for_model(model, B)
    logits = model(idx, cache=cache)[0][:, -1]
    for t in range(T, T + max_new_tokens):
        out[:, t] = torch.max(logits, dim=-1).indices
        if t + 1 < T + max_new_tokens:
            logits = model(out[:, t : t + 1], cache=cache)[0][:, -1]
    return out


def greedy_while(model, idx, max_new_tokens):
    """A while loop on a growing list of columns."""
    cache = KVCache.for_model(model, idx.shape[0], max_len=idx.shape[1] + max_new_tokens)
    columns = list(idx.unbind(dim=1))
    step_input = idx
    while len(columns) < idx.shape[1] + max_new_tokens:
        logits, _ = model(step_input, cache=cache)
        nxt = logits[:, -1, :].argmax(dim=-1)
        columns.append(nxt)
        step_input = nxt[:, None]
    return torch.stack(columns, dim=1)


ALTERNATIVES = {"generate_greedy": [greedy_preallocated, greedy_while]}

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


def greedy_hidden_states(model, idx, max_new_tokens):
    """The trunk and the head called separately; the model is run after every token."""
    cache = KVCache.for_model(model, len(idx), max_len=idx.shape[1] + max_new_tokens + 1)
    tokens, new = idx, idx
    for _ in range(max_new_tokens):
        h = model.hidden_states(new, cache=cache)[:, -1]  # (B, C)
        new = model.lm_head(h).argmax(-1)[:, None]
        tokens = torch.cat((tokens, new), 1)
    return tokens


def top_p_ascending(logits, p):
    """Hugging Face's way: drop the least likely tokens while their total mass is <= 1 - p."""
    s, order = torch.sort(logits, dim=-1)  # ascending
    remove = torch.cumsum(torch.softmax(s, dim=-1), dim=-1) <= 1 - p
    remove[..., -1] = False  # the likeliest token always stays
    return logits.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf"))


def top_p_rows(logits, p):
    out = torch.full_like(logits, float("-inf"))
    for b, row in enumerate(logits):
        probs, order = torch.softmax(row, -1).sort(descending=True)
        n = int((probs.cumsum(0) - probs < p).sum())  # the crossing token is still kept
        out[b, order[:n]] = row[order[:n]]
    return out


def top_k_scatter(logits, k):
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, logits.topk(k, -1).indices, True)
    return torch.where(keep, logits, float("-inf"))


ALTERNATIVES = {
    "generate_greedy": [greedy_preallocated, greedy_while, greedy_hidden_states],
    "top_p_filter": [top_p_ascending, top_p_rows],
    "top_k_filter": [top_k_scatter],
    "kv_cache_bytes": [lambda n_layer, T, C, nbytes: n_layer * (T * C * nbytes) * 2],
}

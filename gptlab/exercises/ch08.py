"""Chapter 08 (generation): top-k and top-p filters, and greedy decoding with a KV cache (build).
"""
# fmt: off

import torch

from gptlab.exercises import Exercise, tiny_gpt


def _logits():
    return [torch.randn(3, 50, dtype=torch.float64) * 2, torch.randn(2, 17, dtype=torch.float64)
            * 0.3, torch.randn(4, 100, dtype=torch.float64) * 4]

def top_k_filter(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))

_top_k = top_k_filter
top_k_filter = Exercise(
    8, "top_k_filter", "apply", 5,
    "top_k_filter(logits, k): logits (B, V) -> (B, V) in which every entry except the k "
    "largest of its row is -inf.",
    top_k_filter, lambda: [(x, k) for x in _logits() for k in (1, 5, x.size(-1))],
    hint_text="torch.topk(logits, k, dim=-1).values[..., -1:] is the k-th largest logit of each "
    "row; set every logit below it to -inf.",
    mistakes=[
        (lambda x, k: _top_k(x, min(k + 1, x.size(-1))), "you keep k + 1 tokens per row: "
         "compare with the k-th largest logit (index k - 1 of the sorted values)."),
        (lambda x, k: x.sort(dim=-1, descending=True).values, "you returned the logits sorted; "
         "column i must stay token i, with the others set to -inf."),
        (lambda x, k: _top_k(x, k).softmax(-1), "the kept logits must stay as they are "
         "(no softmax here: the sampler does it)."),
    ])

def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # of the strictly more likely tokens
    drop = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, mass_before >= p)
    return logits.masked_fill(drop, float("-inf"))

def _top_p_with(drop_of):  # a wrong nucleus: drop_of(sorted probabilities, p) in sorted order
    def f(logits, p):
        s, order = torch.sort(logits, dim=-1, descending=True)
        drop = torch.zeros_like(s, dtype=torch.bool).scatter(-1, order, drop_of(s.softmax(-1), p))
        return logits.masked_fill(drop, float("-inf"))
    return f
top_p_filter = Exercise(
    8, "top_p_filter", "apply", 10,
    "top_p_filter(logits, p): logits (B, V) -> (B, V) keeping, per row, the smallest set of most "
    "likely tokens whose probabilities add up to at least p; the rest -inf.",
    top_p_filter, lambda: [(torch.tensor([[0.15, 0.5, 0.05, 0.3]]).log(), p) for p in
                           (0.7, 0.9, 0.2)] + [(x, p) for x in _logits() for p in (0.5, 0.9)],
    hint_text="Sort in decreasing order (keep the permutation), softmax, cumulative sum; keep a "
    "token while the mass BEFORE it is below p; scatter the decision back.",
    mistakes=[
        (_top_p_with(lambda q, p: q.cumsum(-1) > p), "you drop the token at which the running "
         "total crosses p; the nucleus is the SMALLEST set with mass >= p, so it includes it."),
        (lambda x, p: x.masked_fill(x.softmax(-1).cumsum(-1) - x.softmax(-1) >= p, float("-inf")),
         "sort the probabilities in decreasing order before the cumulative sum."),
        (lambda x, p: x.masked_fill(x.softmax(-1) < p, float("-inf")), "p is the total mass of "
         "the kept tokens, not a threshold on each token's probability."),
    ])

def kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number):
    return 2 * n_layer * seq_len * n_embd * bytes_per_number  # K and V in every layer
kv_cache_bytes = Exercise(
    8, "kv_cache_bytes", "apply", 5,
    "kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number): the memory of the KV cache of "
    "one sequence.",
    kv_cache_bytes, lambda: [(48, 1024, 1600, 2), (12, 1024, 768, 4), (6, 128, 256, 4)],
    hint_text="Every layer keeps a key and a value vector of n_embd numbers for every token.",
    mistakes=[
        (lambda L, T, C, b: L * T * C * b, "the cache holds keys AND values: twice as much."),
        (lambda L, T, C, b: 2 * T * C * b, "every layer has its own keys and values."),
    ])

def generate_greedy(model, idx, max_new_tokens):
    from gptlab.attention import KVCache

    cache = KVCache.for_model(model, idx.size(0), max_len=idx.size(1) + max_new_tokens)
    logits, _ = model(idx, cache=cache)  # prefill: read the whole prompt once
    out = [idx]
    for i in range(max_new_tokens):
        if i > 0:
            logits, _ = model(out[-1], cache=cache)  # decode: one new position, (B, 1)
        out.append(logits[:, -1].argmax(dim=-1, keepdim=True))  # (B, 1)
    return torch.cat(out, dim=1)  # (B, T + max_new_tokens)

def _run_decode(answer, seed, B, T, new):
    model = tiny_gpt(seed, vocab_size=41, block_size=32, n_layer=2)
    fed = []
    hook = model.register_forward_pre_hook(
        lambda m, a, kw: fed.append((a[0] if a else kw["idx"]).size(1)), with_kwargs=True)
    with torch.no_grad():
        out = answer(model, torch.randint(0, 41, (B, T)), new)
    hook.remove()
    return out, fed[:1] == [T] and all(n == 1 for n in fed[1:])  # tokens; prompt read once?

def _no_cache(model, idx, new):
    for _ in range(new):
        idx = torch.cat([idx, model(idx)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx
generate_greedy = Exercise(
    8, "generate_greedy", "build", 25,
    "generate_greedy(model, idx, max_new_tokens): greedy decoding with a KV cache; the prompt "
    "is read once, then one position per new token; returns (B, T + max_new_tokens).",
    generate_greedy, lambda: [(1, 2, 5, 6), (2, 1, 9, 10), (3, 3, 1, 4)], run=_run_decode,
    forbidden=("gptlab.generate.generate",),
    hint_text="cache = KVCache.for_model(model, B, max_len=T + max_new_tokens); logits of the "
    "prompt with model(idx, cache=cache); then repeatedly take the argmax of the last position "
    "and feed only that token, (B, 1), with the same cache.",
    mistakes=[
        (_no_cache, "the tokens are right, but each step re-reads the whole sequence: pass a "
         "KVCache and feed only the new token after the prompt."),
        (lambda m, idx, new: generate_greedy.reference(m, idx, new)[:, idx.size(1):],
         "return the prompt followed by the new tokens, (B, T + max_new_tokens)."),
        (lambda m, idx, new: torch.cat([idx, idx[:, -1:].repeat(1, new)], 1) if new else idx,
         "the new tokens repeat the last prompt token: take the argmax of the model's logits "
         "at the last position."),
    ])

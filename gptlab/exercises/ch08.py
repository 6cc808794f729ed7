"""Chapter 08 (generation): top-k and top-p filters, KV-cache memory, cached greedy decoding."""
# fmt: off

import torch

from gptlab.attention import KVCache
from gptlab.exercises import Exercise, tiny_gpt


def top_k_filter(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))
top_k_filter = Exercise(8, "top_k_filter", "apply", 5,
    "top_k_filter(logits, k): logits (B, V) with all but the k largest of each row set to -inf.",
    top_k_filter, lambda: [(s * torch.randn(B, V).double(), k) for B, V, s in ((3, 50, 2),
                           (2, 17, .3), (4, 99, 4)) for k in (1, 5, V)],
    hint_text="topk(logits, k, dim=-1).values[..., -1:] is each row's k-th largest; -inf below.",
    mistakes=[(lambda x, k: top_k_filter.reference(x, min(k + 1, x.size(-1))), "you keep k + 1 "
               "tokens per row: compare with the k-th largest logit (index k - 1 of the values)."),
        (lambda x, k: x.sort(dim=-1, descending=True).values, "you returned the logits sorted; "
         "column i must stay token i, with the others set to -inf.")])

def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # of the strictly more likely tokens
    drop = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, mass_before >= p)
    return logits.masked_fill(drop, float("-inf"))
top_p_filter = Exercise(8, "top_p_filter", "apply", 10,
    "top_p_filter(logits, p): logits (B, V) -> (B, V) keeping, per row, the smallest set of most "
    "likely tokens whose probabilities add up to at least p; the rest -inf.",
    top_p_filter, lambda: [(torch.tensor([[.15, .5, .05, .3]]).log(), p) for p in (.7, .9, .2)]
    + [(x, p) for x, _ in top_k_filter.inputs()[::3] for p in (0.5, 0.9)],
    hint_text="Sort in decreasing order (keep the permutation), softmax, cumulative sum; keep a "
    "token while the mass BEFORE it is below p; scatter the decision back.",
    mistakes=[(lambda x, p: (lambda s, o: x.masked_fill(torch.zeros_like(x, dtype=torch.bool)
        .scatter(-1, o, s.softmax(-1).cumsum(-1) > p), float("-inf")))(*x.sort(descending=True)),
        "you drop the token at which the running total crosses p: the nucleus includes it."),
        (lambda x, p: x.masked_fill(x.softmax(-1).cumsum(-1) - x.softmax(-1) >= p, float("-inf")),
         "sort the probabilities in decreasing order before the cumulative sum."),
        (lambda x, p: x.masked_fill(x.softmax(-1) < p, float("-inf")), "p is the total mass of "
         "the kept tokens, not a threshold on each token's probability.")])

def kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number):
    return 2 * n_layer * seq_len * n_embd * bytes_per_number  # K and V in every layer
kv_cache_bytes = Exercise(8, "kv_cache_bytes", "apply", 5,
    "kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number): the KV cache of one sequence.",
    kv_cache_bytes, lambda: [(48, 1024, 1600, 2), (12, 1024, 768, 4), (6, 128, 256, 4)],
    hint_text="Every layer keeps a key and a value vector of n_embd numbers for every token.",
    mistakes=[(lambda L, T, C, b: L * T * C * b, "the cache holds keys AND values: twice as much."),
        (lambda L, T, C, b: 2 * T * C * b, "every layer has its own keys and values."),
        (lambda L, T, C, b: 2 * L * T * C, "that counts numbers: multiply by bytes_per_number.")])

def generate_greedy(model, idx, max_new_tokens):
    cache = KVCache.for_model(model, idx.size(0), max_len=idx.size(1) + max_new_tokens)
    logits, _ = model(idx, cache=cache)  # prefill: read the whole prompt once
    out = [idx]
    for i in range(max_new_tokens):
        if i > 0:
            logits, _ = model(out[-1], cache=cache)  # decode: one new position, (B, 1)
        out.append(logits[:, -1].argmax(dim=-1, keepdim=True))  # (B, 1)
    return torch.cat(out, dim=1)  # (B, T + max_new_tokens)
def _run_decode(answer, seed, B, T, new):  # the tokens, and: was the prompt read once, then 1s?
    model, fed = tiny_gpt(seed, vocab_size=41, block_size=32, n_layer=2), []
    model.wte.register_forward_hook(lambda m, args, out: fed.append(args[0].size(1)))
    out = torch.no_grad()(answer)(model, torch.randint(0, 41, (B, T)), new)
    return out, fed[:1] == [T] and all(n == 1 for n in fed[1:])
def _slip(cached=True, again=False, keepdim=True):  # greedy decoding with one slip
    def decode(model, idx, new):
        cache, out = KVCache.for_model(model, len(idx)) if cached else None, idx
        for x in [idx] + [idx[:, -1:]] * again:  # again: the last prompt token read twice
            logits = model(x, cache=cache)[0]
        for _ in range(new):
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=keepdim)], dim=1)
            logits = model(out[:, -1:] if cached else out, cache=cache)[0]
        return out
    return decode
generate_greedy = Exercise(8, "generate_greedy", "build", 25,
    "generate_greedy(model, idx, max_new_tokens): greedy decoding with a KV cache; the prompt "
    "is read once, then one position per new token; returns (B, T + max_new_tokens).",
    generate_greedy, lambda: [(1, 2, 5, 6), (2, 1, 9, 10), (3, 3, 1, 4)], run=_run_decode,
    forbidden=("gptlab.generate.generate",),
    hint_text="cache = KVCache.for_model(model, B, max_len=T + max_new_tokens); model(idx, "
    "cache=cache) once, then append the last position's argmax and feed only it, (B, 1).",
    mistakes=[(_slip(cached=False), "the tokens are right, but each step re-reads the whole "
               "sequence: pass a KVCache and, after the prompt, feed only the new token (B, 1)."),
        (_slip(again=True), "off by one: the prefill's last logits already predict the first new "
         "token; you fed the last prompt token twice. Append that argmax, feed each token once."),
        (_slip(keepdim=False), "argmax(dim=-1) has shape (B,): keep the dimension "
         "(keepdim=True) so that the new token is a column (B, 1) to append and to feed."),
        (lambda m, idx, n: generate_greedy.reference(m, idx, n)[:, idx.size(1):],
         "return the prompt followed by the new tokens, (B, T + max_new_tokens).")])

"""Self-checking exercises of chapter 08 (generation).

In the notebook::

    from gptlab.exercises import ch08
    ch08.top_k_filter.check(top_k_filter)
    ch08.top_p_filter.check(top_p_filter)
    ch08.apply_temperature.check(apply_temperature)
    ch08.kv_cache_bytes.check(kv_cache_bytes)
"""

from __future__ import annotations

import math

import torch

from gptlab.exercises import Exercise, Incorrect

__all__ = ["top_k_filter", "top_p_filter", "apply_temperature", "kv_cache_bytes"]


def _tensor(value, what: str, shape) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} should return a torch.Tensor, got {type(value).__name__}.")
    if tuple(value.shape) != tuple(shape):
        raise Incorrect(
            f"{what} should keep the shape of the logits {tuple(shape)} (one row per "
            f"sequence, one column per vocabulary entry), got {tuple(value.shape)}."
        )
    return value


def _logits_cases():
    """Random (B, V) logits without ties, some sharp and some flat."""
    g = torch.Generator().manual_seed(8)
    return [
        torch.randn(3, 50, generator=g, dtype=torch.float64) * 2.0,
        torch.randn(2, 17, generator=g, dtype=torch.float64) * 0.3,
        torch.randn(4, 100, generator=g, dtype=torch.float64) * 4.0,
    ]


# --------------------------------------------------------------------------------------------
# (a) top-k filtering
# --------------------------------------------------------------------------------------------


def _ref_top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))


def _check_top_k_filter(f) -> None:
    for logits in _logits_cases():
        V = logits.size(-1)
        for k in (1, 5, V // 2, V):
            got = _tensor(f(logits.clone(), k), f"top_k_filter(logits, k={k})", logits.shape)
            kept = torch.isfinite(got)
            want_kept = torch.zeros_like(kept).scatter(
                -1, torch.topk(logits, k, dim=-1).indices, True
            )
            if torch.equal(kept, want_kept):
                if not torch.equal(got[kept], logits[kept]):
                    raise Incorrect(
                        "the right tokens are kept, but their logits changed. Keep the "
                        "kept logits exactly as they were (no softmax, no renormalising "
                        "here: the sampler's softmax renormalises)."
                    )
                if not bool(torch.isneginf(got[~kept]).all()):
                    raise Incorrect("the removed tokens must get the logit -inf (probability 0).")
                continue
            counts = kept.sum(-1)
            if torch.equal(got, torch.sort(logits, dim=-1, descending=True).values):
                raise Incorrect(
                    "you returned the logits sorted. Sorting finds the k largest, but the "
                    "result must stay in vocabulary order (column i is still token i) "
                    "with every other entry set to -inf."
                )
            if bool((counts == min(k + 1, V)).all()) and k < V:
                raise Incorrect(
                    f"with k={k} your filter keeps {k + 1} tokens per row: an off-by-one. "
                    f"Compare with the k-th largest logit (index k-1 of the sorted "
                    f"values) and keep logits >= it."
                )
            if bool((counts == V).all()):
                raise Incorrect(
                    f"with k={k} nothing was removed: set every logit smaller than the "
                    f"k-th largest to -inf."
                )
            if bool((counts == k).all()):
                raise Incorrect(
                    f"with k={k} you keep k tokens, but not the k most likely ones "
                    f"(largest logits)."
                )
            raise Incorrect(
                f"with k={k} each row should keep exactly the k largest logits; yours "
                f"keeps {counts.tolist()} tokens per row."
            )


def _wrong_top_k_plus_one():
    def f(logits, k):
        kth = torch.topk(logits, min(k + 1, logits.size(-1)), dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    return f


def _wrong_top_k_sorted_only():
    return lambda logits, k: torch.sort(logits, dim=-1, descending=True).values


def _wrong_top_k_smallest():
    def f(logits, k):
        kth = torch.topk(logits, k, dim=-1, largest=False).values[..., -1:]
        return logits.masked_fill(logits > kth, float("-inf"))

    return f


top_k_filter = Exercise(
    name="top_k_filter",
    prompt="Write top_k_filter(logits, k): logits (B, V) -> (B, V) in which every entry except "
    "the k largest of its row is -inf.",
    checker=_check_top_k_filter,
    hint_text="torch.topk(logits, k, dim=-1).values[..., -1:] is the k-th largest logit of each "
    "row, shape (B, 1); mask everything strictly below it with masked_fill.",
    solution_text=(
        "def top_k_filter(logits, k):\n"
        "    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)\n"
        "    return logits.masked_fill(logits < kth, float('-inf'))"
    ),
    reference=lambda: _ref_top_k_filter,
    wrong_answers=[_wrong_top_k_plus_one, _wrong_top_k_sorted_only, _wrong_top_k_smallest],
)


# --------------------------------------------------------------------------------------------
# (b) top-p (nucleus) filtering
# --------------------------------------------------------------------------------------------


def _ref_top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = mass_before >= p  # the top token has mass_before = 0 < p: always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def _check_top_p_filter(f) -> None:
    # A distribution we can reason about by hand: 0.5, 0.3, 0.15, 0.05 (shuffled).
    known = torch.tensor([[0.15, 0.5, 0.05, 0.3]], dtype=torch.float64).log()
    cases = [(known, 0.7), (known, 0.9), (known, 0.2)]
    cases += [(logits, p) for logits in _logits_cases() for p in (0.5, 0.9, 0.99)]
    for logits, p in cases:
        got = _tensor(f(logits.clone(), p), f"top_p_filter(logits, p={p})", logits.shape)
        kept = torch.isfinite(got)
        want = torch.isfinite(_ref_top_p_filter(logits, p))
        if torch.equal(kept, want):
            if not torch.equal(got[kept], logits[kept]):
                raise Incorrect(
                    "the right tokens are kept, but their logits changed. Leave the kept "
                    "logits as they were; only set the others to -inf."
                )
            continue
        n_got, n_want = kept.sum(-1), want.sum(-1)
        if bool((n_got == 0).any()):
            raise Incorrect(
                f"with p={p} a row keeps no token at all. The most likely token must "
                f"always be kept, and so must the token whose probability makes the "
                f"running total reach p."
            )
        if bool((kept & ~want).sum() == 0) and bool((n_got == n_want - 1).all()):
            raise Incorrect(
                f"with p={p} you drop the token at which the running total crosses p "
                f"(you keep only tokens with cumulative probability <= p). The nucleus "
                f"is the SMALLEST set whose mass is at least p, so it includes that "
                f"token: keep a token when the mass of the tokens BEFORE it is < p."
            )
        ranks = torch.argsort(torch.argsort(logits, dim=-1, descending=True), dim=-1)  # 0 = best
        if not bool(((ranks < n_got[:, None]) == kept).all()):
            raise Incorrect(
                f"with p={p} the tokens you keep are not the most likely ones: sort the "
                f"probabilities in decreasing order before the cumulative sum, then "
                f"map the decision back to vocabulary order."
            )
        raise Incorrect(
            f"with p={p} the rows should keep {n_want.tolist()} tokens; yours keep "
            f"{n_got.tolist()}."
        )


def _wrong_top_p_drops_crossing_token():
    def f(logits, p):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        drop_sorted = cum > p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))

    return f


def _wrong_top_p_unsorted():
    def f(logits, p):
        probs = torch.softmax(logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # in vocabulary order: wrong
        return logits.masked_fill(before >= p, float("-inf"))

    return f


top_p_filter = Exercise(
    name="top_p_filter",
    prompt="Write top_p_filter(logits, p): logits (B, V) -> (B, V) keeping, per row, the smallest "
    "set of most likely tokens whose probabilities add up to at least p; the rest -inf.",
    checker=_check_top_p_filter,
    hint_text="Sort the logits in decreasing order (keep the permutation), softmax, cumulative sum. "
    "A token is kept when the mass of the tokens before it (cumsum - its own probability) "
    "is still below p. Scatter the decision back with the permutation.",
    solution_text=(
        "def top_p_filter(logits, p):\n"
        "    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)\n"
        "    probs = torch.softmax(sorted_logits, dim=-1)\n"
        "    mass_before = torch.cumsum(probs, dim=-1) - probs\n"
        "    drop_sorted = mass_before >= p\n"
        "    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)\n"
        "    return logits.masked_fill(drop, float('-inf'))"
    ),
    reference=lambda: _ref_top_p_filter,
    wrong_answers=[_wrong_top_p_drops_crossing_token, _wrong_top_p_unsorted],
)


# --------------------------------------------------------------------------------------------
# (c) temperature
# --------------------------------------------------------------------------------------------


def _ref_apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits / temperature


def _check_apply_temperature(f) -> None:
    for logits in _logits_cases():
        for T in (0.5, 1.0, 2.0, 0.1):
            got = _tensor(f(logits.clone(), T), f"apply_temperature(logits, {T})", logits.shape)
            want = torch.softmax(logits / T, dim=-1)
            if torch.allclose(torch.softmax(got, dim=-1), want, atol=1e-9):
                continue  # logits / T, possibly shifted by a constant per row
            if torch.allclose(got, want, atol=1e-9):
                raise Incorrect(
                    "you returned probabilities; return the scaled LOGITS (the sampler "
                    "applies softmax afterwards)."
                )
            if torch.allclose(
                torch.softmax(got, dim=-1), torch.softmax(logits * T, dim=-1), atol=1e-9
            ):
                raise Incorrect(
                    f"you multiplied by the temperature. Divide instead: with T={T} "
                    f"{'below' if T < 1 else 'above'} 1 the distribution must become "
                    f"{'sharper' if T < 1 else 'flatter'}, and logits / T does that."
                )
            raise Incorrect(f"with T={T}, softmax(your result) should equal softmax(logits / T).")


def _wrong_temperature_multiply():
    return lambda logits, T: logits * T


def _wrong_temperature_probs():
    return lambda logits, T: torch.softmax(logits / T, dim=-1)


apply_temperature = Exercise(
    name="apply_temperature",
    prompt="Write apply_temperature(logits, temperature) -> the logits to sample from at that "
    "temperature (T > 0).",
    checker=_check_apply_temperature,
    hint_text="p = softmax(z / T): T < 1 stretches the gaps between logits (sharper), T > 1 "
    "shrinks them (flatter).",
    solution_text=("def apply_temperature(logits, temperature):\n    return logits / temperature"),
    reference=lambda: _ref_apply_temperature,
    wrong_answers=[_wrong_temperature_multiply, _wrong_temperature_probs],
)


# --------------------------------------------------------------------------------------------
# (d) KV-cache memory
# --------------------------------------------------------------------------------------------


def _ref_kv_cache_bytes(n_layer: int, seq_len: int, n_embd: int, bytes_per_number: int) -> int:
    return 2 * n_layer * seq_len * n_embd * bytes_per_number  # keys and values, every layer


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(f"{what} should return a number, got {type(value).__name__}.")
    return float(value)


def _check_kv_cache_bytes(f) -> None:
    for L, T, C, nbytes in [
        (6, 128, 256, 4),
        (48, 1024, 1600, 2),
        (12, 1024, 768, 4),
        (3, 7, 40, 1),
    ]:
        what = f"kv_cache_bytes({L}, {T}, {C}, {nbytes})"
        got = _number(f(L, T, C, nbytes), what)
        want = _ref_kv_cache_bytes(L, T, C, nbytes)
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        ratio = got / want
        if math.isclose(ratio, 0.5, rel_tol=1e-9):
            raise Incorrect(
                f"{what} should be {want:,}, you got half of it: the cache holds the keys "
                f"AND the values of every layer (factor 2)."
            )
        if math.isclose(ratio, 1 / L, rel_tol=1e-9) or math.isclose(ratio, 2 / L, rel_tol=1e-9):
            raise Incorrect(
                f"{what} should be {want:,}: every one of the {L} layers keeps its own "
                f"keys and values."
            )
        if math.isclose(ratio, 1 / nbytes, rel_tol=1e-9):
            raise Incorrect(
                f"{what} should be {want:,}: you counted numbers, not bytes; multiply by "
                f"bytes_per_number."
            )
        if math.isclose(ratio, 8, rel_tol=1e-9):
            raise Incorrect(
                f"{what} should be {want:,}: that is bytes; you seem to have counted bits."
            )
        raise Incorrect(
            f"{what} should be {want:,}, got {got:,.0f}. Count 2 tensors (K and V) of "
            f"T x C numbers per layer."
        )


def _wrong_kv_no_factor_two():
    return lambda L, T, C, nbytes: L * T * C * nbytes


def _wrong_kv_one_layer():
    return lambda L, T, C, nbytes: 2 * T * C * nbytes


def _wrong_kv_numbers_not_bytes():
    return lambda L, T, C, nbytes: 2 * L * T * C


kv_cache_bytes = Exercise(
    name="kv_cache_bytes",
    prompt="Write kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number): the memory in bytes "
    "of the KV cache of ONE sequence of seq_len tokens.",
    checker=_check_kv_cache_bytes,
    hint_text="Per layer the cache holds k and v, each (nh, T, hs): nh * hs = C numbers per token.",
    solution_text=(
        "def kv_cache_bytes(n_layer, seq_len, n_embd, bytes_per_number):\n"
        "    return 2 * n_layer * seq_len * n_embd * bytes_per_number  # K and V, every layer"
    ),
    reference=lambda: _ref_kv_cache_bytes,
    wrong_answers=[_wrong_kv_no_factor_two, _wrong_kv_one_layer, _wrong_kv_numbers_not_bytes],
)

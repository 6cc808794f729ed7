"""Text generation (chapter 08): greedy, temperature, top-k, top-p, repetition penalty, stops."""

import functools
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from gptlab.attention import KVCache
from gptlab.utils import eval_mode, tr


def filter_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits in each row of ``(B, V)``; set the rest to ``-inf``."""
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering (Holtzman et al., 2020) of ``(B, V)`` logits: keep the fewest most
    likely tokens whose probabilities reach ``p`` (at least one); the rest become ``-inf``."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # probability mass of strictly better tokens
    drop_sorted = before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """CTRL's penalty (Keskar et al., 2019) on tokens in ``seen`` ``(B, T)``: positive logits
    are divided by ``penalty``, negative ones multiplied."""
    if penalty == 1.0:
        return logits
    picked = torch.gather(logits, -1, seen)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits.scatter(-1, seen, picked)


def _check_arguments(idx: Tensor, max_new_tokens: int, temperature: float, top_k, top_p, rp):
    if not isinstance(idx, Tensor) or idx.dim() != 2:
        raise ValueError(
            tr("idx must be a 2-D tensor of token ids (B, T), e.g. torch.tensor([ids]).")
        )
    if idx.size(1) == 0:
        raise ValueError(tr(
            "The prompt is empty: give at least one token (for example the tokenizer's "
            "end-of-text id) to start generating from."
        ))  # fmt: skip
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(tr("idx must hold integer token ids, not {}.").format(idx.dtype))
    if max_new_tokens < 0:
        raise ValueError(tr("max_new_tokens must be >= 0, got {}.").format(max_new_tokens))
    if temperature < 0:
        raise ValueError(
            tr("temperature must be >= 0 (0 means greedy), got {}.").format(temperature)
        )
    if top_k is not None and top_k < 1:
        raise ValueError(tr("top_k must be a positive number of tokens, got {}.").format(top_k))
    if top_p is not None and not (0.0 < top_p <= 1.0):
        raise ValueError(tr("top_p must be in (0, 1], got {}.").format(top_p))
    if rp <= 0:
        raise ValueError(tr("repetition_penalty must be > 0 (1 means none), got {}.").format(rp))


def _pick(logits: Tensor, seen: Tensor, temperature, top_k, top_p, rp, generator) -> Tensor:
    """The next token ``(B, 1)`` from the last position's logits ``(B, V)``."""
    logits = apply_repetition_penalty(logits, seen, rp)
    if temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        logits = filter_top_k(logits, top_k)
    if top_p is not None:
        logits = filter_top_p(logits, top_p)
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)


def generate(
    model,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    repetition_penalty: float = 1.0,
    stop: Sequence[Sequence[int]] | None = None,
    pad_id: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend ``idx`` ``(B, T)`` by up to ``max_new_tokens`` tokens; return ``(B, T + new)``.

    ``temperature=0`` is greedy; otherwise tokens are sampled (from ``generator`` when given)
    after ``top_k`` / ``top_p`` filtering. A row that ends with one of the ``stop`` id
    sequences is finished and padded with ``pad_id``; all finished ends the loop. Beyond
    ``block_size`` the model sees the last ``block_size`` tokens (a long prompt warns).
    ``use_cache`` reads the prompt once into a preallocated :class:`~gptlab.attention.KVCache`,
    then runs one position per new token; the tokens are the same either way.
    """
    _check_arguments(idx, max_new_tokens, temperature, top_k, top_p, repetition_penalty)
    block_size = model.config.block_size
    B, n = idx.shape
    if n > block_size:
        warnings.warn(
            f"The prompt has {n} tokens but the model's context is {block_size}; "
            f"only the last {block_size} tokens are used.",
            stacklevel=2,
        )
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, rp=repetition_penalty)
    pick = functools.partial(_pick, generator=generator, **sampling)
    device = next(model.parameters()).device
    out = torch.empty(B, n + max_new_tokens, dtype=torch.long, device=device)  # filled as we go
    out[:, :n] = idx
    stops = [torch.tensor(s, dtype=torch.long, device=device) for s in stop or [] if len(s)]
    finished = torch.zeros(B, 1, dtype=torch.bool, device=device)
    cache = None  # used until the context is full; then the window slides, positions shift
    if use_cache and n < block_size:
        cache = KVCache.for_model(model, B, max_len=min(block_size, n + max_new_tokens))
    with eval_mode(model), torch.inference_mode():  # inference: no autograd bookkeeping
        for _ in range(max_new_tokens):
            if cache is not None and n <= cache.max_len:  # the prompt, then one token
                logits, _ = model(out[:, cache.length : n], cache=cache)
            else:  # no cache, or the context is full: read the last block_size tokens afresh
                cache = None
                logits, _ = model(out[:, max(0, n - block_size) : n])
            next_id = pick(logits[:, -1, :].float(), out[:, :n])  # (B, 1)
            out[:, n : n + 1] = next_id.masked_fill(finished, pad_id)  # finished rows: padding
            n += 1
            if stops:  # a row is finished once its ids end with a stop sequence
                for s in stops:
                    if n >= len(s):
                        finished |= (out[:, n - len(s) : n] == s).all(dim=1, keepdim=True)
                if bool(finished.all()):
                    break
    return out[:, :n]


def generate_by_length(
    model, prompts: Sequence[list[int]], max_new_tokens: int, block_size: int, batch_size: int,
    **kwargs,
) -> list[list[int]]:  # fmt: skip
    """The new token ids :func:`generate` writes after each prompt, at most
    ``min(max_new_tokens, block_size - prompt length)``; prompts of equal length are batched
    together (no padding needed). ``kwargs`` go to ``generate``."""
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(prompts):
        groups.setdefault(len(ids), []).append(i)
    device = next(model.parameters()).device
    out: list[list[int]] = [[] for _ in prompts]
    for length, members in sorted(groups.items()):
        for s in range(0, len(members), batch_size):
            rows = members[s : s + batch_size]
            idx = torch.tensor([prompts[i] for i in rows], dtype=torch.long, device=device)
            new = generate(model, idx, min(max_new_tokens, block_size - length), **kwargs)
            for i, row in zip(rows, new[:, length:].tolist(), strict=True):
                out[i] = row
    return out

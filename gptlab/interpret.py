"""Looking inside a trained GPT (chapter 14): attention maps, the residual stream, the logit lens
and head ablation. Everything is read from the model's own modules with forward hooks, so no
arithmetic of the model is repeated here. Shapes: ``L`` = ``n_layer``, ``B`` batch, ``nh``
heads, ``T`` tokens, ``C`` channels, ``V`` vocabulary."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor, nn

from gptlab.attention import scaled_dot_product_attention
from gptlab.model import GPT
from gptlab.utils import eval_mode


def _check_model(model: GPT) -> GPT:
    if not isinstance(model, GPT):
        fix = "convert a Hugging Face GPT-2 with gptlab.model.GPT.from_hf(model)"
        raise TypeError(f"expected a gptlab GPT, got {type(model).__name__}; {fix}.")
    return model


@torch.no_grad()
def _run_with_hooks(model: GPT, idx: Tensor, read: Callable, modules: list[nn.Module]) -> Tensor:
    """``model(idx)`` in eval mode with a forward hook on each of ``modules`` recording
    ``read(module, inputs, output)``, a tensor; returns the records stacked in call order, hooks
    removed. The model checks ``idx`` (ids in range, at most ``block_size`` tokens)."""
    records: list[Tensor] = []
    with ExitStack() as hooks, eval_mode(model):  # closing the stack removes every hook
        for module in modules:  # the hook returns None, so the module's output is left alone
            hooks.enter_context(module.register_forward_hook(lambda *a: records.append(read(*a))))
        model(idx)
    return torch.stack(records)


def attention_maps(model: GPT, idx: Tensor) -> Tensor:
    """The attention probabilities of every layer and head, ``(L, B, nh, T, T)``, for ids
    ``idx`` ``(B, T)``: row ``t`` is how query ``t`` spreads its attention over keys ``0..t``.
    Each layer's queries and keys come from its own ``c_attn`` (``MultiHeadAttention._qkv``)."""

    def weights(attn: nn.Module, inputs: tuple, output: Tensor) -> Tensor:  # (B, nh, T, T)
        q, k, v = attn._qkv(inputs[0])  # each (B, nh, T, hs)
        return scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)[1]

    return _run_with_hooks(model, idx, weights, [block.attn for block in _check_model(model).h])


def residual_stream(model: GPT, idx: Tensor) -> Tensor:
    """The residual stream ``(L + 1, B, T, C)``: entry 0 is the input to the first block (token
    plus position embeddings), entry ``l + 1`` the output of block ``l``. The last entry is
    the stream *before* the final LayerNorm ``ln_f``."""
    modules = [_check_model(model).drop, *model.h]  # their outputs, in order
    return _run_with_hooks(model, idx, lambda module, inputs, output: output, modules)


@torch.no_grad()
def logit_lens(model: GPT, idx: Tensor) -> Tensor:
    """Each entry of :func:`residual_stream` read out as if it were the last: ``ln_f`` then the
    (tied) output layer, ``(L + 1, B, T, V)``. The last entry equals ``model(idx)[0]``."""
    return model.lm_head(model.ln_f(residual_stream(model, idx)))


def head_scores(maps: Tensor, keys: Tensor) -> Tensor:
    """How much attention each head pays, on average, to one chosen key per query, ``(L, nh)``.

    ``maps`` ``(L, B, nh, T, T)`` from :func:`attention_maps`; ``keys`` ``(T,)`` or ``(B, T)``:
    the key position each query is scored on (``-1``: leave that query out). For example
    ``arange(T) - 1`` scores attention to the previous token."""
    L, B, nh, T, _ = maps.shape
    keys = torch.as_tensor(keys, device=maps.device).long()
    if keys.shape not in ((T,), (B, T)):
        raise ValueError(f"keys must have shape (T,) or (B, T) = {(B, T)}, got {list(keys.shape)}")
    keys = keys.expand(B, T)
    used = keys >= 0
    if not used.any():
        raise ValueError("every key is -1, so no query is scored; give at least one key >= 0.")
    if (keys > torch.arange(T, device=maps.device)).any():
        raise ValueError("a key lies after its query (attention there is 0); use keys <= t.")
    index = keys.clamp(min=0)[None, :, None, :, None].expand(L, B, nh, T, 1)
    picked = maps.gather(-1, index).squeeze(-1)  # (L, B, nh, T): the weight on each chosen key
    return (picked * used[None, :, None]).sum(dim=(1, 3)) / used.sum()


@contextmanager
def ablate_heads(model: GPT, heads: Iterable[tuple[int, int]]) -> Iterator[GPT]:
    """Inside the block, the outputs of the given ``(layer, head)`` pairs are zeroed before
    each layer's output projection ``c_proj`` (its bias stays). The weights are never touched
    and the hooks are removed on exit, also when the block raises."""
    heads = list(heads)
    if not heads:
        raise ValueError("heads is empty; pass (layer, head) pairs, e.g. [(0, 1)].")
    L, nh = _check_model(model).config.n_layer, model.config.n_head
    hs = model.config.n_embd // nh
    keep: dict[int, Tensor] = {}  # layer -> (C,) mask: 0 on the channels of an ablated head
    for pair in heads:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"each head is a (layer, head) pair, got {pair!r}.")
        layer, head = pair
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in pair):
            raise ValueError(f"layer and head must be integers, got {pair!r}.")
        if not 0 <= layer < L:
            raise ValueError(f"layer {layer} does not exist: the model has layers 0..{L - 1}.")
        if not 0 <= head < nh:
            raise ValueError(f"head {head} does not exist: each layer has heads 0..{nh - 1}.")
        weight = model.h[layer].attn.c_proj.weight
        mask = keep.setdefault(layer, torch.ones(nh * hs, dtype=weight.dtype, device=weight.device))
        mask[head * hs : (head + 1) * hs] = 0.0

    def zero(mask: Tensor):
        return lambda module, args: (args[0] * mask, *args[1:])  # (B, T, C) heads side by side

    with ExitStack() as hooks:  # closing the stack removes every hook, also on an error
        for layer, mask in keep.items():
            hooks.enter_context(model.h[layer].attn.c_proj.register_forward_pre_hook(zero(mask)))
        yield model

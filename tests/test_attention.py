"""Tests for gptlab.attention: the readable SDPA against PyTorch's, masks, errors, and the
multi-head module (fused forward, per-head loop, KV cache)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gptlab.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
)

ATOL = 1e-6


def _qkv(q_shape, k_len, hv=None, seed=0):
    """Random q (q_shape), k and v with k_len positions; v's last dim is hv (default: hs)."""
    g = torch.Generator().manual_seed(seed)
    *lead, _, hs = q_shape
    q = torch.randn(*q_shape, generator=g)
    k = torch.randn(*lead, k_len, hs, generator=g)
    v = torch.randn(*lead, k_len, hv or hs, generator=g)
    return q, k, v


SHAPES = [
    # (q shape, Tk, hv)
    ((2, 3, 5, 8), 5, None),  # (B, nh, T, hs)
    ((4, 7, 16), 7, None),  # 3-D (B, T, hs)
    ((2, 2, 3, 8), 7, None),  # Tq < Tk
    ((1, 2, 6, 4), 3, None),  # Tq > Tk
    ((2, 4, 5, 8), 5, 12),  # value size differs from head size
    ((9, 1), 1, None),  # a single query and key, 2-D
]


@pytest.mark.parametrize("q_shape,Tk,hv", SHAPES)
@pytest.mark.parametrize("is_causal", [False, True])
def test_matches_torch_without_mask(q_shape, Tk, hv, is_causal):
    q, k, v = _qkv(q_shape, Tk, hv)
    ours = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("q_shape,Tk,hv", SHAPES[:5])
def test_matches_torch_with_bool_mask(q_shape, Tk, hv):
    q, k, v = _qkv(q_shape, Tk, hv)
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(*q.shape[:-1], Tk, generator=g) > 0.3
    mask[..., 0] = True  # every query sees at least one key (fully blocked rows: separate test)
    ours = scaled_dot_product_attention(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("q_shape,Tk,hv", SHAPES[:5])
def test_matches_torch_with_float_mask(q_shape, Tk, hv):
    q, k, v = _qkv(q_shape, Tk, hv)
    g = torch.Generator().manual_seed(2)
    mask = torch.randn(*q.shape[:-1], Tk, generator=g)
    mask[..., 1:][mask[..., 1:] > 1.0] = float("-inf")  # some blocked entries, never column 0
    ours = scaled_dot_product_attention(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "mask_shape", [(5, 7), (1, 1, 5, 7), (2, 1, 5, 7), (1, 3, 1, 7), (1, 7)], ids=str
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_matches_torch_with_broadcast_mask(mask_shape, kind):
    q, k, v = _qkv((2, 3, 5, 8), 7)
    g = torch.Generator().manual_seed(3)
    if kind == "bool":
        mask = torch.rand(mask_shape, generator=g) > 0.4
        mask[..., 0] = True
    else:
        mask = torch.randn(mask_shape, generator=g)
    ours = scaled_dot_product_attention(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_fully_blocked_row_gives_zeros_like_torch():
    q, k, v = _qkv((1, 2, 3, 4), 5)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    ours, weights = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert not torch.isnan(ours).any()
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)
    assert torch.all(weights[..., 1, :] == 0)


def test_scale_argument_matches_torch():
    q, k, v = _qkv((2, 2, 4, 8), 4)
    ours = scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.5)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.5)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_return_weights_shape_and_rows():
    q, k, v = _qkv((2, 3, 5, 8), 6)
    out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    assert out.shape == (2, 3, 5, 8)
    assert w.shape == (2, 3, 5, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5))
    torch.testing.assert_close(w @ v, out)
    k5, v5 = k[..., :5, :], v[..., :5, :]
    _, wc = scaled_dot_product_attention(q, k5, v5, is_causal=True, return_weights=True)
    assert torch.all(wc.triu(diagonal=1) == 0)  # nothing above the diagonal: no peeking ahead


def test_causal_mask_values():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    expected = torch.tensor(
        [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool
    )
    assert torch.equal(m, expected)
    q, k, v = _qkv((2, 4, 8), 4)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, mask=m),
        scaled_dot_product_attention(q, k, v, is_causal=True),
        atol=0,
        rtol=0,
    )
    with pytest.raises(ValueError, match="non-negative integer"):
        causal_mask(-1)


# -- errors ------------------------------------------------------------------------------------


def test_bad_mask_shape_names_both_shapes():
    q, k, v = _qkv((2, 3, 5, 8), 7)
    with pytest.raises(ValueError, match=r"\(5, 5\).*does not broadcast.*\(2, 3, 5, 7\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 5, dtype=torch.bool))
    # a mask with more batch entries than the scores would make the output bigger: refused
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 3, 5, 7, dtype=torch.bool))


def test_mask_and_is_causal_together_refused():
    q, k, v = _qkv((2, 3, 5, 8), 5)
    with pytest.raises(ValueError, match="both mask and is_causal"):
        scaled_dot_product_attention(q, k, v, mask=causal_mask(5), is_causal=True)


def test_head_size_mismatch():
    q = torch.randn(2, 5, 8)
    k = torch.randn(2, 5, 6)
    v = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="head size mismatch: q has head size 8 but k has 6"):
        scaled_dot_product_attention(q, k, v)


def test_key_value_length_mismatch():
    q, k, _ = _qkv((2, 5, 8), 5)
    with pytest.raises(ValueError, match="k has 5 positions but v has 4"):
        scaled_dot_product_attention(q, k, torch.randn(2, 4, 8))


def test_integer_mask_refused():
    q, k, v = _qkv((2, 5, 8), 5)
    with pytest.raises(ValueError, match="bool tensor"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 5, dtype=torch.long))


# -- causality ----------------------------------------------------------------------------------


def test_sdpa_causal_ignores_the_future():
    q, k, v = _qkv((2, 3, 8, 4), 8)
    out = scaled_dot_product_attention(q, k, v, is_causal=True)
    t = 5
    k2, v2, q2 = k.clone(), v.clone(), q.clone()
    k2[..., t:, :] = torch.randn_like(k2[..., t:, :])
    v2[..., t:, :] = torch.randn_like(v2[..., t:, :])
    q2[..., t:, :] = torch.randn_like(q2[..., t:, :])
    out2 = scaled_dot_product_attention(q2, k2, v2, is_causal=True)
    torch.testing.assert_close(out[..., :t, :], out2[..., :t, :], atol=0, rtol=0)
    assert not torch.allclose(out[..., t:, :], out2[..., t:, :])


def _mha(n_embd=32, n_head=4, seed=0, bias=True):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(n_embd, n_head, bias=bias)
    with torch.no_grad():  # non-trivial biases too
        for p in mha.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return mha.eval()


def test_mha_causal_ignores_the_future():
    mha = _mha()
    x = torch.randn(2, 10, 32)
    y = mha(x)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 32)
    y2 = mha(x2)
    torch.testing.assert_close(y[:, :6], y2[:, :6], atol=1e-6, rtol=0)
    assert not torch.allclose(y[:, 6:], y2[:, 6:])


# -- MultiHeadAttention ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_embd,n_head,T", [(32, 4, 10), (16, 1, 7), (48, 12, 5), (24, 3, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_forward_loop(n_embd, n_head, T, bias):
    mha = _mha(n_embd, n_head, bias=bias)
    x = torch.randn(3, T, n_embd)
    y = mha(x)
    assert y.shape == (3, T, n_embd)
    y_loop, weights = mha.forward_loop(x, return_weights=True)
    torch.testing.assert_close(y, y_loop, atol=ATOL, rtol=0)
    torch.testing.assert_close(mha.forward_loop(x), y_loop, atol=0, rtol=0)
    assert weights.shape == (3, n_head, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, n_head, T))


def test_mha_module_names_mirror_gpt2():
    mha = MultiHeadAttention(32, 4)
    assert mha.c_attn.weight.shape == (96, 32)
    assert mha.c_proj.weight.shape == (32, 32)
    assert MultiHeadAttention(32, 4, bias=False).c_attn.bias is None


@pytest.mark.parametrize("chunk", [1, 3])
def test_kv_cache_matches_full_forward(chunk):
    mha = _mha(32, 4)
    x = torch.randn(2, 11, 32)
    full = mha(x)
    cache = KVCache(1, 2, 4, 11, 8)
    pieces = []
    for start in range(0, x.size(1), chunk):
        pieces.append(mha(x[:, start : start + chunk], cache=cache))
        assert cache.length == min(start + chunk, 11)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-6, rtol=0)
    _, k, v = mha._qkv(x)  # the cache holds exactly the keys and values of all 11 tokens
    torch.testing.assert_close(cache.k[0], k, atol=1e-6, rtol=0)
    torch.testing.assert_close(cache.v[0], v, atol=1e-6, rtol=0)


def test_kv_cache_prompt_then_chunks():
    mha = _mha(24, 2)
    x = torch.randn(1, 12, 24)
    full = mha(x)
    cache = KVCache(1, 1, 2, 16, 12)
    y0 = mha(x[:, :5], cache=cache)  # prompt
    y1 = mha(x[:, 5:9], cache=cache)  # 4 at once: needs the bottom-right causal mask
    y2 = mha(x[:, 9:], cache=cache)
    torch.testing.assert_close(torch.cat([y0, y1, y2], 1), full, atol=1e-6, rtol=0)
    assert cache.length == 12 and cache.k.shape == (1, 1, 2, 16, 12)


def test_kv_cache_is_preallocated():
    mha = _mha(32, 4)
    cache = KVCache(1, 1, 4, 8, 8)
    storage = (cache.k.data_ptr(), cache.v.data_ptr())
    mha(torch.randn(1, 3, 32), cache=cache)
    mha(torch.randn(1, 1, 32), cache=cache)
    assert (cache.k.data_ptr(), cache.v.data_ptr()) == storage
    assert cache.k.shape == (1, 1, 4, 8, 8) and cache.length == 4
    k_all, _ = cache.update(0, torch.zeros(1, 4, 1, 8), torch.zeros(1, 4, 1, 8))
    assert k_all.shape == (1, 4, 5, 8) and k_all.data_ptr() == cache.k.data_ptr()


def test_kv_cache_overflow_and_bad_shapes():
    mha = _mha(32, 4)
    cache = KVCache(1, 1, 4, 4, 8)
    mha(torch.randn(1, 3, 32), cache=cache)
    with pytest.raises(ValueError, match=r"KV cache is full.*max_len=4.*has 3.*2 more.*new one"):
        mha(torch.randn(1, 2, 32), cache=cache)
    assert cache.length == 3  # nothing was stored by the failed call
    with pytest.raises(ValueError, match=r"\(B, nh, T, hs\) = \(1, 4, T, 8\)"):
        mha(torch.randn(2, 1, 32), cache=cache)  # batch of 2 for a cache of 1
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        KVCache(1, 1, 4, 0, 8)


def test_bad_input_shape():
    mha = _mha(32, 4)
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        mha(torch.randn(5, 32))


def test_n_embd_not_divisible_by_n_head():
    with pytest.raises(ValueError, match=r"n_embd=30 is not divisible by n_head=4") as info:
        MultiHeadAttention(30, 4)
    assert "[1, 2, 3, 5, 6, 10, 15, 30]" in str(info.value)  # suggests valid head counts


def test_dropout_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4, dropout=0.5)
    x = torch.randn(2, 6, 32)
    mha.train()
    assert not torch.allclose(mha(x), mha(x))
    mha.eval()
    torch.testing.assert_close(mha(x), mha(x), atol=0, rtol=0)
    torch.testing.assert_close(mha(x), mha.forward_loop(x), atol=ATOL, rtol=0)

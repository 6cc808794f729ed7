"""Sinusoidal position encodings and rotary embeddings (gptlab.position)."""

from __future__ import annotations

import math

import pytest
import torch

from gptlab.position import apply_rope, rope_frequencies, sinusoidal_positions


def test_sinusoidal_matches_the_formula_elementwise():
    T, C = 7, 10
    pe = sinusoidal_positions(T, C)
    assert pe.shape == (T, C) and pe.dtype == torch.float32
    for p in range(T):
        for i in range(C // 2):
            angle = p / 10000 ** (2 * i / C)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoidal_first_row_and_norm():
    pe = sinusoidal_positions(50, 16, dtype=torch.float64)
    # position 0: sin 0 = 0, cos 0 = 1
    assert torch.equal(pe[0, 0::2], torch.zeros(8, dtype=torch.float64))
    assert torch.equal(pe[0, 1::2], torch.ones(8, dtype=torch.float64))
    # every row has squared norm C/2 (sin^2 + cos^2 = 1 per pair)
    torch.testing.assert_close(pe.pow(2).sum(-1), torch.full((50,), 8.0, dtype=torch.float64))


def test_sinusoidal_dot_product_depends_only_on_offset():
    pe = sinusoidal_positions(80, 32, dtype=torch.float64)
    for k in [0, 1, 5, 17]:
        dots = (pe[: 80 - k] * pe[k:]).sum(-1)
        torch.testing.assert_close(dots, dots[:1].expand_as(dots))


def test_sinusoidal_base_and_empty():
    assert sinusoidal_positions(0, 4).shape == (0, 4)
    a, b = sinusoidal_positions(5, 8, base=100.0), sinusoidal_positions(5, 8)
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a[:, :2], b[:, :2])  # pair 0 has frequency 1 whatever the base


@pytest.mark.parametrize("T, C", [(-1, 4), (3, 5), (3, 0), (2.5, 4), (True, 4), (3, True)])
def test_sinusoidal_bad_arguments(T, C):
    with pytest.raises(ValueError, match="must be"):
        sinusoidal_positions(T, C)


def test_frequencies():
    w = rope_frequencies(8)
    torch.testing.assert_close(w, torch.tensor([1.0, 0.1, 0.01, 0.001], dtype=torch.float64))


def test_rope_position_zero_is_identity_and_norm_is_kept():
    x = torch.randn(2, 3, 6, 8)
    y = apply_rope(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))


def test_rope_matches_explicit_rotation_matrices():
    hs, T = 6, 5
    x = torch.randn(T, hs, dtype=torch.float64)
    w = rope_frequencies(hs)
    for p in range(T):
        R = torch.zeros(hs, hs, dtype=torch.float64)
        for i in range(hs // 2):
            c, s = math.cos(p * w[i]), math.sin(p * w[i])
            R[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]])
        torch.testing.assert_close(apply_rope(x)[p], R @ x[p])


def test_rope_scores_depend_only_on_offset():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(16, generator=g, dtype=torch.float64)
    k = torch.randn(16, generator=g, dtype=torch.float64)
    T = 40
    qs = apply_rope(q.expand(T, 16))  # the same query placed at every position
    ks = apply_rope(k.expand(T, 16))
    scores = qs @ ks.T  # (T, T): score of query at p with key at s
    for offset in [-7, 0, 3, 11]:
        diag = torch.diagonal(scores, offset=offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag))


def test_rope_explicit_positions():
    x = torch.randn(4, 8)
    pos = torch.tensor([10, 11, 12, 13])
    full = apply_rope(torch.randn(20, 8).index_copy(0, pos, x))
    torch.testing.assert_close(apply_rope(x, pos), full[pos])


@pytest.mark.parametrize(
    "shape, positions", [((5,), None), ((3, 5), None), ((3, 4), torch.arange(5))]
)
def test_rope_bad_arguments(shape, positions):
    with pytest.raises(ValueError):
        apply_rope(torch.randn(*shape), positions)

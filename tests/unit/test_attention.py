"""snippets.attention against torch: attention against F.scaled_dot_product_attention (no mask,
causal, boolean masks of several shapes), multi_head_attention against nn.MultiheadAttention for
1 to 8 heads (self- and cross-attention, causal, key padding, with and without biases), RoPE
against a complex-number computation in numpy, the sinusoidal table against its formula, the
residual block against nn.TransformerEncoderLayer, gradcheck in float64, and the errors for
bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.attention import (
    attention,
    attention_weights,
    causal_mask,
    merge_heads,
    multi_head_attention,
    residual_block,
    rope,
    sinusoidal_positions,
    split_heads,
)

F64 = torch.float64
# The acceptance tolerances: attention and multi-head attention match torch to these.
MATCH = {
    torch.float32: dict(rtol=1e-6, atol=1e-6),
    torch.float64: dict(rtol=1e-12, atol=1e-12),
}


def randn(
    gen: torch.Generator, *shape: int, dtype=F64, scale: float = 1.0
) -> torch.Tensor:
    return scale * torch.randn(shape, generator=gen, dtype=dtype)


def rows_with_a_key(gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """A random boolean mask of ``shape`` (..., T_q, T_k) in which every row has a True."""
    mask = torch.rand(shape, generator=gen) < 0.5
    pick = torch.randint(0, shape[-1], shape[:-1], generator=gen)
    return mask | F.one_hot(pick, shape[-1]).bool()


# Single-head attention


@st.composite
def attention_problems(draw):
    """q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) with 0-2 batch dimensions, and a mask:
    none, causal, or random boolean over (..., T_q, T_k), (T_q, T_k) or (..., 1, T_k)."""
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    T_q, T_k, d, d_v = (draw(st.integers(1, 7)) for _ in range(4))
    dtype = draw(st.sampled_from(DTYPES))
    gen = seeded(draw)
    q, k, v = (
        randn(gen, *batch, T, w, dtype=dtype)
        for T, w in ((T_q, d), (T_k, d), (T_k, d_v))
    )
    kind = draw(st.sampled_from(["none", "causal", "full", "shared", "keys"]))
    shape = {
        "full": (*batch, T_q, T_k),
        "shared": (T_q, T_k),
        "keys": (*batch, 1, T_k),
    }.get(kind)
    return q, k, v, kind, (rows_with_a_key(gen, shape) if shape else None)


@given(attention_problems())
def test_attention_matches_scaled_dot_product_attention(case):
    q, k, v, kind, mask = case
    if kind == "causal":
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        mask = causal_mask(q.shape[-2], k.shape[-2])
    else:
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(q, k, v, mask)
    assert out.shape == expected.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, expected, **MATCH[q.dtype])


@given(attention_problems())
def test_attention_weights_are_zero_where_masked_and_rows_sum_to_one(case):
    q, k, _, kind, mask = case
    if kind == "causal":
        mask = causal_mask(q.shape[-2], k.shape[-2])
    A = attention_weights(q, k, mask)
    if mask is not None:
        assert (A.masked_select(~mask.expand_as(A)) == 0).all()
    torch.testing.assert_close(A.sum(-1), torch.ones_like(A[..., 0]), **tol(q.dtype))


def test_attention_scales_the_scores_by_one_over_sqrt_d():
    gen = torch.Generator().manual_seed(0)
    q, k = randn(gen, 4, 16), randn(gen, 6, 16)
    torch.testing.assert_close(
        attention_weights(q, k), torch.softmax(q @ k.T / 4, dim=-1)
    )


def test_causal_mask_is_the_lower_triangle_aligned_top_left():
    for T_q, T_k in [(1, 1), (4, 4), (3, 6), (6, 3), (0, 2)]:
        assert torch.equal(causal_mask(T_q, T_k), torch.ones(T_q, T_k).tril().bool())
    assert torch.equal(causal_mask(5), causal_mask(5, 5))


def test_a_future_token_cannot_change_past_outputs():
    gen = torch.Generator().manual_seed(1)
    q, k, v = randn(gen, 2, 8, 4), randn(gen, 2, 8, 4), randn(gen, 2, 8, 3)
    before = attention(q, k, v, causal_mask(8))
    for t in range(8):
        k2, v2 = k.clone(), v.clone()
        k2[:, t] += 3.0
        v2[:, t] -= 3.0
        after = attention(q, k2, v2, causal_mask(8))
        assert torch.equal(after[:, :t], before[:, :t])
        assert not torch.allclose(after[:, t:], before[:, t:])


def test_attention_gradcheck():
    gen = torch.Generator().manual_seed(2)
    q, k, v = (
        randn(gen, 2, T, w).requires_grad_() for T, w in ((3, 4), (5, 4), (5, 2))
    )
    mask = rows_with_a_key(gen, (2, 3, 5))
    assert torch.autograd.gradcheck(lambda q, k, v: attention(q, k, v, mask), (q, k, v))
    assert torch.autograd.gradcheck(lambda q, k, v: attention(q, k, v), (q, k, v))


# Multi-head attention


@st.composite
def mha_problems(draw):
    """nn.MultiheadAttention with 1-8 heads of width 1-4 and seeded weights (biases or none),
    queries (B, T_q, C) and keys/values (B, T_kv, C) (the same tensor for self-attention),
    causal or not, and a key padding mask (or none) that never pads key 0."""
    H, d, B = draw(st.integers(1, 8)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    C = H * d
    dtype, bias = draw(st.sampled_from(DTYPES)), draw(st.booleans())
    gen = seeded(draw)
    mha = torch.nn.MultiheadAttention(C, H, bias=bias, batch_first=True, dtype=dtype)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(randn(gen, *p.shape, dtype=dtype, scale=1 / math.sqrt(C)))
    T_q = draw(st.integers(1, 6))
    x_q = randn(gen, B, T_q, C, dtype=dtype)
    x_kv = (
        x_q
        if draw(st.booleans())
        else randn(gen, B, draw(st.integers(1, 6)), C, dtype=dtype)
    )
    pad = None
    if draw(st.booleans()):
        pad = torch.rand(B, x_kv.shape[1], generator=gen) < 0.4
        pad[:, 0] = False
    return mha, x_q, x_kv, draw(st.booleans()), pad


def weights_of(mha: torch.nn.MultiheadAttention) -> tuple[tuple, tuple]:
    """(W_q, W_k, W_v, W_o) acting from the right, and the biases (None without)."""
    W = (*mha.in_proj_weight.detach().T.chunk(3, dim=1), mha.out_proj.weight.detach().T)
    if mha.in_proj_bias is None:
        return W, (None,) * 4
    return W, (*mha.in_proj_bias.detach().chunk(3), mha.out_proj.bias.detach())


@given(mha_problems())
def test_multi_head_attention_matches_torch(case):
    mha, x_q, x_kv, causal, pad = case
    H, (T_q, T_kv) = mha.num_heads, (x_q.shape[1], x_kv.shape[1])
    # torch's attn_mask: True = blocked
    blocked = ~causal_mask(T_q, T_kv) if causal else None
    expected, per_head = mha(
        x_q,
        x_kv,
        x_kv,
        key_padding_mask=pad,
        attn_mask=blocked,
        average_attn_weights=False,
    )
    W, b = weights_of(mha)
    out = multi_head_attention(
        x_q, x_kv, *W, H, *b, key_padding_mask=pad, causal=causal
    )
    assert out.shape == x_q.shape and out.dtype == x_q.dtype
    torch.testing.assert_close(out, expected.detach(), **MATCH[x_q.dtype])

    # the heads' weights, by hand
    proj = lambda x, W, b: x @ W if b is None else x @ W + b
    mask = torch.ones(T_q, T_kv, dtype=torch.bool) if blocked is None else ~blocked
    if pad is not None:
        mask = mask & ~pad[:, None, None, :]
    A = attention_weights(
        split_heads(proj(x_q, W[0], b[0]), H),
        split_heads(proj(x_kv, W[1], b[1]), H),
        mask,
    )
    torch.testing.assert_close(A, per_head.detach(), **MATCH[x_q.dtype])


def test_multi_head_attention_unbatched_and_gradcheck():
    gen = torch.Generator().manual_seed(3)
    C, H = 6, 3
    W = [randn(gen, C, C, scale=C**-0.5) for _ in range(4)]
    b = [randn(gen, C) for _ in range(4)]
    x, m = randn(gen, 4, C), randn(gen, 5, C)
    torch.testing.assert_close(
        multi_head_attention(x, m, *W, H, *b),
        multi_head_attention(x[None], m[None], *W, H, *b)[0],
    )
    f = lambda x, m, W_q, W_o: multi_head_attention(
        x, m, W_q, W[1], W[2], W_o, H, *b, causal=True
    )
    leaves = [t.clone().requires_grad_() for t in (x, m, W[0], W[3])]
    assert torch.autograd.gradcheck(f, leaves)


@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 5), st.data())
@settings(max_examples=20)
def test_split_heads_gives_each_head_its_channels_at_every_position(H, d, T, data):
    x = torch.randn(2, T, H * d, generator=seeded(data.draw))
    heads = split_heads(x, H)
    assert heads.shape == (2, H, T, d)
    for h in range(H):
        assert torch.equal(heads[:, h], x[..., h * d : (h + 1) * d])
    assert torch.equal(merge_heads(heads), x)


# Positions


def rope_reference(
    x: np.ndarray, positions: np.ndarray, base: float = 10000.0
) -> np.ndarray:
    """Channels (2i, 2i + 1) as the complex number x_2i + i x_2i+1, times e^{i m theta_i}."""
    d = x.shape[-1]
    theta = base ** (-np.arange(d // 2) * 2.0 / d)
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * positions[:, None] * theta)
    return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)


@given(
    st.lists(st.integers(1, 3), max_size=2),
    st.integers(1, 6),
    st.integers(1, 6),
    st.sampled_from(DTYPES),
    st.booleans(),
    st.data(),
)
def test_rope_matches_complex_rotation(batch, T, half_d, dtype, integer, data):
    gen = seeded(data.draw)
    x = torch.randn(*batch, T, 2 * half_d, generator=gen, dtype=dtype)
    positions = torch.randint(-50, 2000, (T,), generator=gen)
    if not integer:
        positions = positions + torch.rand(T, generator=gen, dtype=F64)
    out = rope(x, positions)
    assert out.shape == x.shape and out.dtype == dtype
    expected = rope_reference(x.double().numpy(), positions.double().numpy())
    torch.testing.assert_close(out, torch.from_numpy(expected).to(dtype), **tol(dtype))
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), **tol(dtype))


def test_rope_rotates_counter_clockwise():
    e0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    for m in (1, 2, -3):
        expected = torch.tensor([[math.cos(m), math.sin(m)]], dtype=F64)
        torch.testing.assert_close(rope(e0, torch.tensor([m])), expected)
    x = torch.randn(3, 8, dtype=F64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(rope(x, torch.zeros(3)), x)


@given(
    st.integers(1, 6),
    st.integers(-100, 100),
    st.lists(st.integers(-500, 500), min_size=2, max_size=4),
    st.data(),
)
@settings(max_examples=20)
def test_rope_scores_depend_on_the_position_difference_only(half_d, gap, starts, data):
    gen = seeded(data.draw)
    q, k = torch.randn(2, 1, 2 * half_d, generator=gen, dtype=F64)
    score = lambda m, n: (rope(q, torch.tensor([m])) * rope(k, torch.tensor([n]))).sum()
    scores = torch.stack([score(m + gap, m) for m in starts])
    torch.testing.assert_close(scores, scores[0].expand_as(scores))


def test_rope_gradcheck():
    x = torch.randn(
        2,
        4,
        6,
        dtype=F64,
        generator=torch.Generator().manual_seed(5),
        requires_grad=True,
    )
    assert torch.autograd.gradcheck(
        lambda x: rope(x, torch.tensor([0, 3, -2, 11])), (x,)
    )


@pytest.mark.parametrize("T, C", [(1, 2), (7, 4), (50, 16), (3, 64)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sinusoidal_positions_match_the_formula(T, C, dtype):
    P = sinusoidal_positions(T, C, dtype=dtype)
    assert P.shape == (T, C) and P.dtype == dtype
    t, i = np.arange(T)[:, None], np.arange(C // 2)[None, :]
    angle = t / 10000.0 ** (2 * i / C)
    expected = np.empty((T, C))
    expected[:, 0::2], expected[:, 1::2] = np.sin(angle), np.cos(angle)
    torch.testing.assert_close(P, torch.from_numpy(expected).to(dtype), **tol(dtype))


# The residual block


@pytest.mark.parametrize("pre_norm", [True, False])
def test_residual_block_matches_transformer_encoder_layer(pre_norm):
    gen = torch.Generator().manual_seed(6)
    C, H = 8, 4
    layer = torch.nn.TransformerEncoderLayer(
        C,
        H,
        dim_feedforward=12,
        dropout=0.0,
        batch_first=True,
        norm_first=pre_norm,
        dtype=F64,
    )
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(randn(gen, *p.shape, scale=p.shape[-1] ** -0.5))
    W, b = weights_of(layer.self_attn)
    attn = lambda h: multi_head_attention(h, h, *W, H, *b)
    ffn = lambda h: layer.linear2(torch.relu(layer.linear1(h)))
    norm1 = lambda h: F.layer_norm(
        h, (C,), layer.norm1.weight, layer.norm1.bias, layer.norm1.eps
    )
    norm2 = lambda h: F.layer_norm(
        h, (C,), layer.norm2.weight, layer.norm2.bias, layer.norm2.eps
    )
    x = randn(gen, 3, 5, C)
    torch.testing.assert_close(
        residual_block(x, attn, ffn, norm1, norm2, pre_norm), layer(x), **MATCH[F64]
    )


# Errors


def test_errors_name_the_problem():
    q, k, v = torch.zeros(2, 4, 8), torch.zeros(2, 5, 8), torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="q and k must have the same width d"):
        attention(q, torch.zeros(2, 5, 6), v)
    with pytest.raises(ValueError, match="k and v must have one row per key"):
        attention(q, k, torch.zeros(2, 4, 3))
    with pytest.raises(
        ValueError,
        match=r"q and k must have batch dimensions \(all but the last "
        r"two\) that broadcast, got \(3, 4, 8\) and \(2, 5, 8\)",
    ):
        attention_weights(torch.zeros(3, 4, 8), k)
    with pytest.raises(ValueError, match="q, k and v must have batch dimensions"):
        attention(q, k, torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 5\) does not broadcast"):
        attention(q, k, v, torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(
        ValueError, match=r"mask of shape \(3, 4, 5\) does not broadcast"
    ):
        attention(q, k, v, torch.ones(3, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a boolean tensor"):
        attention(q, k, v, torch.ones(4, 5))
    with pytest.raises(ValueError, match="no key to attend to"):
        attention(q, k, v, torch.zeros(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="q must be a floating-point tensor"):
        attention(torch.zeros(4, 8, dtype=torch.long), k, v)
    with pytest.raises(ValueError, match="q must have at least 2 dimension"):
        attention(torch.zeros(8), k, v)

    W, x = torch.zeros(12, 12), torch.zeros(1, 4, 12)
    with pytest.raises(
        ValueError, match="num_heads = 5 does not divide the width C = 12"
    ):
        multi_head_attention(x, x, W, W, W, W, 5)
    with pytest.raises(ValueError, match="num_heads must be an integer >= 1"):
        multi_head_attention(x, x, W, W, W, W, 0)
    with pytest.raises(
        ValueError, match="num_heads = 5 does not divide the width C = 12"
    ):
        split_heads(x, 5)
    with pytest.raises(ValueError, match=r"x must have at least 3 dimension"):
        merge_heads(x[0])
    with pytest.raises(ValueError, match="x_q and x_kv must have the same width C"):
        multi_head_attention(x, torch.zeros(1, 4, 6), W, W, W, W, 3)
    with pytest.raises(ValueError, match=r"W_k must be \(C, C\) = \(12, 12\)"):
        multi_head_attention(x, x, W, torch.zeros(12, 6), W, W, 3)
    with pytest.raises(ValueError, match=r"b_o \(b of W_o\) must be \(C,\) = \(12,\)"):
        multi_head_attention(x, x, W, W, W, W, 3, b_o=torch.zeros(6))
    with pytest.raises(ValueError, match="key_padding_mask must be boolean"):
        multi_head_attention(
            x, x, W, W, W, W, 3, key_padding_mask=torch.zeros(1, 5, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="no key to attend to"):
        multi_head_attention(
            x, x, W, W, W, W, 3, key_padding_mask=torch.ones(1, 4, dtype=torch.bool)
        )

    with pytest.raises(ValueError, match="the width d must be even, got d = 5"):
        rope(torch.zeros(3, 5), torch.arange(3))
    with pytest.raises(
        ValueError, match=r"positions must be a tensor of shape \(T,\) = \(3,\)"
    ):
        rope(torch.zeros(3, 4), torch.arange(3)[None])
    with pytest.raises(ValueError, match="positions must be a tensor"):
        rope(torch.zeros(3, 4), [0, 1, 2])
    with pytest.raises(ValueError, match="C must be even, got C = 7"):
        sinusoidal_positions(4, 7)
    with pytest.raises(ValueError, match="T must be an integer >= 0"):
        sinusoidal_positions(-1, 4)
    with pytest.raises(ValueError, match="T_q must be an integer >= 0"):
        causal_mask(2.5)


@pytest.mark.parametrize("base", [0.0, -2.0, math.inf, math.nan])
def test_a_base_that_is_not_positive_and_finite_is_an_error(base):
    """base^(-2i / C) is NaN or 0/inf for these (base = 0 left half the channels NaN)."""
    with pytest.raises(ValueError, match="base must be a finite number > 0"):
        sinusoidal_positions(4, 4, base)
    with pytest.raises(ValueError, match="base must be a finite number > 0"):
        rope(torch.zeros(3, 4), torch.arange(3), base)

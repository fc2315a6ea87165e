"""Attention written out: scaled dot-product attention with boolean masks, multi-head
attention that matches torch.nn.MultiheadAttention, causal masks, sinusoidal positions,
rotary position embeddings (RoPE), and the transformer's residual block with pre- or
post-normalisation.

Shapes: queries q (..., T_q, d), keys k (..., T_k, d), values v (..., T_k, d_v). Weights
act on row vectors from the right, as in the notes' (T, C)(C, d): a projection is x W
with W (C_in, C_out). torch's nn.Linear and nn.MultiheadAttention store the transpose,
(C_out, C_in), so their weights come in as ``weight.T``. Boolean masks follow torch's
scaled_dot_product_attention: True means "may attend". Functions check their input and
raise ValueError naming what is wrong. This module imports torch, the standard library
and the package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import math
from typing import Callable

import torch
from torch import Tensor

from snippets.checks import check_float, check_int, check_number
# --8<-- [end:imports]

__all__ = [
    "attention",
    "attention_weights",
    "causal_mask",
    "split_heads",
    "merge_heads",
    "multi_head_attention",
    "sinusoidal_positions",
    "rope",
    "residual_block",
]


# --8<-- [start:checks]
def check_batch(names: str, *ts: Tensor) -> None:
    """Leading (batch) dimensions, all but the last two, that broadcast together.
    Dtypes: float32, float64."""
    try:
        torch.broadcast_shapes(*(t.shape[:-2] for t in ts))
    except RuntimeError:
        shapes = " and ".join(str(tuple(t.shape)) for t in ts)
        raise ValueError(
            f"{names} must have batch dimensions (all but the last two) that "
            f"broadcast, got {shapes}"
        ) from None


def check_mask(mask: Tensor, shape: torch.Size) -> None:
    """A boolean mask that broadcasts to the scores' shape (..., T_q, T_k), and lets
    every query attend to at least one key."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a boolean tensor (True = may attend), got "
            f"{getattr(mask, 'dtype', type(mask))}"
        )
    try:
        broadcast = torch.broadcast_shapes(mask.shape, shape)
    except RuntimeError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' "
            f"shape {tuple(shape)} (..., T_q, T_k)"
        )
    if not torch.compiler.is_compiling() and not mask.any(-1).all():  # a value check
        raise ValueError(
            "mask leaves a query with no key to attend to (a row of the mask is "
            "all False): its softmax is undefined"
        )


def check_attention(
    q: Tensor, k: Tensor, v: Tensor | None = None, mask: Tensor | None = None
) -> None:
    """q (..., T_q, d) and k (..., T_k, d), with v (..., T_k, d_v) when given, floating,
    with batch dimensions that broadcast; mask as check_mask says, when given.
    Dtypes: float32, float64."""
    qkv = {"q": q, "k": k} if v is None else {"q": q, "k": k, "v": v}
    for name, t in qkv.items():
        check_float(name, t, min_dim=2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same width d to be compared, got q "
            f"{tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if v is not None and k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have one row per key, got k {tuple(k.shape)} and "
            f"v {tuple(v.shape)}"
        )
    check_batch("q and k" if v is None else "q, k and v", *qkv.values())
    if mask is not None:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
        check_mask(mask, torch.Size((*batch, q.shape[-2], k.shape[-2])))


def check_sizes(**sizes: int) -> None:
    """Integers >= 0 (not bools), each named by its keyword."""
    for name, n in sizes.items():
        check_int(name, n)


def check_heads(x: Tensor, num_heads: int) -> None:
    """x (..., T, C) and a number of heads H >= 1 that divides the width C.
    Dtypes: float32, float64."""
    check_float("x", x, min_dim=2)
    check_int("num_heads", num_heads, low=1)
    if x.shape[-1] % num_heads:
        raise ValueError(
            f"num_heads = {num_heads} does not divide the width C = {x.shape[-1]}"
        )


def check_projection(
    name: str, W: Tensor, b: Tensor | None, C: int, dtype: torch.dtype
) -> None:
    """W (C, C) and b (C,) or None, of the input's dtype; W_q's bias is called b_q.
    Dtypes: float32, float64."""
    check_float(name, W)
    if W.shape != (C, C) or W.dtype != dtype:
        raise ValueError(
            f"{name} must be (C, C) = ({C}, {C}) of dtype {dtype} (x {name} with x "
            f"of width C), got {tuple(W.shape)} {W.dtype}"
        )
    if b is not None and (b.shape != (C,) or b.dtype != dtype):
        raise ValueError(
            f"{name.replace('W', 'b', 1)} (b of {name}) must be (C,) = ({C},) of "
            f"dtype {dtype}, got {tuple(b.shape)} {b.dtype}"
        )


def check_mha(
    x_q: Tensor,
    x_kv: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    W_v: Tensor,
    W_o: Tensor,
    b_q: Tensor | None,
    b_k: Tensor | None,
    b_v: Tensor | None,
    b_o: Tensor | None,
    key_padding_mask: Tensor | None,
) -> None:
    """multi_head_attention's input (its num_heads is split_heads' to check): x_q
    (..., T_q, C) and x_kv (..., T_kv, C) floating, projections as check_projection
    says, key_padding_mask boolean (..., T_kv) or None. Dtypes: float32, float64."""
    check_float("x_q", x_q, min_dim=2)
    check_float("x_kv", x_kv, min_dim=2)
    C, T_kv = x_q.shape[-1], x_kv.shape[-2]
    if x_kv.shape[-1] != C:
        raise ValueError(
            f"x_q and x_kv must have the same width C, got {tuple(x_q.shape)} "
            f"and {tuple(x_kv.shape)}"
        )
    for name, W, b in (
        ("W_q", W_q, b_q),
        ("W_k", W_k, b_k),
        ("W_v", W_v, b_v),
        ("W_o", W_o, b_o),
    ):
        check_projection(name, W, b, C, x_q.dtype)
    kpm = key_padding_mask
    if kpm is not None and (
        not isinstance(kpm, Tensor)
        or kpm.dtype != torch.bool
        or kpm.shape[-1:] != (T_kv,)
    ):
        raise ValueError(
            f"key_padding_mask must be boolean (..., T_kv = {T_kv}), True = "
            f"padding, got {getattr(kpm, 'shape', kpm)}"
        )


def check_rope(x: Tensor, positions: Tensor, base: float) -> None:
    """x (..., T, d) floating with d even, positions (T,), base a finite number > 0.
    Dtypes: float32, float64."""
    check_float("x", x, min_dim=2)
    check_number("base", base, positive=True)
    T, d = x.shape[-2:]
    if d % 2:
        raise ValueError(
            f"rope rotates pairs of channels: the width d must be even, got d = {d}"
        )
    if not isinstance(positions, Tensor) or positions.shape != (T,):
        raise ValueError(
            f"positions must be a tensor of shape (T,) = ({T},), one per row of x, "
            f"got {getattr(positions, 'shape', type(positions))}"
        )


def check_sinusoidal(T: int, C: int, base: float, dtype: torch.dtype) -> None:
    """T >= 0 and an even C >= 2, base a finite number > 0, a floating-point dtype."""
    check_int("T", T)
    check_int("C", C, low=2)
    check_number("base", base, positive=True)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    if C % 2:
        raise ValueError(
            f"sinusoidal positions pair sin and cos: C must be even, got C = {C}"
        )


# --8<-- [end:checks]


# --8<-- [start:attention]
def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None = None) -> Tensor:
    """A = softmax(S / sqrt(d)) over the keys, with S = q k^T (..., T_q, T_k) and
    S_ij = -inf where mask is False, so masked keys get weight exactly 0 and every row
    sums to 1.

    mask: boolean, broadcastable to (..., T_q, T_k), True = may attend
    (torch's SDPA convention). A query whose row of the mask is all False raises
    ValueError (torch's SDPA returns zeros there, nn.MultiheadAttention NaN).
    Dtypes: float32, float64.
    """
    check_attention(q, k, mask=mask)
    S = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        S = S.masked_fill(~mask, float("-inf"))
    return torch.softmax(S, dim=-1)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)) v: each query's output is an average of the values,
    weighted by how well the query matches each key. q (..., T_q, d), k (..., T_k, d),
    v (..., T_k, d_v) -> (..., T_q, d_v). mask as in ``attention_weights``.
    Dtypes: float32, float64."""
    check_attention(q, k, v)
    return attention_weights(q, k, mask) @ v


# --8<-- [end:attention]


# --8<-- [start:causal_mask]
def causal_mask(T_q: int, T_k: int | None = None, *, device=None) -> Tensor:
    """(T_q, T_k) boolean, True where key j <= query i: position i attends to itself and
    the past. T_k defaults to T_q; for T_k != T_q it is aligned top-left, as torch's
    is_causal.
    Dtypes: bool (a mask), on ``device``."""
    T_k = T_q if T_k is None else T_k
    check_sizes(T_q=T_q, T_k=T_k)
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()


# --8<-- [end:causal_mask]


# --8<-- [start:heads]
def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(..., T, C) -> (..., H, T, d) with d = C / H: head h gets channels
    h d to (h + 1) d - 1 of every token, a reshape to (..., T, H, d) then a transpose.
    Dtypes: float32, float64."""
    check_heads(x, num_heads)
    *batch, T, C = x.shape
    return x.reshape(*batch, T, num_heads, C // num_heads).transpose(-3, -2)


def merge_heads(x: Tensor) -> Tensor:
    """(..., H, T, d) -> (..., T, H d): the heads' outputs side by side, head 0 first.
    Dtypes: float32, float64."""
    check_float("x", x, min_dim=3)
    *batch, H, T, d = x.shape
    return x.transpose(-3, -2).reshape(*batch, T, H * d)


# --8<-- [end:heads]


# --8<-- [start:multi_head_attention]
def multi_head_attention(
    x_q: Tensor,
    x_kv: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    W_v: Tensor,
    W_o: Tensor,
    num_heads: int,
    b_q: Tensor | None = None,
    b_k: Tensor | None = None,
    b_v: Tensor | None = None,
    b_o: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    causal: bool = False,
) -> Tensor:
    """Multi-head attention of queries x_q (..., T_q, C) over x_kv (..., T_kv, C):
    q = x_q W_q + b_q, k = x_kv W_k + b_k, v = x_kv W_v + b_v, each split into H heads
    of width d = C / H; head h attends with its d channels, and

        out = concat_h(attention(q_h, k_h, v_h)) W_o + b_o
            = sum_h attention(q_h, k_h, v_h) W_o[h d:(h + 1) d] + b_o.

    W_* are (C, C) acting from the right: torch.nn.MultiheadAttention's
    ``in_proj_weight.T.chunk(3, dim=1)`` are W_q, W_k, W_v, ``in_proj_bias.chunk(3)``
    the biases, ``out_proj.weight.T`` is W_o. key_padding_mask (..., T_kv) boolean,
    True = a padding key to ignore (nn.MultiheadAttention's convention, the opposite of
    ``mask``'s); causal: query i attends to keys j <= i.
    Dtypes: float32, float64.
    """
    check_mha(x_q, x_kv, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, key_padding_mask)
    proj = lambda x, W, b: x @ W if b is None else x @ W + b
    q = split_heads(proj(x_q, W_q, b_q), num_heads)  # (..., H, T_q, d)
    k = split_heads(proj(x_kv, W_k, b_k), num_heads)  # (..., H, T_kv, d)
    v = split_heads(proj(x_kv, W_v, b_v), num_heads)
    T_q, T_kv = x_q.shape[-2], x_kv.shape[-2]
    mask = causal_mask(T_q, T_kv, device=x_q.device) if causal else None
    if key_padding_mask is not None:
        keep = ~key_padding_mask[..., None, None, :]  # (..., 1, 1, T_kv)
        mask = keep if mask is None else mask & keep
    out = merge_heads(attention(q, k, v, mask))  # (..., T_q, C)
    return proj(out, W_o, b_o)


# --8<-- [end:multi_head_attention]


# --8<-- [start:sinusoidal]
def sinusoidal_positions(
    T: int,
    C: int,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    *,
    device=None,
) -> Tensor:
    """Vaswani et al.'s (T, C) table: P[p, 2i] = sin(p w_i), P[p, 2i + 1] = cos(p w_i)
    with frequencies w_i = base^(-2i / C), i = 0 .. C/2 - 1. C must be even. Computed in
    float64 on ``device``, then cast. Dtypes: float32 (default), float64; bfloat16
    agrees with float64 to 2e-2 (relative)."""
    check_sinusoidal(T, C, base, dtype)
    two_i = torch.arange(0, C, 2, dtype=torch.float64, device=device)
    w = base ** (-two_i / C)  # (C/2,)
    angle = torch.arange(T, dtype=torch.float64, device=device)[:, None] * w  # (T, C/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2).to(dtype)


# --8<-- [end:sinusoidal]


# --8<-- [start:rope]
def rope(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding of x (..., T, d) at positions (T,): each consecutive
    pair (x_2i, x_2i+1) of the token at position m is rotated counter-clockwise by the
    angle m theta_i, theta_i = base^(-2i / d), that is multiplied by e^{i m theta_i} as
    the complex number x_2i + i x_2i+1 (the RoFormer paper's layout; "half-split"
    implementations pair x_i with x_i+d/2 instead). d must be even.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_rope(x, positions, base)
    d = x.shape[-1]
    k = torch.arange(0, d, 2, dtype=torch.float64, device=x.device)
    theta = base ** (-k / d)  # (d/2,)
    angle = positions.to(torch.float64)[:, None] * theta  # (T, d/2)
    # the angles in float64 (m can be large), their cos and sin in x's dtype
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


# --8<-- [end:rope]


# --8<-- [start:residual_block]
def residual_block(
    x: Tensor,
    attn: Callable[[Tensor], Tensor],
    ffn: Callable[[Tensor], Tensor],
    norm1: Callable[[Tensor], Tensor],
    norm2: Callable[[Tensor], Tensor],
    pre_norm: bool = True,
) -> Tensor:
    """One transformer block on the residual stream x (..., T, C).

    pre-norm (GPT-2 and later):   h = x + attn(norm1(x)),   y = h + ffn(norm2(h));
    post-norm (Vaswani et al.):   h = norm1(x + attn(x)),   y = norm2(h + ffn(h)).
    Dtypes: float32, float64.
    """
    check_float("x", x, min_dim=2)
    if pre_norm:
        h = x + attn(norm1(x))
        return h + ffn(norm2(h))
    h = norm1(x + attn(x))
    return norm2(h + ffn(h))


# --8<-- [end:residual_block]

"""Attention written out: scaled dot-product attention with boolean masks, multi-head attention
that matches torch.nn.MultiheadAttention, causal masks, sinusoidal positions, rotary position
embeddings (RoPE), and the transformer's residual block with pre- or post-normalisation.

Shapes: queries q (..., T_q, d), keys k (..., T_k, d), values v (..., T_k, d_v). Weights act on
row vectors from the right, as in the notes' (T, C)(C, d): a projection is x W with W
(C_in, C_out). torch's nn.Linear and nn.MultiheadAttention store the transpose, (C_out, C_in),
so their weights come in as ``weight.T``. Boolean masks follow torch's scaled_dot_product_attention:
True means "may attend". Functions check their input and raise ValueError naming what is wrong.
This module imports only torch and the standard library.
"""

# --8<-- [start:imports]
import math
from typing import Callable

import torch
from torch import Tensor
# --8<-- [end:imports]

__all__ = ["attention", "attention_weights", "causal_mask", "split_heads", "merge_heads",
           "multi_head_attention", "sinusoidal_positions", "rope", "residual_block"]


# --8<-- [start:checks]
def check_float(name: str, t: Tensor, min_dim: int = 0) -> None:
    """A floating-point tensor with at least ``min_dim`` dimensions. Dtypes: float32, float64."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {getattr(t, 'dtype', type(t))}")
    if t.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(t.shape)}")


def check_size(name: str, n: int, minimum: int = 0) -> None:
    """An integer (not a bool) >= minimum."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")


def check_base(base: float) -> None:
    """A finite base > 0 for the frequencies base^(-2i / C)."""
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not 0 < base < math.inf:
        raise ValueError(f"base must be a finite number > 0, got {base!r}")


def check_batch(names: str, *ts: Tensor) -> None:
    """Leading (batch) dimensions, all but the last two, that broadcast together.
    Dtypes: float32, float64."""
    try:
        torch.broadcast_shapes(*(t.shape[:-2] for t in ts))
    except RuntimeError:
        raise ValueError(f"{names} must have batch dimensions (all but the last two) that "
                         f"broadcast, got {' and '.join(str(tuple(t.shape)) for t in ts)}") from None


def check_mask(mask: Tensor, shape: torch.Size) -> None:
    """A boolean mask that broadcasts to the scores' shape (..., T_q, T_k), and lets every
    query attend to at least one key."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a boolean tensor (True = may attend), got "
                         f"{getattr(mask, 'dtype', type(mask))}")
    try:
        broadcast = torch.broadcast_shapes(mask.shape, shape)
    except RuntimeError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' "
                         f"shape {tuple(shape)} (..., T_q, T_k)")
    if not torch.compiler.is_compiling() and not mask.any(-1).all():  # a value check
        raise ValueError("mask leaves a query with no key to attend to (a row of the mask is "
                         "all False): its softmax is undefined")
# --8<-- [end:checks]


# --8<-- [start:attention]
def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None = None) -> Tensor:
    """A = softmax(S / sqrt(d)) over the keys, with S = q k^T (..., T_q, T_k) and S_ij = -inf
    where mask is False, so masked keys get weight exactly 0 and every row sums to 1.

    mask: boolean, broadcastable to (..., T_q, T_k), True = may attend (torch's SDPA
    convention). A query whose row of the mask is all False raises ValueError (torch's SDPA
    returns zeros there, nn.MultiheadAttention NaN).
    Dtypes: float32, float64.
    """
    check_float("q", q, min_dim=2)
    check_float("k", k, min_dim=2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same width d to be compared, got q "
                         f"{tuple(q.shape)} and k {tuple(k.shape)}")
    check_batch("q and k", q, k)
    S = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        check_mask(mask, S.shape)
        S = S.masked_fill(~mask, float("-inf"))
    return torch.softmax(S, dim=-1)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)) v: each query's output is an average of the values,
    weighted by how well the query matches each key. q (..., T_q, d), k (..., T_k, d),
    v (..., T_k, d_v) -> (..., T_q, d_v). mask as in ``attention_weights``.
    Dtypes: float32, float64."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_float(name, t, min_dim=2)
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have one row per key, got k {tuple(k.shape)} and "
                         f"v {tuple(v.shape)}")
    check_batch("q, k and v", q, k, v)
    return attention_weights(q, k, mask) @ v
# --8<-- [end:attention]


# --8<-- [start:causal_mask]
def causal_mask(T_q: int, T_k: int | None = None, *, device=None) -> Tensor:
    """(T_q, T_k) boolean, True where key j <= query i: position i attends to itself and the
    past. T_k defaults to T_q; for T_k != T_q it is aligned top-left, as torch's is_causal.
    Dtypes: bool (a mask), on ``device``."""
    T_k = T_q if T_k is None else T_k
    check_size("T_q", T_q)
    check_size("T_k", T_k)
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()
# --8<-- [end:causal_mask]


# --8<-- [start:heads]
def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(..., T, C) -> (..., H, T, d) with d = C / H: head h gets channels h d to (h + 1) d - 1
    of every token, a reshape to (..., T, H, d) then a transpose. Dtypes: float32, float64."""
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a tensor of shape (..., T, C), got "
                         f"{getattr(x, 'shape', type(x))}")
    *batch, T, C = x.shape
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 \
            or C % num_heads:
        raise ValueError(f"num_heads = {num_heads!r} must be a positive integer that divides "
                         f"the width C = {C}")
    return x.reshape(*batch, T, num_heads, C // num_heads).transpose(-3, -2)


def merge_heads(x: Tensor) -> Tensor:
    """(..., H, T, d) -> (..., T, H d): the heads' outputs side by side, head 0 first.
    Dtypes: float32, float64."""
    if not isinstance(x, Tensor) or x.dim() < 3:
        raise ValueError(f"x must be a tensor of shape (..., H, T, d), got "
                         f"{getattr(x, 'shape', type(x))}")
    *batch, H, T, d = x.shape
    return x.transpose(-3, -2).reshape(*batch, T, H * d)
# --8<-- [end:heads]


# --8<-- [start:multi_head_attention]
def check_projection(name: str, W: Tensor, b: Tensor | None, C: int, dtype: torch.dtype) -> None:
    """W (C, C) and b (C,) or None, of the input's dtype; W_q's bias is called b_q.
    Dtypes: float32, float64."""
    check_float(name, W)
    if W.shape != (C, C) or W.dtype != dtype:
        raise ValueError(f"{name} must be (C, C) = ({C}, {C}) of dtype {dtype} (x {name} with x "
                         f"of width C), got {tuple(W.shape)} {W.dtype}")
    if b is not None and (b.shape != (C,) or b.dtype != dtype):
        raise ValueError(f"{name.replace('W', 'b', 1)} (b of {name}) must be (C,) = ({C},) of "
                         f"dtype {dtype}, got {tuple(b.shape)} {b.dtype}")


def multi_head_attention(x_q: Tensor, x_kv: Tensor, W_q: Tensor, W_k: Tensor, W_v: Tensor,
                         W_o: Tensor, num_heads: int, b_q: Tensor | None = None,
                         b_k: Tensor | None = None, b_v: Tensor | None = None,
                         b_o: Tensor | None = None, key_padding_mask: Tensor | None = None,
                         causal: bool = False) -> Tensor:
    """Multi-head attention of queries x_q (..., T_q, C) over x_kv (..., T_kv, C):
    q = x_q W_q + b_q, k = x_kv W_k + b_k, v = x_kv W_v + b_v, each split into H heads of
    width d = C / H; head h attends with its d channels, and

        out = concat_h(attention(q_h, k_h, v_h)) W_o + b_o
            = sum_h attention(q_h, k_h, v_h) W_o[h d:(h + 1) d] + b_o.

    W_* are (C, C) acting from the right: torch.nn.MultiheadAttention's
    ``in_proj_weight.T.chunk(3, dim=1)`` are W_q, W_k, W_v, ``in_proj_bias.chunk(3)`` the
    biases, ``out_proj.weight.T`` is W_o. key_padding_mask (..., T_kv) boolean, True = a
    padding key to ignore (nn.MultiheadAttention's convention, the opposite of ``mask``'s);
    causal: query i attends to keys j <= i.
    Dtypes: float32, float64.
    """
    check_float("x_q", x_q, min_dim=2)
    check_float("x_kv", x_kv, min_dim=2)
    C = x_q.shape[-1]
    if x_kv.shape[-1] != C:
        raise ValueError(f"x_q and x_kv must have the same width C, got {tuple(x_q.shape)} "
                         f"and {tuple(x_kv.shape)}")
    check_size("num_heads", num_heads, minimum=1)
    if C % num_heads:
        raise ValueError(f"num_heads = {num_heads} does not divide the width C = {C}")
    for name, W, b in (("W_q", W_q, b_q), ("W_k", W_k, b_k), ("W_v", W_v, b_v), ("W_o", W_o, b_o)):
        check_projection(name, W, b, C, x_q.dtype)
    proj = lambda x, W, b: x @ W if b is None else x @ W + b
    q = split_heads(proj(x_q, W_q, b_q), num_heads)            # (..., H, T_q, d)
    k = split_heads(proj(x_kv, W_k, b_k), num_heads)           # (..., H, T_kv, d)
    v = split_heads(proj(x_kv, W_v, b_v), num_heads)
    T_q, T_kv = x_q.shape[-2], x_kv.shape[-2]
    mask = causal_mask(T_q, T_kv, device=x_q.device) if causal else None
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, Tensor) or key_padding_mask.dtype != torch.bool \
                or key_padding_mask.shape[-1:] != (T_kv,):
            raise ValueError(f"key_padding_mask must be boolean (..., T_kv = {T_kv}), True = "
                             f"padding, got {getattr(key_padding_mask, 'shape', key_padding_mask)}")
        keep = ~key_padding_mask[..., None, None, :]           # (..., 1, 1, T_kv)
        mask = keep if mask is None else mask & keep
    out = merge_heads(attention(q, k, v, mask))                # (..., T_q, C)
    return proj(out, W_o, b_o)
# --8<-- [end:multi_head_attention]


# --8<-- [start:sinusoidal]
def sinusoidal_positions(T: int, C: int, base: float = 10000.0,
                         dtype: torch.dtype = torch.float32, *, device=None) -> Tensor:
    """Vaswani et al.'s (T, C) table: P[p, 2i] = sin(p w_i), P[p, 2i + 1] = cos(p w_i) with
    frequencies w_i = base^(-2i / C), i = 0 .. C/2 - 1. C must be even. Computed in float64
    on ``device``, then cast. Dtypes: float32 (default), float64; bfloat16 agrees with float64
    to 2e-2 (relative)."""
    check_size("T", T)
    check_size("C", C, minimum=2)
    check_base(base)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    if C % 2:
        raise ValueError(f"sinusoidal positions pair sin and cos: C must be even, got C = {C}")
    w = base ** (-torch.arange(0, C, 2, dtype=torch.float64, device=device) / C)  # (C/2,)
    angle = torch.arange(T, dtype=torch.float64, device=device)[:, None] * w      # (T, C/2)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2).to(dtype)
# --8<-- [end:sinusoidal]


# --8<-- [start:rope]
def rope(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding of x (..., T, d) at positions (T,): each consecutive pair
    (x_2i, x_2i+1) of the token at position m is rotated counter-clockwise by the angle
    m theta_i, theta_i = base^(-2i / d), that is multiplied by e^{i m theta_i} as the complex
    number x_2i + i x_2i+1 (the RoFormer paper's layout; "half-split" implementations pair
    x_i with x_i+d/2 instead). d must be even.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x, min_dim=2)
    check_base(base)
    T, d = x.shape[-2:]
    if d % 2:
        raise ValueError(f"rope rotates pairs of channels: the width d must be even, got d = {d}")
    if not isinstance(positions, Tensor) or positions.shape != (T,):
        raise ValueError(f"positions must be a tensor of shape (T,) = ({T},), one per row of x, "
                         f"got {getattr(positions, 'shape', type(positions))}")
    k = torch.arange(0, d, 2, dtype=torch.float64, device=x.device)
    theta = base ** (-k / d)                                             # (d/2,)
    angle = positions.to(torch.float64)[:, None] * theta                 # (T, d/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)          # in float64: m can be large
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
# --8<-- [end:rope]


# --8<-- [start:residual_block]
def residual_block(x: Tensor, attn: Callable[[Tensor], Tensor], ffn: Callable[[Tensor], Tensor],
                   norm1: Callable[[Tensor], Tensor], norm2: Callable[[Tensor], Tensor],
                   pre_norm: bool = True) -> Tensor:
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

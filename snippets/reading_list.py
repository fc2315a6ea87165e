"""The reading list's checkable claims: dropout's two conventions and max-norm, layer
norm and AdaNorm with the layer-norm backward, the gated units GLU/GTU and their
gradients, NICE and RealNVP couplings, residual networks unrolled into paths, and
Lie-Trotter versus Strang splitting.

Every function checks its input and raises ValueError naming what is wrong. This module
imports torch, the standard library and the package's shared checks
(snippets/checks.py).
"""

# --8<-- [start:imports]
import itertools
from typing import Callable, Sequence

import torch
from torch import Tensor

from snippets.checks import check_float, check_int, check_number
# --8<-- [end:imports]

__all__ = [
    "dropout",
    "all_masks",
    "expected_over_masks",
    "max_norm",
    "layer_norm",
    "layer_norm_backward",
    "adanorm",
    "gtu",
    "glu_backward",
    "gtu_backward",
    "affine_coupling",
    "affine_coupling_inverse",
    "additive_coupling",
    "additive_coupling_inverse",
    "residual_chain",
    "path_terms",
    "unrolled_residual",
    "split_step",
    "split_solve",
]


# --8<-- [start:checks]
def check_square(name: str, M: Tensor) -> None:
    """A floating-point square matrix (c, c). Dtypes: float32, float64."""
    check_float(name, M, min_dim=2)
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(
            f"{name} must be a square matrix (c, c), got shape {tuple(M.shape)}"
        )


def check_dropout(x: Tensor, p: float, mask: Tensor | None) -> None:
    """x a floating tensor, 0 <= p < 1, and mask (when given) of x's shape.
    Dtypes: float32, float64."""
    check_float("x", x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
    if mask is not None and mask.shape != x.shape:
        raise ValueError(
            f"mask {tuple(mask.shape)} must have x's shape {tuple(x.shape)}"
        )


def check_keep(keep: float, dtype: torch.dtype) -> None:
    """A keep probability in [0, 1] and a floating-point dtype."""
    if not 0 <= keep <= 1:
        raise ValueError(f"keep probability must be in [0, 1], got {keep}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


def check_max_norm(W: Tensor, c: float) -> None:
    """W a floating matrix (out, in) and c > 0. Dtypes: float32, float64."""
    check_float("W", W, dim=2)
    check_number("c", c, positive=True)


def check_norm(
    x: Tensor,
    normalized_shape: Sequence[int],
    eps: float,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    dL_dy: Tensor | None = None,
) -> None:
    """x (..., *normalized_shape) floating, eps >= 0, and weight and bias
    (normalized_shape) and dL_dy (x's shape), those given, floating tensors. Dtypes:
    float32, float64."""
    shape = tuple(normalized_shape)
    check_float("x", x, min_dim=1)
    if not 0 < len(shape) <= x.dim() or tuple(x.shape[x.dim() - len(shape) :]) != shape:
        raise ValueError(
            f"normalized_shape {shape} must be the trailing dimensions "
            f"of x {tuple(x.shape)}"
        )
    check_number("eps", eps, low=0)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            check_float(name, p)
            if tuple(p.shape) != shape:
                raise ValueError(
                    f"{name} {tuple(p.shape)} must have normalized_shape {shape}, "
                    f"the trailing dimensions of x {tuple(x.shape)}"
                )
    if dL_dy is not None:
        check_float("dL_dy", dL_dy)
        if dL_dy.shape != x.shape:
            raise ValueError(
                f"dL_dy {tuple(dL_dy.shape)} must have x's shape {tuple(x.shape)}"
            )


def check_adanorm(C: float, k: float) -> None:
    """C > 0 and k >= 0, finite numbers."""
    check_number("C", C, positive=True)
    check_number("k", k, low=0)


def check_gate(A: Tensor, B: Tensor, dL_dh: Tensor | None = None) -> None:
    """A, B (and dL_dh) floating tensors of one shape. Dtypes: float32, float64."""
    check_float("A", A)
    check_float("B", B)
    if A.shape != B.shape or (dL_dh is not None and dL_dh.shape != A.shape):
        shapes = [tuple(t.shape) for t in (A, B, dL_dh) if t is not None]
        raise ValueError(f"A, B (and dL_dh) must have one shape, got {shapes}")


def check_linear_blocks(x: Tensor, As: Sequence[Tensor]) -> None:
    """x (..., c) and square blocks A_i (c, c). Dtypes: float32, float64."""
    check_float("x", x, min_dim=1)
    for i, A in enumerate(As):
        if A.shape != (x.shape[-1], x.shape[-1]):
            raise ValueError(
                f"As[{i}] must be ({x.shape[-1]}, {x.shape[-1]}) for x "
                f"{tuple(x.shape)}, got {tuple(A.shape)}"
            )


def check_split(A: Tensor, B: Tensor, scheme: str, substep: str) -> None:
    """A and B square matrices of one shape, and a known scheme and substep.
    Dtypes: float32, float64."""
    check_square("A", A)
    check_square("B", B)
    if B.shape != A.shape:
        raise ValueError(
            f"A and B must be square and of one shape, got {tuple(A.shape)}, "
            f"{tuple(B.shape)}"
        )
    if scheme not in ("lie_trotter", "strang") or substep not in ("exact", "euler"):
        raise ValueError(
            f"scheme must be 'lie_trotter' or 'strang' and substep 'exact' or "
            f"'euler', got {scheme!r}, {substep!r}"
        )


def check_split_solve(
    A: Tensor, B: Tensor, x0: Tensor, n_steps: int, scheme: str, substep: str
) -> None:
    """check_split, n_steps >= 1 and x0 (c,) for A (c, c). Dtypes: float32, float64."""
    check_int("n_steps", n_steps, low=1)
    check_split(A, B, scheme, substep)
    check_float("x0", x0)
    if x0.shape != A.shape[:1]:
        raise ValueError(
            f"x0 must have shape ({A.shape[0]},) to match A, got {tuple(x0.shape)}"
        )


def halves(x: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """x (..., D) -> x[..., :D//2], x[..., D//2:]. Dtypes: float32, float64."""
    check_float(name, x, min_dim=1)
    if x.shape[-1] < 2:
        raise ValueError(
            f"a coupling splits the last dim of {name} {tuple(x.shape)} in two: "
            "it needs at least 2 entries"
        )
    d = x.shape[-1] // 2
    return x[..., :d], x[..., d:]


def apply_half(
    net: Callable[[Tensor], Tensor], x1: Tensor, x2: Tensor, name: str
) -> Tensor:
    """net(x1), which must have the shape of x2 (the other half).
    Dtypes: float32, float64."""
    out = net(x1)
    if not isinstance(out, Tensor) or out.shape != x2.shape:
        raise ValueError(
            f"{name}(x1) must have the second half's shape {tuple(x2.shape)}, that "
            f"of x2, got {tuple(getattr(out, 'shape', ()))}"
        )
    return out


# --8<-- [end:checks]


# --8<-- [start:dropout]
def dropout(
    x: Tensor,
    p: float,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inverted dropout in torch's convention: ``p`` is the probability of DROPPING a
    unit. Each entry is kept (mask 1) with probability 1 - p and a kept entry is scaled
    by 1/(1 - p), so E[dropout(x)] = x and the test-time network needs no change.
    ``mask`` (x's shape, 0/1): a given mask instead of a random one. x (...) -> (...).
    Dtypes: float32, float64. ``generator`` must be on x's device (torch draws
    there)."""
    check_dropout(x, p, mask)
    if mask is None:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        mask = u >= p  # keep w.p. 1 - p
    return x * mask / (1 - p)


def all_masks(n: int, dtype: torch.dtype = torch.float64, *, device=None) -> Tensor:
    """Every 0/1 mask of n units, (2^n, n), row k the binary digits of k, on ``device``.
    Dtypes: float32, float64 (default), any other: 0 and 1 are exact."""
    check_int("n", n, 0, 16)  # 2^n masks: at most 65536
    masks = list(itertools.product([0, 1], repeat=n))
    return torch.tensor(masks, dtype=dtype, device=device).reshape(2**n, n)


def expected_over_masks(
    f: Callable[[Tensor], Tensor],
    n: int,
    keep: float,
    *,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """E_m[f(m)] exactly, m a mask of n units, each kept (1) independently with
    probability keep: sum over the 2^n masks of keep^|m| (1 - keep)^(n - |m|) f(m). The
    masks are made on ``device`` in ``dtype``. Dtypes: float32, float64 (default)."""
    check_keep(keep, dtype)
    masks = all_masks(n, dtype, device=device)
    k = masks.sum(1)
    prob = keep**k * (1 - keep) ** (n - k)  # (2^n,)
    return sum(P * f(m) for P, m in zip(prob, masks))


# --8<-- [end:dropout]


# --8<-- [start:max_norm]
def max_norm(W: Tensor, c: float) -> Tensor:
    """Hinton et al.'s constraint: each unit's INCOMING weight vector, a row of W (out,
    in), is rescaled to length c when it is longer than c, and left alone otherwise.
    Dtypes: float32, float64."""
    check_max_norm(W, c)
    norms = torch.linalg.vector_norm(W, dim=1, keepdim=True)  # (out, 1)
    return W * torch.where(norms > c, c / norms, torch.ones_like(norms))


# --8<-- [end:max_norm]


# --8<-- [start:layer_norm]
def layer_norm(
    x: Tensor,
    normalized_shape: Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """y = (x - mean) / sqrt(var + eps) * weight + bias, as F.layer_norm: mean and var
    over the trailing dims ``normalized_shape`` of each example, var the BIASED variance
    (divide by the number of entries H, not H - 1). x (..., *normalized_shape); weight,
    bias normalized_shape. Dtypes: float32, float64."""
    check_norm(x, normalized_shape, eps, weight, bias)
    dims = tuple(range(-len(normalized_shape), 0))  # the trailing dims
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# --8<-- [end:layer_norm]


# --8<-- [start:layer_norm_backward]
def layer_norm_backward(
    x: Tensor, dL_dy: Tensor, normalized_shape: Sequence[int], eps: float = 1e-5
) -> Tensor:
    """dL/dx of y = (x - mean) / sigma, sigma = sqrt(var + eps), over the trailing dims:
    dL/dx = (g - mean(g) - y mean(g y)) / sigma with g = dL/dy. (With a gain w, pass
    g = dL/dout * w.) The mean and the variance's derivatives remove from g its mean and
    its component along y: sum(dL/dx) = 0 and, for eps = 0, sum(dL/dx * y) = 0.
    Dtypes: float32, float64."""
    check_norm(x, normalized_shape, eps, dL_dy=dL_dy)
    dims = tuple(range(-len(normalized_shape), 0))  # the trailing dims
    mean = x.mean(dims, keepdim=True)
    sigma = torch.sqrt(((x - mean) ** 2).mean(dims, keepdim=True) + eps)
    y = (x - mean) / sigma
    g = dL_dy
    return (
        g - g.mean(dims, keepdim=True) - y * (g * y).mean(dims, keepdim=True)
    ) / sigma


# --8<-- [end:layer_norm_backward]


# --8<-- [start:adanorm]
def adanorm(x: Tensor, C: float = 1.0, k: float = 0.1, eps: float = 1e-5) -> Tensor:
    """AdaNorm (Xu et al. 2019): z = phi(y) * y (elementwise), phi(y) = C (1 - k y),
    with y = (x - mean) / sqrt(var + eps) over the last dim (biased variance). phi is
    detached: the backward treats it as a constant, as the paper does. x (..., H) ->
    (..., H). Dtypes: float32, float64."""
    check_adanorm(C, k)
    y = layer_norm(x, x.shape[-1:], eps=eps)
    phi = (C * (1 - k * y)).detach()
    return phi * y


# --8<-- [end:adanorm]


# --8<-- [start:gated]
def gtu(A: Tensor, B: Tensor) -> Tensor:
    """Gated tanh unit: tanh(A) * sigma(B), with A = X W + b and B = X V + c.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_gate(A, B)
    return torch.tanh(A) * torch.sigmoid(B)


def glu_backward(A: Tensor, B: Tensor, dL_dh: Tensor) -> tuple[Tensor, Tensor]:
    """h = A * sigma(B) (GLU): dL/dA = dL/dh * sigma(B), dL/dB = dL/dh * A * sigma'(B),
    sigma' = sigma (1 - sigma). The path through A has no factor from A itself.
    Dtypes: float32, float64."""
    check_gate(A, B, dL_dh)
    s = torch.sigmoid(B)
    return dL_dh * s, dL_dh * A * s * (1 - s)


def gtu_backward(A: Tensor, B: Tensor, dL_dh: Tensor) -> tuple[Tensor, Tensor]:
    """h = tanh(A) * sigma(B) (GTU): dL/dA = dL/dh * tanh'(A) * sigma(B),
    dL/dB = dL/dh * tanh(A) * sigma'(B), tanh' = 1 - tanh^2 <= 1. Dtypes: float32,
    float64."""
    check_gate(A, B, dL_dh)
    t, s = torch.tanh(A), torch.sigmoid(B)
    return dL_dh * (1 - t**2) * s, dL_dh * t * s * (1 - s)


# --8<-- [end:gated]


# --8<-- [start:coupling]
def affine_coupling(
    x: Tensor, s: Callable[[Tensor], Tensor], t: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    """RealNVP's affine coupling. x (..., D) splits into x1 = x[..., :D//2] and x2 (the
    rest); y1 = x1, y2 = x2 * exp(s(x1)) + t(x1). The scale and shift read only the half
    that passes through, so the Jacobian is triangular with diagonal (1, exp(s(x1))):
    log|det dy/dx| = sum s(x1). Returns y (..., D) and log_det (...). Dtypes: float32,
    float64."""
    x1, x2 = halves(x, "x")
    s1 = apply_half(s, x1, x2, "s")
    y2 = x2 * torch.exp(s1) + apply_half(t, x1, x2, "t")
    return torch.cat([x1, y2], -1), s1.sum(-1)


def affine_coupling_inverse(
    y: Tensor, s: Callable[[Tensor], Tensor], t: Callable[[Tensor], Tensor]
) -> Tensor:
    """x1 = y1, x2 = (y2 - t(y1)) * exp(-s(y1)): s and t are evaluated, never inverted.
    Dtypes: float32, float64."""
    y1, y2 = halves(y, "y")
    x2 = (y2 - apply_half(t, y1, y2, "t")) * torch.exp(-apply_half(s, y1, y2, "s"))
    return torch.cat([y1, x2], -1)


def additive_coupling(x: Tensor, m: Callable[[Tensor], Tensor]) -> Tensor:
    """NICE's additive coupling: y1 = x1, y2 = x2 + m(x1); det dy/dx = 1.
    Dtypes: float32, float64."""
    x1, x2 = halves(x, "x")
    return torch.cat([x1, x2 + apply_half(m, x1, x2, "m")], -1)


def additive_coupling_inverse(y: Tensor, m: Callable[[Tensor], Tensor]) -> Tensor:
    """x1 = y1, x2 = y2 - m(y1).
    Dtypes: float32, float64."""
    y1, y2 = halves(y, "y")
    return torch.cat([y1, y2 - apply_half(m, y1, y2, "m")], -1)


# --8<-- [end:coupling]


# --8<-- [start:residual]
def residual_chain(x: Tensor, fs: Sequence[Callable[[Tensor], Tensor]]) -> Tensor:
    """y = (I + f_n) o ... o (I + f_1) (x): each block adds f_i of the running sum.
    Dtypes: float32, float64."""
    for f in fs:
        x = x + f(x)
    return x


def path_terms(x: Tensor, As: Sequence[Tensor]) -> dict[tuple[int, ...], Tensor]:
    """For linear blocks f_i(x) = x A_i^T: each of the 2^n paths through the chain, a
    subset i_1 < ... < i_k of the blocks, mapped to its term A_{i_k} ... A_{i_1} x (the
    empty path is x itself). x (..., c), A_i (c, c). Dtypes: float32, float64."""
    check_linear_blocks(x, As)
    terms = {}
    for k in range(len(As) + 1):
        for path in itertools.combinations(range(len(As)), k):
            term = x
            for i in path:
                term = term @ As[i].T
            terms[path] = term
    return terms


def unrolled_residual(x: Tensor, As: Sequence[Tensor]) -> Tensor:
    """The sum of all 2^n path terms; equal to residual_chain for linear blocks.
    Dtypes: float32, float64."""
    return sum(path_terms(x, As).values())


# --8<-- [end:residual]


# --8<-- [start:splitting]
def flow(M: Tensor, h: float, substep: str) -> Tensor:
    """The map x(0) -> x(h) of dx/dt = M x: e^{hM} ("exact") or I + hM ("euler").
    Dtypes: float32, float64."""
    check_square("M", M)
    if substep == "exact":
        return torch.linalg.matrix_exp(h * M)  # the sub-problem solved exactly
    # one Euler step
    return torch.eye(M.shape[0], dtype=M.dtype, device=M.device) + h * M


def split_step(
    A: Tensor, B: Tensor, h: float, scheme: str = "strang", substep: str = "exact"
) -> Tensor:
    """One step of size h for dx/dt = (A + B) x as a matrix S, x_{t+h} ~ S x_t.
    Lie-Trotter: flow A for h, then B for h:            S = e^{hB} e^{hA}.
    Strang:      B for h/2, A for h, B for h/2:          S = e^{hB/2} e^{hA} e^{hB/2}.
    substep "euler" replaces each flow e^{hM} by one Euler step I + hM. Dtypes: float32,
    float64."""
    check_split(A, B, scheme, substep)
    if scheme == "lie_trotter":
        return flow(B, h, substep) @ flow(A, h, substep)
    half = flow(B, h / 2, substep)
    return half @ flow(A, h, substep) @ half


def split_solve(
    A: Tensor,
    B: Tensor,
    x0: Tensor,
    T: float,
    n_steps: int,
    scheme: str = "strang",
    substep: str = "exact",
) -> Tensor:
    """x(T) from x(0) = x0 (c,) by n_steps split steps of size h = T / n_steps; A, B (c,
    c). Dtypes: float32, float64."""
    check_split_solve(A, B, x0, n_steps, scheme, substep)
    S = split_step(A, B, T / n_steps, scheme, substep)
    return torch.linalg.matrix_power(S, n_steps) @ x0


# --8<-- [end:splitting]

"""Tensors and linear algebra: cosine similarity and similarity matrices (the dot
product as template matching), batched matrix products with shape checks, a numerical
test of linearity, and the collapse of two stacked linear layers into one.

Shapes follow torch: a batch of ``n`` vectors of size ``d`` is ``(n, d)``, one vector
per row, and a linear layer with weight ``W`` (out, in) and bias ``b`` (out,) maps ``x``
to ``x W^T + b``. Every function checks its input and raises ValueError naming what is
wrong. This module imports torch, the standard library and the package's shared checks
(snippets/checks.py).
"""

# --8<-- [start:imports]
from collections.abc import Callable

import torch
from torch import Tensor

from snippets.checks import check_float, check_number
# --8<-- [end:imports]

__all__ = [
    "cosine_similarity",
    "similarity_matrix",
    "batched_matmul",
    "linearity_defect",
    "collapse_linear",
]


# --8<-- [start:checks]
def broadcast_shape(name_a: str, a: tuple[int, ...], name_b: str, b: tuple[int, ...]):
    """The shape a and b broadcast to, or a ValueError naming both."""
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        raise ValueError(
            f"{name_a} {tuple(a)} and {name_b} {tuple(b)} do not broadcast"
        ) from None


def check_cosine(x: Tensor, w: Tensor, dim: int, eps: float) -> None:
    """x and w of at least 1 dimension that broadcast, dim within their broadcast shape,
    eps > 0. Dtypes: float32, float64."""
    check_float("x", x, min_dim=1)
    check_float("w", w, min_dim=1)
    check_number("eps", eps, positive=True)
    shape = broadcast_shape("x", x.shape, "w", w.shape)
    if not -len(shape) <= dim < len(shape):
        raise ValueError(f"dim={dim} is out of range for the broadcast shape {shape}")


def check_similarity(A: Tensor, B: Tensor, eps: float) -> None:
    """A (m, d) and B (n, d), eps > 0. Dtypes: float32, float64."""
    check_float("A", A, dim=2)
    check_float("B", B, dim=2)
    check_number("eps", eps, positive=True)
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"rows of A {tuple(A.shape)} and B {tuple(B.shape)} must have the same "
            f"length, got {A.shape[1]} and {B.shape[1]}"
        )


def check_matmul(X: Tensor, Y: Tensor) -> None:
    """X (..., a, b) and Y (..., b, c) of one dtype, batch dimensions that broadcast.
    Dtypes: float32, float64."""
    check_float("X", X, min_dim=2)
    check_float("Y", Y, min_dim=2)
    if X.dtype != Y.dtype:
        raise ValueError(
            f"X and Y must have the same dtype, got {X.dtype} and {Y.dtype}"
        )
    if X.shape[-1] != Y.shape[-2]:
        raise ValueError(
            f"inner dimensions differ: X {tuple(X.shape)} has {X.shape[-1]} "
            f"columns, Y {tuple(Y.shape)} has {Y.shape[-2]} rows"
        )
    broadcast_shape(
        "the batch dimensions of X", X.shape[:-2], "those of Y", Y.shape[:-2]
    )


def check_same_shape(x: Tensor, y: Tensor) -> None:
    """Two floating-point tensors of one shape. Dtypes: float32, float64."""
    check_float("x", x)
    check_float("y", y)
    if x.shape != y.shape:
        raise ValueError(
            f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same shape"
        )


def check_layers(W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor) -> None:
    """Two linear layers W1 (h, c), b1 (h,), W2 (o, h), b2 (o,), one after the other.
    Dtypes: float32, float64."""
    for name, t, dim in (("W1", W1, 2), ("b1", b1, 1), ("W2", W2, 2), ("b2", b2, 1)):
        check_float(name, t, dim=dim)
    h, o = W1.shape[0], W2.shape[0]
    if b1.shape[0] != h:
        raise ValueError(
            f"b1 {tuple(b1.shape)} must have one entry per row of W1 {tuple(W1.shape)}"
        )
    if W2.shape[1] != h:
        raise ValueError(
            f"W2 {tuple(W2.shape)} must take the {h} outputs of W1 "
            f"{tuple(W1.shape)} as inputs"
        )
    if b2.shape[0] != o:
        raise ValueError(
            f"b2 {tuple(b2.shape)} must have one entry per row of W2 {tuple(W2.shape)}"
        )


# --8<-- [end:checks]


# --8<-- [start:cosine_similarity]
def cosine_similarity(x: Tensor, w: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """cos(x, w) = x . w / (max(||x||, eps) max(||w||, eps)) along ``dim``.

    x and w broadcast against each other first; the result has their broadcast shape
    without ``dim``. Each norm is clamped at eps separately, as in
    torch.nn.functional.cosine_similarity, so a zero vector has similarity 0, not nan.
    Dtypes: float32, float64.
    """
    check_cosine(x, w, dim, eps)
    x, w = torch.broadcast_tensors(x, w)  # the norms of the broadcast vectors
    x_norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True).clamp(min=eps)
    w_norm = torch.linalg.vector_norm(w, dim=dim, keepdim=True).clamp(min=eps)
    return (x / x_norm * (w / w_norm)).sum(dim)


# --8<-- [end:cosine_similarity]


# --8<-- [start:similarity_matrix]
def similarity_matrix(A: Tensor, B: Tensor, eps: float = 1e-8) -> Tensor:
    """S_ij = cos(A_i, B_j) for the rows of A (m, d) and B (n, d): S is (m, n).

    Normalise every row once, then one matrix product computes all m n dot products:
    S = A_hat B_hat^T with A_hat_i = A_i / max(||A_i||, eps).
    Dtypes: float32, float64.
    """
    check_similarity(A, B, eps)
    A_hat = A / torch.linalg.vector_norm(A, dim=1, keepdim=True).clamp(min=eps)
    B_hat = B / torch.linalg.vector_norm(B, dim=1, keepdim=True).clamp(min=eps)
    return A_hat @ B_hat.T


# --8<-- [end:similarity_matrix]


# --8<-- [start:batched_matmul]
def batched_matmul(X: Tensor, Y: Tensor) -> Tensor:
    """Z[..., i, k] = sum_j X[..., i, j] Y[..., j, k]: X (..., a, b) and Y (..., b, c)
    give Z (..., a, c), one matrix product per batch index.

    The batch dimensions ``...`` broadcast as in torch.matmul: (2, 1, a, b) with
    (5, b, c) gives (2, 5, a, c). Dtypes: float32, float64.
    """
    check_matmul(X, Y)
    return torch.einsum("...ab,...bc->...ac", X, Y)


# --8<-- [end:batched_matmul]


# --8<-- [start:linearity_defect]
def linearity_defect(
    f: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, a: float, b: float
) -> float:
    """max |f(a x + b y) - (a f(x) + b f(y))| over the elements of the output.

    f is linear when this is 0 for all x, y, a, b; affine (linear plus a constant) when
    it is 0 whenever a + b = 1. One draw that gives a large value proves f is not
    linear. Dtypes: float32, float64.
    """
    check_same_shape(x, y)
    return (f(a * x + b * y) - (a * f(x) + b * f(y))).abs().max().item()


# --8<-- [end:linearity_defect]


# --8<-- [start:collapse_linear]
def collapse_linear(
    W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor
) -> tuple[Tensor, Tensor]:
    """The one affine layer equal to layer 2 after layer 1, without a non-linearity
    between:

        W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2),

    with W1 (h, c), b1 (h,), W2 (o, h), b2 (o,) -> W (o, c), b (o,), in
    torch.nn.Linear's layout (weight (out, in)). Dtypes: float32, float64.
    """
    check_layers(W1, b1, W2, b2)
    return W2 @ W1, W2 @ b1 + b2


# --8<-- [end:collapse_linear]

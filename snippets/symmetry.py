"""Symmetry groups as matrices and functions that respect them: Haar-random orthogonal
and permutation matrices, the Gram matrix and the O(d)-invariant and -equivariant
functions built from it, centring, sorting as a canonical form, orthogonal Procrustes
and hidden-unit permutations.

A point cloud ``X`` is (n, d), one point per row. An orthogonal ``Q`` (d, d) acts on it
as ``X Q^T`` (every point x_i -> Q x_i), a permutation matrix ``P`` (n, n) as ``P X``
(the points reordered). Every function checks its input and raises ValueError naming
what is wrong. This module imports torch, the standard library and the package's shared
checks (snippets/checks.py).
"""

# --8<-- [start:imports]
from typing import Callable

import torch
from torch import Tensor

from snippets.checks import check_float, check_int
# --8<-- [end:imports]

__all__ = [
    "random_orthogonal",
    "random_permutation_matrix",
    "equivariance_defect",
    "gram",
    "distances_from_gram",
    "equivariant_from_gram",
    "recover_from_gram",
    "procrustes",
    "centre",
    "sort_rows",
    "permute_hidden",
]


# --8<-- [start:checks]
def check_cloud(name: str, X: Tensor) -> None:
    """A point cloud: a finite floating (n, d) tensor with n >= 1 points and d >= 1
    coordinates. Dtypes: float32, float64."""
    check_float(name, X, finite=True)
    if X.dim() != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"{name} must be a point cloud of shape (n, d) with n, d >= 1, "
            f"got shape {tuple(X.shape)}"
        )


def check_square(name: str, M: Tensor) -> None:
    """A finite floating (k, k) matrix. Dtypes: float32, float64."""
    check_float(name, M, dim=2, finite=True)
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(M.shape)}")


def check_orthogonal(d: int, dtype: torch.dtype) -> None:
    """A size d >= 1 and a floating-point dtype."""
    check_int("d", d, low=1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


def check_weights(W: Tensor, X: Tensor) -> None:
    """Weights W (m, n) for the n points of X (n, d). Dtypes: float32, float64."""
    if not isinstance(W, Tensor) or W.dim() != 2 or W.shape[1] != X.shape[0]:
        raise ValueError(
            f"weight_fn must return weights W of shape (m, {X.shape[0]}) for the "
            f"{X.shape[0]} points of X, got {tuple(getattr(W, 'shape', ()))}"
        )


def check_procrustes(A: Tensor, B: Tensor) -> None:
    """Two point clouds of one shape (n, d). Dtypes: float32, float64."""
    check_cloud("A", A)
    check_cloud("B", B)
    if A.shape != B.shape:
        raise ValueError(
            f"A {tuple(A.shape)} and B {tuple(B.shape)} must have the same shape"
        )


def check_recover(G: Tensor, d: int) -> None:
    """A Gram matrix G (n, n) and 1 <= d <= n coordinates. Dtypes: float32, float64."""
    check_square("G", G)
    check_int("d", d, low=1)
    if d > G.shape[0]:
        raise ValueError(
            f"d={d} coordinates need at least d points, got a ({G.shape[0]}, "
            f"{G.shape[0]}) Gram matrix"
        )


def check_hidden(W1: Tensor, b1: Tensor, W2: Tensor, perm: Tensor) -> None:
    """W1 (h, c_in), b1 (h,), W2 (c_out, h), finite, and perm an int64 permutation of
    range(h). Dtypes: float32, float64."""
    check_float("W1", W1, dim=2, finite=True)
    check_float("b1", b1, dim=1, finite=True)
    check_float("W2", W2, dim=2, finite=True)
    h = W1.shape[0]
    if b1.shape[0] != h or W2.shape[1] != h:
        raise ValueError(
            f"W1 {tuple(W1.shape)}, b1 {tuple(b1.shape)} and W2 {tuple(W2.shape)} "
            f"must agree on the hidden width {h}"
        )
    if (
        not isinstance(perm, Tensor)
        or perm.dtype != torch.int64
        or perm.shape != (h,)
        or not torch.equal(perm.sort().values, torch.arange(h, device=perm.device))
    ):
        got = perm.tolist() if isinstance(perm, Tensor) else perm
        raise ValueError(
            f"perm must be a permutation of range({h}) (an int64 tensor), got {got!r}"
        )


# --8<-- [end:checks]


# --8<-- [start:random_orthogonal]
def random_orthogonal(
    d: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    special: bool = False,
    *,
    device=None,
) -> Tensor:
    """A Haar-distributed (uniformly random) Q in O(d), or in SO(d) when ``special``:
    (d, d).

    QR of a Gaussian A gives A = Q R, but the factorisation is unique only up to the
    signs of R's diagonal, and LAPACK's choice of signs depends on A. Fixing them
    (Q <- Q diag(sign R_ii), so that R_ii > 0) makes Q a function of A that commutes
    with rotations, hence Haar. For SO(d), a reflection of the first column maps the
    det -1 half onto the det +1 half. A is drawn where ``generator`` lives (the same Q
    on every device), then moved to ``device``. Dtypes: float32, float64 (default)."""
    check_orthogonal(d, dtype)
    where = device if generator is None else generator.device
    A = torch.randn(d, d, generator=generator, dtype=dtype, device=where).to(device)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sgn(torch.diagonal(R))  # column j times sign(R_jj)
    if special and torch.linalg.det(Q) < 0:
        Q[:, 0] = -Q[:, 0]
    return Q


# --8<-- [end:random_orthogonal]


# --8<-- [start:random_permutation]
def random_permutation_matrix(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    *,
    device=None,
) -> Tensor:
    """A uniformly random permutation matrix P (n, n) with P[i, perm[i]] = 1, so that
    (P X)[i] = X[perm[i]]: P X is ``X[perm]``. perm is drawn where ``generator`` lives,
    P made on ``device``. Dtypes: float32, float64 (default), any other: its entries 0
    and 1 are exact."""
    check_int("n", n, low=1)
    where = device if generator is None else generator.device
    perm = torch.randperm(n, generator=generator, device=where).to(device)
    return torch.eye(n, dtype=dtype, device=device)[perm]


# --8<-- [end:random_permutation]


# --8<-- [start:equivariance_defect]
def equivariance_defect(
    f: Callable[[Tensor], Tensor],
    X: Tensor,
    g_in: Callable[[Tensor], Tensor],
    g_out: Callable[[Tensor], Tensor] = lambda Y: Y,
) -> float:
    """max |f(g_in(X)) - g_out(f(X))|: 0 when f is equivariant for this group element (g
    acting as g_in on inputs and g_out on outputs); with the default g_out, the
    identity, 0 when f is invariant; 0 when the outputs are empty (nothing violates).
    Dtypes: float32, float64."""
    check_float("X", X, finite=True)
    defect = (f(g_in(X)) - g_out(f(X))).abs()
    return defect.max().item() if defect.numel() else 0.0


# --8<-- [end:equivariance_defect]


# --8<-- [start:gram]
def gram(X: Tensor) -> Tensor:
    """G = X X^T, (n, n): G_ij = <x_i, x_j>, every inner product of two points. For Q in
    O(d), (X Q^T)(X Q^T)^T = X Q^T Q X^T = X X^T, so G is O(d)-invariant. Dtypes:
    float32, float64."""
    check_cloud("X", X)
    return X @ X.T


def distances_from_gram(G: Tensor) -> Tensor:
    """Pairwise distances D_ij = |x_i - x_j| = sqrt(G_ii + G_jj - 2 G_ij) from a Gram
    matrix (n, n); the square is clamped at 0 against rounding. Dtypes: float32,
    float64."""
    check_square("G", G)
    g = torch.diagonal(G)
    return (g[:, None] + g[None, :] - 2 * G).clamp(min=0).sqrt()


# --8<-- [end:gram]


# --8<-- [start:equivariant_from_gram]
def equivariant_from_gram(X: Tensor, weight_fn: Callable[[Tensor], Tensor]) -> Tensor:
    """f(X) = W(G) X with G = X X^T and W = weight_fn(G) of shape (m, n): every output
    row is a weighted sum sum_j W_ij x_j of the points, with weights computed from inner
    products only. f(X Q^T) = W(G) X Q^T = f(X) Q^T: O(d)-equivariant for any weight_fn.
    X (n, d) -> (m, d). Dtypes: float32, float64."""
    G = gram(X)
    W = weight_fn(G)
    check_weights(W, X)
    return W @ X


# --8<-- [end:equivariant_from_gram]


# --8<-- [start:procrustes]
def procrustes(A: Tensor, B: Tensor) -> Tensor:
    """Orthogonal Procrustes: the Q in O(d) minimising |A Q^T - B|_F for point clouds
    A, B (n, d), i.e. the orthogonal map that best takes each a_i to b_i. With
    B^T A = U S V^T (SVD), Q = U V^T: it maximises tr(Q^T B^T A) = tr(S U^T Q V), which
    is largest when U^T Q V = I. Dtypes: float32, float64."""
    check_procrustes(A, B)
    U, _, Vh = torch.linalg.svd(B.T @ A)
    return U @ Vh


# --8<-- [end:procrustes]


# --8<-- [start:recover_from_gram]
def recover_from_gram(G: Tensor, d: int) -> Tensor:
    """A point cloud X_hat (n, d) with X_hat X_hat^T = G, for G = X X^T of rank at most
    d: with G = V diag(lam) V^T (eigenvalues descending), X_hat = V_d diag(lam_d)^{1/2}.
    Any X with that Gram matrix is X_hat Q^T for some Q in O(d). Dtypes: float32,
    float64."""
    check_recover(G, d)
    lam, V = torch.linalg.eigh(G)  # ascending
    lam, V = lam.flip(0)[:d], V.flip(1)[:, :d]
    return V * lam.clamp(min=0).sqrt()


# --8<-- [end:recover_from_gram]


# --8<-- [start:centre]
def centre(X: Tensor) -> Tensor:
    """X - 1 mean(X): the point cloud moved so that its centroid (1/n) sum_i x_i is at
    0. A translation x_i -> x_i + t moves the centroid by t too, so
    centre(X + 1 t^T) = centre(X), and centre(X Q^T) = centre(X) Q^T.
    X (n, d) -> (n, d). Dtypes: float32, float64."""
    check_cloud("X", X)
    return X - X.mean(dim=0, keepdim=True)


# --8<-- [end:centre]


# --8<-- [start:sort_rows]
def sort_rows(X: Tensor) -> Tensor:
    """The rows of X (n, d) in lexicographic order: the same result for every ordering
    of the rows, so f(sort_rows(X)) is permutation-invariant for any f. Stable sorts by
    the last column, then the one before, ..., then the first: ties are broken by the
    later columns. Dtypes: float32, float64."""
    check_cloud("X", X)
    order = torch.arange(X.shape[0], device=X.device)
    for j in reversed(range(X.shape[1])):
        order = order[torch.sort(X[order, j], stable=True).indices]
    return X[order]


# --8<-- [end:sort_rows]


# --8<-- [start:permute_hidden]
def permute_hidden(
    W1: Tensor, b1: Tensor, W2: Tensor, perm: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The hidden units of x -> W2 phi(W1 x + b1) reordered by perm: (W1[perm],
    b1[perm], W2[:, perm]). With P the permutation matrix, that is (P W1, P b1, W2 P^T),
    and W2 P^T phi(P (W1 x + b1)) = W2 P^T P phi(W1 x + b1): the same function, for any
    elementwise phi. W1 (h, c_in), b1 (h,), W2 (c_out, h), perm a permutation of
    range(h). Dtypes: float32, float64."""
    check_hidden(W1, b1, W2, perm)
    return W1[perm], b1[perm], W2[:, perm]


# --8<-- [end:permute_hidden]

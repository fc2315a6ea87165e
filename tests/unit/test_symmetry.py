"""snippets.symmetry against independent computations: orthogonality, determinants and Haar
moments of the random matrices; the Gram matrix against dot products one pair at a time and
torch.cdist; equivariance under random orthogonal maps, translations and permutations;
Procrustes against its optimality condition (the polar decomposition); sorting against
Python's sorted; hidden-unit permutations against the permutation-matrix form; and the errors
for bad input."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.symmetry import (
    centre,
    distances_from_gram,
    equivariance_defect,
    equivariant_from_gram,
    gram,
    permute_hidden,
    procrustes,
    random_orthogonal,
    random_permutation_matrix,
    recover_from_gram,
    sort_rows,
)

F64 = torch.float64


@st.composite
def clouds(draw, min_n: int = 1, max_n: int = 8, max_d: int = 5, dtypes=DTYPES):
    """A point cloud X (n, d) of N(0, 1) points, n and d drawn, in a drawn dtype, with the
    generator that drew it (for the group elements)."""
    n, d = draw(st.integers(min_n, max_n)), draw(st.integers(1, max_d))
    gen = seeded(draw)
    return torch.randn(n, d, generator=gen, dtype=draw(st.sampled_from(dtypes))), gen


# First, one check for each plausible mistake of tests/mutation/mutants.py: a mutant run stops at the
# first failure, so these come before the broader properties below.


@pytest.mark.parametrize("special", [False, True])
def test_random_orthogonal_has_the_haar_moments(special):
    """Haar on O(3) or SO(3): E[Q] = 0 and E[Q_ij^2] = 1/3. 1000 draws give each mean a
    standard error of 0.018; without the sign fix of R's diagonal, Q_00 is always negative
    and its mean about -0.5."""
    gen = torch.Generator().manual_seed(3 + special)
    Qs = torch.stack([random_orthogonal(3, gen, special=special) for _ in range(1000)])
    assert Qs.mean(0).abs().max() < 0.09
    torch.testing.assert_close(
        Qs.square().mean(0), torch.full((3, 3), 1 / 3, dtype=F64), rtol=0, atol=0.05
    )
    dets = torch.linalg.det(Qs)
    if special:
        assert (dets > 0).all()
    else:  # both halves of O(3), about equally often
        assert 0.4 < (dets > 0).double().mean() < 0.6


@given(clouds())
def test_gram_is_every_inner_product(case):
    X, _ = case
    n = X.shape[0]
    G = gram(X)
    assert G.shape == (n, n) and G.dtype == X.dtype
    expected = torch.tensor(
        [
            [
                float(np.dot(X[i].double().numpy(), X[j].double().numpy()))
                for j in range(n)
            ]
            for i in range(n)
        ],
        dtype=F64,
    )
    torch.testing.assert_close(G.double(), expected, **tol(X.dtype))
    torch.testing.assert_close(G, G.T)


@given(clouds())
def test_centre_moves_the_centroid_to_zero_and_undoes_translations(case):
    X, gen = case
    n, d = X.shape
    Q = random_orthogonal(d, gen, X.dtype)
    t = 5 * torch.randn(d, generator=gen, dtype=X.dtype)
    C = centre(X)
    torch.testing.assert_close(
        C, torch.from_numpy(X.numpy() - X.numpy().mean(axis=0)), **tol(X.dtype)
    )
    torch.testing.assert_close(C.mean(0), torch.zeros(d, dtype=X.dtype), **tol(X.dtype))
    big = dict(rtol=1e-4, atol=1e-4) if X.dtype == torch.float32 else tol(X.dtype)
    torch.testing.assert_close(centre(X @ Q.T + t), C @ Q.T, **big)
    torch.testing.assert_close(gram(centre(X @ Q.T + t)), gram(C), **big)


@given(clouds(min_n=1, dtypes=[F64]))
def test_procrustes_recovers_a_planted_orthogonal_map(case):
    X, gen = case
    n, d = X.shape
    if n < d:  # fewer points than coordinates: Q is not determined
        X = torch.cat([X, torch.randn(d - n, d, generator=gen, dtype=F64)])
    Q0 = random_orthogonal(d, gen)
    torch.testing.assert_close(procrustes(X, X @ Q0.T), Q0)


# Groups as matrices


@given(st.integers(1, 8), st.sampled_from(DTYPES), st.booleans(), st.integers(0, 2**16))
def test_random_orthogonal_is_orthogonal_with_det_plus_or_minus_one(
    d, dtype, special, seed
):
    Q = random_orthogonal(
        d, torch.Generator().manual_seed(seed), dtype, special=special
    )
    assert Q.shape == (d, d) and Q.dtype == dtype
    torch.testing.assert_close(Q.T @ Q, torch.eye(d, dtype=dtype), **tol(dtype))
    torch.testing.assert_close(Q @ Q.T, torch.eye(d, dtype=dtype), **tol(dtype))
    det = torch.linalg.det(Q.double()).item()
    assert math.isclose(abs(det), 1, rel_tol=1e-5)
    if special:
        assert det > 0
    again = random_orthogonal(
        d, torch.Generator().manual_seed(seed), dtype, special=special
    )
    assert torch.equal(Q, again), "not a function of the generator's state"


@given(st.integers(1, 7), st.integers(0, 2**16))
def test_random_permutation_matrix_reorders_rows(n, seed):
    gen = torch.Generator().manual_seed(seed)
    P = random_permutation_matrix(n, gen)
    assert P.shape == (n, n) and P.dtype == F64
    assert (
        ((P == 0) | (P == 1)).all() and (P.sum(0) == 1).all() and (P.sum(1) == 1).all()
    )
    # the same draw
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    X = torch.randn(n, 3, dtype=F64)
    torch.testing.assert_close(P @ X, X[perm])
    torch.testing.assert_close(P.T @ P, torch.eye(n, dtype=F64))


def test_random_permutation_matrix_is_uniform():
    """3000 draws of a 3 x 3 permutation matrix: each of the 3! = 6 appears 500 +- 80 times
    (4 standard deviations)."""
    gen = torch.Generator().manual_seed(0)
    counts = {}
    for _ in range(3000):
        key = tuple(random_permutation_matrix(3, gen).argmax(1).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert sorted(counts) == sorted(itertools.permutations(range(3)))
    assert all(420 <= c <= 580 for c in counts.values()), counts


def test_equivariance_defect_is_the_largest_violation():
    X = torch.arange(6.0, dtype=F64).reshape(3, 2)
    assert (
        equivariance_defect(lambda X: X, X, lambda X: X.flip(0), lambda Y: Y.flip(0))
        == 0
    )
    assert equivariance_defect(lambda X: X, X, lambda X: X + 1) == 1
    assert (
        equivariance_defect(lambda X: 2 * X, X, lambda X: 3 * X, lambda Y: Y)
        == 2 * 2 * 5
    )
    # no points, no violation
    assert equivariance_defect(lambda X: X, X[:0], lambda X: X + 1) == 0


# The Gram matrix


@given(clouds())
def test_gram_is_orthogonally_invariant_and_permutation_equivariant(case):
    X, gen = case
    n, d = X.shape
    Q = random_orthogonal(d, gen, X.dtype)
    perm = torch.randperm(n, generator=gen)
    torch.testing.assert_close(gram(X @ Q.T), gram(X), **tol(X.dtype))
    torch.testing.assert_close(gram(X[perm]), gram(X)[perm][:, perm])


@given(clouds())
def test_distances_from_gram_match_cdist(case):
    X, gen = case
    X = X * 3 + torch.randn(X.shape[1], generator=gen, dtype=X.dtype)  # off the origin
    D = distances_from_gram(gram(X))
    expected = torch.cdist(X.double(), X.double())
    # The difference of squares loses ~eps * |x|^2 absolutely, so D loses ~sqrt of that near 0.
    atol = 3e-3 if X.dtype == torch.float32 else 1e-6
    torch.testing.assert_close(D.double(), expected, rtol=1e-4, atol=atol)
    assert (torch.diagonal(D) == 0).all()


WEIGHTS = {
    "softmax": lambda G: torch.softmax(G, dim=1),
    "kernel": lambda G: torch.exp(-(distances_from_gram(G) ** 2)),
    "polynomial": lambda G: G @ G / 10 - G + torch.eye(G.shape[0], dtype=G.dtype),
    "two-outputs": lambda G: torch.softmax(G[:2], dim=1),  # m = 2 rows out
}


@pytest.mark.parametrize("weights", WEIGHTS)
@given(case=clouds(min_n=3))
def test_equivariant_from_gram_is_a_weighted_sum_and_orthogonally_equivariant(
    weights, case
):
    X, gen = case
    X = X.double()
    Q = random_orthogonal(X.shape[1], gen)
    f = lambda X: equivariant_from_gram(X, WEIGHTS[weights])
    Y = f(X)
    W = WEIGHTS[weights](X @ X.T)
    torch.testing.assert_close(Y, torch.einsum("ij,jd->id", W, X))
    assert equivariance_defect(f, X, lambda X: X @ Q.T, lambda Y: Y @ Q.T) < 1e-10 * (
        1 + Y.abs().max()
    )


@given(clouds(min_n=2, dtypes=[F64]))
def test_equivariant_from_gram_with_equivariant_weights_is_permutation_equivariant(
    case,
):
    X, gen = case
    perm = torch.randperm(X.shape[0], generator=gen)
    f = lambda X: equivariant_from_gram(X, lambda G: torch.softmax(G, dim=1))
    assert equivariance_defect(f, X, lambda X: X[perm], lambda Y: Y[perm]) < 1e-12


# Procrustes and recovery from the Gram matrix


@given(clouds(dtypes=[F64]), st.sampled_from([0.0, 0.1, 1.0, 10.0]))
def test_procrustes_is_the_orthogonal_polar_factor_and_beats_random_maps(case, noise):
    """For M = B^T A, the maximiser of tr(Q^T M) over O(d) is the Q with M = Q S, S symmetric
    positive semi-definite; no random orthogonal map fits better."""
    A, gen = case
    n, d = A.shape
    B = A @ random_orthogonal(d, gen).T + noise * torch.randn(
        n, d, generator=gen, dtype=F64
    )
    Q = procrustes(A, B)
    torch.testing.assert_close(Q.T @ Q, torch.eye(d, dtype=F64))
    S = Q.T @ (B.T @ A)
    torch.testing.assert_close(S, S.T, atol=1e-10, rtol=0)
    assert torch.linalg.eigvalsh((S + S.T) / 2).min() > -1e-9 * (1 + S.abs().max())
    best = torch.linalg.matrix_norm(A @ Q.T - B)
    for _ in range(5):
        R = random_orthogonal(d, gen)
        assert best <= torch.linalg.matrix_norm(A @ R.T - B) + 1e-10


@given(clouds(dtypes=[F64]))
def test_recover_from_gram_finds_the_cloud_up_to_an_orthogonal_map(case):
    X, gen = case
    n, d = X.shape
    if d > n:
        X = torch.cat([X, torch.randn(d - n, d, generator=gen, dtype=F64)])
    X = X @ random_orthogonal(d, gen).T
    X_hat = recover_from_gram(gram(X), d)
    assert X_hat.shape == X.shape
    torch.testing.assert_close(gram(X_hat), gram(X))
    torch.testing.assert_close(X_hat @ procrustes(X_hat, X).T, X)


def test_recover_from_gram_of_a_low_rank_cloud():
    """Points on a plane in 3-D: rank 2, and the third coordinate comes back as 0."""
    gen = torch.Generator().manual_seed(1)
    X = torch.cat(
        [torch.randn(6, 2, generator=gen, dtype=F64), torch.zeros(6, 1, dtype=F64)], 1
    )
    X_hat = recover_from_gram(gram(X), 3)
    torch.testing.assert_close(
        X_hat[:, 2], torch.zeros(6, dtype=F64), atol=1e-7, rtol=0
    )
    torch.testing.assert_close(gram(X_hat), gram(X))


# Translations and sorting


@st.composite
def clouds_with_ties(draw):
    """Small-integer point clouds, so that equal coordinates and equal rows occur."""
    n, d = draw(st.integers(1, 8)), draw(st.integers(1, 3))
    gen = seeded(draw)
    return torch.randint(-2, 3, (n, d), generator=gen).to(
        draw(st.sampled_from(DTYPES))
    ), gen


@given(clouds_with_ties())
def test_sort_rows_is_lexicographic_and_forgets_the_order(case):
    X, gen = case
    S = sort_rows(X)
    assert S.tolist() == sorted(X.tolist())
    perm = torch.randperm(X.shape[0], generator=gen)
    assert torch.equal(sort_rows(X[perm]), S)


# Hidden units

ACTIVATIONS = [F.relu, torch.tanh, F.gelu, torch.sigmoid]


@pytest.mark.parametrize("phi", ACTIVATIONS, ids=lambda f: f.__name__)
@given(
    h=st.integers(1, 6),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_permute_hidden_keeps_the_function(phi, h, c_in, c_out, seed):
    gen = torch.Generator().manual_seed(seed)
    W1, b1 = (
        torch.randn(h, c_in, generator=gen, dtype=F64),
        torch.randn(h, generator=gen, dtype=F64),
    )
    W2 = torch.randn(c_out, h, generator=gen, dtype=F64)
    x = torch.randn(7, c_in, generator=gen, dtype=F64)
    perm = torch.randperm(h, generator=gen)
    W1p, b1p, W2p = permute_hidden(W1, b1, W2, perm)
    P = torch.eye(h, dtype=F64)[perm]
    torch.testing.assert_close(W1p, P @ W1)
    torch.testing.assert_close(b1p, P @ b1)
    torch.testing.assert_close(W2p, W2 @ P.T)
    torch.testing.assert_close(phi(x @ W1p.T + b1p) @ W2p.T, phi(x @ W1.T + b1) @ W2.T)


def test_every_permutation_of_five_hidden_units_keeps_the_function():
    gen = torch.Generator().manual_seed(2)
    W1, b1 = (
        torch.randn(5, 3, generator=gen, dtype=F64),
        torch.randn(5, generator=gen, dtype=F64),
    )
    W2 = torch.randn(2, 5, generator=gen, dtype=F64)
    x = torch.randn(9, 3, generator=gen, dtype=F64)
    y = F.relu(x @ W1.T + b1) @ W2.T
    seen = set()
    for perm in itertools.permutations(range(5)):
        W1p, b1p, W2p = permute_hidden(W1, b1, W2, torch.tensor(perm))
        torch.testing.assert_close(F.relu(x @ W1p.T + b1p) @ W2p.T, y)
        seen.add(tuple(torch.cat([W1p.flatten(), b1p, W2p.flatten()]).tolist()))
    assert len(seen) == math.factorial(5)


# Errors


def bad(name: str, call, message: str):
    """A call that must raise ValueError matching message."""
    return pytest.param(call, message, id=name)


Z = torch.zeros
BAD = [
    bad(
        "gram-1-d",
        lambda: gram(Z(5)),
        r"X must be a point cloud of shape \(n, d\).*\(5,\)",
    ),
    bad("gram-3-d", lambda: gram(Z(2, 3, 4)), r"X must be a point cloud.*\(2, 3, 4\)"),
    bad("gram-empty", lambda: gram(Z(0, 3)), r"X must be a point cloud.*\(0, 3\)"),
    bad(
        "gram-integer",
        lambda: gram(torch.ones(2, 2, dtype=torch.int64)),
        r"X must be a floating-point tensor, got torch.int64",
    ),
    bad(
        "gram-inf",
        lambda: gram(torch.tensor([[1.0, float("inf")]])),
        r"X has non-finite values",
    ),
    bad(
        "distances-not-square",
        lambda: distances_from_gram(Z(3, 4)),
        r"G must be a square matrix, got shape \(3, 4\)",
    ),
    bad(
        "distances-1-d",
        lambda: distances_from_gram(Z(3)),
        r"G must have 2 dimension\(s\)",
    ),
    bad(
        "weights-wrong-width",
        lambda: equivariant_from_gram(Z(5, 3), lambda G: G[:, :3]),
        r"weight_fn must return weights W of shape \(m, 5\) .* got \(5, 3\)",
    ),
    bad(
        "weights-1-d",
        lambda: equivariant_from_gram(Z(5, 3), lambda G: G[0]),
        r"weight_fn must return weights W of shape \(m, 5\) .* got \(5,\)",
    ),
    bad(
        "weights-not-a-tensor",
        lambda: equivariant_from_gram(Z(5, 3), lambda G: 1.0),
        r"weight_fn must return weights W of shape \(m, 5\)",
    ),
    bad(
        "procrustes-d-mismatch",
        lambda: procrustes(Z(5, 3), Z(5, 2)),
        r"A \(5, 3\) and B \(5, 2\) must have the same shape",
    ),
    bad(
        "procrustes-n-mismatch",
        lambda: procrustes(Z(4, 3), Z(5, 3)),
        r"A \(4, 3\) and B \(5, 3\) must have the same shape",
    ),
    bad("procrustes-1-d", lambda: procrustes(Z(3), Z(3)), r"A must be a point cloud"),
    bad(
        "recover-not-square",
        lambda: recover_from_gram(Z(3, 2), 2),
        r"G must be a square matrix",
    ),
    bad(
        "recover-too-many-coordinates",
        lambda: recover_from_gram(Z(3, 3), 4),
        r"d=4 coordinates need at least d points, got a \(3, 3\) Gram matrix",
    ),
    bad(
        "recover-d-zero",
        lambda: recover_from_gram(Z(3, 3), 0),
        r"d must be an integer >= 1, got 0",
    ),
    bad(
        "orthogonal-d-zero",
        lambda: random_orthogonal(0),
        r"d must be an integer >= 1, got 0",
    ),
    bad(
        "orthogonal-d-float",
        lambda: random_orthogonal(3.0),
        r"d must be an integer >= 1, got 3.0",
    ),
    bad(
        "orthogonal-d-bool",
        lambda: random_orthogonal(True),
        r"d must be an integer >= 1, got True",
    ),
    bad(
        "permutation-n-negative",
        lambda: random_permutation_matrix(-1),
        r"n must be an integer >= 1, got -1",
    ),
    bad("centre-1-d", lambda: centre(Z(4)), r"X must be a point cloud.*\(4,\)"),
    bad(
        "centre-nan",
        lambda: centre(torch.tensor([[0.0, float("nan")]])),
        r"X has non-finite values",
    ),
    bad("sort-1-d", lambda: sort_rows(Z(4)), r"X must be a point cloud.*\(4,\)"),
    bad(
        "hidden-b1-length",
        lambda: permute_hidden(Z(3, 2), Z(4), Z(1, 3), torch.arange(3)),
        r"W1 \(3, 2\), b1 \(4,\) and W2 \(1, 3\) must agree on the hidden width 3",
    ),
    bad(
        "hidden-W2-columns",
        lambda: permute_hidden(Z(3, 2), Z(3), Z(3, 1), torch.arange(3)),
        r"must agree on the hidden width 3",
    ),
    bad(
        "hidden-repeated-index",
        lambda: permute_hidden(Z(3, 2), Z(3), Z(1, 3), torch.tensor([0, 1, 1])),
        r"perm must be a permutation of range\(3\).*\[0, 1, 1\]",
    ),
    bad(
        "hidden-short-perm",
        lambda: permute_hidden(Z(3, 2), Z(3), Z(1, 3), torch.tensor([1, 0])),
        r"perm must be a permutation of range\(3\)",
    ),
    bad(
        "hidden-float-perm",
        lambda: permute_hidden(Z(3, 2), Z(3), Z(1, 3), torch.tensor([2.0, 1.0, 0.0])),
        r"perm must be a permutation of range\(3\)",
    ),
    bad(
        "hidden-list-perm",
        lambda: permute_hidden(Z(3, 2), Z(3), Z(1, 3), [2, 1, 0]),
        r"perm must be a permutation of range\(3\) \(an int64 tensor\), got \[2, 1, 0\]",
    ),
    bad(
        "hidden-W1-1-d",
        lambda: permute_hidden(Z(3), Z(3), Z(1, 3), torch.arange(3)),
        r"W1 must have 2 dimension\(s\)",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

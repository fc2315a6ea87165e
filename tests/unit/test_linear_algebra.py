"""snippets.linear_algebra against torch.nn.functional, torch.matmul / bmm, loops written out
and nn.Linear: cosine similarity (broadcasting, dims, tiny and zero vectors), similarity
matrices, batched matrix products over broadcast batch shapes, the linearity test, the
collapse of stacked linear layers, gradients by gradcheck, and the errors for bad input."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.linear_algebra import (
    batched_matmul,
    collapse_linear,
    cosine_similarity,
    linearity_defect,
    similarity_matrix,
)

F64 = torch.float64
SCALES = (1e-12, 1e-9, 1e-6, 1e-3, 1.0, 1e3)


# Cosine similarity


@st.composite
def cosine_problems(draw):
    """x, w of mutually broadcastable shapes (1-3 dimensions, sides 1-4), each scaled by a
    drawn scale (tiny ones included, so that eps matters), a dim of the broadcast shape,
    and eps."""
    shapes, result = draw(
        mutually_broadcastable_shapes(
            num_shapes=2, min_dims=1, max_dims=3, min_side=1, max_side=4
        )
    )
    dtype = draw(st.sampled_from(DTYPES))
    gen = seeded(draw)
    x, w = (
        draw(st.sampled_from(SCALES)) * torch.randn(s, generator=gen, dtype=dtype)
        for s in shapes
    )
    if draw(st.booleans()):
        # some zero entries or vectors
        x = x * (torch.rand(x.shape, generator=gen) < 0.5)
    dim = draw(st.integers(-len(result), len(result) - 1))
    eps = draw(st.sampled_from([1e-8, 1e-6, 1e-3]))
    return x, w, dim, eps


@given(cosine_problems())
def test_cosine_similarity_matches_torch(case):
    x, w, dim, eps = case
    expected = F.cosine_similarity(x, w, dim=dim, eps=eps)
    cos = cosine_similarity(x, w, dim=dim, eps=eps)
    assert cos.shape == expected.shape and cos.dtype == expected.dtype
    torch.testing.assert_close(cos, expected, **tol(x.dtype))
    assert (cos.abs() <= 1 + 1e-6).all()


@given(
    st.integers(1, 8),
    st.sampled_from(SCALES),
    st.sampled_from(SCALES),
    st.integers(0, 2**16),
)
def test_cosine_similarity_clamps_each_norm_at_eps(d, sx, sw, seed):
    """x . w / (max(|x|, eps) max(|w|, eps)), written out for one pair of vectors."""
    gen = torch.Generator().manual_seed(seed)
    x, w = (
        sx * torch.randn(d, generator=gen, dtype=F64),
        sw * torch.randn(d, generator=gen, dtype=F64),
    )
    expected = (x @ w).item() / (
        max(x.norm().item(), 1e-8) * max(w.norm().item(), 1e-8)
    )
    assert cosine_similarity(x, w).item() == pytest.approx(
        expected, rel=1e-10, abs=1e-15
    )


def test_cosine_similarity_of_a_vector_with_itself_and_with_zero():
    v = torch.tensor([3.0, -4.0], dtype=F64)
    for scale in (1e-7, 1e-3, 1.0, 1e6):
        assert cosine_similarity(scale * v, scale * v).item() == pytest.approx(
            1.0, rel=1e-12
        )
        assert cosine_similarity(scale * v, -v).item() == pytest.approx(-1.0, rel=1e-12)
    assert cosine_similarity(torch.zeros(2, dtype=F64), v).item() == 0.0
    assert cosine_similarity(1e-10 * v, v).item() == pytest.approx(
        25e-10 / (1e-8 * 5), rel=1e-12
    )


def test_cosine_similarity_broadcasts_along_the_reduced_dim_as_torch_does():
    """A size-1 dimension along dim stands for that many copies: its norm is of the copies."""
    gen = torch.Generator().manual_seed(0)
    x, w = (
        torch.randn(3, 1, generator=gen, dtype=F64),
        torch.randn(3, 4, generator=gen, dtype=F64),
    )
    torch.testing.assert_close(
        cosine_similarity(x, w), F.cosine_similarity(x, w, dim=-1)
    )
    torch.testing.assert_close(
        cosine_similarity(x, w), cosine_similarity(x.expand(3, 4), w)
    )


# Similarity matrices


@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 9),
    st.sampled_from(DTYPES),
    st.sampled_from(SCALES),
    st.integers(0, 2**16),
)
def test_similarity_matrix_holds_every_pairwise_cosine(m, n, d, dtype, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(m, d, generator=gen, dtype=dtype)
    B = torch.randn(n, d, generator=gen, dtype=dtype)
    S = similarity_matrix(A, B)
    assert S.shape == (m, n) and S.dtype == dtype
    torch.testing.assert_close(
        S, F.cosine_similarity(A[:, None], B[None], dim=-1), **tol(dtype)
    )
    for i in range(m):
        for j in range(n):
            torch.testing.assert_close(
                S[i, j], cosine_similarity(A[i], B[j]), **tol(dtype)
            )


def test_similarity_matrix_of_a_matrix_with_itself_has_ones_on_the_diagonal():
    A = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    S = similarity_matrix(A, A)
    torch.testing.assert_close(S.diagonal(), torch.ones(5, dtype=F64))
    torch.testing.assert_close(S, S.T)


# Batched matrix products


@st.composite
def matmul_problems(draw):
    """X (..., a, b) and Y (..., b, c) whose batch shapes (0-3 dimensions) broadcast."""
    (bx, by), _ = draw(
        mutually_broadcastable_shapes(
            num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3
        )
    )
    a, b, c = (draw(st.integers(1, 5)) for _ in range(3))
    dtype = draw(st.sampled_from(DTYPES))
    gen = seeded(draw)
    return (
        torch.randn(*bx, a, b, generator=gen, dtype=dtype),
        torch.randn(*by, b, c, generator=gen, dtype=dtype),
    )


@given(matmul_problems())
def test_batched_matmul_matches_torch_matmul(case):
    X, Y = case
    Z = batched_matmul(X, Y)
    expected = torch.matmul(X, Y)
    assert Z.shape == expected.shape and Z.dtype == X.dtype
    torch.testing.assert_close(Z, expected, **tol(X.dtype))


@given(
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 2**16),
)
def test_batched_matmul_is_one_product_per_batch_index(n, a, b, c, seed):
    gen = torch.Generator().manual_seed(seed)
    X, Y = (
        torch.randn(n, a, b, generator=gen, dtype=F64),
        torch.randn(n, b, c, generator=gen, dtype=F64),
    )
    Z = batched_matmul(X, Y)
    torch.testing.assert_close(Z, torch.bmm(X, Y))
    for i in range(n):
        for j in range(a):
            for k in range(c):
                assert Z[i, j, k].item() == pytest.approx(
                    math.fsum(X[i, j, l].item() * Y[i, l, k].item() for l in range(b)),
                    abs=1e-12,
                )


def test_batched_matmul_pairs_broadcast_batches():
    gen = torch.Generator().manual_seed(2)
    X, Y = (
        torch.randn(2, 1, 3, 4, generator=gen, dtype=F64),
        torch.randn(5, 4, 6, generator=gen, dtype=F64),
    )
    Z = batched_matmul(X, Y)
    assert Z.shape == (2, 5, 3, 6)
    for i in range(2):
        for j in range(5):
            torch.testing.assert_close(Z[i, j], X[i, 0] @ Y[j])


# Linearity and the collapse of linear layers


@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.integers(0, 2**16),
)
def test_linearity_defect_is_zero_for_linear_maps_and_positive_for_others(
    n, m, a, b, seed
):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(m, n, generator=gen, dtype=F64)
    bias = torch.randn(m, generator=gen, dtype=F64)
    x, y = torch.randn(2, n, generator=gen, dtype=F64)
    assert linearity_defect(lambda x: W @ x, x, y, a, b) < 1e-12
    assert linearity_defect(lambda x: W @ x + bias, x, y, a, 1 - a) < 1e-12  # affine
    expected = ((1 - a - b) * bias).abs().max().item()  # W x + bias
    assert linearity_defect(lambda x: W @ x + bias, x, y, a, b) == pytest.approx(
        expected, abs=1e-12
    )
    # 0 - x^2
    assert linearity_defect(torch.square, x, -x, 0.5, 0.5) == pytest.approx(
        x.square().max().item(), rel=1e-12
    )


@given(
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 4),
    st.sampled_from(DTYPES),
    st.integers(0, 2**16),
)
def test_collapse_linear_equals_the_two_layers(c, h, o, n, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    first, second = nn.Linear(c, h, dtype=dtype), nn.Linear(h, o, dtype=dtype)
    for p in [*first.parameters(), *second.parameters()]:
        nn.init.normal_(p, generator=gen)
    W, b = collapse_linear(first.weight, first.bias, second.weight, second.bias)
    assert W.shape == (o, c) and b.shape == (o,)
    X = torch.randn(n, c, generator=gen, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(F.linear(X, W, b), second(first(X)), **tol(dtype))
        torch.testing.assert_close(
            b, second(first(torch.zeros(c, dtype=dtype))), **tol(dtype)
        )
    assert torch.linalg.matrix_rank(W.detach()) <= min(c, h, o)


def test_collapse_linear_keeps_the_gradient_path():
    """W = W2 W1 and b = W2 b1 + b2 as autograd sees them."""
    gen = torch.Generator().manual_seed(3)
    W1, b1, W2, b2 = (
        torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)
        for s in [(4, 3), (4,), (2, 4), (2,)]
    )
    assert torch.autograd.gradcheck(collapse_linear, (W1, b1, W2, b2))


# Gradients of the differentiable functions


def test_gradcheck():
    gen = torch.Generator().manual_seed(4)
    leaf = lambda *s: torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)  # noqa: E731
    assert torch.autograd.gradcheck(cosine_similarity, (leaf(3, 5), leaf(5)))
    assert torch.autograd.gradcheck(
        lambda x, w: cosine_similarity(x, w, dim=0), (leaf(4, 2), leaf(4, 1))
    )
    assert torch.autograd.gradcheck(similarity_matrix, (leaf(3, 4), leaf(2, 4)))
    assert torch.autograd.gradcheck(batched_matmul, (leaf(2, 1, 3, 2), leaf(3, 2, 4)))


# Errors


def zeros(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def bad(name: str, call, message: str):
    """A call that must raise ValueError matching message."""
    return pytest.param(call, message, id=name)


BAD = [
    bad(
        "cos-no-broadcast",
        lambda: cosine_similarity(zeros(2, 3), zeros(4, 3)),
        r"x \(2, 3\) and w \(4, 3\) do not broadcast",
    ),
    bad(
        "cos-0-d",
        lambda: cosine_similarity(zeros(), zeros(3)),
        r"x must have at least 1 dimension\(s\), got .* of shape \(\)",
    ),
    bad(
        "cos-integer",
        lambda: cosine_similarity(zeros(3), zeros(3, dtype=torch.int64)),
        r"w must be a floating-point tensor, got torch.int64",
    ),
    bad(
        "cos-list",
        lambda: cosine_similarity([1.0, 2.0], zeros(2)),
        r"x must be a floating-point tensor, got list",
    ),
    bad(
        "cos-eps-zero",
        lambda: cosine_similarity(zeros(3), zeros(3), eps=0.0),
        r"eps must be a finite number > 0, got 0.0",
    ),
    bad(
        "cos-eps-negative",
        lambda: cosine_similarity(zeros(3), zeros(3), eps=-1e-8),
        r"eps must be a finite number > 0, got -1e-08",
    ),
    bad(
        "cos-eps-nan",
        lambda: cosine_similarity(zeros(3), zeros(3), eps=math.nan),
        r"eps must be a finite number > 0, got nan",
    ),
    bad(
        "cos-dim",
        lambda: cosine_similarity(zeros(2, 3), zeros(3), dim=2),
        r"dim=2 is out of range for the broadcast shape \(2, 3\)",
    ),
    bad(
        "cos-dim-negative",
        lambda: cosine_similarity(zeros(3), zeros(3), dim=-2),
        r"dim=-2 is out of range for the broadcast shape \(3,\)",
    ),
    bad(
        "sim-lengths",
        lambda: similarity_matrix(zeros(2, 3), zeros(4, 5)),
        r"rows of A \(2, 3\) and B \(4, 5\) must have the same length, got 3 and 5",
    ),
    bad(
        "sim-1-d",
        lambda: similarity_matrix(zeros(3), zeros(4, 3)),
        r"A must have 2 dimension\(s\), got .* of shape \(3,\)",
    ),
    bad(
        "sim-3-d",
        lambda: similarity_matrix(zeros(2, 3), zeros(1, 4, 3)),
        r"B must have 2 dimension\(s\), got .* of shape \(1, 4, 3\)",
    ),
    bad(
        "sim-eps",
        lambda: similarity_matrix(zeros(2, 3), zeros(4, 3), eps=0),
        r"eps must be a finite number > 0, got 0",
    ),
    bad(
        "bmm-inner",
        lambda: batched_matmul(zeros(4, 2, 3), zeros(4, 2, 5)),
        r"inner dimensions differ: X \(4, 2, 3\) has 3 columns, Y \(4, 2, 5\) has 2 rows",
    ),
    bad(
        "bmm-batch",
        lambda: batched_matmul(zeros(2, 3, 4), zeros(3, 4, 5)),
        r"the batch dimensions of X \(2,\) and those of Y \(3,\) do not broadcast",
    ),
    bad(
        "bmm-1-d",
        lambda: batched_matmul(zeros(3), zeros(3, 2)),
        r"X must have at least 2 dimension\(s\), got .* of shape \(3,\)",
    ),
    bad(
        "bmm-dtypes",
        lambda: batched_matmul(zeros(2, 2), zeros(2, 2, dtype=torch.float32)),
        r"X and Y must have the same dtype, got torch.float64 and torch.float32",
    ),
    bad(
        "bmm-integer",
        lambda: batched_matmul(zeros(2, 2, dtype=torch.int64), zeros(2, 2)),
        r"X must be a floating-point tensor, got torch.int64",
    ),
    bad(
        "defect-shapes",
        lambda: linearity_defect(torch.sin, zeros(3), zeros(2), 1.0, 1.0),
        r"x \(3,\) and y \(2,\) must have the same shape",
    ),
    bad(
        "collapse-W2",
        lambda: collapse_linear(zeros(8, 4), zeros(8), zeros(3, 5), zeros(3)),
        r"W2 \(3, 5\) must take the 8 outputs of W1 \(8, 4\) as inputs",
    ),
    bad(
        "collapse-b1",
        lambda: collapse_linear(zeros(8, 4), zeros(4), zeros(3, 8), zeros(3)),
        r"b1 \(4,\) must have one entry per row of W1 \(8, 4\)",
    ),
    bad(
        "collapse-b2",
        lambda: collapse_linear(zeros(8, 4), zeros(8), zeros(3, 8), zeros(8)),
        r"b2 \(8,\) must have one entry per row of W2 \(3, 8\)",
    ),
    bad(
        "collapse-W1-1-d",
        lambda: collapse_linear(zeros(8), zeros(8), zeros(3, 8), zeros(3)),
        r"W1 must have 2 dimension\(s\), got .* of shape \(8,\)",
    ),
    bad(
        "collapse-b2-2-d",
        lambda: collapse_linear(zeros(8, 4), zeros(8), zeros(3, 8), zeros(3, 1)),
        r"b2 must have 1 dimension\(s\), got .* of shape \(3, 1\)",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

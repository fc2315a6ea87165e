"""snippets.reading_list against torch and independent computations: dropout's kept entries
against F.dropout and its exact expectation over all masks, max_norm against torch.renorm,
layer_norm against F.layer_norm and its backward against autograd, AdaNorm's detached
gradient, the GLU/GTU gradients, the couplings' inverses and log-determinants against the
Jacobian, residual chains unrolled into paths, the orders of Lie-Trotter and Strang splitting,
and the errors for bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings, strategies as st
from torch.autograd.functional import jacobian

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.reading_list import (
    adanorm,
    additive_coupling,
    additive_coupling_inverse,
    affine_coupling,
    affine_coupling_inverse,
    all_masks,
    dropout,
    expected_over_masks,
    glu_backward,
    gtu,
    flow,
    gtu_backward,
    layer_norm,
    layer_norm_backward,
    max_norm,
    path_terms,
    residual_chain,
    split_solve,
    split_step,
    unrolled_residual,
)

F64 = torch.float64
FEW = settings(max_examples=max(1, settings.default.max_examples // 3))


@st.composite
def tensors(draw, min_dims=1, max_side=6):
    """A tensor of 1-3 dimensions, sides 1-max_side, scaled from 1e-2 to 30, either dtype."""
    shape = tuple(
        draw(st.lists(st.integers(1, max_side), min_size=min_dims, max_size=3))
    )
    dtype = draw(st.sampled_from(DTYPES))
    scale = draw(st.sampled_from([1e-2, 1.0, 30.0]))
    return scale * torch.randn(shape, generator=seeded(draw), dtype=dtype)


# Dropout


@given(
    x=tensors(),
    p=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.8]),
    seed=st.integers(0, 2**16),
)
def test_dropout_keeps_entries_scaled_by_one_over_one_minus_p_like_torch(x, p, seed):
    y = dropout(x, p, generator=torch.Generator().manual_seed(seed))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        y_torch = F.dropout(x, p, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    for out in (y, y_torch):
        kept = out != 0
        torch.testing.assert_close(out[kept], x[kept] / (1 - p), **tol(x.dtype))
    if p == 0:
        torch.testing.assert_close(y, x)


@given(
    n=st.integers(1, 6), p=st.sampled_from([0.1, 0.2, 0.3, 0.6, 0.9]), data=st.data()
)
def test_dropout_is_unbiased_and_the_weight_scaling_rule_is_exact_for_a_linear_layer(
    n, p, data
):
    gen = seeded(data.draw)
    x, W, b = (
        torch.randn(n, generator=gen, dtype=F64),
        torch.randn(3, n, generator=gen, dtype=F64),
        torch.randn(3, generator=gen, dtype=F64),
    )
    keep = 1 - p
    torch.testing.assert_close(
        expected_over_masks(lambda m: dropout(x, p, mask=m), n, keep), x
    )
    torch.testing.assert_close(
        expected_over_masks(lambda m: (m * x) @ W.T + b, n, keep), x @ (keep * W).T + b
    )


@given(n=st.integers(0, 8), keep=st.floats(0, 1))
def test_mask_probabilities_sum_to_one_and_each_unit_is_kept_with_probability_keep(
    n, keep
):
    masks = all_masks(n)
    assert masks.shape == (2**n, n) and len({tuple(m.tolist()) for m in masks}) == 2**n
    torch.testing.assert_close(
        expected_over_masks(lambda m: torch.ones((), dtype=F64), n, keep),
        torch.tensor(1.0, dtype=F64),
    )
    if n:
        torch.testing.assert_close(
            expected_over_masks(lambda m: m, n, keep), torch.full((n,), keep, dtype=F64)
        )


@given(W=tensors(min_dims=2), c=st.sampled_from([0.1, 1.0, 5.0]))
def test_max_norm_matches_torch_renorm(W, c):
    W = W.reshape(W.shape[0], -1)
    out = max_norm(W, c)
    # torch.renorm divides by (norm + 1e-7): a relative difference of 1e-7 / norm >= 1e-7 / c
    torch.testing.assert_close(out, torch.renorm(W, 2, 0, c), rtol=2e-6, atol=1e-7 * c)
    assert (torch.linalg.vector_norm(out, dim=1) <= c * (1 + 1e-6)).all()


# Layer norm and AdaNorm


@given(
    x=tensors(),
    k=st.integers(1, 2),
    affine=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-2]),
    data=st.data(),
)
def test_layer_norm_matches_torch(x, k, affine, eps, data):
    k = min(k, x.dim())
    shape = x.shape[x.dim() - k :]
    gen = seeded(data.draw)
    w, b = (
        (torch.randn(shape, generator=gen, dtype=x.dtype) for _ in range(2))
        if affine
        else (None, None)
    )
    torch.testing.assert_close(
        layer_norm(x, shape, w, b, eps),
        F.layer_norm(x, shape, w, b, eps),
        **tol(x.dtype),
    )


@given(x=tensors(), eps=st.sampled_from([0.0, 1e-5, 0.1]), data=st.data())
def test_layer_norm_backward_matches_autograd(x, eps, data):
    x = x.double()
    shape = x.shape[-1:]
    if eps == 0.0 and shape[0] == 1:
        eps = 1e-5  # one entry: variance 0
    g = torch.randn(x.shape, generator=seeded(data.draw), dtype=F64)
    leaf = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.layer_norm(leaf, shape, eps=eps), leaf, g)
    scale = 1 / math.sqrt(x.var(-1, correction=0).min().item() + eps)
    torch.testing.assert_close(
        layer_norm_backward(x, g, shape, eps), expected, rtol=1e-7, atol=1e-10 * scale
    )
    torch.testing.assert_close(
        layer_norm_backward(x, g, shape, eps).sum(-1),
        torch.zeros(x.shape[:-1], dtype=F64),
        rtol=0,
        atol=1e-9 * scale,
    )


@given(x=tensors(min_dims=1), a=st.floats(0.1, 10), c=st.floats(-5, 5))
def test_layer_norm_ignores_positive_scaling_and_shifting_of_each_input(x, a, c):
    x = x.double()
    assume(x.shape[-1] >= 2 and x.std(-1, correction=0).min() > 1e-3)
    torch.testing.assert_close(
        layer_norm(a * x + c, x.shape[-1:], eps=0.0),
        layer_norm(x, x.shape[-1:], eps=0.0),
    )
    torch.testing.assert_close(
        layer_norm(a * x, x.shape[-1:], eps=1e-3),
        layer_norm(x, x.shape[-1:], eps=1e-3 / a**2),
    )


@given(
    x=tensors(),
    C=st.sampled_from([0.5, 1.0, 3.0]),
    k=st.sampled_from([0.0, 0.1, 0.5]),
    data=st.data(),
)
def test_adanorm_forward_and_its_detached_gradient(x, C, k, data):
    x = x.double()
    g = torch.randn(x.shape, generator=seeded(data.draw), dtype=F64)
    leaf = x.clone().requires_grad_()
    z = adanorm(leaf, C, k, eps=1e-5)
    y = F.layer_norm(x, x.shape[-1:], eps=1e-5)
    phi = C * (1 - k * y)
    torch.testing.assert_close(z.detach(), phi * y)
    torch.testing.assert_close(phi.mean(-1), torch.full(x.shape[:-1], C, dtype=F64))
    (dL_dx,) = torch.autograd.grad(z, leaf, g)
    torch.testing.assert_close(
        dL_dx,
        layer_norm_backward(x, phi * g, x.shape[-1:], 1e-5),
        rtol=1e-7,
        atol=1e-9 * C / math.sqrt(x.var(-1, correction=0).min().item() + 1e-5),
    )


# Gated units


@given(A=tensors(), data=st.data())
def test_glu_and_gtu_gradients_match_autograd(A, data):
    gen = seeded(data.draw)
    B, g = (torch.randn(A.shape, generator=gen, dtype=A.dtype) for _ in range(2))
    units = [(lambda a, b: a * torch.sigmoid(b), glu_backward), (gtu, gtu_backward)]
    for unit, backward in units:
        a, b = A.clone().requires_grad_(), B.clone().requires_grad_()
        for mine, expected in zip(
            backward(A, B, g), torch.autograd.grad(unit(a, b), (a, b), g)
        ):
            torch.testing.assert_close(mine, expected, **tol(A.dtype))
    torch.testing.assert_close(gtu(A, B), torch.tanh(A) * torch.sigmoid(B))
    torch.testing.assert_close(
        gtu_backward(A, B, g)[0],
        (1 - torch.tanh(A) ** 2) * glu_backward(A, B, g)[0],
        **tol(A.dtype),
    )


def test_gtu_passes_gradcheck():
    gen = torch.Generator().manual_seed(0)
    A, B = torch.randn(2, 3, 4, generator=gen, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(gtu, (A, B))


# Couplings


@st.composite
def couplings(draw):
    """x (batch, D) with D 2-7 (odd D: the second half is longer), and networks s, t of x1."""
    D, batch = draw(st.integers(2, 7)), draw(st.integers(1, 3))
    d = D // 2
    gen = seeded(draw)
    W_s, W_t = (torch.randn(D - d, d, generator=gen, dtype=F64) for _ in range(2))
    x = draw(st.sampled_from([0.1, 1.0, 3.0])) * torch.randn(
        batch, D, generator=gen, dtype=F64
    )
    return (
        x,
        (lambda x1: torch.tanh(x1 @ W_s.T)),
        (lambda x1: torch.sin(x1 @ W_t.T) + x1.sum(-1, keepdim=True)),
    )


@FEW
@given(couplings())
def test_affine_coupling_inverts_and_its_log_det_matches_the_jacobian(case):
    x, s, t = case
    y, log_det = affine_coupling(x, s, t)
    assert y.shape == x.shape and log_det.shape == x.shape[:1]
    torch.testing.assert_close(affine_coupling_inverse(y, s, t), x)
    for x_i, log_det_i in zip(x, log_det):
        J = jacobian(lambda v: affine_coupling(v, s, t)[0], x_i)
        sign, logabsdet = torch.linalg.slogdet(J)
        assert sign > 0
        torch.testing.assert_close(logabsdet, log_det_i)


@FEW
@given(couplings())
def test_additive_coupling_inverts_and_preserves_volume(case):
    x, _, t = case
    torch.testing.assert_close(additive_coupling_inverse(additive_coupling(x, t), t), x)
    J = jacobian(lambda v: additive_coupling(v, t), x[0])
    torch.testing.assert_close(torch.linalg.det(J), torch.tensor(1.0, dtype=F64))


# Residual paths


@given(n=st.integers(0, 5), c=st.integers(1, 4), data=st.data())
def test_unrolled_paths_sum_to_the_residual_chain_for_linear_blocks(n, c, data):
    gen = seeded(data.draw)
    As = [0.5 * torch.randn(c, c, generator=gen, dtype=F64) for _ in range(n)]
    x = torch.randn(2, c, generator=gen, dtype=F64)
    blocks = [lambda v, A=A: v @ A.T for A in As]
    torch.testing.assert_close(unrolled_residual(x, As), residual_chain(x, blocks))
    lengths = [len(path) for path in path_terms(x, As)]
    assert [lengths.count(k) for k in range(n + 1)] == [
        math.comb(n, k) for k in range(n + 1)
    ]
    for j in range(n):  # lesion: drop block j
        kept = sum(term for path, term in path_terms(x, As).items() if j not in path)
        torch.testing.assert_close(
            residual_chain(x, blocks[:j] + blocks[j + 1 :]), kept
        )


def test_unrolling_is_not_exact_for_nonlinear_blocks():
    gen = torch.Generator().manual_seed(1)
    As = [torch.randn(3, 3, generator=gen, dtype=F64) for _ in range(2)]
    f, g = (lambda v, A=A: torch.tanh(v @ A.T) for A in As)
    x = torch.randn(3, generator=gen, dtype=F64)
    assert (residual_chain(x, [f, g]) - (x + f(x) + g(x) + g(f(x)))).abs().max() > 1e-2


# Splitting


def order(A, B, scheme, substep, local, x0):
    exact = lambda t: torch.linalg.matrix_exp(t * (A + B))
    errors = [
        torch.linalg.matrix_norm(
            split_step(A, B, 1 / n, scheme, substep) - exact(1 / n)
        )
        if local
        else torch.linalg.vector_norm(
            split_solve(A, B, x0, 1.0, n, scheme, substep) - exact(1.0) @ x0
        )
        for n in (32, 64)
    ]
    return math.log2(errors[0] / errors[1])


@pytest.mark.parametrize(
    "scheme, substep, local_order",
    [
        ("lie_trotter", "exact", 2),
        ("strang", "exact", 3),
        ("lie_trotter", "euler", 2),
        ("strang", "euler", 2),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_splitting_orders(scheme, substep, local_order, seed):
    gen = torch.Generator().manual_seed(seed)
    A, B = torch.randn(2, 4, 4, generator=gen, dtype=F64)
    x0 = torch.randn(4, generator=gen, dtype=F64)
    assert abs(order(A, B, scheme, substep, True, x0) - local_order) < 0.15
    assert abs(order(A, B, scheme, substep, False, x0) - (local_order - 1)) < 0.15


@pytest.mark.parametrize("scheme", ["lie_trotter", "strang"])
def test_splitting_is_exact_when_the_parts_commute(scheme):
    gen = torch.Generator().manual_seed(3)
    A, B = (
        torch.diag(torch.randn(4, generator=gen, dtype=F64)),
        torch.diag(torch.randn(4, generator=gen, dtype=F64)),
    )
    x0 = torch.randn(4, generator=gen, dtype=F64)
    torch.testing.assert_close(
        split_solve(A, B, x0, 1.0, 3, scheme), torch.linalg.matrix_exp(A + B) @ x0
    )


# Errors

X = torch.zeros(2, 4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dropout(X, 1.0), r"dropout probability p must be in \[0, 1\)"),
        (lambda: dropout(X, -0.1), r"dropout probability p must be in \[0, 1\)"),
        (
            lambda: dropout(X, 0.5, mask=torch.ones(4)),
            r"mask \(4,\) must have x's shape \(2, 4\)",
        ),
        (
            lambda: dropout(torch.zeros(3, dtype=torch.int64), 0.5),
            "x must be a floating-point tensor",
        ),
        (lambda: all_masks(17), r"n must be an integer in \[0, 16\]"),
        (
            lambda: expected_over_masks(lambda m: m, 3, 1.5),
            r"keep probability must be in \[0, 1\]",
        ),
        (lambda: max_norm(X, 0.0), "c must be a finite number > 0"),
        (lambda: max_norm(torch.zeros(4), 1.0), "W must have 2 dimension"),
        (
            lambda: layer_norm(X, (5,)),
            r"normalized_shape \(5,\) must be the trailing dimensions",
        ),
        (
            lambda: layer_norm(X, ()),
            r"normalized_shape \(\) must be the trailing dimensions",
        ),
        (lambda: layer_norm(X, (4,), eps=-1.0), "eps must be a finite number >= 0"),
        (
            lambda: layer_norm(X, (4,), torch.ones(3)),
            r"weight \(3,\) must have normalized_shape \(4,\)",
        ),
        (
            lambda: layer_norm_backward(X, torch.zeros(4), (4,)),
            r"dL_dy \(4,\) must have x's shape",
        ),
        (
            lambda: layer_norm_backward(X, X.long(), (4,)),
            "dL_dy must be a floating-point tensor",
        ),
        (
            lambda: layer_norm(torch.zeros(2, 0), (0,), torch.ones(3)),
            r"weight \(3,\) must have normalized_shape \(0,\), the trailing dimensions of x \(2, 0\)",
        ),
        (lambda: adanorm(X, C=-1.0), "C must be a finite number > 0"),
        (lambda: adanorm(X, k=-0.1), "k must be a finite number >= 0"),
        (lambda: gtu(X, torch.zeros(4)), "A, B .* must have one shape"),
        (lambda: glu_backward(X, X, torch.zeros(3)), "A, B .* must have one shape"),
        (
            lambda: affine_coupling(torch.zeros(2, 1), lambda v: v, lambda v: v),
            "needs at least 2 entries",
        ),
        (
            lambda: affine_coupling(X, lambda v: v[..., :1], lambda v: v),
            r"s\(x1\) must have the second half's shape",
        ),
        (
            lambda: affine_coupling_inverse(X, lambda v: v, lambda v: v.sum()),
            r"t\(x1\) must have",
        ),
        (lambda: additive_coupling(X, lambda v: 0.0), r"m\(x1\) must have"),
        (lambda: path_terms(X, [torch.eye(3)]), r"As\[0\] must be \(4, 4\)"),
        (
            lambda: split_step(torch.eye(2), torch.eye(3), 0.1),
            "A and B must be square and of one shape",
        ),
        (
            lambda: split_step(torch.eye(2), torch.zeros(2, 0), 0.1),
            r"B must be a square matrix \(c, c\)",
        ),
        (
            lambda: flow(torch.zeros(0, 3), 0.1, "euler"),
            r"M must be a square matrix \(c, c\), got shape \(0, 3\)",
        ),
        (
            lambda: split_step(torch.eye(2), torch.eye(2), 0.1, "strang", "rk4"),
            "substep 'exact' or 'euler'",
        ),
        (
            lambda: split_solve(torch.eye(2), torch.eye(2), torch.ones(2), 1.0, 0),
            "n_steps must be an integer >= 1",
        ),
        (
            lambda: split_solve(torch.eye(2), torch.eye(2), torch.ones(3), 1.0, 4),
            r"x0 must have shape \(2,\) to match A",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

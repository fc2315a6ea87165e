"""snippets.gradients against torch.autograd.functional.jacobian, torch.func.jvp and
torch.autograd.gradcheck in float64: the three Jacobians over random sizes (rows are outputs),
directional derivatives, the error orders of central differences and of the first-order
Taylor approximation, the chain rule, the number of evaluations of f, and the errors for bad
input."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.autograd.functional import jacobian

from snippets.gradients import (
    chain_rule,
    directional_derivative,
    jacobian_fd,
    jacobian_fwd,
    jacobian_rev,
    linearize,
)

F64 = torch.float64
FD_TOL = dict(rtol=1e-7, atol=1e-8)  # central differences in float64 at h = eps^(1/3)


def smooth_function(n: int, m: int, seed: int, dtype: torch.dtype = F64):
    """A smooth f: R^n -> R^m with every output depending on every input:
    f(x) = tanh(A x) * (B x) + C sin(x), A, B, C (m, n) with N(0, 1 / n) entries."""
    gen = torch.Generator().manual_seed(seed)
    A, B, C = (
        torch.randn(m, n, generator=gen, dtype=F64).to(dtype) / math.sqrt(n)
        for _ in range(3)
    )
    return lambda x: torch.tanh(A @ x) * (B @ x) + C @ torch.sin(x)


def point(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)


sizes = st.integers(1, 6)
seeds = st.integers(0, 2**16)
# Each example builds several Jacobians (tens of ms): a fifth of the profile's examples.
few = settings(max_examples=max(1, settings.default.max_examples // 5))


# Jacobians


@few
@given(sizes, sizes, seeds)
def test_the_three_jacobians_match_torch_with_a_row_per_output(n, m, seed):
    f, x = smooth_function(n, m, seed), point(n, seed)
    J = jacobian(f, x)
    assert J.shape == (m, n)
    for method, tol in [(jacobian_rev, {}), (jacobian_fwd, {}), (jacobian_fd, FD_TOL)]:
        ours = method(f, x)
        assert ours.shape == (m, n) and ours.dtype == F64, method.__name__
        torch.testing.assert_close(ours, J, **tol, msg=method.__name__)


@few
@given(sizes, seeds)
def test_rows_are_gradients_of_the_outputs_and_columns_move_one_input(n, seed):
    """Square f (m = n), where a transposed layout has the right shape and wrong values."""
    f, x = smooth_function(n, n, seed), point(n, seed)
    for J in (jacobian_rev(f, x), jacobian_fwd(f, x), jacobian_fd(f, x)):
        for i in range(n):
            xr = x.clone().requires_grad_()
            torch.testing.assert_close(
                J[i], torch.autograd.grad(f(xr)[i], xr)[0], **FD_TOL
            )
        for j, e_j in enumerate(torch.eye(n, dtype=F64)):
            torch.testing.assert_close(
                J[:, j], torch.func.jvp(f, (x,), (e_j,))[1], **FD_TOL
            )


@few
@given(sizes, seeds)
def test_a_scalar_function_has_a_one_row_jacobian_the_gradient(n, seed):
    g = smooth_function(n, 1, seed)
    f = lambda x: g(x)[0]  # noqa: E731
    x = point(n, seed)
    xr = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(f(xr), xr)
    for method, tol in [(jacobian_rev, {}), (jacobian_fwd, {}), (jacobian_fd, FD_TOL)]:
        J = method(f, x)
        assert J.shape == (1, n)
        torch.testing.assert_close(J[0], grad, **tol)


def test_jacobians_of_functions_that_ignore_some_inputs():
    """Columns of zeros, and a constant f: reverse mode has nothing to go back through."""
    x = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
    # (3 * x[0] would do, but torch's forward mode spends a second on its first product of a
    # dual tensor with a constant.)
    f = lambda x: torch.stack([x[0] ** 2, x[0] + x[0] + x[0]])  # noqa: E731
    expected = torch.tensor([[0.6, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=F64)
    for method in (jacobian_rev, jacobian_fwd, jacobian_fd):
        torch.testing.assert_close(method(f, x), expected, **FD_TOL)
        torch.testing.assert_close(
            method(lambda x: torch.ones(2, dtype=F64), x), torch.zeros(2, 3, dtype=F64)
        )


@few
@given(sizes, sizes, seeds)
def test_jacobian_rev_agrees_with_gradcheck(n, m, seed):
    """gradcheck compares autograd with its own finite differences; jacobian_rev is autograd
    read out row by row, so both must pass on the same functions."""
    f, x = smooth_function(n, m, seed), point(n, seed)
    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))
    torch.testing.assert_close(jacobian_rev(f, x), jacobian_fd(f, x), **FD_TOL)


def counting(f):
    """f, counting its calls in .calls."""

    def counted(x):
        counted.calls += 1
        return f(x)

    counted.calls = 0
    return counted


@pytest.mark.parametrize("n,m", [(1, 1), (7, 1), (1, 5), (4, 6)])
def test_evaluations_of_f(n, m):
    """Reverse mode evaluates f once, forward mode once per input, central differences twice
    per input."""
    for method, calls in [(jacobian_rev, 1), (jacobian_fwd, n), (jacobian_fd, 2 * n)]:
        f = counting(smooth_function(n, m, 0))
        method(f, point(n, 0))
        assert f.calls == calls, method.__name__


# Directional derivatives and the error order of central differences


@few
@given(sizes, sizes, st.sampled_from([1e-3, 1.0, 10.0]), seeds)
def test_directional_derivative_is_J_v(n, m, scale, seed):
    f, x = smooth_function(n, m, seed), point(n, seed)
    v = scale * point(n, seed + 7)
    D_v = directional_derivative(f, x, v)
    assert D_v.shape == (m,)
    J_v = torch.func.jvp(f, (x,), (v,))[1]
    torch.testing.assert_close(D_v, J_v, rtol=1e-7, atol=1e-9)  # rounding: eps |f| / h
    torch.testing.assert_close(J_v, jacobian(f, x) @ v)


def test_directional_derivative_of_a_scalar_function_is_grad_dot_v():
    f = lambda x: x[0] ** 2 * x[1] + torch.sin(x[2])  # noqa: E731
    x, v = (
        torch.tensor([1.5, -2.0, 0.3], dtype=F64),
        torch.tensor([0.2, 1.0, -3.0], dtype=F64),
    )
    grad = torch.stack([2 * x[0] * x[1], x[0] ** 2, torch.cos(x[2])])
    D_v = directional_derivative(f, x, v)
    assert D_v.shape == (1,)
    assert D_v.item() == pytest.approx((grad @ v).item(), rel=1e-9)


def error_ratios(errors: list[float]) -> list[float]:
    return [a / b for a, b in zip(errors, errors[1:])]


@pytest.mark.parametrize("seed", range(4))
def test_central_differences_are_second_order(seed):
    """Halving h divides the error by 4 (O(h^2)); a forward difference would divide it by 2."""
    f, x = smooth_function(3, 2, seed), point(3, seed)
    J = jacobian(f, x)
    errors = [
        (jacobian_fd(f, x, h) - J).abs().max().item() for h in (4e-2, 2e-2, 1e-2, 5e-3)
    ]
    assert all(3.6 < r < 4.4 for r in error_ratios(errors)), errors


def test_the_default_step_balances_truncation_and_rounding():
    """In float64, the default h = eps^(1/3) beats steps 100 times larger or smaller."""
    f, x = smooth_function(4, 3, 5), point(4, 5)
    J = jacobian(f, x)
    error = lambda h=None: (jacobian_fd(f, x, h) - J).abs().max().item()  # noqa: E731
    h0 = torch.finfo(F64).eps ** (1 / 3)
    assert error() < 1e-9
    assert error() < error(100 * h0) and error() < error(h0 / 100)


def test_float32_uses_its_own_default_step():
    """float32's h = eps^(1/3) = 5e-3 gives 3 digits; float64's step would give rounding noise."""
    f, x = smooth_function(4, 3, 6), point(4, 6)
    f32, x32 = smooth_function(4, 3, 6, torch.float32), x.float()
    J = jacobian(f, x)
    J32 = jacobian_fd(f32, x32)
    assert J32.dtype == torch.float32
    torch.testing.assert_close(J32.double(), J, rtol=1e-3, atol=1e-3)
    h64 = torch.finfo(F64).eps ** (1 / 3)
    assert (jacobian_fd(f32, x32, h64).double() - J).abs().max() > 10 * (
        J32.double() - J
    ).abs().max()


# The chain rule


@few
@given(sizes, sizes, sizes, seeds)
def test_chain_rule_is_the_jacobian_of_the_composition(n, k, m, seed):
    g, f = smooth_function(n, k, seed), smooth_function(k, m, seed + 1)
    x = point(n, seed)
    expected = jacobian(lambda x: f(g(x)), x)
    for method, tol in [(jacobian_rev, {}), (jacobian_fwd, {}), (jacobian_fd, FD_TOL)]:
        J = chain_rule(f, g, x, jacobian=method)
        assert J.shape == (m, n)
        torch.testing.assert_close(J, expected, **tol)


@pytest.mark.parametrize("seed", range(3))
def test_chain_rule_takes_the_outer_jacobian_at_the_inner_output_on_the_left(seed):
    """Square maps, where the wrong order and the wrong point both have the right shape."""
    g, f = smooth_function(3, 3, seed), smooth_function(3, 3, seed + 10)
    g_shifted = lambda x: g(x) + 2.0  # noqa: E731  g(x) far from x
    x = point(3, seed)
    J = chain_rule(f, g_shifted, x)
    torch.testing.assert_close(J, jacobian(f, g_shifted(x)) @ jacobian(g_shifted, x))
    assert (J - jacobian(g_shifted, x) @ jacobian(f, g_shifted(x))).abs().max() > 1e-3
    assert (J - jacobian(f, x) @ jacobian(g_shifted, x)).abs().max() > 1e-3


# The first-order Taylor approximation


@few
@given(sizes, sizes, seeds)
def test_linearize_is_the_value_plus_the_jacobian_times_the_step(n, m, seed):
    f, x0 = smooth_function(n, m, seed), point(n, seed)
    f_lin = linearize(f, x0)
    dx = point(n, seed + 3)
    torch.testing.assert_close(f_lin(dx), f(x0) + torch.func.jvp(f, (x0,), (dx,))[1])
    torch.testing.assert_close(f_lin(torch.zeros(n, dtype=F64)), f(x0))


@pytest.mark.parametrize("seed", range(4))
def test_taylor_error_is_second_order(seed):
    f, x0 = smooth_function(4, 3, seed), point(4, seed)
    d = point(4, seed + 3)
    f_lin = linearize(f, x0)
    errors = [
        (f(x0 + h * d) - f_lin(h * d)).norm().item() for h in (2e-2, 1e-2, 5e-3, 2.5e-3)
    ]
    assert all(3.6 < r < 4.4 for r in error_ratios(errors)), errors


def test_taylor_error_of_the_notes_quadratic_is_h_squared():
    f = lambda x: x**2 - 1.5 * x  # noqa: E731
    f_lin = linearize(lambda x: f(x[0]), torch.tensor([0.5], dtype=F64))
    for h in (0.3, 0.01, -0.2):
        dx = torch.tensor([h], dtype=F64)
        error = f(0.5 + dx) - f_lin(dx)
        assert error.item() == pytest.approx(h**2, rel=1e-9)


# Errors

X = torch.zeros(3, dtype=F64)


def bad(name: str, call, message: str):
    """A call that must raise ValueError matching message."""
    return pytest.param(call, message, id=name)


POINT_TAKERS = {
    "jacobian_fd": lambda x: jacobian_fd(torch.sin, x),
    "jacobian_rev": lambda x: jacobian_rev(torch.sin, x),
    "jacobian_fwd": lambda x: jacobian_fwd(torch.sin, x),
    "directional_derivative": lambda x: directional_derivative(torch.sin, x, x),
    "chain_rule": lambda x: chain_rule(torch.sin, torch.cos, x),
    "linearize": lambda x: linearize(torch.sin, x),
}
BAD_POINTS = {
    "2-d": (
        torch.zeros(2, 3, dtype=F64),
        r"must be a non-empty 1-D tensor, got shape \(2, 3\)",
    ),
    "0-d": (
        torch.tensor(1.0, dtype=F64),
        r"must be a non-empty 1-D tensor, got shape \(\)",
    ),
    "empty": (
        torch.zeros(0, dtype=F64),
        r"must be a non-empty 1-D tensor, got shape \(0,\)",
    ),
    "integer": (torch.arange(3), r"must be a floating-point tensor, got torch.int64"),
    "nan": (torch.tensor([0.0, math.nan], dtype=F64), r"has non-finite values"),
    "inf": (torch.tensor([math.inf, 0.0], dtype=F64), r"has non-finite values"),
    "list": ([0.0, 1.0], r"must be a floating-point tensor, got list"),
}


@pytest.mark.parametrize("bad_point", BAD_POINTS)
@pytest.mark.parametrize("name", POINT_TAKERS)
def test_bad_points_raise_value_error_naming_them(name, bad_point):
    x, message = BAD_POINTS[bad_point]
    with pytest.raises(ValueError, match=message):
        POINT_TAKERS[name](x)


BAD_OUTPUTS = {
    "matrix": (
        lambda x: torch.outer(x, x),
        r"f must return a scalar or a 1-D tensor y, got shape \(3, 3\)",
    ),
    "integer": (
        lambda x: torch.ones(2, dtype=torch.int64),
        r"f must return a floating-point tensor y, got torch.int64",
    ),
    "float": (lambda x: 1.0, r"f must return a floating-point tensor y, got float"),
}


@pytest.mark.parametrize("output", BAD_OUTPUTS)
@pytest.mark.parametrize("method", [jacobian_fd, jacobian_rev, jacobian_fwd])
def test_bad_outputs_raise_value_error(method, output):
    f, message = BAD_OUTPUTS[output]
    with pytest.raises(ValueError, match=message):
        method(f, X)


BAD = [
    bad(
        "v-length",
        lambda: directional_derivative(torch.sin, X, torch.zeros(4, dtype=F64)),
        r"v must have shape \(3,\), got \(4,\)",
    ),
    bad(
        "v-nan",
        lambda: directional_derivative(
            torch.sin, X, torch.full((3,), math.nan, dtype=F64)
        ),
        r"v has non-finite values",
    ),
    bad(
        "h-negative",
        lambda: jacobian_fd(torch.sin, X, h=-1e-3),
        r"h must be a finite number > 0, got -0.001",
    ),
    bad(
        "h-zero",
        lambda: directional_derivative(torch.sin, X, X, h=0),
        r"h must be a finite number > 0, got 0",
    ),
    bad(
        "h-inf",
        lambda: jacobian_fd(torch.sin, X, h=math.inf),
        r"h must be a finite number > 0, got inf",
    ),
    bad(
        "h-str",
        lambda: jacobian_fd(torch.sin, X, h="0.1"),
        r"h must be a finite number > 0, got '0.1'",
    ),
    bad(
        "h-bool",
        lambda: jacobian_fd(torch.sin, X, h=True),
        r"h must be a finite number > 0, got True",
    ),
    bad(
        "dx-length",
        lambda: linearize(torch.sin, X)(torch.zeros(2, dtype=F64)),
        r"dx must have shape \(3,\), got \(2,\)",
    ),
    bad(
        "dx-2-d",
        lambda: linearize(torch.sin, X)(torch.zeros(3, 1, dtype=F64)),
        r"dx must be a non-empty 1-D tensor, got shape \(3, 1\)",
    ),
    bad(
        "chain-inner-output",
        lambda: chain_rule(torch.sin, lambda x: torch.outer(x, x), X),
        r"g must return a scalar or a 1-D tensor y, got shape \(3, 3\)",
    ),
    bad(
        "chain-outer-output",
        lambda: chain_rule(lambda u: torch.outer(u, u), torch.sin, X),
        r"f must return a scalar or a 1-D tensor y, got shape \(3, 3\)",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

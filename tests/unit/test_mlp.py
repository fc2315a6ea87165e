"""snippets.mlp against torch.nn.functional, torch.nn modules and autograd: every activation and
its derivative over random shapes, scales and dtypes, kinks included; PReLU's slopes; GLU and
the gated feed-forward variants with their backward pass; the Linear layer, the MLP and the
gradient at its input; the ReLU interpolant; gradients through depth; and the errors for bad
input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tests.unit.strategies import DTYPES, seeded
from snippets.mlp import (
    ACTIVATIONS,
    elu,
    elu_grad,
    gelu,
    gelu_tanh,
    glu,
    glu_ffn,
    glu_ffn_backward,
    leaky_relu,
    leaky_relu_grad,
    linear,
    linear_backward,
    mlp,
    mlp_input_grad,
    prelu,
    prelu_grad,
    relu,
    relu_interpolant,
    softplus,
)

F64 = torch.float64

# Each activation of ACTIVATIONS and torch's version of it.
TORCH = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "softplus": F.softplus,
    "elu": F.elu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def tol(dtype: torch.dtype) -> dict:
    return (
        dict(rtol=1e-5, atol=1e-6)
        if dtype == torch.float32
        else dict(rtol=1e-10, atol=1e-12)
    )


@st.composite
def inputs(draw, min_dims=0):
    """A tensor of up to 3 dimensions, scaled from 1e-3 to 30, in either dtype, with some
    entries set to exactly 0 (the kinks)."""
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=min_dims, max_size=3)))
    gen = seeded(draw)
    dtype = draw(st.sampled_from(DTYPES))
    x = draw(st.sampled_from([1e-3, 1.0, 5.0, 30.0])) * torch.randn(
        shape, generator=gen, dtype=dtype
    )
    return torch.where(torch.rand(shape, generator=gen) < 0.2, torch.zeros_like(x), x)


def autograd_derivative(f, x):
    x = x.clone().requires_grad_()
    return torch.autograd.grad(f(x).sum(), x)[0]


# Activations

# F.softplus returns x itself above x = 20, off by log(1 + e^-20) < 3e-9 (and its derivative
# 1, off as much); in float32, 1 + tanh(u) for very negative u rounds differently.
SLACK = {("softplus", torch.float64): 3e-9, ("gelu_tanh", torch.float32): 3e-6}


@settings(max_examples=max(1, settings.default.max_examples // 3))
@pytest.mark.parametrize("name", ACTIVATIONS)
@given(x=inputs())
def test_activation_and_derivative_match_torch(name, x):
    phi, phi_grad = ACTIVATIONS[name]
    y, dy = phi(x), phi_grad(x)
    assert y.shape == dy.shape == x.shape and y.dtype == dy.dtype == x.dtype
    tolerance = tol(x.dtype)
    tolerance["atol"] = max(tolerance["atol"], SLACK.get((name, x.dtype), 0))
    torch.testing.assert_close(y, TORCH[name](x), **tolerance)
    torch.testing.assert_close(dy, autograd_derivative(TORCH[name], x), **tolerance)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck_float64(name):
    """The written-out derivative is the derivative of the snippet's own function."""
    phi, phi_grad = ACTIVATIONS[name]
    x = torch.linspace(-4, 4, 41, dtype=F64) + 0.013  # no point at a kink
    assert torch.autograd.gradcheck(phi, (x.clone().requires_grad_(),))
    torch.testing.assert_close(phi_grad(x), autograd_derivative(phi, x))


@pytest.mark.parametrize("a", [0.0, 0.01, 0.3, -0.5, 2.0])
def test_leaky_relu_and_elu_parameters(a):
    x = torch.linspace(-5, 5, 101, dtype=F64)
    torch.testing.assert_close(leaky_relu(x, a), F.leaky_relu(x, a))
    torch.testing.assert_close(
        leaky_relu_grad(x, a), autograd_derivative(lambda t: F.leaky_relu(t, a), x)
    )
    if a > 0:
        torch.testing.assert_close(elu(x, a), F.elu(x, a))
        torch.testing.assert_close(
            elu_grad(x, a), autograd_derivative(lambda t: F.elu(t, a), x)
        )


def test_activations_are_finite_and_saturate_far_out():
    x = torch.tensor([-1e4, -100.0, 100.0, 1e4], dtype=torch.float32)
    for name, (phi, phi_grad) in ACTIVATIONS.items():
        assert torch.isfinite(phi(x)).all() and torch.isfinite(phi_grad(x)).all(), name
    torch.testing.assert_close(softplus(x), F.relu(x))
    torch.testing.assert_close(gelu(x), F.relu(x))
    assert (
        gelu(torch.linspace(-6, 6, 1201, dtype=F64))
        - gelu_tanh(torch.linspace(-6, 6, 1201, dtype=F64))
    ).abs().max() < 5e-4


@st.composite
def prelu_cases(draw):
    """x of 1-4 dimensions and slopes a: a scalar tensor, or one per channel (dim 1)."""
    x = draw(inputs(min_dims=1))
    gen = seeded(draw)
    if x.dim() >= 2 and draw(st.booleans()):
        return x, torch.randn(x.shape[1], generator=gen, dtype=x.dtype)
    return x, torch.randn((), generator=gen, dtype=x.dtype)


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(prelu_cases())
def test_prelu_and_both_partial_derivatives_match_torch(case):
    x, a = case
    torch.testing.assert_close(prelu(x, a), F.prelu(x, a), **tol(x.dtype))
    dy_dx, dy_da = prelu_grad(x, a)
    torch.testing.assert_close(
        dy_dx, autograd_derivative(lambda t: F.prelu(t, a), x), **tol(x.dtype)
    )
    a_leaf = a.clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.prelu(x, a_leaf).sum(), a_leaf)
    summed = (
        dy_da.sum()
        if a.dim() == 0
        else dy_da.transpose(0, 1).reshape(a.shape[0], -1).sum(1)
    )
    torch.testing.assert_close(summed, expected, **tol(x.dtype))


def test_prelu_matches_the_module():
    module = torch.nn.PReLU(num_parameters=3).double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor([0.1, -0.2, 0.7]))
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.testing.assert_close(prelu(x, module.weight.detach()), module(x))


# GLU


@st.composite
def glu_inputs(draw):
    """x with an even-sized dimension and that dimension, counted either way."""
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 4)) for _ in range(ndim)]
    dim = draw(st.integers(-ndim, ndim - 1))
    shape[dim] = 2 * draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    return 3 * torch.randn(shape, generator=seeded(draw), dtype=dtype), dim


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(glu_inputs())
def test_glu_matches_torch_along_any_dim(case):
    x, dim = case
    torch.testing.assert_close(glu(x, dim), F.glu(x, dim), **tol(x.dtype))


@st.composite
def ffn_cases(draw):
    """x (..., c_in) with 0-2 leading dimensions, W and V (hidden, c_in), W2 (c_out, hidden),
    an upstream gradient and a variant."""
    lead = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
    c_in, hidden, c_out = (draw(st.integers(1, 6)) for _ in range(3))
    gen = seeded(draw)
    x = torch.randn(*lead, c_in, generator=gen, dtype=F64)
    W, V = torch.randn(2, hidden, c_in, generator=gen, dtype=F64)
    W2 = torch.randn(c_out, hidden, generator=gen, dtype=F64)
    dL_dy = torch.randn(*lead, c_out, generator=gen, dtype=F64)
    return (
        x,
        W,
        V,
        W2,
        dL_dy,
        draw(st.sampled_from(["glu", "reglu", "geglu", "swiglu"])),
    )


GATE = {"glu": torch.sigmoid, "reglu": F.relu, "geglu": F.gelu, "swiglu": F.silu}


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(ffn_cases())
def test_glu_ffn_and_its_backward_match_autograd(case):
    x, W, V, W2, dL_dy, variant = case
    leaves = [t.clone().requires_grad_() for t in (x, W, V, W2)]
    y = (GATE[variant](leaves[0] @ leaves[1].T) * (leaves[0] @ leaves[2].T)) @ leaves[
        3
    ].T
    torch.testing.assert_close(glu_ffn(x, W, V, W2, variant), y.detach())
    grads = glu_ffn_backward(x, W, V, W2, variant, dL_dy)
    for mine, theirs, leaf in zip(grads, torch.autograd.grad(y, leaves, dL_dy), leaves):
        assert mine.shape == leaf.shape
        torch.testing.assert_close(mine, theirs)
    if variant == "glu":
        torch.testing.assert_close(
            glu_ffn(x, W, V, W2, variant),
            F.glu(torch.cat([x @ V.T, x @ W.T], -1), -1) @ W2.T,
        )


# Linear and the MLP


@st.composite
def linear_cases(draw):
    """x (..., c_in) with 0-2 leading dimensions, W (c_out, c_in) with c_out != c_in most of
    the time, b or None, an upstream gradient."""
    lead = tuple(draw(st.lists(st.integers(1, 5), max_size=2)))
    c_in, c_out = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dtype = draw(st.sampled_from(DTYPES))
    gen = seeded(draw)
    x = torch.randn(*lead, c_in, generator=gen, dtype=dtype)
    W = torch.randn(c_out, c_in, generator=gen, dtype=dtype)
    b = torch.randn(c_out, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    return x, W, b, torch.randn(*lead, c_out, generator=gen, dtype=dtype)


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(linear_cases())
def test_linear_and_its_backward_match_nn_linear(case):
    x, W, b, dL_dy = case
    layer = torch.nn.Linear(W.shape[1], W.shape[0], bias=b is not None, dtype=x.dtype)
    with torch.no_grad():
        layer.weight.copy_(W)
        if b is not None:
            layer.bias.copy_(b)
    x_leaf = x.clone().requires_grad_()
    y = layer(x_leaf)
    torch.testing.assert_close(linear(x, W, b), y.detach(), **tol(x.dtype))
    torch.testing.assert_close(linear(x, W, b), F.linear(x, W, b), **tol(x.dtype))
    params = [x_leaf, layer.weight] + ([layer.bias] if b is not None else [])
    expected = torch.autograd.grad(y, params, dL_dy)
    dL_dx, dL_dW, dL_db = linear_backward(x, W, dL_dy)
    torch.testing.assert_close(dL_dx, expected[0], **tol(x.dtype))
    torch.testing.assert_close(dL_dW, expected[1], **tol(x.dtype))
    if b is not None:
        torch.testing.assert_close(dL_db, expected[2], **tol(x.dtype))
    assert sum(p.numel() for p in layer.parameters()) == W.shape[0] * (
        W.shape[1] + (b is not None)
    )


def test_linear_gradcheck_float64():
    gen = torch.Generator().manual_seed(1)
    x, W, b = (
        torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)
        for s in ((3, 4), (2, 4), (2,))
    )
    assert torch.autograd.gradcheck(linear, (x, W, b))


@st.composite
def networks(draw):
    """An input (batch, c_0) and 1-4 layers of widths 1-6, weights N(0, 2 / fan_in)."""
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
    gen = seeded(draw)
    x = torch.randn(draw(st.integers(1, 4)), widths[0], generator=gen, dtype=F64)
    layers = [
        (
            torch.randn(o, i, generator=gen, dtype=F64) * math.sqrt(2 / i),
            torch.randn(o, generator=gen, dtype=F64),
        )
        for i, o in zip(widths, widths[1:])
    ]
    return x, layers


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(networks(), st.sampled_from(sorted(ACTIVATIONS)))
def test_mlp_and_its_input_gradient_match_torch(case, name):
    x, layers = case
    phi, phi_grad = ACTIVATIONS[name]
    modules = []
    for k, (W, b) in enumerate(layers):
        linear_module = torch.nn.Linear(W.shape[1], W.shape[0], dtype=F64)
        with torch.no_grad():
            linear_module.weight.copy_(W)
            linear_module.bias.copy_(b)
        modules.append(linear_module)
        if k < len(layers) - 1:
            modules.append(torch.nn.Module())
            modules[-1].forward = TORCH[name]
    x_leaf = x.clone().requires_grad_()
    y = x_leaf
    for module in modules:
        y = module(y)
    torch.testing.assert_close(mlp(x, layers, phi), y.detach())
    dL_dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    (expected,) = torch.autograd.grad(y, x_leaf, dL_dy)
    torch.testing.assert_close(
        mlp_input_grad(x, layers, phi, phi_grad, dL_dy), expected
    )


def test_gradient_growth_through_depth_follows_the_jacobians_rms_gain():
    """Wide random ReLU nets, weights N(0, g^2 / width): |dL/dx| grows by g / sqrt(2) per
    layer; tanh with g = 3 explodes although tanh' <= 1."""
    width = 128
    for name, gain, rate in [
        ("relu", 1.0, 1 / math.sqrt(2)),
        ("relu", 2.0, math.sqrt(2)),
        ("tanh", 3.0, None),
    ]:
        gen = torch.Generator().manual_seed(2)
        layers = [
            (
                gain
                / math.sqrt(width)
                * torch.randn(width, width, generator=gen, dtype=F64),
                torch.zeros(width, dtype=F64),
            )
            for _ in range(26)
        ]
        x = torch.randn(1, width, generator=gen, dtype=F64)
        v = torch.full((1, width), 1 / math.sqrt(width), dtype=F64)
        phi, phi_grad = ACTIVATIONS[name]
        norms = [
            mlp_input_grad(x, layers[: d + 1], phi, phi_grad, v).norm() for d in (5, 25)
        ]
        growth = (norms[1] / norms[0]) ** (1 / 20)
        if rate is not None:
            assert abs(growth / rate - 1) < 0.06, (name, gain, growth)
        else:
            assert growth > 1.2


@pytest.mark.parametrize(
    "name,gain", [("relu", 2.0), ("sigmoid", 1.0), ("tanh", 3.0), ("gelu", 1.5)]
)
def test_input_gradient_is_bounded_by_the_largest_singular_values(name, gain):
    """|dL/dx| <= |dL/dy| |W_L|_2 prod_l |diag(phi'(z_l)) W_l|_2; with sigmoid (phi' <= 1/4)
    and weights N(0, 1 / width), every factor is below 1."""
    width, depth = 48, 12
    gen = torch.Generator().manual_seed(3)
    layers = [
        (
            gain
            / math.sqrt(width)
            * torch.randn(width, width, generator=gen, dtype=F64),
            0.1 * torch.randn(width, generator=gen, dtype=F64),
        )
        for _ in range(depth + 1)
    ]
    x = torch.randn(1, width, generator=gen, dtype=F64)
    v = torch.randn(1, width, generator=gen, dtype=F64)
    phi, phi_grad = ACTIVATIONS[name]
    largest, h = [], x
    for W, b in layers[:-1]:
        z = linear(h, W, b)
        largest.append(torch.linalg.matrix_norm(phi_grad(z)[0, :, None] * W, ord=2))
        h = phi(z)
    largest = torch.stack(largest)
    bound = v.norm() * torch.linalg.matrix_norm(layers[-1][0], ord=2) * largest.prod()
    assert mlp_input_grad(x, layers, phi, phi_grad, v).norm() <= bound
    if name == "sigmoid":
        assert (largest < 1).all()


# The interpolant


@st.composite
def knot_sets(draw):
    """2-40 strictly increasing knots with random gaps, and values at them."""
    n = draw(st.integers(2, 40))
    gen = seeded(draw)
    gaps = 0.05 + torch.rand(n - 1, generator=gen, dtype=F64)
    knots = torch.cat([torch.zeros(1, dtype=F64), gaps.cumsum(0)]) - 1
    return knots, 3 * torch.randn(n, generator=gen, dtype=F64)


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(knot_sets())
def test_relu_interpolant_is_the_piecewise_linear_interpolation(case):
    knots, values = case
    layers = relu_interpolant(knots, values)
    assert layers[0][0].shape == (len(knots) - 1, 1) and layers[1][0].shape == (
        1,
        len(knots) - 1,
    )
    torch.testing.assert_close(mlp(knots[:, None], layers, relu)[:, 0], values)
    x = torch.linspace(knots[0].item(), knots[-1].item(), 1001, dtype=F64)
    expected = np.interp(x.numpy(), knots.numpy(), values.numpy())
    torch.testing.assert_close(
        mlp(x[:, None], layers, relu)[:, 0], torch.from_numpy(expected)
    )
    left = mlp(torch.tensor([[knots[0].item() - 5.0]], dtype=F64), layers, relu)
    torch.testing.assert_close(left[0, 0], values[0])  # constant on the left


@pytest.mark.parametrize(
    "f,f2_max", [(torch.sin, 1.0), (torch.exp, math.exp(1)), (lambda t: t**3, 6.0)]
)
def test_relu_interpolant_error_is_at_most_h_squared_over_8(f, f2_max):
    x = torch.linspace(-1, 1, 4001, dtype=F64)
    errors = []
    for n in (4, 8, 16, 32, 64):
        knots = torch.linspace(-1, 1, n + 1, dtype=F64)
        error = (
            (mlp(x[:, None], relu_interpolant(knots, f(knots)), relu)[:, 0] - f(x))
            .abs()
            .max()
        )
        assert error <= (2 / n) ** 2 / 8 * f2_max * (1 + 1e-9)
        errors.append(error.item())
    assert all(3.3 < a / b < 4.5 for a, b in zip(errors[1:], errors[2:]))


# Errors


def bad(name, call, message):
    return pytest.param(call, message, id=name)


X = torch.zeros(4, 3)
BAD = [
    bad(
        "linear-W-shape",
        lambda: linear(X, torch.zeros(5, 4)),
        r"W \(5, 4\) is \(c_out, c_in\): its c_in = 4",
    ),
    bad(
        "linear-W-transposed",
        lambda: linear(X, torch.zeros(3, 5)),
        r"its c_in = 5 must match",
    ),
    bad(
        "linear-W-1d",
        lambda: linear(X, torch.zeros(3)),
        r"W must have shape \(c_out, c_in\), got \(3,\)",
    ),
    bad(
        "linear-b",
        lambda: linear(X, torch.zeros(5, 3), torch.zeros(5, 1)),
        r"b must have shape \(5,\)",
    ),
    bad(
        "linear-x-scalar",
        lambda: linear(torch.tensor(1.0), torch.zeros(5, 1)),
        "x must have at least 1 dimension",
    ),
    bad(
        "linear-x-int",
        lambda: linear(X.long(), torch.zeros(5, 3)),
        "x must be a floating-point tensor",
    ),
    bad(
        "linear-backward-g",
        lambda: linear_backward(X, torch.zeros(5, 3), torch.zeros(4, 3)),
        r"dL_dy must have shape \(4, 5\) \(y's: x's leading dims, W's c_out\), "
        r"got torch.float32 of shape \(4, 3\)",
    ),
    bad(
        "linear-backward-g-int",
        lambda: linear_backward(
            X, torch.zeros(5, 3), torch.zeros(4, 5, dtype=torch.long)
        ),
        "dL_dy must be a floating-point tensor",
    ),
    bad("mlp-empty", lambda: mlp(X, [], relu), "at least one layer"),
    bad(
        "mlp-chain",
        lambda: mlp(
            X,
            [(torch.zeros(5, 3), torch.zeros(5)), (torch.zeros(2, 4), torch.zeros(2))],
            relu,
        ),
        r"layer 2: W must have shape \(c_out, 5\) to take its 5 input features \(from layer 1\), got \(2, 4\)",
    ),
    bad(
        "mlp-x-width",
        lambda: mlp(torch.zeros(4, 0), [(torch.zeros(5, 3), None)], relu),
        r"layer 1: W must have shape \(c_out, 0\) to take its 0 input features \(from x\)",
    ),
    bad(
        "mlp-bias",
        lambda: mlp(X, [(torch.zeros(5, 3), torch.zeros(3))], relu),
        r"layer 1: b must have shape \(5,\)",
    ),
    bad(
        "mlp-input-grad-g",
        lambda: mlp_input_grad(
            X, [(torch.zeros(5, 3), None)], relu, relu, torch.zeros(4, 4)
        ),
        r"dL_dy must have shape \(4, 5\) \(y's: x's leading dims, the last W's c_out\)",
    ),
    bad(
        "prelu-slopes",
        lambda: prelu(X, torch.ones(4)),
        r"one slope per channel .* got shape \(4,\)",
    ),
    bad(
        "prelu-slopes-1d-x",
        lambda: prelu(torch.zeros(3), torch.ones(3)),
        "one slope per channel",
    ),
    bad(
        "prelu-grad-slopes",
        lambda: prelu_grad(X, torch.ones(2, 3)),
        "one slope per channel",
    ),
    bad(
        "leaky-slope",
        lambda: leaky_relu(X, math.nan),
        "a must be a finite number, got nan",
    ),
    bad(
        "leaky-slope-tensor",
        lambda: leaky_relu_grad(X, torch.tensor(0.1)),
        "a must be a finite number",
    ),
    bad("elu-alpha", lambda: elu(X, "1"), "alpha must be a finite number, got '1'"),
    bad(
        "activation-int",
        lambda: ACTIVATIONS["gelu"][1](torch.zeros(3, dtype=torch.long)),
        "x must be a floating-point",
    ),
    bad("glu-odd", lambda: glu(X), r"glu splits dim -1 of x \(4, 3\) in halves"),
    bad("glu-dim", lambda: glu(X, 2), r"glu splits dim 2"),
    bad(
        "ffn-variant",
        lambda: glu_ffn(
            X, torch.zeros(8, 3), torch.zeros(8, 3), torch.zeros(2, 8), "swish"
        ),
        "variant must be one of",
    ),
    bad(
        "ffn-shapes",
        lambda: glu_ffn(X, torch.zeros(8, 3), torch.zeros(8, 4), torch.zeros(2, 8)),
        r"W and V must be \(hidden, c_in\) with c_in = 3, the last dimension of x",
    ),
    bad(
        "ffn-W2",
        lambda: glu_ffn(X, torch.zeros(8, 3), torch.zeros(8, 3), torch.zeros(2, 7)),
        r"W2 \(2, 7\)",
    ),
    bad(
        "ffn-backward-g",
        lambda: glu_ffn_backward(
            X,
            torch.zeros(8, 3),
            torch.zeros(8, 3),
            torch.zeros(2, 8),
            "glu",
            torch.zeros(4, 3),
        ),
        r"dL_dy must have shape \(4, 2\)",
    ),
    bad(
        "knots-order",
        lambda: relu_interpolant(torch.tensor([0.0, 1.0, 1.0]), torch.zeros(3)),
        "strictly increasing",
    ),
    bad(
        "knots-values",
        lambda: relu_interpolant(torch.tensor([0.0, 1.0]), torch.zeros(3)),
        "one length >= 2",
    ),
    bad(
        "knots-one",
        lambda: relu_interpolant(torch.tensor([0.0]), torch.zeros(1)),
        "one length >= 2",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

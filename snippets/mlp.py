"""Fully-connected networks with every derivative written out: the Linear layer
y = x W^T + b and its backward pass, an MLP's forward pass and the gradient at its
input, activation functions (ReLU to GELU and SiLU) with their derivatives, GLU
feed-forward variants, and a one-hidden-layer ReLU network that interpolates a function
piecewise-linearly.

Shapes follow torch.nn.Linear: x (..., c_in), W (c_out, c_in), b (c_out,) give
y = x W^T + b (..., c_out); for an upstream gradient g = dL/dy,

    dL/dx = g W,   dL/dW = g^T x,   dL/db = sum of g over the leading dimensions.

Each activation ``phi`` comes with ``phi_grad``, its derivative elementwise, with the
value torch's autograd uses at a kink. Functions check their input and raise ValueError
naming what is wrong. This module imports torch, the standard library and the package's
shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import math
from typing import Callable

import torch
from torch import Tensor

from snippets.checks import check_float, check_number, check_shape
# --8<-- [end:imports]

__all__ = [
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "prelu",
    "prelu_grad",
    "softplus",
    "softplus_grad",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
    "silu",
    "silu_grad",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "ACTIVATIONS",
    "glu",
    "glu_ffn",
    "glu_ffn_backward",
    "linear",
    "linear_backward",
    "mlp",
    "mlp_input_grad",
    "relu_interpolant",
]


# --8<-- [start:checks]
def check_slopes(x: Tensor, **slopes: float) -> None:
    """A floating-point tensor x, and finite numbers for the slopes named (a, alpha).
    Dtypes: float32, float64."""
    check_float("x", x)
    for name, value in slopes.items():
        check_number(name, value)


def check_prelu(x: Tensor, a: Tensor) -> None:
    """x floating, and PReLU's slopes a: a scalar tensor, or one slope per channel
    (dim 1 of x). Dtypes: float32, float64."""
    check_float("x", x)
    check_float("a", a)
    if a.dim() != 0 and (a.dim() != 1 or x.dim() < 2 or x.shape[1] != a.shape[0]):
        raise ValueError(
            f"a must be a scalar or hold one slope per channel (dim 1 of x, shape "
            f"{tuple(x.shape)}), got shape {tuple(a.shape)}"
        )


def check_grad(dL_dy: Tensor, shape: tuple[int, ...], why: str) -> None:
    """An upstream gradient dL_dy: a floating-point tensor of the output's shape
    (``why`` says where it comes from). Dtypes: float32, float64."""
    check_float("dL_dy", dL_dy)
    check_shape("dL_dy", dL_dy, shape, why)


def check_glu(x: Tensor, dim: int) -> None:
    """x floating, with a dimension dim of even size to split in halves.
    Dtypes: float32, float64."""
    check_float("x", x, min_dim=1)
    if not -x.dim() <= dim < x.dim() or x.shape[dim] % 2:
        raise ValueError(
            f"glu splits dim {dim} of x {tuple(x.shape)} in halves: it must "
            "exist and have an even size"
        )


def check_ffn(
    x: Tensor,
    W: Tensor,
    V: Tensor,
    W2: Tensor,
    variant: str,
    dL_dy: Tensor | None = None,
) -> None:
    """x (..., c_in), W and V (hidden, c_in), W2 (c_out, hidden), a variant of GATES,
    and dL_dy (..., c_out) when given. Dtypes: float32, float64."""
    for name, t, k in (("x", x, 1), ("W", W, 2), ("V", V, 2), ("W2", W2, 2)):
        check_float(name, t, min_dim=k)
    if (
        W.dim() != 2
        or V.shape != W.shape
        or W.shape[1] != x.shape[-1]
        or W2.dim() != 2
        or W2.shape[1] != W.shape[0]
    ):
        raise ValueError(
            f"W and V must be (hidden, c_in) with c_in = {x.shape[-1]}, the last "
            f"dimension of x, and W2 (c_out, hidden); got W {tuple(W.shape)}, "
            f"V {tuple(V.shape)}, W2 {tuple(W2.shape)}"
        )
    if variant not in GATES:
        raise ValueError(f"variant must be one of {sorted(GATES)}, got {variant!r}")
    if dL_dy is not None:
        check_grad(
            dL_dy, (*x.shape[:-1], W2.shape[0]), "y's: x's leading dims, W2's c_out"
        )


def check_linear(
    x: Tensor, W: Tensor, b: Tensor | None = None, dL_dy: Tensor | None = None
) -> None:
    """x (..., c_in), W (c_out, c_in), b (c_out,) or None, and dL_dy (..., c_out) when
    given. Dtypes: float32, float64."""
    check_float("x", x, min_dim=1)
    check_float("W", W)
    if W.dim() != 2:
        raise ValueError(f"W must have shape (c_out, c_in), got {tuple(W.shape)}")
    if W.shape[1] != x.shape[-1]:
        raise ValueError(
            f"W {tuple(W.shape)} is (c_out, c_in): its c_in = {W.shape[1]} must "
            f"match the last dimension of x {tuple(x.shape)}"
        )
    if b is not None:
        check_float("b", b)
        check_shape("b", b, W.shape[:1], f"W's c_out, for W {tuple(W.shape)}")
    if dL_dy is not None:
        check_grad(
            dL_dy, (*x.shape[:-1], W.shape[0]), "y's: x's leading dims, W's c_out"
        )


def check_layers(
    x: Tensor, layers: list[tuple[Tensor, Tensor | None]], dL_dy: Tensor | None = None
) -> None:
    """At least one (W, b) pair; W_l (c_l, c_{l-1}) takes the previous layer's c_{l-1}
    features (x's last dimension for the first), b_l (c_l,) or None; dL_dy (..., c_L)
    when given. Dtypes: float32, float64."""
    check_float("x", x, min_dim=1)
    if not layers:
        raise ValueError("an MLP needs at least one layer")
    width = x.shape[-1]
    for k, (W, b) in enumerate(layers, 1):
        check_float(f"layer {k}'s W", W)
        if W.dim() != 2 or W.shape[1] != width:
            raise ValueError(
                f"layer {k}: W must have shape (c_out, {width}) to take its {width} "
                f"input features (from {'x' if k == 1 else f'layer {k - 1}'}), "
                f"got {tuple(W.shape)}"
            )
        if b is not None:
            check_float(f"layer {k}'s b", b)
            if b.shape != W.shape[:1]:
                got = tuple(b.shape)
                raise ValueError(
                    f"layer {k}: b must have shape ({W.shape[0]},), got {got}"
                )
        width = W.shape[0]
    if dL_dy is not None:
        check_grad(
            dL_dy, (*x.shape[:-1], width), "y's: x's leading dims, the last W's c_out"
        )


def check_knots(knots: Tensor, values: Tensor) -> None:
    """knots and values (n + 1,), n >= 1, floating; knots strictly increasing.
    Dtypes: float32, float64."""
    check_float("knots", knots, min_dim=1)
    check_float("values", values, min_dim=1)
    if knots.dim() != 1 or values.shape != knots.shape or len(knots) < 2:
        raise ValueError(
            f"knots and values must be 1-d of one length >= 2, got "
            f"{tuple(knots.shape)} and {tuple(values.shape)}"
        )
    if not (knots[1:] > knots[:-1]).all():
        raise ValueError("knots must be strictly increasing")


# --8<-- [end:checks]


# --8<-- [start:relu]
def relu(x: Tensor) -> Tensor:
    """max(0, x).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return x.clamp(min=0)


def relu_grad(x: Tensor) -> Tensor:
    """1 for x > 0, else 0 (at the kink x = 0, torch's choice: 0).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return (x > 0).to(x.dtype)


def leaky_relu(x: Tensor, a: float = 0.01) -> Tensor:
    """x for x > 0, a x otherwise.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_slopes(x, a=a)
    return torch.where(x > 0, x, a * x)


def leaky_relu_grad(x: Tensor, a: float = 0.01) -> Tensor:
    """1 for x > 0, a otherwise (a at x = 0, as torch).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_slopes(x, a=a)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))


def _channel_slopes(x: Tensor, a: Tensor) -> Tensor:
    """PReLU's slopes a, shape () or (C,) with C = x.shape[1], viewed to broadcast along
    dim 1."""
    return a if a.dim() == 0 else a.view(-1, *[1] * (x.dim() - 2))


def prelu(x: Tensor, a: Tensor) -> Tensor:
    """Leaky ReLU with learned slopes: x for x > 0, a_c x otherwise, a_c the slope of
    x's channel c (dim 1), or one shared slope when a is a scalar tensor
    (as torch.nn.PReLU).
    Dtypes: float32, float64."""
    check_prelu(x, a)
    a_c = _channel_slopes(x, a)
    return torch.where(x > 0, x, a_c * x)


def prelu_grad(x: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """The partial derivatives of prelu(x, a)[i] in x[i] (1 or a_c) and in its slope a_c
    (0 for x > 0, x otherwise), both of x's shape. The gradient of a sum in a is the
    second summed over every dimension but the channel one. Dtypes: float32, float64."""
    check_prelu(x, a)
    a_c = _channel_slopes(x, a)
    positive = x > 0
    return (
        torch.where(positive, torch.ones_like(x), a_c.expand_as(x)),
        torch.where(positive, torch.zeros_like(x), x),
    )


# --8<-- [end:relu]


# --8<-- [start:smooth]
def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^{-x}).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return torch.sigmoid(x)


def sigmoid_grad(x: Tensor) -> Tensor:
    """sigma(x) (1 - sigma(x)), at most 1/4 (at x = 0).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: Tensor) -> Tensor:
    """(e^x - e^{-x}) / (e^x + e^{-x}) = 2 sigma(2x) - 1.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return torch.tanh(x)


def tanh_grad(x: Tensor) -> Tensor:
    """1 - tanh(x)^2, at most 1 (at x = 0).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    return 1 - tanh(x) ** 2


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x) = max(x, 0) + log(1 + e^{-|x|}): smooth, positive,
    softplus(0) = log 2.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))


def softplus_grad(x: Tensor) -> Tensor:
    """d/dx log(1 + e^x) = e^x / (1 + e^x) = sigma(x).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    return sigmoid(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_slopes(x, alpha=alpha)
    return torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))


def elu_grad(x: Tensor, alpha: float = 1.0) -> Tensor:
    """1 for x > 0, alpha e^x otherwise (= elu(x) + alpha there).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_slopes(x, alpha=alpha)
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x.clamp(max=0)))


# --8<-- [end:smooth]


# --8<-- [start:gelu]
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(x: Tensor) -> Tensor:
    """x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard normal CDF.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def gelu_grad(x: Tensor) -> Tensor:
    """d/dx x Phi(x) = Phi(x) + x phi(x), phi(x) = e^{-x^2/2} / sqrt(2 pi) the normal
    density.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    Phi = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    phi = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return Phi + x * phi


def gelu_tanh(x: Tensor) -> Tensor:
    """The tanh approximation x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    u = SQRT_2_OVER_PI * (x + 0.044715 * x**3)
    return 0.5 * x * (1 + torch.tanh(u))


def gelu_tanh_grad(x: Tensor) -> Tensor:
    """(1 + tanh u) / 2 + x (1 - tanh^2 u) u' / 2,
    u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("x", x)
    t = torch.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3))
    du_dx = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x**2)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du_dx


def silu(x: Tensor) -> Tensor:
    """x sigma(x) (also called swish).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    return x * sigmoid(x)


def silu_grad(x: Tensor) -> Tensor:
    """sigma(x) + x sigma(x) (1 - sigma(x)) = sigma(x) (1 + x (1 - sigma(x))).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    s = sigmoid(x)
    return s * (1 + x * (1 - s))


# --8<-- [end:gelu]


# --8<-- [start:activations]
ACTIVATIONS: dict[
    str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]
] = {
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "softplus": (softplus, softplus_grad),
    "elu": (elu, elu_grad),
    "gelu": (gelu, gelu_grad),
    "gelu_tanh": (gelu_tanh, gelu_tanh_grad),
    "silu": (silu, silu_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
}
# --8<-- [end:activations]


# --8<-- [start:glu]
def glu(x: Tensor, dim: int = -1) -> Tensor:
    """Split x in halves (a, b) along dim; a * sigma(b), as torch.nn.functional.glu: the
    second half is the gate. Dtypes: float32, float64."""
    check_glu(x, dim)
    a, b = x.chunk(2, dim)
    return a * torch.sigmoid(b)


GATES = {"glu": "sigmoid", "reglu": "relu", "geglu": "gelu", "swiglu": "silu"}


def glu_ffn(
    x: Tensor, W: Tensor, V: Tensor, W2: Tensor, variant: str = "swiglu"
) -> Tensor:
    """A gated feed-forward layer (Shazeer 2020): (phi(x W^T) * x V^T) W2^T, the gate's
    phi sigmoid (GLU), relu (ReGLU), gelu (GEGLU) or silu (SwiGLU). x (..., c_in), W and
    V (hidden, c_in), W2 (c_out, hidden) -> (..., c_out). Dtypes: float32, float64."""
    check_ffn(x, W, V, W2, variant)
    phi, _ = ACTIVATIONS[GATES[variant]]
    return (phi(x @ W.T) * (x @ V.T)) @ W2.T


def glu_ffn_backward(
    x: Tensor, W: Tensor, V: Tensor, W2: Tensor, variant: str, dL_dy: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """With A = x W^T, B = x V^T, H = phi(A) * B, y = H W2^T and G = dL/dH = dL_dy W2:
    dL/dA = G * B * phi'(A), dL/dB = G * phi(A), and then the Linear rules: returns
    dL/dx = dL_dA W + dL_dB V, dL/dW = dL_dA^T x, dL/dV = dL_dB^T x, dL/dW2 = dL_dy^T H
    (leading dimensions flattened into one batch). Dtypes: float32, float64."""
    check_ffn(x, W, V, W2, variant, dL_dy)
    phi, phi_grad = ACTIVATIONS[GATES[variant]]
    x2, g2 = x.reshape(-1, x.shape[-1]), dL_dy.reshape(-1, W2.shape[0])
    A, B = x2 @ W.T, x2 @ V.T
    H = phi(A) * B
    G = g2 @ W2
    dL_dA, dL_dB = G * B * phi_grad(A), G * phi(A)
    dL_dx = (dL_dA @ W + dL_dB @ V).reshape(x.shape)
    return dL_dx, dL_dA.T @ x2, dL_dB.T @ x2, g2.T @ H


# --8<-- [end:glu]


# --8<-- [start:linear]
def linear(x: Tensor, W: Tensor, b: Tensor | None = None) -> Tensor:
    """y = x W^T + b, as torch.nn.Linear: x (..., c_in), W (c_out, c_in), b (c_out,)
    -> y (..., c_out). (c_in + 1) c_out parameters. Dtypes: float32, float64."""
    check_linear(x, W, b)
    y = x @ W.T
    return y if b is None else y + b


def linear_backward(
    x: Tensor, W: Tensor, dL_dy: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """For y = x W^T + b and g = dL/dy (..., c_out): dL/dx = g W (..., c_in),
    dL/dW = g^T x (c_out, c_in) and dL/db = g summed over the leading dimensions
    (c_out,).
    Dtypes: float32, float64."""
    check_linear(x, W, dL_dy=dL_dy)
    x2, g2 = x.reshape(-1, x.shape[-1]), dL_dy.reshape(-1, W.shape[0])
    return dL_dy @ W, g2.T @ x2, g2.sum(0)


# --8<-- [end:linear]


# --8<-- [start:mlp]
Layers = list[tuple[Tensor, Tensor]]


def mlp(x: Tensor, layers: Layers, phi: Callable[[Tensor], Tensor]) -> Tensor:
    """h_0 = x, h_l = phi(h_{l-1} W_l^T + b_l) for the hidden layers, and the last layer
    linear: y = h_{L-1} W_L^T + b_L. x (..., c_0), W_l (c_l, c_{l-1}) -> y (..., c_L).
    Dtypes: float32, float64."""
    check_layers(x, layers)
    h = x
    for W, b in layers[:-1]:
        h = phi(linear(h, W, b))
    W, b = layers[-1]
    return linear(h, W, b)


# --8<-- [end:mlp]


# --8<-- [start:mlp_input_grad]
def mlp_input_grad(
    x: Tensor,
    layers: Layers,
    phi: Callable[[Tensor], Tensor],
    phi_grad: Callable[[Tensor], Tensor],
    dL_dy: Tensor,
) -> Tensor:
    """dL/dx for y = mlp(x, layers, phi), by the chain rule backwards: with z_l the
    pre-activations, g = dL_dy W_L, then g = (g * phi'(z_l)) W_l for l = L-1, ..., 1.
    Each step multiplies by the layer's Jacobian diag(phi'(z_l)) W_l.
    Dtypes: float32, float64."""
    check_layers(x, layers, dL_dy)
    z, h = [], x
    for W, b in layers[:-1]:
        z.append(linear(h, W, b))
        h = phi(z[-1])
    g = dL_dy @ layers[-1][0]
    for (W, _), z_l in zip(reversed(layers[:-1]), reversed(z)):
        g = (g * phi_grad(z_l)) @ W
    return g


# --8<-- [end:mlp_input_grad]


# --8<-- [start:interpolant]
def relu_interpolant(knots: Tensor, values: Tensor) -> Layers:
    """A one-hidden-layer ReLU network g(x) = v_0 + sum_k c_k relu(x - t_k), k = 0..n-1,
    that passes through the n + 1 points (t_k, v_k) and is linear between them:
    c_0 = s_0 and c_k = s_k - s_{k-1}, s_k = (v_{k+1} - v_k) / (t_{k+1} - t_k) the slope
    on [t_k, t_{k+1}]. knots (n + 1,) increasing, values (n + 1,) -> layers
    [(W1 (n, 1), b1 (n,)), (W2 (1, n), b2 (1,))] for ``mlp(x[:, None], layers, relu)``:
    n hidden units. Dtypes: float32, float64."""
    check_knots(knots, values)
    s = (values[1:] - values[:-1]) / (knots[1:] - knots[:-1])  # (n,) slopes
    c = torch.cat([s[:1], s[1:] - s[:-1]])  # (n,) changes of slope
    W1, b1 = torch.ones_like(knots[:-1])[:, None], -knots[:-1]
    return [(W1, b1), (c[None, :], values[:1])]


# --8<-- [end:interpolant]

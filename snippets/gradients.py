"""Gradients and Jacobians: central finite differences, directional derivatives,
Jacobians row by row (reverse mode, vector-Jacobian products) and column by column
(forward mode, Jacobian-vector products), the chain rule as a Jacobian product, and the
first-order Taylor approximation.

For f: R^n -> R^m the Jacobian J is (m, n) with J[i, j] = d f_i / d x_j: one row per
output, one column per input. Points are 1-D tensors ``x`` (n,); f returns a 1-D tensor
(m,) or a scalar, which counts as m = 1. Every function checks its input and raises
ValueError naming what is wrong. This module imports torch, the standard library and the
package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
from collections.abc import Callable

import torch
from torch import Tensor

from snippets.checks import check_float, check_number

Function = Callable[[Tensor], Tensor]
# --8<-- [end:imports]

__all__ = [
    "directional_derivative",
    "jacobian_fd",
    "jacobian_rev",
    "jacobian_fwd",
    "chain_rule",
    "linearize",
]


# --8<-- [start:checks]
def check_point(name: str, x: Tensor, n: int | None = None) -> None:
    """x is a 1-D floating tensor with finite values (and n elements, when given).
    Dtypes: float32, float64."""
    check_float(name, x, finite=True)
    if x.dim() != 1 or x.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D tensor, got shape {tuple(x.shape)}"
        )
    if n is not None and x.numel() != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(x.shape)}")


def check_direction(x: Tensor, v: Tensor, h: float | None) -> None:
    """A point x (n,), a direction v (n,) and a step h: None (the default) or > 0.
    Dtypes: float32, float64."""
    check_point("x", x)
    check_point("v", v, n=x.numel())
    if h is not None:
        check_number("h", h, positive=True)


def as_vector(y: Tensor, name: str = "f") -> Tensor:
    """A function's output as a 1-D tensor (m,); a scalar output is m = 1.
    Dtypes: float32, float64."""
    if not isinstance(y, Tensor) or not y.is_floating_point():
        raise ValueError(
            f"{name} must return a floating-point tensor y, got "
            f"{y.dtype if isinstance(y, Tensor) else type(y).__name__}"
        )
    if y.dim() > 1:
        raise ValueError(
            f"{name} must return a scalar or a 1-D tensor y, got shape {tuple(y.shape)}"
        )
    return y.reshape(-1)


def step(h: float | None, dtype: torch.dtype) -> float:
    """The finite-difference step: h if given, else eps^(1/3) of the dtype, which
    balances the O(h^2) truncation error of central differences against the O(eps / h)
    rounding error. Dtypes: float32, float64."""
    return torch.finfo(dtype).eps ** (1 / 3) if h is None else float(h)


# --8<-- [end:checks]


# --8<-- [start:directional_derivative]
def directional_derivative(
    f: Function, x: Tensor, v: Tensor, h: float | None = None
) -> Tensor:
    """D_v f(x) = lim_{t -> 0} (f(x + t v) - f(x)) / t = J(x) v, by the central
    difference:

        (f(x + h v) - f(x - h v)) / (2 h),   error O(h^2).

    x, v (n,) -> (m,). For a scalar f this is the number grad f(x) . v (shape (1,)).
    Dtypes: float32, float64.
    """
    check_direction(x, v, h)
    h = step(h, x.dtype)
    return (as_vector(f(x + h * v)) - as_vector(f(x - h * v))) / (2 * h)


# --8<-- [end:directional_derivative]


# --8<-- [start:jacobian_fd]
def jacobian_fd(f: Function, x: Tensor, h: float | None = None) -> Tensor:
    """J[i, j] = d f_i / d x_j at x, (m, n): column j is the directional derivative
    along the basis vector e_j, by central differences (2 n evaluations of f).
    Dtypes: float32, float64."""
    check_point("x", x)
    E = torch.eye(x.numel(), dtype=x.dtype, device=x.device)  # rows e_1 ... e_n
    columns = [directional_derivative(f, x, e, h) for e in E]
    return torch.stack(columns, dim=1)


# --8<-- [end:jacobian_fd]


# --8<-- [start:jacobian_rev]
def jacobian_rev(f: Function, x: Tensor) -> Tensor:
    """J (m, n) row by row in reverse mode: one evaluation of f records the computation,
    then the vector-Jacobian product with the basis vector e_i of the *output* space
    gives row i, e_i^T J = (grad f_i)^T. m backward passes, one per output.
    Dtypes: float32, float64."""
    check_point("x", x)
    x = x.detach().requires_grad_()
    with torch.enable_grad():
        y = as_vector(f(x))
    if not y.requires_grad:  # f does not depend on x
        return x.new_zeros(y.numel(), x.numel())
    rows = [
        torch.autograd.grad(y, x, grad_outputs=e, retain_graph=True, allow_unused=True)
        for e in torch.eye(y.numel(), dtype=y.dtype, device=y.device)
    ]
    return torch.stack([torch.zeros_like(x) if r is None else r for (r,) in rows])


# --8<-- [end:jacobian_rev]


# --8<-- [start:jacobian_fwd]
def jacobian_fwd(f: Function, x: Tensor) -> Tensor:
    """J (m, n) column by column in forward mode: the Jacobian-vector product with the
    basis vector e_j of the *input* space carries f forward once and gives column j,
    J e_j. n products, one per input. Dtypes: float32, float64."""
    check_point("x", x)
    g = lambda x: as_vector(f(x))  # noqa: E731
    E = torch.eye(x.numel(), dtype=x.dtype, device=x.device)  # rows e_1 ... e_n
    columns = [torch.func.jvp(g, (x,), (e,))[1] for e in E]
    return torch.stack(columns, dim=1)


# --8<-- [end:jacobian_fwd]


# --8<-- [start:chain_rule]
def chain_rule(
    f: Function,
    g: Function,
    x: Tensor,
    jacobian: Callable[[Function, Tensor], Tensor] = jacobian_rev,
) -> Tensor:
    """The Jacobian of f o g at x as a product of Jacobians:

        J_{f o g}(x) = J_f(g(x)) J_g(x),   (m, k) @ (k, n) -> (m, n),

    the outer function's Jacobian taken at the inner function's output, on the left.
    Dtypes: float32, float64.
    """
    check_point("x", x)
    u = as_vector(g(x), "g")  # the point where f's Jacobian is taken
    return jacobian(f, u) @ jacobian(g, x)


# --8<-- [end:chain_rule]


# --8<-- [start:linearize]
def linearize(f: Function, x0: Tensor) -> Function:
    """The first-order Taylor approximation of f at x0, as a function of the step
    dx (n,):

        f(x0 + dx) ~ f(x0) + J(x0) dx,   error O(||dx||^2) for twice-differentiable f.
    Dtypes: float32, float64.
    """
    check_point("x0", x0)
    y0, J = as_vector(f(x0)), jacobian_rev(f, x0)

    def f_lin(dx: Tensor) -> Tensor:
        check_point("dx", dx, n=x0.numel())
        return y0 + J @ dx

    return f_lin


# --8<-- [end:linearize]

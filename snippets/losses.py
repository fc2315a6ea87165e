"""Losses, risks and likelihoods: the 0/1, hinge and logistic losses of the margin, the
empirical risk, Gaussian and Laplace negative log-likelihoods, and MAP estimates and the
posterior of Bayesian linear regression.

For labels ``y`` in {-1, +1} and real scores ``f`` the margin is ``m = y f`` and

    zero_one(m) = [m <= 0],   hinge(m) = max(0, 1 - m),
    logistic(m) = log(1 + exp(-m)).

For linear regression ``y = X w + noise`` with noise N(0, sigma^2) and a prior N(0,
tau^2 I) on ``w`` (X (n, d), y (n,)), the posterior is N(mean, cov) with

    cov = (X^T X / sigma^2 + I / tau^2)^{-1},   mean = cov X^T y / sigma^2,

and its mode ``mean`` is ridge regression with lambda = sigma^2 / tau^2. Every function
checks its input and raises ValueError naming what is wrong. This module imports torch,
the standard library and the package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import math
from typing import Callable

import torch
from torch import Tensor

from snippets.checks import check_broadcast, check_float, check_int
# --8<-- [end:imports]

__all__ = [
    "margin",
    "zero_one_loss",
    "hinge_loss",
    "logistic_loss",
    "empirical_risk",
    "gaussian_nll",
    "laplace_nll",
    "ridge_map",
    "lasso_map",
    "blr_posterior",
    "blr_predictive",
]


# --8<-- [start:checks]
def check_scale(name: str, value) -> None:
    """A positive, finite scale (a standard deviation, a Laplace scale): a real number
    or a floating-point tensor. Dtypes: a Python number in the tests."""
    if isinstance(value, Tensor):
        ok = value.is_floating_point() and bool(
            torch.isfinite(value).all() and (value > 0).all()
        )
    else:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        )
    if not ok:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")


def check_margin(f: Tensor, y: Tensor) -> None:
    """Finite scores f and labels y in {-1, +1} of f's shape. Dtypes: float32,
    float64."""
    check_float("f", f, finite=True)
    if not isinstance(y, Tensor) or y.shape != f.shape:
        raise ValueError(
            f"y must be a tensor of f's shape {tuple(f.shape)}, "
            f"got {tuple(getattr(y, 'shape', ()))}"
        )
    if not ((y == 1) | (y == -1)).all():
        raise ValueError("y must hold labels -1 and +1 only")


def check_risk(f: Callable[[Tensor], Tensor], X: Tensor, y: Tensor) -> Tensor:
    """Finite X (n, ...) and y (n, ...) with n >= 1 rows; then the predictions f(X),
    checked to have y's shape, which it returns (f is called once, on checked input).
    Dtypes: float32, float64."""
    check_float("X", X, finite=True)
    rows = getattr(y, "shape", ())[:1]
    if not isinstance(y, Tensor) or X.dim() == 0 or rows != X.shape[:1]:
        raise ValueError(
            f"X {tuple(X.shape)} and y {tuple(getattr(y, 'shape', ()))} must "
            "have as many rows"
        )
    if y.shape[0] == 0:
        raise ValueError("the empirical risk of an empty dataset is undefined")
    prediction = f(X)
    if prediction.shape != y.shape:
        raise ValueError(
            f"f(X) has shape {tuple(prediction.shape)}, y has {tuple(y.shape)}"
        )
    return prediction


def check_nll(y: Tensor, f: Tensor, **scale) -> None:
    """Finite y and f and one positive scale (sigma=..., b=...), broadcasting
    together. Dtypes: float32, float64."""
    check_float("y", y, finite=True)
    check_float("f", f, finite=True)
    ((name, value),) = scale.items()
    check_scale(name, value)
    check_broadcast(y=y, f=f, **scale)


def check_regression(X: Tensor, y: Tensor, **scales) -> None:
    """X (n, d) and y (n,), finite, and positive scales (sigma=..., tau=..., b=...).
    Dtypes: float32, float64."""
    check_float("X", X, dim=2, finite=True)
    check_float("y", y, dim=1, finite=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X {tuple(X.shape)} and y {tuple(y.shape)} must have as many rows"
        )
    for name, value in scales.items():
        check_scale(name, value)


def check_lasso(X: Tensor, y: Tensor, sigma, b, steps) -> None:
    """A regression (X, y, sigma, b) and a number of steps >= 0. Dtypes: float32,
    float64."""
    check_regression(X, y, sigma=sigma, b=b)
    check_int("steps", steps)


def check_predictive(X_star: Tensor, mean: Tensor, cov: Tensor, sigma) -> None:
    """Finite X_star (m, d), mean (d,), cov (d, d) and a positive sigma. Dtypes:
    float32, float64."""
    check_float("X_star", X_star, dim=2, finite=True)
    check_float("mean", mean, dim=1, finite=True)
    check_float("cov", cov, dim=2, finite=True)
    check_scale("sigma", sigma)
    d = mean.shape[0]
    if X_star.shape[1] != d or cov.shape != (d, d):
        raise ValueError(
            f"X_star {tuple(X_star.shape)}, mean {tuple(mean.shape)} and cov "
            f"{tuple(cov.shape)} do not fit: need (m, {d}), ({d},), ({d}, {d})"
        )


# --8<-- [end:checks]


# --8<-- [start:margin]
def margin(f: Tensor, y: Tensor) -> Tensor:
    """m = y f, elementwise, for scores f and labels y in {-1, +1} of the same shape:
    positive when sign(f) is the label, negative when it is not.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_margin(f, y)
    return y.to(f.dtype) * f


def zero_one_loss(m: Tensor) -> Tensor:
    """[m <= 0]: 1 for a mistake, 0 otherwise. A score f = 0 predicts no class, so
    margin 0 counts as a mistake. Dtypes: float32, float64; bfloat16 agrees with float64
    to 2e-2 (relative)."""
    check_float("m", m, finite=True)
    return (m <= 0).to(m.dtype)


def hinge_loss(m: Tensor) -> Tensor:
    """max(0, 1 - m): zero once the margin reaches 1, linear below; >= zero_one_loss.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("m", m, finite=True)
    return (1 - m).clamp(min=0)


def logistic_loss(m: Tensor) -> Tensor:
    """log(1 + e^{-m}) = max(-m, 0) + log(1 + e^{-|m|}), finite for any m. Divided by
    log 2 (the loss in bits) it is >= zero_one_loss; in nats it is not (log 2 < 1 at
    m = 0).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("m", m, finite=True)
    return (-m).clamp(min=0) + torch.log1p(torch.exp(-m.abs()))


# --8<-- [end:margin]


# --8<-- [start:risk]
def empirical_risk(
    loss: Callable[[Tensor, Tensor], Tensor],
    f: Callable[[Tensor], Tensor],
    X: Tensor,
    y: Tensor,
) -> Tensor:
    """R_n(f) = (1/n) sum_i loss(y_i, f(x_i)) over the n rows of X (n, ...) and
    y (n, ...). ``loss(y, prediction)`` is elementwise; ``f`` maps the batch X to
    predictions of y's shape. Dtypes: float32, float64."""
    prediction = check_risk(f, X, y)  # f(X), once X and y are checked
    return loss(y, prediction).mean()


# --8<-- [end:risk]


# --8<-- [start:nll]
def gaussian_nll(y: Tensor, f: Tensor, sigma) -> Tensor:
    """-log N(y | f, sigma^2) = (y - f)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2,
    elementwise (y, f and sigma broadcast). Only the first term depends on f: the
    squared loss. Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2
    (relative)."""
    check_nll(y, f, sigma=sigma)
    sigma = torch.as_tensor(sigma, dtype=f.dtype, device=f.device)
    return (y - f) ** 2 / (2 * sigma**2) + sigma.log() + 0.5 * math.log(2 * math.pi)


def laplace_nll(y: Tensor, f: Tensor, b) -> Tensor:
    """-log Laplace(y | f, b) = |y - f| / b + log(2 b), elementwise: the absolute loss.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_nll(y, f, b=b)
    b = torch.as_tensor(b, dtype=f.dtype, device=f.device)
    return (y - f).abs() / b + torch.log(2 * b)


# --8<-- [end:nll]


# --8<-- [start:map]
def ridge_map(X: Tensor, y: Tensor, sigma: float, tau: float) -> Tensor:
    """The MAP weights of y ~ N(X w, sigma^2 I) with the prior w ~ N(0, tau^2 I): argmin
    ||y - X w||^2 / (2 sigma^2) + ||w||^2 / (2 tau^2) = (X^T X + lambda I)^{-1} X^T y,
    lambda = sigma^2 / tau^2. X (n, d), y (n,) -> w (d,). Dtypes: float32, float64."""
    check_regression(X, y, sigma=sigma, tau=tau)
    lam = sigma**2 / tau**2
    d = X.shape[1]
    return torch.linalg.solve(
        X.T @ X + lam * torch.eye(d, dtype=X.dtype, device=X.device), X.T @ y
    )


def lasso_map(X: Tensor, y: Tensor, sigma: float, b: float, steps: int = 500) -> Tensor:
    """The MAP weights with a Laplace(0, b) prior on each weight: argmin ||y - X w||^2 /
    (2 sigma^2) + ||w||_1 / b, by proximal gradient descent (ISTA) from w = 0: a
    gradient step on the smooth part, of size t = 1 / L with L = lambda_max(X^T X) /
    sigma^2, then soft-thresholding every weight by t / b. Dtypes: float32, float64."""
    check_lasso(X, y, sigma, b, steps)
    L = (torch.linalg.matrix_norm(X, ord=2) ** 2 / sigma**2).item()
    t = 1 / L if L > 0 else 0.0
    w = X.new_zeros(X.shape[1])
    for _ in range(steps):
        v = w - t * X.T @ (X @ w - y) / sigma**2
        w = v.sign() * (v.abs() - t / b).clamp(min=0)
    return w


# --8<-- [end:map]


# --8<-- [start:posterior]
def blr_posterior(
    X: Tensor, y: Tensor, sigma: float, tau: float
) -> tuple[Tensor, Tensor]:
    """Posterior N(mean, cov) of w for y ~ N(X w, sigma^2 I), w ~ N(0, tau^2 I):
    precision A = X^T X / sigma^2 + I / tau^2, cov = A^{-1}, mean = cov X^T y / sigma^2.
    X (n, d), y (n,) -> mean (d,), cov (d, d); through a Cholesky factor of A.
    Dtypes: float32, float64."""
    check_regression(X, y, sigma=sigma, tau=tau)
    d = X.shape[1]
    A = X.T @ X / sigma**2 + torch.eye(d, dtype=X.dtype, device=X.device) / tau**2
    L = torch.linalg.cholesky(A)
    mean = torch.cholesky_solve((X.T @ y / sigma**2)[:, None], L)[:, 0]
    return mean, torch.cholesky_inverse(L)


def blr_predictive(
    X_star: Tensor, mean: Tensor, cov: Tensor, sigma: float
) -> tuple[Tensor, Tensor]:
    """The posterior predictive p(y* | x*, data) = N(x*^T mean, x*^T cov x* + sigma^2)
    for each row x* of X_star (m, d): its means (m,) and variances (m,). The variance
    adds the noise sigma^2 to the uncertainty about w. Dtypes: float32, float64."""
    check_predictive(X_star, mean, cov, sigma)
    return X_star @ mean, ((X_star @ cov) * X_star).sum(1) + sigma**2


# --8<-- [end:posterior]

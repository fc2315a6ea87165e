"""snippets.losses against torch.nn.functional, torch.distributions, autograd and closed forms:
the margin losses and their bounds, the empirical risk, the Gaussian and Laplace NLLs, MAP
estimates, the posterior of Bayesian linear regression and its predictive, and the errors for
bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch.distributions import Laplace, Normal

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.losses import (
    blr_posterior,
    blr_predictive,
    empirical_risk,
    gaussian_nll,
    hinge_loss,
    laplace_nll,
    lasso_map,
    logistic_loss,
    margin,
    ridge_map,
    zero_one_loss,
)

F64 = torch.float64


@st.composite
def scores_and_labels(draw):
    """Scores f of up to 3 dimensions (a scalar included), scaled from 1e-3 to 1e3, in either
    dtype, and labels y in {-1, +1} of f's shape, integer or floating."""
    shape = tuple(draw(st.lists(st.integers(1, 6), max_size=3)))
    gen = seeded(draw)
    dtype = draw(st.sampled_from(DTYPES))
    f = draw(st.sampled_from([1e-3, 1.0, 10.0, 1e3])) * torch.randn(
        shape, generator=gen, dtype=dtype
    )
    y = 2 * torch.randint(0, 2, shape, generator=gen) - 1
    return f, y.to(draw(st.sampled_from([torch.int64, dtype])))


# The margin losses


@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(scores_and_labels())
def test_margin_losses_match_torch(case):
    f, y = case
    m = margin(f, y)
    assert m.shape == f.shape and m.dtype == f.dtype
    torch.testing.assert_close(m, y.to(f.dtype) * f)
    yf = y.to(f.dtype)
    flat_f, flat_y, flat_m = f.reshape(-1), yf.reshape(-1), m.reshape(-1)
    hinge = hinge_loss(m)
    torch.testing.assert_close(hinge, torch.clamp(1 - m, min=0))
    torch.testing.assert_close(
        hinge,
        F.hinge_embedding_loss(m, -torch.ones_like(m), margin=1.0, reduction="none"),
        **tol(f.dtype),
    )
    torch.testing.assert_close(
        hinge.reshape(-1),
        F.margin_ranking_loss(
            flat_f, torch.zeros_like(flat_f), flat_y, margin=1.0, reduction="none"
        ),
        **tol(f.dtype),
    )
    two_logits = torch.stack([torch.zeros_like(flat_f), flat_f], dim=1)
    torch.testing.assert_close(
        hinge.reshape(-1),
        2
        * F.multi_margin_loss(two_logits, ((flat_y + 1) / 2).long(), reduction="none"),
        **tol(f.dtype),
    )
    # soft_margin_loss computes log(1 + exp(-m)) as written: inf once exp(-m) overflows.
    soft = F.soft_margin_loss(f, yf, reduction="none")
    fine = torch.isfinite(soft)
    torch.testing.assert_close(logistic_loss(m)[fine], soft[fine], **tol(f.dtype))
    assert torch.isfinite(logistic_loss(m)).all()
    torch.testing.assert_close(
        logistic_loss(flat_m), F.softplus(-flat_m), **tol(f.dtype)
    )
    assert torch.equal(zero_one_loss(m), (torch.sign(f) != yf).to(f.dtype))


def test_zero_one_loss_counts_a_zero_score_as_a_mistake():
    m = torch.tensor([-2.0, -1e-30, 0.0, 1e-30, 2.0], dtype=F64)
    assert zero_one_loss(m).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_surrogates_bound_the_zero_one_loss_and_are_convex():
    m = torch.linspace(-5, 5, 10_001, dtype=F64)
    zero_one = zero_one_loss(m)
    assert (hinge_loss(m) >= zero_one).all()
    # Tight at m = 0 (log2(1 + e^0) = 1), where the grid may be 0.0 exactly: the rounded
    # log1p(e^0) / log 2 is 1 within an ulp or two either way, so 4 ulps of slack.
    assert (logistic_loss(m) / math.log(2) >= zero_one - 4 * torch.finfo(F64).eps).all()
    assert logistic_loss(torch.tensor(0.0, dtype=F64)).item() == pytest.approx(
        math.log(2)
    )
    for loss in (hinge_loss, logistic_loss):
        values = loss(m)
        assert (values[2:] - 2 * values[1:-1] + values[:-2] >= -1e-12).all()
        assert (values[1:] <= values[:-1]).all()  # non-increasing in m
    torch.testing.assert_close(hinge_loss(m[m >= 1]), torch.zeros_like(m[m >= 1]))
    torch.testing.assert_close(hinge_loss(m[m < 1]), 1 - m[m < 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_loss_is_finite_for_any_margin(dtype):
    m = torch.tensor([-1e30, -1e4, -100.0, 0.0, 100.0, 1e4, 1e30], dtype=dtype)
    values = logistic_loss(m)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values[:3], -m[:3])  # log(1 + e^{-m}) ~ -m
    assert (values[-3:] >= 0).all() and values[-1] == 0


def test_margin_losses_gradcheck_away_from_kinks():
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(20, generator=gen, dtype=F64) * 3
    m = m[(m - 1).abs() > 1e-3].requires_grad_()
    assert torch.autograd.gradcheck(hinge_loss, (m,))
    assert torch.autograd.gradcheck(logistic_loss, (m,))
    (g,) = torch.autograd.grad(logistic_loss(m).sum(), m)
    torch.testing.assert_close(g, -torch.sigmoid(-m.detach()))


def test_zero_one_risk_has_zero_gradient_and_the_hinge_does_not():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(300, 3, generator=gen, dtype=F64)
    y = torch.sign(X @ torch.tensor([1.0, 2.0, -1.0], dtype=F64)).long()
    w = torch.tensor([-1.0, 0.5, 0.5], dtype=F64, requires_grad=True)
    m = margin(X @ w, y)
    (g,) = torch.autograd.grad(((1 - torch.sign(m)) / 2).mean(), w)
    assert torch.equal(g, torch.zeros(3, dtype=F64))
    (h,) = torch.autograd.grad(hinge_loss(margin(X @ w, y)).mean(), w)
    assert h.norm() > 0.1


# The empirical risk


def test_empirical_risk_is_the_mean_of_a_loop():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(17, 3, generator=gen, dtype=F64)
    y = torch.randn(17, generator=gen, dtype=F64)
    w = torch.randn(3, generator=gen, dtype=F64)
    loss = lambda y, p: (y - p).abs() ** 1.5
    loop = sum(abs(yi - xi @ w).item() ** 1.5 for xi, yi in zip(X, y)) / 17
    assert empirical_risk(loss, lambda X: X @ w, X, y).item() == pytest.approx(
        loop, rel=1e-12
    )


@pytest.mark.parametrize("w", [0.0, 1.0, 2.5])
def test_empirical_risk_is_unbiased_and_consistent(w):
    """x, eps ~ N(0, 1), y = 2 x + 0.5 eps, f(x) = w x: R(f) = (2 - w)^2 + 0.25."""
    gen = torch.Generator().manual_seed(3)
    expected = (2 - w) ** 2 + 0.25
    squared = lambda y, p: (y - p) ** 2
    x = torch.randn(500, 10, generator=gen, dtype=F64)  # 500 datasets of 10
    y = 2 * x + 0.5 * torch.randn(500, 10, generator=gen, dtype=F64)
    risks = torch.stack(
        [empirical_risk(squared, lambda t: w * t, xi, yi) for xi, yi in zip(x, y)]
    )
    assert abs(risks.mean() - expected) < 3.5 * risks.std() / math.sqrt(500)
    x = torch.randn(300_000, generator=gen, dtype=F64)
    y = 2 * x + 0.5 * torch.randn(300_000, generator=gen, dtype=F64)
    big = empirical_risk(squared, lambda t: w * t, x, y)
    assert abs(big - expected) < 5 * math.sqrt(2) * expected / math.sqrt(300_000)


def test_zero_one_risk_estimates_the_error_rate():
    gen = torch.Generator().manual_seed(4)
    mu, n = 1.3, 300_000
    y = 2 * torch.randint(0, 2, (n,), generator=gen) - 1
    x = mu * y + torch.randn(n, generator=gen, dtype=F64)
    risk = empirical_risk(lambda y, p: zero_one_loss(margin(p, y)), lambda t: t, x, y)
    p = torch.special.ndtr(torch.tensor(-mu, dtype=F64))
    assert abs(risk - p) < 4 * math.sqrt(p * (1 - p) / n)


# Likelihoods


@st.composite
def regression_targets(draw):
    """y and f of one shape (up to 3 dimensions), and a scale: a float, or a positive tensor
    that broadcasts against them."""
    shape = tuple(draw(st.lists(st.integers(1, 5), max_size=3)))
    gen = seeded(draw)
    dtype = draw(st.sampled_from(DTYPES))
    y = 3 * torch.randn(shape, generator=gen, dtype=dtype)
    f = torch.randn(shape, generator=gen, dtype=dtype)
    if draw(st.booleans()) or not shape:
        scale = draw(st.floats(0.05, 20.0))
    else:
        scale = 0.05 + torch.rand(shape[-1:], generator=gen, dtype=dtype) * 5
    return y, f, scale


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(regression_targets())
def test_gaussian_and_laplace_nll_match_torch_distributions(case):
    y, f, scale = case
    sd = torch.as_tensor(scale, dtype=y.dtype)
    nll = gaussian_nll(y, f, scale)
    torch.testing.assert_close(nll, -Normal(f, sd).log_prob(y), **tol(y.dtype))
    var = (sd**2).expand(f.shape).clone() if f.dim() else sd**2
    torch.testing.assert_close(
        nll,
        F.gaussian_nll_loss(f, y, var, full=True, reduction="none", eps=0.0),
        **tol(y.dtype),
    )
    torch.testing.assert_close(
        laplace_nll(y, f, scale), -Laplace(f, sd).log_prob(y), **tol(y.dtype)
    )


def test_gaussian_nll_gradcheck_and_its_f_dependence_is_the_squared_loss():
    gen = torch.Generator().manual_seed(5)
    y, f = torch.randn(2, 7, generator=gen, dtype=F64)
    sigma = torch.tensor(0.6, dtype=F64, requires_grad=True)
    f.requires_grad_()
    assert torch.autograd.gradcheck(lambda f, s: gaussian_nll(y, f, s), (f, sigma))
    assert torch.autograd.gradcheck(lambda f: laplace_nll(y + 0.01, f, 0.3), (f,))
    (g,) = torch.autograd.grad(gaussian_nll(y, f, 0.6).sum(), f)
    torch.testing.assert_close(g, (f.detach() - y) / 0.36)


# MAP estimates and the posterior


@st.composite
def regressions(draw):
    """X (n, d), y (n,), a noise sigma and a prior scale tau."""
    n, d = draw(st.integers(1, 30)), draw(st.integers(1, 6))
    gen = seeded(draw)
    X = torch.randn(n, d, generator=gen, dtype=F64) * draw(
        st.sampled_from([0.1, 1.0, 5.0])
    )
    sigma, tau = draw(st.floats(0.05, 5.0)), draw(st.floats(0.05, 5.0))
    y = X @ (tau * torch.randn(d, generator=gen, dtype=F64)) + sigma * torch.randn(
        n, generator=gen, dtype=F64
    )
    return X, y, sigma, tau


def neg_log_posterior_grad(X, y, sigma, tau, w):
    """d/dw of -log N(y | X w, sigma^2) - log N(w | 0, tau^2), by autograd."""
    w = w.clone().requires_grad_()
    value = (
        -Normal(X @ w, sigma).log_prob(y).sum()
        - Normal(torch.zeros_like(w), tau).log_prob(w).sum()
    )
    return torch.autograd.grad(value, w)[0]


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(regressions())
def test_ridge_map_is_the_posterior_mode_and_mean(case):
    X, y, sigma, tau = case
    w = ridge_map(X, y, sigma, tau)
    scale = (
        ((X.T @ y).abs().max() + (X.T @ X @ w).abs().max()).item() / sigma**2
        + w.abs().max().item() / tau**2
        + 1
    )
    torch.testing.assert_close(
        neg_log_posterior_grad(X, y, sigma, tau, w),
        torch.zeros_like(w),
        rtol=0,
        atol=1e-9 * scale,
    )
    mean, cov = blr_posterior(X, y, sigma, tau)
    torch.testing.assert_close(
        mean, w, rtol=1e-8, atol=1e-10 * (w.abs().max().item() + 1)
    )
    lam = sigma**2 / tau**2
    explicit = (
        torch.linalg.inv(X.T @ X + lam * torch.eye(X.shape[1], dtype=F64)) @ X.T @ y
    )
    torch.testing.assert_close(
        w, explicit, rtol=1e-7, atol=1e-9 * (w.abs().max().item() + 1)
    )


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(regressions())
def test_posterior_matches_the_conjugate_formula_and_bayes_updates(case):
    X, y, sigma, tau = case
    d = X.shape[1]
    mean, cov = blr_posterior(X, y, sigma, tau)
    precision = X.T @ X / sigma**2 + torch.eye(d, dtype=F64) / tau**2
    torch.testing.assert_close(
        cov @ precision, torch.eye(d, dtype=F64), rtol=0, atol=1e-8
    )
    torch.testing.assert_close(cov, cov.T)
    assert (torch.linalg.eigvalsh(cov) > 0).all()
    # Updating on the first half, then the second, gives the posterior on all of it.
    k = X.shape[0] // 2
    m1, c1 = blr_posterior(X[:k], y[:k], sigma, tau)
    A1 = torch.linalg.inv(c1)
    A = A1 + X[k:].T @ X[k:] / sigma**2
    torch.testing.assert_close(
        torch.linalg.solve(A, A1 @ m1 + X[k:].T @ y[k:] / sigma**2),
        mean,
        rtol=1e-6,
        atol=1e-8 * (mean.abs().max().item() + 1),
    )


def test_posterior_matches_a_grid_in_one_dimension():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(8, 1, generator=gen, dtype=F64)
    y = 0.8 * x[:, 0] + 0.4 * torch.randn(8, generator=gen, dtype=F64)
    mean, cov = blr_posterior(x, y, 0.4, 2.0)
    w = torch.linspace(-3, 4, 70_001, dtype=F64)
    log_post = Normal(w[:, None] * x[:, 0], 0.4).log_prob(y).sum(1) + Normal(
        torch.zeros_like(w), 2.0
    ).log_prob(w)
    p = torch.softmax(log_post, 0)
    grid_mean = (p * w).sum()
    torch.testing.assert_close(mean, grid_mean[None])
    torch.testing.assert_close(cov, ((w - grid_mean) ** 2 * p).sum()[None, None])


def test_predictive_matches_monte_carlo_over_the_posterior():
    gen = torch.Generator().manual_seed(7)
    X = torch.randn(15, 3, generator=gen, dtype=F64)
    y = X @ torch.tensor([0.5, -1.0, 2.0], dtype=F64) + 0.3 * torch.randn(
        15, generator=gen, dtype=F64
    )
    mean, cov = blr_posterior(X, y, 0.3, 1.0)
    X_star = torch.randn(4, 3, generator=gen, dtype=F64)
    mu, var = blr_predictive(X_star, mean, cov, 0.3)
    assert mu.shape == var.shape == (4,) and (var > 0.09).all()
    w = (
        mean
        + torch.randn(200_000, 3, generator=gen, dtype=F64)
        @ torch.linalg.cholesky(cov).T
    )
    y_star = w @ X_star.T + 0.3 * torch.randn(200_000, 4, generator=gen, dtype=F64)
    torch.testing.assert_close(y_star.mean(0), mu, rtol=0, atol=4e-3)
    torch.testing.assert_close(y_star.var(0), var, rtol=2e-2, atol=0)


def soft_threshold(v: torch.Tensor, t: float) -> torch.Tensor:
    return torch.sign(v) * torch.clamp(v.abs() - t, min=0)


def test_lasso_map_with_orthonormal_columns_is_soft_thresholding():
    """With X^T X = I the objective separates: w_j = soft(X_j^T y, sigma^2 / b)."""
    gen = torch.Generator().manual_seed(8)
    Q, _ = torch.linalg.qr(torch.randn(30, 6, generator=gen, dtype=F64))
    y = Q @ torch.tensor(
        [3.0, -2.0, 0.1, 0.0, -0.05, 1.0], dtype=F64
    ) + 0.05 * torch.randn(30, generator=gen, dtype=F64)
    sigma, b = 0.5, 1.0
    w = lasso_map(Q, y, sigma, b, steps=50)
    torch.testing.assert_close(w, soft_threshold(Q.T @ y, sigma**2 / b))
    assert (w == 0).sum() >= 2


@st.composite
def well_posed_regressions(draw):
    """X (n, d) with n >= 2 d, so that X^T X is well conditioned, y, sigma and a Laplace scale b."""
    d = draw(st.integers(1, 6))
    n = draw(st.integers(2 * d + 4, 40))
    gen = seeded(draw)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    sigma, b = draw(st.floats(0.1, 3.0)), draw(st.floats(0.01, 10.0))
    y = X @ torch.randn(d, generator=gen, dtype=F64) + sigma * torch.randn(
        n, generator=gen, dtype=F64
    )
    return X, y, sigma, b


@settings(max_examples=max(1, settings.default.max_examples // 5))
@given(well_posed_regressions())
def test_lasso_map_satisfies_the_optimality_conditions(case):
    X, y, sigma, b = case
    eigenvalues = torch.linalg.eigvalsh(X.T @ X)
    # Proximal gradient contracts by 1 - lambda_min / lambda_max per step at least.
    steps = math.ceil(60 / (eigenvalues[0] / eigenvalues[-1]).item())
    w = lasso_map(X, y, sigma, b, steps=steps)
    g = X.T @ (X @ w - y) / sigma**2
    slack = 1e-8 * (1 / b + (X.T @ y).abs().max().item() / sigma**2)
    nonzero = w != 0
    torch.testing.assert_close(g[nonzero], -w[nonzero].sign() / b, rtol=0, atol=slack)
    assert (g[~nonzero].abs() <= 1 / b + slack).all()


# Errors


def bad(name, call, message):
    return pytest.param(call, message, id=name)


Z = torch.zeros(4, dtype=F64)
X42 = torch.zeros(4, 2, dtype=F64)
BAD = [
    bad(
        "labels-0-1",
        lambda: margin(Z, torch.tensor([0, 1, 1, 0])),
        r"y must hold labels -1 and \+1 only",
    ),
    bad(
        "labels-shape",
        lambda: margin(Z, torch.ones(3)),
        r"y must be a tensor of f's shape \(4,\), got \(3,\)",
    ),
    bad(
        "labels-list",
        lambda: margin(Z, [1, -1, 1, 1]),
        r"y must be a tensor of f's shape",
    ),
    bad(
        "integer-scores",
        lambda: margin(torch.zeros(4, dtype=torch.long), torch.ones(4)),
        "f must be a floating-point",
    ),
    bad(
        "nan-margin",
        lambda: hinge_loss(torch.tensor([math.nan])),
        r"m has non-finite values",
    ),
    bad(
        "inf-margin-01",
        lambda: zero_one_loss(torch.tensor([math.inf])),
        r"m has non-finite values",
    ),
    bad(
        "int-margin",
        lambda: logistic_loss(torch.tensor([1, 2])),
        "m must be a floating-point",
    ),
    bad(
        "risk-rows",
        lambda: empirical_risk(lambda y, p: p, lambda x: x[:, 0], X42, torch.zeros(3)),
        r"X \(4, 2\) and y \(3,\) must have as many rows",
    ),
    bad(
        "risk-shape",
        lambda: empirical_risk(lambda y, p: p, lambda x: x, X42, Z),
        r"f\(X\) has shape \(4, 2\), y has \(4,\)",
    ),
    bad(
        "risk-empty",
        lambda: empirical_risk(
            lambda y, p: p, lambda x: x[:, 0], torch.zeros(0, 2), torch.zeros(0)
        ),
        "empty dataset",
    ),
    bad(
        "sigma-zero",
        lambda: gaussian_nll(Z, Z, 0.0),
        "sigma must be positive and finite, got 0.0",
    ),
    bad(
        "sigma-negative-tensor",
        lambda: gaussian_nll(Z, Z, torch.tensor([1.0, -1.0, 1.0, 1.0])),
        "sigma must be positive",
    ),
    bad(
        "sigma-inf",
        lambda: gaussian_nll(Z, Z, math.inf),
        "sigma must be positive and finite, got inf",
    ),
    bad(
        "sigma-str",
        lambda: gaussian_nll(Z, Z, "1"),
        "sigma must be positive and finite, got '1'",
    ),
    bad(
        "sigma-bool",
        lambda: gaussian_nll(Z, Z, True),
        "sigma must be positive and finite, got True",
    ),
    bad(
        "b-nan",
        lambda: laplace_nll(Z, Z, math.nan),
        "b must be positive and finite, got nan",
    ),
    bad(
        "nll-shapes",
        lambda: gaussian_nll(torch.zeros(0, dtype=F64), Z, 1.0),
        r"y \(0,\), f \(4,\) and sigma \(\) do not broadcast",
    ),
    bad(
        "nll-sigma-shape",
        lambda: laplace_nll(Z, Z, torch.ones(3, dtype=F64)),
        r"y \(4,\), f \(4,\) and b \(3,\) do not broadcast",
    ),
    bad(
        "nll-y-int",
        lambda: gaussian_nll(torch.zeros(4, dtype=torch.long), Z, 1.0),
        "y must be a floating-point",
    ),
    bad(
        "ridge-rows",
        lambda: ridge_map(X42, torch.zeros(3, dtype=F64), 1.0, 1.0),
        r"X \(4, 2\) and y \(3,\)",
    ),
    bad(
        "ridge-tau",
        lambda: ridge_map(X42, Z, 1.0, -2.0),
        "tau must be positive and finite, got -2.0",
    ),
    bad(
        "ridge-X-1d",
        lambda: ridge_map(Z, Z, 1.0, 1.0),
        r"X must have 2 dimension\(s\), got torch.float64 of shape \(4,\)",
    ),
    bad(
        "lasso-steps",
        lambda: lasso_map(X42, Z, 1.0, 1.0, steps=-1),
        "steps must be an integer >= 0, got -1",
    ),
    bad(
        "lasso-steps-float",
        lambda: lasso_map(X42, Z, 1.0, 1.0, steps=2.0),
        "steps must be an integer >= 0, got 2.0",
    ),
    bad(
        "lasso-b",
        lambda: lasso_map(X42, Z, 1.0, 0),
        "b must be positive and finite, got 0",
    ),
    bad(
        "posterior-y-nan",
        lambda: blr_posterior(
            X42, torch.tensor([0.0, math.nan, 0, 0], dtype=F64), 1.0, 1.0
        ),
        "y has non-finite values",
    ),
    bad(
        "posterior-sigma",
        lambda: blr_posterior(X42, Z, -1.0, 1.0),
        "sigma must be positive",
    ),
    bad(
        "predictive-width",
        lambda: blr_predictive(
            torch.zeros(3, 5, dtype=F64),
            torch.zeros(2, dtype=F64),
            torch.eye(2, dtype=F64),
            1.0,
        ),
        r"X_star \(3, 5\), mean \(2,\) and cov \(2, 2\) do not fit",
    ),
    bad(
        "predictive-cov",
        lambda: blr_predictive(
            torch.zeros(3, 2, dtype=F64),
            torch.zeros(2, dtype=F64),
            torch.eye(3, dtype=F64),
            1.0,
        ),
        r"do not fit: need \(m, 2\)",
    ),
    bad(
        "predictive-sigma",
        lambda: blr_predictive(
            torch.zeros(3, 2, dtype=F64),
            torch.zeros(2, dtype=F64),
            torch.eye(2, dtype=F64),
            0.0,
        ),
        "sigma must be positive",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

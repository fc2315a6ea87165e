"""Score-based generative models on a Gaussian mixture whose score is known in closed
form: the mixture's density and score, the score-matching losses, (annealed) Langevin
sampling, a small noise-conditional score network, and the probability-flow ODE of the
variance-exploding SDE.

A mixture in d dimensions has K components with ``weights`` (K,) (non-negative, summing
to 1), ``means`` (K, d) and ``covs`` (K, d, d) (symmetric positive definite):

    p(x) = sum_k w_k N(x; mu_k, C_k),
    s(x) = grad_x log p(x) = sum_k r_k(x) (-C_k^{-1} (x - mu_k)),

with the responsibilities r_k(x) = p(k | x) = softmax_k(log w_k + log N(x; mu_k, C_k)).
Adding noise N(0, sigma^2 I) to its samples gives the mixture with covariances C_k +
sigma^2 I: every mixture function takes ``sigma`` for that noised density p_sigma.
Points are rows: x (n, d). A score model is a callable ``score(x) -> (n, d)``, or
``score(x, sigma)`` when it is noise-conditional; each row of its output may depend only
on the same row of x. Langevin dynamics is written x <- x + (eps / 2) s(x) + sqrt(eps) z
with z ~ N(0, I). Every function checks its input and raises ValueError naming what is
wrong. This module imports torch, the standard library and the package's shared checks
(snippets/checks.py).
"""

# --8<-- [start:imports]
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from snippets.checks import check_float, check_int, check_number

Score = Callable[[Tensor], Tensor]  # s(x): (n, d) -> (n, d)
# s(x, sigma), sigma a float or (n,)
NoiseScore = Callable[[Tensor, float | Tensor], Tensor]
# --8<-- [end:imports]

__all__ = [
    "example_mixture",
    "mixture_log_prob",
    "mixture_score",
    "responsibilities",
    "mixture_moments",
    "mixture_sample",
    "moment_tolerances",
    "error_over_tolerance",
    "value_and_trace",
    "explicit_score_matching_loss",
    "implicit_score_matching_loss",
    "sliced_score_matching_loss",
    "dsm_loss",
    "langevin",
    "geometric_sigmas",
    "annealed_langevin",
    "ScoreNet",
    "train_score_net",
    "ve_sigma",
    "ve_g2",
    "rk4",
    "probability_flow_drift",
    "probability_flow_ode",
]


# --8<-- [start:checks]
def check_mixture(weights: Tensor, means: Tensor, covs: Tensor) -> None:
    """weights (K,) >= 0 summing to 1, means (K, d), covs (K, d, d) symmetric positive
    definite. Dtypes: float32, float64."""
    check_float("weights", weights, dim=1, finite=True)
    check_float("means", means, dim=2, finite=True)
    check_float("covs", covs, dim=3, finite=True)
    K, d = means.shape
    if weights.shape != (K,) or covs.shape != (K, d, d):
        raise ValueError(
            f"weights {tuple(weights.shape)}, means {tuple(means.shape)} and covs "
            f"{tuple(covs.shape)} must be (K,), (K, d) and (K, d, d)"
        )
    if (weights < 0).any() or abs(weights.sum().item() - 1) > 1e-5:
        raise ValueError(
            f"weights must be non-negative and sum to 1, got {weights.tolist()}"
        )
    if not torch.allclose(covs, covs.mT):
        raise ValueError("covs must be symmetric")
    info = torch.linalg.cholesky_ex(covs).info
    if (info > 0).any():
        raise ValueError(
            f"covs[{int(torch.nonzero(info)[0])}] is not positive definite"
        )


def check_points(
    x: Tensor, weights: Tensor, means: Tensor, covs: Tensor, sigma=0.0, min_n: int = 0
) -> None:
    """A mixture, points x (n, d) in its dimension d, at least min_n of them, and a
    noise level sigma >= 0. Dtypes: float32, float64."""
    check_mixture(weights, means, covs)
    check_float("x", x, dim=2, finite=True)
    d = means.shape[1]
    if x.shape[1] != d or x.shape[0] < min_n:
        raise ValueError(
            f"x must have shape (n, d) = (n, {d}) with n >= {min_n} to match the "
            f"mixture, got {tuple(x.shape)}"
        )
    check_sigma(sigma, allow_zero=True)


def check_sample(n: int, weights: Tensor, means: Tensor, covs: Tensor) -> None:
    """A mixture and a number of draws n >= 1. Dtypes: float32, float64."""
    check_mixture(weights, means, covs)
    check_int("n", n, low=1)


def check_sigma(sigma, allow_zero: bool = False) -> None:
    """sigma > 0 (>= 0 with allow_zero): a float or a tensor of them."""
    s = torch.as_tensor(
        sigma, device=sigma.device if isinstance(sigma, torch.Tensor) else "cpu"
    )
    bad = (s < 0) if allow_zero else (s <= 0)
    if not torch.isfinite(s).all() or bad.any():
        raise ValueError(
            f"sigma must be {'non-negative' if allow_zero else 'positive'}, "
            f"got {sigma!r}"
        )


def check_dtype(dtype: torch.dtype) -> None:
    """A floating-point dtype."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


def check_like_points(name: str, t: Tensor, x: Tensor) -> None:
    """x and t floating (n, d) tensors with finite values, t of x's shape.
    Dtypes: float32, float64."""
    check_float("x", x, dim=2, finite=True)
    check_float(name, t, dim=2, finite=True)
    if t.shape != x.shape:
        raise ValueError(
            f"{name} {tuple(t.shape)} must have the shape of x {tuple(x.shape)}"
        )


def check_explicit(s_model: Tensor, s_true: Tensor) -> None:
    """Two floating (n, d) tensors of one shape with finite values.
    Dtypes: float32, float64."""
    check_float("s_model", s_model, dim=2, finite=True)
    check_float("s_true", s_true, dim=2, finite=True)
    if s_model.shape != s_true.shape:
        raise ValueError(
            f"s_model {tuple(s_model.shape)} and s_true {tuple(s_true.shape)} "
            "must have the same shape"
        )


def check_dsm(x: Tensor, z: Tensor, sigma) -> None:
    """x and z (n, d) of one shape, and sigma > 0 (a float or (n,)).
    Dtypes: float32, float64."""
    check_like_points("z", z, x)
    check_sigma(sigma)


def check_langevin(x: Tensor, eps: float, steps: int, temperature: float) -> None:
    """Points x (n, d), a step eps > 0, steps >= 0 and a temperature >= 0.
    Dtypes: float32, float64."""
    check_float("x", x, dim=2, finite=True)
    check_number("eps", eps, positive=True)
    check_int("steps", steps)
    check_number("temperature", temperature, low=0)


def check_sigma_range(sigma_min: float, sigma_max: float) -> None:
    """0 < sigma_min < sigma_max, finite numbers."""
    check_number("sigma_min", sigma_min, positive=True)
    check_number("sigma_max", sigma_max)
    if not sigma_max > sigma_min:
        raise ValueError(
            f"sigma_max must be larger than sigma_min={sigma_min}, got {sigma_max!r}"
        )


def check_geometric(
    sigma_max: float, sigma_min: float, L: int, dtype: torch.dtype
) -> None:
    """0 < sigma_min < sigma_max, L >= 2 levels and a floating-point dtype."""
    check_sigma_range(sigma_min, sigma_max)
    check_int("L", L, low=2)
    check_dtype(dtype)


def check_sigmas(sigmas) -> None:
    """Noise levels, at least one, positive and non-increasing."""
    sigmas = [float(s) for s in sigmas]
    if (
        not sigmas
        or any(s <= 0 for s in sigmas)
        or any(a < b for a, b in zip(sigmas, sigmas[1:]))
    ):
        raise ValueError(f"sigmas must be positive and non-increasing, got {sigmas}")


def check_score_net(d: int, hidden: int, sigma_data: float, dtype: torch.dtype) -> None:
    """Sizes d, hidden >= 1, sigma_data > 0 and a floating-point dtype."""
    check_int("d", d, low=1)
    check_int("hidden", hidden, low=1)
    check_number("sigma_data", sigma_data, positive=True)
    check_dtype(dtype)


def check_noised_points(x: Tensor, sigma) -> None:
    """Points x (n, d) and a noise level sigma > 0 (a float or (n,)).
    Dtypes: float32, float64."""
    check_float("x", x, dim=2, finite=True)
    check_sigma(sigma)


def check_training(
    data: Tensor, sigma_min: float, sigma_max: float, steps: int, batch: int
) -> None:
    """data (n, d), steps >= 0, batch >= 1 and 0 < sigma_min < sigma_max.
    Dtypes: float32, float64."""
    check_float("data", data, dim=2, finite=True)
    check_int("steps", steps)
    check_int("batch", batch, low=1)
    check_sigma_range(sigma_min, sigma_max)


# --8<-- [end:checks]


# --8<-- [start:example]
def example_mixture(
    dtype: torch.dtype = torch.float64, *, device=None
) -> tuple[Tensor, Tensor, Tensor]:
    """The chapter's mixture: weights (3,), means (3, 2) and covariances (3, 2, 2), on
    ``device``. Dtypes: float32, float64 (default)."""
    check_dtype(dtype)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=dtype, device=device)
    means = torch.tensor(
        [[-2.0, 0.0], [2.0, 1.0], [0.5, -2.5]], dtype=dtype, device=device
    )
    covs = torch.tensor(
        [
            [[0.5, 0.2], [0.2, 0.3]],
            [[0.3, -0.15], [-0.15, 0.4]],
            [[0.4, 0.0], [0.0, 0.15]],
        ],
        dtype=dtype,
        device=device,
    )
    return weights, means, covs


# --8<-- [end:example]


# --8<-- [start:mixture]
def components(
    x: Tensor, weights: Tensor, means: Tensor, covs: Tensor, sigma: float = 0.0
) -> tuple[Tensor, Tensor]:
    """For the mixture noised by N(0, sigma^2 I), C_k = covs[k] + sigma^2 I: the logits
    log w_k + log N(x; mu_k, C_k), (K, n), and the component scores -C_k^{-1}(x - mu_k),
    (K, n, d). Dtypes: float32, float64."""
    check_points(x, weights, means, covs, sigma)
    weights, means, covs = weights.to(x.dtype), means.to(x.dtype), covs.to(x.dtype)
    d = x.shape[1]
    I = torch.eye(d, dtype=x.dtype, device=x.device)
    L = torch.linalg.cholesky(covs + sigma**2 * I)  # C_k = L_k L_k^T
    P = torch.cholesky_inverse(L)  # precisions C_k^{-1}, (K, d, d)
    diff = x.T.contiguous() - means[:, :, None]  # (K, d, n): points as columns
    P_diff = P @ diff  # columns C_k^{-1}(x - mu_k)
    quad = (diff * P_diff).sum(1)  # Mahalanobis distances (K, n)
    # log |C_k|, (K,)
    log_det = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    log_N = -0.5 * (quad + log_det[:, None] + d * math.log(2 * math.pi))
    return torch.log(weights)[:, None] + log_N, -P_diff.mT


def mixture_log_prob(
    x: Tensor, weights: Tensor, means: Tensor, covs: Tensor, sigma: float = 0.0
) -> Tensor:
    """log p_sigma(x) = logsumexp_k (log w_k + log N(x; mu_k, C_k + sigma^2 I)), (n,).
    Dtypes: float32, float64."""
    logits, _ = components(x, weights, means, covs, sigma)
    return torch.logsumexp(logits, dim=0)


def mixture_score(
    x: Tensor, weights: Tensor, means: Tensor, covs: Tensor, sigma: float = 0.0
) -> Tensor:
    """grad_x log p_sigma(x) = sum_k r_k(x) (-(C_k + sigma^2 I)^{-1} (x - mu_k)), (n,
    d), with the responsibilities r_k = softmax_k(logits): normalised over k, they sum
    to 1. Dtypes: float32, float64."""
    logits, scores = components(x, weights, means, covs, sigma)
    r = torch.softmax(logits, dim=0)  # p(k | x), (K, n)
    return (r[:, None, :] * scores.mT).sum(0).T  # sum over k, as (n, d)


def responsibilities(
    x: Tensor, weights: Tensor, means: Tensor, covs: Tensor, sigma: float = 0.0
) -> Tensor:
    """p_sigma(k | x) = w_k N(x; mu_k, C_k + sigma^2 I) / p_sigma(x), (n, K): rows sum
    to 1. Dtypes: float32, float64."""
    return components(x, weights, means, covs, sigma)[0].softmax(dim=0).T


# --8<-- [end:mixture]


# --8<-- [start:moments]
def mixture_moments(
    weights: Tensor, means: Tensor, covs: Tensor
) -> tuple[Tensor, Tensor]:
    """The mixture's mean m = sum_k w_k mu_k (d,) and covariance
    sum_k w_k (C_k + (mu_k - m)(mu_k - m)^T) (d, d): the law of total covariance.
    Dtypes: float32, float64."""
    check_mixture(weights, means, covs)
    m = weights @ means
    D = means - m  # (K, d)
    return m, torch.einsum("k,kij->ij", weights, covs + D[:, :, None] * D[:, None, :])


def mixture_sample(
    n: int, weights: Tensor, means: Tensor, covs: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """n exact draws: a component k ~ w, then x = mu_k + L_k z with C_k = L_k L_k^T and
    z ~ N(0, I). Returns x (n, d) and k (n,). Dtypes: float32, float64. ``generator``
    must be on the mixture's device (torch draws there)."""
    check_sample(n, weights, means, covs)
    k = torch.multinomial(weights, n, replacement=True, generator=generator)
    z = torch.randn(
        n, means.shape[1], generator=generator, dtype=means.dtype, device=means.device
    )
    L = torch.linalg.cholesky(covs)
    return means[k] + (L[k] @ z[:, :, None])[:, :, 0], k


# --8<-- [end:moments]


# --8<-- [start:tolerances]
def moment_tolerances(
    weights: Tensor,
    means: Tensor,
    covs: Tensor,
    n: int,
    n_se: float = 4.0,
    weight_allowance: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """How far n independent samples of the mixture may put their mean responsibilities
    (K,), mean (d,) and covariance (d, d) from w, m and S: n_se Monte Carlo standard
    errors, plus what weights each off by at most ``weight_allowance`` (a sampler's bias
    allowance) can do.

    Standard errors: E[r_k] = w_k and Var(r_k) <= w_k (1 - w_k) as 0 <= r_k <= 1;
    Var(x_i) / n for the mean; Var((x_i - m_i)(x_j - m_j)) / n for the covariance, from
    each component's fourth moments in closed form. Allowance: with sum_k dw_k = 0, dm =
    sum_k dw_k D_k and dS = sum_k dw_k (C_k + D_k D_k^T - S) - dm dm^T, D_k = mu_k - m,
    bounded entrywise. Dtypes: float32, float64."""
    check_int("n", n, low=1)
    m, S = mixture_moments(weights, means, covs)
    D = means - m  # (K, d)
    DD = D[:, :, None] * D[:, None, :]  # D_k D_k^T, (K, d, d)
    di, dj = D[:, :, None], D[:, None, :]
    c = torch.diagonal(covs, dim1=1, dim2=2)
    ci, cj = c[:, :, None], c[:, None, :]
    # E[y_i^2 y_j^2] for y = D_k + u, u ~ N(0, C_k): the odd moments of u vanish.
    fourth = (
        di**2 * dj**2 + di**2 * cj + dj**2 * ci + 4 * DD * covs + ci * cj + 2 * covs**2
    )
    var_products = torch.einsum("k,kij->ij", weights, fourth) - S**2
    allow_mean = weight_allowance * D.abs().sum(0)
    allow_cov = (
        weight_allowance * (covs + DD - S).abs().sum(0)
        + allow_mean[:, None] * allow_mean[None, :]
    )
    tol_weights = n_se * (weights * (1 - weights) / n).sqrt() + weight_allowance
    tol_mean = n_se * (torch.diagonal(S) / n).sqrt() + allow_mean
    tol_cov = n_se * (var_products / n).sqrt() + allow_cov
    return tol_weights, tol_mean, tol_cov


def error_over_tolerance(
    x: Tensor,
    weights: Tensor,
    means: Tensor,
    covs: Tensor,
    n_se: float = 4.0,
    weight_allowance: float = 0.0,
) -> float:
    """The largest |error| / tolerance of samples x (n, d), n >= 2, against the mixture:
    their mean responsibilities against w, their mean against m and covariance against
    S, with the tolerances of moment_tolerances (0 / 0, a weight of 1 matched exactly,
    counts as 0). At most 1: the samples pass. Dtypes: float32, float64."""
    check_points(x, weights, means, covs, min_n=2)  # a covariance needs 2 points
    x = x.to(means.dtype)
    m, S = mixture_moments(weights, means, covs)
    tols = moment_tolerances(weights, means, covs, len(x), n_se, weight_allowance)
    errors = (
        responsibilities(x, weights, means, covs).mean(0) - weights,
        x.mean(0) - m,
        torch.cov(x.T) - S,
    )
    return max(
        torch.nan_to_num(e.abs() / t, nan=0.0).max().item()
        for e, t in zip(errors, tols)
    )


# --8<-- [end:tolerances]


# --8<-- [start:trace]
def value_and_trace(
    f: Score, x: Tensor, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """f(x) (n, d) and tr(df/dx) at every row of x (n, d), (n,), by d backward passes:
    pass i is the VJP with e_i, and its i-th entry is J_ii. f must act on each row
    separately. create_graph keeps both differentiable (to train through them). Dtypes:
    float32, float64."""
    check_float("x", x, dim=2, finite=True)
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        f_x = f(x)
        J_ii = [
            torch.autograd.grad(f_x[:, i].sum(), x, create_graph=True)[0][:, i]
            for i in range(x.shape[1])
        ]
    trace = sum(J_ii, x.new_zeros(x.shape[0]))  # 0 for d = 0
    return (f_x, trace) if create_graph else (f_x.detach(), trace.detach())


# --8<-- [end:trace]


# --8<-- [start:explicit]
def explicit_score_matching_loss(s_model: Tensor, s_true: Tensor) -> Tensor:
    """(1/2) mean_n |s_model(x_n) - s_p(x_n)|^2: half the Fisher divergence, estimated
    on samples x_n ~ p. Needs the true score s_p, which is what we do not have.
    Dtypes: float32, float64."""
    check_explicit(s_model, s_true)
    return 0.5 * ((s_model - s_true) ** 2).sum(1).mean()


# --8<-- [end:explicit]


# --8<-- [start:implicit]
def implicit_score_matching_loss(score: Score, x: Tensor) -> Tensor:
    """Hyvarinen's objective mean_n [tr J_s(x_n) + (1/2) |s(x_n)|^2], J_s = ds/dx: equal
    to the explicit loss minus the constant (1/2) E|s_p|^2. The trace costs d backward
    passes. Differentiable in the model's parameters. Dtypes: float32, float64."""
    s, trace = value_and_trace(score, x, create_graph=True)
    return (trace + 0.5 * (s**2).sum(1)).mean()


# --8<-- [end:implicit]


# --8<-- [start:sliced]
def sliced_score_matching_loss(score: Score, x: Tensor, v: Tensor) -> Tensor:
    """mean_n [v_n^T J_s(x_n) v_n + (1/2) (v_n^T s(x_n))^2] for directions v (n, d) with
    E[v v^T] = I. v^T J v comes from ONE backward pass: grad_x (v . s(x)) = J^T v, then
    dot v. Dtypes: float32, float64."""
    check_like_points("v", v, x)
    x = x.detach().requires_grad_(True)
    s = score(x)  # (n, d)
    v_s = (v * s).sum(1)  # v_n . s(x_n), (n,)
    (JT_v,) = torch.autograd.grad(v_s.sum(), x, create_graph=True)  # rows J(x_n)^T v_n
    return ((JT_v * v).sum(1) + 0.5 * v_s**2).mean()


# --8<-- [end:sliced]


# --8<-- [start:dsm]
def dsm_loss(score: NoiseScore, x: Tensor, z: Tensor, sigma: float | Tensor) -> Tensor:
    """Denoising score matching with the weight sigma^2: for x (n, d) ~ p, z (n, d) ~
    N(0, I) and x~ = x + sigma z, mean_n (sigma_n^2 / 2) |s(x~_n, sigma_n) - target_n|^2
    with the target grad_x~ log N(x~; x, sigma^2 I) = -(x~ - x) / sigma^2. sigma: a
    float or (n,). Dtypes: float32, float64."""
    check_dsm(x, z, sigma)
    sigmas = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    sigmas = sigmas.expand(x.shape[0])[:, None]  # (n, 1)
    x_tilde = x + sigmas * z
    target = -(x_tilde - x) / sigmas**2
    return (0.5 * sigmas**2 * (score(x_tilde, sigma) - target) ** 2).sum(1).mean()


# --8<-- [end:dsm]


# --8<-- [start:langevin]
def langevin(
    score: Score,
    x: Tensor,
    eps: float,
    steps: int,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> Tensor:
    """Unadjusted Langevin: x <- x + (eps / 2) s(x) + sqrt(eps * temperature) z, z ~
    N(0, I). As eps -> 0 it samples p^(1 / temperature); temperature 0 is gradient
    ascent on log p. Dtypes: float32, float64. ``generator`` must be on
    x's device (torch draws there)."""
    check_langevin(x, eps, steps, temperature)
    for _ in range(steps):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + eps / 2 * score(x) + math.sqrt(eps * temperature) * z
    return x


# --8<-- [end:langevin]


# --8<-- [start:annealed]
def geometric_sigmas(
    sigma_max: float,
    sigma_min: float,
    L: int,
    *,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """sigma_1 = sigma_max > ... > sigma_L = sigma_min with a constant ratio, (L,) on
    ``device``. Dtypes: float32, float64 (default)."""
    check_geometric(sigma_max, sigma_min, L, dtype)
    return torch.logspace(
        math.log10(sigma_max), math.log10(sigma_min), L, dtype=dtype, device=device
    )


def annealed_langevin(
    score: NoiseScore,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    eps: float,
    steps: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    callback: Callable[[int, float, Tensor], None] | None = None,
) -> Tensor:
    """Annealed Langevin dynamics (Song & Ermon 2019): for each sigma_i, largest first,
    `steps` Langevin steps on s(., sigma_i) with the step alpha_i = eps sigma_i^2 /
    sigma_L^2, so that alpha_i / sigma_i^2 is the same at every level. callback(i,
    sigma_i, x) after each level. Dtypes: float32, float64. ``generator`` must be on
    x's device (torch draws there)."""
    sigmas = [float(s) for s in sigmas]  # a list, once, from a tensor or an iterable
    check_sigmas(sigmas)
    for i, sigma in enumerate(sigmas):
        alpha = eps * (sigma / sigmas[-1]) ** 2
        x = langevin(
            lambda y, s=sigma: score(y, s), x, alpha, steps, generator, temperature
        )
        if callback is not None:
            callback(i, sigma, x)
    return x


# --8<-- [end:annealed]


# --8<-- [start:net]
class ScoreNet(nn.Module):
    """s_theta(x, sigma) = -x / (sigma^2 + sigma_data^2)
        + sigma_data F([c_in x, log sigma]) / (sigma sqrt(sigma^2 + sigma_data^2)),
    F an MLP d + 1 -> hidden -> hidden -> d (SiLU), c_in = 1 / sqrt(sigma^2 +
    sigma_data^2). The first term is the score of N(0, (sigma^2 + sigma_data^2) I),
    right for large sigma. F outputs (about) sigma times the rest of the score, whose
    mean square is at most d at every noise level (sigma s_sigma = -E[z | x~]), so its
    output is divided by sigma. The parameters are made on ``device`` in ``dtype``,
    their initial values drawn where ``generator`` lives (the same network on every
    device). Dtypes: float32 (default), float64."""

    def __init__(
        self,
        d: int = 2,
        hidden: int = 64,
        sigma_data: float = 1.0,
        generator: torch.Generator | None = None,
        *,
        device=None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        check_score_net(d, hidden, sigma_data, dtype)
        self.sigma_data = sigma_data
        kw = dict(device=device, dtype=dtype)
        self.F = nn.Sequential(
            nn.Linear(d + 1, hidden, **kw),
            nn.SiLU(),
            nn.Linear(hidden, hidden, **kw),
            nn.SiLU(),
            nn.Linear(hidden, d, **kw),
        )
        where = device if generator is None else generator.device
        with torch.no_grad():  # PyTorch's default init, drawn where `generator` lives
            for layer in self.F[::2]:
                bound = 1 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    p.copy_(
                        torch.empty(p.shape, dtype=dtype, device=where).uniform_(
                            -bound, bound, generator=generator
                        )
                    )

    def forward(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """x (n, d), sigma a float or (n,) -> (n, d)."""
        check_noised_points(x, sigma)
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(
            x.shape[0]
        )[:, None]
        total = sigma**2 + self.sigma_data**2
        F = self.F(torch.cat([x / total.sqrt(), sigma.log()], 1))
        return -x / total + self.sigma_data * F / (sigma * total.sqrt())


def train_score_net(
    net: nn.Module,
    data: Tensor,
    sigma_min: float,
    sigma_max: float,
    steps: int,
    generator: torch.Generator,
    batch: int = 256,
    lr: float = 2e-2,
) -> list[float]:
    """Adam (betas 0.9, 0.999) on dsm_loss, its learning rate decayed to 0 on a cosine.
    Each step: `batch` rows of data, sigma log-uniform on [sigma_min, sigma_max], and
    the noise used as z and as -z (antithetic: the same expected loss, a gradient with
    less variance). Returns the losses. Dtypes: float32, float64 (net's and data's).
    ``generator`` must be on data's device (torch draws there)."""
    check_training(data, sigma_min, sigma_max, steps, batch)
    params = list(net.parameters())
    m1, m2 = (
        [torch.zeros_like(p) for p in params],
        [torch.zeros_like(p) for p in params],
    )
    losses = []
    for k in range(1, steps + 1):
        x = data[
            torch.randint(len(data), (batch,), generator=generator, device=data.device)
        ]
        u = torch.rand(batch, generator=generator, dtype=data.dtype, device=data.device)
        sigma = sigma_min * (sigma_max / sigma_min) ** u
        z = torch.randn(
            x.shape, generator=generator, dtype=data.dtype, device=data.device
        )
        loss = dsm_loss(
            net, torch.cat([x, x]), torch.cat([z, -z]), torch.cat([sigma, sigma])
        )
        grads = torch.autograd.grad(loss, params)
        step = lr * (0.5 + 0.5 * math.cos(math.pi * (k - 1) / steps))
        # Adam, written out (torch.optim's first use costs a second of imports)
        with torch.no_grad():
            for p, g, a, b in zip(params, grads, m1, m2):
                a.lerp_(g, 0.1)
                b.lerp_(g * g, 0.001)
                p -= step * (a / (1 - 0.9**k)) / ((b / (1 - 0.999**k)).sqrt() + 1e-8)
        losses.append(loss.item())
    return losses


# --8<-- [end:net]


# --8<-- [start:ode]
def ve_sigma(t: float, sigma_min: float, sigma_max: float) -> float:
    """The noise level of the variance-exploding SDE at time t in [0, 1] (a float):
    sigma(t) = sigma_min (sigma_max / sigma_min)^t, for 0 < sigma_min < sigma_max."""
    check_sigma_range(sigma_min, sigma_max)
    return sigma_min * (sigma_max / sigma_min) ** t


def ve_g2(t: float, sigma_min: float, sigma_max: float) -> float:
    """g(t)^2 = d sigma(t)^2 / dt = 2 log(sigma_max / sigma_min) sigma(t)^2 (a float):
    the SDE dx = g(t) dw adds variance sigma(t)^2 - sigma(s)^2 between times s and t."""
    sigma_t = ve_sigma(t, sigma_min, sigma_max)  # checks the sigmas first
    return 2 * math.log(sigma_max / sigma_min) * sigma_t**2


def rk4(
    f: Callable[[Tensor, float], Tensor], x: Tensor, t0: float, t1: float, steps: int
) -> Tensor:
    """Classical fixed-step Runge-Kutta for dx/dt = f(x, t) from t0 to t1 (t1 < t0 runs
    back). Dtypes: float32, float64."""
    check_int("steps", steps, low=1)
    h = (t1 - t0) / steps
    for i in range(steps):
        t = t0 + i * h
        k1 = f(x, t)
        k2 = f(x + h / 2 * k1, t + h / 2)
        k3 = f(x + h / 2 * k2, t + h / 2)
        k4 = f(x + h * k3, t + h)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def probability_flow_drift(
    score: NoiseScore, sigma_min: float, sigma_max: float
) -> Callable[[Tensor, float], Tensor]:
    """The probability-flow ODE of dx = g(t) dw: dx/dt = -(1/2) g(t)^2 s(x, sigma(t)).
    Dtypes: float32, float64."""
    check_sigma_range(sigma_min, sigma_max)

    def f(x: Tensor, t: float) -> Tensor:
        return (
            -0.5
            * ve_g2(t, sigma_min, sigma_max)
            * score(x, ve_sigma(t, sigma_min, sigma_max))
        )

    return f


def probability_flow_ode(
    score: NoiseScore,
    x: Tensor,
    sigma_min: float,
    sigma_max: float,
    steps: int,
    t0: float = 1.0,
    t1: float = 0.0,
) -> Tensor:
    """x(t1) from x(t0) along the probability-flow ODE, by rk4: deterministic, and from
    t0 = 1 to t1 = 0 it maps p_1 = p_0 * N(0, (sigma_max^2 - sigma_min^2) I) back to
    p_0. Dtypes: float32, float64."""
    check_float("x", x, dim=2, finite=True)
    return rk4(probability_flow_drift(score, sigma_min, sigma_max), x, t0, t1, steps)


# --8<-- [end:ode]

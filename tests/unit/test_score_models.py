"""snippets.score_models against independent computations: the mixture's log-density, score and
responsibilities against torch.distributions and autograd over random mixtures and dtypes; the
moments and their tolerances against closed forms and large samples; the Jacobian trace and
the score-matching losses against full Jacobians; the denoising loss's minimiser; the Langevin
samplers against their update written out, replayed with the same generator; the network and
its training; RK4 and the probability-flow ODE against closed forms; and the errors for bad
input."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.score_models import (
    ScoreNet,
    annealed_langevin,
    dsm_loss,
    error_over_tolerance,
    example_mixture,
    explicit_score_matching_loss,
    geometric_sigmas,
    implicit_score_matching_loss,
    langevin,
    mixture_log_prob,
    mixture_moments,
    mixture_sample,
    mixture_score,
    moment_tolerances,
    probability_flow_ode,
    responsibilities,
    rk4,
    sliced_score_matching_loss,
    train_score_net,
    ve_g2,
    ve_sigma,
    value_and_trace,
)

F64 = torch.float64
few = settings(max_examples=max(1, settings.default.max_examples // 3))


@st.composite
def mixtures(draw, dtype=F64):
    """A random mixture: K 1-4 components in d 1-3 dimensions, weights from a softmax, means of
    scale 2, covariances B B^T + 0.1 I (well conditioned), all in float64."""
    K, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    gen = seeded(draw)
    weights = torch.softmax(torch.randn(K, generator=gen, dtype=F64), 0)
    means = 2 * torch.randn(K, d, generator=gen, dtype=F64)
    B = torch.randn(K, d, d, generator=gen, dtype=F64) / math.sqrt(d)
    covs = B @ B.mT + 0.1 * torch.eye(d, dtype=F64)
    return weights, means, covs


def reference(weights, means, covs, sigma=0.0):
    """The same mixture, noised, as a torch.distributions object."""
    D = torch.distributions
    noised = covs + sigma**2 * torch.eye(means.shape[1], dtype=covs.dtype)
    return D.MixtureSameFamily(
        D.Categorical(weights), D.MultivariateNormal(means, noised)
    )


# Mixture density, score, responsibilities


@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(
    mixtures(),
    st.sampled_from([0.0, 0.3, 2.0]),
    st.sampled_from(DTYPES),
    st.integers(0, 2**16),
)
def test_mixture_matches_torch_distributions(mix, sigma, dtype, seed):
    """log p against MixtureSameFamily, the score against autograd of that log p, the
    responsibilities against Bayes' rule with the components' log-densities; at points out to
    four times the means' scale, in float32 and float64."""
    weights, means, covs = mix
    d = means.shape[1]
    x = 4 * torch.randn(7, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    p = reference(*mix, sigma)
    xr = x.clone().requires_grad_()
    log_p = p.log_prob(xr)
    (score,) = torch.autograd.grad(log_p.sum(), xr)
    # (n, K)
    joint = torch.log(weights) + p.component_distribution.log_prob(x[:, None, :])
    x_d = x.to(dtype)
    t = (
        dict(rtol=1e-4, atol=1e-4)
        if dtype == torch.float32
        else dict(rtol=1e-9, atol=1e-9)
    )
    torch.testing.assert_close(
        mixture_log_prob(x_d, *mix, sigma=sigma).double(), log_p.detach(), **t
    )
    torch.testing.assert_close(
        mixture_score(x_d, *mix, sigma=sigma).double(),
        score,
        rtol=t["rtol"],
        atol=t["atol"] * (1 + score.abs().max().item()),
    )
    torch.testing.assert_close(
        responsibilities(x_d, *mix, sigma=sigma).double(), torch.softmax(joint, 1), **t
    )


def test_score_far_from_the_data_is_the_nearest_components():
    """At a point where every density underflows, the score is finite: the component with the
    largest logit takes the whole responsibility."""
    weights, means, covs = example_mixture()
    x = torch.tensor([[60.0, -45.0]], dtype=F64)
    assert torch.isfinite(mixture_score(x, weights, means, covs)).all()
    assert torch.isfinite(mixture_log_prob(x, weights, means, covs)).all()
    k = (
        reference(weights, means, covs)
        .component_distribution.log_prob(x[:, None])
        .add(weights.log())
        .argmax()
    )
    torch.testing.assert_close(
        mixture_score(x, weights, means, covs),
        -(x - means[k]) @ torch.linalg.inv(covs[k]),
    )


# Moments, samples and tolerances


@settings(max_examples=max(1, settings.default.max_examples // 6))
@given(mixtures(), st.integers(0, 2**16))
def test_moments_and_tolerances_match_a_large_sample(mix, seed):
    """mixture_sample's draws have mixture_moments' mean and covariance, and mean
    responsibilities w, within the tolerances of moment_tolerances (4 standard errors, which
    200,000 draws meet except with probability ~1e-4 per entry); the variances of the products
    (x_i - m_i)(x_j - m_j) behind them match the sample's to 5%."""
    weights, means, covs = mix
    n = 200_000
    x, k = mixture_sample(n, *mix, torch.Generator().manual_seed(seed))
    assert x.shape == (n, means.shape[1]) and k.shape == (n,)
    assert error_over_tolerance(x, *mix, n_se=4) <= 1
    m, S = mixture_moments(*mix)
    _, _, tol_cov = moment_tolerances(*mix, n, n_se=1.0)
    y = x - m
    sample_var = (y[:, :, None] * y[:, None, :]).var(0)
    torch.testing.assert_close(tol_cov**2 * n, sample_var, rtol=0.05, atol=1e-3)


def test_tolerances_of_one_gaussian_are_isserlis():
    """For one zero-mean Gaussian, Var(x_i x_j) = C_ii C_jj + C_ij^2 (Isserlis), Var(x_i) = C_ii,
    and an allowance on the (single) weight changes nothing."""
    C = torch.tensor([[[2.0, 0.5], [0.5, 1.0]]], dtype=F64)
    mix = (torch.ones(1, dtype=F64), torch.zeros(1, 2, dtype=F64), C)
    tol_w, tol_mean, tol_cov = moment_tolerances(
        *mix, 100, n_se=2.0, weight_allowance=0.3
    )
    c = C[0]
    torch.testing.assert_close(
        tol_cov, 2 * ((c.diagonal()[:, None] * c.diagonal()[None] + c**2) / 100).sqrt()
    )
    torch.testing.assert_close(tol_mean, 2 * (c.diagonal() / 100).sqrt())
    torch.testing.assert_close(tol_w, torch.tensor([0.3], dtype=F64))


def test_weight_allowance_bounds_the_moments_of_a_reweighted_mixture():
    """Moving the weights by at most delta each (summing to 0) moves the mean and covariance by
    no more than the allowance moment_tolerances adds for delta."""
    weights, means, covs = example_mixture()
    delta = 0.02
    _, base_mean, base_cov = moment_tolerances(weights, means, covs, 1000)
    _, tol_mean, tol_cov = moment_tolerances(
        weights, means, covs, 1000, weight_allowance=delta
    )
    m, S = mixture_moments(weights, means, covs)
    for dw in (
        [delta, -delta, 0.0],
        [-delta, 0.0, delta],
        [0.0, delta, -delta],
        [-delta, delta / 2, delta / 2],
    ):
        m2, S2 = mixture_moments(weights + torch.tensor(dw, dtype=F64), means, covs)
        assert ((m2 - m).abs() <= tol_mean - base_mean + 1e-12).all()
        assert ((S2 - S).abs() <= tol_cov - base_cov + 1e-12).all()


# Jacobian trace and the score-matching losses


@st.composite
def score_models(draw):
    """A smooth row-wise model R^d -> R^d, d 1-3: tanh(x W1^T) W2^T + x A^T, in float64."""
    d = draw(st.integers(1, 3))
    gen = seeded(draw)
    W1, W2, A = (
        torch.randn(s, generator=gen, dtype=F64) for s in [(5, d), (d, 5), (d, d)]
    )
    return d, lambda x: torch.tanh(x @ W1.T) @ W2.T + x @ A.T


def full_jacobians(f, x):
    """J(x_n) for every row, (n, d, d): rows act separately, so the Jacobian of sum_n f(x)_n
    in x holds every row's Jacobian."""
    return torch.autograd.functional.jacobian(lambda x: f(x).sum(0), x).permute(1, 0, 2)


@few
@given(score_models(), st.integers(1, 6), st.integers(0, 2**16))
def test_trace_and_implicit_loss_match_the_full_jacobian(model, n, seed):
    d, f = model
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    J = full_jacobians(f, x)
    value, trace = value_and_trace(f, x)
    torch.testing.assert_close(value, f(x))
    torch.testing.assert_close(trace, J.diagonal(dim1=1, dim2=2).sum(1))
    torch.testing.assert_close(
        implicit_score_matching_loss(f, x), (trace + 0.5 * (f(x) ** 2).sum(1)).mean()
    )


def test_trace_without_coordinates_is_the_empty_sum():
    """d = 0: no Jacobian entries, trace 0 at every point (the empty sum is exactly 0)."""
    value, trace = value_and_trace(torch.tanh, torch.zeros(3, 0, dtype=F64))
    assert value.shape == (3, 0) and torch.equal(trace, torch.zeros(3, dtype=F64))


@few
@given(score_models(), st.integers(1, 6), st.integers(0, 2**16))
def test_sliced_loss_is_the_implicit_loss_averaged_over_sign_vectors(model, n, seed):
    """v^T J v from one VJP equals the full Jacobian's; over all 2^d sign vectors (for which
    the average of v v^T is exactly I) the sliced loss averages to the implicit loss."""
    d, f = model
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    v = torch.randn(n, d, generator=gen, dtype=F64)
    J, s = full_jacobians(f, x), f(x)
    expected = (
        torch.einsum("ni,nij,nj->n", v, J, v) + 0.5 * (v * s).sum(1) ** 2
    ).mean()
    torch.testing.assert_close(sliced_score_matching_loss(f, x, v), expected)
    signs = torch.cartesian_prod(*[torch.tensor([1.0, -1.0], dtype=F64)] * d).reshape(
        -1, d
    )
    average = sum(
        sliced_score_matching_loss(f, x, sign.expand(n, d)) for sign in signs
    ) / len(signs)
    torch.testing.assert_close(average, implicit_score_matching_loss(f, x))


def test_losses_are_differentiable_in_the_parameters():
    """gradcheck through the implicit and sliced losses (their create_graph=True) in the
    parameters of a small model, float64."""
    gen = torch.Generator().manual_seed(0)
    x, v = torch.randn(2, 5, 2, generator=gen, dtype=F64)
    W = torch.randn(2, 2, generator=gen, dtype=F64, requires_grad=True)
    model = lambda W: lambda x: torch.tanh(x @ W.T)
    assert torch.autograd.gradcheck(
        lambda W: implicit_score_matching_loss(model(W), x), (W,)
    )
    assert torch.autograd.gradcheck(
        lambda W: sliced_score_matching_loss(model(W), x, v), (W,)
    )


def test_explicit_loss_is_half_the_mean_squared_distance():
    a, b = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    torch.testing.assert_close(
        explicit_score_matching_loss(a, b), 0.5 * ((a - b) ** 2).sum() / 4
    )


@few
@given(st.sampled_from([0.3, 1.0, 2.0]), st.integers(0, 2**16))
def test_dsm_minimiser_over_linear_models_is_the_noised_score(sigma, seed):
    """For x ~ N(0, C), the minimiser over s(x) = -A x of the sampled DSM loss is A* = Z^T X~ (X~^T
    X~)^{-1} / sigma (least squares, written out): autograd finds dsm_loss flat there, and A*
    is close to (C + sigma^2 I)^{-1}, the noised density's precision, not -(C + sigma^2 I)^{-1}
    nor C^{-1}."""
    gen = torch.Generator().manual_seed(seed)
    C = torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=F64)
    x = torch.randn(20_000, 2, generator=gen, dtype=F64) @ torch.linalg.cholesky(C).T
    z = torch.randn(x.shape, generator=gen, dtype=F64)
    x_tilde = x + sigma * z
    A_star = (z.T @ x_tilde) @ torch.linalg.inv(x_tilde.T @ x_tilde) / sigma
    A = A_star.clone().requires_grad_()
    (grad,) = torch.autograd.grad(dsm_loss(lambda y, s: -y @ A.T, x, z, sigma), A)
    torch.testing.assert_close(grad, torch.zeros(2, 2, dtype=F64), rtol=0, atol=1e-10)
    precision = torch.linalg.inv(C + sigma**2 * torch.eye(2, dtype=F64))
    torch.testing.assert_close(
        A_star, precision, rtol=0, atol=0.1 * precision.abs().max().item()
    )


def test_dsm_loss_accepts_a_sigma_per_row():
    """sigma (n,) weights each row by its own sigma^2, and the model receives sigma as given."""
    gen = torch.Generator().manual_seed(2)
    x, z = torch.randn(2, 6, 2, generator=gen, dtype=F64)
    sigma = torch.rand(6, generator=gen, dtype=F64) + 0.1
    seen = []
    model = lambda y, s: (seen.append(s), -y / (1 + s[:, None] ** 2))[1]
    x_tilde = x + sigma[:, None] * z
    expected = (
        0.5 * sigma**2 * ((model(x_tilde, sigma) + z / sigma[:, None]) ** 2).sum(1)
    ).mean()
    torch.testing.assert_close(dsm_loss(model, x, z, sigma), expected)
    assert seen[-1] is sigma


# Langevin samplers: the update written out, with the generator replayed


def score_linear(x):
    """The score of N(0, diag(2, 0.5))."""
    return -x / torch.tensor([2.0, 0.5], dtype=x.dtype)


@given(
    st.sampled_from([1e-3, 0.05, 0.3]),
    st.integers(0, 5),
    st.sampled_from([0.0, 1.0, 2.0]),
    st.sampled_from(DTYPES),
    st.integers(0, 2**16),
)
def test_langevin_is_the_update_written_out(eps, steps, temperature, dtype, seed):
    x0 = torch.randn(
        4, 2, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype
    )
    x = langevin(
        score_linear, x0, eps, steps, torch.Generator().manual_seed(seed), temperature
    )
    gen, y = torch.Generator().manual_seed(seed), x0
    for _ in range(steps):
        z = torch.randn(y.shape, generator=gen, dtype=dtype)
        y = y + eps / 2 * score_linear(y) + math.sqrt(eps * temperature) * z
    torch.testing.assert_close(x, y, **tol(dtype))


def test_langevin_samples_the_discretised_stationary_law():
    """On N(0, diag(c)), the chain's stationary variance is c / (1 - eps / (4 c)) at
    temperature 1 (exact for the discretised chain), within 4 standard errors."""
    c, eps = torch.tensor([2.0, 0.5], dtype=F64), 0.1
    gen = torch.Generator().manual_seed(3)
    x = langevin(
        score_linear,
        torch.randn(4000, 2, generator=gen, dtype=F64) * c.sqrt(),
        eps,
        200,
        gen,
    )
    V = c / (1 - eps / (4 * c))
    assert ((x.var(0) - V).abs() < 4 * V * math.sqrt(2 / 4000)).all(), (x.var(0), V)


@given(
    st.integers(2, 6),
    st.sampled_from([1e-4, 1e-2]),
    st.integers(1, 3),
    st.integers(0, 2**16),
)
def test_annealed_langevin_is_langevin_per_level_with_scaled_steps(L, eps, steps, seed):
    """Level i runs `steps` Langevin steps on s(., sigma_i) with alpha_i = eps sigma_i^2 /
    sigma_L^2; the callback sees every level in order."""
    sigmas = geometric_sigmas(3.0, 0.1, L)
    score = lambda x, sigma: -x / (1 + sigma**2)
    x0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    seen = []
    x = annealed_langevin(
        score,
        x0,
        sigmas,
        eps,
        steps,
        torch.Generator().manual_seed(seed),
        callback=lambda i, sigma, x: seen.append((i, sigma)),
    )
    gen, y = torch.Generator().manual_seed(seed), x0
    for sigma in sigmas.tolist():
        alpha = eps * sigma**2 / sigmas[-1].item() ** 2
        for _ in range(steps):
            z = torch.randn(y.shape, generator=gen, dtype=F64)
            y = y + alpha / 2 * score(y, sigma) + math.sqrt(alpha) * z
    torch.testing.assert_close(x, y)
    assert seen == list(enumerate(sigmas.tolist()))


def test_geometric_sigmas_have_a_constant_ratio():
    sigmas = geometric_sigmas(10.0, 0.01, 7)
    assert sigmas.dtype == F64 and sigmas.shape == (7,)
    torch.testing.assert_close(sigmas[[0, -1]], torch.tensor([10.0, 0.01], dtype=F64))
    torch.testing.assert_close(
        sigmas[1:] / sigmas[:-1], torch.full((6,), 0.001 ** (1 / 6), dtype=F64)
    )


# The network


def test_score_net_shapes_sigma_forms_and_seeding():
    net = ScoreNet(
        d=3, hidden=8, sigma_data=1.5, generator=torch.Generator().manual_seed(0)
    )
    same = ScoreNet(
        d=3, hidden=8, sigma_data=1.5, generator=torch.Generator().manual_seed(0)
    )
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), same.parameters()))
    x = torch.randn(4, 3)
    out = net(x, 0.7)
    assert out.shape == (4, 3)
    torch.testing.assert_close(net(x, torch.full((4,), 0.7)), out)


def test_score_net_is_the_skip_term_plus_the_scaled_mlp():
    """s = -x / (sigma^2 + sd^2) + sd F([x / sqrt(sigma^2 + sd^2), log sigma]) /
    (sigma sqrt(sigma^2 + sd^2)), computed here from the MLP F; and gradcheck in x, float64."""
    net = ScoreNet(
        d=2, hidden=16, sigma_data=1.5, generator=torch.Generator().manual_seed(1)
    ).double()
    x = torch.randn(
        6, 2, generator=torch.Generator().manual_seed(2), dtype=F64, requires_grad=True
    )
    sigma = (
        torch.rand(6, generator=torch.Generator().manual_seed(3), dtype=F64) * 3 + 0.05
    )
    total = (sigma**2 + 1.5**2)[:, None]
    F = net.F(torch.cat([x / total.sqrt(), sigma.log()[:, None]], 1))
    torch.testing.assert_close(
        net(x, sigma), -x / total + 1.5 * F / (sigma[:, None] * total.sqrt())
    )
    assert torch.autograd.gradcheck(lambda x: net(x, sigma), (x,))


def test_train_score_net_is_torch_adam_on_a_cosine_schedule():
    """The hand-written Adam of train_score_net, step for step against torch.optim.Adam with the
    same cosine learning rate and the same draws (float64)."""
    import copy

    net = ScoreNet(
        d=2, hidden=8, sigma_data=1.5, generator=torch.Generator().manual_seed(5)
    ).double()
    ref = copy.deepcopy(net)
    data = torch.randn(50, 2, generator=torch.Generator().manual_seed(6), dtype=F64)
    steps, batch, lr, s_min, s_max = 6, 16, 2e-2, 0.05, 5.0
    losses = train_score_net(
        net,
        data,
        s_min,
        s_max,
        steps,
        torch.Generator().manual_seed(7),
        batch=batch,
        lr=lr,
    )

    gen = torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(ref.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    for k in range(1, steps + 1):
        x = data[torch.randint(len(data), (batch,), generator=gen)]
        u = torch.rand(batch, generator=gen, dtype=F64)
        sigma = s_min * (s_max / s_min) ** u
        z = torch.randn(x.shape, generator=gen, dtype=F64)
        loss = dsm_loss(
            ref, torch.cat([x, x]), torch.cat([z, -z]), torch.cat([sigma, sigma])
        )
        assert losses[k - 1] == pytest.approx(loss.item(), rel=1e-9)
        opt.param_groups[0]["lr"] = lr * (
            0.5 + 0.5 * math.cos(math.pi * (k - 1) / steps)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_training_lowers_the_held_out_score_error():
    """150 steps of train_score_net on the chapter's mixture halve the error against the exact
    noised score at sigma = 1, on held-out points."""
    mix = example_mixture()
    gen = torch.Generator().manual_seed(4)
    data = mixture_sample(4000, *mix, gen)[0].float()
    net = ScoreNet(sigma_data=1.5, generator=gen)
    held_out = torch.Generator().manual_seed(5)
    x = (
        mixture_sample(1000, *mix, held_out)[0]
        + torch.randn(1000, 2, generator=held_out, dtype=F64)
    ).float()
    exact = mixture_score(x.double(), *mix, sigma=1.0).float()
    error = lambda: (net(x, 1.0).detach() - exact).norm(dim=1).mean()
    before = error()
    losses = train_score_net(net, data, 0.05, 5.0, steps=150, generator=gen)
    assert len(losses) == 150 and all(math.isfinite(v) for v in losses)
    assert error() < before / 2, (before, error())


# RK4 and the probability-flow ODE


def test_rk4_is_fourth_order():
    """dx/dt = x t from 0 to 1 is solved by exp(t^2 / 2); halving the step divides the error by
    about 2^4."""
    exact = math.exp(0.5)
    x0 = torch.ones(1, 1, dtype=F64)
    errors = [
        abs(rk4(lambda x, t: x * t, x0, 0.0, 1.0, n).item() - exact) for n in (8, 16)
    ]
    assert 12 < errors[0] / errors[1] < 20, errors


def test_ve_g2_is_the_derivative_of_the_variance():
    for t in (0.0, 0.3, 0.9):
        h = 1e-6
        derivative = (
            ve_sigma(t + h, 0.01, 50.0) ** 2 - ve_sigma(t - h, 0.01, 50.0) ** 2
        ) / (2 * h)
        assert ve_g2(t, 0.01, 50.0) == pytest.approx(derivative, rel=1e-6)
    assert ve_sigma(0.0, 0.01, 50.0) == pytest.approx(0.01) and ve_sigma(
        1.0, 0.01, 50.0
    ) == pytest.approx(50.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_probability_flow_maps_a_gaussian_by_the_closed_form(seed):
    """For data N(m, S) the flow from t = 1 to 0 is x0 - m = (S + s_min^2)^(1/2) (S +
    s_max^2)^(-1/2) (x1 - m); back from 0 to 1 it returns the start."""
    gen = torch.Generator().manual_seed(seed)
    B = torch.randn(2, 2, generator=gen, dtype=F64)
    S, m = (
        B @ B.T + 0.1 * torch.eye(2, dtype=F64),
        torch.randn(2, generator=gen, dtype=F64),
    )
    s_min, s_max = 0.02, 5.0
    gaussian = lambda sigma: (
        torch.ones(1, dtype=F64),
        m[None],
        (S + sigma**2 * torch.eye(2, dtype=F64))[None],
    )
    score = lambda x, sigma: mixture_score(x, *gaussian(sigma))
    x1 = m + 5 * torch.randn(20, 2, generator=gen, dtype=F64)
    x0 = probability_flow_ode(score, x1, s_min, s_max, 40)
    lam, Q = torch.linalg.eigh(S)
    flow = Q @ torch.diag(((lam + s_min**2) / (lam + s_max**2)).sqrt()) @ Q.T
    torch.testing.assert_close(x0, m + (x1 - m) @ flow.T, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        probability_flow_ode(score, x0, s_min, s_max, 40, 0.0, 1.0),
        x1,
        rtol=0,
        atol=1e-3,
    )


# Errors

MIX = example_mixture()
X = torch.zeros(5, 2, dtype=F64)
NET = ScoreNet()


def bad(name: str, call, message: str):
    return pytest.param(call, message, id=name)


BAD = [
    bad(
        "negative-sigma",
        lambda: mixture_score(X, *MIX, sigma=-0.1),
        "sigma must be non-negative, got -0.1",
    ),
    bad(
        "nan-sigma",
        lambda: mixture_log_prob(X, *MIX, sigma=math.nan),
        "sigma must be non-negative",
    ),
    bad(
        "weights-sum",
        lambda: mixture_score(X, torch.tensor([0.5, 0.3, 0.3], dtype=F64), *MIX[1:]),
        r"weights must be non-negative and sum to 1, got \[0.5, 0.3, 0.3\]",
    ),
    bad(
        "weights-negative",
        lambda: mixture_score(X, torch.tensor([1.2, -0.4, 0.2], dtype=F64), *MIX[1:]),
        "weights must be non-negative and sum to 1",
    ),
    bad(
        "cov-not-pd",
        lambda: mixture_score(
            X,
            *MIX[:2],
            MIX[2] * torch.tensor([1.0, -1.0, 1.0], dtype=F64)[:, None, None],
        ),
        r"covs\[1\] is not positive definite",
    ),
    bad(
        "cov-not-symmetric",
        lambda: mixture_score(
            X, *MIX[:2], MIX[2] + torch.tensor([[0.0, 0.1], [0.0, 0.0]], dtype=F64)
        ),
        "covs must be symmetric",
    ),
    bad(
        "x-wrong-d",
        lambda: mixture_score(torch.zeros(5, 3, dtype=F64), *MIX),
        r"x must have shape \(n, d\) = \(n, 2\) with n >= 0 to match the mixture, got \(5, 3\)",
    ),
    bad(
        "x-1-d",
        lambda: mixture_score(torch.zeros(2, dtype=F64), *MIX),
        r"x must have 2 dimension\(s\), got torch.float64 of shape \(2,\)",
    ),
    bad(
        "x-integer",
        lambda: mixture_score(torch.zeros(5, 2, dtype=torch.int64), *MIX),
        "x must be a floating-point tensor",
    ),
    bad(
        "x-nan",
        lambda: mixture_score(torch.full((5, 2), math.nan, dtype=F64), *MIX),
        r"x has non-finite values",
    ),
    bad(
        "mixture-shapes",
        lambda: mixture_score(X, MIX[0], MIX[1][:2], MIX[2]),
        r"weights \(3,\), means \(2, 2\) and covs \(3, 2, 2\) must be",
    ),
    bad(
        "sample-n",
        lambda: mixture_sample(-1, *MIX, torch.Generator()),
        "n must be an integer >= 1, got -1",
    ),
    bad(
        "sample-n-zero",
        lambda: mixture_sample(0, *MIX, torch.Generator()),
        "n must be an integer >= 1, got 0",
    ),
    bad(
        "tolerance-one-point",
        lambda: error_over_tolerance(X[:1], *MIX),
        r"x must have shape \(n, d\) = \(n, 2\) with n >= 2 to match the mixture, got \(1, 2\)",
    ),
    bad(
        "tolerance-means-1-d",
        lambda: error_over_tolerance(X, MIX[0], MIX[1][:, 0], MIX[2]),
        r"means must have 2 dimension\(s\), got torch.float64 of shape \(3,\)",
    ),
    bad(
        "dsm-sigma-zero",
        lambda: dsm_loss(NET, X, X, 0.0),
        "sigma must be positive, got 0.0",
    ),
    bad(
        "dsm-z-shape",
        lambda: dsm_loss(NET, X, X[:3], 0.5),
        r"z \(3, 2\) must have the shape of x \(5, 2\)",
    ),
    bad(
        "sliced-v-shape",
        lambda: sliced_score_matching_loss(lambda x: x, X, X[:, :1]),
        r"v \(5, 1\) must have the shape of x \(5, 2\)",
    ),
    bad(
        "explicit-shapes",
        lambda: explicit_score_matching_loss(X, X[:4]),
        r"s_model \(5, 2\) and s_true \(4, 2\)",
    ),
    bad(
        "langevin-eps",
        lambda: langevin(lambda x: x, X, -0.01, 10, torch.Generator()),
        "eps must be a finite number > 0, got -0.01",
    ),
    bad(
        "langevin-steps",
        lambda: langevin(lambda x: x, X, 0.01, 2.5, torch.Generator()),
        "steps must be an integer >= 0, got 2.5",
    ),
    bad(
        "langevin-temperature",
        lambda: langevin(lambda x: x, X, 0.01, 1, torch.Generator(), temperature=-1.0),
        "temperature must be a finite number >= 0, got -1.0",
    ),
    bad(
        "sigmas-increasing",
        lambda: annealed_langevin(
            lambda x, s: x, X, [0.1, 1.0], 0.01, 10, torch.Generator()
        ),
        r"sigmas must be positive and non-increasing, got \[0.1, 1.0\]",
    ),
    bad(
        "sigmas-zero",
        lambda: annealed_langevin(
            lambda x, s: x, X, [1.0, 0.0], 0.01, 10, torch.Generator()
        ),
        "sigmas must be positive",
    ),
    bad(
        "geometric-order",
        lambda: geometric_sigmas(0.1, 1.0, 5),
        "sigma_max must be larger than sigma_min=1.0, got 0.1",
    ),
    bad(
        "geometric-L",
        lambda: geometric_sigmas(5.0, 0.1, 1),
        "L must be an integer >= 2, got 1",
    ),
    bad("net-sigma", lambda: NET(X.float(), -1.0), "sigma must be positive, got -1.0"),
    bad(
        "net-hidden",
        lambda: ScoreNet(hidden=0),
        "hidden must be an integer >= 1, got 0",
    ),
    bad(
        "train-sigmas",
        lambda: train_score_net(NET, X.float(), 1.0, 0.5, 1, torch.Generator()),
        "sigma_max must be larger than sigma_min=1.0, got 0.5",
    ),
    bad(
        "ode-sigmas",
        lambda: probability_flow_ode(lambda x, s: x, X, 1.0, 0.5, 10),
        "sigma_max must be larger than sigma_min=1.0, got 0.5",
    ),
    bad(
        "ve-sigma-min",
        lambda: ve_g2(0.5, 0.0, 1.0),
        "sigma_min must be a finite number > 0, got 0.0",
    ),
    bad(
        "tolerances-n",
        lambda: moment_tolerances(*MIX, 0),
        "n must be an integer >= 1, got 0",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

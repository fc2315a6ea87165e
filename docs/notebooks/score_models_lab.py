# %% [markdown]
# # Score models lab
#
# The chapter *Score-based generative models* builds a score-based sampler for a 2-D Gaussian
# mixture whose score is known in closed form. This lab runs `snippets.score_models` and draws
# what the chapter checks: the mixture's density with its score field, the training loss of
# a small noise-conditional score network, samples from annealed Langevin dynamics with the
# exact and the trained score, the samples at several noise levels on the way down, and the
# deterministic paths of the probability-flow ODE. Every cell that computes also checks its
# result, and the notebook runs twice before the site is published: when MkDocs builds this
# page (a failing cell fails the build) and under pytest. The button at the top of the page
# downloads its source, a jupytext percent file: Jupyter opens it as a notebook when jupytext
# is installed, and `python` runs it as a script.
#
# All data is generated here from seeded generators.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets.score_models import (
    ScoreNet,
    annealed_langevin,
    error_over_tolerance,
    example_mixture,
    geometric_sigmas,
    mixture_log_prob,
    mixture_moments,
    mixture_sample,
    mixture_score,
    probability_flow_ode,
    train_score_net,
)

# White figures with dark text and lines stay legible on the site's light and dark
# palettes.
plt.rcParams.update(
    {
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.facecolor": "white",
        "figure.dpi": 100,
    }
)
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
f64 = torch.float64

MIX = weights, means, covs = example_mixture()
I = torch.eye(2, dtype=f64)
SIGMA_MAX, SIGMA_MIN, L = 5.0, 0.05, 10
sigmas = geometric_sigmas(SIGMA_MAX, SIGMA_MIN, L)
noised = lambda sigma: (weights, means, covs + sigma**2 * I)  # the mixture p_sigma

# A grid over the plotted squares, for density contours.
g = torch.linspace(-8, 8, 161, dtype=f64)
GX, GY = torch.meshgrid(g, g, indexing="xy")
grid = torch.stack([GX.flatten(), GY.flatten()], 1)


def contours(ax, sigma=0.0, filled=False):
    """The density of p_sigma on the grid, as contour lines (or filled contours)."""
    density = mixture_log_prob(grid, *MIX, sigma=sigma).exp().reshape(GX.shape)
    draw = ax.contourf if filled else ax.contour
    kwargs = (
        dict(levels=12, cmap="Greys")
        if filled
        else dict(levels=8, colors="0.6", linewidths=0.8)
    )
    draw(GX.numpy(), GY.numpy(), density.numpy(), **kwargs)
    # the data's square; wider when asked
    ax.set(xlim=(-5, 5), ylim=(-5, 5), aspect="equal")


# The grid covers the mixture: the density on it integrates to 1 (a Riemann sum).
cell = (g[1] - g[0]) ** 2
total = mixture_log_prob(grid, *MIX).exp().sum() * cell
assert abs(total.item() - 1) < 1e-3, total

# %% [markdown]
# ## The density and its score
#
# The score $s(x) = \nabla_x \log p(x)$ is the responsibility-weighted average of the
# component scores $-C_k^{-1}(x - \mu_k)$. The arrows below are $s(x)$ on a coarse grid,
# scaled down: near a component's mean they point at it, steepest across its narrow
# direction, and between the components they turn where the responsibilities change hands.
# Far out, the component with the largest logit takes over and the score grows linearly with
# the distance (the scaled arrows level off).
#
# Two checks: the arrows are autograd's gradient of the log-density, and the log-density
# rises along them at the rate $\lvert s \rvert^2$ (a central difference along $s$).

# %%
q = torch.linspace(-4.5, 4.5, 19, dtype=f64)
QX, QY = torch.meshgrid(q, q, indexing="xy")
points = torch.stack([QX.flatten(), QY.flatten()], 1)
s = mixture_score(points, *MIX)

xr = points.clone().requires_grad_()
torch.testing.assert_close(
    s, torch.autograd.grad(mixture_log_prob(xr, *MIX).sum(), xr)[0]
)
h = 1e-5  # central difference of log p along s: |s|^2 >= 0
slope = (
    mixture_log_prob(points + h * s, *MIX) - mixture_log_prob(points - h * s, *MIX)
) / (2 * h)
torch.testing.assert_close(slope, (s**2).sum(1), rtol=1e-5, atol=1e-7)

fig, ax = plt.subplots(figsize=(6, 6))
contours(ax, filled=True)
arrows = s / (1 + s.norm(dim=1, keepdim=True))  # length < 1, direction kept
ax.quiver(
    points[:, 0],
    points[:, 1],
    arrows[:, 0],
    arrows[:, 1],
    color=COLORS[0],
    angles="xy",
    scale_units="xy",
    scale=2.2,
    width=0.004,
)
ax.plot(means[:, 0], means[:, 1], "x", color=COLORS[3], markersize=9, label="means")
ax.set(title="p(x) and its score s(x) (arrows scaled to s / (1 + |s|))")
ax.legend(loc="lower left")
# %% [markdown]
# ## Training a noise-conditional score network
#
# `ScoreNet` is an MLP 3 -> 64 -> 64 -> 2 with the noise level as an input, its output
# divided by $\sigma$, plus the score of $\mathcal N(0, (\sigma^2 + \sigma_{\text{data}}^2) I)$ as a skip term. It is
# trained by denoising score matching on 20,000 samples of the mixture, with $\sigma$ drawn
# log-uniformly from $[0.05, 5]$ and the loss weighted by $\sigma^2$: 500 steps of Adam, batches of
# 256 (each used with the noise $z$ and with $-z$).
#
# The loss does not go to zero: its minimum is the part of the target $-z / \sigma$ that no
# function of the noised point can predict. What it should do is fall to a plateau. The right
# panel measures what the loss cannot show, the error of the learned score against the exact
# noised score on held-out noised samples, relative to the score's size, at each of the
# sampler's noise levels.

# %%
gen = torch.Generator().manual_seed(12)
data = mixture_sample(20_000, *MIX, gen)[0].float()
net = ScoreNet(d=2, hidden=64, sigma_data=1.5, generator=gen)
losses = np.array(
    train_score_net(net, data, SIGMA_MIN, SIGMA_MAX, steps=500, generator=gen)
)

held_out = torch.Generator().manual_seed(13)
relative_error = []
for sigma in sigmas.tolist():
    x = mixture_sample(2000, *MIX, held_out)[0] + sigma * torch.randn(
        2000, 2, generator=held_out, dtype=f64
    )
    exact = mixture_score(x, *MIX, sigma=sigma)
    with torch.no_grad():
        learned = net(x.float(), sigma).double()
    relative_error.append(
        ((learned - exact).norm(dim=1).pow(2).mean() / exact.norm(dim=1).pow(2).mean())
        .sqrt()
        .item()
    )
print(
    "relative error by sigma:",
    ", ".join(f"{s:.2f}: {e:.2f}" for s, e in zip(sigmas.tolist(), relative_error)),
)
assert losses[-100:].mean() < losses[:100].mean()
assert max(relative_error[:3]) < 0.1 and max(relative_error) < 0.5

window = 25
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.plot(losses, color="0.75", linewidth=0.8, label="loss per step")
left.plot(
    np.arange(window - 1, len(losses)),
    smooth,
    color=COLORS[0],
    label=f"mean of {window} steps",
)
left.set(xlabel="step", ylabel="DSM loss (sigma^2-weighted)", title="Training")
left.legend()
right.semilogx(sigmas.numpy(), relative_error, "o-", color=COLORS[1])
right.set(
    xlabel="sigma",
    ylabel="relative RMS error",
    ylim=(0, None),
    title="Learned score against the exact noised score",
)

# %% [markdown]
# ## Samples: exact score against trained network
#
# Annealed Langevin dynamics, 10 noise levels from $\sigma = 5$ down to $0.05$, 30 steps each
# with the step $\alpha_i = \varepsilon\, \sigma_i^2 / \sigma_L^2$, $\varepsilon = 0.5\, \sigma_L^2$, from 2000
# chains started at $\mathcal N(0, 25 I)$. `error_over_tolerance` is the chapter's acceptance test: the samples' mean
# responsibilities, mean and covariance against the exact values of $p_{\sigma_L}$, each within
# four Monte Carlo standard errors plus the bias allowed by weights off by 0.02; at most 1
# passes.


# %%
def sample(score, dtype=f64, seed=21, callback=None):
    gen = torch.Generator().manual_seed(seed)
    x = SIGMA_MAX * torch.randn(2000, 2, generator=gen, dtype=dtype)
    with torch.no_grad():
        return annealed_langevin(
            score, x, sigmas, 0.5 * SIGMA_MIN**2, 30, gen, callback=callback
        ).double()


snapshots = {}
exact_samples = sample(
    lambda x, sigma: mixture_score(x, *MIX, sigma=sigma),
    callback=lambda i, sigma, x: snapshots.update({i: x.clone()}),
)
net_samples = sample(net, dtype=torch.float32)
ratios = [
    error_over_tolerance(x, *noised(SIGMA_MIN), n_se=4, weight_allowance=0.02)
    for x in (exact_samples, net_samples)
]
print("error / tolerance: exact score %.2f, trained network %.2f" % tuple(ratios))
assert max(ratios) <= 1, ratios

fig, axes = plt.subplots(1, 2, figsize=(11, 5.4), sharey=True)
for ax, x, name, ratio in zip(
    axes, (exact_samples, net_samples), ("exact score", "trained ScoreNet"), ratios
):
    contours(ax)
    ax.plot(x[:, 0], x[:, 1], ".", markersize=2, alpha=0.5, color=COLORS[0])
    ax.set(title=f"Annealed Langevin, {name}\n(error / tolerance {ratio:.2f})")

# %% [markdown]
# ## The annealing, level by level
#
# The same run with the exact score, stopped after levels 1, 4, 7 and 10, over the contours of
# the noised density $p_\sigma$ at that level. At $\sigma = 5$ the samples fill one broad blob;
# the modes separate around $\sigma = 1$, and from there each chain stays with its mode while the
# noise shrinks.
#
# The total variance of the samples should follow that of $p_\sigma$, $\operatorname{tr}(S) + 2\sigma^2$, with one
# correction: a discretised Langevin step of size $\alpha$ runs slightly hot. On a Gaussian of
# variance $v$ it samples the variance $v / (1 - \alpha / (4 v))$ (the chapter derives it), and
# here $\alpha_i = \sigma_i^2 / 2$, comparable to $v$ at the first levels: up to
# $1 / (1 - 1/8)$, 14% too wide at $\sigma = 5$, shrinking to 0.2% at the last level, where $v$
# is the data's.

# %%
shown = [0, 3, 6, 9]
tr_S = torch.trace(mixture_moments(*MIX)[1]).item()
total_variance = [
    torch.trace(torch.cov(snapshots[i].T)).item() / (tr_S + 2 * sigma**2)
    for i, sigma in enumerate(sigmas.tolist())
]
print(
    "tr(sample covariance) / (tr(S) + 2 sigma^2) by level:",
    ", ".join(f"{r:.3f}" for r in total_variance),
)
assert all(0.95 < r < 1 / (1 - 1 / 8) + 0.03 for r in total_variance), total_variance

fig, axes = plt.subplots(1, 4, figsize=(15, 4.2), sharey=True)
for ax, i in zip(axes, shown):
    sigma = sigmas[i].item()
    x = snapshots[i]
    contours(ax, sigma=sigma)
    ax.plot(x[:, 0], x[:, 1], ".", markersize=1.5, alpha=0.5, color=COLORS[2])
    ax.set(xlim=(-8, 8), ylim=(-8, 8), title=f"level {i + 1}: sigma = {sigma:.2f}")
fig.tight_layout()

# %% [markdown]
# ## The probability-flow ODE
#
# The deterministic sampler: start from samples of $p_1$, the mixture noised to
# $\sigma_{\max} = 5$, and integrate $dx/dt = -\tfrac12 g(t)^2 s(x, \sigma(t))$ from $t = 1$ back
# to $t = 0$ with RK4, for the variance-exploding schedule $\sigma(t) = 0.05 \cdot 100^t$. Each
# path is a smooth curve, and the same start always gives the same end. The end points are
# samples of $p_0$, the mixture at $\sigma = 0.05$, and pass the acceptance test with no bias
# allowance.

# %%
start = mixture_sample(1000, *noised(SIGMA_MAX), torch.Generator().manual_seed(22))[0]
score = lambda x, sigma: mixture_score(x, *MIX, sigma=sigma)
times = np.linspace(1, 0, 11)
path = [start]
for t0, t1 in zip(times, times[1:]):  # the same RK4 run, in 10 pieces of 5 steps
    path.append(
        probability_flow_ode(score, path[-1], SIGMA_MIN, SIGMA_MAX, 5, t0=t0, t1=t1)
    )
end = path[-1]
one_run = probability_flow_ode(score, start, SIGMA_MIN, SIGMA_MAX, 50)
# the same 50 steps, in one go
torch.testing.assert_close(end, one_run, rtol=0, atol=1e-9)
# same start, same end
assert torch.equal(
    probability_flow_ode(score, start, SIGMA_MIN, SIGMA_MAX, 5, t0=1.0, t1=0.9), path[1]
)
ratio = error_over_tolerance(end, *noised(SIGMA_MIN), n_se=4)
assert ratio <= 1, ratio

path = torch.stack(path)  # (11, n, 2)
fig, ax = plt.subplots(figsize=(6.5, 6.5))
contours(ax)
for j in range(0, 1000, 25):
    ax.plot(path[:, j, 0], path[:, j, 1], color=COLORS[1], linewidth=0.7, alpha=0.8)
ax.plot(
    start[::25, 0],
    start[::25, 1],
    ".",
    color="0.4",
    markersize=4,
    label="start (t = 1)",
)
ax.plot(
    end[::25, 0], end[::25, 1], ".", color=COLORS[3], markersize=5, label="end (t = 0)"
)
ax.set(
    xlim=(-9, 9),
    ylim=(-9, 9),
    title=f"Probability-flow paths (error / tolerance {ratio:.2f})",
)
ax.legend(loc="lower left")

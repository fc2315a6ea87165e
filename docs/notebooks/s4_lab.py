# %% [markdown]
# # S4 lab
#
# The chapter *Structured state spaces* builds S4 from its parts: the HiPPO-LegS matrices,
# discretisation, the recurrence and the convolution, and the fast kernel of a normal plus
# low-rank matrix. This lab runs `snippets.s4` and draws what those parts do: the LegS memory
# reconstructing a signal online, the kernels for several step sizes, and the same model run as a
# recurrence and as a convolution. Every cell that
# computes also checks its result, and the notebook runs twice before the site is published:
# when MkDocs builds this page (a failing cell fails the build) and under pytest. The button
# at the top of the page downloads its source, a jupytext percent file: Jupyter opens it as a
# notebook when jupytext is installed, and `python` runs it as a script.
#
# All data is generated here from seeded generators: the notebook needs the `snippets` package
# and nothing else from the repository.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from numpy.polynomial import legendre

from snippets.s4 import (
    causal_conv,
    discretize_bilinear,
    discretize_zoh,
    hippo_legs,
    kernel_naive,
    kernel_nplr,
    nplr_legs,
    scan,
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

# %% [markdown]
# ## The LegS memory, online
#
# HiPPO-LegS keeps, at every time t, the N coefficients of the whole history f on [0, t] in the
# Legendre polynomials stretched over [0, t]. With the uniform measure ds/t on [0, t] the
# functions
#
#     g_n(t, s) = sqrt(2n+1) P_n(2s/t - 1),    n = 0, ..., N-1,
#
# are orthonormal (P_n is the Legendre polynomial on [-1, 1], with integral of P_n^2 equal to
# 2/(2n+1)), and the memory is x_n(t) = integral over [0, t] of f(s) g_n(t, s) ds/t, the
# coefficients of the best approximation of f on [0, t] by a polynomial of degree < N, in the
# L2 sense. Differentiating in t (HiPPO, appendix D.3) gives the time-varying linear system
#
#     x'(t) = (1/t) A x(t) + (1/t) B f(t),
#
# with A and B from `hippo_legs(N)`. (The module's A carries the minus sign: the HiPPO paper
# writes x' = -(1/t) A x + (1/t) B f with A = -`hippo_legs(N)[0]`.)
#
# Sample f at t_k = k/M, k = 1, ..., M, and step from t_{k-1} to t_k by freezing the
# coefficients at t_k: on that step the system is x' = (A/t_k) x + (B/t_k) f, and the bilinear
# rule with step 1/M sees the matrices (1/M)(A/t_k) = A/k and (1/M)(B/t_k) = B/k:
#
#     x_k = (I - A/(2k))^{-1} (I + A/(2k)) x_{k-1} + (I - A/(2k))^{-1} B f_k / k,
#     x_0 = 0.
#
# In the paper's sign convention this is x_k = (I + A/(2k))^{-1} (I - A/(2k)) x_{k-1} +
# (I + A/(2k))^{-1} B f_k / k. It is `discretize_bilinear(A, B, step=1/k)`, one step size per
# k, and M has dropped out: the recurrence never learns the time scale, so f sampled M times on
# [0, 1] and f stretched to [0, 100] and sampled M times give the same memory.
#
# The signal: three sines and a jump at s = 0.6. At t = 1 the memory should hold the
# coefficients c_n of the projection of f onto g_0, ..., g_{N-1}. They are computed here
# directly, by Gauss-Legendre quadrature on [0, 0.6] and on [0.6, 1], where f is smooth (200
# nodes integrate it to rounding error).

# %%
M, JUMP = 1000, 0.6


def f(s):
    s = np.asarray(s, dtype=float)
    return (
        np.sin(2 * np.pi * s)
        + 0.5 * np.sin(6 * np.pi * s + 1)
        + 0.3 * np.cos(14 * np.pi * s)
        + (s > JUMP)
        - 0.5
    )


def basis(s, t, N):
    """g_n(t, s) = sqrt(2n+1) P_n(2s/t - 1) for n < N: shape (len(s), N)."""
    return legendre.legvander(2 * np.asarray(s) / t - 1, N - 1) * np.sqrt(
        2 * np.arange(N) + 1
    )


def quadrature(t, nodes=200):
    """Gauss-Legendre nodes and weights for ds/t on [0, t], split at the jump when
    t > JUMP."""
    x, w = legendre.leggauss(nodes)
    cuts = [0.0, JUMP, t] if t > JUMP else [0.0, t]
    pieces = [
        ((b - a) / 2 * x + (a + b) / 2, (b - a) / 2 * w / t)
        for a, b in zip(cuts, cuts[1:])
    ]
    return np.concatenate([p[0] for p in pieces]), np.concatenate(
        [p[1] for p in pieces]
    )


def projection(N, t=1.0, func=f):
    """c_n = integral over [0, t] of f(s) g_n(t, s) ds/t: the L2-optimal
    coefficients."""
    s, w = quadrature(t)
    return (w * func(s)) @ basis(s, t, N)


def legs_online(N, M, keep=()):
    """Run the LegS recurrence over the M samples f(k/M); return x_M and
    {k: x_k for k in keep}."""
    A, B = hippo_legs(N)
    k = torch.arange(1, M + 1, dtype=f64)
    # (M, N, N)
    A_bars, B_bars = discretize_bilinear(A.expand(M, N, N), B.expand(M, N), 1 / k)
    samples = torch.tensor(f(k.numpy() / M))
    x, kept = torch.zeros(N, dtype=f64), {}
    for j in range(M):
        x = A_bars[j] @ x + B_bars[j] * samples[j]
        if j + 1 in keep:
            kept[j + 1] = x.numpy()
    return x.numpy(), kept


# The basis is orthonormal for ds/t on [0, t]: the normalisation the memory uses.
for t in (1.0, 0.37):
    s, w = quadrature(t)
    G = basis(s, t, 64)
    np.testing.assert_allclose(G.T @ (w[:, None] * G), np.eye(64), atol=1e-12)

# Step k of the recurrence above is discretize_bilinear's with step 1/k.
A4, B4 = hippo_legs(4)
I4, k = torch.eye(4, dtype=f64), 7
A_bar, B_bar = discretize_bilinear(A4, B4, 1 / k)
torch.testing.assert_close(
    A_bar, torch.linalg.solve(I4 - A4 / (2 * k), I4 + A4 / (2 * k))
)
torch.testing.assert_close(B_bar, torch.linalg.solve(I4 - A4 / (2 * k), B4 / k))

# A is lower triangular, and so are both factors of each step: the first N coefficients
# of a bigger memory are the memory of size N. One run with N = 64 gives N = 4 and N =
# 16 too.
x_64, snapshots = legs_online(64, M, keep=(M // 4, M // 2, 3 * M // 4))
torch.testing.assert_close(torch.tensor(x_64[:4]), torch.tensor(legs_online(4, M)[0]))

Ns = [4, 16, 64]
online, optimal, gaps = {}, {}, {}
for N in Ns:
    online[N], optimal[N] = x_64[:N], projection(N)
    gaps[N] = np.linalg.norm(online[N] - optimal[N]) / np.linalg.norm(optimal[N])
    print(f"N = {N:2d}: |x_M - c| / |c| = {gaps[N]:.2e}")
    assert gaps[N] < 2e-2, (N, gaps[N])

# The gap is the recurrence's discretisation error, first order in 1/M (coefficients
# frozen at the end of each step, samples taken there): four times as many samples,
# about a quarter of the gap.
gap_4M = np.linalg.norm(legs_online(16, 4 * M)[0] - optimal[16]) / np.linalg.norm(
    optimal[16]
)
print(f"N = 16, 4M samples: {gap_4M:.2e}")
assert gap_4M < gaps[16] / 3, (gap_4M, gaps[16])

# %% [markdown]
# Since the g_n are orthonormal, the L2 error of any coefficient vector x splits as
# ||f - sum x_n g_n||^2 = ||f - sum c_n g_n||^2 + ||x - c||^2: the projection is the best
# approximation, and the online memory is worse by exactly its distance to it. The smooth parts
# of f are matched by N = 64; the jump is not, and the reconstruction overshoots on both sides
# of it (the Gibbs phenomenon).

# %%
s_fine, w_fine = quadrature(1.0, nodes=400)


def l2_error(coefficients, N):
    r = f(s_fine) - basis(s_fine, 1.0, N) @ coefficients
    return np.sqrt(w_fine @ r**2)


errors_online = [l2_error(online[N], N) for N in Ns]
errors_optimal = [l2_error(optimal[N], N) for N in Ns]
for N, e_on, e_opt in zip(Ns, errors_online, errors_optimal):
    print(f"N = {N:2d}: L2 error online {e_on:.4f}, projection {e_opt:.4f}")
    np.testing.assert_allclose(
        e_on**2, e_opt**2 + np.sum((online[N] - optimal[N]) ** 2), rtol=1e-8
    )
assert all(a > 2 * b for a, b in zip(errors_online, errors_online[1:])), errors_online
assert all(a > 2 * b for a, b in zip(errors_optimal, errors_optimal[1:])), (
    errors_optimal
)

# The memory is online: the N = 64 state after k samples holds the projection of f on
# [0, k/M], up to the same first-order error, now in 1/k.
snapshot_gaps = []
for k, x_k in snapshots.items():
    c_k = projection(64, k / M)
    snapshot_gaps.append(np.linalg.norm(x_k - c_k) / np.linalg.norm(c_k))
print(
    "after k = " + ", ".join(f"{k}: {g:.1e}" for k, g in zip(snapshots, snapshot_gaps))
)
assert all(g < 20 / k for k, g in zip(snapshots, snapshot_gaps)), snapshot_gaps

s_plot = np.linspace(0, 1, 1001)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
left.plot(s_plot, f(s_plot), color="0.7", linewidth=3, label="f")
for color, N, err in zip(COLORS, Ns, errors_online):
    left.plot(
        s_plot,
        basis(s_plot, 1.0, N) @ online[N],
        color=color,
        linewidth=1.2,
        label=f"N = {N} (L2 error {err:.3f})",
    )
left.set(xlabel="s", title=f"Reconstructions from the memory at t = 1 ({M} samples)")
left.legend(fontsize=8, loc="lower left")
right.plot(s_plot, f(s_plot), color="0.7", linewidth=2.5, label="f")
for color, width, (k, x_k) in zip(COLORS, [5, 2.5, 1], snapshots.items()):
    t = k / M  # drawn on [0, t], thinner as t grows: they coincide where they overlap
    s_t = s_plot[s_plot <= t]
    right.plot(
        s_t,
        basis(s_t, t, 64) @ x_k,
        color=color,
        linewidth=width,
        label=f"from the state at t = {t:g}",
    )
    right.axvline(t, color=color, linestyle=":", linewidth=1)
right.set(xlabel="s", title="N = 64: what the memory holds as t grows")
right.legend(fontsize=8, loc="lower left")
# %% [markdown]
# The coefficients themselves, online against the projection, for N = 64. Split f into its
# smooth part (the sines) and the jump: the smooth part's coefficients vanish faster than any
# power of 1/n once n passes the sines' frequency (below 1e-5 from n = 35 on), while the jump's
# oscillate under an envelope that falls only like 1/n: their squares average about 0.15/n^2,
# so the error left after N terms, the square root of the tail's sum, is about sqrt(0.15/N),
# falling only like N^(-1/2). At N = 64 the whole L2 error is the jump's (the jump is 1 on a
# set of length 0.4, so its squared norm is 0.4), and it is about sqrt(0.15/64) = 0.048.

# %%
n = np.arange(64)
smooth = projection(64, func=lambda s: f(s) - (s > JUMP))
jump = projection(64, func=lambda s: (s > JUMP).astype(float))
np.testing.assert_allclose(smooth + jump, optimal[64], atol=1e-14)
assert np.abs(smooth[35:]).max() < 1e-5
assert (n * np.abs(jump)).max() < 0.6 and (n * np.abs(jump))[32:].max() > 0.5
jump_error = np.sqrt(0.4 - np.sum(jump**2))  # Parseval: what the first 64 leave
np.testing.assert_allclose(errors_optimal[-1], jump_error, rtol=1e-9)
np.testing.assert_allclose(jump_error, np.sqrt(0.15 / 64), rtol=0.1)

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.semilogy(
    n, np.abs(optimal[64]), "o", color="black", markersize=5, label="projection |c_n|"
)
ax.semilogy(
    n, np.abs(online[64]), ".", color=COLORS[1], label="online memory |x_n| at t = 1"
)
ax.semilogy(
    n,
    np.abs(online[64] - optimal[64]),
    "-",
    color=COLORS[0],
    linewidth=1,
    label="|x_n - c_n|",
)
ax.semilogy(
    n, np.abs(smooth), "-", color=COLORS[2], linewidth=1, label="the sines' part"
)
ax.semilogy(n[1:], 0.55 / n[1:], ":", color="0.4", label="0.55 / n")
ax.set(xlabel="n", ylim=(1e-6, 3), title="LegS coefficients, N = 64")
ax.legend(fontsize=8, ncol=2)
# %% [markdown]
# ## Kernels for several step sizes
#
# S4 uses LegS as a time-invariant system instead, x' = A x + B u, y = C x, discretised with a
# step that sets its time scale. Its impulse response is known in closed form: e^{tA} B has
# components e^{-t} sqrt(2n+1) P_n(2e^{-t} - 1), so with y = C x
#
#     h(t) = e^{-t} sum_n C_n sqrt(2n+1) P_n(2e^{-t} - 1).
#
# Near t = 0 the Legendre polynomials, evaluated near 1, oscillate on a scale ~ 1/N^2, so a
# coarse step cannot resolve the start of h. The discrete kernel is K_i = C A_bar^i B_bar.
# Zero-order hold is exact for inputs constant on each step, so its K_i is the integral of h
# over [i step, (i+1) step]; substituting y = e^{-t}, that is a difference of Legendre
# antiderivatives (`legendre.legint`), checked here to rounding error. The bilinear kernel has
# no such identity, and differs from it where h varies within a step.
#
# N = 32 and C random. The bilinear kernel is also computed by `kernel_nplr` from the normal
# plus low-rank form: `nplr_legs` gives A = V (diag(Lambda) - P^T conj(P)) V^H with B_v = V^H B,
# so in the state x_v = V^H x the system is (diag(Lambda) - P^T conj(P), B_v, C V): the output
# C x = (C V) x_v is the same, and so is the kernel. That kernel is real, so the one
# `kernel_nplr` returns (complex) must have a zero imaginary part.
#
# A is lower triangular, so A_bar is too (both rules), and its eigenvalues are its diagonal:
# (1 - (n+1) step/2) / (1 + (n+1) step/2) for bilinear and e^{-(n+1) step} for zero-order hold,
# all inside the unit circle. They are read off the diagonal: the eigenvalues of a matrix this
# far from normal are so sensitive to rounding that a general eigensolver can miss them by far
# more than machine precision.

# %%
N, L = 32, 1000
A, B = hippo_legs(N)
C = torch.randn(N, generator=torch.Generator().manual_seed(0), dtype=f64) / N**0.5
Lambda, P, B_v, V = nplr_legs(N)
torch.testing.assert_close(
    V @ (torch.diag(Lambda) - P.mT @ P.conj()) @ V.mH, A.to(torch.complex128)
)
torch.testing.assert_close(V @ B_v, B.to(torch.complex128))

# h(t) = e^{-t} legval(2e^{-t} - 1, coef)
coef = C.numpy() * np.sqrt(2 * np.arange(N) + 1)
antiderivative = legendre.legint(coef)


def h(t):
    e = np.exp(-np.asarray(t))
    return e * legendre.legval(2 * e - 1, coef)


step_sizes = [1e-3, 1e-2, 1e-1]
kernels = {}
for step in step_sizes:
    for method, discretize in [
        ("bilinear", discretize_bilinear),
        ("zoh", discretize_zoh),
    ]:
        A_bar, B_bar = discretize(A, B, step)
        K = kernel_naive(A_bar, B_bar, C, L)
        kernels[step, method] = K.numpy()

        assert A_bar.triu(1).abs().max() < 1e-13  # lower triangular
        a = step * torch.arange(1, N + 1, dtype=f64)
        diagonal = (1 - a / 2) / (1 + a / 2) if method == "bilinear" else torch.exp(-a)
        torch.testing.assert_close(A_bar.diagonal(), diagonal)
        radius = A_bar.diagonal().abs().max().item()
        assert radius < 1, (step, method, radius)

        if method == "bilinear":
            K_nplr = kernel_nplr(Lambda, P, P, B_v, C.to(torch.complex128) @ V, step, L)
            torch.testing.assert_close(K_nplr.real, K, rtol=1e-9, atol=1e-12)
            assert K_nplr.imag.abs().max() < 1e-12
        else:
            y = np.exp(-step * np.arange(L + 1))  # integral of h over each step
            F = legendre.legval(2 * y - 1, antiderivative) / 2
            np.testing.assert_allclose(K.numpy(), F[:-1] - F[1:], rtol=0, atol=1e-13)
        print(
            f"step {step:g} {method:8s}: spectral radius {radius:.5f}, "
            f"max |K| {K.abs().max():.4f}"
        )

# Where h is resolved, both rules approximate step * h at the middle of each step.
t_mid = (np.arange(L) + 0.5) * 1e-3
for method in ("bilinear", "zoh"):
    K = kernels[1e-3, method]
    assert np.abs(K / 1e-3 - h(t_mid)).max() < 0.05 * np.abs(h(t_mid)).max(), method
late = (np.arange(L) + 0.5) * 1e-2 > 1  # step 1e-2, t > 1
assert np.abs(kernels[1e-2, "bilinear"] - kernels[1e-2, "zoh"])[late].max() < 1e-3

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for color, step in zip(COLORS, step_sizes):
    left.plot(
        kernels[step, "bilinear"] / step,
        color=color,
        linewidth=1,
        label=f"step {step:g}",
    )
    for method, style in [("bilinear", "-"), ("zoh", "--")]:
        t = (np.arange(L) + 0.5) * step
        right.plot(
            t,
            kernels[step, method] / step,
            style,
            color=color,
            linewidth=1.2,
            label=f"step {step:g}, {method}",
        )
t_fine = np.logspace(-4, 2, 3000)
right.plot(t_fine, h(t_fine), color="black", linewidth=0.8, label="h(t), exact")
left.set(
    xlabel="i",
    ylabel="$K_i$ / step",
    title=f"Bilinear kernels $K_i = C\\,\\bar A^i \\bar B$, N = {N}, L = {L}",
)
left.legend(fontsize=8)
right.set(
    xscale="log",
    xlabel="t = (i + 1/2) step",
    ylabel="$K_i$ / step",
    title="Against time: a step resolves h only where h is slow",
)
right.legend(fontsize=7, loc="lower right", ncol=2)
# %% [markdown]
# ## The same model as a recurrence and as a convolution
#
# The recurrence x_k = A_bar x_{k-1} + B_bar u_k, y_k = C x_k + D u_k unrolls into the causal
# convolution y_k = sum over i <= k of K_i u_{k-i} + D u_k, with K the kernel above. `scan`
# runs the first, one step at a time as an RNN would at inference; `causal_conv` computes the
# second for the whole sequence at once by FFT, as S4 does in training, with K from
# `kernel_nplr`. Step 1e-2 and a random skip term D; the input, of length 1000, holds a random
# level for 100 steps at a time, so each of the output's transients is the step response, the
# running integral of the kernel.

# %%
step, L = 1e-2, 1000
gen = torch.Generator().manual_seed(1)
u = torch.randn(L // 100, generator=gen, dtype=f64).repeat_interleave(100)
D = 0.2 * torch.randn((), generator=gen, dtype=f64)

A_bar, B_bar = discretize_bilinear(A, B, step)
y_recurrence = scan(A_bar, B_bar, C, u) + D * u
K = kernel_nplr(Lambda, P, P, B_v, C.to(torch.complex128) @ V, step, L).real
y_convolution = causal_conv(u, K, D)

torch.testing.assert_close(y_convolution, y_recurrence, rtol=1e-9, atol=1e-12)
gap = (y_convolution - y_recurrence).abs()
print(
    f"max |y_conv - y_rec| = {gap.max():.1e}, max |y| = {y_recurrence.abs().max():.2f}"
)

fig, (top, bottom) = plt.subplots(
    2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
)
top.plot(u, color="0.6", linewidth=1, label="input u")
top.plot(y_recurrence, color=COLORS[0], linewidth=3.5, label="recurrence (scan)")
top.plot(
    y_convolution,
    "--",
    color=COLORS[1],
    linewidth=1.5,
    label="convolution (causal_conv, kernel_nplr)",
)
top.set(title=f"LegS, N = {N}, step {step:g}, D = {D:.2f}")
top.legend(fontsize=8, loc="lower left")
bottom.semilogy(gap.clamp_min(1e-18), color="black", linewidth=0.6)
bottom.set(xlabel="k", ylabel="|conv $-$ rec|", ylim=(1e-18, 1e-12))

# %% [markdown]
# ## What the fast kernels cost
#
# `python3 tasks.py bench s4` times `kernel_nplr` and `kernel_s4d` against plain PyTorch
# computations of the same kernels, over L at fixed N and over N at fixed L. This lab measures
# nothing (timings taken while a page builds would say more about the build than the kernels);
# the [performance page](../../performance/#s4-kernels-against-plain-pytorch) draws the
# benchmark's last results, with the machine they were measured on.

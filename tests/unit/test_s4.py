"""snippets.s4 against dense references written here: HiPPO-LegS entry by entry, both
discretisations (the block matrix exponential, a Taylor series with squaring, the inverse
formula, and exact results for integrators), the recurrence, the FFT convolution, and the naive,
S4D and NPLR kernels against matrix powers, over random systems with and without a channel
dimension, in float64/complex128 and float32/complex64; then the errors for bad input.

Tolerances. Every comparison is a bound on the largest absolute error per channel,
``SAFETY * eps * (growth factors) * (the size of the terms summed)``, eps the machine epsilon
of the dtype under test: a first-order forward error bound whose factors (the length L, N-term
dot products, the transient growth max_i ||A_bar^i||, the conditioning of a solve, the
resolvent norm on the unit circle, ...) are spelled out where each bound is built. The
reference is computed in float64/complex128 from the very same (already rounded) inputs, so a
bound covers only the rounding inside the function under test (plus the reference's own, which
is of the same order in float64). Over ~10^4 random cases the largest error was 0.14 of its
bound, i.e. SAFETY = 8 leaves a margin of 7. In float64 every bound is below ~5e-10 of the
largest reference entry, so a wrong formula cannot hide under it; in float32 the bounds are
mostly below 1e-2 of it, looser where the terms summed nearly cancel (NPLR systems with a
large low-rank part, ill-conditioned A in the ZOH inverse formula): those formulas are pinned
down by the float64 cases.
"""

import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import given, strategies as st

from snippets.s4 import (
    causal_conv,
    discretize_bilinear,
    discretize_zoh,
    hippo_legs,
    kernel_naive,
    kernel_nplr,
    kernel_s4d,
    nplr_legs,
    scan,
    vandermonde,
)

SAFETY = 8.0
F64, C128 = torch.float64, torch.complex128


# ---------------------------------------------------------------------------------------------
# Dense references (one system at a time; channels are looped over by the callers).
# ---------------------------------------------------------------------------------------------


def wide(t: torch.Tensor) -> torch.Tensor:
    """float64, or complex128 for a complex tensor."""
    return t.to(C128 if t.is_complex() else F64)


def common(*ts: torch.Tensor) -> list[torch.Tensor]:
    """The tensors in float64, or all in complex128 if any is complex."""
    dtype = C128 if any(t.is_complex() for t in ts) else F64
    return [t.to(dtype) for t in ts]


def ref_hippo(N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS from its definition, entry by entry."""
    A = [[0.0] * N for _ in range(N)]
    B = [0.0] * N
    for n in range(N):
        B[n] = math.sqrt(2 * n + 1)
        for k in range(N):
            if n > k:
                A[n][k] = -math.sqrt(2 * n + 1) * math.sqrt(2 * k + 1)
            elif n == k:
                A[n][k] = -(n + 1.0)
    return torch.tensor(A, dtype=F64), torch.tensor(B, dtype=F64)


def ref_bilinear(A, B, step: float):
    A, B = common(A, B)
    I = torch.eye(A.shape[-1], dtype=A.dtype)
    M = I - step / 2 * A
    return torch.linalg.solve(M, I + step / 2 * A), torch.linalg.solve(M, step * B)


def expm(M):
    """torch.linalg.matrix_exp of one matrix, computed in a batch of two: on torch 2.13 (CPU) a
    single matrix (or a batch of one) whose norm selects the degree-8 Taylor approximation
    comes back with relative errors up to ~1e-11 in float64 and ~2e-5 in float32 (a wrong
    coefficient, pytorch/pytorch#196592), while batches of two or more are accurate."""
    return torch.linalg.matrix_exp(torch.stack([M, M]))[0]


def ref_zoh_block(A, B, step: float):
    """exp(step [[A, B], [0, 0]]) = [[A_bar, B_bar], [0, 1]]."""
    A, B = common(A, B)
    N = A.shape[-1]
    M = torch.zeros(N + 1, N + 1, dtype=A.dtype)
    M[:N, :N], M[:N, N] = A, B
    E = expm(step * M)
    return E[:N, :N], E[:N, N]


def ref_zoh_series(A, B, step: float):
    """ZOH without matrix_exp: Taylor series of exp(hA) and of (1/h) int_0^h exp(sA) ds at
    h = step / 2^j with ||hA||_1 <= 1/4, then j doublings A_bar(2h) = A_bar(h)^2,
    B_bar(2h) = (I + A_bar(h)) B_bar(h)."""
    A, B = common(A, B)
    N = A.shape[-1]
    norm = torch.linalg.matrix_norm(step * A, 1).item()
    j = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0 else 0
    h = step / 2**j
    X, I = h * A, torch.eye(N, dtype=A.dtype)
    A_bar, Phi, term = I.clone(), I.clone(), I.clone()  # Phi = sum_k X^k / (k+1)!
    for k in range(1, 25):
        term = term @ X / k
        A_bar = A_bar + term
        Phi = Phi + term / (k + 1)
    B_bar = h * Phi @ B
    for _ in range(j):
        B_bar = B_bar + A_bar @ B_bar
        A_bar = A_bar @ A_bar
    return A_bar, B_bar


def ref_scan(A_bar, B_bar, C, u):
    """x_k = A_bar x_{k-1} + B_bar u_k, x_{-1} = 0, y_k = sum_n C_n x_k[n], a plain loop."""
    A_bar, B_bar, C, u = common(A_bar, B_bar, C, u)
    x = torch.zeros_like(B_bar)
    y = []
    for k in range(u.shape[0]):
        x = A_bar @ x + B_bar * u[k]
        y.append((C * x).sum())
    return torch.stack(y)


def matrix_powers(A, L: int) -> torch.Tensor:
    """(L, N, N): A^0 ... A^{L-1}, by repeated matrix products."""
    powers = [torch.eye(A.shape[-1], dtype=A.dtype)]
    for _ in range(L - 1):
        powers.append(powers[-1] @ A)
    return torch.stack(powers)


def ref_kernel(A_bar, B_bar, C, L: int):
    """K[i] = C A_bar^i B_bar from the matrix powers A_bar^i."""
    A_bar, B_bar, C = common(A_bar, B_bar, C)
    return matrix_powers(A_bar, L) @ B_bar @ C


def ref_conv(u, K, D: float = 0.0):
    """y[k] = sum_{i<=k} K[i] u[k-i] + D u[k] as a lower-triangular Toeplitz product."""
    u, K = common(u, K)
    L = u.shape[0]
    lag = torch.arange(L)[:, None] - torch.arange(L)[None, :]
    T = torch.where(lag >= 0, K[lag.clamp(min=0)], torch.zeros((), dtype=K.dtype))
    return T @ u + D * u


def ref_kernel_gf(A_bar, B_bar, C, L: int, correct_C: bool = True):
    """The kernel from its truncated generating function at the L-th roots of unity,
    C~ (I - A_bar z)^{-1} B_bar with C~ = C (I - A_bar^L), then an inverse FFT; with
    correct_C=False, C in place of C~ (the mistake the C~ correction fixes)."""
    A_bar, B_bar, C = common(A_bar, B_bar, C)
    A_bar, B_bar, C = A_bar.to(C128), B_bar.to(C128), C.to(C128)
    I = torch.eye(A_bar.shape[-1], dtype=C128)
    C_t = C @ (I - torch.linalg.matrix_power(A_bar, L)) if correct_C else C
    z = torch.exp(-2j * math.pi * torch.arange(L, dtype=F64) / L)
    K_hat = torch.stack([C_t @ torch.linalg.solve(I - A_bar * zk, B_bar) for zk in z])
    return torch.fft.ifft(K_hat)


def nplr_matrix(Lambda, P, Q):
    """diag(Lambda) - sum_r outer(P[r], conj(Q[r])) for P, Q (r, N)."""
    return torch.diag(Lambda) - P.T @ Q.conj()


def transient(A_bar, L: int) -> float:
    """max_{0 <= i < L} ||A_bar^i||_2: how much the powers can grow before they decay."""
    return max(
        1.0, torch.linalg.matrix_norm(matrix_powers(wide(A_bar), L), 2).max().item()
    )


def resolvent(A_bar, L: int) -> float:
    """max over the L-th roots of unity z of ||(I - A_bar z)^{-1}||_2."""
    A_bar = wide(A_bar).to(C128)
    z = torch.exp(-2j * math.pi * torch.arange(L, dtype=F64) / L)
    M = torch.eye(A_bar.shape[-1], dtype=C128) - A_bar * z[:, None, None]
    return (1 / torch.linalg.svdvals(M)[..., -1]).max().item()


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def norm(t) -> float:
    return torch.linalg.vector_norm(wide(t)).item()


# ---------------------------------------------------------------------------------------------
# Channels: H is None for one system, else the size of the leading channel dimension.
# ---------------------------------------------------------------------------------------------


def chans(H):
    return [None] if H is None else list(range(H))


def at(t, h):
    return t if h is None else t[h]


def stacked(values, H):
    return values[0] if H is None else torch.stack(values)


def assert_within(actual, expected, bounds, what: str):
    """Same shape; per channel, max |actual - expected| <= bound (bounds: one per channel)."""
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    )
    diff = (wide(actual) - wide(expected)).abs()
    diff = diff.reshape(len(bounds), -1)
    for h, bound in enumerate(bounds):
        err = diff[h].max().item() if diff[h].numel() else 0.0
        assert err <= bound, (
            f"{what}: channel {h}: max error {err:.3e} > bound {bound:.3e} "
            f"(largest reference entry {wide(expected).abs().max().item():.3e})"
        )


def real_of(dtype: torch.dtype) -> torch.dtype:
    return {torch.complex64: torch.float32, C128: F64}.get(dtype, dtype)


def complex_of(dtype: torch.dtype) -> torch.dtype:
    return {torch.float32: torch.complex64, F64: C128}.get(dtype, dtype)


# ---------------------------------------------------------------------------------------------
# Random systems.
# ---------------------------------------------------------------------------------------------


def randc(*shape, gen):
    return torch.complex(
        torch.randn(*shape, generator=gen, dtype=F64),
        torch.randn(*shape, generator=gen, dtype=F64),
    ) / math.sqrt(2)


def shift_stable(A, margin: float):
    """A - c I with c chosen so that every eigenvalue has real part <= -margin."""
    top = torch.linalg.eigvals(A).real.max().item()
    return A - (top + margin) * torch.eye(A.shape[-1], dtype=A.dtype)


STABLE = ["symmetric", "legs", "nonnormal", "complex"]
SINGULAR = ["zero", "nilpotent", "rank-deficient"]


def matrix(kind: str, N: int, gen) -> torch.Tensor:
    """A float64 (complex128 for "complex") N x N matrix of the given kind."""
    if kind == "symmetric":  # -(M M^T / N + c I): negative definite
        M = torch.randn(N, N, generator=gen, dtype=F64)
        return -(
            M @ M.T / N
            + (0.05 + torch.rand((), generator=gen, dtype=F64)) * torch.eye(N)
        )
    if kind == "legs":
        return ref_hippo(N)[0]
    if kind == "nonnormal":
        return shift_stable(
            torch.randn(N, N, generator=gen, dtype=F64) / math.sqrt(N), 0.1
        )
    if kind == "complex":
        return shift_stable(randc(N, N, gen=gen) / math.sqrt(N), 0.1)
    if kind == "zero":  # N integrators
        return torch.zeros(N, N, dtype=F64)
    if kind == "nilpotent":  # strictly upper triangular: a chain of them
        return torch.triu(torch.randn(N, N, generator=gen, dtype=F64), 1)
    if kind == "rank-deficient":  # -v v^T: one decaying mode, N - 1 integrators
        v = torch.randn(N, generator=gen, dtype=F64)
        return -torch.outer(v, v)
    raise AssertionError(kind)


def channel_steps(draw, H, lo=0.01, hi=1.0):
    """(steps as python floats, one per channel; the step argument: a float or an (H,) tensor)."""
    if H is not None and draw(st.booleans()):
        steps = [draw(st.floats(lo, hi)) for _ in range(H)]
        return steps, torch.tensor(steps, dtype=F64)
    s = draw(st.floats(lo, hi))
    return [s] * (1 if H is None else H), s


def as_dtype_step(step, dtype):
    """The step argument with a tensor in the real dtype of the system, and the per-channel
    floats the reference uses (the tensor's values after that rounding)."""
    if isinstance(step, torch.Tensor):
        step = step.to(real_of(dtype))
        return step, step.tolist()
    return step, None


LENGTHS = st.one_of(st.sampled_from([1, 2, 3, 4, 8, 16, 32, 64]), st.integers(1, 70))


# ---------------------------------------------------------------------------------------------
# 1. HiPPO-LegS
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [1, 2, 3, 4, 5, 8, 13, 32])
def test_hippo_legs_entries(N):
    A, B = hippo_legs(N)
    A_ref, B_ref = ref_hippo(N)
    assert A.dtype == F64 and B.dtype == F64
    assert A.shape == (N, N) and B.shape == (N,)
    assert torch.equal(torch.triu(A, 1), torch.zeros(N, N, dtype=F64)), (
        "nonzero above diagonal"
    )
    assert torch.equal(torch.diagonal(A), -torch.arange(1, N + 1, dtype=F64))
    # sqrt(2n+1) sqrt(2k+1) or sqrt((2n+1)(2k+1)): a few ulps apart at most.
    torch.testing.assert_close(A, A_ref, rtol=4 * eps(F64), atol=0)
    torch.testing.assert_close(B, B_ref, rtol=4 * eps(F64), atol=0)


# ---------------------------------------------------------------------------------------------
# 2. Discretisation
# ---------------------------------------------------------------------------------------------


class DiscCase(NamedTuple):
    A: torch.Tensor  # (N, N) or (H, N, N), in the dtype under test
    B: torch.Tensor
    step: object  # what the function is given
    steps: list  # per channel, as python floats
    H: int | None
    kind: str


@st.composite
def disc_cases(draw, kinds):
    N, H = draw(st.integers(1, 8)), draw(st.sampled_from([None, 1, 2, 3]))
    kind = draw(st.sampled_from(kinds))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    As = [matrix(kind, N, gen) for _ in chans(H)]
    cplx = kind == "complex" or draw(st.booleans())
    Bs = [
        randc(N, gen=gen) if cplx else torch.randn(N, generator=gen, dtype=F64)
        for _ in chans(H)
    ]
    A, B = stacked(As, H), stacked(Bs, H)
    real = draw(st.sampled_from([F64, torch.float32]))
    # one dtype (mixed ones: a test of their own)
    dtype = complex_of(real) if cplx else real
    A, B = A.to(dtype), B.to(dtype)
    steps, step = channel_steps(draw, H)
    step, rounded = as_dtype_step(step, real)
    return DiscCase(A, B, step, rounded or steps, H, kind)


def disc_bounds(case, A_bars, B_bars, cond):
    """Per channel: SAFETY * eps * N * cond * (||A_bar|| + ||B_bar|| + 1), cond the condition
    number of the matrix the discretisation solves (or exponentiates): the first-order forward
    error of an LU solve (or of a scaled-and-squared exponential) with N-term dot products."""
    N, e = case.A.shape[-1], eps(real_of(case.A.dtype))
    return [
        SAFETY * e * N * c * (norm(a) + norm(b) + 1)
        for a, b, c in zip(A_bars, B_bars, cond)
    ]


@given(disc_cases(STABLE))
def test_discretize_bilinear_matches_its_formula(case):
    A_bar, B_bar = discretize_bilinear(case.A, case.B, case.step)
    refs = [
        ref_bilinear(at(case.A, h), at(case.B, h), s)
        for h, s in zip(chans(case.H), case.steps)
    ]
    A_ref, B_ref = (
        stacked([r[0] for r in refs], case.H),
        stacked([r[1] for r in refs], case.H),
    )
    cond = [
        torch.linalg.cond(
            torch.eye(case.A.shape[-1]) - s / 2 * wide(at(case.A, h))
        ).item()
        for h, s in zip(chans(case.H), case.steps)
    ]
    bounds = disc_bounds(case, [r[0] for r in refs], [r[1] for r in refs], cond)
    dtype = torch.promote_types(case.A.dtype, case.B.dtype)
    assert A_bar.dtype in (case.A.dtype, dtype) and B_bar.dtype == dtype
    assert_within(A_bar, A_ref, bounds, "A_bar")
    assert_within(B_bar, B_ref, bounds, "B_bar")


@given(disc_cases(STABLE + SINGULAR))
def test_discretize_zoh_matches_the_block_exponential_and_a_series(case):
    A_bar, B_bar = discretize_zoh(case.A, case.B, case.step)
    dtype = torch.promote_types(case.A.dtype, case.B.dtype)
    assert A_bar.dtype in (case.A.dtype, dtype) and B_bar.dtype == dtype
    for name, ref in (("block", ref_zoh_block), ("series", ref_zoh_series)):
        refs = [
            ref(at(case.A, h), at(case.B, h), s)
            for h, s in zip(chans(case.H), case.steps)
        ]
        # exp(step A) is as well conditioned as its scaling and squaring: cond ~ e^{||step A||}
        # bounded here by 1 + ||step A||_1 times the growth of the squarings.
        cond = [
            1 + torch.linalg.matrix_norm(s * wide(at(case.A, h)), 1).item()
            for h, s in zip(chans(case.H), case.steps)
        ]
        bounds = disc_bounds(case, [r[0] for r in refs], [r[1] for r in refs], cond)
        assert_within(
            A_bar, stacked([r[0] for r in refs], case.H), bounds, f"A_bar ({name})"
        )
        assert_within(
            B_bar, stacked([r[1] for r in refs], case.H), bounds, f"B_bar ({name})"
        )


@given(disc_cases(["symmetric", "legs", "nonnormal", "complex"]))
def test_discretize_zoh_matches_the_inverse_formula(case):
    """For invertible A: B_bar = A^{-1} (A_bar - I) B (the stable kinds are invertible)."""
    A_bar, B_bar = discretize_zoh(case.A, case.B, case.step)
    for h, s in zip(chans(case.H), case.steps):
        A, B = common(at(case.A, h), at(case.B, h))
        N = A.shape[-1]
        expected = torch.linalg.solve(A, (expm(s * A) - torch.eye(N)) @ B)
        # The solve adds cond(A) to the error of the formula's own inputs.
        c = torch.linalg.cond(A).item() * (
            1 + torch.linalg.matrix_norm(s * A, 1).item()
        )
        bound = (
            SAFETY * eps(real_of(case.A.dtype)) * N * c * (norm(expected) + norm(B) + 1)
        )
        assert_within(
            at(B_bar, h)[None], expected[None], [bound], "B_bar (inverse formula)"
        )


@pytest.mark.parametrize("step", [0.1, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_discretize_zoh_of_integrators(step, dtype):
    """A = 0: A_bar = I, B_bar = step B. The double integrator [[0, 1], [0, 0]]: A_bar =
    [[1, step], [0, 1]], B_bar = (step b0 + step^2/2 b1, step b1). The triple integrator
    (the 3 x 3 shift): A_bar = I + hS + h^2 S^2 / 2, B_bar = (h + h^2 S / 2 + h^3 S^2 / 6) B."""
    tol = dict(rtol=8 * eps(dtype), atol=8 * eps(dtype))
    B3 = torch.tensor([0.5, -1.0, 2.0], dtype=dtype)
    A_bar, B_bar = discretize_zoh(torch.zeros(3, 3, dtype=dtype), B3, step)
    torch.testing.assert_close(A_bar, torch.eye(3, dtype=dtype), **tol)
    torch.testing.assert_close(B_bar, step * B3, **tol)

    A2 = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=dtype)
    b = torch.tensor([0.3, -2.0], dtype=dtype)
    A_bar, B_bar = discretize_zoh(A2, b, step)
    torch.testing.assert_close(
        A_bar, torch.tensor([[1.0, step], [0.0, 1.0]], dtype=dtype), **tol
    )
    torch.testing.assert_close(
        B_bar,
        torch.tensor([step * 0.3 - step**2 / 2 * 2.0, -2.0 * step], dtype=dtype),
        **tol,
    )

    S = torch.diag(torch.ones(2, dtype=F64), 1)
    I = torch.eye(3, dtype=F64)
    h = step
    A_bar, B_bar = discretize_zoh(S.to(dtype), B3, step)
    torch.testing.assert_close(A_bar, (I + h * S + h**2 / 2 * S @ S).to(dtype), **tol)
    torch.testing.assert_close(
        B_bar, ((h * I + h**2 / 2 * S + h**3 / 6 * S @ S) @ B3.to(F64)).to(dtype), **tol
    )

    # The same, as three channels: the integrator, the double integrator padded, the shift.
    As = torch.stack(
        [
            torch.zeros(3, 3, dtype=dtype),
            torch.block_diag(A2, torch.zeros(1, 1, dtype=dtype)),
            S.to(dtype),
        ]
    )
    steps = torch.tensor([step, 2 * step, step / 2], dtype=dtype)
    A_bar, B_bar = discretize_zoh(As, B3.expand(3, 3), steps)
    for h, s in enumerate(steps.tolist()):
        A_one, B_one = discretize_zoh(As[h], B3, s)
        torch.testing.assert_close(A_bar[h], A_one, **tol)
        torch.testing.assert_close(B_bar[h], B_one, **tol)
    torch.testing.assert_close(A_bar[0], torch.eye(3, dtype=dtype), **tol)
    torch.testing.assert_close(B_bar[0], step * B3, **tol)


def test_discretize_zoh_keeps_B_out_of_A_bar():
    """A_bar = exp(step A) whatever B holds: B * 1e30 scales B_bar alone, and a nan in one
    channel's B leaves A_bar and the other channel's B_bar as they were."""
    A, B = hippo_legs(8)
    A_bar, B_bar = discretize_zoh(A, B, 0.1)
    torch.testing.assert_close(A_bar, torch.linalg.matrix_exp(0.1 * A))
    A_big, B_big = discretize_zoh(A, B * 1e30, 0.1)
    torch.testing.assert_close(A_big, torch.linalg.matrix_exp(0.1 * A))
    torch.testing.assert_close(B_big, B_bar * 1e30)
    B_nan = torch.stack([B, B]).index_put(
        (torch.tensor([0]), torch.tensor([3])), torch.tensor(math.nan, dtype=F64)
    )
    A_bars, B_bars = discretize_zoh(torch.stack([A, A]), B_nan, 0.1)
    torch.testing.assert_close(A_bars, torch.stack([A_bar, A_bar]))
    torch.testing.assert_close(B_bars[1], B_bar)
    assert B_bars[0].isnan().any()


def test_discretize_bilinear_of_an_integrator():
    """A = 0: A_bar = I, B_bar = step B; a scalar a: A_bar = (1 + h a/2) / (1 - h a/2)."""
    B = torch.tensor([1.0, -3.0], dtype=F64)
    A_bar, B_bar = discretize_bilinear(torch.zeros(2, 2, dtype=F64), B, 0.4)
    torch.testing.assert_close(A_bar, torch.eye(2, dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(B_bar, 0.4 * B, rtol=1e-15, atol=1e-15)
    A_bar, B_bar = discretize_bilinear(torch.tensor([[-2.0]], dtype=F64), B[:1], 0.5)
    torch.testing.assert_close(
        A_bar, torch.tensor([[(1 - 0.5) / (1 + 0.5)]], dtype=F64)
    )
    torch.testing.assert_close(B_bar, torch.tensor([0.5 / (1 + 0.5)], dtype=F64))


# ---------------------------------------------------------------------------------------------
# 3. The recurrence and the convolution
# ---------------------------------------------------------------------------------------------


class ScanCase(NamedTuple):
    A_bar: torch.Tensor
    B_bar: torch.Tensor
    C: torch.Tensor
    u: torch.Tensor
    D: float
    H: int | None


@st.composite
def scan_cases(draw):
    """A stable (or integrating) system discretised by the reference (either method); real,
    or complex A_bar, B_bar, C with a real or complex u; float64 or float32 (one dtype for the
    system: mixed real and complex operands have a test of their own)."""
    N, L = draw(st.integers(1, 8)), draw(st.integers(1, 40))
    H = draw(st.sampled_from([None, 1, 2, 3]))
    kind = draw(st.sampled_from(STABLE + ["zero"]))
    method = draw(st.sampled_from([ref_bilinear, ref_zoh_block]))
    cplx = kind == "complex" or draw(st.booleans())
    complex_u = cplx and draw(st.booleans())
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    steps, _ = channel_steps(draw, H)
    A_bars, B_bars, Cs, us = [], [], [], []
    for h, s in zip(chans(H), steps):
        A = matrix(kind, N, gen)
        B = randc(N, gen=gen) if cplx else torch.randn(N, generator=gen, dtype=F64)
        A_bar, B_bar = method(A, B, s)
        A_bars.append(A_bar)
        B_bars.append(B_bar)
        Cs.append(
            randc(N, gen=gen) if cplx else torch.randn(N, generator=gen, dtype=F64)
        )
        us.append(
            randc(L, gen=gen) if complex_u else torch.randn(L, generator=gen, dtype=F64)
        )
    real = draw(st.sampled_from([F64, torch.float32]))
    cast = lambda t: t.to(complex_of(real) if t.is_complex() else real)  # noqa: E731
    D = draw(st.sampled_from([0.0, 1.0, -0.7, 2.5]))
    return ScanCase(*(cast(stacked(v, H)) for v in (A_bars, B_bars, Cs, us)), D, H)


def scan_bounds(case):
    """Per channel, for y: SAFETY * eps * (N + log2 2L) * (L M ||C|| ||B_bar|| max|u| +
    |D| max|u|). Every y_k (and every K_i times u) is a sum of at most L terms
    C A_bar^i B_bar u_{k-i}, each at most M ||C|| ||B_bar|| max|u| in size, M = max_i
    ||A_bar^i||_2 (the transient growth of a non-normal A_bar); each term is formed with N-term
    dot products (relative error ~ N eps) and an FFT of length 2L adds ~ log2(2L) eps relative
    to the same sum. Second list: the same bound for the kernel entries K_i (no u, no D)."""
    N, L = case.A_bar.shape[-1], case.u.shape[-1]
    e = eps(real_of(case.A_bar.dtype))
    for_y, for_K = [], []
    for h in chans(case.H):
        M = transient(at(case.A_bar, h), L)
        umax = wide(at(case.u, h)).abs().max().item()
        terms = L * M * norm(at(case.C, h)) * norm(at(case.B_bar, h))
        for_y.append(
            SAFETY * e * (N + math.log2(2 * L)) * (terms * umax + abs(case.D) * umax)
        )
        for_K.append(SAFETY * e * (N + math.log2(2 * L)) * terms)
    return for_y, for_K


def ref_y(case):
    """The reference recurrence, channel by channel."""
    A_bar, B_bar, C, u, _, H = case
    return stacked(
        [ref_scan(at(A_bar, h), at(B_bar, h), at(C, h), at(u, h)) for h in chans(H)], H
    )


def ref_K(case):
    """The reference kernel (matrix powers), channel by channel."""
    A_bar, B_bar, C, u, _, H = case
    return stacked(
        [
            ref_kernel(at(A_bar, h), at(B_bar, h), at(C, h), u.shape[-1])
            for h in chans(H)
        ],
        H,
    )


@given(scan_cases())
def test_scan_matches_the_recurrence(case):
    A_bar, B_bar, C, u, D, H = case
    y_bounds, _ = scan_bounds(case)
    y_ref = ref_y(case)
    y = scan(A_bar, B_bar, C, u)
    assert y.dtype == torch.promote_types(
        torch.promote_types(A_bar.dtype, B_bar.dtype),
        torch.promote_types(C.dtype, u.dtype),
    )
    assert_within(y, y_ref, y_bounds, "scan")


@given(scan_cases())
def test_kernel_naive_matches_matrix_powers(case):
    A_bar, B_bar, C, u, D, H = case
    _, K_bounds = scan_bounds(case)
    K_ref = ref_K(case)
    K = kernel_naive(A_bar, B_bar, C, u.shape[-1])
    assert K.dtype == torch.promote_types(
        torch.promote_types(A_bar.dtype, B_bar.dtype), C.dtype
    )
    assert_within(K, K_ref, K_bounds, "kernel_naive")


@given(scan_cases())
def test_convolution_with_the_kernel_is_the_recurrence(case):
    """causal_conv(u, K, D) = scan(...) + D u for K the system's kernel: with the reference
    kernel (rounded to the dtype under test) against the reference recurrence and the
    Toeplitz product, then the module's own kernel_naive against the module's own scan."""
    A_bar, B_bar, C, u, D, H = case
    y_bounds, _ = scan_bounds(case)
    y_ref, K_ref = ref_y(case), ref_K(case)
    K = K_ref.to(
        complex_of(real_of(A_bar.dtype)) if K_ref.is_complex() else real_of(A_bar.dtype)
    )
    y = causal_conv(u, K, D)
    assert y.dtype == torch.promote_types(u.dtype, K.dtype)
    assert_within(
        y, y_ref + D * wide(u), y_bounds, "causal_conv(u, K) vs the recurrence + D u"
    )
    toeplitz = stacked([ref_conv(at(u, h), at(K, h), D) for h in chans(H)], H)
    assert_within(y, toeplitz, y_bounds, "causal_conv vs the Toeplitz product")
    composed = causal_conv(u, kernel_naive(A_bar, B_bar, C, u.shape[-1]), D)
    assert_within(
        composed,
        scan(A_bar, B_bar, C, u) + D * u,
        [2 * b for b in y_bounds],
        "causal_conv(u, kernel_naive(...), D) vs scan(...) + D u",
    )


def mixed(name):
    """One call with real and complex operands mixed, and its reference (all complex128)."""
    gen = torch.Generator().manual_seed(5)
    N, L, s = 3, 6, 0.3
    A = matrix("nonnormal", N, gen)
    Bc, Cc, uc = randc(N, gen=gen), randc(N, gen=gen), randc(L, gen=gen)
    Br, Cr, ur = (torch.randn(n, generator=gen, dtype=F64) for n in (N, N, L))
    Ab, Bb = ref_bilinear(A, Br, s)  # a real discrete system
    Ac = A.to(C128)
    cases = {
        "bilinear(real A, complex B)": (
            lambda: discretize_bilinear(A, Bc, s),
            lambda: ref_bilinear(Ac, Bc, s),
        ),
        "zoh(real A, complex B)": (
            lambda: discretize_zoh(A, Bc, s),
            lambda: ref_zoh_block(Ac, Bc, s),
        ),
        "scan(real system, complex u)": (
            lambda: scan(Ab, Bb, Cr, uc),
            lambda: ref_scan(Ab, Bb, Cr, uc),
        ),
        "scan(real A_bar, complex B_bar and C)": (
            lambda: scan(Ab, Bc, Cc, ur),
            lambda: ref_scan(Ab, Bc, Cc, ur),
        ),
        "kernel_naive(real A_bar, complex B_bar and C)": (
            lambda: kernel_naive(Ab, Bc, Cc, L),
            lambda: ref_kernel(Ab, Bc, Cc, L),
        ),
        "causal_conv(complex u, real K)": (
            lambda: causal_conv(uc, ur, 0.5),
            lambda: ref_conv(uc, ur, 0.5),
        ),
    }
    return cases[name]


MIXED = [
    "bilinear(real A, complex B)",
    "zoh(real A, complex B)",
    "scan(real system, complex u)",
    "scan(real A_bar, complex B_bar and C)",
    "kernel_naive(real A_bar, complex B_bar and C)",
    "causal_conv(complex u, real K)",
]


@pytest.mark.parametrize("name", MIXED)
def test_mixed_real_and_complex_operands(name):
    """Real and complex operands together give the complex result (complex128 here)."""
    call, reference = mixed(name)
    got, expected = call(), reference()
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for g, e in zip(got, expected):
        assert g.is_complex() or not e.imag.any(), f"{name}: real result {g.dtype}"
        torch.testing.assert_close(g.to(C128), e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L", [1, 2, 3, 4, 5, 8, 17, 64])
@pytest.mark.parametrize("complex_K", [False, True])
def test_causal_conv_never_wraps_around(L, complex_K):
    """An all-ones kernel sums the input so far: y[k] = k + 1 for u = 1, not the L a circular
    convolution would give; an impulse returns the kernel; D adds D u."""
    dtype = C128 if complex_K else F64
    ones = torch.ones(L, dtype=F64)
    K = torch.ones(L, dtype=dtype) * (1 + 1j if complex_K else 1)
    expected = torch.arange(1, L + 1, dtype=F64) * (1 + 1j if complex_K else 1)
    torch.testing.assert_close(causal_conv(ones, K), expected.to(dtype))
    torch.testing.assert_close(causal_conv(ones, K, 0.5), expected.to(dtype) + 0.5)
    gen = torch.Generator().manual_seed(L)
    K = randc(L, gen=gen) if complex_K else torch.randn(L, generator=gen, dtype=F64)
    delta = torch.zeros(L, dtype=F64)
    delta[0] = 1
    torch.testing.assert_close(causal_conv(delta, K), K)
    # The last input reaches only the last output.
    last = torch.zeros(L, dtype=F64)
    last[-1] = 1
    y = causal_conv(last, K)
    torch.testing.assert_close(
        y[:-1], torch.zeros(L - 1, dtype=dtype), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(y[-1], K[0])


# ---------------------------------------------------------------------------------------------
# 4. S4D: diagonal kernels
# ---------------------------------------------------------------------------------------------


def random_lambda(draw, N, gen):
    """Negative real parts (0.05 to 5, log-uniform), imaginary parts up to 30 in size, or the
    S4D-Lin initialisation -1/2 + i pi n."""
    if draw(st.booleans()):
        re = -torch.exp(
            torch.empty(N, dtype=F64).uniform_(
                math.log(0.05), math.log(5), generator=gen
            )
        )
        im = torch.empty(N, dtype=F64).uniform_(-30, 30, generator=gen)
        return torch.complex(re, im)
    return torch.complex(
        torch.full((N,), -0.5, dtype=F64), math.pi * torch.arange(N, dtype=F64)
    )


class DiagCase(NamedTuple):
    Lambda: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    step: object
    steps: list
    L: int
    H: int | None


@st.composite
def diag_cases(draw):
    N, L, H = (
        draw(st.integers(1, 8)),
        draw(LENGTHS),
        draw(st.sampled_from([None, 1, 2, 3])),
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    Lambda = stacked([random_lambda(draw, N, gen) for _ in chans(H)], H)
    B, C = randc(*Lambda.shape, gen=gen), randc(*Lambda.shape, gen=gen)
    dtype = draw(st.sampled_from([C128, torch.complex64]))
    steps, step = channel_steps(draw, H)
    step, rounded = as_dtype_step(step, dtype)
    return DiagCase(
        Lambda.to(dtype), B.to(dtype), C.to(dtype), step, rounded or steps, L, H
    )


def diag_reference(Lambda, B, C, s, L, method):
    """The kernel of the dense diagonal system by matrix powers: A_bar = diag(exp(s Lambda)),
    B_bar = (A_bar - 1) / Lambda B (ZOH), or the general bilinear formula on diag(Lambda)."""
    Lambda, B, C = Lambda.to(C128), B.to(C128), C.to(C128)
    if method == "zoh":
        # a - 1 as expm1(s Lambda): exp(s Lambda) - 1 would lose |log10 |s Lambda|| digits.
        a = torch.exp(s * Lambda)
        A_bar, B_bar = torch.diag(a), torch.expm1(s * Lambda) / Lambda * B
    else:
        A_bar, B_bar = ref_bilinear(torch.diag(Lambda), B, s)
    return ref_kernel(A_bar, B_bar, C, L), A_bar, B_bar


@given(diag_cases(), st.sampled_from(["zoh", "bilinear"]))
def test_kernel_s4d_matches_the_dense_diagonal_system(case, method):
    Lambda, B, C, step, steps, L, H = case
    K = kernel_s4d(Lambda, B, C, step, L, method=method)
    assert K.dtype == Lambda.dtype and K.shape == (*Lambda.shape[:-1], L)
    refs, bounds = [], []
    for h, s in zip(chans(H), steps):
        K_ref, A_bar, B_bar = diag_reference(
            at(Lambda, h), at(B, h), at(C, h), s, L, method
        )
        refs.append(K_ref)
        # Each K_i = sum_n C_n B_bar_n a_n^i has |a_n| < 1: a_n rounded (relative eps) and
        # raised to the i-th power is off by ~ i eps relative (in the reference as well), a_n^i
        # formed from i log a_n is off by ~ i |log a_n| eps, a python-float step rounded to
        # float32 moves i s Lambda by ~ i |s Lambda| eps, and the sum over n adds ~ N eps.
        a = torch.diagonal(A_bar)
        phase = max(
            torch.log(a).abs().max().item(),
            (s * at(Lambda, h).to(C128)).abs().max().item(),
        )
        size = (at(C, h).to(C128) * B_bar).abs().sum().item()
        e = eps(real_of(Lambda.dtype))
        bounds.append(SAFETY * e * (Lambda.shape[-1] + L * (1 + phase)) * size)
    assert_within(K, stacked(refs, H), bounds, f"kernel_s4d ({method})")


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_kernel_s4d_at_lambda_0_is_the_integrators_limit(method):
    """Lambda_n = 0: A_bar_n = 1 and B_bar_n = step B_n for both methods, so that mode adds
    step C_n B_n to every K_i; the other modes are those of the dense system. A tiny Lambda
    (1e-9, 1e-300) gives B_bar = step B (1 + z/2 + z^2/6), z = step Lambda, to float64."""
    gen = torch.Generator().manual_seed(4)
    Lambda = torch.tensor([0, -0.5 + 2j, 0, -1e-9 + 2e-9j, -1e-300j], dtype=C128)
    B, C, step, L = randc(5, gen=gen), randc(5, gen=gen), 0.3, 12
    K = kernel_s4d(Lambda, B, C, step, L, method)
    assert K.isfinite().all()
    K_rest = kernel_s4d(Lambda[[1, 3, 4]], B[[1, 3, 4]], C[[1, 3, 4]], step, L, method)
    torch.testing.assert_close(K, K_rest + step * (C[[0, 2]] * B[[0, 2]]).sum())
    K_dense = kernel_naive(*discretize_zoh(torch.diag(Lambda), B, step), C, L)
    if method == "zoh":
        torch.testing.assert_close(K, K_dense)
        z = step * Lambda[3:]
        # the series: z^3 / 24 ~ 1e-30 off
        B_bar = step * B[3:] * (1 + z / 2 + z**2 / 6)
        i = torch.arange(L, dtype=F64)
        expected = (C[3:, None] * B_bar[:, None] * torch.exp(i * z[:, None])).sum(0)
        # rtol 1e-13, ~450 ulps: an exp and a sum of two terms, each a few ulps off
        torch.testing.assert_close(
            kernel_s4d(Lambda[3:], B[3:], C[3:], step, L), expected, rtol=1e-13, atol=0
        )


def test_kernel_s4d_default_method_is_zoh():
    gen = torch.Generator().manual_seed(3)
    Lambda = torch.complex(
        -torch.rand(4, generator=gen, dtype=F64) - 0.1,
        torch.randn(4, generator=gen, dtype=F64),
    )
    B, C = randc(4, gen=gen), randc(4, gen=gen)
    K_ref, _, _ = diag_reference(Lambda, B, C, 0.3, 20, "zoh")
    torch.testing.assert_close(kernel_s4d(Lambda, B, C, 0.3, 20), K_ref)
    K_bil, _, _ = diag_reference(Lambda, B, C, 0.3, 20, "bilinear")
    assert (K_ref - K_bil).abs().max() > 1e-3  # the two methods are told apart


# ---------------------------------------------------------------------------------------------
# 5. NPLR kernels
# ---------------------------------------------------------------------------------------------


class NplrCase(NamedTuple):
    Lambda: torch.Tensor
    P: torch.Tensor
    Q: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    step: object
    steps: list
    L: int
    H: int | None


@st.composite
def nplr_cases(draw):
    """Lambda as for S4D, P random complex, Q = P + eta R (eta 0, 0.3 or 1); Lambda is shifted
    left until diag(Lambda) - P Q^H is stable with margin 0.05 (with Q = P it already is)."""
    N, r, L = draw(st.integers(1, 8)), draw(st.sampled_from([1, 2])), draw(LENGTHS)
    H = draw(st.sampled_from([None, 1, 2, 3]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    eta = draw(st.sampled_from([0.0, 0.3, 1.0]))
    Ls, Ps, Qs = [], [], []
    for _ in chans(H):
        Lambda = random_lambda(draw, N, gen)
        P = randc(r, N, gen=gen) * draw(st.sampled_from([0.3, 1.0, 2.0]))
        Q = P + eta * randc(r, N, gen=gen)
        top = torch.linalg.eigvals(nplr_matrix(Lambda, P, Q)).real.max().item()
        Ls.append(Lambda - max(0.0, top + 0.05))
        Ps.append(P)
        Qs.append(Q)
    Lambda, P, Q = stacked(Ls, H), stacked(Ps, H), stacked(Qs, H)
    B, C = randc(*Lambda.shape, gen=gen), randc(*Lambda.shape, gen=gen)
    dtype = draw(st.sampled_from([C128, torch.complex64]))
    steps, step = channel_steps(draw, H)
    step, rounded = as_dtype_step(step, dtype)
    return NplrCase(
        *(t.to(dtype) for t in (Lambda, P, Q, B, C)), step, rounded or steps, L, H
    )


def nplr_bound(Lambda, P, Q, B, C, step: float, L: int, dtype) -> float:
    """The error bound for the NPLR kernel of one system (P, Q (r, N)).

    The algorithm evaluates the generating function C~ (I - A_bar z)^{-1} B_bar at the L-th
    roots of unity by Woodbury, step (C~ D^{-1} B - s C~ D^{-1} P^T (I + s Q^* D^{-1} P^T)^{-1}
    Q^* D^{-1} B) with D = diag((1 - z) - s Lambda), s = step (1 + z) / 2; those two terms can
    be far larger than their difference. W is the largest (over z) size of the terms summed:
    step sum_n |C~_n B_n / d_n| plus step |s| |C~| |D^{-1}| |P^T| ||(I + ...)^{-1}|| |Q^*|
    |D^{-1}| |B| (absolute values inside the Cauchy sums). Cauchy sums over N with r + 1
    weights and the inverse FFT contribute (N (r + 1) + log2 2L) eps relative to W; C~ =
    C (I - A_bar^L) carries the error of a matrix power, ~ L M eps ||C|| (M the transient
    growth), amplified by G ||B_bar||, G the largest resolvent norm on the unit circle."""
    Lambda, P, Q, B, C = (t.to(C128) for t in (Lambda, P, Q, B, C))
    N, r = Lambda.shape[-1], P.shape[-2]
    A_bar, B_bar = ref_bilinear(nplr_matrix(Lambda, P, Q), B, step)
    G, M = resolvent(A_bar, L), transient(A_bar, L + 1)
    C_t = C @ (torch.eye(N, dtype=C128) - torch.linalg.matrix_power(A_bar, L))
    z = torch.exp(-2j * math.pi * torch.arange(L, dtype=F64) / L)
    sz = step / 2 * (1 + z)  # (L,)
    d = (1 - z)[:, None] - sz[:, None] * Lambda  # (L, N)
    U, Vh = P.T, Q.conj()  # (N, r), (r, N)
    t1 = step * (C_t.abs() * B.abs() / d.abs()).sum(-1)
    X = ((C_t.abs()[:, None] * U.abs())[None] / d.abs()[..., None]).sum(1)  # (L, r)
    Y = (Vh.abs()[None] * (B.abs() / d.abs())[:, None, :]).sum(-1)  # (L, r)
    inner = (
        torch.eye(r, dtype=C128) + sz[:, None, None] * (Vh[None] / d[:, None, :]) @ U
    )
    inverse_norm = 1 / torch.linalg.svdvals(inner)[:, -1]
    t2 = (
        step
        * sz.abs()
        * torch.linalg.vector_norm(X, dim=-1)
        * inverse_norm
        * torch.linalg.vector_norm(Y, dim=-1)
    )
    W = (t1 + t2).max().item()
    e = eps(real_of(dtype))
    return (
        SAFETY
        * e
        * ((N * (r + 1) + math.log2(2 * L)) * W + L * M * G * norm(C) * norm(B_bar))
    )


@given(nplr_cases())
def test_kernel_nplr_matches_the_dense_bilinear_system(case):
    Lambda, P, Q, B, C, step, steps, L, H = case
    K = kernel_nplr(Lambda, P, Q, B, C, step, L)
    assert K.dtype == Lambda.dtype and K.shape == (*Lambda.shape[:-1], L)
    refs, bounds = [], []
    for h, s in zip(chans(H), steps):
        A = nplr_matrix(*(at(t, h).to(C128) for t in (Lambda, P, Q)))
        A_bar, B_bar = ref_bilinear(A, at(B, h), s)
        refs.append(ref_kernel(A_bar, B_bar, at(C, h), L))
        bounds.append(
            nplr_bound(*(at(t, h) for t in (Lambda, P, Q, B, C)), s, L, Lambda.dtype)
        )
    assert_within(K, stacked(refs, H), bounds, "kernel_nplr")


def legs_system(N: int):
    Lambda, P, B, V = nplr_legs(N)
    return Lambda, P.reshape(-1, N), B, V


@pytest.mark.parametrize("N", [1, 2, 3, 5, 8, 16, 33, 64])
def test_nplr_legs_reconstructs_hippo_legs(N):
    Lambda, P, B, V = legs_system(N)
    A_legs, B_legs = ref_hippo(N)
    assert (
        Lambda.shape == (N,)
        and B.shape == (N,)
        and V.shape == (N, N)
        and P.shape[-1] == N
    )
    Lambda, P, B, V = (t.to(C128) for t in (Lambda, P, B, V))
    I = torch.eye(N, dtype=C128)
    torch.testing.assert_close(V @ V.conj().T, I, rtol=0, atol=1e-12 * N)
    A = V @ nplr_matrix(Lambda, P, P) @ V.conj().T
    scale = torch.linalg.matrix_norm(A_legs).item()
    assert (A - A_legs).abs().max().item() <= 1e-12 * N * scale, (
        "V (Lambda - P P^H) V^H != A"
    )
    assert A.imag.abs().max().item() <= 1e-12 * N * scale
    torch.testing.assert_close(
        B, V.conj().T @ B_legs.to(C128), rtol=0, atol=1e-12 * N * math.sqrt(N)
    )
    torch.testing.assert_close(
        Lambda.real, torch.full((N,), -0.5, dtype=F64), rtol=0, atol=1e-12 * N
    )


@st.composite
def legs_cases(draw):
    N, L, H = (
        draw(st.integers(1, 12)),
        draw(LENGTHS),
        draw(st.sampled_from([None, 1, 2, 3])),
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    Lambda, P, B, V = legs_system(N)
    steps, step = channel_steps(draw, H)
    if H is not None:
        Lambda, P, B = Lambda.expand(H, N), P.expand(H, *P.shape), B.expand(H, N)
    C = randc(*Lambda.shape, gen=gen)
    return Lambda, P, B, C, V, step, steps, L, H


@given(legs_cases())
def test_kernel_nplr_of_hippo_legs(case):
    """kernel_nplr(Lambda, P, P, B, C) is the bilinear kernel of diag(Lambda) - P P^H, and also
    that of HiPPO-LegS itself read out through C V^H (the same system in the original basis)."""
    Lambda, P, B, C, V, step, steps, L, H = case
    K = kernel_nplr(Lambda, P, P, B, C, step, L)
    A_legs, B_legs = ref_hippo(Lambda.shape[-1])
    refs, legs, bounds = [], [], []
    for h, s in zip(chans(H), steps):
        A_bar, B_bar = ref_bilinear(
            nplr_matrix(at(Lambda, h), at(P, h), at(P, h)), at(B, h), s
        )
        refs.append(ref_kernel(A_bar, B_bar, at(C, h), L))
        bounds.append(
            nplr_bound(*(at(t, h) for t in (Lambda, P, P, B, C)), s, L, Lambda.dtype)
        )
        A_bar, B_bar = ref_bilinear(A_legs, B_legs, s)
        legs.append(ref_kernel(A_bar, B_bar, at(C, h) @ V.conj().T, L))
    assert_within(K, stacked(refs, H), bounds, "kernel_nplr (LegS, NPLR basis)")
    assert_within(K, stacked(legs, H), bounds, "kernel_nplr (LegS, original basis)")


@pytest.mark.parametrize("L", [5, 6])
def test_kernel_nplr_is_differentiable(L):
    """S4 trains Lambda, P, B and C: the kernel's gradient in each matches finite differences
    (an in-place update of a tensor autograd saved made the backward raise)."""
    Lambda, P, B, _ = nplr_legs(3)
    C = torch.complex(
        *torch.randn(
            2, 3, generator=torch.Generator().manual_seed(L), dtype=torch.float64
        )
    )
    inputs = [t.detach().clone().requires_grad_() for t in (Lambda, P, B, C)]
    assert torch.autograd.gradcheck(
        lambda Lm, P_, B_, C_: kernel_nplr(Lm, P_, P_, B_, C_, 0.1, L), inputs
    )


@pytest.mark.parametrize("L", [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 32, 100, 128])
def test_kernel_nplr_for_every_kind_of_length(L):
    """One slowly decaying rank-2 system at lengths 1, odd, even and powers of 2 (L = 1 has the
    single root z = 1)."""
    gen = torch.Generator().manual_seed(7)
    N = 5
    Lambda = torch.complex(
        -0.1 - torch.rand(N, generator=gen, dtype=F64),
        5 * torch.randn(N, generator=gen, dtype=F64),
    )
    P = randc(2, N, gen=gen) * 0.5
    Q = P + 0.3 * randc(2, N, gen=gen)
    top = torch.linalg.eigvals(nplr_matrix(Lambda, P, Q)).real.max().item()
    Lambda = Lambda - max(0.0, top + 0.05)
    B, C = randc(N, gen=gen), randc(N, gen=gen)
    A_bar, B_bar = ref_bilinear(nplr_matrix(Lambda, P, Q), B, 0.1)
    K = kernel_nplr(Lambda, P, Q, B, C, 0.1, L)
    assert_within(
        K,
        ref_kernel(A_bar, B_bar, C, L),
        [nplr_bound(Lambda, P, Q, B, C, 0.1, L, C128)],
        f"kernel_nplr L={L}",
    )


@pytest.mark.parametrize(
    "N,L,step,rank",
    [
        (64, 256, 0.01, None),
        (16, 1100, 0.05, None),
        (4, 1025, 0.5, 2),
        (6, 2048, 0.02, 1),
    ],
)
def test_kernel_nplr_long_and_large(N, L, step, rank):
    """Longer kernels (more roots of unity than one block of them, if the implementation works
    in blocks; L odd and even) and a 64-state LegS system; rank None is LegS."""
    gen = torch.Generator().manual_seed(N + L)
    if rank is None:
        Lambda, P, B, _ = legs_system(N)
        Q = P
    else:
        Lambda = torch.complex(
            -0.05 - torch.rand(N, generator=gen, dtype=F64),
            10 * torch.randn(N, generator=gen, dtype=F64),
        )
        P = randc(rank, N, gen=gen)
        Q = P + 0.3 * randc(rank, N, gen=gen)
        top = torch.linalg.eigvals(nplr_matrix(Lambda, P, Q)).real.max().item()
        Lambda = Lambda - max(0.0, top + 0.05)
        B = randc(N, gen=gen)
    C = randc(N, gen=gen)
    A_bar, B_bar = ref_bilinear(nplr_matrix(Lambda, P, Q), B, step)
    K = kernel_nplr(Lambda, P, Q, B, C, step, L)
    bound = nplr_bound(Lambda, P, Q, B, C, step, L, C128)
    assert_within(
        K, ref_kernel(A_bar, B_bar, C, L), [bound], f"kernel_nplr N={N} L={L}"
    )


# ---------------------------------------------------------------------------------------------
# 6. The C~ correction and the Woodbury term are not optional
# ---------------------------------------------------------------------------------------------


def test_generating_function_needs_the_c_tilde_correction():
    """The dense generating function with C~ = C (I - A_bar^L) gives the kernel; with C it does
    not (it gives the infinite kernel aliased onto L taps); dropping the low-rank term gives
    another kernel again. All differ from the true one by far more than the tolerance the
    property tests use, so those tests would catch either mistake in kernel_nplr."""
    gen = torch.Generator().manual_seed(11)
    N, L, s = 4, 16, 0.1
    Lambda = torch.complex(
        -0.2 * torch.ones(N, dtype=F64), 3 * torch.randn(N, generator=gen, dtype=F64)
    )
    P = randc(1, N, gen=gen)
    B, C = randc(N, gen=gen), randc(N, gen=gen)
    A_bar, B_bar = ref_bilinear(nplr_matrix(Lambda, P, P), B, s)
    K_true = ref_kernel(A_bar, B_bar, C, L)
    bound = nplr_bound(Lambda, P, P, B, C, s, L, C128)
    assert_within(
        ref_kernel_gf(A_bar, B_bar, C, L), K_true, [bound], "generating function"
    )
    without_c_tilde = ref_kernel_gf(A_bar, B_bar, C, L, correct_C=False)
    assert (without_c_tilde - K_true).abs().max().item() > 1e6 * bound
    D_bar, DB_bar = ref_bilinear(torch.diag(Lambda), B, s)
    C_tilde = C @ (torch.eye(N, dtype=C128) - torch.linalg.matrix_power(A_bar, L))
    without_woodbury = ref_kernel_gf(D_bar, DB_bar, C_tilde, L, correct_C=False)
    assert (without_woodbury - K_true).abs().max().item() > 1e6 * bound
    K = kernel_nplr(Lambda, P, P, B, C, s, L)
    assert_within(K, K_true, [bound], "kernel_nplr")


# ---------------------------------------------------------------------------------------------
# 7. Errors
# ---------------------------------------------------------------------------------------------


def z(*shape, dtype=F64):
    return torch.zeros(shape, dtype=dtype)


def lam(*shape):
    return torch.full(shape, -0.5 + 0j, dtype=C128)


SQUARE = r" must be square, \(N, N\) or \(H, N, N\), got "
BAD = {
    "bilinear-nonsquare": (
        lambda: discretize_bilinear(z(2, 3), z(2), 0.1),
        "A" + SQUARE + r"\(2, 3\)",
    ),
    "zoh-nonsquare": (
        lambda: discretize_zoh(z(3, 2), z(3), 0.1),
        "A" + SQUARE + r"\(3, 2\)",
    ),
    "scan-nonsquare": (
        lambda: scan(z(2, 3), z(2), z(2), z(4)),
        "A_bar" + SQUARE + r"\(2, 3\)",
    ),
    "naive-nonsquare": (
        lambda: kernel_naive(z(2, 2, 3), z(2, 2), z(2, 2), 4),
        "A_bar" + SQUARE + r"\(2, 2, 3\)",
    ),
    "bilinear-B-N": (
        lambda: discretize_bilinear(z(3, 3), z(2), 0.1),
        r"B must have shape \(3,\) to match A \(3, 3\), got \(2,\)",
    ),
    "zoh-B-N": (
        lambda: discretize_zoh(z(2, 3, 3), z(2, 4), 0.1),
        r"B must have shape \(2, 3\) to match A \(2, 3, 3\), got \(2, 4\)",
    ),
    "scan-C-N": (
        lambda: scan(z(3, 3), z(3), z(2), z(5)),
        r"C must have shape \(3,\) to match A_bar \(3, 3\), got \(2,\)",
    ),
    "naive-B-N": (
        lambda: kernel_naive(z(3, 3), z(4), z(3), 5),
        r"B_bar must have shape \(3,\) .*got \(4,\)",
    ),
    "naive-C-N": (
        lambda: kernel_naive(z(3, 3), z(3), z(4), 5),
        r"C must have shape \(3,\) .*got \(4,\)",
    ),
    "s4d-B-N": (
        lambda: kernel_s4d(lam(3), lam(2), lam(3), 0.1, 4),
        r"Lambda \(3,\), B \(2,\) and C \(3,\) must all be \(N,\) or \(H, N\)",
    ),
    "s4d-C-N": (
        lambda: kernel_s4d(lam(2, 3), lam(2, 3), lam(2, 4), 0.1, 4),
        r"Lambda \(2, 3\), B \(2, 3\) and C \(2, 4\) must all be",
    ),
    "nplr-B-N": (
        lambda: kernel_nplr(lam(3), lam(1, 3), lam(1, 3), lam(4), lam(3), 0.1, 4),
        r"Lambda \(3,\), B \(4,\) and C \(3,\) must all be",
    ),
    "nplr-P-N": (
        lambda: kernel_nplr(lam(3), lam(1, 2), lam(1, 2), lam(3), lam(3), 0.1, 4),
        r"P \(1, 2\) and Q \(1, 2\) must be .*3\)",
    ),
    "nplr-Q-N": (
        lambda: kernel_nplr(lam(3), lam(1, 3), lam(1, 4), lam(3), lam(3), 0.1, 4),
        r"P \(1, 3\) and Q \(1, 4\) must be .*3\)",
    ),
    "naive-L0": (
        lambda: kernel_naive(z(2, 2), z(2), z(2), 0),
        r"L must be an integer >= 1, got 0",
    ),
    "naive-L-negative": (
        lambda: kernel_naive(z(2, 2), z(2), z(2), -3),
        r"L must be an integer >= 1, got -3",
    ),
    "s4d-L0": (
        lambda: kernel_s4d(lam(2), lam(2), lam(2), 0.1, 0),
        r"L must be an integer >= 1",
    ),
    "nplr-L0": (
        lambda: kernel_nplr(lam(2), lam(1, 2), lam(1, 2), lam(2), lam(2), 0.1, 0),
        r"L must be an integer >= 1, got 0",
    ),
    "bilinear-step0": (
        lambda: discretize_bilinear(z(2, 2), z(2), 0.0),
        r"step must be positive, got 0\.0",
    ),
    "bilinear-step-negative": (
        lambda: discretize_bilinear(z(2, 2), z(2), -0.1),
        r"step must be positive, got -0\.1",
    ),
    "zoh-step0": (
        lambda: discretize_zoh(z(2, 2), z(2), 0),
        r"step must be positive, got 0",
    ),
    "zoh-step-channel": (
        lambda: discretize_zoh(z(2, 2, 2), z(2, 2), torch.tensor([0.1, -0.1])),
        r"step must be positive, got tensor\(\[ ?0\.1000, -0\.1000\]\)",
    ),
    "s4d-step-negative": (
        lambda: kernel_s4d(lam(2), lam(2), lam(2), -1.0, 4),
        r"step must be positive, got -1\.0",
    ),
    "s4d-step-channel": (
        lambda: kernel_s4d(
            lam(2, 2), lam(2, 2), lam(2, 2), torch.tensor([0.0, 1.0]), 4
        ),
        r"step must be positive, got tensor",
    ),
    "nplr-step0": (
        lambda: kernel_nplr(lam(2), lam(1, 2), lam(1, 2), lam(2), lam(2), 0.0, 4),
        r"step must be positive, got 0\.0",
    ),
    "vandermonde-N": (
        lambda: vandermonde(lam(3), lam(2), 4),
        r"W \(3,\) and log_A \(2,\) must all be \(N,\) or \(H, N\)",
    ),
    "vandermonde-scalar": (
        lambda: vandermonde(lam(), lam(), 4),
        r"W \(\) and log_A \(\) must all be",
    ),
    "vandermonde-L0": (
        lambda: vandermonde(lam(2), lam(2), 0),
        r"L must be an integer >= 1, got 0",
    ),
    "vandermonde-real-W": (
        lambda: vandermonde(lam(2).real, lam(2), 4),
        r"W must be complex, got torch.float64",
    ),
    "s4d-method": (
        lambda: kernel_s4d(lam(2), lam(2), lam(2), 0.1, 4, method="euler"),
        r"method must be 'zoh' or 'bilinear', got 'euler'",
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_value_error(name):
    call, message = BAD[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_an_empty_input_or_state_gives_an_empty_or_zero_result():
    """L = 0 steps: an empty output, as torch's ops give for an empty dimension; N = 0 states:
    a kernel of zeros (an empty sum)."""
    y = scan(
        0.5 * torch.eye(3, dtype=F64),
        torch.ones(3, dtype=F64),
        torch.ones(3, dtype=F64),
        z(0),
    )
    assert y.shape == (0,) and y.dtype == F64
    y = scan(z(2, 3, 3), z(2, 3), z(2, 3), z(2, 0))
    assert y.shape == (2, 0)
    K = vandermonde(lam(0), lam(0), 5)
    # 0 exactly: nothing summed
    assert K.shape == (5,) and K.dtype == C128 and not K.any()

"""Structured state spaces: HiPPO-LegS, discretisation, the recurrence and the
convolution kernel.

A state space model (SSM) maps an input u(t) to an output y(t) through a state x(t) of
size N:

    x'(t) = A x(t) + B u(t),        y(t) = C x(t) + D u(t).

Discretised with a step (A_bar, B_bar), it is the recurrence
x_k = A_bar x_{k-1} + B_bar u_k (x_{-1} = 0), y_k = C x_k + D u_k, which unrolls into a
causal convolution y = K * u + D u with the kernel K_i = C A_bar^i B_bar. For a diagonal
A that kernel is a Vandermonde product; for A = diag(Lambda) - P Q^H (normal plus low
rank, as HiPPO-LegS is in the right basis) it comes from the truncated generating
function at the roots of unity, a Cauchy kernel and the Woodbury identity, then an
inverse FFT.

Shapes: one SSM has A (N, N), B (N,), C (N,), u (L,), K (L,); every function also takes
a leading channel dimension H on all of them (H independent SSMs); P, Q are (r, N) or
(H, r, N); a step is a positive float or an (H,) tensor. This module imports torch, the
standard library and the package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import math

import torch
from torch import Tensor

from snippets.checks import check_int, check_shape
# --8<-- [end:imports]

__all__ = [
    "hippo_legs",
    "discretize_bilinear",
    "discretize_zoh",
    "scan",
    "kernel_naive",
    "causal_conv",
    "kernel_s4d",
    "nplr_legs",
    "kernel_nplr",
]


# --8<-- [start:checks]
def check_system(
    A: Tensor,
    B: Tensor,
    C: Tensor | None = None,
    names: tuple[str, str, str] = ("A", "B", "C"),
) -> int:
    """A (..., N, N) square, B (..., N) and C (..., N) with the same N and channels;
    returns N. ``names`` are the caller's names for them (A_bar, B_bar, C for a discrete
    system). Dtypes: float32, float64."""
    if A.dim() not in (2, 3) or A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"{names[0]} must be square, (N, N) or (H, N, N), got {tuple(A.shape)}"
        )
    N, lead = A.shape[-1], A.shape[:-2]
    for name, v in zip(names[1:], (B, C)):
        if v is not None and (tuple(v.shape) != (*lead, N)):
            raise ValueError(
                f"{name} must have shape {(*lead, N)} to match {names[0]} "
                f"{tuple(A.shape)}, got {tuple(v.shape)}"
            )
    return N


def check_vectors(**vectors: Tensor) -> None:
    """Vectors of one shape, (N,) or (H, N): a diagonal A = diag(Lambda) and its B, C,
    ... Dtypes: float32, float64."""
    shapes = [tuple(v.shape) for v in vectors.values()]
    if len(set(shapes)) != 1 or len(shapes[0]) not in (1, 2):
        names = [f"{name} {shape}" for name, shape in zip(vectors, shapes)]
        raise ValueError(
            f"{', '.join(names[:-1])} and {names[-1]} must all be (N,) or (H, N)"
        )


def check_discrete(A_bar: Tensor, B_bar: Tensor, C: Tensor, u=None, L=None) -> None:
    """A discrete system (A_bar, B_bar, C), with an input u (..., L) over its channels
    or a kernel length L >= 1. Dtypes: float32, float64."""
    check_system(A_bar, B_bar, C, names=("A_bar", "B_bar", "C"))
    if u is not None and (u.dim() < 1 or u.shape[:-1] != A_bar.shape[:-2]):
        shape = (*A_bar.shape[:-2], "L")
        raise ValueError(f"u must have shape {shape}, got {tuple(u.shape)}")
    if L is not None:
        check_int("L", L, low=1)


def check_kernel(L: int, **vectors: Tensor) -> None:
    """A kernel length L >= 1 and the vectors of a diagonal system (check_vectors).
    Dtypes: float32, float64."""
    check_vectors(**vectors)
    check_int("L", L, low=1)


def check_vandermonde(W: Tensor, log_A: Tensor, L: int) -> None:
    """Complex weights W and exponents log_A of one shape, (N,) or (H, N), and L >= 1.
    Dtypes: complex64, complex128."""
    check_kernel(L, W=W, log_A=log_A)
    if not W.is_complex():
        raise ValueError(f"W must be complex, got {W.dtype}")


def check_nplr(Lambda: Tensor, P: Tensor, Q: Tensor, B: Tensor, C: Tensor, L: int):
    """Lambda, B, C of one shape (..., N), P and Q both (..., r, N), and L >= 1.
    Dtypes: complex64, complex128."""
    check_vectors(Lambda=Lambda, B=B, C=C)
    if (
        P.shape != Q.shape
        or P.dim() != Lambda.dim() + 1
        or P.shape[-1] != Lambda.shape[-1]
        or P.shape[:-2] != Lambda.shape[:-1]
    ):
        raise ValueError(
            f"P {tuple(P.shape)} and Q {tuple(Q.shape)} must be "
            f"{(*Lambda.shape[:-1], 'r', Lambda.shape[-1])}"
        )
    check_int("L", L, low=1)


def check_legs(N: int, dtype: torch.dtype, complex: bool = False) -> None:
    """A state size N >= 1 and a floating-point dtype (complex, when ``complex``).
    Dtypes: none (an integer and a dtype)."""
    check_int("N", N, low=1)
    if not (dtype.is_complex if complex else dtype.is_floating_point):
        kind = "complex" if complex else "floating-point"
        raise ValueError(f"dtype must be a {kind} dtype, got {dtype}")


def as_step(
    step, channels: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """A positive step as a tensor of shape channels + (1,): it broadcasts against
    (..., N). Dtypes: float32, float64."""
    s = torch.as_tensor(step, dtype=dtype, device=device)
    if s.dim() > 1 or (s.dim() == 1 and tuple(s.shape) != tuple(channels)):
        shapes = f"{tuple(channels)}, got {tuple(s.shape)}"
        raise ValueError(f"step must be a float or have shape {shapes}")
    if isinstance(step, (int, float)):
        bad = not (math.isfinite(step) and step > 0)
    else:  # a check of tensor values breaks a compiled graph
        bad = (
            not torch.compiler.is_compiling()
            and not (torch.isfinite(s) & (s > 0)).all()
        )
    if bad:
        raise ValueError(f"step must be positive, got {step!r}")
    return s.reshape(*s.shape, 1)


def common_dtype(*tensors: Tensor) -> list[Tensor]:
    """The tensors in one dtype, complex if any is (a real A with a complex B, say).
    Dtypes: float32, float64."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


# --8<-- [end:checks]


# --8<-- [start:hippo]
def hippo_legs(
    N: int, *, device=None, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    """HiPPO-LegS: A[n, k] = -sqrt(2n+1) sqrt(2k+1) for n > k, -(n+1) for n = k, 0 for
    n < k; B[n] = sqrt(2n+1). A (N, N), B (N,) on ``device``.
    Dtypes: float64 (default), float32."""
    check_legs(N, dtype)
    n = torch.arange(N, dtype=dtype, device=device)
    r = (2 * n + 1).sqrt()
    A = -torch.tril(r[:, None] * r[None, :], -1) - torch.diag(n + 1)
    return A, r.clone()


# --8<-- [end:hippo]


# --8<-- [start:discretize]
def discretize_bilinear(A: Tensor, B: Tensor, step) -> tuple[Tensor, Tensor]:
    """A_bar = (I - step/2 A)^{-1} (I + step/2 A), B_bar = (I - step/2 A)^{-1} step B.
    Dtypes: float32, float64."""
    N = check_system(A, B)
    A, B = common_dtype(A, B)
    s = as_step(step, A.shape[:-2], A.real.dtype, A.device)[..., None]  # (..., 1, 1)
    I = torch.eye(N, dtype=A.dtype, device=A.device)
    M = I - s / 2 * A
    return torch.linalg.solve(M, I + s / 2 * A), torch.linalg.solve(M, s[..., 0] * B)


def discretize_zoh(A: Tensor, B: Tensor, step) -> tuple[Tensor, Tensor]:
    """A_bar = exp(step A), B_bar = Phi B with Phi = integral_0^step exp(s A) ds, both
    matrices read off one matrix exponential:
    exp(step [[A, I], [0, 0]]) = [[A_bar, Phi], [0, I]]. No A^{-1}: a singular A (an
    integrator) is fine; B stays out of the exponential, so a large or nan B cannot
    change A_bar. Dtypes: float32, float64."""
    N = check_system(A, B)
    A, B = common_dtype(A, B)
    s = as_step(step, A.shape[:-2], A.real.dtype, A.device)[..., None]
    M = A.new_zeros(*A.shape[:-2], 2 * N, 2 * N)
    M[..., :N, :N], M[..., :N, N:] = A, torch.eye(N, dtype=A.dtype, device=A.device)
    X = (s * M).reshape(-1, 2 * N, 2 * N)
    # torch 2.13's matrix_exp loses accuracy (1e-10 in float64) on a batch of one matrix
    # whose norm selects its degree-8 Taylor path; a batch of two takes the accurate
    # path.
    E = torch.linalg.matrix_exp(torch.cat([X, X]))[: X.shape[0]].reshape(M.shape)
    return E[..., :N, :N], (E[..., :N, N:] @ B[..., None])[..., 0]


# --8<-- [end:discretize]


# --8<-- [start:modes]
def scan(A_bar: Tensor, B_bar: Tensor, C: Tensor, u: Tensor) -> Tensor:
    """The recurrence (RNN mode): x_k = A_bar x_{k-1} + B_bar u_k, x_{-1} = 0,
    y_k = C x_k (a plain product: C is not conjugated). u (..., L) -> y (..., L).
    Dtypes: float32, float64."""
    check_discrete(A_bar, B_bar, C, u=u)
    A_bar, B_bar, C, u = common_dtype(A_bar, B_bar, C, u)
    x, y = u.new_zeros(B_bar.shape), torch.empty_like(u)
    for k in range(u.shape[-1]):
        x = (A_bar @ x[..., None])[..., 0] + B_bar * u[..., k, None]
        y[..., k] = (C * x).sum(-1)
    return y


def kernel_naive(A_bar: Tensor, B_bar: Tensor, C: Tensor, L: int) -> Tensor:
    """K[i] = C A_bar^i B_bar for i < L, by L matrix-vector products: O(N^2 L).
    Dtypes: float32, float64."""
    check_discrete(A_bar, B_bar, C, L=L)
    A_bar, v, C = common_dtype(A_bar, B_bar, C)
    K = []
    for _ in range(L):
        K.append((C * v).sum(-1))
        v = (A_bar @ v[..., None])[..., 0]
    return torch.stack(K, -1)


def causal_conv(u: Tensor, K: Tensor, D=0.0) -> Tensor:
    """The convolution (CNN mode): y[k] = sum_{i <= k} K[i] u[k - i] + D u[k], by FFT.
    Both are zero-padded to 2L, so the circular convolution the FFT computes never wraps
    around. Dtypes: float32, float64."""
    check_shape("K", K, u.shape, why="the shape of u")
    L = u.shape[-1]
    n = 2 * L  # the zero padding
    if u.is_complex() or K.is_complex():
        y = torch.fft.ifft(torch.fft.fft(u, n=n) * torch.fft.fft(K, n=n))
    else:
        y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)
    D = D if isinstance(D, Tensor) else u.new_tensor(D)  # a float keeps u's precision
    return y[..., :L] + (D[..., None] if D.dim() else D) * u


# --8<-- [end:modes]


# --8<-- [start:s4d]
def vandermonde(W: Tensor, log_A: Tensor, L: int) -> Tensor:
    """K[i] = sum_n W_n exp(i log_A_n) for i < L, as one matrix product per channel:
    with i = m T + j (T ~ sqrt L), K[m T + j] = sum_n (W_n a_n^{m T}) a_n^j. The powers
    are computed in double precision from the exponent (no repeated products, no phase
    drift), then cast. Dtypes: complex64, complex128."""
    check_vandermonde(W, log_A, L)
    T = math.isqrt(L - 1) + 1
    M = -(-L // T)
    log_A = log_A.to(torch.complex128)
    j = torch.arange(T, dtype=torch.float64, device=log_A.device)
    small = torch.exp(log_A[..., :, None] * j)  # (..., N, T)
    m = torch.arange(M, dtype=torch.float64, device=log_A.device)
    big = torch.exp(log_A[..., None, :] * (T * m)[:, None])  # (..., M, N)
    K = (W[..., None, :] * big.to(W.dtype)) @ small.to(W.dtype)  # (..., M, T)
    return K.flatten(-2)[..., :L]


def kernel_s4d(
    Lambda: Tensor, B: Tensor, C: Tensor, step, L: int, method: str = "zoh"
) -> Tensor:
    """K[i] = sum_n C_n B_bar_n A_bar_n^i for A = diag(Lambda), discretised by
    zero-order hold (A_bar = exp(step Lambda), B_bar = (A_bar - 1) / Lambda B, which is
    step B at Lambda = 0) or bilinear (A_bar = (1 + step/2 Lambda) / (1 - step/2 Lambda)
    and B_bar = step B / (1 - step/2 Lambda)). Dtypes: complex64, complex128."""
    check_kernel(L, Lambda=Lambda, B=B, C=C)
    s = as_step(step, Lambda.shape[:-1], Lambda.real.dtype, Lambda.device)
    dtype = torch.promote_types(torch.promote_types(Lambda.dtype, B.dtype), C.dtype)
    dtype = (
        torch.complex128
        if dtype in (torch.float64, torch.complex128)
        else torch.complex64
    )
    Lam = Lambda.to(torch.complex128)
    sL = s.to(torch.float64) * Lam
    if method == "zoh":
        log_A = sL
        # (A_bar - 1) / Lambda = step expm1(z) / z, z = step Lambda: step at z = 0
        z = torch.where(sL == 0, 1, sL)  # no 0 / 0, not even in a gradient
        B_bar = torch.where(sL == 0, 1, torch.expm1(z) / z) * s.to(torch.float64) * B
    elif method == "bilinear":
        A_bar = (1 + sL / 2) / (1 - sL / 2)
        log_A = torch.log(A_bar)
        B_bar = s.to(torch.float64) * B / (1 - sL / 2)
    else:
        raise ValueError(f"method must be 'zoh' or 'bilinear', got {method!r}")
    return vandermonde((C * B_bar).to(dtype), log_A, L)


# --8<-- [end:s4d]


# --8<-- [start:nplr]
def nplr_legs(
    N: int, *, device=None, dtype: torch.dtype = torch.complex128
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """HiPPO-LegS as normal plus low rank: with p_n = sqrt(n + 1/2), S = A + p p^T is
    -I/2 plus a skew-symmetric matrix, so S = V diag(Lambda) V^H with V unitary and
    Re Lambda = -1/2. Returns (Lambda (N,), P (1, N), B (N,), V (N, N)) with
    A = V (diag(Lambda) - P^T conj(P)) V^H, P = V^H p and B = V^H B_legs, on ``device``:
    computed in complex128, then cast. Dtypes: complex128 (default), complex64."""
    check_legs(N, dtype, complex=True)
    A, B_legs = hippo_legs(N, device=device)
    p = (torch.arange(N, dtype=torch.float64, device=device) + 0.5).sqrt()
    skew = (
        A
        + p[:, None] * p[None, :]
        + 0.5 * torch.eye(N, dtype=torch.float64, device=device)
    )
    w, V = torch.linalg.eigh(1j * skew.to(torch.complex128))  # i skew is Hermitian
    Lambda = -0.5 - 1j * w
    Vh = V.conj().T
    out = (
        Lambda,
        (Vh @ p.to(torch.complex128))[None, :],
        Vh @ B_legs.to(torch.complex128),
        V,
    )
    return tuple(t.to(dtype) for t in out)


def kernel_nplr(
    Lambda: Tensor,
    P: Tensor,
    Q: Tensor,
    B: Tensor,
    C: Tensor,
    step,
    L: int,
    chunk: int = 512,
) -> Tensor:
    """K[i] = C A_bar^i B_bar for the bilinear discretisation of
    A = diag(Lambda) - P^T conj(Q), without powers of A_bar. At the roots of unity
    z = exp(-2 pi i k / L) the truncated generating function is

        sum_{i<L} K_i z^i = C~ (I - A_bar z)^{-1} B_bar
                          = step C~ (D(z) + s(z) P^T conj(Q))^{-1} B

    with C~ = C (I - A_bar^L), D(z) = diag((1 - z) - s(z) Lambda) and
    s(z) = step/2 (1 + z). Woodbury turns the inverse into Cauchy sums over n of
    1 / d_n(z), and the inverse FFT of the L values gives K. With z = exp(-i theta),
    d_n(z) = (1 + z)(a_n + i (t + b_n)) for the real t = tan(theta / 2),
    a = -step/2 Re Lambda and b = -step/2 Im Lambda, so every Cauchy sum comes from one
    real array 1 / (a^2 + (t + b)^2), built a chunk of z at a time.
    Dtypes: complex64, complex128."""
    check_nplr(Lambda, P, Q, B, C, L)
    double = any(
        t.dtype in (torch.float64, torch.complex128) for t in (Lambda, P, Q, B, C)
    )
    real, cdtype = (
        (torch.float64, torch.complex128)
        if double
        else (torch.float32, torch.complex64)
    )
    s = as_step(step, Lambda.shape[:-1], real, Lambda.device)  # (..., 1)
    Lambda, P, Q, B, C = (t.to(cdtype) for t in (Lambda, P, Q, B, C))
    r = P.shape[-2]
    # C~ = C (I - A_bar^L): one dense matrix power by repeated squaring, O(N^3 log L).
    A = torch.diag_embed(Lambda) - P.transpose(-1, -2) @ Q.conj()
    A_bar, _ = discretize_bilinear(A, B, s[..., 0])
    C_t = C - (C[..., None, :] @ torch.linalg.matrix_power(A_bar, L))[..., 0, :]
    # The Woodbury terms as weighted sums over n: sum_n w_n R_n with R_n = 1 / d_n(z),
    # for w = C~ B (k00), C~ P_j (k01), conj(Q_j) B (k10), conj(Q_i) P_j (k11):
    # (..., N, 1 + 2r + r^2).
    U, Vh = P.transpose(-1, -2), Q.conj()  # (..., N, r), (..., r, N)
    w = torch.cat(
        [
            (C_t * B)[..., None],
            C_t[..., None] * U,
            (Vh * B[..., None, :]).mT,
            (Vh[..., :, None, :] * U.mT[..., None, :, :]).flatten(-3, -2).mT,
        ],
        -1,
    )
    half = s / 2
    a, b = -half * Lambda.real, -half * Lambda.imag  # (..., N)
    # (1 + z) R_n = (a_n - i c_n) inv_n, c = t + b, inv = 1 / (a^2 + c^2): the real and
    # the imaginary part of sum_n w_n (1 + z) R_n are two real matrix products, of inv
    # and of c inv.
    wa = w * a[..., None]
    W_inv = torch.cat([wa.real, wa.imag], -1)  # (..., N, 2W)
    W_cinv = torch.cat([w.imag, -w.real], -1)
    theta = 2 * math.pi * torch.arange(L, dtype=torch.float64, device=w.device) / L
    t = torch.tan(theta / 2)
    if L % 2 == 0:  # z = -1: tan is infinite there; that value is set exactly below
        t[L // 2] = 0.0
    t = t.to(real)
    a2, nw = a * a, w.shape[-1]
    K_hat = []
    for tc in torch.split(t, chunk):
        c = tc[:, None] + b[..., None, :]  # (..., Lc, N)
        inv = torch.addcmul(a2[..., None, :], c, c).reciprocal_()
        S = inv @ W_inv + (c * inv) @ W_cinv  # (..., Lc, 2W)
        k = torch.complex(S[..., :nw], S[..., nw:])  # (1 + z) times the sums
        k00, k01, k10 = k[..., 0], k[..., 1 : 1 + r], k[..., 1 + r : 1 + 2 * r]
        k11 = k[..., 1 + 2 * r :].unflatten(-1, (r, r))
        if r == 1:  # (1 + step/2 k11)^{-1} k10 is a division
            inner = k10 / (1 + half[..., None] * k11[..., 0])
        else:
            eye = torch.eye(r, dtype=cdtype, device=k11.device)
            inner = torch.linalg.solve(
                eye + half[..., None, None] * k11, k10[..., None]
            )[..., 0]
        K_hat.append(k00 - half * (k01 * inner).sum(-1))
    z = torch.exp(-1j * theta)
    K_hat = torch.cat(K_hat, -1) * (s / (1 + z)).to(cdtype)
    if L % 2 == 0:  # z = -1: D(z) = 2 I and s(z) = 0, so the sum is step/2 C~ B
        K_hat[..., L // 2] = half[..., 0] * (C_t * B).sum(-1)
    return torch.fft.ifft(K_hat, dim=-1)


# --8<-- [end:nplr]

"""Numeric perturbation: torch's rounded results moved by one ulp, to flush out lucky checks.

A reduction, a matrix product or a transcendental function has no single right rounding:
the order of a sum depends on the thread count and the SIMD width, BLAS picks kernels by
CPU, and ``exp`` or ``log1p`` are accurate to an ulp or so, not correctly rounded, and differ
between libm, SLEEF and MKL. A check that compares such a result exactly, or with a margin
of one rounding, passes or fails by luck of the machine it runs on. ``Nudge`` makes that
luck visible on any machine: every floating result of those ops moves by one ulp
(``torch.nextafter``), up or down. The direction is a hash of the value's bits and the seed,
so the same value moves the same way wherever it is computed within a run, and different
seeds try different directions.

Left alone: zeros, infinities, nan, integer and bool results, and values with few significant
bits (the low half of the mantissa all zero, like 0.5, 1.0, 3.0), so that results IEEE makes
exact (``exp(0)``, a sum of dyadic numbers, ``2 ** 3``) stay exact. A rounded result has such
a mantissa only with probability 2^-12 (float32) or 2^-26 (float64), so it escapes the nudge
that rarely. (An exact result with more significant bits, 4998.5 in float32 say, is nudged:
check such a value where it is computed without a reduction, or in float64.) Also left
alone: a sum, mean, norm, ... over a single element, which is that element on every machine;
``pow`` where its exponent is an integer; and correctly rounded ops (``+``, ``*``, ``/``,
``sqrt``), which are never nudged: IEEE defines their result.

The mode sits below autograd, so the ops a backward pass runs are nudged too. Enabled for
every test item (doc blocks, unit tests, lab notebooks) by ``NUMERIC_NUDGE=<seed>``, in the
``pytest_runtest_call`` hook of ``tests/docblocks.py``.
"""

import hashlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

# aten op names (in-place `exp_` and `exp.out` included) whose floating results are rounded
# in a way that depends on the platform, the library or the order of the arithmetic
REDUCTIONS = {
    "sum",
    "nansum",
    "mean",
    "nanmean",
    "prod",
    "norm",
    "linalg_vector_norm",
    "linalg_matrix_norm",
    "frobenius_norm",
    "std",
    "var",
    "std_mean",
    "var_mean",
    "cumsum",
    "cumprod",
    "logcumsumexp",
    "logsumexp",
    "_softmax",
    "_log_softmax",
    "_safe_softmax",
    "softmax",
    "log_softmax",
    "_softmax_backward_data",
    "_log_softmax_backward_data",
    "trace",
    "dist",
    "_cdist_forward",
    "_cdist_backward",
    "mse_loss",
    "mse_loss_backward",
    "nll_loss_forward",
    "nll_loss2d_forward",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "soft_margin_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "native_layer_norm",
    "native_layer_norm_backward",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "native_batch_norm_backward",
    "native_group_norm",
    "native_group_norm_backward",
}
LINEAR_ALGEBRA = {
    "mm",
    "bmm",
    "addmm",
    "_addmm_activation",
    "addbmm",
    "baddbmm",
    "addmv",
    "mv",
    "dot",
    "vdot",
    "matmul",
    "convolution",
    "_convolution",
    "convolution_backward",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "linalg_cholesky_ex",
    "_linalg_eigh",
    "linalg_eig",
    "_linalg_svd",
    "linalg_qr",
    "_linalg_solve_ex",
    "linalg_solve_triangular",
    "triangular_solve",
    "linalg_lu_factor_ex",
    "linalg_lu",
    "linalg_lu_solve",
    "linalg_inv_ex",
    "_linalg_det",
    "_linalg_slogdet",
    "linalg_lstsq",
    "cholesky_solve",
    "cholesky_inverse",
    "linalg_matrix_exp",
    "geqrf",
    "linalg_householder_product",
    "ormqr",
    "_fft_r2c",
    "_fft_c2r",
    "_fft_c2c",
}
TRANSCENDENTAL = {
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "sigmoid",
    "logit",
    "erf",
    "erfc",
    "erfinv",
    "special_erfcx",
    "special_ndtr",
    "special_ndtri",
    "special_log_ndtr",
    "lgamma",
    "digamma",
    "polygamma",
    "i0",
    "special_i0e",
    "special_i1",
    "special_i1e",
    "rsqrt",
    "pow",
    "float_power",
    "logaddexp",
    "logaddexp2",
    "xlogy",
    "special_xlog1py",
    "gelu",
    "gelu_backward",
    "silu",
    "silu_backward",
    "softplus",
    "softplus_backward",
    "elu",
    "elu_backward",
    "celu",
    "selu",
    "mish",
    "mish_backward",
    "log_sigmoid_forward",
    "log_sigmoid_backward",
    # fused multiply-adds: an FMA on one CPU, a multiply and an add on another
    "lerp",
    "addcmul",
    "addcdiv",
}
NUDGED = REDUCTIONS | LINEAR_ALGEBRA | TRANSCENDENTAL
# reductions that, over one element, return it unchanged on every machine (x / 1,
# sqrt(x * x) = |x|, x + log(e^0)): left alone when they reduce nothing
COPIES = {
    "sum",
    "nansum",
    "mean",
    "nanmean",
    "prod",
    "norm",
    "linalg_vector_norm",
    "logsumexp",
}

# the integer type of the same width, and how many low mantissa bits (half the mantissa)
# must be zero for a value to count as exact
BITS = {
    torch.float64: (torch.int64, 26),
    torch.float32: (torch.int32, 12),
    torch.float16: (torch.int16, 5),
    torch.bfloat16: (torch.int16, 4),
}
P = 2**31 - 1  # a prime; the hash works modulo P so that no product overflows int64


def seed_of(text: str) -> int:
    """A 31-bit integer from any seed string."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % P


def few_bits(t: torch.Tensor) -> torch.Tensor:
    """Where t's low mantissa half is all zero: exact results (and 0, inf) look like this."""
    int_type, low_bits = BITS[t.dtype]
    return t.view(int_type) & ((1 << low_bits) - 1) == 0


def nudge(
    t: torch.Tensor, seed: int, where: torch.Tensor | None = None
) -> torch.Tensor:
    """t with every rounded value moved one ulp, up or down as the hash of its bits says
    (only where ``where`` is true, when given); exact values, 0, inf and nan stay."""
    if t.is_complex():  # the real and imaginary parts, each on its own
        return torch.view_as_complex(
            nudge(
                torch.view_as_real(t),
                seed,
                None if where is None else where.unsqueeze(-1),
            )
        )
    if t.dtype not in BITS or t.layout != torch.strided or t.device.type == "meta":
        return t
    bits = t.view(BITS[t.dtype][0]).to(torch.int64)
    lo, hi = bits & 0xFFFFFFFF, (bits >> 32) & 0xFFFFFFFF  # each below 2^32
    h = (lo * 1540483477 + seed) % P  # products below 2^63
    h = ((h ^ (h >> 13) ^ hi) * 1103515245) % P  # shifts: not linear in lo
    up = (h ^ (h >> 16)) & 1 == 1
    inf = torch.tensor(float("inf"), dtype=t.dtype)
    moved = torch.nextafter(t, torch.where(up, inf, -inf))
    keep = few_bits(t) | ~torch.isfinite(moved)
    if where is not None:
        keep = keep | ~where
    return torch.where(keep, t, moved)


def integer_power(func, args) -> torch.Tensor | bool:
    """True (or a mask) where func is pow with an integer exponent: x ** 2 and x ** 3 are
    products of correctly rounded multiplications, the same on every machine. A scalar base
    (``2.0 ** x``) makes pow an exponential: False."""
    if func.overloadpacket.__name__.rstrip("_") != "pow" or not isinstance(
        args[0], torch.Tensor
    ):
        return False
    e = args[1]
    if isinstance(e, torch.Tensor):
        return e == e.round() if e.is_floating_point() else True  # an integer tensor
    return isinstance(e, int) or (isinstance(e, float) and e.is_integer())


class Nudge(TorchDispatchMode):
    """Within ``with Nudge(seed):`` every floating result of the ops in NUDGED is one ulp
    away from what torch computed, in a direction fixed per value and seed."""

    def __init__(self, seed: int | str):
        super().__init__()
        self.seed = seed_of(str(seed))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__.rstrip("_")
        if name not in NUDGED:
            return out
        if (
            name in COPIES
            and isinstance(out, torch.Tensor)
            and isinstance(args[0], torch.Tensor)
            and out.numel() == args[0].numel()
        ):
            return out  # reduced over size-1 dims: a copy
        exact = integer_power(func, args)
        if exact is True:
            return out

        def moved(t):
            if not isinstance(t, torch.Tensor) or not (
                t.is_floating_point() or t.is_complex()
            ):
                return t
            where = None if exact is False else ~torch.broadcast_to(exact, t.shape)
            new = nudge(t, self.seed, where)
            # in place or out=: the result is an input's memory
            if func._schema.is_mutable:
                return t.copy_(new)
            return new

        return tree_map(moved, out)

"""The main kernels run under ``torch.compile(fullgraph=True)`` and match eager, forward and
backward.

``fullgraph=True`` turns any graph break into an error: Python that Dynamo cannot trace, a
branch on a tensor's values (``if torch.isfinite(x).all(): ...``), an ``autograd.Function``
it cannot capture. The input checks that look at values (finite, class ids in range, a mask
row with no key) are skipped while compiling, so a compiled call checks shapes and dtypes only.

The backend is ``aot_eager`` by default: Dynamo traces the code and AOTAutograd the backward,
without generating C++ (seconds instead of minutes on two cores). CI's ``compiled`` job runs
the same tests with ``COMPILE_BACKEND=inductor``, the backend a reader gets from a plain
``torch.compile``.
"""

import os
import warnings

import pytest
import torch

from snippets import attention, conv, einsum, logistic_regression as lr, s4

# NUMERIC_NUDGE's dispatch mode cannot run inside a compiled graph (torch.compile skips every
# frame while a non-infra TorchDispatchMode is active); these tests compare compiled with
# eager float64 at rtol 1e-10, nowhere near one rounding, so they run un-nudged.
pytestmark = pytest.mark.unnudged

BACKEND = os.environ.get("COMPILE_BACKEND", "aot_eager")
F64, C128 = torch.float64, torch.complex128


def rand(*shape, dtype=F64, seed=0):
    return torch.randn(
        shape, generator=torch.Generator().manual_seed(seed), dtype=dtype
    )


def s4d_inputs():
    Lambda = torch.complex(-0.5 - rand(4).abs(), rand(4, seed=1))
    return Lambda, rand(4, seed=2, dtype=C128), rand(4, seed=3, dtype=C128)


def nplr_inputs():
    Lambda, P, B, _ = s4.nplr_legs(4)
    return Lambda, P, B, rand(4, seed=4, dtype=C128)


y6 = torch.tensor([0, 1, 2, 3, 0, 1])
# name: (function of tensors, its inputs, differentiate with respect to the inputs?)
CASES = {
    "conv2d": (
        lambda x, w, b: conv.conv2d(x, w, b, stride=2, padding=1),
        (rand(2, 3, 8, 8), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)),
        True,
    ),
    "conv1d": (
        lambda x, w: conv.conv1d(x, w, dilation=2, groups=3),
        (rand(2, 3, 9), rand(6, 1, 3, seed=1)),
        True,
    ),
    "conv2d_backward": (
        lambda g, x, w: conv.conv2d_backward(g, x, w, padding=1),
        (rand(2, 4, 8, 8), rand(2, 3, 8, 8, seed=1), rand(4, 3, 3, 3, seed=2)),
        False,
    ),
    "einsum": (
        lambda a, b: einsum.einsum("bij,bjk->bik", a, b),
        (rand(2, 3, 4), rand(2, 4, 5, seed=1)),
        True,
    ),
    "einsum_vjp": (
        lambda a, b, g: einsum.einsum_vjp("iij,jk->ik", (a, b), g),
        (rand(3, 3, 4), rand(4, 5, seed=1), rand(3, 5, seed=2)),
        False,
    ),
    "kernel_s4d": (lambda L, B, C: s4.kernel_s4d(L, B, C, 0.1, 16), s4d_inputs(), True),
    "kernel_nplr": (
        lambda L, P, B, C: s4.kernel_nplr(L, P, P, B, C, 0.1, 16),
        nplr_inputs(),
        True,
    ),
    "causal_conv": (
        lambda u, K: s4.causal_conv(u, K, D=0.5),
        (rand(16), rand(16, seed=1)),
        True,
    ),
    "attention": (
        lambda q, k, v: attention.attention(q, k, v, attention.causal_mask(5)),
        (rand(2, 5, 8), rand(2, 5, 8, seed=1), rand(2, 5, 8, seed=2)),
        True,
    ),
    "multi_head_attention": (
        lambda x, W_q, W_o: attention.multi_head_attention(
            x, x, W_q, W_q.T, W_q, W_o, num_heads=2
        ),
        (rand(2, 5, 8), rand(8, 8, seed=1), rand(8, 8, seed=2)),
        True,
    ),
    "log_softmax": (lambda z: lr.log_softmax(z), (rand(6, 4),), True),
    "softmax": (lambda z: lr.softmax(z, dim=0), (rand(6, 4),), True),
    "cross_entropy": (lambda z: lr.cross_entropy(z, y6), (rand(6, 4),), True),
    "cross_entropy_grad": (
        lambda z: lr.cross_entropy_grad(z, y6),
        (rand(6, 4),),
        False,
    ),
    "fit (3 steps)": (
        lambda X: lr.fit(X, y6, 4, steps=3, lr=0.5, l2=0.1),
        (rand(6, 3),),
        False,
    ),
}


def outputs(result) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def run(fn, inputs, grad: bool):
    """The outputs, and with ``grad`` the gradient of a fixed random projection of them."""
    leaves = [x.detach().requires_grad_(grad) for x in inputs]
    out = outputs(fn(*leaves))
    if not grad:
        return out, []
    projection = sum(
        (o * rand(*o.shape, dtype=o.dtype, seed=9)).real.sum() for o in out
    )
    return out, list(torch.autograd.grad(projection, leaves))


@pytest.mark.parametrize("name", CASES)
def test_compiled_matches_eager(name):
    fn, inputs, grad = CASES[name]
    torch._dynamo.reset()
    compiled = torch.compile(fn, backend=BACKEND, fullgraph=True)
    with warnings.catch_warnings():
        # torch's own: Dynamo traces through einsum's cached parser, instantiates an
        # autograd.Function while capturing it (deprecated for callers), and Inductor's
        # first use imports code that calls the deprecated torch.jit.script_method.
        warnings.filterwarnings("ignore", message=".*lru_cache.*")
        warnings.filterwarnings(
            "ignore",
            message=".*should not be instantiated.*",
            category=DeprecationWarning,
        )
        warnings.filterwarnings(
            "ignore",
            message=".*torch.jit.script_method.*is deprecated",
            category=DeprecationWarning,
        )
        got = run(compiled, inputs, grad)
    expected = run(fn, inputs, grad)
    # float64 throughout; the compiled graph may fuse and reorder the same float64 operations
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_a_graph_break_fails():
    """The check can fail: a branch on a tensor's value cannot be one graph."""

    def branchy(x):
        return x + 1 if x.sum() > 0 else x - 1

    with pytest.raises(Exception, match="[Dd]ata-dependent"):
        torch.compile(branchy, backend=BACKEND, fullgraph=True)(rand(3))

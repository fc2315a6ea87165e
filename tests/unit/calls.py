"""A valid sample call of every public function, class and method of ``snippets/``.

``CASES[name]`` builds one call: ``case.build(In(dtype, device))`` makes the inputs now, on the
CPU, in ``dtype``, and returns a function of no arguments that makes the call. Functions that
take no tensor (``hippo_legs(N)``, ``causal_mask(T)``, ...) get ``device=`` and ``dtype=``
from ``In.factory``. tests/unit/test_device.py runs every case under a "meta" default device
and in float32 against float64; tests/unit/test_fuzz.py feeds the same functions malformed input.
``test_every_public_callable_has_a_case`` (in test_device.py) fails when a public callable has
no case here and is not in ``EXEMPT``.

The numbers are N(0, 1) draws made in float64 and rounded to float32 whatever the dtype asked
for, so a float32 and a float64 call see the same inputs and differ only in their arithmetic.
"""

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable

import torch

from snippets import (
    attention,
    autodiff,
    checks,
    conv,
    einsum,
    gradients,
    linear_algebra,
    logistic_regression,
    losses,
    mlp,
    next_token,
    optim,
    reading_list,
    s4,
    score_models,
    symmetry,
)

F32, F64, C64, C128 = torch.float32, torch.float64, torch.complex64, torch.complex128
REAL = {C64: F32, C128: F64}
COMPLEX = {F32: C64, F64: C128, C64: C64, C128: C128}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class In:
    """What a case makes its inputs with: the dtype (float or complex) and, for factories, the
    device; tensors are always made on the CPU. Every draw is rounded to ``grain`` first, so
    calls in dtypes at least as fine as ``grain`` see the same numbers."""

    def __init__(
        self, dtype: torch.dtype, device="cpu", grain: torch.dtype = F32, place="cpu"
    ):
        # place: where i.r, i.c and i.t put their tensors (test_device's run on a real
        # accelerator moves the cases built by hand this way)
        self.dtype, self.device, self.grain, self.place = dtype, device, grain, place
        self.real = REAL.get(dtype, dtype)

    def r(self, *shape, seed: int = 0) -> torch.Tensor:
        """N(0, 1) entries, the same numbers in every dtype."""
        x = torch.randn(*shape, generator=gen(seed), dtype=F64).to(self.grain)
        return x.to(self.real).to(self.place)

    def c(self, *shape, seed: int = 0) -> torch.Tensor:
        """Complex N(0, 1) entries in the complex dtype of the same precision."""
        return torch.complex(self.r(*shape, seed=seed), self.r(*shape, seed=seed + 100))

    def t(self, values) -> torch.Tensor:
        """Given values (exact in every dtype used here: 0, 0.5, 1, ...)."""
        return torch.tensor(values, dtype=self.real, device=self.place)

    @property
    def factory(self) -> dict:
        return dict(device=self.device, dtype=self.dtype)


@dataclass(frozen=True)
class Case:
    build: Callable[[In], Callable[[], Any]]
    # Takes no tensor: the call passes device= (and dtype=, unless the result is not a float),
    # and its result must land on the device it is given, "meta" too.
    factory: bool = False
    # The dtypes it is run in (float32 against float64, or the complex pair); () when its
    # input holds no float tensor (pure Python, integer ids, booleans).
    dtypes: tuple = (F32, F64)
    # float32 against float64: |r32 - r64| <= rtol * (|r64| + max |r64|); None: the default.
    rtol: float | None = None
    why: str = ""  # why rtol differs from the default
    bfloat16: float | None = None  # rtol in bfloat16 against float64, where tested
    compare: str = ""  # why float32 is not compared with float64 (dtypes still are)


@dataclass(frozen=True)
class Call:
    """A call with its inputs made now: ``fn`` runs later. tests/unit/test_fuzz.py reads
    ``args`` and ``kwargs`` to make malformed variants of it."""

    fn: Callable
    args: tuple
    kwargs: dict

    def __call__(self):
        return self.fn(*self.args, **self.kwargs)


def call(fn, *args, **kwargs) -> Call:
    return Call(fn, args, kwargs)


def case(build, **kw) -> Case:
    return Case(build, **kw)


PURE = dict(dtypes=())  # pure Python or integer input: no float dtype to vary
COMPLEX_DTYPES = dict(dtypes=(C64, C128))
T = torch.tensor
ELEMENTWISE_BF16 = (
    2e-2  # bfloat16 keeps 8 bits (eps 2^-8 = 3.9e-3): a few roundings, 5 eps
)
# Sums of at most a dozen products (conv) or one row (softmax, cross-entropy), which torch's
# bfloat16 kernels accumulate in float32, then one rounding to bfloat16: the same 5 eps hold
# (2.4e-3 measured on these calls).
SMALL_SUM_BF16 = 2e-2

CASES: dict[str, Case] = {}


def add(module, **cases):
    for name, c in cases.items():
        CASES[f"{module.__name__.split('.')[-1]}.{name}"] = (
            c if isinstance(c, Case) else case(c)
        )


# ----------------------------------------------------------------------------- attention
def mha(i):
    C = 4
    W = [i.r(C, C, seed=s) for s in range(4)]
    return call(
        attention.multi_head_attention,
        i.r(1, 3, C),
        i.r(1, 5, C, seed=1),
        *W,
        2,
        b_q=i.r(C, seed=9),
        causal=True,
        key_padding_mask=T([[False, False, False, False, True]]),
    )


add(
    attention,
    check_batch=lambda i: call(
        attention.check_batch, "q and k", i.r(2, 3, 4), i.r(1, 5, 4)
    ),
    check_mask=case(
        lambda i: call(
            attention.check_mask, attention.causal_mask(3, 4), torch.Size([2, 3, 4])
        ),
        **PURE,
    ),
    check_attention=lambda i: call(
        attention.check_attention,
        i.r(2, 3, 4),
        i.r(2, 5, 4, seed=1),
        i.r(2, 5, 2, seed=2),
        attention.causal_mask(3, 5),
    ),
    check_sizes=case(lambda i: call(attention.check_sizes, T_q=3, T_k=4), **PURE),
    check_heads=lambda i: call(attention.check_heads, i.r(2, 3, 4), 2),
    check_mha=lambda i: call(
        attention.check_mha,
        i.r(1, 3, 4),
        i.r(1, 5, 4, seed=1),
        *[i.r(4, 4, seed=s) for s in range(4)],
        i.r(4, seed=9),
        None,
        None,
        None,
        T([[False, False, False, False, True]]),
    ),
    check_rope=lambda i: call(attention.check_rope, i.r(5, 4), torch.arange(5), 10.0),
    check_sinusoidal=case(
        lambda i: call(attention.check_sinusoidal, 5, 4, 10.0, torch.float32), **PURE
    ),
    attention_weights=lambda i: call(
        attention.attention_weights,
        i.r(2, 3, 4),
        i.r(2, 5, 4, seed=1),
        attention.causal_mask(3, 5),
    ),
    attention=lambda i: call(
        attention.attention, i.r(2, 3, 4), i.r(2, 5, 4, seed=1), i.r(2, 5, 2, seed=2)
    ),
    causal_mask=case(
        lambda i: call(attention.causal_mask, 3, 4, device=i.device),
        factory=True,
        **PURE,
    ),
    split_heads=lambda i: call(attention.split_heads, i.r(2, 3, 4), 2),
    merge_heads=lambda i: call(attention.merge_heads, i.r(2, 2, 3, 2)),
    check_projection=lambda i: call(
        attention.check_projection, "W_q", i.r(4, 4), i.r(4), 4, i.dtype
    ),
    multi_head_attention=mha,
    sinusoidal_positions=case(
        lambda i: call(attention.sinusoidal_positions, 5, 4, **i.factory),
        factory=True,
        bfloat16=ELEMENTWISE_BF16,
    ),
    rope=case(
        lambda i: call(attention.rope, i.r(5, 4), torch.arange(5)),
        bfloat16=ELEMENTWISE_BF16,
    ),
    residual_block=lambda i: call(
        attention.residual_block,
        i.r(3, 4),
        lambda h: 0.5 * h,
        torch.tanh,
        lambda h: h - h.mean(-1, keepdim=True),
        lambda h: 2 * h,
        pre_norm=False,
    ),
)


# ----------------------------------------------------------------------------- autodiff
V = autodiff.Value


def backward_grads(i):
    a, b = V(i.r(2, 3)), V(i.r(3, 2, seed=1))
    root = autodiff.sum_all(autodiff.relu(a @ b))
    return lambda: (autodiff.backward(root), a.grad, b.grad)


def value_backward(i):
    a = V(i.r(3))
    y = (a * a).sum()
    return lambda: (y.backward(), a.grad)


def counted(i):
    a, b = V(i.r(2, 2)), V(i.r(2, 2, seed=1))

    def run():
        with autodiff.counting() as c:
            (a @ b).sum().backward()
        return sorted(c.items()), a.grad

    return run


def checkpointed(i):
    a = V(i.r(3))
    node = autodiff.checkpoint(lambda v: (v * v).relu(), a)
    return lambda: (
        node.data,
        autodiff.sum_all(autodiff.checkpoint(lambda v: v * v, a)).backward(),
        a.grad,
    )


add(
    autodiff,
    check_difference=lambda i: call(autodiff.check_difference, i.r(3), 1e-2),
    check_tangent=lambda i: call(autodiff.check_tangent, i.r(3), i.r(3, seed=1)),
    check_backward=lambda i: call(autodiff.check_backward, V(i.r(2, 3)), i.r(2, 3)),
    check_matmul=lambda i: call(autodiff.check_matmul, i.r(2, 3), i.r(3, 4, seed=1)),
    check_unbroadcast=lambda i: call(autodiff.check_unbroadcast, i.r(2, 3), (1, 3)),
    check_classes=lambda i: call(autodiff.check_classes, V(i.r(4, 3)), T([0, 2, 1, 1])),
    check_widths=case(
        lambda i: call(autodiff.check_widths, [3, 4, 2], torch.float64), **PURE
    ),
    check_segment=lambda i: call(autodiff.check_segment, V(i.r(3))),
    forward_difference=case(
        lambda i: call(autodiff.forward_difference, math.sin, 0.3, 1e-4), **PURE
    ),
    central_difference=case(
        lambda i: call(autodiff.central_difference, math.sin, 0.3, 1e-4), **PURE
    ),
    finite_difference_gradient=case(
        lambda i: call(
            autodiff.finite_difference_gradient, lambda x: (x * x).sum(), i.r(3), 1e-2
        ),
        rtol=1e-3,
        why="(f(x + h e) - f(x)) / h loses eps32 |f| / h = 1.2e-5 |f| to rounding "
        "(7e-6 measured)",
    ),
    logistic_map=case(lambda i: call(autodiff.logistic_map, 3), **PURE),
    diff=case(lambda i: call(autodiff.diff, autodiff.logistic_map(2)), **PURE),
    evaluate=case(
        lambda i: call(autodiff.evaluate, autodiff.logistic_map(3), 0.3), **PURE
    ),
    check_node=case(lambda i: call(autodiff.check_node, ("*", "x", 2.0)), **PURE),
    size=case(lambda i: call(autodiff.size, autodiff.logistic_map(3)), **PURE),
    distinct=case(lambda i: call(autodiff.distinct, autodiff.logistic_map(3)), **PURE),
    Dual=lambda i: call(autodiff.Dual, i.r(3)),
    **{
        "Dual.constant": lambda i: call(
            autodiff.Dual(i.r(3), i.r(3, seed=1)).constant, 2.0
        ),
        "Dual.relu": lambda i: call(autodiff.Dual(i.r(3), i.r(3, seed=1)).relu),
    },
    jvp=lambda i: call(autodiff.jvp, lambda x: x * 2.0 + 1.0, i.r(3), i.r(3, seed=1)),
    counting=counted,
    Value=lambda i: call(V, i.r(3)),
    **{
        "Value.relu": lambda i: call(V(i.r(3)).relu),
        "Value.sum": lambda i: call(V(i.r(3)).sum),
        "Value.mean": lambda i: call(V(i.r(3)).mean),
        "Value.log_softmax": lambda i: call(V(i.r(2, 3)).log_softmax),
        "Value.backward": value_backward,
    },
    as_value=lambda i: call(autodiff.as_value, 2.0, like=V(i.r(3))),
    operands=lambda i: call(autodiff.operands, V(i.r(3)), 2.0),
    topological_order=lambda i: call(autodiff.topological_order, V(i.r(3)) * 2.0 + 1.0),
    backward=backward_grads,
    matmul=lambda i: call(autodiff.matmul, V(i.r(2, 3)), V(i.r(3, 2, seed=1))),
    unbroadcast=lambda i: call(autodiff.unbroadcast, i.r(2, 3), (1, 3)),
    add=lambda i: call(autodiff.add, V(i.r(2, 3)), V(i.r(3, seed=1))),
    mul=lambda i: call(autodiff.mul, V(i.r(2, 3)), 2.0),
    relu=lambda i: call(autodiff.relu, V(i.r(3))),
    sum_all=lambda i: call(autodiff.sum_all, V(i.r(2, 3))),
    log_softmax=lambda i: call(autodiff.log_softmax, V(i.r(2, 3))),
    cross_entropy=lambda i: call(autodiff.cross_entropy, V(i.r(4, 3)), T([0, 2, 1, 1])),
    vjp=lambda i: call(autodiff.vjp, lambda v: v * v, i.r(3), i.r(3, seed=1)),
    check_row=lambda i: call(autodiff.check_row, "x", i.r(1, 3)),
    jacobian_forward=lambda i: call(
        autodiff.jacobian_forward, lambda x: x * x, i.r(1, 3)
    ),
    jacobian_reverse=lambda i: call(
        autodiff.jacobian_reverse, lambda x: x * x + 1.0, i.r(1, 3)
    ),
    init_mlp=case(
        lambda i: call(autodiff.init_mlp, [3, 4, 2], gen(1), **i.factory), factory=True
    ),
    check_mlp=lambda i: call(
        autodiff.check_mlp, autodiff.init_mlp([3, 4, 2], gen(1), i.dtype), i.r(2, 3)
    ),
    mlp=lambda i: call(
        autodiff.mlp, autodiff.init_mlp([3, 4, 2], gen(1), i.dtype), i.r(2, 3)
    ),
    checkpoint=checkpointed,
)


# ----------------------------------------------------------------------------- conv
def geometry2(i, **kw):
    x, w, b = i.r(2, 3, 5, 5), i.r(4, 3, 2, 2, seed=1), i.r(4, seed=2)
    return x, w, b, conv.geometry(x, w, b, 2, 1, 1, 1, n=2)


def channels_last(i):
    src = i.r(2, 3, 4, 5)
    dst = torch.zeros(2, 4, 5, 3, dtype=src.dtype, device=src.device)
    return lambda: (conv.copy_channels_last(dst, src, block=2), dst)


def conv_function_backward(i):
    x, w, b = (
        t.requires_grad_() for t in (i.r(2, 3, 6), i.r(4, 3, 2, seed=1), i.r(4, seed=2))
    )
    g = i.r(2, 4, 3, seed=3)
    return lambda: torch.autograd.grad(
        conv.ConvFunction.apply(x, w, b, 2, 0, 1, 1), (x, w, b), g
    )


def conv_rows_backward(i):
    x, w, _, g = geometry2(i)
    return call(conv.conv_rows_backward, i.r(2, 4, *g["out"], seed=3), x, w, g)


CONV_BF16 = dict(bfloat16=SMALL_SUM_BF16)
add(
    conv,
    check_tensor=lambda i: call(
        conv.check_tensor, "x", i.r(2, 3, 6), ("batch", 3, "width")
    ),
    check_windows=lambda i: call(conv.check_windows, i.r(2, 3, 6), 3, 2, 1),
    check_conv1d=lambda i: call(conv.check_conv1d, i.r(2, 3, 6), i.r(4, 3, 2, seed=1)),
    check_weight_grad=lambda i: call(
        conv.check_weight_grad, i.r(2, 3, 6), i.r(2, 4, 5, seed=1), 2
    ),
    check_conv1d_grad=lambda i: call(
        conv.check_conv1d_grad, i.r(2, 4, 3), i.r(4, 3, 2, seed=1), 6, 2
    ),
    check_ints=case(
        lambda i: call(conv.check_ints, "stride", (1, 2), 2, "conv2d"), **PURE
    ),
    check_conv=lambda i: call(
        conv.check_conv, i.r(2, 3, 5, 5), i.r(4, 3, 2, 2, seed=1), None, 2, 1, 1, 1, 2
    ),
    check_layout=lambda i: (lambda x, w, b, g: call(conv.check_layout, g, x, w, b))(
        *geometry2(i)
    ),
    windows=lambda i: call(conv.windows, i.r(2, 3, 6), 3, 2, 1),
    conv1d_minimal=lambda i: call(
        conv.conv1d_minimal, i.r(2, 3, 6), i.r(4, 3, 2, seed=1)
    ),
    conv1d_im2col=lambda i: call(
        conv.conv1d_im2col, i.r(2, 3, 6), i.r(4, 3, 2, seed=1)
    ),
    conv1d_weight_grad=lambda i: call(
        conv.conv1d_weight_grad, i.r(2, 3, 6), i.r(2, 4, 5, seed=1), 2
    ),
    conv1d_input_grad_fold=lambda i: call(
        conv.conv1d_input_grad_fold, i.r(2, 4, 5), i.r(4, 3, 2, seed=1), 6
    ),
    conv1d_input_grad_transposed=lambda i: call(
        conv.conv1d_input_grad_transposed, i.r(2, 4, 3), i.r(4, 3, 2, seed=1), 6, 2
    ),
    as_pair=case(lambda i: call(conv.as_pair, 2, 1, 1), **PURE),
    geometry=lambda i: call(
        conv.geometry, i.r(2, 3, 5, 5), i.r(4, 3, 2, 2, seed=1), None, 2, 1, 1, 1, 2
    ),
    copy_channels_last=channels_last,
    to_phases=lambda i: call(conv.to_phases, *geometry2(i)[::3]),
    from_phases=lambda i: (
        lambda x, w, b, g: call(conv.from_phases, conv.to_phases(x, g), g)
    )(*geometry2(i)),
    taps=case(
        lambda i: (lambda g: lambda: list(conv.taps(g)))(geometry2(In(F64))[3]), **PURE
    ),
    conv_rows=lambda i: call(conv.conv_rows, *geometry2(i)),
    rows_to_output=lambda i: (
        lambda x, w, b, g: call(conv.rows_to_output, conv.conv_rows(x, w, b, g), g)
    )(*geometry2(i)),
    conv2d=case(
        lambda i: call(
            conv.conv2d,
            i.r(2, 4, 5, 5),
            i.r(4, 2, 2, 3, seed=1),
            i.r(4, seed=2),
            stride=(2, 1),
            padding=1,
            dilation=(1, 2),
            groups=2,
        ),
        **CONV_BF16,
    ),
    conv1d=case(
        lambda i: call(
            conv.conv1d,
            i.r(2, 4, 7),
            i.r(6, 2, 3, seed=1),
            i.r(6, seed=2),
            stride=2,
            padding=1,
            dilation=2,
            groups=2,
        ),
        **CONV_BF16,
    ),
    conv_rows_backward=conv_rows_backward,
    check_grad_output=lambda i: call(
        conv.check_grad_output, i.r(2, 4, 3), i.r(2, 3, 6), (2, 4, 3)
    ),
    conv2d_backward=case(
        lambda i: call(
            conv.conv2d_backward,
            i.r(2, 4, 3, 3),
            i.r(2, 3, 5, 5, seed=1),
            i.r(4, 3, 2, 2, seed=2),
            stride=2,
            padding=1,
        ),
        **CONV_BF16,
    ),
    conv1d_backward=case(
        lambda i: call(
            conv.conv1d_backward,
            i.r(2, 4, 3),
            i.r(2, 3, 6, seed=1),
            i.r(4, 3, 2, seed=2),
            stride=2,
        ),
        **CONV_BF16,
    ),
    ConvFunction=case(
        lambda i: call(
            conv.ConvFunction.apply,
            i.r(2, 3, 6),
            i.r(4, 3, 2, seed=1),
            None,
            1,
            0,
            1,
            1,
        ),
        **CONV_BF16,
    ),
    **{
        "ConvFunction.forward": case(
            lambda i: call(
                conv.ConvFunction.apply,
                i.r(2, 3, 5, 5),
                i.r(4, 3, 2, 2, seed=1),
                i.r(4, seed=2),
                1,
                1,
                1,
                1,
            ),
            **CONV_BF16,
        ),
        "ConvFunction.backward": case(conv_function_backward, **CONV_BF16),
    },
)


# ----------------------------------------------------------------------------- einsum
def einsum_backward(i):
    a, b = i.r(2, 3).requires_grad_(), i.r(3, 4, seed=1).requires_grad_()
    g = i.r(2, 4, seed=2)
    return lambda: torch.autograd.grad(
        einsum.EinsumFunction.apply("ij,jk->ik", a, b), (a, b), g
    )


add(
    einsum,
    Equation=case(
        lambda i: call(einsum.Equation, (("i",),), ("i",), MappingProxyType({"i": 3})),
        **PURE,
    ),
    parse_equation=case(
        lambda i: call(einsum.parse_equation, "ij,jk->ik", [(2, 3), (3, 4)]), **PURE
    ),
    contract=lambda i: call(
        einsum.contract,
        i.r(2, 3),
        ("i", "j"),
        i.r(3, 4, seed=1),
        ("j", "k"),
        {"i", "k"},
    ),
    permute=lambda i: call(einsum.permute, i.r(2, 3), [1, 0]),
    check_equation=case(lambda i: call(einsum.check_equation, "ij->j"), **PURE),
    check_order=lambda i: call(einsum.check_order, i.r(2, 3), [1, 0]),
    check_labels=lambda i: call(einsum.check_labels, "x", i.r(3, 3), ("i", "i")),
    check_pair=lambda i: call(
        einsum.check_pair, i.r(2, 1), ("i", "j"), i.r(3, 4, seed=1), ("j", "k")
    ),
    check_gradient=lambda i: call(
        einsum.check_gradient, i.r(3, 1), ("i", "j"), (3, 4), ("i", "j")
    ),
    sum_out=lambda i: call(einsum.sum_out, i.r(2, 3), ("i", "j"), {"i"}),
    match_sizes=lambda i: call(
        einsum.match_sizes, i.r(1, 3), ("i", "j"), i.r(2, 3, seed=1), ("i", "j"), {"j"}
    ),
    as_matrices=lambda i: call(
        einsum.as_matrices, i.r(2, 3, 4), ("b", "i", "j"), ["b"], ["j"], ["i"]
    ),
    diagonal=lambda i: call(einsum.diagonal, i.r(3, 3), ("i", "i")),
    unbroadcast=lambda i: call(einsum.unbroadcast, i.r(3), ("i",), (3, 3), ("i", "i")),
    check_operands=lambda i: call(
        einsum.check_operands, "ij,jk", [i.r(2, 3), i.r(3, 4)], i.r(2, 4, seed=1)
    ),
    einsum_vjp=lambda i: call(
        einsum.einsum_vjp,
        "bij,bjk->bik",
        [i.r(2, 2, 3), i.r(1, 3, 4)],
        i.r(2, 2, 4, seed=2),
    ),
    EinsumFunction=lambda i: call(einsum.EinsumFunction.apply, "ii->i", i.r(3, 3)),
    # apply with a gradient to take
    **{
        "EinsumFunction.forward": lambda i: call(
            einsum.EinsumFunction.apply, "ij,j->i", i.r(2, 3), i.r(3, seed=1)
        ),
        "EinsumFunction.backward": einsum_backward,
        "EinsumFunction.setup_context": einsum_backward,
    },
    einsum=lambda i: call(
        einsum.einsum, "...ij,jk->...ik", i.r(2, 2, 3), i.r(3, 4, seed=1)
    ),
)


# ----------------------------------------------------------------------------- gradients
FD = dict(
    rtol=1e-3,
    why="central differences keep about eps^(2/3) of f, 2.4e-5 in float32 "
    "(2.3e-5 measured on these calls)",
)
add(
    gradients,
    check_point=lambda i: call(gradients.check_point, "x", i.r(3)),
    as_vector=lambda i: call(gradients.as_vector, i.r(())),
    check_direction=lambda i: call(
        gradients.check_direction, i.r(3), i.r(3, seed=1), 1e-3
    ),
    step=case(lambda i: call(gradients.step, 1e-3, F64), **PURE),
    directional_derivative=case(
        lambda i: call(
            gradients.directional_derivative, torch.sin, i.r(3), i.r(3, seed=1)
        ),
        **FD,
    ),
    jacobian_fd=case(lambda i: call(gradients.jacobian_fd, torch.sin, i.r(3)), **FD),
    jacobian_rev=lambda i: call(gradients.jacobian_rev, torch.sin, i.r(3)),
    jacobian_fwd=lambda i: call(gradients.jacobian_fwd, torch.sin, i.r(3)),
    chain_rule=lambda i: call(
        gradients.chain_rule, torch.sin, lambda x: x[:2] * x[1:], i.r(3)
    ),
    linearize=lambda i: (lambda f: call(f, i.r(3, seed=1)))(
        gradients.linearize(torch.sin, i.r(3))
    ),
)


# ----------------------------------------------------------------------------- linear_algebra
add(
    linear_algebra,
    broadcast_shape=case(
        lambda i: call(linear_algebra.broadcast_shape, "a", (2, 1), "b", (3,)), **PURE
    ),
    check_cosine=lambda i: call(
        linear_algebra.check_cosine, i.r(2, 3), i.r(3, seed=1), -1, 1e-8
    ),
    check_similarity=lambda i: call(
        linear_algebra.check_similarity, i.r(2, 3), i.r(4, 3, seed=1), 1e-8
    ),
    check_matmul=lambda i: call(
        linear_algebra.check_matmul, i.r(2, 1, 2, 3), i.r(5, 3, 4, seed=1)
    ),
    check_same_shape=lambda i: call(
        linear_algebra.check_same_shape, i.r(2, 3), i.r(2, 3, seed=1)
    ),
    check_layers=lambda i: call(
        linear_algebra.check_layers,
        i.r(4, 3),
        i.r(4, seed=1),
        i.r(2, 4, seed=2),
        i.r(2, seed=3),
    ),
    cosine_similarity=lambda i: call(
        linear_algebra.cosine_similarity, i.r(2, 3), i.r(3, seed=1)
    ),
    similarity_matrix=lambda i: call(
        linear_algebra.similarity_matrix, i.r(2, 3), i.r(4, 3, seed=1)
    ),
    batched_matmul=lambda i: call(
        linear_algebra.batched_matmul, i.r(2, 1, 2, 3), i.r(3, 3, 4, seed=1)
    ),
    linearity_defect=lambda i: call(
        linear_algebra.linearity_defect,
        lambda x: x * x,
        i.r(3),
        i.r(3, seed=1),
        2.0,
        -1.0,
    ),
    collapse_linear=lambda i: call(
        linear_algebra.collapse_linear,
        i.r(3, 2),
        i.r(3, seed=1),
        i.r(4, 3, seed=2),
        i.r(4, seed=3),
    ),
)


# ----------------------------------------------------------------------------- logistic_regression
LR = logistic_regression
Y4 = [0, 2, 1, 1, 0, 2, 1, 0]


def probs(i, n=8):
    return torch.softmax(2 * i.r(n, 3), 1)


add(
    LR,
    check_finite=lambda i: call(LR.check_finite, "x", i.r(2, 3), 2),
    check_row_max=lambda i: call(LR.check_row_max, "x", i.r(4, 1)),
    check_rates=case(lambda i: call(LR.check_rates, 0.5, l2=0.1), **PURE),
    check_classes=lambda i: call(LR.check_classes, i.r(4, 3), T([0, 2, 1, 1])),
    check_targets=case(lambda i: call(LR.check_targets, T([0, 2, 1]), 3, 3), **PURE),
    check_regression=lambda i: call(
        LR.check_regression, i.r(4, 2), i.r(4, seed=1), 5, 0.5, lam=0.1
    ),
    check_fit=lambda i: call(LR.check_fit, i.r(8, 2), T(Y4), 3, 5, 0.5, l2=0.1),
    check_model=lambda i: call(
        LR.check_model, i.r(4, 2), i.r(3, 2, seed=1), i.r(3, seed=2)
    ),
    check_bins=lambda i: call(LR.check_bins, probs(i), T(Y4), 4),
    check_temperature=lambda i: call(
        LR.check_temperature,
        i.r(8, 3),
        T(Y4),
        lambda beta: beta - 1.0,  # a slope that changes sign at beta = 1
        1e-4,
        1e4,
    ),
    check_costs=lambda i: call(
        LR.check_costs, probs(i), 1 - torch.eye(3, dtype=i.real)
    ),
    check_conformal=lambda i: call(LR.check_conformal, probs(i), T(Y4), 0.5),
    least_squares=lambda i: call(LR.least_squares, i.r(6, 2), i.r(6, seed=1)),
    least_squares_gd=lambda i: call(LR.least_squares_gd, i.r(6, 2), i.r(6, seed=1), 5),
    ridge=lambda i: call(LR.ridge, i.r(6, 2), i.r(6), 0.1),
    huber=case(lambda i: call(LR.huber, 2 * i.r(6), 1.0), bfloat16=ELEMENTWISE_BF16),
    exp_shifted=case(
        lambda i: call(LR.exp_shifted, i.r(4, 3)), bfloat16=SMALL_SUM_BF16
    ),
    logsumexp=case(lambda i: call(LR.logsumexp, i.r(4, 3), 0), bfloat16=SMALL_SUM_BF16),
    log_softmax=case(
        lambda i: call(LR.log_softmax, i.r(4, 3)), bfloat16=SMALL_SUM_BF16
    ),
    softmax=case(lambda i: call(LR.softmax, i.r(4, 3)), bfloat16=SMALL_SUM_BF16),
    cross_entropy=case(
        lambda i: call(LR.cross_entropy, i.r(4, 3), T([0, 2, 1, 1])),
        bfloat16=SMALL_SUM_BF16,
    ),
    cross_entropy_grad=case(
        lambda i: call(LR.cross_entropy_grad, i.r(4, 3), T([0, 2, 1, 1])),
        bfloat16=SMALL_SUM_BF16,
    ),
    check_binary=lambda i: call(
        LR.check_binary, i.r(4), torch.rand(4, generator=gen()).to(i.real)
    ),
    binary_cross_entropy_with_logits=case(
        lambda i: call(
            LR.binary_cross_entropy_with_logits, i.r(4), i.t([0.0, 1.0, 0.5, 1.0])
        ),
        bfloat16=SMALL_SUM_BF16,
    ),
    binary_cross_entropy_with_logits_grad=case(
        lambda i: call(
            LR.binary_cross_entropy_with_logits_grad, i.r(4), i.t([0.0, 1.0, 0.5, 1.0])
        ),
        bfloat16=SMALL_SUM_BF16,
    ),
    smoothness=lambda i: call(LR.smoothness, i.r(6, 2), 0.1),
    fit=lambda i: call(LR.fit, i.r(8, 2), T(Y4), 3, steps=3),
    predict_proba=lambda i: call(
        LR.predict_proba, i.r(4, 2), i.r(3, 2, seed=1), i.r(3, seed=2)
    ),
    reliability=lambda i: call(LR.reliability, probs(i), T(Y4), 4),
    expected_calibration_error=lambda i: call(
        LR.expected_calibration_error, probs(i), T(Y4), 4
    ),
    fit_temperature=lambda i: call(
        LR.fit_temperature,  # logits that lean to the targets
        i.r(8, 3) + 2 * torch.eye(3, dtype=i.real)[Y4],
        T(Y4),
        iters=20,
    ),
    bayes_decision=lambda i: call(
        LR.bayes_decision, probs(i), 1 - torch.eye(3, dtype=i.real)
    ),
    conformal_threshold=lambda i: call(LR.conformal_threshold, probs(i), T(Y4), 0.5),
    prediction_sets=lambda i: call(LR.prediction_sets, probs(i), 0.55),
)


# ----------------------------------------------------------------------------- losses
add(
    losses,
    check_scale=case(lambda i: call(losses.check_scale, "sigma", 0.5), **PURE),
    check_margin=lambda i: call(
        losses.check_margin, i.r(4), i.t([1.0, -1.0, -1.0, 1.0])
    ),
    check_risk=lambda i: call(
        losses.check_risk, lambda X: X.sum(1), i.r(4, 2), i.r(4, seed=1)
    ),
    check_nll=lambda i: call(losses.check_nll, i.r(4), i.r(2, 1, seed=1), sigma=0.5),
    check_regression=lambda i: call(
        losses.check_regression, i.r(4, 2), i.r(4, seed=1), sigma=1.0, tau=2.0
    ),
    check_lasso=lambda i: call(
        losses.check_lasso, i.r(4, 2), i.r(4, seed=1), 1.0, 1.0, 5
    ),
    check_predictive=lambda i: call(
        losses.check_predictive,
        i.r(3, 2),
        i.r(2, seed=1),
        torch.eye(2, dtype=i.real) * 0.5,
        1.0,
    ),
    margin=case(
        lambda i: call(losses.margin, i.r(4), i.t([1.0, -1.0, -1.0, 1.0])),
        bfloat16=ELEMENTWISE_BF16,
    ),
    zero_one_loss=case(
        lambda i: call(losses.zero_one_loss, i.r(4)), bfloat16=ELEMENTWISE_BF16
    ),
    hinge_loss=case(
        lambda i: call(losses.hinge_loss, 2 * i.r(4)), bfloat16=ELEMENTWISE_BF16
    ),
    logistic_loss=case(
        lambda i: call(losses.logistic_loss, 2 * i.r(4)), bfloat16=ELEMENTWISE_BF16
    ),
    empirical_risk=lambda i: call(
        losses.empirical_risk,
        lambda y, p: (y - p) ** 2,
        lambda X: X.sum(1),
        i.r(4, 2),
        i.r(4, seed=1),
    ),
    gaussian_nll=case(
        lambda i: call(losses.gaussian_nll, i.r(4), i.r(4, seed=1), 0.5),
        bfloat16=ELEMENTWISE_BF16,
    ),
    laplace_nll=case(
        lambda i: call(losses.laplace_nll, i.r(4), i.r(4, seed=1), 0.5),
        bfloat16=ELEMENTWISE_BF16,
    ),
    ridge_map=lambda i: call(losses.ridge_map, i.r(6, 2), i.r(6), 1.0, 2.0),
    lasso_map=lambda i: call(
        losses.lasso_map, i.r(6, 2), i.r(6, seed=1), 1.0, 1.0, steps=5
    ),
    blr_posterior=lambda i: call(losses.blr_posterior, i.r(6, 2), i.r(6), 1.0, 2.0),
    blr_predictive=lambda i: call(
        losses.blr_predictive,
        i.r(3, 2),
        i.r(2, seed=1),
        torch.eye(2, dtype=i.real) * 0.5,
        1.0,
    ),
)


# ----------------------------------------------------------------------------- mlp
def layers(i):
    return [(i.r(4, 3, seed=1), i.r(4, seed=2)), (i.r(2, 4, seed=3), None)]


ACTIVATION = dict(bfloat16=ELEMENTWISE_BF16)
add(
    mlp,
    check_slopes=lambda i: call(mlp.check_slopes, i.r(3), a=0.1),
    check_prelu=lambda i: call(mlp.check_prelu, i.r(2, 3, 2), i.r(3, seed=1)),
    check_grad=lambda i: call(mlp.check_grad, i.r(2, 4), (2, 4), "y's"),
    check_glu=lambda i: call(mlp.check_glu, i.r(2, 4), -1),
    check_ffn=lambda i: call(
        mlp.check_ffn,
        i.r(2, 3),
        i.r(4, 3, seed=1),
        i.r(4, 3, seed=2),
        i.r(2, 4, seed=3),
        "swiglu",
        i.r(2, 2, seed=4),
    ),
    check_knots=lambda i: call(mlp.check_knots, i.t([-1.0, 0.0, 0.5, 2.0]), i.r(4)),
    **{
        name: case(lambda i, f=getattr(mlp, name): call(f, 2 * i.r(2, 3)), **ACTIVATION)
        for name in (
            "relu",
            "relu_grad",
            "sigmoid",
            "sigmoid_grad",
            "tanh",
            "tanh_grad",
            "softplus",
            "softplus_grad",
            "gelu",
            "gelu_grad",
            "gelu_tanh",
            "gelu_tanh_grad",
            "silu",
            "silu_grad",
        )
    },
    leaky_relu=case(lambda i: call(mlp.leaky_relu, 2 * i.r(2, 3), 0.1), **ACTIVATION),
    leaky_relu_grad=case(
        lambda i: call(mlp.leaky_relu_grad, 2 * i.r(2, 3), 0.1), **ACTIVATION
    ),
    elu=case(lambda i: call(mlp.elu, 2 * i.r(2, 3), 0.5), **ACTIVATION),
    elu_grad=case(lambda i: call(mlp.elu_grad, 2 * i.r(2, 3), 0.5), **ACTIVATION),
    prelu=lambda i: call(mlp.prelu, i.r(2, 3, 2), i.r(3, seed=1)),
    prelu_grad=lambda i: call(mlp.prelu_grad, i.r(2, 3, 2), i.r(3, seed=1)),
    glu=lambda i: call(mlp.glu, i.r(2, 4)),
    glu_ffn=lambda i: call(
        mlp.glu_ffn,
        i.r(2, 3),
        i.r(4, 3, seed=1),
        i.r(4, 3, seed=2),
        i.r(2, 4, seed=3),
        "geglu",
    ),
    glu_ffn_backward=lambda i: call(
        mlp.glu_ffn_backward,
        i.r(2, 3),
        i.r(4, 3, seed=1),
        i.r(4, 3, seed=2),
        i.r(2, 4, seed=3),
        "swiglu",
        i.r(2, 2, seed=4),
    ),
    check_linear=lambda i: call(
        mlp.check_linear, i.r(2, 3), i.r(4, 3), i.r(4), i.r(2, 4, seed=1)
    ),
    linear=lambda i: call(mlp.linear, i.r(2, 3), i.r(4, 3, seed=1), i.r(4, seed=2)),
    linear_backward=lambda i: call(
        mlp.linear_backward, i.r(2, 3), i.r(4, 3, seed=1), i.r(2, 4, seed=2)
    ),
    check_layers=lambda i: call(
        mlp.check_layers, i.r(2, 3), layers(i), i.r(2, 2, seed=5)
    ),
    mlp=lambda i: call(mlp.mlp, i.r(2, 3), layers(i), mlp.tanh),
    mlp_input_grad=lambda i: call(
        mlp.mlp_input_grad,
        i.r(2, 3),
        layers(i),
        mlp.tanh,
        mlp.tanh_grad,
        i.r(2, 2, seed=5),
    ),
    relu_interpolant=lambda i: call(
        mlp.relu_interpolant, i.t([-1.0, 0.0, 0.5, 2.0]), i.r(4)
    ),
)


# ----------------------------------------------------------------------------- next_token
NT = next_token
TOK = NT.CharTokenizer("hello world")
add(
    NT,
    check_ids=case(lambda i: call(NT.check_ids, T([0, 3, 1]), 4), **PURE),
    check_text=case(lambda i: call(NT.check_text, "hello"), **PURE),
    check_known=case(lambda i: call(NT.check_known, "hold", TOK.stoi), **PURE),
    check_embed=lambda i: call(NT.check_embed, T([[0, 2], [1, 1]]), i.r(4, 3)),
    check_embed_grad=lambda i: call(
        NT.check_embed_grad, T([[0, 2], [1, 1]]), i.r(2, 2, 3), 4
    ),
    check_windows=case(lambda i: call(NT.check_windows, T([0, 1, 2, 3, 1]), 3), **PURE),
    check_logits=lambda i: call(
        NT.check_logits, i.r(2, 3, 4), T([[0, 1, 3], [2, 2, 1]]), "mean"
    ),
    check_counts=case(
        lambda i: call(NT.check_counts, T([[0, 2, 1], [0, 0, 0], [3, 0, 1]])), **PURE
    ),
    CharTokenizer=case(lambda i: lambda: NT.CharTokenizer("hello").vocab, **PURE),
    **{
        "CharTokenizer.encode": case(
            lambda i: call(TOK.encode, "hold", device=i.device), factory=True, **PURE
        ),
        "CharTokenizer.decode": case(lambda i: call(TOK.decode, T([1, 2, 3])), **PURE),
    },
    one_hot=lambda i: call(NT.one_hot, T([0, 2, 1]), 4, dtype=i.dtype),
    embed=lambda i: call(NT.embed, T([[0, 2], [1, 1]]), i.r(4, 3)),
    embed_grad=lambda i: call(NT.embed_grad, T([[0, 2], [1, 1]]), i.r(2, 2, 3), 4),
    windows=case(lambda i: call(NT.windows, T([0, 1, 2, 3, 1]), 3), **PURE),
    next_token_loss=lambda i: call(
        NT.next_token_loss, i.r(2, 3, 4), T([[0, 1, 3], [2, 2, 1]])
    ),
    prefix_mean=lambda i: call(NT.prefix_mean, i.r(2, 3, 4)),
    bigram_counts=case(lambda i: call(NT.bigram_counts, T([0, 1, 2, 1, 0]), 3), **PURE),
    next_token_distribution=case(
        lambda i: call(
            NT.next_token_distribution, T([[0, 2, 1], [0, 0, 0], [3, 0, 1]])
        ),
        **PURE,
    ),
)


# ----------------------------------------------------------------------------- optim
def stepped(i, make, steps=2):
    p, q = i.r(3).requires_grad_(), i.r(2, seed=1).requires_grad_()
    p.grad, q.grad = i.r(3, seed=2), None

    def run():
        opt = make([p, q])
        for _ in range(steps):
            opt.step()
        return p.detach().clone(), q.detach().clone()

    return run


def zero_grad(i):
    p = i.r(3).requires_grad_()
    p.grad = i.r(3, seed=1)
    opt = optim.Optimizer([p])
    return lambda: (opt.zero_grad(), p.grad)


STEP_BF16 = dict(bfloat16=ELEMENTWISE_BF16)
add(
    optim,
    check_params=lambda i: call(optim.check_params, [i.r(3).requires_grad_()]),
    as_real=case(lambda i: call(optim.as_real, i.c(3)), **COMPLEX_DTYPES),
    Optimizer=lambda i: call(lambda ps: optim.Optimizer(ps).params, [i.r(3)]),
    **{"Optimizer.zero_grad": zero_grad},
    check_sgd=case(lambda i: call(optim.check_sgd, 0.1, 0.9, 0.0, 0.0, True), **PURE),
    check_adam=case(
        lambda i: call(optim.check_adam, 0.1, (0.9, 0.999), 1e-8, 0.0), **PURE
    ),
    check_epoch=case(lambda i: call(optim.check_epoch, 7, 3), **PURE),
    # elementwise updates: a few roundings of each entry per step (3.7e-3 measured in bfloat16)
    SGD=case(
        lambda i: stepped(
            i, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 0
        ),
        **STEP_BF16,
    ),
    **{
        "SGD.step": case(
            lambda i: stepped(
                i, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1)
            ),
            **STEP_BF16,
        ),
        "Adam.step": case(
            lambda i: stepped(i, lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1)),
            **STEP_BF16,
        ),
    },
    Adam=case(lambda i: stepped(i, lambda ps: optim.Adam(ps, lr=0.1), 0), **STEP_BF16),
    AdamW=case(lambda i: stepped(i, lambda ps: optim.AdamW(ps, lr=0.1)), **STEP_BF16),
    minibatches=case(
        lambda i: call(optim.minibatches, 7, 3, gen(1), device=i.device),
        factory=True,
        **PURE,
    ),
)


# ----------------------------------------------------------------------------- reading_list
RL = reading_list
HALF = dict(s=lambda h: 0.5 * torch.tanh(h), t=lambda h: h * h)
add(
    RL,
    check_square=lambda i: call(RL.check_square, "M", i.r(3, 3)),
    check_dropout=lambda i: call(RL.check_dropout, i.r(4, 3), 0.5, i.r(4, 3, seed=1)),
    check_keep=case(lambda i: call(RL.check_keep, 0.3, torch.float64), **PURE),
    check_max_norm=lambda i: call(RL.check_max_norm, i.r(3, 4), 1.5),
    check_norm=lambda i: call(
        RL.check_norm, i.r(2, 3, 4), (3, 4), 1e-5, i.r(3, 4, seed=1), None
    ),
    check_adanorm=case(lambda i: call(RL.check_adanorm, 1.0, 0.1), **PURE),
    dropout=lambda i: call(RL.dropout, i.r(4, 3), 0.5, mask=i.r(4, 3, seed=1) > 0),
    all_masks=case(lambda i: call(RL.all_masks, 3, **i.factory), factory=True),
    expected_over_masks=case(
        lambda i: call(
            RL.expected_over_masks, lambda m: m * m.sum(), 3, 0.3, **i.factory
        ),
        factory=True,
    ),
    max_norm=lambda i: call(RL.max_norm, 2 * i.r(3, 4), 1.5),
    layer_norm=lambda i: call(
        RL.layer_norm, i.r(2, 3, 4), (3, 4), i.r(3, 4, seed=1), i.r(3, 4, seed=2)
    ),
    layer_norm_backward=lambda i: call(
        RL.layer_norm_backward, i.r(2, 4), i.r(2, 4, seed=1), (4,)
    ),
    adanorm=lambda i: call(RL.adanorm, i.r(2, 4)),
    check_gate=lambda i: call(RL.check_gate, i.r(3), i.r(3, seed=1)),
    gtu=case(
        lambda i: call(RL.gtu, i.r(2, 3), i.r(2, 3, seed=1)), bfloat16=ELEMENTWISE_BF16
    ),
    glu_backward=lambda i: call(
        RL.glu_backward, i.r(3), i.r(3, seed=1), i.r(3, seed=2)
    ),
    gtu_backward=lambda i: call(
        RL.gtu_backward, i.r(3), i.r(3, seed=1), i.r(3, seed=2)
    ),
    halves=lambda i: call(RL.halves, i.r(2, 5), "x"),
    apply_half=lambda i: call(
        RL.apply_half, torch.tanh, i.r(2, 2), i.r(2, 2, seed=1), "s"
    ),
    affine_coupling=lambda i: call(RL.affine_coupling, i.r(2, 4), **HALF),
    affine_coupling_inverse=lambda i: call(
        RL.affine_coupling_inverse, i.r(2, 4), **HALF
    ),
    additive_coupling=lambda i: call(RL.additive_coupling, i.r(2, 4), torch.sin),
    additive_coupling_inverse=lambda i: call(
        RL.additive_coupling_inverse, i.r(2, 4), torch.sin
    ),
    check_linear_blocks=lambda i: call(
        RL.check_linear_blocks, i.r(2, 3), [i.r(3, 3, seed=1)]
    ),
    residual_chain=lambda i: call(
        RL.residual_chain, i.r(2, 3), [torch.tanh, torch.sin]
    ),
    path_terms=lambda i: call(
        RL.path_terms, i.r(2, 3), [i.r(3, 3, seed=1), i.r(3, 3, seed=2)]
    ),
    unrolled_residual=lambda i: call(
        RL.unrolled_residual, i.r(2, 3), [i.r(3, 3, seed=1), i.r(3, 3, seed=2)]
    ),
    flow=lambda i: call(RL.flow, i.r(3, 3), 0.1, "euler"),
    check_split=lambda i: call(
        RL.check_split, i.r(3, 3), i.r(3, 3, seed=1), "strang", "exact"
    ),
    check_split_solve=lambda i: call(
        RL.check_split_solve,
        i.r(3, 3),
        i.r(3, 3, seed=1),
        i.r(3, seed=2),
        4,
        "strang",
        "exact",
    ),
    split_step=lambda i: call(RL.split_step, i.r(3, 3), i.r(3, 3, seed=1), 0.1),
    split_solve=lambda i: call(
        RL.split_solve,
        i.r(3, 3),
        i.r(3, 3, seed=1),
        i.r(3, seed=2),
        0.5,
        4,
        "lie_trotter",
        "euler",
    ),
)


# ----------------------------------------------------------------------------- s4
def nplr_kernel(i):
    Lambda, P, B, _ = s4.nplr_legs(4, dtype=COMPLEX[i.dtype])
    return call(s4.kernel_nplr, Lambda, P, P, B, i.c(4), 0.1, 8)


def nplr_check(i):
    Lambda, P, B, _ = s4.nplr_legs(4, dtype=COMPLEX[i.dtype])
    return call(s4.check_nplr, Lambda, P, P, B, i.c(4), 8)


def stable(i, N=3):
    """A / N - 2 I for A with N(0, 1) entries: eigenvalues near -2, a stable system."""
    return i.r(N, N) / N - 2 * torch.eye(N, dtype=i.real)


add(
    s4,
    check_system=lambda i: call(s4.check_system, i.r(3, 3), i.r(3), i.r(3)),
    check_vectors=lambda i: call(
        s4.check_vectors, Lambda=i.r(2, 3), B=i.r(2, 3, seed=1)
    ),
    check_discrete=lambda i: call(
        s4.check_discrete,
        0.5 * torch.eye(3, dtype=i.real),
        i.r(3),
        i.r(3, seed=1),
        u=i.r(6, seed=2),
    ),
    check_kernel=lambda i: call(
        s4.check_kernel, 8, Lambda=i.r(2, 3), B=i.r(2, 3, seed=1)
    ),
    check_vandermonde=case(
        lambda i: call(s4.check_vandermonde, i.c(4), -0.5 + 1j * i.r(4, seed=1), 10),
        **COMPLEX_DTYPES,
    ),
    check_nplr=case(nplr_check, **COMPLEX_DTYPES),
    check_legs=case(lambda i: call(s4.check_legs, 4, torch.complex128, True), **PURE),
    # checks step: not on meta
    as_step=lambda i: call(s4.as_step, 0.1, (), i.dtype, i.device),
    common_dtype=lambda i: call(
        s4.common_dtype, i.r(3, 3), i.r(3).to(COMPLEX[i.dtype])
    ),
    hippo_legs=case(lambda i: call(s4.hippo_legs, 4, **i.factory), factory=True),
    discretize_bilinear=lambda i: call(s4.discretize_bilinear, stable(i), i.r(3), 0.1),
    discretize_zoh=lambda i: call(s4.discretize_zoh, stable(i), i.r(3), 0.1),
    scan=lambda i: call(
        s4.scan,
        0.5 * torch.eye(3, dtype=i.real),
        i.r(3),
        i.r(3, seed=1),
        i.r(6, seed=2),
    ),
    kernel_naive=lambda i: call(
        s4.kernel_naive,
        0.5 * torch.eye(3, dtype=i.real) + 0.1 * i.r(3, 3),
        i.r(3),
        i.r(3, seed=1),
        6,
    ),
    causal_conv=lambda i: call(s4.causal_conv, i.r(6), i.r(6, seed=1), D=0.5),
    vandermonde=case(
        lambda i: call(s4.vandermonde, i.c(4), -0.5 + 1j * i.r(4, seed=1), 10),
        **COMPLEX_DTYPES,
    ),
    kernel_s4d=case(
        lambda i: call(
            s4.kernel_s4d, -0.5 + 1j * i.r(4), i.c(4, seed=1), i.c(4, seed=2), 0.1, 8
        ),
        **COMPLEX_DTYPES,
    ),
    nplr_legs=case(
        lambda i: call(s4.nplr_legs, 4, **i.factory), factory=True, **COMPLEX_DTYPES
    ),
    kernel_nplr=case(nplr_kernel, **COMPLEX_DTYPES),
)


# ----------------------------------------------------------------------------- score_models
SM = score_models


def mix(i):
    return SM.example_mixture(i.real)


def points(i, n=5):
    return i.r(n, 2)


def noise_score(x, sigma):
    return -x / (
        1 + torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1) ** 2
    )


def score_net(i):
    """Its weights drawn in float64, then rounded: uniform_ draws other numbers in float32."""
    return SM.ScoreNet(d=2, hidden=8, sigma_data=1.0, generator=gen(1)).to(i.real)


def trained(i):
    net, data = score_net(i), i.r(32, 2)
    return lambda: (
        SM.train_score_net(net, data, 0.05, 5.0, 2, gen(2), batch=8),
        list(net.parameters()),
    )


# torch.randn draws the same normal numbers (to float32 rounding) in float32 and float64 from
# one generator, so the samplers compare at the default rtol; torch.rand and uniform_ do not.
add(
    SM,
    check_mixture=lambda i: call(SM.check_mixture, *mix(i)),
    check_points=lambda i: call(SM.check_points, points(i), *mix(i), 0.1),
    check_sample=lambda i: call(SM.check_sample, 3, *mix(i)),
    check_sigma=case(lambda i: call(SM.check_sigma, 0.5), **PURE),
    check_dtype=case(lambda i: call(SM.check_dtype, torch.float32), **PURE),
    check_like_points=lambda i: call(
        SM.check_like_points, "v", i.r(5, 2, seed=1), points(i)
    ),
    check_explicit=lambda i: call(SM.check_explicit, points(i), i.r(5, 2, seed=1)),
    check_dsm=lambda i: call(SM.check_dsm, points(i), i.r(5, 2, seed=1), 0.5),
    check_langevin=lambda i: call(SM.check_langevin, points(i), 0.1, 3, 1.0),
    check_sigma_range=case(lambda i: call(SM.check_sigma_range, 0.1, 5.0), **PURE),
    check_geometric=case(
        lambda i: call(SM.check_geometric, 5.0, 0.1, 4, torch.float64), **PURE
    ),
    check_sigmas=case(lambda i: call(SM.check_sigmas, [1.0, 0.5]), **PURE),
    check_score_net=case(
        lambda i: call(SM.check_score_net, 2, 8, 1.0, torch.float32), **PURE
    ),
    check_noised_points=lambda i: call(SM.check_noised_points, points(i), 0.5),
    check_training=lambda i: call(SM.check_training, i.r(32, 2), 0.05, 5.0, 2, 8),
    example_mixture=case(lambda i: call(SM.example_mixture, **i.factory), factory=True),
    components=lambda i: call(SM.components, points(i), *mix(i), sigma=0.1),
    mixture_log_prob=lambda i: call(SM.mixture_log_prob, points(i), *mix(i), sigma=0.1),
    mixture_score=lambda i: call(SM.mixture_score, points(i), *mix(i)),
    responsibilities=lambda i: call(SM.responsibilities, points(i), *mix(i)),
    mixture_moments=lambda i: call(SM.mixture_moments, *mix(i)),
    mixture_sample=case(lambda i: call(SM.mixture_sample, 5, *mix(i), gen(4))),
    moment_tolerances=lambda i: call(
        SM.moment_tolerances, *mix(i), 100, weight_allowance=0.01
    ),
    error_over_tolerance=lambda i: call(SM.error_over_tolerance, points(i, 8), *mix(i)),
    value_and_trace=lambda i: call(
        SM.value_and_trace, lambda x: torch.sin(x) * x.sum(1, keepdim=True), points(i)
    ),
    explicit_score_matching_loss=lambda i: call(
        SM.explicit_score_matching_loss, points(i), i.r(5, 2, seed=1)
    ),
    implicit_score_matching_loss=lambda i: call(
        SM.implicit_score_matching_loss, torch.tanh, points(i)
    ),
    sliced_score_matching_loss=lambda i: call(
        SM.sliced_score_matching_loss, torch.tanh, points(i), i.r(5, 2, seed=1)
    ),
    dsm_loss=lambda i: call(
        SM.dsm_loss, noise_score, points(i), i.r(5, 2, seed=1), 0.5
    ),
    langevin=case(lambda i: call(SM.langevin, lambda x: -x, points(i), 0.1, 3, gen(5))),
    geometric_sigmas=case(
        lambda i: call(SM.geometric_sigmas, 5.0, 0.1, 4, **i.factory), factory=True
    ),
    annealed_langevin=case(
        lambda i: call(
            SM.annealed_langevin, noise_score, points(i), [1.0, 0.5], 0.1, 2, gen(6)
        )
    ),
    ScoreNet=case(
        lambda i: (
            lambda: list(
                SM.ScoreNet(d=2, hidden=8, generator=gen(1), **i.factory).parameters()
            )
        ),
        factory=True,
        compare="uniform_ draws other numbers in float32 than in "
        "float64 from one generator",
    ),
    **{"ScoreNet.forward": lambda i: call(score_net(i), points(i), 0.5)},
    train_score_net=case(
        trained,
        compare="torch.rand draws other numbers in float32 than in "
        "float64 from one generator: the noise levels differ",
    ),
    ve_sigma=case(lambda i: call(SM.ve_sigma, 0.5, 0.1, 5.0), **PURE),
    ve_g2=case(lambda i: call(SM.ve_g2, 0.5, 0.1, 5.0), **PURE),
    rk4=lambda i: call(SM.rk4, lambda x, t: -x * (1 + t), points(i), 0.0, 1.0, 3),
    probability_flow_drift=lambda i: call(
        SM.probability_flow_drift(noise_score, 0.1, 5.0), points(i), 0.5
    ),
    probability_flow_ode=lambda i: call(
        SM.probability_flow_ode, noise_score, points(i), 0.1, 5.0, 3
    ),
)


# ----------------------------------------------------------------------------- symmetry
SY = symmetry


def recovered(i):
    X = i.r(4, 2)
    G = X @ X.T
    # Xh is unique up to Q
    return lambda: (lambda Xh: Xh @ Xh.T)(SY.recover_from_gram(G, 2))


add(
    SY,
    check_cloud=lambda i: call(SY.check_cloud, "X", i.r(3, 2)),
    check_square=lambda i: call(SY.check_square, "G", i.r(3, 3)),
    check_orthogonal=case(lambda i: call(SY.check_orthogonal, 3, i.dtype), **PURE),
    check_weights=lambda i: call(SY.check_weights, i.r(2, 3), i.r(3, 2, seed=1)),
    check_procrustes=lambda i: call(SY.check_procrustes, i.r(3, 2), i.r(3, 2, seed=1)),
    check_recover=lambda i: call(SY.check_recover, i.r(3, 3), 2),
    check_hidden=lambda i: call(
        SY.check_hidden,
        i.r(3, 2),
        i.r(3, seed=1),
        i.r(1, 3, seed=2),
        T([2, 0, 1]),
    ),
    # special=False: its det(Q) < 0 branch cannot run on meta, and makes no tensor
    random_orthogonal=case(
        lambda i: call(SY.random_orthogonal, 3, gen(1), **i.factory), factory=True
    ),
    random_permutation_matrix=case(
        lambda i: call(SY.random_permutation_matrix, 4, gen(2), **i.factory),
        factory=True,
    ),
    equivariance_defect=lambda i: call(
        SY.equivariance_defect, lambda X: X * X, i.r(3, 2), lambda X: X.flip(-1)
    ),
    gram=lambda i: call(SY.gram, i.r(3, 2)),
    distances_from_gram=lambda i: call(
        SY.distances_from_gram, (lambda X: X @ X.T)(i.r(3, 2))
    ),
    equivariant_from_gram=lambda i: call(
        SY.equivariant_from_gram, i.r(3, 2), torch.tanh
    ),
    procrustes=lambda i: call(SY.procrustes, i.r(4, 2), i.r(4, 2, seed=1)),
    recover_from_gram=recovered,
    centre=lambda i: call(SY.centre, i.r(3, 2)),
    sort_rows=lambda i: call(SY.sort_rows, i.r(5, 2)),
    permute_hidden=lambda i: call(
        SY.permute_hidden, i.r(3, 2), i.r(3), i.r(2, 3), T([2, 0, 1])
    ),
)


# -------------------------------------------------------------------------------- checks
add(
    checks,
    describe=case(lambda i: call(checks.describe, 3), **PURE),
    check_float=lambda i: call(checks.check_float, "x", i.r(2, 3), 2, finite=True),
    check_shape=lambda i: call(checks.check_shape, "w", i.r(2, 3), (2, 3), "x's"),
    check_int=case(lambda i: call(checks.check_int, "n", 3, 1, 5), **PURE),
    check_number=case(
        lambda i: call(checks.check_number, "lr", 0.1, positive=True), **PURE
    ),
    check_broadcast=lambda i: call(checks.check_broadcast, a=i.r(2, 3), b=i.r(3)),
    check_like=lambda i: call(checks.check_like, "y", i.r(3), "x", i.r(2)),
)


# Public callables without a case, and why.
EXEMPT: dict[str, str] = {}

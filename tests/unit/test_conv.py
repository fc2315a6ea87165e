"""snippets.conv against torch: forward and backward over random configurations, the teaching
functions, gradcheck of ConvFunction, and the errors for bad input."""

from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st

from snippets.conv import (
    ConvFunction,
    conv1d,
    conv1d_backward,
    conv1d_im2col,
    conv1d_input_grad_fold,
    conv1d_input_grad_transposed,
    conv1d_minimal,
    conv1d_weight_grad,
    conv2d,
    conv2d_backward,
    windows,
)

OURS = {1: (conv1d, conv1d_backward), 2: (conv2d, conv2d_backward)}
TORCH = {1: F.conv1d, 2: F.conv2d}
LAYOUTS = ["contiguous", "transposed", "sliced"]


def layout(x: torch.Tensor, how: str) -> torch.Tensor:
    """The same values as ``x`` in a non-contiguous layout: transposed storage, or a strided
    slice (with a non-zero storage offset) of a larger tensor."""
    if how == "transposed" and x.dim() >= 2:
        return x.transpose(0, -1).contiguous().transpose(0, -1)
    if how == "sliced":
        big = torch.zeros([2 * n + 1 for n in x.shape], dtype=x.dtype)
        view = big[tuple(slice(1, None, 2) for _ in x.shape)]
        view.copy_(x)
        return view
    return x


def tolerances(dtype: torch.dtype) -> dict:
    """assert_close tolerances: float32 sums of up to a few hundred products, or the defaults."""
    return dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}


def autograd_grads(conv, x, w, bias, grad_output, **kwargs):
    """(dL_dx, dL_dw, dL_dbias) of torch's convolution, by autograd."""
    leaves = [t.detach().requires_grad_() for t in (x, w, bias)]
    y = conv(*leaves, **kwargs)
    return torch.autograd.grad(y, leaves, grad_output)


class Case(NamedTuple):
    """A convolution's operands and arguments; ``n`` is 1 (conv1d) or 2 (conv2d)."""

    n: int
    x: torch.Tensor
    w: torch.Tensor
    bias: torch.Tensor | None
    grad_output: torch.Tensor
    kwargs: dict
    output_mask: tuple[bool, bool, bool] = (True, True, True)


@st.composite
def conv_cases(draw, n: int):
    """A random conv{n}d configuration that torch accepts, with float32 or float64 operands in
    contiguous or non-contiguous layouts and an upstream gradient of the output's shape.

    Per spatial axis the kernel is random (1-4), 1, the input's size, or the largest that fits
    the padded input; stride, padding and dilation are given as ints or tuples."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    batch = draw(st.integers(1, 3))
    size, kernel, stride, padding, dilation = [], [], [], [], []
    for _ in range(n):
        width, s, p, r = (
            draw(st.integers(1, 9)),
            draw(st.integers(1, 3)),
            draw(st.integers(0, 2)),
            draw(st.integers(1, 3)),
        )
        how = draw(st.sampled_from(["random", "one", "input", "fits"]))
        if how == "random":
            k = draw(st.integers(1, 4))
        elif how == "one":
            k = 1
        elif how == "input":
            k, r = width, 1
        else:
            k = (width + 2 * p - 1) // r + 1
        assume(r * (k - 1) + 1 <= width + 2 * p)
        for values, v in zip(
            (size, kernel, stride, padding, dilation), (width, k, s, p, r)
        ):
            values.append(v)
    args = {}
    for name, values in (
        ("stride", stride),
        ("padding", padding),
        ("dilation", dilation),
    ):
        as_int = len(set(values)) == 1 and draw(st.booleans())
        args[name] = values[0] if as_int else tuple(values)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(batch, c_in, *size, generator=gen, dtype=dtype)
    w = torch.randn(c_out, c_in // groups, *kernel, generator=gen, dtype=dtype)
    bias = (
        torch.randn(c_out, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    )
    out = [
        (size[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
        for a in range(n)
    ]
    grad_output = torch.randn(batch, c_out, *out, generator=gen, dtype=dtype)
    x, w, grad_output = (
        layout(t, draw(st.sampled_from(LAYOUTS))) for t in (x, w, grad_output)
    )
    mask = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    return Case(n, x, w, bias, grad_output, dict(args, groups=groups), mask)


def check_against_torch(case: Case) -> None:
    """Forward and all three gradients equal torch's; so do those the case's output_mask
    keeps, and the others are None."""
    conv, conv_backward = OURS[case.n]
    tol = tolerances(case.x.dtype)
    y = conv(case.x, case.w, case.bias, **case.kwargs)
    ref = TORCH[case.n](case.x, case.w, case.bias, **case.kwargs)
    assert y.shape == ref.shape and y.dtype == ref.dtype
    torch.testing.assert_close(y, ref, **tol, msg=lambda m: f"forward: {m}")

    bias = (
        case.bias
        if case.bias is not None
        else torch.zeros(case.w.shape[0], dtype=case.x.dtype)
    )
    expected = autograd_grads(
        TORCH[case.n], case.x, case.w, bias, case.grad_output, **case.kwargs
    )
    grads = conv_backward(case.grad_output, case.x, case.w, **case.kwargs)
    assert len(grads) == 3
    for name, ours, theirs in zip(("grad_x", "grad_w", "grad_bias"), grads, expected):
        assert ours.shape == theirs.shape, f"{name}: shape {tuple(ours.shape)}"
        torch.testing.assert_close(ours, theirs, **tol, msg=lambda m: f"{name}: {m}")

    masked = conv_backward(
        case.grad_output, case.x, case.w, **case.kwargs, output_mask=case.output_mask
    )
    for keep, ours, theirs in zip(case.output_mask, masked, expected):
        if keep:
            torch.testing.assert_close(ours, theirs, **tol)
        else:
            assert ours is None


@given(conv_cases(n=1))
def test_conv1d_matches_torch(case):
    check_against_torch(case)


@given(conv_cases(n=2))
def test_conv2d_matches_torch(case):
    check_against_torch(case)


@pytest.mark.parametrize("n", [1, 2])
def test_more_channels_than_one_copy_block(n):
    """20 input and 18 output channels in 2 groups: more than the 8 moved per block."""
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(2, 20, *(6,) * n, generator=gen, dtype=torch.float64)
    w = torch.randn(18, 10, *(3,) * n, generator=gen, dtype=torch.float64)
    bias = torch.randn(18, generator=gen, dtype=torch.float64)
    grad_output = torch.randn(2, 18, *(3,) * n, generator=gen, dtype=torch.float64)
    kwargs = dict(stride=2, padding=1, dilation=1, groups=2)
    check_against_torch(Case(n, layout(x, "sliced"), w, bias, grad_output, kwargs))


# Empty and size-1 axes: (x shape, w shape, with bias, keyword arguments). Where torch answers,
# conv{1,2}d and their backward give its answer; where torch raises, they raise ValueError.
EDGES = {
    "1d-empty-batch": ((0, 4, 9), (6, 4, 3), True, {}),
    "1d-empty-batch-strided": (
        (0, 4, 9),
        (6, 2, 3),
        True,
        dict(stride=2, padding=1, dilation=2, groups=2),
    ),
    "1d-all-ones": ((1, 1, 1), (1, 1, 1), True, {}),
    "1d-one-window": ((2, 3, 5), (1, 3, 5), False, {}),
    "1d-width-1-padded": ((2, 1, 1), (3, 1, 3), True, dict(padding=1)),
    "1d-stride-past-width": ((1, 2, 4), (2, 2, 2), False, dict(stride=5)),
    "1d-empty-kernel": ((2, 4, 9), (6, 4, 0), False, {}),
    "1d-no-output-channels": ((2, 4, 9), (0, 4, 3), False, {}),
    "1d-empty-width": ((2, 4, 0), (6, 4, 1), False, dict(padding=1)),
    "2d-empty-batch": ((0, 4, 5, 5), (6, 4, 3, 3), True, {}),
    "2d-empty-batch-strided": (
        (0, 2, 5, 6),
        (4, 1, 2, 3),
        True,
        dict(stride=(2, 1), dilation=(1, 2), groups=2),
    ),
    "2d-all-ones": ((1, 1, 1, 1), (1, 1, 1, 1), False, {}),
    "2d-height-1": ((1, 3, 1, 7), (2, 3, 1, 3), True, dict(stride=(1, 2))),
    "2d-one-window": ((2, 2, 4, 4), (3, 2, 4, 4), True, {}),
    "2d-1x1-padded": ((1, 1, 1, 1), (2, 1, 3, 3), True, dict(padding=1)),
    "2d-empty-kernel": ((2, 2, 5, 5), (3, 2, 3, 0), False, {}),
    "2d-empty-height": ((2, 2, 0, 5), (3, 2, 1, 1), False, {}),
}


@pytest.mark.parametrize("name", EDGES)
def test_empty_and_size_1_axes_as_torch(name):
    x_shape, w_shape, with_bias, kwargs = EDGES[name]
    n = len(x_shape) - 2
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=gen, dtype=torch.float64)
    w = torch.randn(w_shape, generator=gen, dtype=torch.float64)
    bias = (
        torch.randn(w_shape[0], generator=gen, dtype=torch.float64)
        if with_bias
        else None
    )
    try:
        ref = TORCH[n](x, w, bias, **kwargs)
    except RuntimeError:
        with pytest.raises(ValueError, match=r"w has an empty|x has an empty"):
            OURS[n][0](x, w, bias, **kwargs)
        return
    grad_output = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    args = dict(dict(stride=1, padding=0, dilation=1, groups=1), **kwargs)
    check_against_torch(Case(n, x, w, bias, grad_output, args))
    ours = ConvFunction.apply(
        x.requires_grad_(), w.requires_grad_(), bias, *args.values()
    )
    dL_dx, dL_dw = torch.autograd.grad(ours, (x, w), grad_output)
    expected = autograd_grads(
        TORCH[n], x, w, torch.zeros(w_shape[0], dtype=x.dtype), grad_output, **kwargs
    )
    torch.testing.assert_close((dL_dx, dL_dw), expected[:2])


class TeachingCase(NamedTuple):
    """Operands of a stride-1 unpadded conv1d, plus a stride and dilation for the strided ones."""

    x: torch.Tensor
    w: torch.Tensor
    stride: int
    dilation: int


@st.composite
def teaching_cases(draw):
    """Float64 x (batch, c_in, width) and w (c_out, c_in, K) with width >= K, often below 2K - 1
    (the fold then has no middle region); a stride and dilation with K dilated windows inside x."""
    K, stride, dilation = (
        draw(st.integers(1, 4)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
    )
    width = draw(st.integers(dilation * (K - 1) + 1, dilation * (K - 1) + 9))
    batch, c_in, c_out = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(batch, c_in, width, generator=gen, dtype=torch.float64)
    w = torch.randn(c_out, c_in, K, generator=gen, dtype=torch.float64)
    return TeachingCase(
        layout(x, draw(st.sampled_from(LAYOUTS))),
        layout(w, draw(st.sampled_from(LAYOUTS))),
        stride,
        dilation,
    )


def check_windows(x: torch.Tensor, K: int, stride: int, dilation: int) -> None:
    """windows() is a view of x's memory equal to unfold, and to the definition, elementwise."""
    X = windows(x, K, stride, dilation)
    assert X.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert X.data_ptr() == x.data_ptr()
    extent = dilation * (K - 1) + 1
    torch.testing.assert_close(
        X, x.unfold(2, extent, stride)[..., ::dilation], rtol=0, atol=0
    )
    for o in range(X.shape[2]):
        for k in range(K):
            assert torch.equal(X[:, :, o, k], x[:, :, o * stride + k * dilation])


def check_input_grads(x: torch.Tensor, w: torch.Tensor, stride: int) -> None:
    """The transposed convolution (at stride 1 and at ``stride``) and the fold (at stride 1)
    give autograd's gradient with respect to x."""
    batch, width, (c_out, _, K) = x.shape[0], x.shape[2], w.shape
    gen = torch.Generator().manual_seed(width * 100 + K * 10 + stride)
    for s in sorted({1, stride}):
        dL_dy = torch.randn(
            batch, c_out, (width - K) // s + 1, generator=gen, dtype=x.dtype
        )
        expected, _, _ = autograd_grads(
            F.conv1d, x, w, torch.zeros(c_out, dtype=x.dtype), dL_dy, stride=s
        )
        torch.testing.assert_close(
            conv1d_input_grad_transposed(dL_dy, w, width, s),
            expected,
            msg=lambda m: f"transposed, width {width} K {K} stride {s}: {m}",
        )
        if s == 1:
            torch.testing.assert_close(
                conv1d_input_grad_fold(dL_dy, w, width),
                expected,
                msg=lambda m: f"fold, width {width} K {K}: {m}",
            )


@given(teaching_cases())
def test_teaching_functions_match_torch(case):
    x, w, stride, dilation = case
    K = w.shape[2]
    check_windows(x, K, stride, dilation)
    y = F.conv1d(x, w)
    torch.testing.assert_close(conv1d_minimal(x, w), y)
    torch.testing.assert_close(conv1d_im2col(x, w), y)
    dL_dy = torch.randn(
        y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype
    )
    _, expected, _ = autograd_grads(
        F.conv1d, x, w, torch.zeros(w.shape[0], dtype=x.dtype), dL_dy
    )
    torch.testing.assert_close(conv1d_weight_grad(x, dL_dy, K), expected)
    check_input_grads(x, w, stride)


@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_input_grads_for_every_small_width(K):
    """Every width from K (one window) past 2K - 1 (the first with a middle), every stride."""
    gen = torch.Generator().manual_seed(K)
    for width in range(K, 2 * K + 3):
        for batch, c_in, c_out in ((1, 1, 1), (2, 3, 2)):
            x = torch.randn(batch, c_in, width, generator=gen, dtype=torch.float64)
            w = torch.randn(c_out, c_in, K, generator=gen, dtype=torch.float64)
            for stride in (1, 2, 3):
                check_input_grads(x, w, stride)


def test_transposed_gives_no_gradient_past_the_last_window():
    """Stride 3, K 3: windows at 0, 3, 6 cover width 9; at width 8 inputs 6 and 7 are in none."""
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64)
    for width, last_covered in ((9, 8), (8, 5), (7, 5)):
        x = torch.randn(1, 2, width, generator=gen, dtype=torch.float64)
        dL_dy = torch.randn(
            1, 3, (width - 3) // 3 + 1, generator=gen, dtype=torch.float64
        )
        dL_dx = conv1d_input_grad_transposed(dL_dy, w, width, stride=3)
        assert dL_dx.shape == (1, 2, width)
        assert torch.all(dL_dx[:, :, last_covered + 1 :] == 0)
        assert torch.all(dL_dx[:, :, last_covered] != 0)
        expected, _, _ = autograd_grads(
            F.conv1d, x, w, torch.zeros(3, dtype=x.dtype), dL_dy, stride=3
        )
        torch.testing.assert_close(dL_dx, expected)


GRADCHECK = {
    "1d": ((2, 4, 7), (6, 2, 3), True, dict(stride=2, padding=1, dilation=2, groups=2)),
    "1d-no-bias": (
        (1, 3, 5),
        (2, 3, 2),
        False,
        dict(stride=1, padding=0, dilation=1, groups=1),
    ),
    "1d-tuples": (
        (2, 3, 6),
        (3, 1, 2),
        True,
        dict(stride=(3,), padding=(2,), dilation=(1,), groups=3),
    ),
    "2d": (
        (2, 4, 5, 4),
        (4, 2, 3, 2),
        True,
        dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
    ),
    "2d-no-bias": (
        (1, 2, 4, 4),
        (3, 2, 2, 2),
        False,
        dict(stride=2, padding=1, dilation=1, groups=1),
    ),
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_conv_function_gradcheck_float64(name):
    x_shape, w_shape, with_bias, kwargs = GRADCHECK[name]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(w_shape, generator=gen, dtype=torch.float64, requires_grad=True)
    args = tuple(kwargs.values())
    if with_bias:
        bias = torch.randn(
            w_shape[0], generator=gen, dtype=torch.float64, requires_grad=True
        )
        assert torch.autograd.gradcheck(
            lambda x, w, b: ConvFunction.apply(x, w, b, *args), (x, w, bias)
        )
    else:
        assert torch.autograd.gradcheck(
            lambda x, w: ConvFunction.apply(x, w, None, *args), (x, w)
        )


@pytest.mark.parametrize("name", ["1d", "2d"])
@pytest.mark.parametrize(
    "needs",
    [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, False, True),
    ],
)
def test_conv_function_with_some_inputs_requiring_grad(name, needs):
    x_shape, w_shape, _, kwargs = GRADCHECK[name]
    gen = torch.Generator().manual_seed(1)
    operands = [
        torch.randn(s, generator=gen, dtype=torch.float64)
        for s in (x_shape, w_shape, w_shape[:1])
    ]
    ours = [t.clone().requires_grad_(need) for t, need in zip(operands, needs)]
    theirs = [t.clone().requires_grad_(need) for t, need in zip(operands, needs)]
    y = ConvFunction.apply(*ours, *kwargs.values())
    ref = TORCH[len(x_shape) - 2](*theirs, **kwargs)
    torch.testing.assert_close(y, ref)
    grad_output = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    y.backward(grad_output)
    ref.backward(grad_output)
    for need, a, b in zip(needs, ours, theirs):
        if need:
            torch.testing.assert_close(a.grad, b.grad)
        else:
            assert a.grad is None


def zeros(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor of the given shape; only shapes and dtypes matter to the argument checks."""
    return torch.zeros(shape, dtype=dtype)


BAD = {
    "groups-c_in": (
        lambda: conv1d(zeros(2, 3, 5), zeros(4, 1, 3), groups=2),
        r"groups=2 .*c_in=3 .*\(2, 3, 5\).*c_out=4 .*\(4, 1, 3\)",
    ),
    "groups-c_out": (
        lambda: conv2d(zeros(1, 4, 5, 5), zeros(3, 2, 2, 2), groups=2),
        r"groups=2 .*c_in=4 .*\(1, 4, 5, 5\).*c_out=3 .*\(3, 2, 2, 2\)",
    ),
    "groups-zero": (
        lambda: conv1d(zeros(1, 2, 5), zeros(2, 2, 3), groups=0),
        r"groups=0 .*c_in=2 .*c_out=2",
    ),
    "groups-backward": (
        lambda: conv2d_backward(
            zeros(1, 3, 4, 4), zeros(1, 3, 5, 5), zeros(3, 1, 2, 2), groups=2
        ),
        r"conv2d: groups=2 .*c_in=3 .*\(1, 3, 5, 5\)",
    ),
    "weight-c_in": (
        lambda: conv1d(zeros(2, 4, 5), zeros(4, 3, 3), groups=2),
        r"w \(4, 3, 3\) has 3 input channels.*x \(2, 4, 5\).*groups=2 needs 2",
    ),
    "weight-c_in-2d": (
        lambda: conv2d(zeros(1, 3, 5, 5), zeros(2, 2, 3, 3)),
        r"w \(2, 2, 3, 3\) has 2 input.*x \(1, 3, 5, 5\).*groups=1 needs 3",
    ),
    "kernel-too-wide": (
        lambda: conv1d(zeros(1, 1, 3), zeros(1, 1, 5)),
        r"conv1d: .*kernel spans 5 \(kernel \(5,\).*only 3 wide.*x \(1, 1, 3\)",
    ),
    "kernel-too-wide-dilated": (
        lambda: conv1d(zeros(1, 1, 4), zeros(1, 1, 3), dilation=2),
        r"spans 5 .*dilation=2.*only 4 wide.*padding=0",
    ),
    "kernel-too-tall": (
        lambda: conv2d(zeros(1, 1, 2, 9), zeros(1, 1, 4, 2), padding=(0, 1)),
        r"conv2d: .*spans 4 \(kernel \(4, 2\).*only 2 wide.*\(1, 1, 2, 9\)",
    ),
    "negative-padding": (
        lambda: conv1d(zeros(1, 1, 5), zeros(1, 1, 2), padding=-1),
        r"conv1d: padding must not be negative, got padding=-1",
    ),
    "negative-padding-2d": (
        lambda: conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 2, 2), padding=(0, -2)),
        r"conv2d: padding .*negative.*padding=\(0, -2\)",
    ),
    "zero-stride": (
        lambda: conv1d(zeros(1, 1, 5), zeros(1, 1, 2), stride=0),
        r"stride and dilation must be positive, got stride=0, dilation=1",
    ),
    "negative-stride-2d": (
        lambda: conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 2, 2), stride=(1, -1)),
        r"conv2d: stride .*positive.*stride=\(1, -1\)",
    ),
    "zero-dilation": (
        lambda: conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 2, 2), dilation=(0, 1)),
        r"conv2d: .*dilation must be positive.*dilation=\(0, 1\)",
    ),
    "conv1d-4d-x": (
        lambda: conv1d(zeros(1, 1, 3, 3), zeros(1, 1, 2)),
        r"conv1d: x must have shape \(batch, c_in, width\), got \(1, 1, 3, 3\)",
    ),
    "conv1d-2d-weight": (
        lambda: conv1d(zeros(1, 1, 3), zeros(1, 2)),
        r"conv1d: w must have shape .*got \(1, 2\)",
    ),
    "conv2d-3d-x": (
        lambda: conv2d(zeros(1, 1, 3), zeros(1, 1, 2, 2)),
        r"conv2d: x must have shape \(batch, c_in, height, width\), got \(1, 1, 3\)",
    ),
    "conv2d-3d-weight": (
        lambda: conv2d(zeros(1, 1, 3, 3), zeros(1, 1, 2)),
        r"conv2d: w must have shape .*KH, KW.*got \(1, 1, 2\)",
    ),
    "conv2d-stride-3-tuple": (
        lambda: conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 2, 2), stride=(1, 2, 3)),
        r"stride must be an int or a tuple of 2 ints, got \(1, 2, 3\)",
    ),
    "conv1d-padding-pair": (
        lambda: conv1d(zeros(1, 1, 5), zeros(1, 1, 2), padding=(1, 1)),
        r"padding must be an int or a tuple of 1 ints, got \(1, 1\)",
    ),
    "bias-shape": (
        lambda: conv1d(zeros(2, 3, 5), zeros(4, 3, 2), zeros(3)),
        r"conv1d: bias must have shape \(4,\) .*got \(3,\)",
    ),
    "bias-rank": (
        lambda: conv2d(zeros(1, 1, 5, 5), zeros(2, 1, 2, 2), zeros(1, 2)),
        r"conv2d: bias must have shape \(2,\) .*got \(1, 2\)",
    ),
    "grad-output-1d": (
        lambda: conv1d_backward(zeros(2, 4, 4), zeros(2, 3, 5), zeros(4, 3, 3)),
        r"dL_dy must have shape \(2, 4, 3\) .*\(2, 4, 4\)",
    ),
    "grad-output-2d": (
        lambda: conv2d_backward(
            zeros(1, 2, 4, 4), zeros(1, 1, 5, 5), zeros(2, 1, 2, 2), stride=2
        ),
        r"dL_dy .*shape \(1, 2, 2, 2\) to fit the output .*got .* \(1, 2, 4, 4\)",
    ),
    "bias-dtype": (
        lambda: conv1d(zeros(2, 3, 5), zeros(4, 3, 2), zeros(4, dtype=torch.float64)),
        r"conv1d: bias must have .*dtype torch.float32, got \(4,\) and torch.float64",
    ),
    "grad-output-dtype": (
        lambda: conv1d_backward(
            zeros(2, 4, 4, dtype=torch.float64), zeros(2, 3, 5), zeros(4, 3, 2)
        ),
        r"dL_dy \(torch.float64 on cpu\) must match x \(torch.float32 on cpu\)",
    ),
    "bool-stride": (
        lambda: conv1d(zeros(1, 1, 5), zeros(1, 1, 2), stride=True),
        r"conv1d: stride must be an int or a tuple of 1 ints, got True",
    ),
    "dtypes": (
        lambda: conv1d(zeros(1, 1, 5), zeros(1, 1, 2, dtype=torch.float64)),
        r"conv1d: x and w .*dtype, got torch.float32 and torch.float64",
    ),
    "dtypes-backward": (
        lambda: conv2d_backward(
            zeros(1, 1, 4, 4), zeros(1, 1, 5, 5), zeros(1, 1, 2, 2, dtype=torch.float64)
        ),
        r"conv2d: x and w .*got torch.float32 and torch.float64",
    ),
    "integer-dtype": (
        lambda: conv1d(
            zeros(1, 1, 5, dtype=torch.int64), zeros(1, 1, 2, dtype=torch.int64)
        ),
        r"floating dtype, got torch.int64 and torch.int64",
    ),
    "windows-rank": (
        lambda: windows(zeros(2, 3), 2),
        r"x must have shape \(batch, c_in, width\), got \(2, 3\)",
    ),
    # torch returns a (2, 0, 7) tensor here, with no channels instead of c_out = 6 of them.
    "empty-c_in": (
        lambda: conv1d(zeros(2, 0, 9), zeros(6, 0, 3)),
        r"conv1d: w has an empty dimension, got \(6, 0, 3\)",
    ),
    "windows-zero-dilation": (
        lambda: windows(zeros(2, 4, 9), 3, dilation=0),
        r"dilation >= 1, got kernel_width=3, stride=1, dilation=0",
    ),
    "windows-zero-stride": (
        lambda: windows(zeros(2, 4, 9), 3, stride=0),
        r"stride >= 1 .*got kernel_width=3, stride=0, dilation=1",
    ),
    "windows-extent": (
        lambda: windows(zeros(1, 1, 4), 3, dilation=2),
        r"kernel extent 5 is larger than the width 4 of x",
    ),
    # The chapter's stride-1 functions: torch's F.conv1d rejects an empty kernel too.
    "minimal-empty-kernel": (
        lambda: conv1d_minimal(zeros(2, 3, 6), zeros(4, 3, 0)),
        r"kernel width K of w \(at most the width of x\) must be an integer in \[1, 6\], got 0",
    ),
    "im2col-channels": (
        lambda: conv1d_im2col(zeros(2, 3, 6), zeros(4, 2, 2)),
        r"w must have shape \(c_out, 3, K\) to fit x, got torch.float32 of shape \(4, 2, 2\)",
    ),
    "weight-grad-K": (
        lambda: conv1d_weight_grad(zeros(2, 3, 6), zeros(2, 4, 5), 0),
        r"K \(at most the width of x\) must be an integer in \[1, 6\], got 0",
    ),
    "weight-grad-batch": (
        lambda: conv1d_weight_grad(zeros(0, 3, 6), zeros(2, 4, 5), 2),
        r"dL_dy must have shape \(0, c_out, 5\) to fit x and K",
    ),
    "fold-width": (
        lambda: conv1d_input_grad_fold(zeros(2, 4, 5), zeros(4, 3, 2), 0),
        r"width must be an integer in \[6, 6\], got 0",
    ),
    "transposed-stride": (
        lambda: conv1d_input_grad_transposed(zeros(2, 4, 3), zeros(4, 3, 2), 6, 0),
        r"stride must be an integer >= 1, got 0",
    ),
    "transposed-width": (
        lambda: conv1d_input_grad_transposed(zeros(2, 4, 3), zeros(4, 3, 2), 8, 2),
        r"width must be an integer in \[6, 7\], got 8",
    ),
    "function-groups": (
        lambda: ConvFunction.apply(zeros(1, 3, 5), zeros(2, 1, 2), None, 1, 0, 1, 2),
        r"conv1d: groups=2 .*c_in=3 .*c_out=2",
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_value_error_naming_it(name):
    call, message = BAD[name]
    with pytest.raises(ValueError, match=message):
        call()

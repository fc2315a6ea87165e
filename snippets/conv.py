"""Convolution and its backward pass from strided views and matrix products, without
autograd.

conv1d (a cross-correlation, as in torch) of ``x`` (batch, c_in, width) with ``w``
(c_out, c_in / groups, K), for output channel ``d`` in group ``g(d)``, with
``x_g[b, c, i] = x_pad[b, g(d) c_in/groups + c, i]``:

    y[b, d, o] = bias[d] + sum_{c, k} w[d, c, k] x_g[b, c, o s + k r]

where ``x_pad`` is ``x`` with ``padding`` zeros on each side, ``s`` the stride and ``r``
the dilation. conv2d is the same with a pair of spatial axes. Its gradients, for an
upstream gradient ``dL_dy`` of the output's shape:

    dL_dw[d, c, k]  = sum_{b, o} dL_dy[b, d, o] x_g[b, c, o s + k r]
    dL_dx_pad[b, i] = sum over (d, o, k) with o s + k r = i of dL_dy[b, d, o] w[d, :, k]
    dL_dbias[d]     = sum_{b, o} dL_dy[b, d, o]

This module imports torch, the standard library and the package's shared checks
(snippets/checks.py).
"""

# --8<-- [start:imports]
import torch
from torch import Tensor
import torch.nn.functional as F

from snippets.checks import check_float, check_int, check_like, describe
# --8<-- [end:imports]


__all__ = [
    "windows",
    "conv1d_minimal",
    "conv1d_im2col",
    "conv1d_weight_grad",
    "conv1d_input_grad_fold",
    "conv1d_input_grad_transposed",
    "conv1d",
    "conv2d",
    "conv1d_backward",
    "conv2d_backward",
    "ConvFunction",
]


# --8<-- [start:checks]
def check_tensor(
    name: str,
    t: Tensor,
    shape: tuple,
    fits: str = "",
    like: tuple[str, Tensor] | None = None,
) -> None:
    """t is a floating tensor of ``shape``, in which an int is a required size and a str
    names a free axis; ``fits`` says what the required sizes fit. ``like`` = (its name,
    ref): t has ref's dtype and device. Dtypes: float32, float64."""
    check_float(name, t, dim=len(shape))
    if like is not None:
        check_like(name, t, *like)
    if any(type(n) is int and n != m for n, m in zip(shape, t.shape)):
        fit = f" to fit {fits}" if fits else ""
        raise ValueError(
            f"{name} must have shape ({', '.join(map(str, shape))}){fit}, "
            f"got {describe(t)}"
        )


def check_windows(x: Tensor, kernel_width: int, stride: int, dilation: int) -> None:
    """x (batch, c_in, width), kernel_width >= 0, stride and dilation >= 1, and a kernel
    extent dilation (kernel_width - 1) + 1 no wider than x. Dtypes: float32, float64."""
    if x.dim() != 3:
        raise ValueError(
            f"x must have shape (batch, c_in, width), got {tuple(x.shape)}"
        )
    if kernel_width < 0 or stride < 1 or dilation < 1:
        raise ValueError(
            f"needs kernel_width >= 0, stride >= 1 and dilation >= 1, got "
            f"kernel_width={kernel_width}, stride={stride}, dilation={dilation}"
        )
    extent = dilation * (kernel_width - 1) + 1
    if extent > x.shape[2]:
        raise ValueError(
            f"kernel extent {extent} is larger than the width {x.shape[2]} of x"
        )


def check_conv1d(x: Tensor, w: Tensor) -> None:
    """x (batch, c_in, width) and w (c_out, c_in, K) of one floating dtype, 1 <= K <=
    width. Dtypes: float32, float64."""
    check_tensor("x", x, ("batch", "c_in", "width"))
    check_tensor("w", w, ("c_out", x.shape[1], "K"), "x", ("x", x))
    check_int(
        "the kernel width K of w (at most the width of x)", w.shape[2], 1, x.shape[2]
    )


def check_weight_grad(x: Tensor, dL_dy: Tensor, K: int) -> None:
    """x (batch, c_in, width), 1 <= K <= width and dL_dy (batch, c_out, width - K + 1)
    of x's dtype. Dtypes: float32, float64."""
    check_tensor("x", x, ("batch", "c_in", "width"))
    check_int("K (at most the width of x)", K, 1, x.shape[2])
    check_tensor(
        "dL_dy", dL_dy, (x.shape[0], "c_out", x.shape[2] - K + 1), "x and K", ("x", x)
    )


def check_conv1d_grad(dL_dy: Tensor, w: Tensor, width: int, stride: int = 1) -> None:
    """dL_dy (batch, c_out, out_width) and w (c_out, c_in, K) of one floating dtype,
    with out_width and K at least 1, stride >= 1, and the width of an input whose
    windows at that stride are the out_width outputs. Dtypes: float32, float64."""
    check_tensor("dL_dy", dL_dy, ("batch", "c_out", "out_width"))
    check_tensor("w", w, (dL_dy.shape[1], "c_in", "K"), "dL_dy", ("dL_dy", dL_dy))
    check_int("the width out_width of dL_dy", dL_dy.shape[2], 1)
    check_int("the kernel width K of w", w.shape[2], 1)
    check_int("stride", stride, 1)
    spread = (dL_dy.shape[2] - 1) * stride + 1
    check_int("width", width, spread + w.shape[2] - 1, spread + w.shape[2] + stride - 2)


def check_ints(name: str, value, n: int, conv: str) -> None:
    """An int or a tuple of n ints (not bools): a stride, padding or dilation of
    conv."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or any(type(v) is not int for v in values):
        raise ValueError(
            f"{conv}: {name} must be an int or a tuple of {n} ints, got {value!r}"
        )


def check_conv(
    x: Tensor, w: Tensor, bias, stride, padding, dilation, groups: int, n: int
) -> None:
    """The arguments of an n-d convolution (n = 1 or 2): x (batch, c_in, *spatial) and w
    (c_out, c_in / groups, *kernel) of one floating dtype with no empty axis but x's
    batch; stride (>= 1), padding (>= 0) and dilation (>= 1) each an int or an n-tuple
    of ints; groups dividing c_in and c_out; bias, when given, (c_out,) of x's dtype;
    and a kernel that fits in the padded input. Raises ValueError naming the argument
    and the shapes. Dtypes: float32, float64."""
    check_int("n", n, 1, 2)
    name = f"conv{n}d"
    axes = "width" if n == 1 else "height, width"
    if x.dim() != n + 2:
        raise ValueError(
            f"{name}: x must have shape (batch, c_in, {axes}), got {tuple(x.shape)}"
        )
    if w.dim() != n + 2:
        raise ValueError(
            f"{name}: w must have shape (c_out, c_in / groups, "
            f"{'K' if n == 1 else 'KH, KW'}), got {tuple(w.shape)}"
        )
    if 0 in w.shape:  # as torch: only x's batch may be empty
        raise ValueError(f"{name}: w has an empty dimension, got {tuple(w.shape)}")
    if 0 in x.shape[1:]:
        raise ValueError(
            f"{name}: x has an empty channel or spatial axis, got {tuple(x.shape)}"
        )
    if x.dtype != w.dtype or not x.is_floating_point():
        raise ValueError(
            f"{name}: x and w must share a floating dtype, got {x.dtype} and {w.dtype}"
        )
    for value, what in (
        (stride, "stride"),
        (padding, "padding"),
        (dilation, "dilation"),
    ):
        check_ints(what, value, n, name)
    s, p, r = (
        (v,) * n if isinstance(v, int) else tuple(v)
        for v in (stride, padding, dilation)
    )
    if min(s) < 1 or min(r) < 1:
        raise ValueError(
            f"{name}: stride and dilation must be positive, "
            f"got stride={stride!r}, dilation={dilation!r}"
        )
    if min(p) < 0:
        raise ValueError(
            f"{name}: padding must not be negative, got padding={padding!r}"
        )
    c_in, c_out = x.shape[1], w.shape[0]
    if type(groups) is not int or groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"{name}: groups={groups!r} must divide c_in={c_in} (x {tuple(x.shape)})"
            f" and c_out={c_out} (w {tuple(w.shape)})"
        )
    if w.shape[1] * groups != c_in:
        raise ValueError(
            f"{name}: w {tuple(w.shape)} has {w.shape[1]} input channels per "
            f"group; x {tuple(x.shape)} with groups={groups} needs {c_in // groups}"
        )
    if bias is not None and (tuple(bias.shape) != (c_out,) or bias.dtype != x.dtype):
        raise ValueError(
            f"{name}: bias must have shape ({c_out},) and dtype {x.dtype}, "
            f"got {tuple(bias.shape)} and {bias.dtype}"
        )
    for a in range(n):
        extent, padded = r[a] * (w.shape[2 + a] - 1) + 1, x.shape[2 + a] + 2 * p[a]
        if extent > padded:
            raise ValueError(
                f"{name}: the kernel spans {extent} (kernel {tuple(w.shape[2:])}, "
                f"dilation={dilation!r}) but the padded input is only {padded} "
                f"wide (x {tuple(x.shape)}, padding={padding!r})"
            )


def check_layout(
    g: dict,
    x: Tensor,
    w: Tensor | None = None,
    bias: Tensor | None = None,
    dL_dy: Tensor | None = None,
) -> None:
    """x, w, bias and dL_dy (those given) have the shapes that the sizes g of
    ``geometry`` give them (conv1d's as conv2d's of height 1), and x's floating dtype.
    Dtypes: float32, float64."""
    check_tensor("x", x, (g["batch"], g["c_in"], *g["size"]), "g")
    if w is not None:
        check_tensor(
            "w",
            w,
            (g["c_out"], g["c_in"] // g["groups"], *g["kernel"]),
            "x and g",
            ("x", x),
        )
    if bias is not None:
        check_tensor("bias", bias, (g["c_out"],), "x and g", ("x", x))
    if dL_dy is not None:
        check_tensor(
            "dL_dy", dL_dy, (g["batch"], g["c_out"], *g["out"]), "x and g", ("x", x)
        )


def check_grad_output(dL_dy: Tensor, x: Tensor, shape: tuple) -> None:
    """dL_dy has x's dtype and the shape of the output, which x, w and the options fix.
    Dtypes: float32, float64."""
    check_tensor(
        "dL_dy",
        dL_dy,
        shape,
        "the output of x, w, stride, padding, dilation, groups",
        ("x", x),
    )


# --8<-- [end:checks]


# --8<-- [start:windows]
def windows(x: Tensor, kernel_width: int, stride: int = 1, dilation: int = 1) -> Tensor:
    """Every window of ``x`` as a view:
    ``X[b, c, o, k] = x[b, c, o * stride + k * dilation]``.

    x: (batch, c_in, width) -> X: (batch, c_in, out_width, kernel_width), sharing x's
    memory, with out_width = (width - dilation * (kernel_width - 1) - 1) // stride + 1.
    Dtypes: float32, float64.
    """
    check_windows(x, kernel_width, stride, dilation)
    extent = dilation * (kernel_width - 1) + 1
    out_width = (x.shape[2] - extent) // stride + 1
    s_b, s_c, s_w = x.stride()  # torch counts strides in elements, numpy in bytes
    return x.as_strided(
        (x.shape[0], x.shape[1], out_width, kernel_width),
        (s_b, s_c, stride * s_w, dilation * s_w),
        x.storage_offset(),
    )


# --8<-- [end:windows]


# --8<-- [start:minimal]
def conv1d_minimal(x: Tensor, w: Tensor) -> Tensor:
    """y[b, d, o] = sum_{c, k} X[b, c, o, k] w[d, c, k]: torch's conv1d without bias,
    stride or padding. x: (batch, c_in, width), w: (c_out, c_in, K) -> y: (batch, c_out,
    out_width). Dtypes: float32, float64."""
    check_conv1d(x, w)
    X = windows(x, w.shape[2])  # batch c_in out_width K, a view
    return torch.einsum("bcok,dck->bdo", X, w)


# --8<-- [end:minimal]


# --8<-- [start:im2col]
def conv1d_im2col(x: Tensor, w: Tensor) -> Tensor:
    """The same y as one matrix product: cols (batch out_width, c_in K) @ w (c_in K,
    c_out). Dtypes: float32, float64."""
    check_conv1d(x, w)
    (batch, c_in, _), (c_out, _, K) = x.shape, w.shape
    X = windows(x, K)  # batch c_in out_width K, a view
    out_width = X.shape[2]
    # copies K out_width/width x
    cols = X.permute(0, 2, 1, 3).reshape(batch * out_width, c_in * K)
    y = cols @ w.reshape(c_out, c_in * K).T  # (batch out_width, c_out)
    return y.view(batch, out_width, c_out).transpose(1, 2)


# --8<-- [end:im2col]


# --8<-- [start:weight_grad]
def conv1d_weight_grad(x: Tensor, dL_dy: Tensor, K: int) -> Tensor:
    """dL_dw[d, c, k] = sum_{b, o} X[b, c, o, k] dL_dy[b, d, o]; stride 1, no padding.
    x: (batch, c_in, width), dL_dy: (batch, c_out, out_width) -> (c_out, c_in, K).
    Dtypes: float32, float64."""
    check_weight_grad(x, dL_dy, K)
    return torch.einsum("bcok,bdo->dck", windows(x, K), dL_dy)


# --8<-- [end:weight_grad]


# --8<-- [start:fold]
def conv1d_input_grad_fold(dL_dy: Tensor, w: Tensor, width: int) -> Tensor:
    """dL_dx[b, c, i] = sum over k with 0 <= i - k < out_width of dL_dX[b, c, i - k, k],
    where dL_dX[b, c, o, k] = sum_d w[d, c, k] dL_dy[b, d, o] is the gradient of the
    window view. Stride 1, no padding. dL_dy: (batch, c_out, out_width), w: (c_out,
    c_in, K). Dtypes: float32, float64."""
    check_conv1d_grad(dL_dy, w, width)
    K = w.shape[2]
    # batch c_in out_width K
    dL_dX = torch.einsum("dck,bdo->bcok", w, dL_dy).contiguous()
    batch, c_in, out_width, _ = dL_dX.shape
    dL_dx = dL_dy.new_zeros(batch, c_in, width)
    # Middle: i = m + K - 1 in [K - 1, out_width) is in all K windows, at
    # (o, k) = (i - k, k). With j = K - 1 - k that is offset i s_o - j (s_o - s_k): an
    # anti-diagonal, one view.
    middle = max(0, out_width - K + 1)
    # dL_dX is contiguous
    s_b, s_c, s_o, s_k = (
        c_in * out_width * K,
        out_width * K,
        K,
        1,
    )
    anti = dL_dX.as_strided(
        (batch, c_in, middle, K),
        (s_b, s_c, s_o, s_o - s_k),
        dL_dX.storage_offset() + (K - 1) * s_k,
    )
    dL_dx[:, :, K - 1 : K - 1 + middle] = anti.sum(3)
    # Edges: the first and last K - 1 inputs (all of them when there is no middle) are
    # in fewer windows; add up the ones they are in.
    for i in [*range(0, min(K - 1, width)), *range(max(K - 1 + middle, K - 1), width)]:
        for k in range(max(0, i - out_width + 1), min(K, i + 1)):
            dL_dx[:, :, i] += dL_dX[:, :, i - k, k]
    return dL_dx


# --8<-- [end:fold]


# --8<-- [start:transposed]
def conv1d_input_grad_transposed(
    dL_dy: Tensor, w: Tensor, width: int, stride: int = 1
) -> Tensor:
    """dL_dx = conv1d(G, w flipped along k with c_in and c_out swapped), where G is
    dL_dy with stride - 1 zeros between its elements and K - 1 zeros on each side. No
    padding. dL_dy: (batch, c_out, out_width), w: (c_out, c_in, K) -> (batch, c_in,
    width). Dtypes: float32, float64."""
    check_conv1d_grad(dL_dy, w, width, stride)
    (batch, c_out, out_width), K = dL_dy.shape, w.shape[2]
    spread = (out_width - 1) * stride + 1
    G = dL_dy.new_zeros(batch, c_out, spread + 2 * (K - 1))
    G[:, :, K - 1 : K - 1 + spread : stride] = dL_dy  # dilate, then pad
    w_flip = w.flip(2).transpose(0, 1)  # (c_in, c_out, K)
    # (batch, c_in, spread + K - 1)
    dL_dx = torch.einsum("bdik,cdk->bci", windows(G, K), w_flip)
    # inputs past the last window: no gradient
    return F.pad(dL_dx, (0, width - dL_dx.shape[2]))


# --8<-- [end:transposed]


# --8<-- [start:geometry]
def as_pair(value, n: int, height: int) -> tuple[int, int]:
    """An int or an n-tuple of ints as (height, width) values; conv1d's height value is
    given. Dtypes: none (Python ints, no tensor)."""
    values = (value,) * n if isinstance(value, int) else tuple(value)
    return (height, *values) if n == 1 else values


def geometry(
    x: Tensor, w: Tensor, bias, stride, padding, dilation, groups: int, n: int
) -> dict:
    """The sizes of an n-d convolution (n = 1 or 2), with conv1d read as conv2d of
    height 1, after ``check_conv`` has checked its arguments. Dtypes: float32,
    float64."""
    check_conv(x, w, bias, stride, padding, dilation, groups, n)
    s, p, r = as_pair(stride, n, 1), as_pair(padding, n, 0), as_pair(dilation, n, 1)
    size = x.shape[2:] if n == 2 else (1, x.shape[2])
    kernel = w.shape[2:] if n == 2 else (1, w.shape[2])
    padded = [size[a] + 2 * p[a] for a in (0, 1)]
    extent = [r[a] * (kernel[a] - 1) + 1 for a in (0, 1)]
    out = [(padded[a] - extent[a]) // s[a] + 1 for a in (0, 1)]
    # The padded input is split into stride[0] x stride[1] phases, each of
    # grid[0] x grid[1].
    grid = [-(-padded[a] // s[a]) for a in (0, 1)]
    # 0: no batch
    rows = max(0, ((x.shape[0] - 1) * grid[0] + out[0] - 1) * grid[1] + out[1])
    return dict(
        batch=x.shape[0],
        c_in=x.shape[1],
        c_out=w.shape[0],
        groups=groups,
        size=tuple(size),
        kernel=tuple(kernel),
        stride=s,
        padding=p,
        dilation=r,
        out=out,
        grid=grid,
        rows=rows,
    )


# --8<-- [end:geometry]


# --8<-- [start:layout]
def copy_channels_last(dst: Tensor, src: Tensor, block: int = 8) -> None:
    """dst[b, i, j, c] = src[b, c, i, j], a few channels at a time.

    A transposing copy reads one cache line per channel at once; when a channel's row is
    a power of two long, those lines all map to the same cache set and evict each other
    (3x slower at width 1024). Eight at a time fit in the set. Dtypes: float32,
    float64."""
    for c in range(0, src.shape[1], block):
        dst[..., c : c + block] = src[:, c : c + block].permute(0, 2, 3, 1)


def to_phases(x: Tensor, g: dict) -> Tensor:
    """x (batch, c_in, H, W), zero-padded, in channels-last rows split by stride phase:
    P[p, q, (b grid_h + i) grid_w + j, c] = x_pad[b, c, i stride_h + p, j stride_w + q].
    Dtypes: float32, float64."""
    check_layout(g, x)
    (sh, sw), (ph, pw), (gh, gw) = g["stride"], g["padding"], g["grid"]
    P = x.new_zeros(sh, sw, g["batch"], gh, gw, g["c_in"])
    for i0 in range(min(sh, g["size"][0])):  # first input row of each phase
        for j0 in range(min(sw, g["size"][1])):
            p, q = (ph + i0) % sh, (pw + j0) % sw
            src = x[:, :, i0::sh, j0::sw]
            dst = P[p, q, :, (ph + i0) // sh :, (pw + j0) // sw :]
            copy_channels_last(dst[:, : src.shape[2], : src.shape[3]], src)
    return P.view(sh, sw, -1, g["c_in"])


def from_phases(P: Tensor, g: dict) -> Tensor:
    """The inverse of ``to_phases`` without the padding: (batch, c_in, H, W).
    Dtypes: float32, float64."""
    (sh, sw), (ph, pw), (gh, gw), (H, W) = (
        g["stride"],
        g["padding"],
        g["grid"],
        g["size"],
    )
    check_tensor("P", P, (sh, sw, g["batch"] * gh * gw, g["c_in"]), "g")
    P = P.view(sh, sw, g["batch"], gh, gw, g["c_in"])
    if sh == sw == 1:  # no phases: a view of the channels-last rows, no copy
        return P[0, 0, :, ph : ph + H, pw : pw + W].permute(0, 3, 1, 2)
    x = P.new_empty(g["batch"], H, W, g["c_in"])
    for i0 in range(min(sh, H)):
        for j0 in range(min(sw, W)):
            p, q = (ph + i0) % sh, (pw + j0) % sw
            dst = x[:, i0::sh, j0::sw]
            dst.copy_(
                P[p, q, :, (ph + i0) // sh :, (pw + j0) // sw :][
                    :, : dst.shape[1], : dst.shape[2]
                ]
            )
    return x.permute(0, 3, 1, 2)


def taps(g: dict):
    """For each kernel position (kh, kw): its phase (p, q) and the row offset in that
    phase at which output row 0 reads, so that tap (kh, kw) of every output is one slice
    of rows. Dtypes: none (Python ints, no tensor)."""
    (sh, sw), (rh, rw), gw = g["stride"], g["dilation"], g["grid"][1]
    for kh in range(g["kernel"][0]):
        for kw in range(g["kernel"][1]):
            (a, p), (c, q) = divmod(kh * rh, sh), divmod(kw * rw, sw)
            yield kh, kw, p, q, a * gw + c


# --8<-- [end:layout]


# --8<-- [start:forward]
def conv_rows(x: Tensor, w: Tensor, bias, g: dict) -> Tensor:
    """y as channels-last rows: Y[(b grid_h + i) grid_w + j, d] = y[b, d, i, j] for i, j
    inside the output (other rows are junk). One matrix product per kernel position and
    group: Y[:, group] += P[p, q][offset : offset + rows, group] @ w[group, :, kh,
    kw]^T. Dtypes: float32, float64."""
    check_layout(g, x, w, bias)
    R, G = g["rows"], g["groups"]
    ci, co = g["c_in"] // G, g["c_out"] // G
    P = to_phases(x, g)
    W_taps = w.permute(2, 3, 1, 0)  # KH KW c_in/G c_out
    Y = x.new_empty(R, g["c_out"])
    for t, (kh, kw, p, q, offset) in enumerate(taps(g)):
        A = P[p, q, offset : offset + R]  # (rows, c_in): a slice, no copy
        for n in range(G):  # group n: its channel slices
            cin, cout = slice(n * ci, (n + 1) * ci), slice(n * co, (n + 1) * co)
            # beta 0: ignore the empty memory
            Y[:, cout].addmm_(A[:, cin], W_taps[kh, kw, :, cout], beta=1 if t else 0)
    if bias is not None:
        Y += bias
    return Y


def rows_to_output(Y: Tensor, g: dict) -> Tensor:
    """(batch, c_out, out_h, out_w): a strided view of the valid rows of Y.
    Dtypes: float32, float64."""
    (gh, gw), co = g["grid"], g["c_out"]
    check_tensor("Y", Y, (g["rows"], co), "g")
    s_r, s_d = Y.stride()  # (gh gw co, co, 1) when contiguous
    return Y.as_strided(
        (g["batch"], co, *g["out"]), (gh * gw * s_r, s_d, gw * s_r, s_r)
    )


def conv2d(
    x: Tensor,
    w: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """torch.nn.functional.conv2d: x (batch, c_in, H, W), w (c_out, c_in / groups, KH,
    KW) -> (batch, c_out, out_h, out_w), a channels-last view.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    g = geometry(x, w, bias, stride, padding, dilation, groups, n=2)
    return rows_to_output(conv_rows(x, w, bias, g), g)


def conv1d(
    x: Tensor,
    w: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """torch.nn.functional.conv1d: x (batch, c_in, width), w (c_out, c_in / groups, K)
    -> (batch, c_out, out_width), computed as a conv2d of height 1.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    g = geometry(x, w, bias, stride, padding, dilation, groups, n=1)
    return rows_to_output(conv_rows(x[:, :, None], w[:, :, None], bias, g), g)[:, :, 0]


# --8<-- [end:forward]


# --8<-- [start:backward]
def conv_rows_backward(
    dL_dy: Tensor, x: Tensor, w: Tensor, g: dict, mask=(True, True, True)
):
    """The gradients from the same slices as the forward pass, for each tap and group:
    dL_dw[group, :, kh, kw] = (P[p, q][slice, group]^T @ dY[:, group])^T and
    dL_dP[p, q][slice, group] += dY[:, group] @ w[group, :, kh, kw].
    ``mask`` says which of (dL_dx, dL_dw, dL_dbias) to compute; the others are None.
    Dtypes: float32, float64."""
    check_layout(g, x, w, dL_dy=dL_dy)
    R, G = g["rows"], g["groups"]
    ci, co = g["c_in"] // G, g["c_out"] // G
    (gh, gw), (oh, ow) = g["grid"], g["out"]
    dY = dL_dy.new_zeros(g["batch"], gh, gw, g["c_out"])  # junk rows stay zero
    copy_channels_last(dY[:, :oh, :ow], dL_dy)
    dY = dY.view(-1, g["c_out"])[:R]
    P = to_phases(x, g) if mask[1] else None
    dL_dP = (
        x.new_zeros(g["stride"] + (gh * gw * g["batch"], g["c_in"]))
        if mask[0]
        else None
    )
    W_taps = w.permute(2, 3, 1, 0)  # KH KW c_in/G c_out
    dW_taps = w.new_empty(W_taps.shape)
    for kh, kw, p, q, offset in taps(g):
        for n in range(G):
            cin, cout = slice(n * ci, (n + 1) * ci), slice(n * co, (n + 1) * co)
            if mask[1]:
                A = P[p, q, offset : offset + R, cin]
                dW_taps[kh, kw, :, cout].addmm_(A.T, dY[:, cout], beta=0)
            if mask[0]:
                dA = dL_dP[p, q, offset : offset + R, cin]
                dA.addmm_(dY[:, cout], W_taps[kh, kw, :, cout].T)
    return (
        from_phases(dL_dP, g) if mask[0] else None,
        dW_taps.permute(3, 2, 0, 1) if mask[1] else None,
        dL_dy.sum((0, 2, 3)) if mask[2] else None,
    )


def conv2d_backward(
    dL_dy: Tensor,
    x: Tensor,
    w: Tensor,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    output_mask=(True, True, True),
):
    """(dL_dx, dL_dw, dL_dbias) of conv2d for the upstream gradient dL_dy, without
    autograd; those that ``output_mask`` leaves out are None.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    g = geometry(x, w, None, stride, padding, dilation, groups, n=2)
    check_grad_output(dL_dy, x, (g["batch"], g["c_out"], *g["out"]))
    return conv_rows_backward(dL_dy, x, w, g, output_mask)


def conv1d_backward(
    dL_dy: Tensor,
    x: Tensor,
    w: Tensor,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    output_mask=(True, True, True),
):
    """(dL_dx, dL_dw, dL_dbias) of conv1d for the upstream gradient dL_dy, without
    autograd; those that ``output_mask`` leaves out are None.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    g = geometry(x, w, None, stride, padding, dilation, groups, n=1)
    check_grad_output(dL_dy, x, (g["batch"], g["c_out"], g["out"][1]))
    grads = conv_rows_backward(
        dL_dy[:, :, None], x[:, :, None], w[:, :, None], g, output_mask
    )
    return tuple(
        None if t is None else t.squeeze(2) if t.dim() == 4 else t for t in grads
    )


# --8<-- [end:backward]


# --8<-- [start:function]
class ConvFunction(torch.autograd.Function):
    """conv1d or conv2d (by the rank of x) whose backward pass is conv{1,2}d_backward.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""

    @staticmethod
    def forward(ctx, x, w, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.args = (stride, padding, dilation, groups)
        conv = conv1d if x.dim() == 3 else conv2d
        return conv(x, w, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, dL_dy):
        x, w = ctx.saved_tensors
        backward = conv1d_backward if x.dim() == 3 else conv2d_backward
        # dL_dbias only if there is a bias that needs it
        mask = ctx.needs_input_grad[:3]
        return (
            *backward(dL_dy, x, w, *ctx.args, output_mask=mask),
            None,
            None,
            None,
            None,
        )


# --8<-- [end:function]

"""Backpropagation through einsum, without autograd.

For ``Y = einsum("s_1,...,s_n->o", A_1, ..., A_n)`` and a loss ``L``, the gradient with
respect to one operand is an einsum of the upstream gradient with the *other* operands:

    dL/dA_p = einsum("o,s_1,...,s_{p-1},s_{p+1},...,s_n->s_p", dL/dY, A_1, ..., A_n)
              (without A_p)

That plain rule needs three corrections, all made here:

* a subscript of ``A_p`` that no other operand and not the output carries was summed out
  of ``A_p`` alone, so ``dL/dA_p`` is constant along it: compute without it, then
  broadcast;
* a subscript repeated inside ``A_p`` (``"ii"``) reads a diagonal, so only the diagonal
  of ``dL/dA_p`` is non-zero;
* a size-1 dimension of ``A_p`` that broadcast against a larger one collects the
  gradient of every position it was copied to, so it is summed back to size 1.

This module imports torch, the standard library and the package's shared checks
(snippets/checks.py); copy the two into a project.
"""

# --8<-- [start:imports]
import string
from dataclasses import dataclass
from functools import lru_cache
from math import prod
from types import MappingProxyType

import torch
from torch import Tensor

from snippets.checks import check_like
# --8<-- [end:imports]

__all__ = ["Equation", "parse_equation", "einsum_vjp", "einsum"]

# --8<-- [start:parse]
LETTERS = set(string.ascii_letters)


@dataclass(frozen=True)
class Equation:
    """A parsed einsum equation, with every ``...`` dimension given its own label.

    ``inputs[p]`` labels the dimensions of operand ``p`` (a label may repeat: a
    diagonal); ``output`` labels the result; ``sizes[label]`` is the broadcast size of
    that label. Letters label themselves; ellipsis dimensions are labelled ``"...0"``,
    ``"...1"``, ... counted from the left of the widest ellipsis, so they line up from
    the right as in numpy.
    """

    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]
    sizes: MappingProxyType  # label -> size, read-only


def parse_equation(equation: str, shapes: list[tuple[int, ...]]) -> Equation:
    """Parse ``equation`` for operands of these shapes, as ``torch.einsum`` reads it.

    Raises ``ValueError`` naming the equation and the offending subscript or operand.
    A training loop parses the same equation and shapes at every step: keep the answers.
    """
    check_equation(equation)
    return _parse(equation, tuple(tuple(s) for s in shapes))


@lru_cache(maxsize=1024)
def _parse(equation: str, shapes: tuple[tuple[int, ...], ...]) -> Equation:
    def fail(why: str):
        raise ValueError(f"einsum {equation!r}: {why}")

    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    if not shapes:
        fail("needs at least one operand")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        fail(
            f"has {len(terms)} operand term(s) but {len(shapes)} operand(s) were given"
        )

    def tokens(term: str, where: str) -> list[str]:
        if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
            fail(f"{where} {term!r}: '.' may only appear as one '...' ellipsis")
        for ch in term.replace("...", ""):
            if ch not in LETTERS:
                why = f"invalid subscript {ch!r} (subscripts are a-z, A-Z)"
                fail(f"{where} {term!r}: {why}")
        head, dots, tail = term.partition("...")
        return list(head) + (["..."] if dots else []) + list(tail)

    terms_tok = [tokens(t, f"operand {p} term") for p, t in enumerate(terms)]
    out_tok = tokens(rhs, "output") if arrow else None
    n_ell = 0
    for p, (tok, shape) in enumerate(zip(terms_tok, shapes)):
        n_letters = len(tok) - ("..." in tok)
        if "..." in tok:
            if len(shape) < n_letters:
                fail(
                    f"operand {p} has shape {tuple(shape)}: fewer dimensions than the "
                    f"{n_letters} subscript(s) of {terms[p]!r}"
                )
            n_ell = max(n_ell, len(shape) - n_letters)
        elif len(shape) != n_letters:
            fail(
                f"operand {p} has shape {tuple(shape)} ({len(shape)} dimension(s)) but "
                f"term {terms[p]!r} names {n_letters} subscript(s) and no '...'"
            )
    ell = tuple(f"...{i}" for i in range(n_ell))

    def expand(tok: list[str], ndim: int) -> tuple[str, ...]:
        if "..." not in tok:
            return tuple(tok)
        i = tok.index("...")
        k = ndim - (len(tok) - 1)  # this operand's ellipsis rank
        return tuple(tok[:i]) + ell[n_ell - k :] + tuple(tok[i + 1 :])

    inputs = tuple(expand(tok, len(s)) for tok, s in zip(terms_tok, shapes))
    sizes: dict[str, int] = {}
    for p, (labels, shape) in enumerate(zip(inputs, shapes)):
        own: dict[str, int] = {}
        for label, size in zip(labels, shape):
            if own.setdefault(label, size) != size:
                fail(
                    f"subscript {label!r} is repeated in operand {p} with sizes "
                    f"{own[label]} and {size}; a repeated subscript needs equal sizes"
                )
        for label, size in own.items():
            seen = sizes.setdefault(label, size)
            if seen != size and 1 not in (seen, size):
                fail(
                    f"subscript {label!r} has size {size} in operand {p} (shape "
                    f"{tuple(shape)}), which does not broadcast with size {seen}"
                )
            # 1 broadcasts against any size, 0 too
            sizes[label] = size if seen == 1 else seen

    if arrow:
        letters = [t for t in out_tok if t != "..."]
        for t in letters:
            if t not in sizes:
                fail(f"output subscript {t!r} appears in no input operand")
            if letters.count(t) > 1:
                fail(f"output subscript {t!r} appears more than once")
        output = expand(out_tok, len(out_tok) - 1 + n_ell)
    else:
        counts = {c: lhs.count(c) for c in set(lhs) if c in LETTERS}
        output = ell + tuple(sorted(c for c, n in counts.items() if n == 1))
    # read-only: the answers are cached
    return Equation(inputs, output, MappingProxyType(sizes))


# --8<-- [end:parse]


# --8<-- [start:checks]
def check_equation(equation) -> None:
    """An einsum equation is a string. Dtypes: none (a Python string)."""
    if not isinstance(equation, str):
        name = type(equation).__name__
        raise ValueError(f"einsum equation must be a string, got {name}")


def check_labels(name: str, x: Tensor, labels: tuple) -> None:
    """x is a tensor with one dimension per label, of one size for a repeated label.
    Dtypes: float32, float64."""
    # the last line: a label with two sizes
    if (
        not isinstance(x, Tensor)
        or x.dim() != len(labels)
        or len(set(labels)) != len(labels)
        and len(set(zip(labels, x.shape))) != len(set(labels))
    ):
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must have one dimension per label of {labels}, one size for "
            f"a repeated label, got {got}"
        )


def check_pair(a: Tensor, a_labels: tuple, b: Tensor, b_labels: tuple) -> None:
    """a and b fit their labels, share one dtype and device, and broadcast along the
    labels they share. Dtypes: float32, float64."""
    check_labels("a", a, a_labels)
    check_labels("b", b, b_labels)
    check_like("b", b, "a", a)
    size_a, size_b = dict(zip(a_labels, a.shape)), dict(zip(b_labels, b.shape))
    for l in size_a.keys() & size_b.keys():
        if size_a[l] != size_b[l] and 1 not in (size_a[l], size_b[l]):
            raise ValueError(
                f"label {l!r} has size {size_a[l]} in a {tuple(a.shape)} and "
                f"{size_b[l]} in b {tuple(b.shape)}, which do not broadcast"
            )


def check_gradient(g: Tensor, g_labels: tuple, shape: tuple, labels: tuple) -> None:
    """g fits g_labels, each a label of the operand, with the operand's size or 1
    (either way when the operand's size is 1: the operand was broadcast).
    Dtypes: float32, float64."""
    check_labels("g", g, g_labels)
    size = dict(zip(labels, shape))
    for l, n in zip(g_labels, g.shape):
        if l not in size or n != size[l] and 1 not in (n, size[l]):
            raise ValueError(
                f"g {tuple(g.shape)} over {g_labels} does not fit an operand of "
                f"shape {tuple(shape)} over {labels} (label {l!r})"
            )


def check_order(x: Tensor, dims: list) -> None:
    """dims lists one dimension of x for each. Dtypes: float32, float64."""
    if len(dims) != x.dim():
        shape = tuple(x.shape)
        raise ValueError(
            f"dims {dims} must order the {x.dim()} dimensions of x {shape}"
        )


def check_operands(equation: str, operands, *grad_output) -> tuple[Tensor, ...]:
    """The operands as a tuple of tensors of one dtype and device that fit the equation,
    and grad_output (when given) of the output's shape and the operands' dtype; or a
    ``ValueError``. Dtypes: float32, float64."""
    operands = tuple(operands)
    for p, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise ValueError(
                f"einsum {equation!r}: operand {p} is a {type(x).__name__}, "
                "not a torch.Tensor"
            )
    kinds = {(x.dtype, x.device) for x in operands}
    if len(kinds) > 1:
        raise ValueError(
            f"einsum {equation!r}: operands must share one dtype and device, "
            f"got {[(str(x.dtype), str(x.device)) for x in operands]}"
        )
    eq = parse_equation(equation, [tuple(x.shape) for x in operands])
    out_shape = tuple(eq.sizes[l] for l in eq.output)
    for g in grad_output:
        if (
            not isinstance(g, Tensor)
            or tuple(g.shape) != out_shape
            or g.dtype != operands[0].dtype
        ):
            got = (
                f"{tuple(g.shape)} and {g.dtype}"
                if isinstance(g, Tensor)
                else type(g).__name__
            )
            raise ValueError(
                f"einsum {equation!r}: grad_output must have the output's shape "
                f"{out_shape} and dtype {operands[0].dtype}, got {got}"
            )
    return operands


# --8<-- [end:checks]


# --8<-- [start:contract]
def contract(a: Tensor, a_labels: tuple, b: Tensor, b_labels: tuple, keep) -> tuple:
    """Two-operand einsum as one batched matrix product, keeping the labels in ``keep``.

    Labels both sides carry are batch labels (kept) or summed (the product's inner
    dimension); the others index rows of ``a`` or columns of ``b``. A label only one
    side carries that is not kept is summed out of that side first, so the product never
    carries it. The result's labels follow ``keep`` when it is a tuple, else ``b`` then
    ``a``. Dtypes: float32, float64.
    """
    check_pair(a, a_labels, b, b_labels)
    a, a_labels = sum_out(a, a_labels, set(b_labels).union(keep))
    b, b_labels = sum_out(b, b_labels, set(a_labels).union(keep))
    (a, a_labels), (b, b_labels) = match_sizes(a, a_labels, b, b_labels, keep)
    order = keep if isinstance(keep, tuple) else b_labels + a_labels
    out = [l for l in order if l in keep and (l in a_labels or l in b_labels)]
    out = tuple(dict.fromkeys(out))
    lead = [l for l in out if not (l in a_labels and l in b_labels)][:1]
    # the operand leading the output gives the rows
    if lead and lead[0] not in a_labels:
        a, a_labels, b, b_labels = b, b_labels, a, a_labels
    batch = [l for l in a_labels if l in b_labels and l in keep]
    inner = [l for l in a_labels if l in b_labels and l not in keep]
    rows = [l for l in a_labels if l not in b_labels]
    cols = [l for l in b_labels if l not in a_labels]
    A = as_matrices(a, a_labels, batch, rows, inner)  # ([batch,] rows, inner)
    B = as_matrices(b, b_labels, batch, inner, cols)  # ([batch,] inner, cols)
    Y = torch.matmul(A, B) if inner else A * B  # no inner label: an outer product
    size = dict(zip(a_labels + b_labels, a.shape + b.shape))
    labels = batch + rows + cols
    Y = Y.view([size[l] for l in labels])
    return permute(Y, [labels.index(l) for l in out]), out


def permute(x: Tensor, dims: list) -> Tensor:
    """``x.permute(dims)``, skipped when ``dims`` is the identity.
    Dtypes: float32, float64."""
    check_order(x, dims)
    return x if dims == sorted(dims) else x.permute(dims)


def sum_out(x: Tensor, labels: tuple, keep) -> tuple:
    """Sum ``x`` over the dimensions whose label is not in ``keep``.
    Dtypes: float32, float64."""
    check_labels("x", x, labels)
    dims = [d for d, l in enumerate(labels) if l not in keep]
    if not dims:
        return x, labels
    return x.sum(dims), tuple(l for l in labels if l in keep)


def match_sizes(a: Tensor, a_labels: tuple, b: Tensor, b_labels: tuple, keep) -> tuple:
    """Resolve broadcasting of a label both sides carry, size 1 on one side.

    Kept: ``Y[l] = a[0] b[l]``, so the label is ``b``'s alone; drop it from ``a``.
    Summed: ``sum_l a[0] b[l] = a[0] sum_l b[l]``; sum ``b`` down to size 1.
    Dtypes: float32, float64.
    """
    check_pair(a, a_labels, b, b_labels)
    for l in set(a_labels) & set(b_labels):
        i, j = a_labels.index(l), b_labels.index(l)
        if a.shape[i] == b.shape[j]:
            continue
        if a.shape[i] != 1:  # make a the size-1 side
            (a, a_labels, i), (b, b_labels, j) = (b, b_labels, j), (a, a_labels, i)
        if l in keep:
            a, a_labels = a.squeeze(i), a_labels[:i] + a_labels[i + 1 :]
        else:
            b = b.sum(j, keepdim=True)
    return (a, a_labels), (b, b_labels)


def as_matrices(
    x: Tensor, labels: tuple, batch: list, rows: list, cols: list
) -> Tensor:
    """``x`` as a (batch, rows, cols) stack of matrices (rows, cols without a batch): a
    view when the strides allow, reading a transposed layout as a transposed matrix.
    Dtypes: float32, float64."""
    check_labels("x", x, labels)
    size = dict(zip(labels, x.shape))
    b, r, c = [prod([size[l] for l in group]) for group in (batch, rows, cols)]
    lead = [b] if batch else []
    y = permute(x, [labels.index(l) for l in batch + rows + cols])
    if not y.is_contiguous():
        t = permute(x, [labels.index(l) for l in batch + cols + rows])
        if t.is_contiguous():
            return t.view(lead + [c, r]).mT
    return y.reshape(lead + [r, c])


# --8<-- [end:contract]


# --8<-- [start:diagonal]
def diagonal(x: Tensor, labels: tuple) -> tuple:
    """View of ``x`` with each repeated label read along its diagonal (``"ii"`` ->
    ``"i"``).

    The diagonal of a strided tensor is strided too: its stride is the sum of the
    strides of the dimensions that share the label.
    Dtypes: float32, float64.
    """
    check_labels("x", x, labels)
    unique = tuple(dict.fromkeys(labels))
    if len(unique) == len(labels):
        return x, labels
    size = {l: n for l, n in zip(labels, x.shape)}
    stride = {l: 0 for l in unique}
    for l, s in zip(labels, x.stride()):
        stride[l] += s
    view = x.as_strided([size[l] for l in unique], [stride[l] for l in unique])
    return view, unique


# --8<-- [end:diagonal]


# --8<-- [start:unbroadcast]
def unbroadcast(g: Tensor, g_labels: tuple, shape: tuple, labels: tuple) -> Tensor:
    """Bring a gradient over ``g_labels`` to an operand of ``shape`` with ``labels``.

    Labels the gradient lacks were summed out of the operand alone: broadcast along
    them. Size-1 dimensions of the operand that were broadcast: sum the gradient back to
    size 1.
    Repeated labels: write the gradient onto the diagonal of a zero tensor.
    Dtypes: float32, float64.
    """
    check_gradient(g, g_labels, shape, labels)
    unique = tuple(dict.fromkeys(labels))
    size = dict(zip(labels, shape))
    present = [l for l in unique if l in g_labels]
    g = permute(g, [g_labels.index(l) for l in present])
    if len(present) < len(unique):
        g = g.reshape(
            [g.shape[present.index(l)] if l in g_labels else 1 for l in unique]
        )
    reduce = [d for d, l in enumerate(unique) if size[l] == 1 and g.shape[d] != 1]
    if reduce:
        g = g.sum(reduce, keepdim=True)
    if any(g.shape[d] != size[l] for d, l in enumerate(unique)):
        g = g.expand([size[l] for l in unique])
    if len(unique) == len(labels):
        return g
    out = g.new_zeros(shape)
    diagonal(out, labels)[0].copy_(g)
    return out


# --8<-- [end:unbroadcast]


# --8<-- [start:vjp]
def einsum_vjp(equation: str, operands, grad_output: Tensor) -> tuple[Tensor, ...]:
    """Gradients of ``sum(grad_output * einsum(equation, *operands))`` for each operand.

    ``dL/dA_p = contract(prefix_p, suffix_p) -> s_p`` with
    ``prefix_p = A_1 ... A_{p-1}`` and ``suffix_p = dL/dY A_{p+1} ... A_n``, each
    contracted once and shared by all the gradients. Same shapes as the operands; no
    autograd. Dtypes: float32, float64.
    """
    operands = check_operands(equation, operands, grad_output)
    eq = parse_equation(equation, [tuple(x.shape) for x in operands])
    terms = [diagonal(x, labels) for x, labels in zip(operands, eq.inputs)]
    n = len(terms)
    labels_of = [set(labels) for _, labels in terms]

    suffix = [None] * n  # suffix[p] = dL/dY A_{p+1} ... A_n
    suffix[n - 1] = (grad_output, eq.output)
    for p in range(n - 1, 0, -1):
        keep = set().union(*labels_of[:p])
        suffix[p - 1] = contract(*terms[p], *suffix[p], keep)

    grads, prefix = [], None  # prefix = A_1 ... A_{p-1}
    for p in range(n):
        target = terms[p][1]
        if prefix is None:
            g, g_labels = sum_out(*suffix[p], target)
        else:
            g, g_labels = contract(*prefix, *suffix[p], target)
        grads.append(unbroadcast(g, g_labels, tuple(operands[p].shape), eq.inputs[p]))
        if p < n - 1:
            keep = set(eq.output).union(*labels_of[p + 1 :])
            prefix = (
                sum_out(*terms[p], keep)
                if prefix is None
                else contract(*prefix, *terms[p], keep)
            )
    return tuple(grads)


# --8<-- [end:vjp]


# --8<-- [start:function]
class EinsumFunction(torch.autograd.Function):
    """``torch.einsum`` forward; ``einsum_vjp`` backward. Dtypes: float32, float64."""

    @staticmethod
    def forward(equation: str, *operands: Tensor) -> Tensor:
        return torch.einsum(equation, *operands)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.equation = inputs[0]
        ctx.save_for_backward(*inputs[1:])

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        return (None, *einsum_vjp(ctx.equation, ctx.saved_tensors, grad_output))


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """``torch.einsum(equation, *operands)``, differentiated by ``einsum_vjp``.
    Dtypes: float32, float64."""
    operands = check_operands(equation, operands)  # clear errors up front
    if not (torch.is_grad_enabled() and any(x.requires_grad for x in operands)):
        return torch.einsum(equation, *operands)  # no gradient to take
    return EinsumFunction.apply(equation, *operands)


# --8<-- [end:function]

"""Automatic differentiation from scratch: a small reverse-mode engine (`Value`) over
torch tensors with one explicit vector-Jacobian product per primitive, forward mode on
dual numbers (`Dual`), Jacobians from JVPs and VJPs, gradient checkpointing, and the two
baselines that automatic differentiation replaces: finite differences and symbolic
differentiation.

A primitive ``y = f(a, b)`` comes with its VJP, the map from the upstream gradient
``g = dL/dy`` (shaped like ``y``) to ``(dL/da, dL/db) = (g^T df/da, g^T df/db)`` (shaped
like ``a`` and ``b``). ``Value.backward`` calls each node's VJP once, in reverse
topological order, and sums the gradients of a node that feeds several others. Every
public function raises ValueError naming the shapes when its input does not fit. This
module imports torch, the standard library and the package's shared checks
(snippets/checks.py).
"""

# --8<-- [start:imports]
import math
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import Tensor

from snippets.checks import check_broadcast, check_float, check_number, check_shape
# --8<-- [end:imports]

__all__ = [
    "forward_difference",
    "central_difference",
    "finite_difference_gradient",
    "logistic_map",
    "diff",
    "evaluate",
    "size",
    "distinct",
    "Dual",
    "jvp",
    "Value",
    "as_value",
    "operands",
    "topological_order",
    "backward",
    "counting",
    "unbroadcast",
    "matmul",
    "add",
    "mul",
    "relu",
    "sum_all",
    "log_softmax",
    "cross_entropy",
    "vjp",
    "jacobian_forward",
    "jacobian_reverse",
    "mlp",
    "init_mlp",
    "checkpoint",
]


# --8<-- [start:checks]
def check_difference(x, h) -> None:
    """x a finite number or a vector (n,) of floats; h a finite step > 0.
    Dtypes: float32, float64."""
    if isinstance(x, Tensor):
        check_float("x", x, dim=1)
    else:
        check_number("x", x)
    check_number("h", h, positive=True)


# An expression is "x", a number, or a tuple (op, left, right) with op in "+", "-", "*".
def check_node(e) -> None:
    """One node of an expression: "x", a number, or (op, left, right) with a known op.
    Dtypes: none (Python values, no tensor)."""
    if isinstance(e, tuple) and len(e) != 3:
        raise ValueError(f"an operation is (op, left, right), got {len(e)} items")
    if isinstance(e, tuple) and e[0] not in ("+", "-", "*"):
        raise ValueError(f"unknown operator {e[0]!r}: expressions use '+', '-' and '*'")
    if isinstance(e, bool) or not isinstance(e, (tuple, int, float)) and e != "x":
        raise ValueError(f"unknown variable {e!r}: expressions use 'x' and numbers")


def check_tangent(x: Tensor, t: Tensor) -> None:
    """x a floating-point tensor and the tangent t of its shape.
    Dtypes: float32, float64."""
    check_float("x", x)
    check_shape("t", t, x.shape, why="the shape of x")


def check_backward(root, grad) -> None:
    """grad, the gradient the backward pass starts from, has root's shape; it may be
    left out (None) for a scalar root. Dtypes: float32, float64."""
    if grad is None and root.data.dim() != 0:
        shape = tuple(root.shape)
        raise ValueError(f"backward() needs grad for a non-scalar of shape {shape}")
    if grad is not None:
        check_shape("grad", grad, root.shape, why="the node's shape")


def check_matmul(A: Tensor, B: Tensor) -> None:
    """A (n, k) and B (k, m). Dtypes: float32, float64."""
    if A.dim() != 2 or B.dim() != 2 or A.shape[1] != B.shape[0]:
        shapes = f"{tuple(A.shape)} @ {tuple(B.shape)}"
        raise ValueError(f"matmul needs A (n, k) @ B (k, m), got {shapes}")


def check_unbroadcast(g: Tensor, shape: tuple) -> None:
    """shape broadcasts to g's shape. Dtypes: float32, float64."""
    if len(shape) > g.dim() or any(
        s not in (1, n) for s, n in zip(shape[::-1], g.shape[::-1])
    ):
        raise ValueError(f"g {tuple(g.shape)} must be shape {tuple(shape)} broadcast")


def check_classes(Z, targets: Tensor) -> None:
    """logits Z (n, m) and int64 targets (n,), each a class in [0, m).
    Dtypes: float32, float64 (Z); int64 (targets)."""
    if Z.data.dim() != 2:
        raise ValueError(f"logits must have shape (n, m), got {tuple(Z.shape)}")
    n, m = Z.shape
    if targets.dtype != torch.int64 or tuple(targets.shape) != (n,):
        raise ValueError(
            f"targets must be int64 classes of shape ({n},) for logits "
            f"{tuple(Z.shape)}, got {targets.dtype} {tuple(targets.shape)}"
        )
    if n and (targets.min() < 0 or targets.max() >= m):
        raise ValueError(
            f"targets must be classes in [0, {m}), "
            f"got {int(targets.min())}..{int(targets.max())}"
        )


def check_row(name: str, x: Tensor) -> int:
    """n, for x a row (1, n), or a ValueError naming it. Dtypes: float32, float64."""
    check_float(name, x)
    if x.dim() != 2 or x.shape[0] != 1:
        raise ValueError(f"{name} must be a row of shape (1, n), got {tuple(x.shape)}")
    return x.shape[1]


def check_widths(widths: list[int], dtype: torch.dtype) -> None:
    """At least two layer widths, each >= 1, and a floating-point dtype.
    Dtypes: float32, float64."""
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must list at least two positive sizes, got {widths}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


def check_mlp(params: list, X) -> None:
    """params [W_1, b_1, ..., W_L, b_L] and X (..., d_0) of W_1's dtype; tensors, Values
    (their .data) or Duals (their .primal). Dtypes: float32, float64."""
    if not params or len(params) % 2:
        n = len(params)
        raise ValueError(f"params must be [W_1, b_1, ..., W_L, b_L], got {n} items")
    x, W = (getattr(t, "primal", getattr(t, "data", t)) for t in (X, params[0]))
    if x.dim() < 1 or x.shape[-1] != W.shape[0] or x.dtype != W.dtype:
        raise ValueError(
            f"X must be (..., {W.shape[0]}) of dtype {W.dtype} to fit W_1 "
            f"{tuple(W.shape)}, got {tuple(x.shape)} {x.dtype}"
        )


def check_segment(out) -> None:
    """A checkpointed segment returns a Value. Dtypes: float32, float64."""
    if not isinstance(out, Value):
        name = type(out).__name__
        raise ValueError(f"checkpoint: fn must return a Value, got {name}")


# --8<-- [end:checks]


# --8<-- [start:finite_differences]
def forward_difference(f: Callable[[float], float], x: float, h: float) -> float:
    """(f(x + h) - f(x)) / h. Error: about h |f''(x)| / 2 from truncating the Taylor
    series, plus about eps |f(x)| / h from rounding f's values (eps: 2^-52 in float64).
    """
    check_difference(x, h)
    return (f(x + h) - f(x)) / h


def central_difference(f: Callable[[float], float], x: float, h: float) -> float:
    """(f(x + h) - f(x - h)) / 2h. The h^2 terms cancel: truncation error about
    h^2 |f'''| / 6."""
    check_difference(x, h)
    return (f(x + h) - f(x - h)) / (2 * h)


def finite_difference_gradient(
    f: Callable[[Tensor], Tensor], x: Tensor, h: float
) -> Tensor:
    """The gradient of f: R^n -> R at x (n,) by forward differences: n + 1 calls of f.
    Dtypes: float32, float64."""
    check_difference(x, h)
    if len(x) == 0:
        return torch.zeros_like(x)  # no coordinates: an empty gradient
    fx, E = f(x), torch.eye(len(x), dtype=x.dtype, device=x.device)
    return torch.stack([(f(x + h * E[i]) - fx) / h for i in range(len(x))])


# --8<-- [end:finite_differences]


# --8<-- [start:symbolic]
# An expression is "x", a number, or a tuple (op, left, right) with op in "+", "-", "*".
def logistic_map(k: int):
    """l_1 = x, l_{i+1} = 4 l_i (1 - l_i): the expression l_k, written out as a tree."""
    e = "x"
    for _ in range(k - 1):
        e = ("*", ("*", 4, e), ("-", 1, e))
    return e


def diff(e):
    """d e / dx by the sum and product rules: no simplification, nothing shared."""
    check_node(e)
    if e == "x":
        return 1
    if not isinstance(e, tuple):
        return 0
    op, a, b = e
    if op == "*":
        return ("+", ("*", diff(a), b), ("*", a, diff(b)))
    return (op, diff(a), diff(b))


def evaluate(e, x: float) -> float:
    """The value of expression e at x."""
    check_node(e)
    if e == "x":
        return x
    if not isinstance(e, tuple):
        return e
    op, a, b = e
    a, b = evaluate(a, x), evaluate(b, x)
    return a + b if op == "+" else a - b if op == "-" else a * b


def size(e) -> int:
    """Operations in the expression tree: the work to evaluate it as written."""
    return 1 + size(e[1]) + size(e[2]) if isinstance(e, tuple) else 0


def distinct(e) -> int:
    """Distinct operations: the work when a repeated sub-expression is computed once,
    reused. Each operation gets a number, the same for equal sub-expressions; a node
    object met again is looked up by its id, so a shared sub-tree is visited once
    (comparing or hashing the tuples themselves would walk every path through the tree,
    exponentially many)."""
    numbers, by_id = {}, {}  # (op, number, number) -> number; id -> number

    def number(e):
        if not isinstance(e, tuple):
            return ("leaf", e)
        if id(e) not in by_id:
            key = (e[0], number(e[1]), number(e[2]))
            by_id[id(e)] = numbers.setdefault(key, len(numbers))
        return by_id[id(e)]

    number(e)
    return len(numbers)


# --8<-- [end:symbolic]


# --8<-- [start:dual]
class Dual:
    """Forward mode: a primal value and its tangent, the derivative of the primal along
    one input direction. Each operation applies the chain rule to the tangent as it
    goes. Dtypes: float32, float64."""

    def __init__(self, primal: Tensor, tangent: Tensor | None = None):
        self.primal = primal
        self.tangent = torch.zeros_like(primal) if tangent is None else tangent

    def constant(self, other) -> "Dual":
        """other itself if a Dual, else a constant: a tensor or number, tangent 0."""
        if isinstance(other, Dual):
            return other
        return Dual(
            torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device)
        )

    def __add__(self, other):
        o = self.constant(other)
        return Dual(self.primal + o.primal, self.tangent + o.tangent)

    def __mul__(self, other):
        o = self.constant(other)
        return Dual(
            self.primal * o.primal, self.tangent * o.primal + self.primal * o.tangent
        )

    def __matmul__(self, other):
        o = self.constant(other)
        return Dual(
            self.primal @ o.primal, self.tangent @ o.primal + self.primal @ o.tangent
        )

    def relu(self):
        return Dual(self.primal.clamp(min=0), self.tangent * (self.primal > 0))

    __radd__, __rmul__ = __add__, __mul__


def jvp(f: Callable, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(f(x), J t) with J = df/dx at x: one forward pass on dual numbers, t shaped like
    x. Dtypes: float32, float64."""
    check_tangent(x, t)
    out = f(Dual(x, t))
    return out.primal, out.tangent


# --8<-- [end:dual]


# --8<-- [start:counting]
_counters: list[Counter] = []


@contextmanager
def counting():
    """Count, inside the block: evaluations of each primitive (``c["matmul"]``, ...),
    VJP calls (``c["vjp"]``), backward passes (``c["backward"]``), and the nodes alive
    that hold an activation for a VJP: ``c["stored"]`` now and ``c["peak_stored"]`` at
    most. A node is freed (``Value.__del__``) as soon as nothing refers to it: the graph
    holds no reference cycles. Dtypes: float32, float64."""
    c = Counter()
    _counters.append(c)
    try:
        yield c
    finally:
        _counters.remove(c)


def _count(key: str) -> None:
    for c in _counters:
        c[key] += 1


# --8<-- [end:counting]


# --8<-- [start:value]
class Value:
    """A node of the computation graph: its tensor ``data``; the ``grad`` dL/d(data)
    that ``backward`` leaves, same shape; the ``parents`` it was computed from; and
    ``vjp``, which maps dL/d(this node) to the tuple (dL/d parent for each parent).
    Leaves have no vjp.
    Dtypes: float32, float64."""

    _counted: tuple = ()  # the counting() blocks this node is counted in

    def __init__(
        self,
        data: Tensor,
        parents: tuple = (),
        vjp: Callable | None = None,
        op: str = "leaf",
    ):
        check_float("data", data)
        self.data, self.parents, self.vjp, self.op = data, parents, vjp, op
        self.grad: Tensor | None = None
        self._counted = tuple(_counters) if vjp is not None else ()
        for c in self._counted:
            c[op] += 1
            c["stored"] += 1
            c["peak_stored"] = max(c["peak_stored"], c["stored"])

    def __del__(self):
        for c in self._counted:
            c["stored"] -= 1

    @property
    def shape(self) -> torch.Size:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Value({self.op}, shape={tuple(self.shape)})"

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def relu(self):
        return relu(self)

    def sum(self):
        return sum_all(self)

    def mean(self):
        return sum_all(self) * (1 / self.data.numel())  # composed, no own VJP

    def log_softmax(self):
        return log_softmax(self)

    def backward(self, grad=None):
        backward(self, grad)

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device


def as_value(x, like=None) -> Value:
    """x itself if a Value, else a constant leaf: a tensor, or a number in like's dtype.
    Dtypes: float32, float64."""
    if isinstance(x, Value):
        return x
    if isinstance(x, (int, float)):
        return Value(
            torch.tensor(
                float(x),
                dtype=getattr(like, "dtype", None),
                device=getattr(like, "device", None),
            )
        )
    return Value(x)


def operands(a, b) -> tuple[Value, Value]:
    """a and b as Values; a number becomes a constant in the other operand's dtype.
    Dtypes: float32, float64."""
    return as_value(a, like=b), as_value(b, like=a)


# --8<-- [end:value]


# --8<-- [start:backward]
def topological_order(root: Value) -> list[Value]:
    """Every node root depends on, root included, each one after all of its parents
    (depth-first, with a stack of its own instead of recursion).
    Dtypes: float32, float64."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((parent, False) for parent in node.parents)
    return order


def backward(root: Value, grad: Tensor | None = None) -> None:
    """Set .grad of every node root depends on to dL/d(node), where L is root (a scalar)
    or, given ``grad`` shaped like root, L = sum(grad * root). Each VJP runs once,
    children before parents; a node that feeds several others sums the parts it gets
    from each. Dtypes: float32, float64."""
    check_backward(root, grad)
    order = topological_order(root)
    for node in order:
        node.grad = None
    root.grad = torch.ones_like(root.data) if grad is None else grad
    _count("backward")
    for node in reversed(order):
        if node.vjp is None or node.grad is None:
            continue
        _count("vjp")
        for parent, g in zip(node.parents, node.vjp(node.grad)):
            parent.grad = g if parent.grad is None else parent.grad + g


# --8<-- [end:backward]


# --8<-- [start:matmul]
def matmul(a, b) -> Value:
    """Y = A B for A (n, k) and B (k, m): (n, m).
    VJP: dL/dA = G B^T (n, k) and dL/dB = A^T G (k, m), for G = dL/dY (n, m).
    Dtypes: float32, float64."""
    a, b = operands(a, b)
    A, B = a.data, b.data
    check_matmul(A, B)

    def vjp(G):
        return G @ B.T, A.T @ G

    return Value(A @ B, (a, b), vjp, "matmul")


# --8<-- [end:matmul]


# --8<-- [start:add]
def unbroadcast(g: Tensor, shape: tuple) -> Tensor:
    """Sum g down to shape: over the leading axes broadcasting prepended, and over each
    axis where shape has size 1 and g does not. That is the VJP of broadcasting to g's
    shape. Dtypes: float32, float64."""
    check_unbroadcast(g, shape)
    lead = g.dim() - len(shape)
    if lead:
        g = g.sum(tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axes, keepdim=True) if axes else g


def add(a, b) -> Value:
    """a + b, broadcasting. VJP: g summed down to each operand's shape.
    Dtypes: float32, float64."""
    a, b = operands(a, b)
    check_broadcast(a=a, b=b)
    shape_a, shape_b = a.shape, b.shape

    def vjp(g):
        return unbroadcast(g, shape_a), unbroadcast(g, shape_b)

    return Value(a.data + b.data, (a, b), vjp, "add")


# --8<-- [end:add]


# --8<-- [start:mul]
def mul(a, b) -> Value:
    """a * b elementwise, broadcasting. VJP: g b and g a, each summed down to its
    operand's shape. Dtypes: float32, float64."""
    a, b = operands(a, b)
    check_broadcast(a=a, b=b)
    A, B = a.data, b.data

    def vjp(g):
        return unbroadcast(g * B, A.shape), unbroadcast(g * A, B.shape)

    return Value(A * B, (a, b), vjp, "mul")


# --8<-- [end:mul]


# --8<-- [start:relu]
def relu(a) -> Value:
    """max(a, 0) elementwise. VJP: g where a > 0, else 0; at a = 0 that picks the
    subgradient 0 of [0, 1], as torch does. Dtypes: float32, float64."""
    a = as_value(a)
    A = a.data

    def vjp(g):
        return (g * (A > 0),)

    return Value(A.clamp(min=0), (a,), vjp, "relu")


# --8<-- [end:relu]


# --8<-- [start:sum_all]
def sum_all(a) -> Value:
    """The sum of every element, a 0-dim Value. VJP: the scalar g copied to a's shape.
    Dtypes: float32, float64."""
    a = as_value(a)
    shape = a.shape

    def vjp(g):
        return (g.expand(shape),)

    return Value(a.data.sum(), (a,), vjp, "sum")


# --8<-- [end:sum_all]


# --8<-- [start:log_softmax]
def log_softmax(a) -> Value:
    """z - logsumexp(z) along the last axis. Its Jacobian is I - 1 softmax(z)^T on each
    row, so VJP: g - softmax(z) sum(g), the sum along the last axis.
    Dtypes: float32, float64."""
    a = as_value(a)
    check_float("a", a.data, min_dim=1)
    out = a.data - torch.logsumexp(a.data, -1, keepdim=True)
    P = out.exp()  # softmax(z)

    def vjp(g):
        return (g - P * g.sum(-1, keepdim=True),)

    return Value(out, (a,), vjp, "log_softmax")


# --8<-- [end:log_softmax]


# --8<-- [start:cross_entropy]
def cross_entropy(logits: Value, targets: Tensor) -> Value:
    """Mean over rows of -log softmax(Z_i)[y_i], for logits Z (n, m) and classes y (n,).
    One step is not a primitive above: picking P[i, y_i] out of P = log_softmax(Z),
    whose VJP puts g_i back at (i, y_i), zeros elsewhere. (A product with the one-hot
    targets would give 0 * (-inf) = nan where a logit is -inf; torch's loss is finite
    there.) Dtypes: float32, float64."""
    Z = as_value(logits)
    check_classes(Z, targets)
    n = Z.shape[0]
    P, rows = log_softmax(Z), torch.arange(n, device=Z.device)

    def vjp(g):
        return (torch.zeros_like(P.data).index_put((rows, targets), g),)

    return Value(P.data[rows, targets], (P,), vjp, "pick").sum() * (-1 / n)


# --8<-- [end:cross_entropy]


# --8<-- [start:jacobians]
def vjp(f: Callable, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """(f(x), v^T J) with J = df/dx at x, the second shaped like x: one forward pass
    that records the graph, one backward pass, v shaped like f(x). Dtypes: float32,
    float64."""
    check_float("x", x)
    leaf = Value(x)
    out = f(leaf)
    check_shape("v", v, out.shape, why="the shape of f(x)")
    out.backward(v)
    return out.data, torch.zeros_like(x) if leaf.grad is None else leaf.grad


def jacobian_forward(f: Callable, x: Tensor) -> Tensor:
    """J (m, n) of f: (1, n) -> (1, m) at x, column by column: n JVPs, one per input
    e_i. Dtypes: float32, float64."""
    n = check_row("x", x)
    if n == 0:  # no inputs: an empty (m, 0) Jacobian, m from f(x)
        return x.new_zeros(check_row("f(x)", jvp(f, x, x)[0]), 0)
    E = torch.eye(n, dtype=x.dtype, device=x.device)
    return torch.stack([jvp(f, x, E[i : i + 1])[1][0] for i in range(n)], dim=1)


def jacobian_reverse(f: Callable, x: Tensor) -> Tensor:
    """J (m, n) of f: (1, n) -> (1, m) at x, row by row: one forward pass, then m
    backward passes through its graph, one VJP with each output direction e_j.
    Dtypes: float32, float64."""
    check_row("x", x)
    leaf = Value(x)
    y = f(leaf)  # the graph, recorded once
    m = check_row("f(x)", y.data)
    if m == 0:  # no outputs: an empty (0, n) Jacobian
        return x.new_zeros(0, x.shape[1])
    E = torch.eye(m, dtype=x.dtype, device=x.device)
    rows = []
    for j in range(m):
        y.backward(E[j : j + 1])
        rows.append(torch.zeros_like(x[0]) if leaf.grad is None else leaf.grad[0])
    return torch.stack(rows)


# --8<-- [end:jacobians]


# --8<-- [start:mlp]
def init_mlp(
    widths: list[int],
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    *,
    device=None,
) -> list[Tensor]:
    """[W_1, b_1, ..., W_L, b_L] for widths [d_0, ..., d_L]: W_i (d_{i-1}, d_i) with
    entries N(0, 1 / d_{i-1}), b_i (d_i,) with entries N(0, 0.01); drawn where
    ``generator`` lives (the same numbers on every device), then moved to ``device``.
    Dtypes: float32, float64 (default)."""
    check_widths(widths, dtype)
    where = device if generator is None else generator.device

    def randn(*shape):
        x = torch.randn(*shape, generator=generator, dtype=dtype, device=where)
        return x.to(device)

    params = []
    for d_in, d_out in zip(widths, widths[1:]):
        params.append(randn(d_in, d_out) / math.sqrt(d_in))
        params.append(0.1 * randn(d_out))
    return params


def mlp(params: list, X):
    """Logits of a ReLU MLP: h_0 = X (n, d_0), h_i = relu(h_{i-1} W_i + b_i), and no
    relu after the last layer. Runs on Values, on Duals and on plain torch tensors
    alike. Dtypes: float32, float64."""
    check_mlp(params, X)
    h = X
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    return h


# --8<-- [end:mlp]


# --8<-- [start:checkpoint]
def checkpoint(fn: Callable[..., Value], *inputs: Value) -> Value:
    """fn(*inputs) as one node that keeps none of fn's intermediate nodes. Forward: fn
    runs on fresh leaves and its graph is dropped. VJP: fn runs again (the recompute),
    then backward through that graph. fn must receive every Value it depends on as an
    argument. Dtypes: float32, float64."""
    inputs = tuple(as_value(x) for x in inputs)

    def run() -> tuple[list[Value], Value]:
        leaves = [Value(x.data) for x in inputs]
        out = fn(*leaves)
        check_segment(out)
        return leaves, out

    def vjp(g):
        leaves, out = run()
        out.backward(g)
        return tuple(
            torch.zeros_like(x.data) if x.grad is None else x.grad for x in leaves
        )

    return Value(run()[1].data, inputs, vjp, "checkpoint")


# --8<-- [end:checkpoint]

"""snippets.autodiff against torch.autograd: every primitive's VJP over random (broadcasting)
shapes, a 3-layer MLP with cross-entropy over random widths, gradcheck through the engine,
forward mode, Jacobians and their pass counts, checkpointing, the baselines (finite
differences, symbolic), ReLU at 0, and the errors for bad input."""

import math
import time
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tests.unit.strategies import seeded
from snippets.autodiff import (
    Dual,
    Value,
    add,
    backward,
    central_difference,
    checkpoint,
    counting,
    cross_entropy,
    diff,
    distinct,
    evaluate,
    finite_difference_gradient,
    forward_difference,
    init_mlp,
    jacobian_forward,
    jacobian_reverse,
    jvp,
    log_softmax,
    logistic_map,
    matmul,
    mlp,
    mul,
    relu,
    size,
    sum_all,
    topological_order,
    unbroadcast,
    vjp,
)

F64 = torch.float64
EXACT = dict(rtol=0, atol=1e-12)  # float64, the same operations as torch up to ordering
# cheap properties: enough shapes, within the time budget
FEW = settings(max_examples=30)


def randn(shape, gen) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=F64)


def assert_vjps_match_torch(op, torch_op, inputs, gen, g=None):
    """op on Value leaves, backward with a random upstream g, against torch.autograd.grad."""
    leaves = [Value(x.clone()) for x in inputs]
    out = op(*leaves)
    ref_inputs = [x.clone().requires_grad_() for x in inputs]
    ref = torch_op(*ref_inputs)
    torch.testing.assert_close(out.data, ref.detach(), **EXACT)
    if g is None:
        g = randn(out.shape, gen)
    out.backward(g)
    expected = torch.autograd.grad(ref, ref_inputs, g, allow_unused=True)
    for i, (leaf, e) in enumerate(zip(leaves, expected)):
        e = torch.zeros_like(inputs[i]) if e is None else e
        assert leaf.grad is not None and leaf.grad.shape == inputs[i].shape, (
            f"input {i}: gradient of shape {None if leaf.grad is None else tuple(leaf.grad.shape)}"
            f" for an input of shape {tuple(inputs[i].shape)}"
        )
        torch.testing.assert_close(
            leaf.grad, e, **EXACT, msg=lambda m: f"input {i}: {m}"
        )


# Primitives


@st.composite
def broadcasting_pairs(draw):
    """Two shapes that broadcast: a common shape of 0-3 axes (sizes 1-4); each operand drops
    some leading axes and turns some axes into 1."""
    full = draw(st.lists(st.integers(1, 4), max_size=3))
    shapes = []
    for _ in range(2):
        lead = draw(st.integers(0, len(full)))
        shapes.append(tuple(1 if draw(st.booleans()) else s for s in full[lead:]))
    if draw(st.booleans()):
        shapes.reverse()
    return shapes, seeded(draw)


@FEW
@given(broadcasting_pairs())
def test_add_vjp_sums_over_broadcast_axes(case):
    (sa, sb), gen = case
    assert_vjps_match_torch(add, torch.add, [randn(sa, gen), randn(sb, gen)], gen)


@FEW
@given(broadcasting_pairs())
def test_mul_vjp_sums_over_broadcast_axes(case):
    (sa, sb), gen = case
    assert_vjps_match_torch(mul, torch.mul, [randn(sa, gen), randn(sb, gen)], gen)


@FEW
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.data())
def test_matmul_vjps_match_torch(n, k, m, data):
    gen = seeded(data.draw)
    assert_vjps_match_torch(
        matmul, torch.matmul, [randn((n, k), gen), randn((k, m), gen)], gen
    )


@pytest.mark.parametrize("n", [1, 3, 4])
def test_matmul_vjps_with_square_operands(n):
    """Square A and B: a transposed operand in a VJP has the right shape, only values differ."""
    gen = torch.Generator().manual_seed(n)
    assert_vjps_match_torch(
        matmul, torch.matmul, [randn((n, n), gen), randn((n, n), gen)], gen
    )
    assert_vjps_match_torch(
        matmul, torch.matmul, [randn((2, n), gen), randn((n, n), gen)], gen
    )
    assert_vjps_match_torch(
        matmul, torch.matmul, [randn((n, n), gen), randn((n, 2), gen)], gen
    )


@st.composite
def tensors(draw, min_dims=0):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=min_dims, max_size=3)))
    gen = seeded(draw)
    return randn(shape, gen), gen


@FEW
@given(tensors())
def test_relu_vjp_matches_torch(case):
    x, gen = case
    x = torch.where(x.abs() < 0.3, torch.zeros_like(x), x)  # exact zeros too
    assert_vjps_match_torch(relu, torch.relu, [x], gen)


def test_relu_vjp_is_zero_at_and_below_zero():
    x = Value(torch.tensor([-2.0, -1e-300, 0.0, 1e-300, 3.0], dtype=F64))
    relu(x).backward(torch.full((5,), 7.0, dtype=F64))
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 7.0, 7.0]


@FEW
@given(tensors())
def test_sum_all_vjp_matches_torch(case):
    x, gen = case
    assert_vjps_match_torch(sum_all, torch.sum, [x], gen)


@FEW
@given(tensors(min_dims=1), st.sampled_from([1.0, 30.0]))
def test_log_softmax_vjp_matches_torch(case, scale):
    x, gen = case
    assert_vjps_match_torch(
        log_softmax, lambda z: F.log_softmax(z, -1), [scale * x], gen
    )


@pytest.mark.parametrize(
    "name,program",
    [
        ("mean", lambda x, w: (x * w).mean()),
        ("number-left", lambda x, w: (2.0 + x) * (3.0 * w)),
        ("tensor-left", lambda x, w: torch.ones(2, 3, dtype=F64) @ (x * w)),
    ],
)
def test_composed_ops_and_operands_on_either_side(name, program):
    """The same program on Values and on torch tensors: numbers and tensors as constants."""
    gen = torch.Generator().manual_seed(9)
    assert_vjps_match_torch(
        program, program, [randn((3, 4), gen), randn((4,), gen)], gen
    )


def test_log_softmax_vjp_of_a_one_hot_upstream_is_minus_softmax_off_the_target():
    """g = e_y: the VJP is e_y - softmax(z), the row that cross-entropy's gradient negates."""
    z = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=F64)
    leaf = Value(z)
    log_softmax(leaf).backward(torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=F64))
    expected = torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=F64) - F.softmax(z, -1)
    torch.testing.assert_close(leaf.grad, expected, **EXACT)


@pytest.mark.parametrize(
    "shape,target",
    [
        ((2, 3, 4), (4,)),
        ((2, 3, 4), (1, 4)),
        ((2, 3, 4), (2, 1, 4)),
        ((2, 3, 4), (1, 3, 1)),
        ((5,), ()),
        ((2, 3), (1, 1)),
        ((3,), (3,)),
    ],
)
def test_unbroadcast_is_the_vjp_of_expand(shape, target):
    gen = torch.Generator().manual_seed(0)
    x = randn(target, gen).requires_grad_()
    g = randn(shape, gen)
    (expected,) = torch.autograd.grad(x.expand(shape), x, g)
    torch.testing.assert_close(unbroadcast(g, target), expected, **EXACT)


# The backward pass


@pytest.mark.parametrize(
    "name,program",
    [
        ("x*x", lambda x: x * x),
        ("x+x", lambda x: x + x),
        ("x*x+x", lambda x: x * x + x),
        ("diamond", lambda x: (x.relu() + 1.0) * (x * 2.0)),
        ("three-uses", lambda x: x * x * x),
    ],
)
def test_a_node_used_several_times_gets_the_sum_of_its_gradients(name, program):
    gen = torch.Generator().manual_seed(3)
    assert_vjps_match_torch(program, program, [randn((4,), gen)], gen)


def test_a_weight_shared_by_two_layers():
    gen = torch.Generator().manual_seed(4)
    X, W, b = randn((3, 4), gen), randn((4, 4), gen), randn((4,), gen)

    def two_layers(X, W, b):
        return (((X @ W + b).relu() @ W + b).relu()).sum()

    assert_vjps_match_torch(
        two_layers, two_layers, [X, W, b], gen, g=torch.tensor(1.0, dtype=F64)
    )


def test_topological_order_puts_parents_first_and_each_node_once():
    x = Value(torch.ones(2, dtype=F64))
    a = x * 2.0
    b = a + x
    c = b * a
    order = topological_order(c)
    assert len(order) == len(set(order)) == 5  # x, the constant 2, a, b, c
    position = {node: i for i, node in enumerate(order)}
    for node in order:
        assert all(position[p] < position[node] for p in node.parents)
    assert order[-1] is c


def test_backward_through_a_deep_chain_needs_no_recursion():
    x = Value(torch.tensor([0.5], dtype=F64))
    h = x
    for _ in range(1200):  # > the recursion limit, 1000
        h = h * 1.0
    h.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_backward_twice_gives_the_same_gradients():
    """Each backward() recomputes every .grad from scratch: nothing accumulates across calls."""
    gen = torch.Generator().manual_seed(5)
    W = Value(randn((3, 2), gen))
    loss = (Value(randn((4, 3), gen)) @ W).relu().sum()
    loss.backward()
    first = W.grad.clone()
    loss.backward()
    torch.testing.assert_close(W.grad, first, rtol=0, atol=0)


def test_a_leaf_the_output_does_not_depend_on_keeps_no_gradient():
    x, unused = Value(torch.ones(2, dtype=F64)), Value(torch.ones(2, dtype=F64))
    (x * 3.0).sum().backward()
    assert unused.grad is None and x.grad.tolist() == [3.0, 3.0]


# A 3-layer MLP with cross-entropy


@st.composite
def mlp_problems(draw):
    """Batch 1-8, input and two hidden widths 1-7, 1-6 classes; float64 params and data."""
    widths = [draw(st.integers(1, 7)) for _ in range(3)] + [draw(st.integers(1, 6))]
    n = draw(st.integers(1, 8))
    gen = seeded(draw)
    params = init_mlp(widths, gen)
    X = randn((n, widths[0]), gen)
    y = torch.randint(0, widths[-1], (n,), generator=gen)
    return params, X, y


def torch_mlp_loss(params, X, y):
    W1, b1, W2, b2, W3, b3 = params
    return F.cross_entropy(
        F.linear(F.relu(F.linear(F.relu(F.linear(X, W1.T, b1)), W2.T, b2)), W3.T, b3), y
    )


@settings(max_examples=40)
@given(mlp_problems())
def test_mlp_cross_entropy_gradients_match_torch(case):
    params, X, y = case
    P = [Value(p.clone()) for p in params]
    loss = cross_entropy(mlp(P, X), y)
    loss.backward()
    P_ref = [p.clone().requires_grad_() for p in params]
    loss_ref = torch_mlp_loss(P_ref, X, y)
    torch.testing.assert_close(loss.data, loss_ref.detach(), **EXACT)
    for name, p, expected in zip(
        ["W1", "b1", "W2", "b2", "W3", "b3"], P, torch.autograd.grad(loss_ref, P_ref)
    ):
        assert p.grad.shape == expected.shape, f"{name}: shape {tuple(p.grad.shape)}"
        torch.testing.assert_close(
            p.grad, expected, **EXACT, msg=lambda m: f"{name}: {m}"
        )


class EngineLoss(torch.autograd.Function):
    """The MLP's loss as a torch function whose backward is this engine's: gradcheck compares
    the engine's gradients with central differences."""

    @staticmethod
    def forward(ctx, X, y, *params):
        P = [Value(p.detach()) for p in params]
        loss = cross_entropy(mlp(P, X), y)
        loss.backward()
        ctx.grads = [p.grad for p in P]
        return loss.data.clone()

    @staticmethod
    def backward(ctx, g):
        return (None, None, *(g * dp for dp in ctx.grads))


def test_gradcheck_through_the_engine():
    gen = torch.Generator().manual_seed(6)
    params = [p.requires_grad_() for p in init_mlp([3, 4, 5, 3], gen)]
    X, y = randn((5, 3), gen), torch.tensor([0, 2, 1, 1, 0])
    assert torch.autograd.gradcheck(lambda *p: EngineLoss.apply(X, y, *p), params)


# Forward mode and Jacobians


def torch_jacobian(f, x):
    return torch.autograd.functional.jacobian(f, x)[0, :, 0]


@st.composite
def functions(draw):
    """A 2-layer MLP from R^n to R^m (n, m in 1-6) and a point x of shape (1, n)."""
    n, hidden, m = (
        draw(st.integers(1, 6)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 6)),
    )
    gen = seeded(draw)
    params = init_mlp([n, hidden, m], gen)
    return (lambda x: mlp(params, x)), randn((1, n), gen), gen


@FEW
@given(functions())
def test_jvp_and_vjp_match_the_jacobian(case):
    f, x, gen = case
    J = torch_jacobian(f, x)
    t, v = randn(x.shape, gen), randn((1, J.shape[0]), gen)
    y, y_dot = jvp(f, x, t)
    torch.testing.assert_close(y, f(x), **EXACT)
    torch.testing.assert_close(y_dot, t @ J.T, **EXACT)
    y, x_bar = vjp(f, x, v)
    torch.testing.assert_close(y, f(x), **EXACT)
    torch.testing.assert_close(x_bar, v @ J, **EXACT)


@settings(max_examples=20)
@given(functions())
def test_full_jacobians_take_n_jvps_or_m_vjps(case):
    f, x, _ = case
    calls = Counter()

    def counted(x):
        calls[type(x).__name__] += 1
        return f(x)

    J = torch_jacobian(f, x)
    m, n = J.shape
    torch.testing.assert_close(jacobian_forward(counted, x), J, **EXACT)
    with counting() as c:
        torch.testing.assert_close(jacobian_reverse(counted, x), J, **EXACT)
    assert calls == {"Dual": n, "Value": 1}
    assert c["backward"] == m


def test_dual_numbers_follow_the_product_rule():
    a, b = Dual(torch.tensor(3.0, dtype=F64), torch.tensor(1.0, dtype=F64)), 2.0
    out = a * a * b + a
    # d(2a^2 + a) = 4a + 1
    assert (out.primal.item(), out.tangent.item()) == (
        21.0,
        13.0,
    )


# Checkpointing


def layer(h, W, b):
    return (h @ W + b).relu()


def segment(h, *Wb):
    for W, b in zip(Wb[::2], Wb[1::2]):
        h = layer(h, W, b)
    return h


@pytest.mark.parametrize("L,s", [(1, 1), (4, 1), (4, 2), (6, 3), (8, 4), (9, 3)])
def test_checkpointed_segments_give_torchs_gradients_for_one_extra_forward(L, s):
    gen = torch.Generator().manual_seed(10 * L + s)
    params = init_mlp([5] * (L + 1), gen)
    X, y = randn((3, 5), gen), torch.tensor([0, 4, 2])

    P = [Value(p) for p in params]
    with counting() as c:
        h = X
        for i in range(0, 2 * L, 2 * s):
            h = checkpoint(segment, h, *P[i : i + 2 * s])
        loss = cross_entropy(h, y)
        after_forward = c["stored"]
        loss.backward()
        del loss, h
    assert c["matmul"] == c["add"] == c["relu"] == 2 * L  # every layer twice
    assert after_forward == L // s + 4  # one node per segment + loss
    assert c["peak_stored"] == L // s + 4 + 3 * s  # + one recomputed segment
    assert c["stored"] == 0

    P_ref = [p.clone().requires_grad_() for p in params]
    expected = torch.autograd.grad(F.cross_entropy(segment(X, *P_ref), y), P_ref)
    for p, e in zip(P, expected):
        torch.testing.assert_close(p.grad, e, **EXACT)


def test_without_checkpoints_every_node_is_stored_until_the_end():
    gen = torch.Generator().manual_seed(7)
    params = init_mlp([4] * 6, gen)
    P = [Value(p) for p in params]
    with counting() as c:
        loss = cross_entropy(segment(randn((2, 4), gen), *P), torch.tensor([1, 3]))
        loss.backward()
        assert c["stored"] == c["peak_stored"] == 3 * 5 + 4
        del loss
    assert c["stored"] == 0 and c["matmul"] == 5 and c["vjp"] == 3 * 5 + 4


def test_checkpoint_of_a_segment_that_ignores_an_input_gives_it_zero():
    x, w = Value(torch.ones(2, dtype=F64)), Value(torch.ones(2, dtype=F64))
    checkpoint(lambda x, w: x * 3.0, x, w).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0] and w.grad.tolist() == [0.0, 0.0]


# The baselines


def test_finite_difference_errors_truncation_then_round_off():
    steps = [10.0**-k for k in range(1, 16)]
    fwd = [abs(forward_difference(math.sin, 0.7, h) - math.cos(0.7)) for h in steps]
    ctr = [abs(central_difference(math.sin, 0.7, h) - math.cos(0.7)) for h in steps]
    for h, e in zip(steps[1:5], fwd[1:5]):  # h |f''| / 2
        assert abs(e / h - math.sin(0.7) / 2) < 0.01 * math.sin(0.7)
    for h, e in zip(steps[1:3], ctr[1:3]):  # h^2 |f'''| / 6
        assert abs(e / h**2 - math.cos(0.7) / 6) < 0.01
    assert 1e-9 <= steps[fwd.index(min(fwd))] <= 1e-7
    assert 1e-7 <= steps[ctr.index(min(ctr))] <= 1e-4
    assert min(ctr) < min(fwd) / 10 and fwd[-1] > 1e3 * min(fwd)


def test_finite_difference_gradient_calls_f_n_plus_one_times():
    gen = torch.Generator().manual_seed(8)
    x = randn((7,), gen)
    calls = []

    def f(x):
        calls.append(1)
        return (x.sin() * x).sum()

    g = finite_difference_gradient(f, x, 1e-7)
    assert len(calls) == 8
    torch.testing.assert_close(g, x.cos() * x + x.sin(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", range(1, 8))
def test_symbolic_derivative_of_the_logistic_map(k):
    x = torch.tensor(0.3, dtype=F64, requires_grad=True)
    l = x
    for _ in range(k - 1):
        l = 4 * l * (1 - l)
    (expected,) = torch.autograd.grad(l, x)
    e = logistic_map(k)
    assert abs(evaluate(e, 0.3) - l.item()) < 1e-12
    assert abs(evaluate(diff(e), 0.3) - expected.item()) < 1e-12
    assert (size(e), distinct(e)) == (3 * (2 ** (k - 1) - 1), 3 * (k - 1))
    if k > 1:
        assert (
            size(diff(e)) == 9 * (k - 1) * 2 ** (k - 2)
            and distinct(diff(e)) == 10 * k - 11
        )


def test_symbolic_rules_on_small_expressions():
    assert diff(("*", "x", "x")) == ("+", ("*", 1, "x"), ("*", "x", 1))
    assert diff(("-", 5, "x")) == ("-", 0, 1)
    assert evaluate(diff(("*", ("+", "x", 2), ("-", "x", 1))), 3.0) == 2 * 3.0 + 1


class Node(tuple):
    """An operation that counts how often it is hashed or compared, and gives up past 10^4:
    hashing or comparing the tuples of l_k walks all of its 2^k paths."""

    calls = 0

    def count(self):
        Node.calls += 1
        if Node.calls > 10_000:
            raise RuntimeError("10^4 hashes or comparisons of expression nodes")

    def __hash__(self):
        self.count()
        return tuple.__hash__(self)

    def __eq__(self, other):
        self.count()
        return tuple.__eq__(self, other)


def test_distinct_visits_a_shared_sub_expression_once():
    e = "x"
    for _ in range(29):
        e = Node(("*", Node(("*", 4, e)), Node(("-", 1, e))))  # l_30
    Node.calls = 0
    assert distinct(e) == 3 * 29 and Node.calls <= 3 * 29
    start = time.perf_counter()
    assert distinct(logistic_map(30)) == 3 * 29
    assert time.perf_counter() - start < 1.0  # a few ms: 87 nodes; 2^30 paths before


BAD_EXPRESSIONS = {
    "operator": (("/", "x", 2), r"unknown operator '/'"),
    "variable": ("y", r"unknown variable 'y'"),
    "nested-variable": (("+", 1, ("*", "x", "z")), r"unknown variable 'z'"),
    "arity": (("+", "x"), r"an operation is \(op, left, right\), got 2 items"),
    "bool": (("*", True, "x"), r"unknown variable True"),
    "none": (None, r"unknown variable None"),
}


@pytest.mark.parametrize("name", BAD_EXPRESSIONS)
def test_evaluate_and_diff_reject_unknown_operators_and_variables(name):
    e, message = BAD_EXPRESSIONS[name]
    with pytest.raises(ValueError, match=message):
        evaluate(e, 1.0)
    with pytest.raises(ValueError, match=message):
        evaluate(diff(e), 1.0)


def test_cross_entropy_with_minus_inf_logits_matches_torch():
    """A class ruled out (logit -inf) adds nothing to the loss and gets zero gradient."""
    Z = torch.tensor(
        [[0.5, -math.inf, 2.0], [1.0, 0.0, -math.inf], [-math.inf, 3.0, -math.inf]],
        dtype=F64,
    )
    y = torch.tensor([0, 1, 1])
    Z_ref, Z_val = Z.clone().requires_grad_(), Value(Z.clone())
    loss, loss_ref = cross_entropy(Z_val, y), F.cross_entropy(Z_ref, y)
    loss.backward()
    assert loss.data.isfinite()
    torch.testing.assert_close(loss.data, loss_ref.detach(), rtol=0, atol=1e-12)
    (expected,) = torch.autograd.grad(loss_ref, Z_ref)
    torch.testing.assert_close(Z_val.grad, expected, rtol=0, atol=1e-12)
    assert torch.equal(Z_val.data, Z)


# ReLU at 0


def test_relu_at_zero_returns_torchs_subgradient_zero():
    x = torch.zeros(4, dtype=F64, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.relu(x).sum(), x)
    ours = Value(torch.zeros(4, dtype=F64))
    relu(ours).sum().backward()
    assert ours.grad.tolist() == expected.tolist() == [0.0] * 4


# Errors


def zeros(*shape):
    return Value(torch.zeros(shape, dtype=F64))


def bad(name, call, message):
    return pytest.param(call, message, id=name)


BAD = [
    bad(
        "matmul-inner",
        lambda: matmul(zeros(2, 3), zeros(4, 5)),
        r"matmul needs A \(n, k\) @ B \(k, m\), got \(2, 3\) @ \(4, 5\)",
    ),
    bad(
        "matmul-1-d",
        lambda: matmul(zeros(3), zeros(3, 2)),
        r"matmul needs A \(n, k\) @ B \(k, m\), got \(3,\) @ \(3, 2\)",
    ),
    bad(
        "matmul-operator",
        lambda: zeros(2, 3) @ torch.zeros(2, 3, dtype=F64),
        r"got \(2, 3\) @ \(2, 3\)",
    ),
    bad(
        "add-broadcast",
        lambda: add(zeros(2, 3), zeros(2)),
        r"a \(2, 3\) and b \(2,\) do not broadcast",
    ),
    bad(
        "mul-broadcast",
        lambda: zeros(4, 1, 3) * zeros(2, 2),
        r"a \(4, 1, 3\) and b \(2, 2\) do not broadcast",
    ),
    bad(
        "ce-target-column",
        lambda: cross_entropy(zeros(4, 3), torch.zeros(4, 1, dtype=torch.int64)),
        r"targets must be int64 classes of shape \(4,\) for logits \(4, 3\), got torch.int64 \(4, 1\)",
    ),
    bad(
        "ce-target-length",
        lambda: cross_entropy(zeros(4, 3), torch.zeros(5, dtype=torch.int64)),
        r"shape \(4,\) for logits \(4, 3\), got torch.int64 \(5,\)",
    ),
    bad(
        "ce-float-targets",
        lambda: cross_entropy(zeros(2, 3), torch.zeros(2)),
        r"targets must be int64 classes .* got torch.float32 \(2,\)",
    ),
    bad(
        "ce-class-range",
        lambda: cross_entropy(zeros(2, 3), torch.tensor([0, 3])),
        r"targets must be classes in \[0, 3\), got 0\.\.3",
    ),
    bad(
        "ce-1-d-logits",
        lambda: cross_entropy(zeros(3), torch.tensor([0])),
        r"logits must have shape \(n, m\), got \(3,\)",
    ),
    bad(
        "backward-non-scalar",
        lambda: zeros(2, 3).relu().backward(),
        r"backward\(\) needs grad for a non-scalar of shape \(2, 3\)",
    ),
    bad(
        "backward-grad-shape",
        lambda: backward(zeros(2, 3).relu(), torch.zeros(3, 2)),
        r"grad must have shape \(2, 3\) \(the node's shape\), got torch.float32 of shape \(3, 2\)",
    ),
    bad(
        "value-integer",
        lambda: Value(torch.zeros(2, dtype=torch.int64)),
        r"data must be a floating-point tensor, got torch.int64 of shape \(2,\)",
    ),
    bad(
        "log-softmax-scalar",
        lambda: log_softmax(zeros()),
        r"a must have at least 1 dimension\(s\), got torch.float64 of shape \(\)",
    ),
    bad(
        "jvp-tangent-shape",
        lambda: jvp(lambda x: x, torch.zeros(1, 3), torch.zeros(3)),
        r"t must have shape \(1, 3\) \(the shape of x\), got torch.float32 of shape \(3,\)",
    ),
    bad(
        "jacobian-column",
        lambda: jacobian_reverse(lambda x: x, torch.zeros(3, 1)),
        r"x must be a row of shape \(1, n\), got \(3, 1\)",
    ),
    bad(
        "jacobian-output-not-a-row",
        lambda: jacobian_reverse(lambda x: x.sum(), torch.zeros(1, 3)),
        r"f\(x\) must be a row of shape \(1, n\), got \(\)",
    ),
    bad(
        "jacobian-forward-1-d",
        lambda: jacobian_forward(lambda x: x, torch.zeros(3)),
        r"x must be a row of shape \(1, n\), got \(3,\)",
    ),
    bad(
        "fd-step",
        lambda: finite_difference_gradient(torch.sum, torch.zeros(3), 0.0),
        r"h must be a finite number > 0, got 0.0",
    ),
    bad(
        "fd-2-d",
        lambda: finite_difference_gradient(torch.sum, torch.zeros(1, 3), 0.1),
        r"x must have 1 dimension\(s\), got torch.float32 of shape \(1, 3\)",
    ),
    bad(
        "forward-difference-step",
        lambda: forward_difference(math.sin, 0.3, 0),
        r"h must be a finite number > 0, got 0",
    ),
    bad(
        "central-difference-inf",
        lambda: central_difference(math.sin, math.inf, 1e-4),
        r"x must be a finite number, got inf",
    ),
    bad(
        "central-difference-bool",
        lambda: central_difference(math.sin, 0.3, True),
        r"h must be a finite number > 0, got True",
    ),
    bad(
        "unbroadcast-fewer-axes",
        lambda: unbroadcast(torch.zeros(3), (1, 3)),
        r"g \(3,\) must be shape \(1, 3\) broadcast",
    ),
    bad(
        "unbroadcast-other-size",
        lambda: unbroadcast(torch.zeros(2, 0), (1, 3)),
        r"g \(2, 0\) must be shape \(1, 3\) broadcast",
    ),
    bad(
        "vjp-v-shape",
        lambda: vjp(lambda v: v * v, torch.zeros(1, 3, dtype=F64), torch.zeros(3)),
        r"v must have shape \(1, 3\) \(the shape of f\(x\)\), got torch.float32 of shape \(3,\)",
    ),
    bad(
        "vjp-integer-x",
        lambda: vjp(lambda v: v * v, torch.zeros(3, dtype=torch.int64), torch.zeros(3)),
        r"x must be a floating-point tensor, got torch.int64 of shape \(3,\)",
    ),
    bad(
        "jacobian-integer-x",
        lambda: jacobian_reverse(lambda x: x, torch.zeros(1, 3, dtype=torch.int64)),
        r"x must be a floating-point tensor, got torch.int64 of shape \(1, 3\)",
    ),
    bad(
        "mlp-width",
        lambda: mlp(
            init_mlp([3, 4, 2], torch.Generator()), torch.zeros(2, 0, dtype=F64)
        ),
        r"X must be \(\.\.\., 3\) of dtype torch.float64 to fit W_1 \(3, 4\), "
        r"got \(2, 0\) torch.float64",
    ),
    bad(
        "mlp-dtype",  # parameters as Values: their data is checked
        lambda: mlp(
            [Value(p) for p in init_mlp([3, 2], torch.Generator())], torch.zeros(2, 3)
        ),
        r"X must be .* of dtype torch.float64 .* got \(2, 3\) torch.float32",
    ),
    bad(
        "mlp-odd-params",
        lambda: mlp(init_mlp([3, 2], torch.Generator())[:1], torch.zeros(2, 3)),
        r"params must be \[W_1, b_1, \.\.\., W_L, b_L\], got 1 items",
    ),
    bad(
        "checkpoint-not-a-value",
        lambda: checkpoint(lambda x: x.data, zeros(2)),
        r"checkpoint: fn must return a Value, got Tensor",
    ),
    bad(
        "init-mlp-widths",
        lambda: init_mlp([3], torch.Generator()),
        r"widths must list at least two positive sizes, got \[3\]",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_inputs_give_empty_gradients_and_jacobians_as_torch_func_does():
    """No coordinates: an empty gradient (n = 0) or Jacobian ((m, 0) or (0, n)), not an error."""
    x0 = torch.zeros(0, dtype=F64)
    assert finite_difference_gradient(lambda x: (x * x).sum(), x0, 1e-3).shape == (0,)
    row0, row3 = torch.zeros(1, 0, dtype=F64), torch.ones(1, 3, dtype=F64)
    W = torch.ones(0, 2, dtype=F64)
    J = jacobian_forward(lambda x: x @ W, row0)  # f: R^0 -> R^2
    assert J.shape == (2, 0) == torch.func.jacfwd(lambda x: x @ W)(row0)[0, :, 0].shape
    J = jacobian_reverse(lambda x: x * row0.sum(), row0)  # f: R^0 -> R^0
    assert J.shape == (0, 0)
    # f: R^3 -> R^0
    J = jacobian_reverse(lambda x: x @ torch.ones(3, 0, dtype=F64), row3)
    assert (
        J.shape
        == (0, 3)
        == torch.func.jacrev(lambda x: x @ torch.ones(3, 0, dtype=F64))(row3)[
            0, :, 0
        ].shape
    )

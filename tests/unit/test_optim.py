"""snippets.optim against torch.optim: SGD, Adam and AdamW step for step over 100 steps in
float64 (hypothesis over hyper-parameters and parameter shapes), the momentum buffer as a sum,
Nesterov as the look-ahead, weight decay as L2 or decoupled, bias correction, mini-batches,
and the ValueErrors torch raises for the same hyper-parameters."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch.utils.data import DataLoader, TensorDataset

from tests.unit.strategies import seeded
from snippets.optim import SGD, Adam, AdamW, minibatches

F64 = torch.float64
TOL = dict(rtol=1e-12, atol=1e-12)
TORCH = {SGD: torch.optim.SGD, Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}


class Separable:
    """f(theta) = sum_p sum(c_p log cosh(theta_p - a_p)): smooth, with a gradient c_p
    tanh(theta_p - a_p) bounded by c_p (so no step size makes SGD blow up) and a per-element
    curvature scale c_p between 1e-3 and 1 (so Adam's per-coordinate scaling matters)."""

    def __init__(self, shapes, gen: torch.Generator):
        self.a = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]
        self.c = [10 ** (-3 * torch.rand(s, generator=gen, dtype=F64)) for s in shapes]
        self.theta0 = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]

    def params(self) -> list[torch.Tensor]:
        return [t.clone().requires_grad_() for t in self.theta0]

    def set_grads(self, params) -> None:
        for p, a, c in zip(params, self.a, self.c):
            p.grad = c * torch.tanh(p.detach() - a)


def assert_lockstep(
    ours_cls, kwargs: dict, problem: Separable, steps: int = 100
) -> None:
    """ours_cls(**kwargs) and its torch.optim namesake, each from the same start and each fed
    the gradient at its own parameters, agree to 1e-12 after `steps` steps."""
    mine, theirs = problem.params(), problem.params()
    ours, ref = ours_cls(mine, **kwargs), TORCH[ours_cls](theirs, **kwargs)
    for _ in range(steps):
        problem.set_grads(mine)
        problem.set_grads(theirs)
        ours.step()
        ref.step()
    for p, q in zip(mine, theirs):
        torch.testing.assert_close(
            p, q, **TOL, msg=lambda m: f"after {steps} steps, {kwargs}: {m}"
        )
    moved = sum((p - p0).abs().sum().item() for p, p0 in zip(mine, problem.theta0))
    assert moved > 0 or kwargs.get("lr") == 0, "the parameters did not move"


shape_lists = st.lists(
    st.lists(st.integers(1, 4), max_size=3).map(tuple), min_size=1, max_size=3
)


@st.composite
def problems(draw):
    """A Separable problem on 1-3 parameters of 0-3 dimensions (sizes 1-4)."""
    return Separable(draw(shape_lists), seeded(draw))


@st.composite
def sgd_kwargs(draw):
    """SGD hyper-parameters: lr up to 1 (lr * curvature <= 1), momentum on or off, dampening
    with plain momentum, Nesterov (momentum > 0, no dampening), weight decay on or off."""
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.1, 0.9]))
    return dict(
        lr=draw(st.sampled_from([0.0, 1e-2, 0.3, 1.0])),
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=draw(st.sampled_from([0.0, 1e-3, 0.1])),
    )


@st.composite
def adam_kwargs(draw, wide: bool = False):
    """Adam/AdamW hyper-parameters. Over 100 steps: lr up to 1e-2 and beta2 >= 0.99. Wider
    (for single steps): lr up to 1 and beta2 from 0, where Adam divides by a running RMS of
    the gradient that can be tiny, so that a one-ulp difference in one step can grow by orders
    of magnitude within a few steps, torch's own result included (see the chapter)."""
    lrs = [1e-4, 1e-3, 1e-2] + [0.1, 1.0] * wide
    beta2s = [0.99, 0.999, 0.9999] + [0.0, 0.5, 0.9] * wide
    return dict(
        lr=draw(st.sampled_from(lrs)),
        betas=(
            draw(st.sampled_from([0.0, 0.5, 0.9, 0.99])),
            draw(st.sampled_from(beta2s)),
        ),
        eps=draw(st.sampled_from([1e-8, 1e-4, 0.1])),
        weight_decay=draw(st.sampled_from([0.0, 1e-2, 0.5])),
    )


@settings(max_examples=12)
@given(problems(), sgd_kwargs())
def test_sgd_matches_torch_for_100_steps(problem, kwargs):
    assert_lockstep(SGD, kwargs, problem)


@settings(max_examples=12)
@given(problems(), st.sampled_from([Adam, AdamW]), adam_kwargs())
def test_adam_and_adamw_match_torch_for_100_steps(problem, cls, kwargs):
    assert_lockstep(cls, kwargs, problem)


STATE = {SGD: {"b": "momentum_buffer"}, Adam: {"m": "exp_avg", "v": "exp_avg_sq"}}
STATE[AdamW] = STATE[Adam]


@settings(max_examples=20)
@given(
    problems(),
    st.one_of(
        st.tuples(st.just(SGD), sgd_kwargs()),
        st.tuples(st.sampled_from([Adam, AdamW]), adam_kwargs(wide=True)),
    ),
)
def test_every_step_matches_torch_from_the_same_state(problem, case):
    """Each of 20 steps, started from torch's parameters and state (copied into ours), lands
    where torch's lands, to 1e-12 of the parameter and step sizes: the update rule itself
    agrees, also where 100 steps in a row amplify rounding."""
    cls, kwargs = case
    mine, theirs = problem.params(), problem.params()
    ours, ref = cls(mine, **kwargs), TORCH[cls](theirs, **kwargs)
    for t in range(20):
        problem.set_grads(theirs)
        before = [q.detach().clone() for q in theirs]
        ref.step()
        for i, (p, q) in enumerate(zip(mine, theirs)):
            p.grad = q.grad.clone()
        ours.step()
        for i, (p, q, q0) in enumerate(zip(mine, theirs, before)):
            scale = q0.abs().max().item() + (q - q0).abs().max().item()
            torch.testing.assert_close(
                p,
                q,
                rtol=1e-12,
                atol=1e-12 * (1 + scale),
                msg=lambda m: f"step {t}, {kwargs}: {m}",
            )
            with torch.no_grad():
                p.copy_(q)  # back in sync: same parameters
            for ours_name, torch_name in STATE[cls].items():
                if torch_name in ref.state[q]:  # and the same state
                    getattr(ours, ours_name)[i] = ref.state[q][torch_name].clone()


# Every feature on its own, so that each is exercised whatever hypothesis draws.
CASES = [
    (SGD, dict(lr=0.5)),
    (SGD, dict(lr=0.5, weight_decay=0.1)),
    (SGD, dict(lr=0.2, momentum=0.9)),
    (SGD, dict(lr=0.2, momentum=0.9, dampening=0.5)),
    (SGD, dict(lr=0.2, momentum=0.9, dampening=0.5, weight_decay=0.05)),
    (SGD, dict(lr=0.2, momentum=0.9, nesterov=True)),
    (SGD, dict(lr=0.2, momentum=0.9, nesterov=True, weight_decay=0.05)),
    (Adam, dict(lr=1e-2)),
    (Adam, dict(lr=1e-2, weight_decay=0.1)),
    (Adam, dict(lr=1e-2, betas=(0.5, 0.99), eps=1e-3, weight_decay=0.1)),
    (AdamW, dict(lr=1e-2)),
    (AdamW, dict(lr=1e-2, weight_decay=0.5)),
    (AdamW, dict(lr=1e-2, betas=(0.0, 0.99), eps=1e-3, weight_decay=0.5)),
]


@pytest.mark.parametrize(
    "cls,kwargs", CASES, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_each_feature_matches_torch_for_100_steps(cls, kwargs):
    assert_lockstep(
        cls, kwargs, Separable([(3, 2), (4,), ()], torch.Generator().manual_seed(0))
    )


def mlp_problem():
    """A 2-8-1 tanh MLP with logistic loss on 64 seeded points labelled by a circle."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 2, generator=gen, dtype=F64)
    y = (X.square().sum(1) < 1.2).to(F64)
    theta0 = [
        0.5 * torch.randn(s, generator=gen, dtype=F64) for s in [(8, 2), (8,), (8,), ()]
    ]

    def loss(W1, b1, w2, b2):
        return F.binary_cross_entropy_with_logits(
            torch.tanh(X @ W1.T + b1) @ w2 + b2, y
        )

    return theta0, loss


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (SGD, dict(lr=0.5, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
        (SGD, dict(lr=0.5, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        (Adam, dict(lr=0.05, weight_decay=1e-2)),
        (AdamW, dict(lr=0.05, weight_decay=1e-1)),
    ],
    ids=["sgd-momentum", "sgd-nesterov", "adam", "adamw"],
)
def test_training_an_mlp_by_autograd_matches_torch(cls, kwargs):
    """The real loop: zero_grad, backward, step, on a non-convex loss, for 100 steps."""
    theta0, loss = mlp_problem()
    runs = []
    for make in (cls, TORCH[cls]):
        params = [t.clone().requires_grad_() for t in theta0]
        opt = make(params, **kwargs)
        for _ in range(100):
            opt.zero_grad()
            loss(*params).backward()
            opt.step()
        runs.append(params)
    for p, q in zip(*runs):
        torch.testing.assert_close(p, q, **TOL)
    assert loss(*runs[0]) < 0.5 * loss(*theta0)


def test_parameters_without_a_gradient_are_skipped_as_torch_does():
    """A parameter whose grad is None neither moves nor advances its step count: its Adam bias
    correction later counts only the steps it took part in."""
    for cls, kwargs in [
        (SGD, dict(lr=0.1, momentum=0.9)),
        (Adam, dict(lr=0.1)),
        (AdamW, dict(lr=0.1, weight_decay=0.1)),
    ]:
        problem = Separable([(3,), (2,)], torch.Generator().manual_seed(1))
        mine, theirs = problem.params(), problem.params()
        ours, ref = cls(mine, **kwargs), TORCH[cls](theirs, **kwargs)
        for t in range(12):
            for ps in (mine, theirs):
                problem.set_grads(ps)
                if t % 3:
                    ps[1].grad = None
            ours.step()
            ref.step()
        for p, q in zip(mine, theirs):
            torch.testing.assert_close(p, q, **TOL)
        ours.zero_grad()
        assert all(p.grad is None for p in mine)


@settings(max_examples=30)
@given(
    st.sampled_from([0.3, 0.9, 0.99]),
    st.sampled_from([0.0, 0.2, 0.9]),
    st.integers(1, 12),
    st.integers(0, 2**16),
)
def test_momentum_buffer_is_the_weighted_sum_of_past_gradients(mu, tau, t, seed):
    """b_t = mu^(t-1) g_1 + (1 - tau) sum_{k=2..t} mu^(t-k) g_k: the first gradient undampened."""
    grads = torch.randn(t, 5, generator=torch.Generator().manual_seed(seed), dtype=F64)
    theta = torch.zeros(5, dtype=F64, requires_grad=True)
    theta_ref = torch.zeros(5, dtype=F64, requires_grad=True)
    ours = SGD([theta], lr=0.1, momentum=mu, dampening=tau)
    ref = torch.optim.SGD([theta_ref], lr=0.1, momentum=mu, dampening=tau)
    for g in grads:
        theta.grad, theta_ref.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    weights = torch.tensor(
        [mu ** (t - 1)] + [(1 - tau) * mu ** (t - k) for k in range(2, t + 1)],
        dtype=F64,
    )
    torch.testing.assert_close(ours.b[0], weights @ grads)
    torch.testing.assert_close(ref.state[theta_ref]["momentum_buffer"], weights @ grads)
    torch.testing.assert_close(theta, theta_ref, **TOL)


def test_nesterov_iterates_are_the_look_ahead_points():
    """Classical Nesterov, v_t = mu v_{t-1} - lr grad f(theta_{t-1} + mu v_{t-1}),
    theta_t = theta_{t-1} + v_t, evaluates the gradient at theta + mu v; SGD(nesterov=True)
    keeps exactly those look-ahead points theta_t + mu v_t as its parameters."""
    gen = torch.Generator().manual_seed(2)
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=F64))
    A = Q @ torch.diag(torch.tensor([0.1, 1.0, 3.0, 10.0], dtype=F64)) @ Q.T
    grad = lambda x: A @ x
    lr, mu = 0.05, 0.8
    theta, v = torch.randn(4, generator=gen, dtype=F64), torch.zeros(4, dtype=F64)
    psi = theta.clone().requires_grad_()
    opt = SGD([psi], lr=lr, momentum=mu, nesterov=True)
    for _ in range(30):
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        psi.grad = grad(psi.detach())
        opt.step()
        torch.testing.assert_close(psi.detach(), theta + mu * v)


def test_sgd_weight_decay_is_l2_regularisation():
    """SGD(weight_decay=lam) on f is SGD on f + lam/2 ||theta||^2, with momentum too."""
    theta0, loss = mlp_problem()
    lam, runs = 0.05, []
    for wd, penalty in ((lam, 0.0), (0.0, lam)):
        params = [t.clone().requires_grad_() for t in theta0]
        opt = SGD(params, lr=0.3, momentum=0.9, weight_decay=wd)
        for _ in range(50):
            opt.zero_grad()
            (
                loss(*params) + penalty / 2 * sum(p.square().sum() for p in params)
            ).backward()
            opt.step()
        runs.append(params)
    for p, q in zip(*runs):
        torch.testing.assert_close(p, q, **TOL)


def test_adam_weight_decay_is_l2_and_adamw_decays_theta_itself():
    """Adam(weight_decay=lam) is Adam on f + lam/2 ||theta||^2; AdamW(weight_decay=lam) is
    theta *= (1 - lr lam) followed by Adam without decay; and the two differ."""
    theta0, loss = mlp_problem()
    lr, lam = 0.05, 0.2

    def train(cls, wd, penalty=0.0, shrink=1.0):
        params = [t.clone().requires_grad_() for t in theta0]
        opt = cls(params, lr=lr, weight_decay=wd)
        for _ in range(50):
            opt.zero_grad()
            (
                loss(*params) + penalty / 2 * sum(p.square().sum() for p in params)
            ).backward()
            with torch.no_grad():
                for p in params:
                    p *= shrink
            opt.step()
        return torch.cat([p.detach().flatten() for p in params])

    torch.testing.assert_close(train(Adam, lam), train(Adam, 0.0, penalty=lam), **TOL)
    torch.testing.assert_close(
        train(AdamW, lam), train(Adam, 0.0, shrink=1 - lr * lam), **TOL
    )
    assert (train(AdamW, lam) - train(Adam, lam)).abs().max() > 1e-2


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
def test_bias_correction_makes_every_step_lr_for_a_constant_gradient(betas):
    """With g_t = g for all t, m_hat = g and v_hat = g^2 exactly in real arithmetic, so each step
    moves each coordinate by lr |g| / (|g| + eps), whatever the scale of g."""
    g = torch.tensor([-1e-3, 1.0, 1e3, -50.0], dtype=F64)
    lr, eps = 0.01, 1e-8
    theta = torch.zeros(4, dtype=F64, requires_grad=True)
    opt = Adam([theta], lr=lr, betas=betas, eps=eps)
    for t in range(1, 6):
        before = theta.detach().clone()
        theta.grad = g.clone()
        opt.step()
        torch.testing.assert_close(
            before - theta.detach(), lr * g / (g.abs() + eps), rtol=1e-12, atol=0
        )


def test_defaults_are_torchs():
    for ours, theirs in TORCH.items():
        mine = inspect.signature(ours).parameters
        for name, param in inspect.signature(theirs).parameters.items():
            if name in mine and name != "params":
                assert mine[name].default == param.default, (
                    f"{ours.__name__}({name}=...)"
                )


# Mini-batches


@settings(max_examples=40)
@given(st.integers(1, 300), st.integers(1, 64), st.integers(0, 2**16))
def test_minibatches_cover_every_example_once_in_ceil_n_over_b_batches(n, b, seed):
    batches = minibatches(n, b, torch.Generator().manual_seed(seed))
    assert len(batches) == math.ceil(n / b)
    assert [len(i) for i in batches[:-1]] == [b] * (len(batches) - 1)
    assert len(batches[-1]) == n - b * (len(batches) - 1)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(n))
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=b, shuffle=True)
    assert [len(i) for i in batches] == [len(x) for (x,) in loader]


def test_minibatches_are_seeded():
    a = minibatches(50, 7, torch.Generator().manual_seed(3))
    b = minibatches(50, 7, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize(
    "n,b,message",
    [
        (0, 4, r"n must be an integer >= 1, got 0"),
        (10.0, 4, r"n must be an integer >= 1, got 10.0"),
        (10, 0, r"batch_size must be an integer >= 1, got 0"),
        (10, -2, r"batch_size must be an integer >= 1, got -2"),
        (10, 2.5, r"batch_size must be an integer >= 1, got 2.5"),
    ],
)
def test_minibatches_reject_bad_sizes(n, b, message):
    with pytest.raises(ValueError, match=message):
        minibatches(n, b)


# Invalid hyper-parameters: ours raises ValueError naming the parameter wherever torch raises.


def p():
    return [torch.zeros(2, requires_grad=True)]


INVALID = [
    (SGD, dict(lr=-0.1), r"lr must be >= 0, got -0.1"),
    (SGD, dict(lr=0.1, momentum=-0.5), r"momentum must be >= 0, got -0.5"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), r"weight_decay must be >= 0, got -0.0001"),
    (
        SGD,
        dict(lr=0.1, nesterov=True),
        r"nesterov needs momentum > 0 and dampening == 0, "
        r"got momentum=0, dampening=0",
    ),
    (
        SGD,
        dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        r"nesterov needs momentum > 0 .*dampening=0.1",
    ),
    (Adam, dict(lr=-1e-3), r"lr must be >= 0, got -0.001"),
    (Adam, dict(lr=math.nan), r"lr must be >= 0, got nan"),
    (Adam, dict(eps=-1e-8), r"eps must be >= 0, got -1e-08"),
    (Adam, dict(betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1.0"),
    (Adam, dict(betas=(-0.1, 0.999)), r"betas\[0\] must be in \[0, 1\), got -0.1"),
    (Adam, dict(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\), got 1.0"),
    (Adam, dict(weight_decay=-0.1), r"weight_decay must be >= 0, got -0.1"),
    (AdamW, dict(lr=-1.0), r"lr must be >= 0, got -1.0"),
    (AdamW, dict(betas=(0.9, 1.5)), r"betas\[1\] must be in \[0, 1\), got 1.5"),
    (AdamW, dict(eps=-1.0), r"eps must be >= 0"),
    (AdamW, dict(weight_decay=-1e-2), r"weight_decay must be >= 0, got -0.01"),
]


@pytest.mark.parametrize(
    "cls,kwargs,message",
    INVALID,
    ids=lambda v: getattr(v, "__name__", None) if isinstance(v, type) else None,
)
def test_invalid_hyper_parameters_raise_where_torch_raises(cls, kwargs, message):
    with pytest.raises(ValueError):
        TORCH[cls](p(), **kwargs)
    with pytest.raises(ValueError, match=message):
        cls(p(), **kwargs)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_bad_params_raise_as_torch_does(cls):
    for params, error in (
        ([], ValueError),
        (torch.zeros(2), TypeError),
        ([torch.zeros(2, requires_grad=True) * 2], ValueError),
    ):
        with pytest.raises(error):
            TORCH[cls](params)
        with pytest.raises(error):
            cls(params)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_a_parameter_listed_twice_raises(cls):
    """torch warns (a future error) and then steps by its implementation: foreach or not."""
    q = torch.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        TORCH[cls]([q, q], lr=0.1)
    with pytest.raises(ValueError, match="params holds the same tensor twice"):
        cls([q, torch.ones(1, requires_grad=True), q], lr=0.1)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_complex_parameters_step_as_two_real_ones_as_in_torch(cls):
    """torch.optim steps a complex parameter as its real view. Adam's step on a constant
    gradient is lr in each real coordinate (up to eps): 1 + 1j -> 0.7 + 0.7j in three."""
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(3, 2, generator=gen, dtype=torch.complex128)
    grads = [torch.randn(3, 2, generator=gen, dtype=torch.complex128) for _ in range(5)]
    kwargs = dict(
        lr=0.1, weight_decay=0.01, **({"momentum": 0.9} if cls is SGD else {})
    )
    complex_p, ref_p = theta0.clone().requires_grad_(), theta0.clone().requires_grad_()
    real_p = torch.view_as_real(theta0).clone().requires_grad_()
    opts = (
        cls([complex_p], **kwargs),
        cls([real_p], **kwargs),
        TORCH[cls]([ref_p], **kwargs),
    )
    for g in grads:
        complex_p.grad, real_p.grad, ref_p.grad = g, torch.view_as_real(g), g
        for opt in opts:
            opt.step()
    torch.testing.assert_close(complex_p, ref_p, **TOL)
    torch.testing.assert_close(torch.view_as_real(complex_p), real_p, **TOL)
    if cls is not SGD:
        q = torch.tensor(1 + 1j, dtype=torch.complex128, requires_grad=True)
        opt = cls([q], lr=0.1, weight_decay=0.0)
        for _ in range(3):
            q.grad = torch.tensor(1 + 0.01j, dtype=torch.complex128)
            opt.step()
        # each step is lr g / (|g| + eps) per coordinate: off by eps / 0.01 = 1e-6 relative
        expected = torch.tensor(0.7 + 0.7j, dtype=torch.complex128)
        torch.testing.assert_close(q.detach(), expected, rtol=1e-5, atol=0)


values = st.sampled_from(
    [-1.0, -1e-12, -0.0, 0.0, 1e-12, 0.5, 1.0, 2.0, math.inf, -math.inf, math.nan]
)


def raises(make, **kwargs) -> bool:
    try:
        make(p(), **kwargs)
    except ValueError:
        return True
    return False


@settings(max_examples=60)
@given(values, values, values, values, st.booleans())
def test_sgd_accepts_exactly_what_torch_accepts(
    lr, momentum, dampening, weight_decay, nesterov
):
    kwargs = dict(
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        nesterov=nesterov,
    )
    assert raises(SGD, **kwargs) == raises(torch.optim.SGD, **kwargs), kwargs


@settings(max_examples=60)
@given(st.sampled_from([Adam, AdamW]), values, values, values, values, values)
def test_adam_accepts_exactly_what_torch_accepts(
    cls, lr, beta1, beta2, eps, weight_decay
):
    kwargs = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    assert raises(cls, **kwargs) == raises(TORCH[cls], **kwargs), kwargs

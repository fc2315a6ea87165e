"""tests/nudge.py, the NUMERIC_NUDGE mode: rounded results move by exactly one ulp, in a
direction fixed per value and seed; exact results stay; in-place, out=, complex and tuple
results are nudged; gradients flow; and a check that holds only by luck of rounding fails."""

import pytest
import torch

from tests.nudge import NUDGED, Nudge, few_bits, nudge, seed_of

F64 = torch.float64
INF = float("inf")
# These tests compare the mode with plain torch, so NUMERIC_NUDGE's own mode stays off here.
pytestmark = pytest.mark.unnudged


def one_ulp_apart(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per element: b is the float right above or right below a."""
    inf = torch.tensor(INF, dtype=a.dtype)
    return (b == torch.nextafter(a, inf)) | (b == torch.nextafter(a, -inf))


def nudged(plain: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Per element: moved one ulp, or left alone because it looks exact (few_bits: a rounded
    value does with probability 2^-12 in float32, 2^-26 in float64)."""
    return one_ulp_apart(plain, moved) | (few_bits(plain) & (moved == plain))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_rounded_results_move_one_ulp_both_ways_the_same_way_per_value(dtype):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=dtype)
    plain = torch.exp(x)
    with Nudge(1):
        moved = torch.exp(x)
        again = torch.exp(torch.cat([x.flip(0), x]))  # the same values, elsewhere
    assert (
        nudged(plain, moved).all() and one_ulp_apart(plain, moved).float().mean() > 0.99
    )
    assert (moved > plain).any() and (moved < plain).any()
    assert torch.equal(again[1000:], moved) and torch.equal(again[:1000], moved.flip(0))
    with Nudge(2):
        other_seed = torch.exp(x)
    assert nudged(plain, other_seed).all() and not torch.equal(other_seed, moved)


def test_reductions_products_and_decompositions_are_nudged_tuples_included():
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(6, 6, generator=gen, dtype=F64)
    S = A @ A.T + torch.eye(6, dtype=F64)
    plain = [
        A.sum(1),
        A @ A,
        torch.linalg.vector_norm(A, dim=0),
        torch.softmax(A, 1),
        *torch.linalg.eigh(S),
        *torch.std_mean(A, dim=1),
    ]
    with Nudge(3):
        moved = [
            A.sum(1),
            A @ A,
            torch.linalg.vector_norm(A, dim=0),
            torch.softmax(A, 1),
            *torch.linalg.eigh(S),
            *torch.std_mean(A, dim=1),
        ]
    for p, m in zip(plain, moved):
        assert nudged(p, m).all()
        assert (m != p).any()


def test_in_place_out_and_complex_results_are_nudged():
    x = torch.rand(100, generator=torch.Generator().manual_seed(2), dtype=F64) + 0.1
    plain = torch.log(x)
    out = torch.empty_like(x)
    with Nudge(1):
        in_place = x.clone().log_()
        torch.log(x, out=out)
        z = torch.fft.fft(x)
    assert torch.equal(in_place, out) and nudged(plain, out).all()
    assert (out != plain).any()
    reference = torch.fft.fft(x)
    for part in (torch.real, torch.imag):
        p, m = part(reference), part(z)
        assert nudged(p, m).all()  # imag(z_0) = 0 stays
        assert (p != m).any()


def test_exact_results_stay_exact():
    with Nudge(1):
        assert torch.exp(torch.zeros(3, dtype=F64)).eq(1).all()  # e^0 = 1
        assert torch.tensor([0.25, 0.25], dtype=F64).sum() == 0.5  # dyadic, no rounding
        assert torch.tensor([1.0, 2.0, 3.0]).mean() == 2  # 6 / 3
        assert (
            torch.sin(torch.zeros(2)).eq(0).all()
            and torch.log(torch.ones(2)).eq(0).all()
        )
        assert (
            torch.arange(10).sum() == 45 and torch.arange(10).sum().dtype == torch.int64
        )
        ints = torch.arange(6).reshape(2, 3)
        assert torch.equal(ints @ ints.T, torch.tensor([[5, 14], [14, 50]]))
        x = torch.tensor([1.5, -2.25, 3.0], dtype=F64)
        # integer powers
        assert torch.equal(x**2, x * x) and torch.equal(x**3, x * x * x)
        assert torch.exp(torch.tensor([INF, -INF])).tolist() == [INF, 0.0]
        y = torch.tensor([[1 / 3], [-0.1]], dtype=F64)  # one element a row
        for reduced in (y.sum(1), y.mean(1), y.norm(dim=1), y.logsumexp(1), y.prod(1)):
            assert torch.equal(reduced.abs(), y[:, 0].abs())
        assert torch.isnan(torch.exp(torch.tensor(float("nan"))))


def test_the_exact_values_are_those_with_half_a_mantissa_of_zeros():
    values = torch.tensor(
        [0.5, 1.0, 3.0, -7.25, 1 + 2**-26, 1 / 3, 0.1, 1 + 2**-27], dtype=F64
    )
    moved = nudge(values, seed_of("1"))
    # 1 + 2^-26: bits 0-25 zero, left alone
    assert moved[:5].tolist() == values[:5].tolist()
    assert one_ulp_apart(values[5:], moved[5:]).all()  # 1 + 2^-27: bit 25 set, moved


def test_non_integer_powers_are_nudged_and_integer_ones_are_not():
    x = torch.rand(200, generator=torch.Generator().manual_seed(3), dtype=F64) + 0.5
    e = torch.tensor([2.0, 0.5], dtype=F64).repeat(100)
    plain = [x**0.5, x**1.7, 2.0**x, x**e]
    with Nudge(2):
        moved = [x**0.5, x**1.7, 2.0**x, x**e]
    half = e == 0.5  # x ** e: only where e is 0.5
    for p, m in zip(plain[:3] + [plain[3][half]], moved[:3] + [moved[3][half]]):
        assert nudged(p, m).all() and (p != m).any()
    assert torch.equal(moved[3][~half], plain[3][~half])


def test_gradients_flow_and_backward_is_nudged():
    x = torch.linspace(-2, 2, 41, dtype=F64).requires_grad_()
    with Nudge(1):
        torch.tanh(x).sum().backward()
        assert torch.autograd.gradcheck(
            torch.sin, (x.detach()[:5].clone().requires_grad_(),)
        )
    torch.testing.assert_close(x.grad, 1 - torch.tanh(x.detach()) ** 2)
    # tanh moved, so did tanh'
    assert not torch.equal(x.grad, 1 - torch.tanh(x.detach()) ** 2)


def test_a_check_that_holds_by_luck_fails_for_some_seed_and_a_tolerance_holds_for_all():
    """The linear-algebra chapter's bug: Cauchy-Schwarz, |x . x| <= ||x|| ||x||, at equality.
    For x = (1, 2), x . x = 5 exactly and ||x|| = sqrt(5) rounded, whose square happens to
    round above 5: the exact <= passes on every machine. One ulp down, and it fails."""
    x = torch.tensor([1.0, 2.0], dtype=F64)
    assert x @ x <= x.norm() * x.norm()  # unnudged: holds, by luck
    failed = []
    for seed in range(1, 9):
        with Nudge(seed):
            if not x @ x <= x.norm() * x.norm():
                failed.append(seed)
            torch.testing.assert_close(x @ x, x.norm() * x.norm())
            assert x @ x <= x.norm() * x.norm() * (1 + 4 * torch.finfo(F64).eps)
    assert failed, "no seed moved sqrt(5) down"


def test_every_nudged_name_is_an_aten_op():
    assert [n for n in sorted(NUDGED) if not hasattr(torch.ops.aten, n)] == []

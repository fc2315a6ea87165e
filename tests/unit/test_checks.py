"""The shared input checks (snippets/checks.py): each accepts what it should, and rejects
the rest with a ValueError that names the argument."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
import torch

from snippets.checks import (
    check_broadcast,
    check_float,
    check_int,
    check_like,
    check_number,
    check_shape,
)

x = torch.zeros(2, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_float("x", x),
        lambda: check_float("x", x.double(), dim=2, min_dim=2, finite=True),
        lambda: check_shape("x", x, (2, 3)),
        lambda: check_int("n", 0),
        lambda: check_int("n", 5, low=5, high=5),
        lambda: check_number("lr", 0),
        lambda: check_number("lr", 1e-300, positive=True),
        lambda: check_number("lr", 2.5, low=2.5),
        lambda: check_broadcast(a=x, b=torch.zeros(3), c=1.0),
        lambda: check_like("y", torch.ones(5), "x", x),
    ],
)
def test_valid_input_passes(call):
    assert call() is None


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: check_float("x", [1.0]),
            "x must be a floating-point tensor, got list",
        ),
        (lambda: check_float("x", x.long()), "x must be a floating-point tensor"),
        (lambda: check_float("x", x, dim=1), r"x must have 1 dimension\(s\)"),
        (lambda: check_float("x", x, min_dim=3), r"x must have at least 3 dimension"),
        (lambda: check_float("x", x / 0, finite=True), "x has non-finite values"),
        (lambda: check_float("x", x + math.inf, finite=True), "x has non-finite"),
        (
            lambda: check_shape("w", x, (3, 2), "x's"),
            r"w must have shape \(3, 2\) \(x's\)",
        ),
        (lambda: check_shape("w", None, (3, 2)), "w must have shape"),
        (lambda: check_int("n", True), "n must be an integer >= 0, got True"),
        (lambda: check_int("n", 2.0), "n must be an integer"),
        (lambda: check_int("n", -1), "n must be an integer >= 0, got -1"),
        (lambda: check_int("n", 6, high=5), r"n must be an integer in \[0, 5\], got 6"),
        (lambda: check_number("lr", math.nan), "lr must be a finite number, got nan"),
        (lambda: check_number("lr", True), "lr must be a finite number"),
        (lambda: check_number("lr", "1"), "lr must be a finite number"),
        (
            lambda: check_number("lr", 0.0, positive=True),
            "lr must be a finite number > 0",
        ),
        (lambda: check_number("lr", 2.4, low=2.5), "lr must be a finite number >= 2.5"),
        (
            lambda: check_broadcast(a=x, b=torch.zeros(2)),
            r"a \(2, 3\) and b \(2,\) do not",
        ),
        (
            lambda: check_like("y", x.double(), "x", x),
            r"y \(torch.float64 on cpu\) must",
        ),
        (lambda: check_like("y", 1.0, "x", x), "y and x must be tensors"),
    ],
)
def test_invalid_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_check_leaves_its_input_alone():
    t = torch.tensor([1.0, math.nan])
    before = t.clone()
    with pytest.raises(ValueError):
        check_float("t", t, finite=True)
    torch.testing.assert_close(t, before, equal_nan=True)


@given(
    st.lists(st.lists(st.integers(0, 3), max_size=4).map(tuple), min_size=1, max_size=3)
)
def test_check_broadcast_agrees_with_torch(shapes):
    """check_broadcast decides in plain Python what torch.broadcast_shapes decides."""
    try:
        torch.broadcast_shapes(*shapes)
        torch_says = True
    except RuntimeError:
        torch_says = False
    tensors = {f"t{k}": torch.empty(shape) for k, shape in enumerate(shapes)}
    try:
        check_broadcast(**tensors)
        ours = True
    except ValueError:
        ours = False
    assert ours == torch_says, shapes

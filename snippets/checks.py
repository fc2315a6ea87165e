"""The input checks every module of the book shares: one body each.

Each chapter teaches its functions as their formulas; a public function checks its input
first, in one line, with these helpers or with its module's own checks built from them
(shown once per chapter, in the collapsed "Setup" box at the top of the page). A check
raises ValueError naming the argument and what is wrong, before torch can fail deep
inside, hang, or return a silent wrong answer; it never changes its input.

    check_float(name, t, dim=, min_dim=, finite=)   a floating-point tensor
    check_shape(name, t, shape, why=)               a tensor of an exact shape
    check_int(name, n, low=, high=)                 an integer (not a bool) in a range
    check_number(name, x, low=, positive=)          a finite real number
    check_broadcast(**tensors)                      shapes that broadcast together
    check_like(name, t, ref_name, ref)              t on ref's device, with ref's dtype

The package installs this module with the others: a block copied from a page imports its
checks from it (`pip install` the package, as each notebook's first cell does).
"""

import math
from itertools import zip_longest

import torch
from torch import Tensor

__all__ = [
    "check_float",
    "check_shape",
    "check_int",
    "check_number",
    "check_broadcast",
    "check_like",
    "describe",
]


def describe(t) -> str:
    """How an argument reads in an error: a tensor's dtype and shape, else its type."""
    if isinstance(t, Tensor):
        return f"{t.dtype} of shape {tuple(t.shape)}"
    return type(t).__name__


def check_float(
    name: str, t, dim: int | None = None, min_dim: int = 0, finite: bool = False
) -> None:
    """A floating-point tensor, with ``dim`` dimensions when given, at least
    ``min_dim``, and only finite values when ``finite``. Dtypes: float32, float64."""
    if not isinstance(t, Tensor) or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {describe(t)}")
    if dim is not None and t.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimension(s), got {describe(t)}")
    if t.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s), got {describe(t)}"
        )
    if finite and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite values (inf or nan)")


def check_shape(name: str, t, shape: tuple, why: str = "") -> None:
    """A tensor of exactly ``shape``; ``why`` says where the shape comes from.
    Dtypes: float32, float64."""
    if not isinstance(t, Tensor) or tuple(t.shape) != tuple(shape):
        because = f" ({why})" if why else ""
        raise ValueError(
            f"{name} must have shape {tuple(shape)}{because}, got {describe(t)}"
        )


def check_int(name: str, n, low: int = 0, high: int | None = None) -> None:
    """An integer (not a bool) with low <= n (<= high, when given)."""
    if (
        isinstance(n, bool)
        or not isinstance(n, int)
        or n < low
        or (high is not None and n > high)
    ):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bounds}, got {n!r}")


def check_number(
    name: str, x, low: float | None = None, positive: bool = False
) -> None:
    """A finite real number (int or float, not a bool), >= low when given, > 0 when
    ``positive``."""
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if not ok or (low is not None and x < low) or (positive and x <= 0):
        bound = " > 0" if positive else "" if low is None else f" >= {low}"
        raise ValueError(f"{name} must be a finite number{bound}, got {x!r}")


def check_broadcast(**tensors) -> None:
    """Tensors (or numbers) whose shapes broadcast together, for elementwise maths.
    Dtypes: float32, float64."""
    shapes = {name: tuple(getattr(v, "shape", ())) for name, v in tensors.items()}
    # Aligned from the right, each axis has at most one size other than 1 (in plain
    # Python: torch.broadcast_shapes costs 10-40 us a call, the autodiff chapter's
    # every add and mul).
    axes = zip_longest(*(shape[::-1] for shape in shapes.values()), fillvalue=1)
    if any(len(set(sizes) - {1}) > 1 for sizes in axes):
        names = [f"{name} {shape}" for name, shape in shapes.items()]
        listed = f"{', '.join(names[:-1])} and {names[-1]}"
        raise ValueError(f"{listed} do not broadcast")


def check_like(name: str, t: Tensor, ref_name: str, ref: Tensor) -> None:
    """``t`` is a tensor with ``ref``'s dtype, on its device.
    Dtypes: float32, float64."""
    if not isinstance(t, Tensor) or not isinstance(ref, Tensor):
        raise ValueError(f"{name} and {ref_name} must be tensors, got {describe(t)}")
    if t.dtype != ref.dtype or t.device != ref.device:
        raise ValueError(
            f"{name} ({t.dtype} on {t.device}) must match {ref_name} "
            f"({ref.dtype} on {ref.device})"
        )

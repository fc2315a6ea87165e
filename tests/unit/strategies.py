"""Hypothesis helpers the unit-test files share."""

import torch
from hypothesis import strategies as st

DTYPES = (torch.float32, torch.float64)


def seeded(draw) -> torch.Generator:
    """A torch.Generator seeded from a drawn integer (inside an ``@st.composite``)."""
    return torch.Generator().manual_seed(draw(st.integers(0, 2**16)))


def tol(dtype: torch.dtype) -> dict:
    """Tolerances for O(1) results (cosines, sums of a few products of N(0, 1) entries)."""
    return (
        dict(rtol=1e-5, atol=1e-5)
        if dtype == torch.float32
        else dict(rtol=1e-10, atol=1e-12)
    )

"""einsum_vjp against torch.autograd: properties over random equations, gradcheck, errors."""

import string

import pytest
import torch
from hypothesis import given, strategies as st

from snippets.einsum import einsum, einsum_vjp


def autograd_vjp(equation, operands, grad_output):
    leaves = [x.detach().requires_grad_() for x in operands]
    y = torch.einsum(equation, *leaves)
    grads = torch.autograd.grad(y, leaves, grad_output, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]


def assert_vjp_matches_autograd(equation, operands, grad_output=None):
    if grad_output is None:
        grad_output = torch.randn_like(torch.einsum(equation, *operands))
    ours = einsum_vjp(equation, operands, grad_output)
    ref = autograd_vjp(equation, operands, grad_output)
    assert len(ours) == len(ref)
    for p, (a, b) in enumerate(zip(ours, ref)):
        assert a.shape == operands[p].shape, (
            f"{equation}: operand {p} gradient has shape {a.shape}"
        )
        torch.testing.assert_close(a, b, msg=lambda m: f"{equation}, operand {p}: {m}")


def layout(x: torch.Tensor, how: str) -> torch.Tensor:
    """The same values as ``x`` in a non-contiguous layout: transposed storage or a slice."""
    if how == "transposed" and x.dim() >= 2:
        return x.transpose(0, -1).contiguous().transpose(0, -1)
    if how == "sliced":
        big = torch.zeros([2 * n for n in x.shape], dtype=x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view.copy_(x)
        return view
    return x


@st.composite
def equations(draw):
    """A random equation torch.einsum accepts, its operands (float64) and how they are laid out.

    1-4 operands; subscripts from a small pool, so they repeat within and across operands;
    sizes 0-3, and size-1 dimensions that broadcast (against size 0 too); '...' with fewer
    dimensions on some operands; implicit or explicit output; scalars.
    """
    pool = draw(
        st.lists(
            st.sampled_from(string.ascii_letters), min_size=1, max_size=5, unique=True
        )
    )
    size = {l: draw(st.integers(0, 3)) for l in pool}
    ell = draw(st.lists(st.integers(0, 3), max_size=2))  # broadcast ellipsis shape
    use_ell = bool(ell) and draw(st.booleans())
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 4))):
        labels = draw(st.lists(st.sampled_from(pool), max_size=3))
        own = {l: draw(st.sampled_from([size[l], 1])) for l in set(labels)}
        shape = [own[l] for l in labels]
        term = "".join(labels)
        if use_ell and draw(st.booleans()):
            k = draw(st.integers(0, len(ell)))
            dims = [draw(st.sampled_from([n, 1])) for n in ell[len(ell) - k :]]
            at = draw(st.integers(0, len(labels)))
            term = term[:at] + "..." + term[at:]
            shape = shape[:at] + dims + shape[at:]
        terms.append(term)
        shapes.append(shape)
    equation = ",".join(terms)
    if draw(st.booleans()):
        seen = sorted(set("".join(terms).replace(".", "")))
        out = draw(
            st.permutations(seen).map(lambda p: p[: draw(st.integers(0, len(p)))])
        )
        out = "".join(out)
        if "..." in equation and draw(st.booleans()):
            at = draw(st.integers(0, len(out)))
            out = out[:at] + "..." + out[at:]
        equation += "->" + out
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    operands = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    hows = draw(
        st.lists(
            st.sampled_from(["contiguous", "transposed", "sliced"]),
            min_size=len(operands),
            max_size=len(operands),
        )
    )
    return equation, [layout(x, h) for x, h in zip(operands, hows)]


@given(equations())
def test_vjp_matches_autograd_on_random_equations(case):
    equation, operands = case
    assert_vjp_matches_autograd(equation, operands)


@pytest.mark.parametrize(
    "equation, shapes",
    [
        ("i,i->i", [(0,), (1,)]),  # kept: the result is empty
        ("i,i->i", [(1,), (0,)]),
        ("ij,jk->ik", [(2, 1), (0, 4)]),  # summed: a sum over no terms, zero
        ("...i,...i", [(1, 3), (0, 3)]),  # an ellipsis axis
    ],
)
def test_size_one_broadcasts_against_size_zero(equation, shapes):
    gen = torch.Generator().manual_seed(0)
    operands = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    assert_vjp_matches_autograd(equation, operands)


CASES = {
    "bik,jkl->bij": [(2, 3, 4), (5, 4, 6)],  # the chapter's example
    "ij,jk,kl->il": [(2, 3), (3, 4), (4, 5)],  # a chain of three
    "ii->": [(3, 3)],  # trace
    "ii->i": [(3, 3)],  # diagonal
    "iij,j->ji": [(3, 3, 2), (2,)],  # diagonal with a batch
    "ij->": [(3, 4)],  # everything summed
    "ij,jk->ik": [(3, 1), (4, 5)],  # subscript broadcast from size 1
    "ij,jk,kl->li": [(3, 1), (4, 2), (2, 5)],  # ... and summed inside a shared product
    "...ij,...jk->...ik": [(4, 1, 2, 3), (5, 3, 2)],  # batched with broadcast
    "i,i,i,i->": [(3,), (1,), (3,), (3,)],  # four operands
    "ij,jk": [(2, 3), (3, 4)],  # implicit output
    ",i->i": [(), (3,)],  # a scalar operand
}


@pytest.mark.parametrize("equation", CASES)
def test_gradcheck_float64(equation):
    gen = torch.Generator().manual_seed(0)
    operands = [
        torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True)
        for s in CASES[equation]
    ]
    assert torch.autograd.gradcheck(lambda *ops: einsum(equation, *ops), operands)
    assert torch.autograd.gradgradcheck(lambda *ops: einsum(equation, *ops), operands)


@pytest.mark.parametrize("how", ["transposed", "sliced"])
def test_non_contiguous_operands(how):
    gen = torch.Generator().manual_seed(1)
    for equation, shapes in CASES.items():
        operands = [
            layout(torch.randn(s, generator=gen, dtype=torch.float64), how)
            for s in shapes
        ]
        assert_vjp_matches_autograd(equation, operands)


def test_vjp_needs_no_autograd():
    X, W = torch.randn(2, 3, 4), torch.randn(5, 4, 6)
    with torch.no_grad():
        dX, dW = einsum_vjp("bik,jkl->bij", (X, W), torch.randn(2, 3, 5))
    assert not dX.requires_grad and not dW.requires_grad


BAD = [
    ("ij,jk->il", [(2, 3), (3, 4)], "output subscript 'l' appears in no input"),
    ("ij->jj", [(2, 3)], "output subscript 'j' appears more than once"),
    ("ij,jk->ik", [(2, 3)], "has 2 operand term"),
    ("ij->i", [(2, 3), (3,)], "but 2 operand"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' has size 4 in operand 1"),
    ("ii->i", [(2, 3)], "subscript 'i' is repeated in operand 0 with sizes 2 and 3"),
    ("ijk->i", [(2, 3)], "operand 0 has shape (2, 3)"),
    ("i1->i", [(2, 3)], "invalid subscript '1'"),
    ("i..j->i", [(2, 3)], "one '...' ellipsis"),
    ("...i...->i", [(2, 3)], "one '...' ellipsis"),
    ("ij->i->j", [(2, 3)], "invalid subscript '-'"),
    ("ij...->i", [(2,)], "fewer dimensions than the 2 subscript"),
]


@pytest.mark.parametrize("equation,shapes,message", BAD)
def test_bad_input_names_the_problem(equation, shapes, message):
    operands = [torch.randn(s) for s in shapes]
    for call in (
        lambda: einsum(equation, *operands),
        lambda: einsum_vjp(equation, operands, torch.randn(2)),
    ):
        with pytest.raises(ValueError, match=rf"einsum '{equation}'.*") as info:
            call()
        assert message in str(info.value)


def test_bad_grad_output_and_operands():
    X, W = torch.randn(2, 3), torch.randn(3, 4)
    with pytest.raises(
        ValueError,
        match=r"grad_output must have the output's shape \(2, 4\) .*got \(4, 2\)",
    ):
        einsum_vjp("ij,jk->ik", (X, W), torch.randn(4, 2))
    with pytest.raises(
        ValueError,
        match=r"grad_output .* dtype torch.float32, got \(2, 4\) and torch.int64",
    ):
        einsum_vjp("ij,jk->ik", (X, W), torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="operand 1 is a list"):
        einsum("ij,jk->ik", X, [[1.0]])
    with pytest.raises(ValueError, match="one dtype and device"):
        einsum("ij,jk->ik", X, W.double())
    with pytest.raises(ValueError, match="must be a string"):
        einsum(["ij"], X)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_chain_shares_contractions(n, monkeypatch):
    """A chain of n operands takes 3n - 4 pairwise contractions (the chapter's count), not
    the n(n - 1) of contracting every gradient separately."""
    import snippets.einsum as module

    calls = []
    contract = module.contract
    monkeypatch.setattr(module, "contract", lambda *a: calls.append(1) or contract(*a))
    letters = string.ascii_lowercase[: n + 1]
    equation = (
        ",".join(letters[i : i + 2] for i in range(n)) + f"->{letters[0]}{letters[n]}"
    )
    operands = [torch.randn(3, 3, dtype=torch.float64) for _ in range(n)]
    assert_vjp_matches_autograd(equation, operands)
    assert len(calls) == 3 * n - 4

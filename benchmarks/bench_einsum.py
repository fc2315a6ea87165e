"""einsum_vjp against torch.autograd, float32, 2 threads (``python3 tasks.py bench``)."""

import torch

from benchmarks.harness import compiled, markdown_table, run_suite
from snippets.einsum import einsum_vjp


def backward_case(equation: str, shapes: list[tuple[int, ...]], goal: float) -> dict:
    """einsum_vjp alone against autograd's backward through a forward it already ran."""
    gen = torch.Generator().manual_seed(0)
    ops = [torch.randn(s, generator=gen) for s in shapes]
    leaves = [x.clone().requires_grad_() for x in ops]
    y = torch.einsum(equation, *leaves)
    g = torch.randn(y.shape, generator=gen)
    vjp = compiled(lambda ops, g: einsum_vjp(equation, ops, g))
    return {
        "name": f"backward {equation} {' '.join('x'.join(map(str, s)) for s in shapes)}",
        "ours": lambda: einsum_vjp(equation, ops, g),
        "compiled": lambda: vjp(ops, g),
        "torch": lambda: torch.autograd.grad(y, leaves, g, retain_graph=True),
        "goal": goal,
    }


def forward_backward_case(
    equation: str, shapes: list[tuple[int, ...]], goal: float
) -> dict:
    """einsum_vjp alone against autograd's forward plus backward (its backward reuses the
    intermediate products its forward saved; einsum_vjp has none)."""
    gen = torch.Generator().manual_seed(0)
    ops = [torch.randn(s, generator=gen) for s in shapes]
    leaves = [x.clone().requires_grad_() for x in ops]
    g = torch.randn(torch.einsum(equation, *ops).shape, generator=gen)
    vjp = compiled(lambda ops, g: einsum_vjp(equation, ops, g))
    return {
        "name": f"fwd+bwd {equation} {' '.join('x'.join(map(str, s)) for s in shapes)}",
        "ours": lambda: einsum_vjp(equation, ops, g),
        "compiled": lambda: vjp(ops, g),
        "torch": lambda: torch.autograd.grad(
            torch.einsum(equation, *leaves), leaves, g
        ),
        "goal": goal,
    }


CASES = [
    backward_case("bik,jkl->bij", [(32, 128, 64), (64, 64, 32)], goal=1.1),
    forward_backward_case("ij,jk,kl->il", [(512, 512)] * 3, goal=1.1),
    backward_case("ij,jk->ik", [(512, 512)] * 2, goal=1.1),
    backward_case("bii->bi", [(64, 256, 256)], goal=1.5),
    backward_case("...ij,...jk->...ik", [(16, 1, 64, 64), (8, 64, 64)], goal=1.5),
]

results_markdown = markdown_table  # the page's table


def main() -> None:
    run_suite("einsum", CASES)


if __name__ == "__main__":
    main()

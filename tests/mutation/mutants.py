"""Plausible wrong variants of snippet code, and a pytest plugin that reports who caught one.

A mutant is a list of text edits to a snippet module. ``tests/mutation/test_mutants.py`` copies the
project, applies the edits there (so the module *and* the code the chapter includes from it
are wrong), runs the chapter's doc tests and the unit tests, and requires both to fail.
"""

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # the snippet module to edit
    why: str  # the mistake it stands for
    edits: tuple[tuple[str, str], ...]  # (text that must occur once, what replaces it)
    chapter: str  # the doc page whose tests must catch it
    tests: str  # the unit-test file that must catch it
    # Text of the tests that catch it: a unit test's name, which runs first in its file so that
    # the run stops early (order only: every test may still run); a code fragment of the doc
    # block that catches it, which says where on the page (the blocks keep their order).
    first: tuple[str, ...] = ()

    def apply(self, root) -> None:
        path = root / self.file
        text = path.read_text()
        for old, new in self.edits:
            assert text.count(old) == 1, (
                f"{self.name}: {old!r} is not once in {self.file}"
            )
            text = text.replace(old, new)
        path.write_text(text)


NAIVE_VJP = """def naive_vjp(equation, operands, grad_output):
    eq = parse_equation(equation, [tuple(x.shape) for x in operands])
    term = ["".join(t).replace("...0", "").replace("...1", "") for t in eq.inputs]
    out = "".join(eq.output)
    return tuple(torch.einsum(",".join([out, *term[:p], *term[p + 1:]]) + "->" + term[p],
                              grad_output, *operands[:p], *operands[p + 1:])
                 for p in range(len(operands)))


def einsum_vjp("""

EINSUM = dict(
    file="snippets/einsum.py",
    chapter="docs/einsum.md",
    tests="tests/unit/test_einsum.py",
)
MUTANTS = {
    m.name: m
    for m in [
        Mutant(
            "einsum-naive-permutation-rule",
            first=(
                "test_vjp_matches_autograd_on_random_equations",
                "torch.testing.assert_close(dX, dL_dX_ref)",
            ),
            why="permute the subscripts and nothing else: no diagonals, no broadcasting, "
            "no subscripts summed out of one operand",
            edits=(
                ("def einsum_vjp(", NAIVE_VJP),
                (
                    "    operands = check_operands(equation, operands, grad_output)\n"
                    "    eq = parse_equation",
                    "    return naive_vjp(equation, operands, grad_output)\n    eq = parse_equation",
                ),
            ),
            **EINSUM,
        ),
        Mutant(
            "einsum-swapped-operand-order",
            first=(
                "test_vjp_matches_autograd_on_random_equations",
                "torch.testing.assert_close(dX, dL_dX_ref)",
            ),
            why="gradients returned in the wrong operand order",
            edits=(("    return tuple(grads)", "    return tuple(grads[::-1])"),),
            **EINSUM,
        ),
        Mutant(
            "einsum-dropped-broadcast-sum",
            first=(
                "test_vjp_matches_autograd_on_random_equations",
                "A = torch.randn(4, 1, 2, 3, dtype=torch.float64, requires_gr",
            ),
            why="a broadcast size-1 dimension keeps the gradient of its first copy instead of "
            "the sum over all copies",
            edits=(
                (
                    "g = g.sum(reduce, keepdim=True)",
                    "g = g[tuple(slice(0, 1) if d in reduce else slice(None) "
                    "for d in range(g.dim()))]",
                ),
            ),
            **EINSUM,
        ),
        Mutant(
            "einsum-dropped-inner-broadcast-sum",
            first=(
                "test_vjp_matches_autograd_on_random_equations",
                "X, W = torch.randn(2, 3, 4), torch.randn(5, 4, 6)",
            ),
            why="a summed subscript of size 1 on one side reads one element of the other side "
            "instead of its sum",
            edits=(("b = b.sum(j, keepdim=True)", "b = b.narrow(j, 0, 1)"),),
            **EINSUM,
        ),
        Mutant(
            "einsum-diagonal-wrong-stride",
            first=(
                "test_gradcheck_float64",
                "g = torch.tensor(2.5, dtype=torch.float64)",
            ),
            why="a repeated subscript read with one dimension's stride: a row, not the diagonal",
            edits=(("stride[l] += s", "stride[l] = s"),),
            **EINSUM,
        ),
        Mutant(
            "einsum-size-one-wins-over-zero",
            first=(
                "test_size_one_broadcasts_against_size_zero",
                "x, w = torch.zeros(0, dtype=torch.float64), torch.randn(1, dtype=torch.float64)",
            ),
            why="a subscript of size 1 in one operand and 0 in another is sized 1 (the larger), "
            "where broadcasting makes it 0",
            edits=(
                (
                    "sizes[label] = size if seen == 1 else seen",
                    "sizes[label] = max(seen, size)",
                ),
            ),
            **EINSUM,
        ),
    ]
}

CONV = dict(
    file="snippets/conv.py", chapter="docs/conv.md", tests="tests/unit/test_conv.py"
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "conv-input-grad-wrong-channel-axis",
                first=(
                    "test_teaching_functions_match_torch",
                    "x = torch.randn(2, 3, 12, dtype=torch.float64, requires_grad",
                ),
                why="the notes' label: the upstream gradient's channel axis read as c_in, not c_out",
                edits=(
                    (
                        'torch.einsum("dck,bdo->bcok", w, dL_dy)',
                        'torch.einsum("dck,bco->bcok", w, dL_dy)',
                    ),
                ),
                **CONV,
            ),
            Mutant(
                "conv-missing-kernel-flip",
                first=(
                    "test_teaching_functions_match_torch",
                    "for width, stride in [(12, 1), (12, 2), (13, 3), (5, 2)]:",
                ),
                why="the transposed convolution run with the kernel as it is, not flipped along k",
                edits=(
                    (
                        "w_flip = w.flip(2).transpose(0, 1)",
                        "w_flip = w.transpose(0, 1)",
                    ),
                ),
                **CONV,
            ),
            Mutant(
                "conv-edge-off-by-one",
                first=(
                    "test_teaching_functions_match_torch",
                    "x = torch.randn(2, 3, 12, dtype=torch.float64, requires_grad",
                ),
                why="an edge position misses its last window offset",
                edits=(
                    (
                        "range(max(0, i - out_width + 1), min(K, i + 1))",
                        "range(max(0, i - out_width + 1), min(K, i))",
                    ),
                ),
                **CONV,
            ),
            Mutant(
                "conv-stride-ignored-in-input-grad",
                first=(
                    "test_teaching_functions_match_torch",
                    "for width, stride in [(12, 1), (12, 2), (13, 3), (5, 2)]:",
                ),
                why="the upstream gradient padded but not spread out by the stride",
                edits=(
                    (
                        "G[:, :, K - 1 : K - 1 + spread : stride] = dL_dy",
                        "G[:, :, K - 1 : K - 1 + out_width] = dL_dy",
                    ),
                ),
                **CONV,
            ),
            Mutant(
                "conv-phase-offset-in-input-positions",
                first=(
                    "test_conv1d_matches_torch",
                    "x = torch.randn(2, 6, 20, dtype=torch.float64, requires_grad",
                ),
                why="a tap's row offset counted in input positions instead of phase positions",
                edits=(
                    (
                        "yield kh, kw, p, q, a * gw + c",
                        "yield kh, kw, p, q, a * gw + c * sw",
                    ),
                ),
                **CONV,
            ),
        ]
    }
)

LOGISTIC = dict(
    file="snippets/logistic_regression.py",
    chapter="docs/logistic_regression.md",
    tests="tests/unit/test_logistic_regression.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "lr-gradient-without-1-over-n",
                first=(
                    "test_cross_entropy_and_its_gradient_match_torch",
                    "Zr = Z.clone().requires_grad_()",
                ),
                why="the gradient of the mean loss without the 1/n",
                edits=(
                    (
                        "G = e.div_(n * e.sum(1, keepdim=True))",
                        "G = e.div_(e.sum(1, keepdim=True))",
                    ),
                    ("-1 / max(n, 1))", "-1.0)"),
                ),
                **LOGISTIC,
            ),
            Mutant(
                "lr-gradient-sign-flip",
                first=(
                    "test_cross_entropy_and_its_gradient_match_torch",
                    "Zr = Z.clone().requires_grad_()",
                ),
                why="Y - P instead of P - Y",
                edits=(("    return G.scatter_add_(", "    return -G.scatter_add_("),),
                **LOGISTIC,
            ),
            Mutant(
                "lr-softmax-without-max-subtraction",
                first=(
                    "test_log_softmax_and_softmax_along_any_dim_match_torch",
                    "z = torch.tensor([1.0, 3.0, 2.0, -1.0], dtype=torch.float64)",
                ),
                why="exp of the raw logits: overflows",
                edits=(
                    (
                        "    return c, (logits - c).mul_(LOG2_E).exp2_()",
                        "    return c, (logits * LOG2_E).exp2_()",
                    ),
                ),
                **LOGISTIC,
            ),
            Mutant(
                "lr-log-softmax-without-shift",
                first=(
                    "test_log_softmax_and_softmax_along_any_dim_match_torch",
                    "Z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])",
                ),
                why="log-sum-exp without subtracting the maximum",
                edits=(
                    (
                        "    c = logits.amax(dim, keepdim=True) if",
                        "    c = 0 * logits.amax(dim, keepdim=True) if",
                    ),
                ),
                **LOGISTIC,
            ),
            Mutant(
                "lr-exp2-without-log2-e",
                first=(
                    "test_log_softmax_and_softmax_along_any_dim_match_torch",
                    "torch.testing.assert_close(p, F.softmax(z, dim=-1))",
                ),
                why="2^x taken for e^x: the exponent not scaled by log2 e",
                edits=(("(logits - c).mul_(LOG2_E).exp2_()", "(logits - c).exp2_()"),),
                **LOGISTIC,
            ),
            Mutant(
                "lr-row-check-lets-minus-inf-rows-through",
                first=(
                    "test_softmax_family_rejects_a_row_of_only_minus_inf",
                    'softmax(torch.tensor([[0.0, 1.0], [-float("inf"), -float("inf")]]))',
                ),
                why="the row check without abs: a row of only -inf passes and gives nan silently",
                edits=(
                    (
                        "not (row_max.abs() < math.inf).all()",
                        "not (row_max < math.inf).all()",
                    ),
                ),
                **LOGISTIC,
            ),
            Mutant(
                "lr-ece-bins-weighted-equally",
                first=(
                    "test_reliability_and_ece_match_a_loop",
                    "gen = torch.Generator().manual_seed(3)",
                ),
                why="ECE as the plain mean over non-empty bins, not weighted by their counts",
                edits=(
                    (
                        "    return (count / count.sum() * (accuracy - confidence).abs()).sum()",
                        "    return (accuracy - confidence).abs()[count > 0].mean()",
                    ),
                ),
                **LOGISTIC,
            ),
            Mutant(
                "lr-ridge-closed-form-without-n",
                first=(
                    "test_ridge_zeroes_the_autograd_gradient",
                    "def gradient(objective, w):",
                ),
                why="(X^T X + lam I)^-1 X^T y for the objective with the 1/n",
                edits=(("X.T @ X + n * lam * I", "X.T @ X + lam * I"),),
                **LOGISTIC,
            ),
        ]
    }
)

S4 = dict(file="snippets/s4.py", chapter="docs/s4.md", tests="tests/unit/test_s4.py")
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "s4-continuous-B-in-kernel",
                first=(
                    "test_kernel_s4d_matches_the_dense_diagonal_system",
                    "gen = torch.Generator().manual_seed(0)",
                ),
                why="the diagonal kernel built with B, not B_bar",
                edits=(
                    (
                        "        B_bar = torch.where(sL == 0, 1, torch.expm1(z) / z)"
                        " * s.to(torch.float64) * B",
                        "        B_bar = B",
                    ),
                ),
                **S4,
            ),
            Mutant(
                "s4-missing-C-tilde",
                first=(
                    "test_kernel_nplr_matches_the_dense_bilinear_system",
                    "C = torch.randn(N, dtype=torch.complex128)",
                ),
                why="the generating function with C instead of C (I - A_bar^L)",
                edits=(
                    (
                        "    C_t = C - (C[..., None, :] @ torch.linalg.matrix_power(A_bar, L))[..., 0, :]",
                        "    C_t = C",
                    ),
                ),
                **S4,
            ),
            Mutant(
                "s4-missing-woodbury-term",
                first=(
                    "test_kernel_nplr_matches_the_dense_bilinear_system",
                    "C = torch.randn(N, dtype=torch.complex128)",
                ),
                why="the diagonal part alone: the low-rank term dropped",
                edits=(
                    (
                        "        K_hat.append(k00 - half * (k01 * inner).sum(-1))",
                        "        K_hat.append(k00)",
                    ),
                ),
                **S4,
            ),
            Mutant(
                "s4-fft-without-padding",
                first=(
                    "test_convolution_with_the_kernel_is_the_recurrence",
                    "alpha, L = 0.2, 50",
                ),
                why="a circular convolution: the FFTs of length L, not 2L",
                edits=(("    n = 2 * L  # the zero padding", "    n = L"),),
                **S4,
            ),
        ]
    }
)

AUTODIFF = dict(
    file="snippets/autodiff.py",
    chapter="docs/autodiff.md",
    tests="tests/unit/test_autodiff.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "ad-matmul-grad-A-untransposed",
                first=(
                    "test_matmul_vjps_match_torch",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="dL/dA = G B instead of G B^T: the right shape when B is square",
                edits=(
                    (
                        "        return G @ B.T, A.T @ G",
                        "        return G @ B, A.T @ G",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-matmul-grad-B-transposed",
                first=(
                    "test_matmul_vjps_match_torch",
                    "check_vjp(matmul, torch.matmul, (3, 4), (4, 4))",
                ),
                why="dL/dB = G^T A, the transpose of A^T G: the right shape when B is square",
                edits=(
                    (
                        "        return G @ B.T, A.T @ G",
                        "        return G @ B.T, G.T @ A",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-add-missing-unbroadcast",
                first=(
                    "test_add_vjp_sums_over_broadcast_axes",
                    "check_vjp(add, torch.add, (4, 3), (3,))",
                ),
                why="add's VJP hands g to both operands without summing over the broadcast axes",
                edits=(
                    (
                        "return unbroadcast(g, shape_a), unbroadcast(g, shape_b)",
                        "return g, g",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-unbroadcast-leading-axes-only",
                first=(
                    "test_add_vjp_sums_over_broadcast_axes",
                    "check_vjp(add, torch.add, (4, 3), (3,))",
                ),
                why="g summed over the prepended axes but not over the axes stretched from size 1",
                edits=(
                    (
                        "    return g.sum(axes, keepdim=True) if axes else g",
                        "    return g",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-mul-vjp-own-operand",
                first=(
                    "test_mul_vjp_sums_over_broadcast_axes",
                    "check_vjp(mul, torch.mul, (4, 1), (1, 3))",
                ),
                why="mul's VJP multiplies g by each operand itself instead of by the other one",
                edits=(
                    (
                        "return unbroadcast(g * B, A.shape), unbroadcast(g * A, B.shape)",
                        "return unbroadcast(g * A, A.shape), unbroadcast(g * B, B.shape)",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-relu-vjp-passes-negatives",
                first=(
                    "test_relu_vjp_matches_torch",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="relu's VJP masked by its output being >= 0, which it always is: g passes "
                "where x < 0",
                edits=(("(g * (A > 0),)", "(g * (A.clamp(min=0) >= 0),)"),),
                **AUTODIFF,
            ),
            Mutant(
                "ad-log-softmax-missing-softmax-term",
                first=(
                    "test_log_softmax_vjp_matches_torch",
                    "check_vjp(relu, torch.relu, (3, 4))",
                ),
                why="log_softmax's VJP as the identity: the - softmax(z) sum(g) term dropped",
                edits=(("(g - P * g.sum(-1, keepdim=True),)", "(g,)"),),
                **AUTODIFF,
            ),
            Mutant(
                "ad-accumulate-overwrites",
                first=(
                    "test_a_node_used_several_times_gets_the_sum_of_its_gradients",
                    "check_vjp(mul, torch.mul, (4, 1), (1, 3))",
                ),
                why="a node used twice keeps the gradient of its last use instead of the sum",
                edits=(
                    (
                        "parent.grad = g if parent.grad is None else parent.grad + g",
                        "parent.grad = g",
                    ),
                ),
                **AUTODIFF,
            ),
            Mutant(
                "ad-backward-in-forward-order",
                first=(
                    "test_composed_ops_and_operands_on_either_side",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="the VJPs called parents first, before their gradient is known",
                edits=(("    for node in reversed(order):", "    for node in order:"),),
                **AUTODIFF,
            ),
            Mutant(
                "ad-jacobian-reverse-transposed",
                first=(
                    "test_full_jacobians_take_n_jvps_or_m_vjps",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="the VJP rows stacked as columns: J^T, not J",
                edits=(
                    (
                        "    return torch.stack(rows)",
                        "    return torch.stack(rows, dim=1)",
                    ),
                ),
                **AUTODIFF,
            ),
        ]
    }
)

OPTIM = dict(
    file="snippets/optim.py", chapter="docs/optim.md", tests="tests/unit/test_optim.py"
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "optim-adam-no-bias-correction",
                first=(
                    "test_adam_and_adamw_match_torch_for_100_steps",
                    "g = torch.tensor([-0.1, 1.0, 1e3], dtype=torch.float64)",
                ),
                why="m and v used as they are: the first steps shrunk toward zero by 1 - beta^t",
                edits=(
                    (
                        "            m_hat = self.m[i] / (1 - beta1**t)  # bias corrections\n"
                        "            v_hat = self.v[i] / (1 - beta2**t)\n",
                        "            m_hat = self.m[i]\n            v_hat = self.v[i]\n",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-adam-no-second-moment-correction",
                first=(
                    "test_adam_and_adamw_match_torch_for_100_steps",
                    "g = torch.tensor([-0.1, 1.0, 1e3], dtype=torch.float64)",
                ),
                why="only m bias-corrected: the first step about 30 times too long",
                edits=(
                    (
                        "            v_hat = self.v[i] / (1 - beta2**t)\n",
                        "            v_hat = self.v[i]\n",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-decay-coupling-swapped",
                first=("test_adam_and_adamw_match_torch_for_100_steps", "lr = 0.05"),
                why="Adam decays theta directly and AdamW adds the decay to the gradient",
                edits=(
                    (
                        "            if self.decoupled:\n",
                        "            if not self.decoupled:\n",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-adamw-l2-decay",
                first=("test_adam_and_adamw_match_torch_for_100_steps", "lr = 0.05"),
                why="AdamW's decay added to the gradient, as Adam's L2",
                edits=(("    decoupled = True\n", "    decoupled = False\n"),),
                **OPTIM,
            ),
            Mutant(
                "optim-nesterov-no-look-ahead",
                first=("test_sgd_matches_torch_for_100_steps", "lr, mu = 0.005, 0.8"),
                why="nesterov=True ignored: the step along b_t, not g_t + momentum * b_t",
                edits=(
                    (
                        "                g = g + self.momentum * self.b[i] if self.nesterov else self.b[i]",
                        "                g = self.b[i]",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-dampening-on-first-step",
                first=(
                    "test_sgd_matches_torch_for_100_steps",
                    "grads = torch.randn(8, 3, generator=gen, dtype=torch.float64",
                ),
                why="the first gradient dampened too: b_1 = (1 - dampening) g_1",
                edits=(
                    (
                        "                    self.b[i] = g.clone()",
                        "                    self.b[i] = (1 - self.dampening) * g",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-dampening-on-buffer",
                first=(
                    "test_sgd_matches_torch_for_100_steps",
                    "grads = torch.randn(8, 3, generator=gen, dtype=torch.float64",
                ),
                why="dampening applied to the old buffer instead of the new gradient",
                edits=(
                    (
                        "self.b[i] = self.momentum * self.b[i] + (1 - self.dampening) * g",
                        "self.b[i] = (1 - self.dampening) * self.momentum * self.b[i] + g",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-sgd-decay-outside-momentum",
                first=(
                    "test_sgd_matches_torch_for_100_steps",
                    "X = torch.randn(200, 4, generator=gen, dtype=torch.float64)",
                ),
                why="SGD's weight decay added after the momentum buffer, not to the gradient",
                edits=(
                    (
                        "            g = p.grad + self.weight_decay * p  # L2: the gradient of wd/2 ||p||^2",
                        "            g = p.grad",
                    ),
                    (
                        "            p -= self.lr * g\n",
                        "            p -= self.lr * (g + self.weight_decay * p)\n",
                    ),
                ),
                **OPTIM,
            ),
            Mutant(
                "optim-epoch-drops-leftover",
                first=(
                    "test_minibatches_cover_every_example_once_in_ceil_n_over_b_batches",
                    "n, b = 100, 32",
                ),
                why="an epoch of n // batch_size full batches: the n % batch_size leftovers never seen",
                edits=(
                    (
                        "    return list(perm.split(batch_size))",
                        "    return list(perm[: n - n % batch_size].split(batch_size))",
                    ),
                ),
                **OPTIM,
            ),
        ]
    }
)

LINALG = dict(
    file="snippets/linear_algebra.py",
    chapter="docs/linear_algebra.md",
    tests="tests/unit/test_linear_algebra.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "la-cosine-without-one-norm",
                first=(
                    "test_cosine_similarity_matches_torch",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="cosine similarity divided by the norm of x only",
                edits=(
                    (
                        "    return (x / x_norm * (w / w_norm)).sum(dim)",
                        "    return (x / x_norm * w).sum(dim)",
                    ),
                ),
                **LINALG,
            ),
            Mutant(
                "la-cosine-eps-on-the-product",
                first=(
                    "test_cosine_similarity_matches_torch",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="eps clamps the product of the norms, not each norm: vectors shorter than "
                "sqrt(eps) lose their exact cosine",
                edits=(
                    (
                        "    x_norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True).clamp(min=eps)\n"
                        "    w_norm = torch.linalg.vector_norm(w, dim=dim, keepdim=True).clamp(min=eps)\n"
                        "    return (x / x_norm * (w / w_norm)).sum(dim)",
                        "    x_norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True)\n"
                        "    w_norm = torch.linalg.vector_norm(w, dim=dim, keepdim=True)\n"
                        "    return (x * w).sum(dim, keepdim=True).div((x_norm * w_norm).clamp(min=eps))"
                        ".squeeze(dim)",
                    ),
                ),
                **LINALG,
            ),
            Mutant(
                "la-similarity-rows-not-normalised",
                first=(
                    "test_similarity_matrix_holds_every_pairwise_cosine",
                    "gen = torch.Generator().manual_seed(3)",
                ),
                why="the similarity matrix as the raw products A B^T: long templates win",
                edits=(("    return A_hat @ B_hat.T", "    return A @ B.T"),),
                **LINALG,
            ),
            Mutant(
                "la-batched-matmul-sums-the-batch",
                first=(
                    "test_batched_matmul_matches_torch_matmul",
                    "gen = torch.Generator().manual_seed(7)",
                ),
                why="the einsum output drops the batch subscripts, so it sums over the batch",
                edits=(
                    (
                        'torch.einsum("...ab,...bc->...ac", X, Y)',
                        'torch.einsum("...ab,...bc->ac", X, Y)',
                    ),
                ),
                **LINALG,
            ),
            Mutant(
                "la-collapse-in-application-order",
                first=(
                    "test_collapse_linear_equals_the_two_layers",
                    "two = nn.Sequential(layer(4, 8, gen), layer(8, 3, gen))",
                ),
                why="the weights multiplied in the order the layers run, W1 W2, not W2 W1",
                edits=(
                    (
                        "    return W2 @ W1, W2 @ b1 + b2",
                        "    return W1 @ W2, W2 @ b1 + b2",
                    ),
                ),
                **LINALG,
            ),
            Mutant(
                "la-collapse-bias-without-W2",
                first=(
                    "test_collapse_linear_equals_the_two_layers",
                    "two = nn.Sequential(layer(4, 8, gen), layer(8, 3, gen))",
                ),
                why="the collapsed bias b1 + b2, not W2 b1 + b2",
                edits=(
                    ("    return W2 @ W1, W2 @ b1 + b2", "    return W2 @ W1, b1 + b2"),
                ),
                **LINALG,
            ),
        ]
    }
)

GRADIENTS = dict(
    file="snippets/gradients.py",
    chapter="docs/gradients.md",
    tests="tests/unit/test_gradients.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "grad-jacobian-transposed",
                first=(
                    "test_the_three_jacobians_match_torch_with_a_row_per_output",
                    "J_fd = jacobian_fd(f, x)",
                ),
                why="the notes' reading: columns as the outputs' gradients, an (n, m) Jacobian",
                edits=(
                    (
                        "    return torch.stack(columns, dim=1)\n\n\n# --8<-- [end:jacobian_fd]",
                        "    return torch.stack(columns, dim=0)\n\n\n# --8<-- [end:jacobian_fd]",
                    ),
                ),
                **GRADIENTS,
            ),
            Mutant(
                "grad-jvp-columns-stacked-as-rows",
                first=(
                    "test_the_three_jacobians_match_torch_with_a_row_per_output",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="forward mode's columns J e_j stacked as rows",
                edits=(
                    (
                        "    return torch.stack(columns, dim=1)\n\n\n# --8<-- [end:jacobian_fwd]",
                        "    return torch.stack(columns, dim=0)\n\n\n# --8<-- [end:jacobian_fwd]",
                    ),
                ),
                **GRADIENTS,
            ),
            Mutant(
                "grad-forward-difference",
                why="a forward difference where a central one is claimed: error O(h), not O(h^2)",
                edits=(
                    (
                        "    return (as_vector(f(x + h * v)) - as_vector(f(x - h * v))) / (2 * h)",
                        "    return (as_vector(f(x + h * v)) - as_vector(f(x))) / h",
                    ),
                ),
                **GRADIENTS,
            ),
            Mutant(
                "grad-vjp-basis-of-the-inputs",
                first=(
                    "test_the_three_jacobians_match_torch_with_a_row_per_output",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="reverse mode seeded with one basis vector per input, not per output",
                edits=(
                    (
                        "        for e in torch.eye(y.numel(), dtype=y.dtype, device=y.device)\n",
                        "        for e in torch.eye(x.numel(), dtype=y.dtype, device=y.device)\n",
                    ),
                ),
                **GRADIENTS,
            ),
            Mutant(
                "grad-chain-rule-wrong-order",
                first=(
                    "test_chain_rule_is_the_jacobian_of_the_composition",
                    "gen = torch.Generator().manual_seed(2)",
                ),
                why="J_g(x) J_f(g(x)): the inner Jacobian on the left",
                edits=(
                    (
                        "    return jacobian(f, u) @ jacobian(g, x)",
                        "    return jacobian(g, x) @ jacobian(f, u)",
                    ),
                ),
                **GRADIENTS,
            ),
            Mutant(
                "grad-chain-rule-outer-at-x",
                first=(
                    "test_chain_rule_is_the_jacobian_of_the_composition",
                    "gen = torch.Generator().manual_seed(2)",
                ),
                why="the outer Jacobian taken at x instead of at g(x)",
                edits=(
                    (
                        "    return jacobian(f, u) @ jacobian(g, x)",
                        "    return jacobian(f, x) @ jacobian(g, x)",
                    ),
                ),
                **GRADIENTS,
            ),
        ]
    }
)

LOSSES = dict(
    file="snippets/losses.py",
    chapter="docs/losses.md",
    tests="tests/unit/test_losses.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "loss-hinge-without-the-1",
                why="max(0, -m), the perceptron loss, for the hinge",
                edits=(
                    ("    return (1 - m).clamp(min=0)", "    return (-m).clamp(min=0)"),
                ),
                **LOSSES,
            ),
            Mutant(
                "loss-gaussian-nll-missing-half",
                first=(
                    "test_gaussian_and_laplace_nll_match_torch_distributions",
                    "gen = torch.Generator().manual_seed(3)",
                ),
                why="(y - f)^2 / sigma^2: the 1/2 dropped",
                edits=(("(y - f) ** 2 / (2 * sigma**2)", "(y - f) ** 2 / sigma**2"),),
                **LOSSES,
            ),
            Mutant(
                "loss-logistic-sign-flipped",
                why="log(1 + e^{m}) instead of log(1 + e^{-m})",
                edits=(
                    (
                        "    return (-m).clamp(min=0) + torch.log1p(torch.exp(-m.abs()))",
                        "    return m.clamp(min=0) + torch.log1p(torch.exp(-m.abs()))",
                    ),
                ),
                **LOSSES,
            ),
            Mutant(
                "loss-zero-one-margin-zero-correct",
                first=(
                    "test_zero_one_loss_counts_a_zero_score_as_a_mistake",
                    "m = torch.linspace(-3, 3, 601, dtype=torch.float64)",
                ),
                why="[m < 0]: a score of 0 counted as right",
                edits=(
                    (
                        "    return (m <= 0).to(m.dtype)",
                        "    return (m < 0).to(m.dtype)",
                    ),
                ),
                **LOSSES,
            ),
            Mutant(
                "loss-empirical-risk-sum",
                first=(
                    "test_empirical_risk_is_the_mean_of_a_loop",
                    "gen = torch.Generator().manual_seed(0)",
                ),
                why="the sum of the losses, not their mean",
                edits=(
                    (
                        "    return loss(y, prediction).mean()",
                        "    return loss(y, prediction).sum()",
                    ),
                ),
                **LOSSES,
            ),
            Mutant(
                "loss-ridge-lambda-inverted",
                first=(
                    "test_ridge_map_is_the_posterior_mode_and_mean",
                    "gen = torch.Generator().manual_seed(5)",
                ),
                why="lambda = tau^2 / sigma^2 instead of sigma^2 / tau^2",
                edits=(("    lam = sigma**2 / tau**2", "    lam = tau**2 / sigma**2"),),
                **LOSSES,
            ),
            Mutant(
                "loss-lasso-threshold-without-step",
                first=(
                    "test_lasso_map_with_orthonormal_columns_is_soft_thresholding",
                    "b = 0.02",
                ),
                why="soft-thresholding by 1 / b, not t / b",
                edits=(("(v.abs() - t / b)", "(v.abs() - 1 / b)"),),
                **LOSSES,
            ),
            Mutant(
                "loss-posterior-precision-without-noise",
                first=(
                    "test_ridge_map_is_the_posterior_mode_and_mean",
                    "torch.testing.assert_close(mean, ridge_map(X, y, sigma, tau)",
                ),
                why="X^T X without the 1 / sigma^2",
                edits=(
                    (
                        "    A = X.T @ X / sigma**2 + torch.eye(d, dtype=X.dtype, device=X.device) / tau**2",
                        "    A = X.T @ X + torch.eye(d, dtype=X.dtype, device=X.device) / tau**2",
                    ),
                ),
                **LOSSES,
            ),
            Mutant(
                "loss-predictive-without-noise",
                first=(
                    "test_predictive_matches_monte_carlo_over_the_posterior",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="the predictive variance without sigma^2",
                edits=(
                    (
                        "((X_star @ cov) * X_star).sum(1) + sigma**2",
                        "((X_star @ cov) * X_star).sum(1)",
                    ),
                ),
                **LOSSES,
            ),
        ]
    }
)

MLP = dict(
    file="snippets/mlp.py", chapter="docs/mlp.md", tests="tests/unit/test_mlp.py"
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "mlp-gelu-grad-missing-x-phi",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-6, 6, 241, dtype=torch.float64)",
                ),
                why="GELU's derivative as Phi(x): the product rule's x phi(x) dropped",
                edits=(("    return Phi + x * phi", "    return Phi"),),
                **MLP,
            ),
            Mutant(
                "mlp-softplus-grad-sigmoid-of-minus-x",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-30, 30, 601, dtype=torch.float64)",
                ),
                why="softplus' = sigma(-x)",
                edits=(("    return sigmoid(x)\n", "    return sigmoid(-x)\n"),),
                **MLP,
            ),
            Mutant(
                "mlp-elu-grad-branches-swapped",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-30, 30, 601, dtype=torch.float64)",
                ),
                why="ELU's derivative with its two branches swapped",
                edits=(
                    (
                        "torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x.clamp(max=0)))",
                        "torch.where(x > 0, alpha * torch.exp(x.clamp(max=0)), torch.ones_like(x))",
                    ),
                ),
                **MLP,
            ),
            Mutant(
                "mlp-linear-W-not-transposed",
                first=(
                    "test_linear_and_its_backward_match_nn_linear",
                    "gen = torch.Generator().manual_seed(1)",
                ),
                why="y = x W, with W stored (c_out, c_in)",
                edits=(("    y = x @ W.T\n", "    y = x @ W\n"),),
                **MLP,
            ),
            Mutant(
                "mlp-silu-grad-missing-term",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-6, 6, 241, dtype=torch.float64)",
                ),
                why="SiLU' = sigma(x): the product rule's second term dropped",
                edits=(("    return s * (1 + x * (1 - s))", "    return s"),),
                **MLP,
            ),
            Mutant(
                "mlp-gelu-tanh-grad-missing-3",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-6, 6, 241, dtype=torch.float64)",
                ),
                why="d/dx x^3 written as x^2 in the tanh GELU's derivative",
                edits=(("(1 + 3 * 0.044715 * x**2)", "(1 + 0.044715 * x**2)"),),
                **MLP,
            ),
            Mutant(
                "mlp-glu-gate-on-first-half",
                first=(
                    "test_glu_matches_torch_along_any_dim",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="sigma(a) * b: the first half gated, not the second",
                edits=(
                    (
                        "    return a * torch.sigmoid(b)",
                        "    return torch.sigmoid(a) * b",
                    ),
                ),
                **MLP,
            ),
            Mutant(
                "mlp-prelu-slope-grad-everywhere",
                first=(
                    "test_prelu_and_both_partial_derivatives_match_torch",
                    "x = torch.linspace(-3, 3, 61, dtype=torch.float64)",
                ),
                why="d/da = x for every x, also where x > 0",
                edits=(
                    ("torch.where(positive, torch.zeros_like(x), x),", "x.clone(),"),
                ),
                **MLP,
            ),
            Mutant(
                "mlp-leaky-relu-grad-zero-below",
                first=(
                    "test_activation_and_derivative_match_torch",
                    "x = torch.linspace(-3, 3, 61, dtype=torch.float64)",
                ),
                why="leaky ReLU's derivative 0, not a, for x <= 0",
                edits=(
                    (
                        "torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))",
                        "torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))",
                    ),
                ),
                **MLP,
            ),
            Mutant(
                "mlp-interpolant-slopes-not-changes",
                first=(
                    "test_relu_interpolant_is_the_piecewise_linear_interpolation",
                    "x = torch.linspace(-math.pi, math.pi, 2001, dtype=torch.floa",
                ),
                why="output weights = the slopes, not their changes",
                edits=(("    c = torch.cat([s[:1], s[1:] - s[:-1]])", "    c = s"),),
                **MLP,
            ),
            Mutant(
                "mlp-input-grad-without-phi-prime",
                first=(
                    "test_mlp_and_its_input_gradient_match_torch",
                    "def network(depth, width, gain, seed=0):",
                ),
                why="backpropagating through the weights only",
                edits=(("        g = (g * phi_grad(z_l)) @ W", "        g = g @ W"),),
                **MLP,
            ),
            Mutant(
                "mlp-glu-ffn-backward-missing-phi-prime",
                first=(
                    "test_glu_ffn_and_its_backward_match_autograd",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="dL/dA = G * B: the gate's derivative dropped",
                edits=(
                    (
                        "    dL_dA, dL_dB = G * B * phi_grad(A), G * phi(A)",
                        "    dL_dA, dL_dB = G * B, G * phi(A)",
                    ),
                ),
                **MLP,
            ),
            Mutant(
                "mlp-linear-backward-dW-transposed",
                first=(
                    "test_linear_and_its_backward_match_nn_linear",
                    "G = torch.randn(4, 5, generator=gen, dtype=torch.float64)",
                ),
                why="dL/dW = X^T G, the (c_in, c_out) transpose",
                edits=(
                    (
                        "    return dL_dy @ W, g2.T @ x2, g2.sum(0)",
                        "    return dL_dy @ W, x2.T @ g2, g2.sum(0)",
                    ),
                ),
                **MLP,
            ),
        ]
    }
)

ATTENTION = dict(
    file="snippets/attention.py",
    chapter="docs/attention.md",
    tests="tests/unit/test_attention.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "attn-mask-after-softmax",
                first=(
                    "test_attention_matches_scaled_dot_product_attention",
                    "gen = torch.Generator().manual_seed(4)",
                ),
                why="the notes' causal mask: weights of masked keys zeroed after the softmax, not "
                "-inf before it, so rows no longer sum to 1",
                edits=(
                    (
                        '        S = S.masked_fill(~mask, float("-inf"))\n',
                        "        return torch.softmax(S, dim=-1) * mask\n",
                    ),
                ),
                **ATTENTION,
            ),
            Mutant(
                "attn-missing-scale",
                why="softmax(q k^T) without the 1/sqrt(d)",
                edits=(
                    (
                        "    S = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
                        "    S = q @ k.transpose(-2, -1)",
                    ),
                ),
                **ATTENTION,
            ),
            Mutant(
                "attn-rope-rotates-backwards",
                first=(
                    "test_rope_matches_complex_rotation",
                    "gen = torch.Generator().manual_seed(8)",
                ),
                why="RoPE's sine term with the wrong sign: a rotation by -m theta, which still "
                "depends on m - n only",
                edits=(
                    (
                        "[x1 * cos - x2 * sin, x1 * sin + x2 * cos]",
                        "[x1 * cos + x2 * sin, -x1 * sin + x2 * cos]",
                    ),
                ),
                **ATTENTION,
            ),
            Mutant(
                "attn-heads-reshaped-without-transpose",
                first=(
                    "test_multi_head_attention_matches_torch",
                    "x = torch.arange(2 * 5 * 12, dtype=torch.float64).reshape(2,",
                ),
                why="(T, C) reshaped straight to (H, T, d): each head gets pieces of several tokens",
                edits=(
                    (
                        "    return x.reshape(*batch, T, num_heads, C // num_heads).transpose(-3, -2)",
                        "    return x.reshape(*batch, num_heads, T, C // num_heads)",
                    ),
                ),
                **ATTENTION,
            ),
            Mutant(
                "attn-key-padding-mask-inverted",
                first=(
                    "test_multi_head_attention_matches_torch",
                    "gen = torch.Generator().manual_seed(5)",
                ),
                why="key_padding_mask read with SDPA's convention (True = attend) instead of "
                "nn.MultiheadAttention's (True = padding)",
                edits=(
                    (
                        "        keep = ~key_padding_mask[..., None, None, :]",
                        "        keep = key_padding_mask[..., None, None, :]",
                    ),
                ),
                **ATTENTION,
            ),
        ]
    }
)

NEXT_TOKEN = dict(
    file="snippets/next_token.py",
    chapter="docs/next_token.md",
    tests="tests/unit/test_next_token.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "nt-targets-not-shifted",
                first=(
                    "test_windows_match_slices",
                    "pairs = [(tok.decode(x[0, : t + 1]), tok.decode(y[0, t : t +",
                ),
                why="y = w[:-1], the inputs themselves: predict the current token",
                edits=(
                    (
                        "    return w[:, :-1], w[:, 1:]",
                        "    return w[:, :-1], w[:, :-1]",
                    ),
                ),
                **NEXT_TOKEN,
            ),
            Mutant(
                "nt-softmax-before-cross-entropy",
                first=(
                    "test_next_token_loss_matches_cross_entropy_in_both_layouts",
                    "x, y = windows(tok.encode(text), T=8)",
                ),
                why="the cross-entropy of softmax(logits): probabilities passed where logits belong",
                edits=(
                    (
                        "    log_q = logits.log_softmax(-1)",
                        "    log_q = logits.softmax(-1).log_softmax(-1)",
                    ),
                ),
                **NEXT_TOKEN,
            ),
            Mutant(
                "nt-embedding-grad-drops-repeats",
                first=(
                    "test_embed_grad_matches_autograd_and_sums_repeats",
                    "E_leaf = E.clone().requires_grad_()",
                ),
                why="dE[ids] += G: one write per index, so a repeated token keeps one contribution",
                edits=(
                    (
                        "    dL_dE.index_add_(0, ids.reshape(-1).long(), dL_dX.reshape(ids.numel(), C))",
                        "    dL_dE[ids.reshape(-1).long()] += dL_dX.reshape(ids.numel(), C)",
                    ),
                ),
                **NEXT_TOKEN,
            ),
            Mutant(
                "nt-causal-mask-transposed",
                first=(
                    "test_prefix_mean_is_the_running_average",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="an upper-triangular mask: position t averages the tokens from t on, the future",
                edits=(
                    (
                        "    A = torch.tril(X.new_ones(T, T))",
                        "    A = torch.triu(X.new_ones(T, T))",
                    ),
                ),
                **NEXT_TOKEN,
            ),
        ]
    }
)

SYMMETRY = dict(
    file="snippets/symmetry.py",
    chapter="docs/symmetry.md",
    tests="tests/unit/test_symmetry.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "sym-gram-XtX",
                first=(
                    "test_gram_is_every_inner_product",
                    "gen = torch.Generator().manual_seed(4)",
                ),
                why="the Gram matrix as X^T X (d, d), which a rotation changes",
                edits=(("    return X @ X.T\n", "    return X.T @ X\n"),),
                **SYMMETRY,
            ),
            Mutant(
                "sym-centre-over-coordinates",
                first=(
                    "test_centre_moves_the_centroid_to_zero_and_undoes_translations",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="the mean taken over each point's coordinates instead of over the points",
                edits=(
                    (
                        "    return X - X.mean(dim=0, keepdim=True)",
                        "    return X - X.mean(dim=1, keepdim=True)",
                    ),
                ),
                **SYMMETRY,
            ),
            Mutant(
                "sym-orthogonal-without-sign-fix",
                why="Q from QR used as it is: orthogonal, but not Haar (LAPACK's signs make Q_00 < 0)",
                edits=(
                    (
                        "    Q = Q * torch.sgn(torch.diagonal(R))  # column j times sign(R_jj)\n",
                        "",
                    ),
                ),
                **SYMMETRY,
            ),
            Mutant(
                "sym-procrustes-transposed",
                first=(
                    "test_procrustes_recovers_a_planted_orthogonal_map",
                    "gen = torch.Generator().manual_seed(5)",
                ),
                why="V U^T, the inverse of the best map, for U V^T",
                edits=(("    return U @ Vh\n", "    return (U @ Vh).T\n"),),
                **SYMMETRY,
            ),
        ]
    }
)

READING_LIST = dict(
    file="snippets/reading_list.py",
    chapter="docs/reading_list.md",
    tests="tests/unit/test_reading_list.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "rl-coupling-scale-from-x2",
                first=(
                    "test_affine_coupling_inverts_and_its_log_det_matches_the_jacobian",
                    "gen = torch.Generator().manual_seed(9)",
                ),
                why="the affine coupling's scale s computed from x2, the half it "
                "transforms, instead of x1: no longer invertible",
                edits=(
                    (
                        '    s1 = apply_half(s, x1, x2, "s")',
                        '    s1 = apply_half(s, x2, x2, "s")',
                    ),
                ),
                **READING_LIST,
            ),
            Mutant(
                "rl-coupling-log-det-sign",
                first=(
                    "test_affine_coupling_inverts_and_its_log_det_matches_the_jacobian",
                    "gen = torch.Generator().manual_seed(9)",
                ),
                why="log|det J| = -sum s(x1), the inverse's log-determinant",
                edits=(
                    (
                        "    return torch.cat([x1, y2], -1), s1.sum(-1)",
                        "    return torch.cat([x1, y2], -1), -s1.sum(-1)",
                    ),
                ),
                **READING_LIST,
            ),
            Mutant(
                "rl-layer-norm-unbiased-variance",
                first=(
                    "test_layer_norm_matches_torch",
                    "gen = torch.Generator().manual_seed(4)",
                ),
                why="layer norm with the unbiased variance (divide by H - 1)",
                edits=(
                    (
                        "    var = ((x - mean) ** 2).mean(dims, keepdim=True)\n",
                        "    var = x.var(dims, keepdim=True)\n",
                    ),
                ),
                **READING_LIST,
            ),
            Mutant(
                "rl-dropout-scale-one-over-p",
                first=(
                    "test_dropout_keeps_entries_scaled_by_one_over_one_minus_p_like_torch",
                    "p = 0.3",
                ),
                why="torch's convention (p = drop probability) scaled by 1/p, "
                "the papers' keep-probability formula",
                edits=(("    return x * mask / (1 - p)", "    return x * mask / p"),),
                **READING_LIST,
            ),
        ]
    }
)

SCORE = dict(
    file="snippets/score_models.py",
    chapter="docs/score_models.md",
    tests="tests/unit/test_score_models.py",
)
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "score-mixture-unnormalised-responsibilities",
                why="the component scores weighted by w_k N_k(x), not p(k | x): that is grad p, not "
                "grad log p",
                edits=(
                    ("    r = torch.softmax(logits, dim=0)", "    r = logits.exp()"),
                ),
                **SCORE,
            ),
            Mutant(
                "score-dsm-target-sign",
                first=(
                    "test_dsm_minimiser_over_linear_models_is_the_noised_score",
                    "gen = torch.Generator().manual_seed(6)",
                ),
                why="the denoising target +(x~ - x) / sigma^2, pointing away "
                "from the clean sample",
                edits=(
                    (
                        "target = -(x_tilde - x) / sigmas**2",
                        "target = (x_tilde - x) / sigmas**2",
                    ),
                ),
                **SCORE,
            ),
            Mutant(
                "score-langevin-noise-sqrt-2-eps",
                first=(
                    "test_langevin_is_the_update_written_out",
                    "G = (torch.ones(1, dtype=torch.float64), means[:1], covs[:1]",
                ),
                why="drift (eps / 2) s with noise sqrt(2 eps) z: samples p^(1/2), not p",
                edits=(
                    (
                        "math.sqrt(eps * temperature) * z",
                        "math.sqrt(2 * eps * temperature) * z",
                    ),
                ),
                **SCORE,
            ),
            Mutant(
                "score-annealed-step-not-scaled",
                first=(
                    "test_annealed_langevin_is_langevin_per_level_with_scaled_steps",
                    "sigmas[1:] / sigmas[:-1], torch.full((9,), 0.01 ** (1 / 9)",
                ),
                why="the same step eps at every noise level, not eps sigma_i^2 / sigma_L^2",
                edits=(("alpha = eps * (sigma / sigmas[-1]) ** 2", "alpha = eps"),),
                **SCORE,
            ),
        ]
    }
)

# The shared input checks: each wrong variant breaks the chapters that rely on it.
CHECKS = dict(file="snippets/checks.py", tests="tests/unit/test_checks.py")
MUTANTS.update(
    {
        m.name: m
        for m in [
            Mutant(
                "checks-min-dim-exclusive",
                why="at least min_dim dimensions read as more than min_dim",
                edits=(("if t.dim() < min_dim:", "if t.dim() <= min_dim:"),),
                chapter="docs/linear_algebra.md",
                **CHECKS,
            ),
            Mutant(
                "checks-positive-admits-zero",
                why="a positive number (a step, a scale) allowed to be 0",
                edits=(("(positive and x <= 0)", "(positive and x < 0)"),),
                chapter="docs/linear_algebra.md",
                **CHECKS,
            ),
            Mutant(
                "checks-finite-any",
                why="a tensor passed as finite when any entry is, not every entry",
                edits=(
                    (
                        "torch.isfinite(t).all()",
                        "torch.isfinite(t).any()",
                    ),
                ),
                chapter="docs/symmetry.md",
                **CHECKS,
            ),
            Mutant(
                "checks-broadcast-aligned-left",
                why="shapes aligned from the left, where broadcasting aligns the last axes",
                edits=(("shape[::-1] for shape", "shape for shape"),),
                chapter="docs/autodiff.md",
                **CHECKS,
            ),
        ]
    }
)

# The plugin half: loaded with `-p tests.mutation.mutants` in the mutated copy.
_failed: set[str] = set()
_caught_by: dict[str, str] = {}  # per file: the first test that failed
# per file: how many tests passed, failed, skipped
_outcomes: dict[str, dict[str, int]] = {}
_session = None


def pytest_configure(config):
    """Failures as Python prints them: pytest's own rendering reads and parses the source of
    every frame, more than most mutant runs cost (the terminal plugin that takes `--tb` is
    off in these runs)."""
    config.option.tbstyle = "native"


def pytest_sessionstart(session):
    global _session
    _session = session


def pytest_collection_modifyitems(items):
    """The unit tests named by the mutant's ``first`` ahead of the rest of their file (a stable
    sort: files keep their order, and so do the tests within each group). A chapter's blocks
    keep the page's order: each continues the one before, whose run it reuses
    (tests/docblocks.py, ChainRunner), so a block moved ahead would run its whole chain first
    and the blocks before it again after."""
    first = MUTANTS[os.environ["MUTANT"]].first
    files = list(dict.fromkeys(item.nodeid.split("::")[0] for item in items))

    def key(item):
        where = item.nodeid.split("::")[0]
        text = item.nodeid + "\n" + getattr(item, "code", "")
        return files.index(where), not where.endswith(".md") and not any(
            f in text for f in first
        )

    items.sort(key=key)


def pytest_runtest_setup(item):
    """Once a file has caught the mutant, its remaining tests have nothing left to show."""
    if item.nodeid.split("::")[0] in _failed:
        import pytest

        pytest.skip("this file already caught the mutant")


def pytest_runtest_logreport(report):
    where = report.nodeid.split("::")[0]
    if report.when == "call" or report.outcome != "passed":
        counts = _outcomes.setdefault(where, {"passed": 0, "failed": 0, "skipped": 0})
        counts[report.outcome] += 1
    if report.failed:
        _failed.add(where)
        _caught_by.setdefault(where, report.nodeid)
        mutant = MUTANTS[os.environ["MUTANT"]]
        if {mutant.chapter, mutant.tests} <= _failed:
            _session.shouldstop = "caught by the chapter and by the unit tests"


def pytest_sessionfinish(session):
    with open(os.environ["MUTANT_REPORT"], "w") as f:
        json.dump(
            {
                "failed": sorted(_failed),
                "outcomes": _outcomes,
                "caught_by": _caught_by,
                "snippets": __import__("snippets").__file__,
            },
            f,
        )

"""Plausible wrong variants of snippet code, and a pytest plugin that reports who caught one.

A mutant is a list of text edits to a snippet module. ``tests/test_mutants.py`` copies the
project, applies the edits there (so the module *and* the code the chapter includes from it
are wrong), runs the chapter's doc tests and the unit tests, and requires both to fail.
"""

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str                          # the snippet module to edit
    why: str                           # the mistake it stands for
    edits: tuple[tuple[str, str], ...]  # (text that must occur once, what replaces it)
    chapter: str                       # the doc page whose tests must catch it
    tests: str                         # the unit-test file that must catch it

    def apply(self, root) -> None:
        path = root / self.file
        text = path.read_text()
        for old, new in self.edits:
            assert text.count(old) == 1, f"{self.name}: {old!r} is not once in {self.file}"
            text = text.replace(old, new)
        path.write_text(text)


NAIVE_VJP = '''def naive_vjp(equation, operands, grad_output):
    eq = parse_equation(equation, [tuple(x.shape) for x in operands])
    term = ["".join(t).replace("...0", "").replace("...1", "") for t in eq.inputs]
    out = "".join(eq.output)
    return tuple(torch.einsum(",".join([out, *term[:p], *term[p + 1:]]) + "->" + term[p],
                              grad_output, *operands[:p], *operands[p + 1:])
                 for p in range(len(operands)))


def einsum_vjp('''

EINSUM = dict(file="snippets/einsum.py", chapter="docs/einsum.md", tests="tests/test_einsum.py")
MUTANTS = {m.name: m for m in [
    Mutant("einsum-naive-permutation-rule",
           why="permute the subscripts and nothing else: no diagonals, no broadcasting, "
               "no subscripts summed out of one operand",
           edits=(("def einsum_vjp(", NAIVE_VJP),
                  ('    operands = check_operands(equation, operands)\n    eq = parse_equation',
                   '    return naive_vjp(equation, operands, grad_output)\n    eq = parse_equation')),
           **EINSUM),
    Mutant("einsum-swapped-operand-order", why="gradients returned in the wrong operand order",
           edits=(("    return tuple(grads)", "    return tuple(grads[::-1])"),), **EINSUM),
    Mutant("einsum-dropped-broadcast-sum",
           why="a broadcast size-1 dimension keeps the gradient of its first copy instead of "
               "the sum over all copies",
           edits=(("g = g.sum(reduce, keepdim=True)",
                   "g = g[tuple(slice(0, 1) if d in reduce else slice(None) "
                   "for d in range(g.dim()))]"),), **EINSUM),
    Mutant("einsum-dropped-inner-broadcast-sum",
           why="a summed subscript of size 1 on one side reads one element of the other side "
               "instead of its sum",
           edits=(("b = b.sum(j, keepdim=True)", "b = b.narrow(j, 0, 1)"),), **EINSUM),
    Mutant("einsum-diagonal-wrong-stride",
           why="a repeated subscript read with one dimension's stride: a row, not the diagonal",
           edits=(("stride[l] += s", "stride[l] = s"),), **EINSUM),
]}

CONV = dict(file="snippets/conv.py", chapter="docs/conv.md", tests="tests/test_conv.py")
MUTANTS.update({m.name: m for m in [
    Mutant("conv-input-grad-wrong-channel-axis",
           why="the notes' label: the upstream gradient's channel axis read as c_in, not c_out",
           edits=(('torch.einsum("dck,bdo->bcok", w, dL_dy)',
                   'torch.einsum("dck,bco->bcok", w, dL_dy)'),), **CONV),
    Mutant("conv-missing-kernel-flip",
           why="the transposed convolution run with the kernel as it is, not flipped along k",
           edits=(("w_flip = w.flip(2).transpose(0, 1)", "w_flip = w.transpose(0, 1)"),), **CONV),
    Mutant("conv-edge-off-by-one",
           why="an edge position misses its last window offset",
           edits=(("range(max(0, i - out_width + 1), min(K, i + 1))",
                   "range(max(0, i - out_width + 1), min(K, i))"),), **CONV),
    Mutant("conv-stride-ignored-in-input-grad",
           why="the upstream gradient padded but not spread out by the stride",
           edits=(("G[:, :, K - 1:K - 1 + spread:stride] = dL_dy",
                   "G[:, :, K - 1:K - 1 + out_width] = dL_dy"),), **CONV),
    Mutant("conv-phase-offset-in-input-positions",
           why="a tap's row offset counted in input positions instead of phase positions",
           edits=(("yield kh, kw, p, q, a * gw + c", "yield kh, kw, p, q, a * gw + c * sw"),),
           **CONV),
]})

LOGISTIC = dict(file="snippets/logistic_regression.py", chapter="docs/logistic_regression.md",
                tests="tests/test_logistic_regression.py")
MUTANTS.update({m.name: m for m in [
    Mutant("lr-gradient-without-1-over-n", why="the gradient of the mean loss without the 1/n",
           edits=(("    return G / logits.shape[0]", "    return G"),), **LOGISTIC),
    Mutant("lr-gradient-sign-flip", why="Y - P instead of P - Y",
           edits=(("    return G / logits.shape[0]", "    return -G / logits.shape[0]"),),
           **LOGISTIC),
    Mutant("lr-softmax-without-max-subtraction", why="exp of the raw logits: overflows",
           edits=(("    e = (logits - logits.amax(dim, keepdim=True)).exp()", "    e = logits.exp()"),),
           **LOGISTIC),
    Mutant("lr-log-softmax-without-shift", why="log-sum-exp without subtracting the maximum",
           edits=(("    c = logits.amax(dim, keepdim=True)\n",
                   "    c = torch.zeros_like(logits.amax(dim, keepdim=True))\n"),), **LOGISTIC),
    Mutant("lr-ece-bins-weighted-equally",
           why="ECE as the plain mean over non-empty bins, not weighted by their counts",
           edits=(("    return (count / count.sum() * (accuracy - confidence).abs()).sum()",
                   "    return (accuracy - confidence).abs()[count > 0].mean()"),), **LOGISTIC),
    Mutant("lr-ridge-closed-form-without-n",
           why="(X^T X + lam I)^-1 X^T y for the objective with the 1/n",
           edits=(("n * lam * torch.eye(c", "lam * torch.eye(c"),), **LOGISTIC),
]})

S4 = dict(file="snippets/s4.py", chapter="docs/s4.md", tests="tests/test_s4.py")
MUTANTS.update({m.name: m for m in [
    Mutant("s4-continuous-B-in-kernel", why="the diagonal kernel built with B, not B_bar",
           edits=(("        B_bar = torch.expm1(sL) / Lam * B\n", "        B_bar = B\n"),), **S4),
    Mutant("s4-missing-C-tilde", why="the generating function with C instead of C (I - A_bar^L)",
           edits=(("    C_t = C - (C[..., None, :] @ torch.linalg.matrix_power(A_bar, L))[..., 0, :]",
                   "    C_t = C"),), **S4),
    Mutant("s4-missing-woodbury-term", why="the diagonal part alone: the low-rank term dropped",
           edits=(("        K_hat.append(k00 - half * (k01 * inner).sum(-1))",
                   "        K_hat.append(k00)"),), **S4),
    Mutant("s4-fft-without-padding", why="a circular convolution: the FFTs of length L, not 2L",
           edits=(("torch.fft.ifft(torch.fft.fft(u, n=2 * L) * torch.fft.fft(K, n=2 * L))",
                   "torch.fft.ifft(torch.fft.fft(u, n=L) * torch.fft.fft(K, n=L))"),
                  ("torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(K, n=2 * L), n=2 * L)",
                   "torch.fft.irfft(torch.fft.rfft(u, n=L) * torch.fft.rfft(K, n=L), n=L)")), **S4),
]})

# The plugin half: loaded with `-p tests.mutants` in the mutated copy.
_failed: set[str] = set()
_session = None


def pytest_sessionstart(session):
    global _session
    _session = session


def pytest_runtest_setup(item):
    """Once a file has caught the mutant, its remaining tests have nothing left to show."""
    if item.nodeid.split("::")[0] in _failed:
        import pytest

        pytest.skip("this file already caught the mutant")


def pytest_runtest_logreport(report):
    if report.failed:
        _failed.add(report.nodeid.split("::")[0])
        mutant = MUTANTS[os.environ["MUTANT"]]
        if {mutant.chapter, mutant.tests} <= _failed:
            _session.shouldstop = "caught by the chapter and by the unit tests"


def pytest_sessionfinish(session):
    with open(os.environ["MUTANT_REPORT"], "w") as f:
        json.dump({"failed": sorted(_failed),
                   "snippets": __import__("snippets").__file__}, f)

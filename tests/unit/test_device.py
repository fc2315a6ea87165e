"""Every tensor a snippet function creates goes where its inputs are.

Each call below runs twice on CPU inputs: as it is, and with the default device set to "meta"
(`torch.device("meta")` as a context manager). A tensor the function makes without naming a
device (``torch.eye(n, dtype=x.dtype)`` instead of ``torch.eye(n, dtype=x.dtype,
device=x.device)``) is then a meta tensor: mixing it with the CPU inputs raises, or the result
comes back on "meta". On a GPU that tensor would be on the CPU and the call would fail with a
device mismatch, which this finds without a GPU.

The table covers the functions that take a tensor and create one of their own; functions that
take no tensor (``hippo_legs(N)``, ``causal_mask(T_q, T_k)``, ...) get ``device=`` arguments
under issue 16.
"""

import pytest
import torch

from snippets import (attention, autodiff, gradients, logistic_regression, losses, next_token,
                      reading_list, s4, score_models, symmetry)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand(*shape, dtype=F64, seed=0):
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def call(fn, *args, **kwargs):
    """The call, with its inputs made now (on the CPU): ``fn`` runs later."""
    return lambda: fn(*args, **kwargs)


def score_net_steps():
    net = score_models.ScoreNet(d=2, hidden=8, sigma_data=1.0, generator=gen(1))
    return call(score_models.train_score_net, net, rand(32, 2, dtype=torch.float32), 0.05, 5.0, steps=2,
                generator=gen(2), batch=8)


def nplr_kernel():
    Lambda, P, B, _ = s4.nplr_legs(4)
    return call(s4.kernel_nplr, Lambda, P, P, B, torch.ones(4, dtype=torch.complex128), 0.1, 8)


T = torch.tensor
# Each entry makes its inputs on the CPU and returns the call to run.
CALLS = {
    "attention.rope": lambda: call(attention.rope, rand(5, 4), torch.arange(5)),
    "autodiff.finite_difference_gradient": lambda: call(
        autodiff.finite_difference_gradient, lambda x: (x * x).sum(), rand(3), 1e-6),
    "autodiff.jvp (a constant)": lambda: call(autodiff.jvp, lambda x: x * 2.0 + 1.0, rand(3),
                                              rand(3, seed=1)),
    "autodiff.jacobian_forward": lambda: call(autodiff.jacobian_forward, lambda x: x * x,
                                              rand(1, 3)),
    "autodiff.jacobian_reverse": lambda: call(autodiff.jacobian_reverse, lambda x: x * x + 1.0,
                                              rand(1, 3)),
    "gradients.jacobian_fd": lambda: call(gradients.jacobian_fd, torch.sin, rand(3)),
    "gradients.jacobian_rev": lambda: call(gradients.jacobian_rev, torch.sin, rand(3)),
    "gradients.jacobian_fwd": lambda: call(gradients.jacobian_fwd, torch.sin, rand(3)),
    "logistic_regression.ridge": lambda: call(logistic_regression.ridge, rand(6, 2), rand(6),
                                              0.1),
    "logistic_regression.cross_entropy_grad": lambda: call(
        logistic_regression.cross_entropy_grad, rand(4, 3), T([0, 2, 1, 1])),
    "logistic_regression.reliability": lambda: call(
        logistic_regression.reliability, torch.softmax(rand(8, 3), 1),
        T([0, 1, 2, 0, 1, 2, 0, 1]), 4),
    "losses.gaussian_nll": lambda: call(losses.gaussian_nll, rand(4), rand(4, seed=1), 0.5),
    "losses.laplace_nll": lambda: call(losses.laplace_nll, rand(4), rand(4, seed=1), 0.5),
    "losses.ridge_map": lambda: call(losses.ridge_map, rand(6, 2), rand(6), 1.0, 2.0),
    "losses.blr_posterior": lambda: call(losses.blr_posterior, rand(6, 2), rand(6), 1.0, 2.0),
    "next_token.one_hot": lambda: call(next_token.one_hot, T([0, 2, 1]), 4),
    "reading_list.dropout": lambda: call(reading_list.dropout, rand(4, 3), 0.5,
                                         generator=gen(3)),
    "reading_list.flow": lambda: call(reading_list.flow, rand(3, 3), 0.1, "euler"),
    "s4.discretize_bilinear": lambda: call(s4.discretize_bilinear, rand(3, 3), rand(3), 0.1),
    "s4.discretize_zoh": lambda: call(s4.discretize_zoh, rand(3, 3), rand(3), 0.1),
    "s4.scan": lambda: call(s4.scan, 0.5 * torch.eye(3, dtype=F64), rand(3), rand(3), rand(6)),
    "s4.causal_conv": lambda: call(s4.causal_conv, rand(6), rand(6, seed=1), D=0.5),
    "s4.vandermonde": lambda: call(s4.vandermonde, rand(4).to(torch.complex128),
                                   -0.5 + 1j * rand(4, seed=1), 10),
    "s4.kernel_nplr": nplr_kernel,
    "score_models.components": lambda: call(score_models.components, rand(5, 2),
                                            *score_models.example_mixture(), sigma=0.1),
    "score_models.mixture_sample": lambda: call(score_models.mixture_sample, 5,
                                                *score_models.example_mixture(), gen(4)),
    "score_models.dsm_loss": lambda: call(score_models.dsm_loss, lambda x, s: -x / (1 + s**2),
                                          rand(5, 2), rand(5, 2, seed=1), 0.5),
    "score_models.langevin": lambda: call(score_models.langevin, lambda x: -x, rand(5, 2), 0.1,
                                          3, gen(5)),
    "score_models.train_score_net": score_net_steps,
    "symmetry.sort_rows": lambda: call(symmetry.sort_rows, rand(5, 2)),
    "symmetry.permute_hidden": lambda: call(symmetry.permute_hidden, rand(3, 2), rand(3),
                                            rand(2, 3), T([2, 0, 1])),
}


def tensors(result) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in tensors(r)]
    if isinstance(result, float):
        return [torch.tensor(result, dtype=F64, device="cpu")]
    return []


@pytest.mark.parametrize("name", CALLS)
def test_created_tensors_follow_the_inputs(name):
    expected = tensors(CALLS[name]()())
    assert expected, f"{name} returned no tensor"
    run = CALLS[name]()                   # the same inputs again, on the CPU
    with torch.device("meta"):
        got = tensors(run())
    assert [t.device.type for t in got] == ["cpu"] * len(expected), (
        f"{name} made a tensor on the default device")
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_the_check_can_fail():
    """A function that makes a tensor on the default device is caught."""
    def bad(x):
        return x + torch.ones(x.shape, dtype=x.dtype)
    x = rand(3)
    with pytest.raises(RuntimeError), torch.device("meta"):
        bad(x)

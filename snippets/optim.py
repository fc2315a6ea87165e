"""SGD (with momentum, dampening, Nesterov and weight decay), Adam and AdamW written out
from the algorithm boxes of ``torch.optim``, plus the mini-batches of one epoch of SGD.

Each optimiser is a drop-in for its ``torch.optim`` namesake on plain parameter lists:
it reads ``p.grad``, updates ``p`` in place on ``.step()``, skips parameters whose
``grad`` is None, and rejects the hyper-parameters torch rejects (ValueError naming the
parameter). Left out: parameter groups, ``maximize``, ``amsgrad``, closures,
``foreach``/``fused``. This module imports torch, the standard library and the
package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
from collections.abc import Iterable

import torch
from torch import Tensor

from snippets.checks import check_int
# --8<-- [end:imports]

__all__ = ["SGD", "Adam", "AdamW", "minibatches"]


# --8<-- [start:params]
def check_params(params: Iterable[Tensor]) -> list[Tensor]:
    """The parameters as a list of leaf tensors, rejected as torch.optim rejects them.
    Dtypes: float32, float64."""
    if isinstance(params, Tensor):
        raise TypeError("params must be an iterable of Tensors, got a Tensor")
    params = list(params)
    if not params:
        raise ValueError("params is an empty parameter list")
    if len(set(map(id, params))) < len(params):
        raise ValueError(
            "params holds the same tensor twice (torch warns, and its steps then "
            "depend on whether it uses foreach)"
        )
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"params must hold Tensors, got {type(p).__name__}")
        if not p.is_leaf:
            raise ValueError(
                "params must be leaf tensors: can't optimise a non-leaf Tensor"
            )
    return params


def as_real(t: Tensor) -> Tensor:
    """t, or for a complex t its real view (..., 2) of (real, imaginary) parts:
    torch.optim treats a complex parameter as two real ones.
    Dtypes: complex64, complex128."""
    return torch.view_as_real(t) if t.is_complex() else t


class Optimizer:
    """What every optimiser here shares: its parameters, and zero_grad as torch does it.
    Dtypes: float32, float64."""

    def __init__(self, params: Iterable[Tensor]):
        self.params = check_params(params)

    def zero_grad(self) -> None:
        """Forget the gradients (``set_to_none=True``, torch's default)."""
        for p in self.params:
            p.grad = None


# --8<-- [end:params]


# --8<-- [start:checks]
def check_sgd(
    lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool
) -> None:
    """The hyper-parameters torch.optim.SGD rejects, with torch's own comparisons (so
    nan passes where it passes in torch). Dtypes: none (Python numbers, no tensor)."""
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    if momentum < 0:
        raise ValueError(f"momentum must be >= 0, got {momentum}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"nesterov needs momentum > 0 and dampening == 0, "
            f"got momentum={momentum}, dampening={dampening}"
        )


def check_adam(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """The hyper-parameters torch.optim.Adam and AdamW reject (nan fails every check
    here). Dtypes: none (Python numbers, no tensor)."""
    if not 0 <= lr:
        raise ValueError(f"lr must be >= 0, got {lr}")
    if not 0 <= eps:
        raise ValueError(f"eps must be >= 0, got {eps}")
    for k, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"betas[{k}] must be in [0, 1), got {beta}")
    if not 0 <= weight_decay:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")


def check_epoch(n: int, batch_size: int) -> None:
    """n examples and a batch size, both integers >= 1. Dtypes: none (integers)."""
    check_int("n", n, low=1)
    check_int("batch_size", batch_size, low=1)


# --8<-- [end:checks]


# --8<-- [start:sgd]
class SGD(Optimizer):
    """theta_t = theta_{t-1} - lr u_t with g_t = grad + weight_decay theta_{t-1} and
    b_1 = g_1, b_t = momentum b_{t-1} + (1 - dampening) g_t; u_t = g_t + momentum b_t
    (nesterov), b_t (momentum != 0), or g_t (no momentum).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ):
        check_sgd(lr, momentum, dampening, weight_decay, nesterov)
        super().__init__(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.b: list[Tensor | None] = [None] * len(self.params)  # momentum buffers

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p  # L2: the gradient of wd/2 ||p||^2
            if self.momentum != 0:
                if self.b[i] is None:
                    self.b[i] = g.clone()  # b_1 = g_1, not dampened
                else:
                    self.b[i] = self.momentum * self.b[i] + (1 - self.dampening) * g
                g = g + self.momentum * self.b[i] if self.nesterov else self.b[i]
            p -= self.lr * g


# --8<-- [end:sgd]


# --8<-- [start:adam]
class Adam(Optimizer):
    """m_t = beta1 m_{t-1} + (1 - beta1) g_t,  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    (m_0 = v_0 = 0), theta_t = theta_{t-1} - lr m_hat / (sqrt(v_hat) + eps) with
    m_hat = m_t / (1 - beta1^t), v_hat = v_t / (1 - beta2^t), and
    g_t = grad + weight_decay theta_{t-1} (L2, coupled). A complex parameter is two real
    ones (its real view), as in torch.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""

    decoupled = False  # AdamW: shrink theta by (1 - lr weight_decay) instead

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
    ):
        check_adam(lr, betas, eps, weight_decay)
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # running mean of g
        self.m = [torch.zeros_like(as_real(p)) for p in self.params]
        # running mean of g^2
        self.v = [torch.zeros_like(as_real(p)) for p in self.params]
        self.t = [0] * len(self.params)  # steps taken by each p

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            self.t[i] += 1
            # p a view: updated in place
            t, g, p = (
                self.t[i],
                as_real(p.grad),
                as_real(p),
            )
            if self.decoupled:
                p *= 1 - self.lr * self.weight_decay  # decay theta itself
            else:
                g = g + self.weight_decay * p  # decay through m and v
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * g**2
            m_hat = self.m[i] / (1 - beta1**t)  # bias corrections
            v_hat = self.v[i] / (1 - beta2**t)
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


# --8<-- [end:adam]


# --8<-- [start:adamw]
class AdamW(Adam):
    """Adam with decoupled weight decay: theta_{t-1} is first multiplied by
    (1 - lr weight_decay), and m and v see the loss gradient alone.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr, betas, eps, weight_decay)


# --8<-- [end:adamw]


# --8<-- [start:minibatches]
def minibatches(
    n: int, batch_size: int, generator: torch.Generator | None = None, *, device=None
) -> list[Tensor]:
    """One epoch: a random permutation of range(n) cut into ceil(n / batch_size) index
    batches, all of batch_size but the last, which holds the n % batch_size left over
    (if any). DataLoader(dataset, batch_size, shuffle=True) makes batches of the same
    sizes. The permutation is drawn where ``generator`` lives (the same batches on every
    device) and moved to ``device``. Dtypes: int64 indices."""
    check_epoch(n, batch_size)
    where = device if generator is None else generator.device
    perm = torch.randperm(n, generator=generator, device=where).to(device)
    return list(perm.split(batch_size))


# --8<-- [end:minibatches]

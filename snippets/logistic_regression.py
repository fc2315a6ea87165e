"""Linear models: least squares, softmax, logistic regression and calibration, without
autograd.

For data ``X`` (n, c) and integer classes ``y`` (n,) in ``[0, m)``, multinomial logistic
regression with weights ``W`` (m, c) and bias ``b`` (m,) has logits
``Z = X W^T + b`` and loss

    L(W, b) = (1/n) sum_i [logsumexp(Z_i) - Z_{i, y_i}] + (l2 / 2) ||W||^2,
    dL/dZ = (softmax(Z) - Y) / n,
    dL/dW = (dL/dZ)^T X + l2 W,   dL/db = sum_i (dL/dZ)_i,

with ``Y`` the one-hot targets. Every function checks its input and raises ValueError
naming what is wrong. This module imports torch, the standard library and the package's
shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import math

import torch
from torch import Tensor

from snippets.checks import check_float, check_int, check_number
# --8<-- [end:imports]

__all__ = [
    "least_squares",
    "least_squares_gd",
    "ridge",
    "huber",
    "logsumexp",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "fit",
    "predict_proba",
    "smoothness",
    "expected_calibration_error",
    "reliability",
    "fit_temperature",
    "bayes_decision",
    "conformal_threshold",
    "prediction_sets",
]


# --8<-- [start:checks]
def check_finite(name: str, t: Tensor, dim: int | None = None) -> None:
    """check_float's finite tensor, with the values' check skipped while torch.compile
    traces (a branch on values would break its graph). Dtypes: float32, float64."""
    check_float(name, t, dim=dim, finite=not torch.compiler.is_compiling())


def check_row_max(name: str, row_max: Tensor) -> None:
    """Each row's max is finite: its row holds no nan (the max propagates it), no +inf,
    and not only -inf. One check per row, where check_finite reads every entry once
    more.
    Dtypes: float32, float64."""
    # (a nan max compares False, as +inf and -inf do)
    if not torch.compiler.is_compiling() and not (row_max.abs() < math.inf).all():
        raise ValueError(f"{name} has a row with a nan or +inf, or with only -inf")


def check_rates(lr: float | None = None, **penalties: float) -> None:
    """A step size lr (None: the default 1/L) and penalties (lam, l2), each a finite
    number >= 0."""
    for name, value in penalties.items():
        check_number(name, value, low=0)
    if lr is not None:
        check_number("lr", lr, low=0)


def check_targets(
    targets: Tensor, n: int, m: int, name: str = "targets", of: str = "the input"
) -> None:
    """targets (n,): integer classes in [0, m), one per row of ``of``
    (what n and m come from); ``name`` is the caller's name for targets.
    Dtypes: integer targets (int64 in the tests)."""
    ints = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
    if not isinstance(targets, Tensor) or targets.dtype not in ints:
        raise ValueError(
            f"{name} must be integer class indices, "
            f"got {getattr(targets, 'dtype', type(targets))}"
        )
    if tuple(targets.shape) != (n,):
        raise ValueError(
            f"{name} must have shape ({n},), a class per row of {of}, "
            f"got {tuple(targets.shape)}"
        )
    if (
        n
        and not torch.compiler.is_compiling()
        and (targets.min() < 0 or targets.max() >= m)
    ):
        raise ValueError(
            f"{name} must be classes in [0, {m}) for {of}, got values from "
            f"{int(targets.min())} to {int(targets.max())}"
        )


def check_classes(
    logits: Tensor, targets: Tensor, name: str = "logits", finite: bool = True
) -> None:
    """logits (n, m) floating, finite unless ``finite=False`` (softmax's check_row_max
    then checks each row), and targets (n,) integer classes in [0, m).
    Dtypes: float32, float64."""
    (check_finite if finite else check_float)(name, logits, dim=2)
    check_targets(targets, *logits.shape, of=f"{name} {tuple(logits.shape)}")


def check_regression(
    X: Tensor,
    y: Tensor,
    steps: int | None = None,
    lr: float | None = None,
    **penalties: float,
) -> None:
    """X (n, c) and y (n,), finite; steps an integer >= 0 when given; lr and the
    penalties as check_rates says. Dtypes: float32, float64."""
    check_finite("X", X, dim=2)
    check_finite("y", y, dim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X {tuple(X.shape)} and y {tuple(y.shape)} must have as many rows"
        )
    if steps is not None:
        check_int("steps", steps)
    check_rates(lr, **penalties)


def check_binary(z: Tensor, y: Tensor) -> None:
    """Finite logits z and probabilities y in [0, 1] of one shape.
    Dtypes: float32, float64."""
    check_finite("z", z)
    check_finite("y", y)
    if z.shape != y.shape:
        raise ValueError(
            f"z {tuple(z.shape)} and y {tuple(y.shape)} must have the same shape"
        )
    if ((y < 0) | (y > 1)).any():
        raise ValueError("y must hold probabilities in [0, 1]")


def check_fit(
    X: Tensor,
    y: Tensor | None = None,
    num_classes: int = 1,
    steps: int = 0,
    lr: float | None = None,
    **penalties: float,
) -> None:
    """X (n, c) finite; y (n,) classes in [0, num_classes) when given, num_classes and
    steps integers (>= 1, >= 0); lr and the penalties as check_rates says.
    Dtypes: float32, float64."""
    check_finite("X", X, dim=2)
    check_int("num_classes", num_classes, low=1)
    if y is not None:
        check_targets(
            y,
            X.shape[0],
            num_classes,
            name="y",
            of=f"X {tuple(X.shape)} and num_classes={num_classes}",
        )
    check_int("steps", steps)
    check_rates(lr, **penalties)


def check_model(X: Tensor, W: Tensor, b: Tensor) -> None:
    """X (n, c), W (m, c) and b (m,), finite, of one dtype. Dtypes: float32, float64."""
    check_finite("X", X, dim=2)
    check_finite("W", W, dim=2)
    check_finite("b", b, dim=1)
    if (
        W.shape[1] != X.shape[1]
        or b.shape != W.shape[:1]
        or not X.dtype == W.dtype == b.dtype
    ):
        raise ValueError(
            f"W {tuple(W.shape)} {W.dtype} and b {tuple(b.shape)} {b.dtype} do not "
            f"fit X {tuple(X.shape)} {X.dtype}"
        )


def check_bins(probs: Tensor, targets: Tensor, n_bins: int) -> None:
    """probs (n, m) finite, targets (n,) classes in [0, m), n_bins an integer >= 1.
    Dtypes: float32, float64."""
    check_classes(probs, targets, "probs")
    check_int("n_bins", n_bins, low=1)


def check_temperature(
    logits: Tensor, targets: Tensor, slope, lo: float, hi: float
) -> None:
    """logits (n, m) finite and targets (n,) classes in [0, m), such that the loss's
    slope in beta = 1 / T changes sign between lo and hi: a minimiser to bisect for.
    Dtypes: float32, float64."""
    check_classes(logits, targets)
    if not slope(lo) < 0 < slope(hi):
        raise ValueError(
            f"no temperature T = 1 / beta, beta in [lo, hi] = [{lo:g}, {hi:g}], "
            "minimises the loss: the logits separate the targets perfectly, or carry "
            "no information"
        )


def check_costs(probs: Tensor, C: Tensor) -> None:
    """probs (n, m) and costs C (m, m), finite, of one dtype.
    Dtypes: float32, float64."""
    check_finite("probs", probs, dim=2)
    check_finite("C", C, dim=2)
    m = probs.shape[1]
    if tuple(C.shape) != (m, m) or C.dtype != probs.dtype:
        raise ValueError(
            f"C must be ({m}, {m}) of dtype {probs.dtype} for probs "
            f"{tuple(probs.shape)}, got {tuple(C.shape)} {C.dtype}"
        )


def check_conformal(probs: Tensor, targets: Tensor, alpha: float) -> None:
    """probs (n, m) finite, targets (n,) classes in [0, m), 0 < alpha < 1, and enough
    points for the order statistic: ceil((n + 1)(1 - alpha)) <= n.
    Dtypes: float32, float64."""
    check_classes(probs, targets, "probs")
    n = len(targets)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} needs 0 < alpha < 1")
    if math.ceil((n + 1) * (1 - alpha)) > n:
        raise ValueError(
            f"alpha={alpha} needs at least {math.ceil(1 / alpha) - 1} "
            f"calibration points, got {n}"
        )


# --8<-- [end:checks]


# --8<-- [start:least_squares]
def least_squares(X: Tensor, y: Tensor) -> Tensor:
    """argmin_w ||X w - y||^2 for X (n, c), y (n,) -> w (c,), by an orthogonal
    factorisation of X (``torch.linalg.lstsq``), never forming X^T X.
    Dtypes: float32, float64."""
    check_regression(X, y)
    return torch.linalg.lstsq(X, y[:, None]).solution[:, 0]


# --8<-- [end:least_squares]


# --8<-- [start:least_squares_gd]
def least_squares_gd(
    X: Tensor, y: Tensor, steps: int, lr: float | None = None
) -> Tensor:
    """Gradient descent on LS(w) = (1/n) ||X w - y||^2, whose gradient is
    (2/n) X^T (X w - y), from w = 0. The default step 1/L uses LS's smoothness
    L = (2/n) lambda_max(X^T X).
    Dtypes: float32, float64."""
    check_regression(X, y, steps, lr)
    n = X.shape[0]
    if lr is None:
        L = (2 / n * torch.linalg.matrix_norm(X, ord=2) ** 2).item()
        lr = 1 / L if L > 0 else 0.0  # X = 0: every w is a minimiser
    w = X.new_zeros(X.shape[1])  # (c,), the shape of the answer
    for _ in range(steps):
        w = w - lr * (2 / n) * X.T @ (X @ w - y)
    return w


# --8<-- [end:least_squares_gd]


# --8<-- [start:ridge]
def ridge(X: Tensor, y: Tensor, lam: float) -> Tensor:
    """argmin_w (1/n) ||y - X w||^2 + lam ||w||^2 = (X^T X + n lam I)^{-1} X^T y,
    lam >= 0.
    Dtypes: float32, float64."""
    check_regression(X, y, lam=lam)
    n, c = X.shape
    I = torch.eye(c, dtype=X.dtype, device=X.device)
    return torch.linalg.solve(X.T @ X + n * lam * I, X.T @ y)


# --8<-- [end:ridge]


# --8<-- [start:huber]
def huber(e: Tensor, delta: float = 1.0) -> Tensor:
    """Huber loss of residuals e, elementwise: e^2 / 2 for |e| <= delta, else
    delta (|e| - delta / 2), the linear part joining the quadratic with the same slope.
    delta > 0, finite (torch also takes inf: e^2 / 2 everywhere).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_number("delta", delta, positive=True)
    a = e.abs()
    return torch.where(a <= delta, 0.5 * e**2, delta * (a - 0.5 * delta))


# --8<-- [end:huber]


# --8<-- [start:softmax]
LOG2_E = 1 / math.log(2)  # exp(x) = 2^(x log2 e): torch.exp2 is the faster CPU kernel


def exp_shifted(logits: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """c = max_j z_j along dim (kept, size 1) and exp(z - c): every exponent is <= 0, so
    nothing overflows, and the largest term is exp(0) = 1. A -inf logit gives exp = 0,
    as in torch; a row with a nan or +inf, or with only -inf, raises ValueError
    (check_row_max). An empty tensor has no max to take: c = 0, the sum of nothing, of
    the same shape.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_float("logits", logits)
    c = logits.amax(dim, keepdim=True) if logits.numel() else logits.sum(dim, True)
    check_row_max("logits", c)
    return c, (logits - c).mul_(LOG2_E).exp2_()  # in place: one new tensor, not three


def logsumexp(logits: Tensor, dim: int = -1) -> Tensor:
    """log sum_j exp(z_j) = c + log sum_j exp(z_j - c), c = max_j z_j; dim kept, size 1.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    c, e = exp_shifted(logits, dim)
    return c + e.sum(dim, keepdim=True).log()


def log_softmax(logits: Tensor, dim: int = -1) -> Tensor:
    """log softmax(z)_i = z_i - logsumexp(z), along dim; the shape of logits, which may
    hold -inf (log-probability -inf) but no nan or +inf, and no row of only -inf
    (exp_shifted).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    return logits - logsumexp(logits, dim)


def softmax(logits: Tensor, dim: int = -1) -> Tensor:
    """softmax(z)_i = exp(z_i - c) / sum_j exp(z_j - c) for any c; c = max_j z_j. Along
    dim, the shape of logits; the logits it takes are those of exp_shifted.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    e = exp_shifted(logits, dim)[1]
    return e / e.sum(dim, keepdim=True)


# --8<-- [end:softmax]


# --8<-- [start:cross_entropy]
def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """(1/n) sum_i [logsumexp(Z_i) - Z_{i, y_i}] = (1/n) sum_i -log softmax(Z_i)_{y_i}
    for logits Z (n, m) and classes y (n,); nan for n = 0, the mean of nothing, and inf
    where a target's logit is -inf, as in torch (the logits exp_shifted takes).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_classes(logits, targets, finite=False)
    return (logsumexp(logits, 1) - logits.gather(1, targets[:, None].long())).mean()


def cross_entropy_grad(logits: Tensor, targets: Tensor) -> Tensor:
    """d cross_entropy / dZ = (softmax(Z) - Y) / n, Y the one-hot targets; (n, m).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_classes(logits, targets, finite=False)
    n, e = len(targets), exp_shifted(logits, 1)[1]
    G = e.div_(n * e.sum(1, keepdim=True))  # softmax(Z) / n, in place
    minus_one_over_n = G.new_full((n, 1), -1 / max(n, 1))  # n = 0: nothing to add
    return G.scatter_add_(1, targets[:, None].long(), minus_one_over_n)  # - Y / n


# --8<-- [end:cross_entropy]


# --8<-- [start:binary]
def binary_cross_entropy_with_logits(z: Tensor, y: Tensor) -> Tensor:
    """mean of -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))
    = max(z, 0) - y z + log(1 + e^-|z|).
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_binary(z, y)
    return (z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs()))).mean()


def binary_cross_entropy_with_logits_grad(z: Tensor, y: Tensor) -> Tensor:
    """d/dz of the mean above: (sigmoid(z) - y) / N, N the number of elements.
    Dtypes: float32, float64; bfloat16 agrees with float64 to 2e-2 (relative)."""
    check_binary(z, y)
    return (torch.sigmoid(z) - y) / z.numel()


# --8<-- [end:binary]


# --8<-- [start:fit]
def smoothness(X: Tensor, l2: float = 0.0) -> float:
    """An upper bound L on the curvature of the logistic-regression loss: the Hessian of
    cross-entropy in each row's logits is diag(p) - p p^T <= I / 2, so with the bias as
    a column of ones, L = lambda_max([X 1]^T [X 1]) / (2 n) + l2. A step 1/L cannot
    overshoot.
    Dtypes: float32, float64."""
    check_fit(X, l2=l2)
    X1 = torch.cat([X, X.new_ones(X.shape[0], 1)], 1)
    return (torch.linalg.matrix_norm(X1, ord=2) ** 2 / (2 * X.shape[0])).item() + l2


def fit(
    X: Tensor,
    y: Tensor,
    num_classes: int,
    *,
    steps: int,
    lr: float | None = None,
    l2: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Full-batch gradient descent on mean cross-entropy + (l2 / 2) ||W||^2
    (bias not penalised), from zero, with the gradient written out.
    X (n, c), y (n,) -> W (m, c), b (m,). The default step is 1 / smoothness(X, l2).
    Dtypes: float32, float64."""
    check_fit(X, y, num_classes, steps, lr, l2=l2)
    if lr is None:
        lr = 1 / smoothness(X, l2)
    W = X.new_zeros(num_classes, X.shape[1])
    b = X.new_zeros(num_classes)
    for _ in range(steps):
        dL_dZ = cross_entropy_grad(X @ W.T + b, y)  # (n, m), includes the 1/n
        W -= lr * (dL_dZ.T @ X + l2 * W)
        b -= lr * dL_dZ.sum(0)
    return W, b


def predict_proba(X: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """softmax(X W^T + b): (n, m) class probabilities. Dtypes: float32, float64."""
    check_model(X, W, b)
    return softmax(X @ W.T + b)


# --8<-- [end:fit]


# --8<-- [start:calibration]
def reliability(probs: Tensor, targets: Tensor, n_bins: int = 15):
    """Per equal-width confidence bin ((k/n_bins, (k+1)/n_bins], confidence = max
    probability): the count, mean confidence and accuracy (argmax correct). Empty bins
    have count 0.
    Dtypes: float32, float64."""
    check_bins(probs, targets, n_bins)
    conf, pred = probs.max(1)
    correct = (pred == targets).to(probs.dtype)
    k = (conf * n_bins).ceil().long().clamp(1, n_bins) - 1  # bin k holds (k/n, (k+1)/n]

    def bin_sum(v: Tensor) -> Tensor:
        return probs.new_zeros(n_bins).index_add_(0, k, v)

    count = bin_sum(torch.ones_like(conf))
    return (
        count,
        bin_sum(conf) / count.clamp(min=1),
        bin_sum(correct) / count.clamp(min=1),
    )


def expected_calibration_error(
    probs: Tensor, targets: Tensor, n_bins: int = 15
) -> Tensor:
    """ECE = sum_k (|B_k| / n) |accuracy(B_k) - confidence(B_k)| over the confidence
    bins.
    Dtypes: float32, float64."""
    count, confidence, accuracy = reliability(probs, targets, n_bins)
    return (count / count.sum() * (accuracy - confidence).abs()).sum()


def fit_temperature(logits: Tensor, targets: Tensor, iters: int = 60) -> float:
    """argmin_T mean cross-entropy(logits / T, targets). The loss is convex in
    beta = 1 / T (cross-entropy is convex in the logits, and they are linear in beta),
    so its derivative sum_ij dL/dZ_ij * logits_ij grows with beta: bisect on its sign,
    in log space.
    Dtypes: float32, float64."""

    def slope(beta: float) -> float:
        return (cross_entropy_grad(logits * beta, targets) * logits).sum().item()

    lo, hi = 1e-4, 1e4
    check_temperature(logits, targets, slope, lo, hi)
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    return 1 / math.sqrt(lo * hi)


# --8<-- [end:calibration]


# --8<-- [start:decisions]
def bayes_decision(probs: Tensor, C: Tensor) -> Tensor:
    """argmin_j sum_i C[i, j] p_i: the prediction with the least expected cost, C[i, j]
    being the cost of predicting j when the class is i. probs (n, m), C (m, m) -> (n,).
    Dtypes: float32, float64."""
    check_costs(probs, C)
    return (probs @ C).argmin(1)


def conformal_threshold(probs: Tensor, targets: Tensor, alpha: float) -> float:
    """Split conformal prediction: with scores s_i = 1 - p_i[y_i] on n calibration
    points, the ceil((n + 1)(1 - alpha))-th smallest score q. Sets {j : 1 - p_j <= q}
    then contain the true class with probability at least 1 - alpha, for exchangeable
    data.
    Dtypes: float32, float64."""
    check_conformal(probs, targets, alpha)
    n = len(targets)
    scores = 1 - probs.gather(1, targets[:, None].long())[:, 0]
    return scores.sort().values[math.ceil((n + 1) * (1 - alpha)) - 1].item()


def prediction_sets(probs: Tensor, q: float) -> Tensor:
    """(n, m) boolean: class j is in the set of row i when 1 - p_ij <= q.
    Dtypes: float32, float64."""
    check_finite("probs", probs, dim=2)
    return 1 - probs <= q


# --8<-- [end:decisions]

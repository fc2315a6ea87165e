# %% [markdown]
# # Logistic regression lab
#
# The chapter *Linear models and logistic regression* derives softmax, cross-entropy and its
# gradient, gradient descent, and calibration; this lab puts `snippets.logistic_regression` to
# work on small synthetic problems and draws what the formulas say. Every cell that computes
# also checks its result, mostly against PyTorch, and the notebook runs twice before the site
# is published: when MkDocs builds this page (a failing cell fails the build) and under pytest.
# The button at the top of the page downloads its source, a jupytext percent file: Jupyter
# opens it as a notebook when jupytext is installed, and `python` runs it as a script (the
# checks, without showing the figures).
#
# All data is generated here from seeded generators; nothing is downloaded.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from snippets.logistic_regression import (
    cross_entropy,
    expected_calibration_error,
    fit,
    fit_temperature,
    predict_proba,
    reliability,
    smoothness,
    softmax,
)

# White figures with dark text and lines stay legible on the site's light and dark
# palettes.
plt.rcParams.update(
    {
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.facecolor": "white",
        "figure.dpi": 100,
    }
)
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
f64 = torch.float64

# %% [markdown]
# ## Three classes in the plane
#
# Three Gaussian blobs of 100 points each, close enough to overlap, so no line separates them
# and the loss has a finite minimiser. `fit` runs full-batch gradient descent from zero with
# its default step 1/L, L being the bound `smoothness(X)` on the loss's curvature.

# %%
gen = torch.Generator().manual_seed(0)
centers = torch.tensor([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]], dtype=f64)
y = torch.arange(3).repeat_interleave(100)
X = centers[y] + torch.randn(len(y), 2, generator=gen, dtype=f64)

W, b = fit(X, y, 3, steps=300)
train_accuracy = (predict_proba(X, W, b).argmax(1) == y).to(f64).mean().item()
print(
    f"training accuracy {train_accuracy:.3f}, "
    f"loss {cross_entropy(X @ W.T + b, y).item():.4f}"
)

# The loss is PyTorch's cross-entropy of the logits X W^T + b.
torch.testing.assert_close(
    cross_entropy(X @ W.T + b, y), F.cross_entropy(X @ W.T + b, y)
)
assert train_accuracy > 0.9, train_accuracy

# %% [markdown]
# The predicted class is the argmax of the probabilities, which is the argmax of the logits
# (softmax is increasing), so the regions are bounded by the lines where two logits are equal.

# %%
xs = torch.linspace(-5.5, 5.5, 300, dtype=f64)
gx, gy = torch.meshgrid(xs, xs, indexing="xy")
grid = torch.stack([gx.flatten(), gy.flatten()], 1)
grid_logits = grid @ W.T + b
region = predict_proba(grid, W, b).argmax(1)

assert torch.equal(region, grid_logits.argmax(1))
assert set(region.tolist()) == {0, 1, 2}

fig, ax = plt.subplots(figsize=(5.5, 5))
ax.contourf(
    gx,
    gy,
    region.view(gx.shape),
    levels=[-0.5, 0.5, 1.5, 2.5],
    colors=COLORS[:3],
    alpha=0.2,
)
for i, j in [(0, 1), (0, 2), (1, 2)]:  # where regions i and j meet, logit i = logit j
    gap = grid_logits[:, i] - grid_logits[:, j]
    gap[(region != i) & (region != j)] = torch.nan
    ax.contour(gx, gy, gap.view(gx.shape), levels=[0], colors="0.3", linewidths=1)
for k in range(3):
    ax.scatter(
        *X[y == k].T,
        s=12,
        color=COLORS[k],
        edgecolor="white",
        linewidth=0.4,
        label=f"class {k}",
    )
ax.set(
    xlabel="$x_1$",
    ylabel="$x_2$",
    aspect="equal",
    title=f"Decision regions (training accuracy {train_accuracy:.0%})",
)
ax.legend(loc="lower center", ncol=3)
# %% [markdown]
# ## Gradient descent against L-BFGS
#
# The loss is convex, so PyTorch's L-BFGS, minimising `F.cross_entropy` with autograd, finds
# its minimum L*. Since `fit` starts from zero and is deterministic, `fit(..., steps=k)` is the
# k-th gradient-descent iterate. With step 1/L the loss never goes up, and the classic bound
# for convex L-smooth functions holds: loss after k steps - L* <= L ||theta*||^2 / (2k).

# %%
theta = torch.zeros(3 * 2 + 3, dtype=f64, requires_grad=True)  # W (3, 2), then b (3,)


def loss_of(theta):
    return F.cross_entropy(X @ theta[:6].view(3, 2).T + theta[6:], y)


lbfgs = torch.optim.LBFGS(
    [theta],
    max_iter=200,
    tolerance_grad=1e-12,
    tolerance_change=1e-15,
    line_search_fn="strong_wolfe",
)


def closure():
    lbfgs.zero_grad()
    loss = loss_of(theta)
    loss.backward()
    return loss


lbfgs.step(closure)
best = loss_of(theta).item()
assert theta.grad.norm() < 1e-6, theta.grad.norm()

steps = [1, 3, 10, 30, 100, 300]
losses = [
    cross_entropy(X @ Wk.T + bk, y).item()
    for Wk, bk in (fit(X, y, 3, steps=k) for k in steps)
]
L, radius2 = smoothness(X), theta.detach().square().sum().item()

assert all(a >= b for a, b in zip(losses, losses[1:])), losses  # never goes up
assert all(loss >= best - 1e-12 for loss in losses)  # never below the minimum
assert all(loss - best <= L * radius2 / (2 * k) for k, loss in zip(steps, losses))
assert losses[-1] - best < 1e-3, losses[-1] - best  # and gets there

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.plot(steps, losses, "o-", label="gradient descent (fit)")
left.axhline(best, color="black", linestyle="--", label=f"L-BFGS minimum {best:.4f}")
left.set(
    xscale="log",
    xlabel="gradient-descent steps k",
    ylabel="training loss",
    title="Loss",
)
left.legend()
right.plot(steps, [loss - best for loss in losses], "o-", label="loss $-$ L*")
right.plot(
    steps,
    [L * radius2 / (2 * k) for k in steps],
    ":",
    color="black",
    label=r"bound $L\,\|\theta^*\|^2 / (2k)$",
)
right.set(
    xscale="log",
    yscale="log",
    xlabel="gradient-descent steps k",
    title="Distance to the L-BFGS minimum",
)
right.legend()
# %% [markdown]
# ## Temperature
#
# Dividing the logits by a temperature T keeps their order and so the argmax, but changes how
# sure the softmax is: as T grows the probabilities flatten towards uniform, and as T shrinks
# they concentrate on the largest logit.

# %%
logits = torch.tensor([2.0, 1.0, 0.2, -1.0], dtype=f64)
temperatures = [0.1, 0.5, 1.0, 2.0, 10.0]
probs = torch.stack([softmax(logits / T) for T in temperatures])

torch.testing.assert_close(probs.sum(1), torch.ones(len(temperatures), dtype=f64))
torch.testing.assert_close(
    probs, torch.stack([torch.softmax(logits / T, 0) for T in temperatures])
)
entropy = -(probs * probs.log()).sum(1)
assert (entropy.diff() > 0).all(), entropy  # flatter as T grows
torch.testing.assert_close(
    softmax(logits / 1e4), torch.full((4,), 0.25, dtype=f64), atol=1e-3, rtol=0
)
torch.testing.assert_close(
    softmax(logits / 1e-3), F.one_hot(logits.argmax(), 4).to(f64)
)

fig, axes = plt.subplots(1, len(temperatures), figsize=(11, 2.6), sharey=True)
for ax, T, p in zip(axes, temperatures, probs):
    ax.bar(range(4), p.numpy(), color=COLORS)
    ax.axhline(0.25, color="0.4", linestyle=":", linewidth=1)
    ax.set(title=f"T = {T:g}", xticks=range(4), xlabel="class", ylim=(0, 1))
axes[0].set_ylabel("softmax(z / T)")
fig.suptitle(f"z = {logits.tolist()}; the dotted line is uniform", y=1.04)
# %% [markdown]
# ## Calibration before and after temperature scaling
#
# A model is calibrated when, among the predictions made with confidence about p, a fraction
# about p is right. Fit four classes in 50 dimensions from only 50 samples with no
# regularisation: the training data is separable, the weights keep growing, and on fresh data
# the model is far more confident than accurate. The reliability diagram bins the test
# predictions by confidence and plots each bin's accuracy against its mean confidence; the
# expected calibration error (ECE) is the average gap, weighted by the bins' sizes.
#
# Temperature scaling fits one number T on a validation split (the T that minimises its
# cross-entropy) and divides the logits by it. It cannot change any prediction, only how sure
# each one is; it is judged on a separate test split.

# %%
gen = torch.Generator().manual_seed(1)
num_classes, dim = 4, 50
means = 0.25 * torch.randn(num_classes, dim, generator=gen, dtype=f64)


def sample(n):
    labels = torch.randint(num_classes, (n,), generator=gen)
    return means[labels] + torch.randn(n, dim, generator=gen, dtype=f64), labels


(X_train, y_train), (X_val, y_val), (X_test, y_test) = (
    sample(50),
    sample(1000),
    sample(2000),
)
W4, b4 = fit(X_train, y_train, num_classes, steps=1000)
assert (predict_proba(X_train, W4, b4).argmax(1) == y_train).all()  # memorised

T = fit_temperature(X_val @ W4.T + b4, y_val)
test_logits = X_test @ W4.T + b4
before, after = softmax(test_logits), softmax(test_logits / T)
ece_before = expected_calibration_error(before, y_test).item()
ece_after = expected_calibration_error(after, y_test).item()
print(f"T = {T:.3f}; test ECE {ece_before:.3f} before, {ece_after:.3f} after")

# T minimises the validation loss: PyTorch's derivative of the loss in T vanishes there.
t = torch.tensor(T, dtype=f64, requires_grad=True)
F.cross_entropy((X_val @ W4.T + b4) / t, y_val).backward()
assert abs(t.grad.item()) < 1e-6, t.grad
assert T > 1  # overconfident: soften
assert torch.equal(after.argmax(1), before.argmax(1))  # same predictions
assert ece_after < ece_before / 2, (ece_before, ece_after)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
for ax, p, name, ece in [
    (axes[0], before, "before", ece_before),
    (axes[1], after, f"after (T = {T:.2f})", ece_after),
]:
    count, confidence, accuracy = reliability(p, y_test)
    n_bins = len(count)
    # The bins partition the test set: their weighted means are the overall ones.
    assert count.sum() == len(y_test)
    torch.testing.assert_close(
        (count * accuracy).sum() / len(y_test), (p.argmax(1) == y_test).to(f64).mean()
    )
    torch.testing.assert_close(
        (count * confidence).sum() / len(y_test), p.max(1).values.mean()
    )
    used = count > 0
    centers_of_bins = (torch.arange(n_bins, dtype=f64) + 0.5) / n_bins
    ax.bar(
        centers_of_bins[used].numpy(),
        accuracy[used].numpy(),
        width=1 / n_bins,
        color=COLORS[0],
        edgecolor="white",
        label=f"accuracy per bin (ECE {ece:.3f})",
    )
    ax.plot(
        confidence[used],
        accuracy[used],
        "o",
        color="black",
        markersize=3,
        label="bin: mean confidence, accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="0.4", label="calibrated")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (max probability)",
        title=f"Test split, {name}",
    )
    ax.legend(loc="upper left")
axes[0].set_ylabel("accuracy")

# %% [markdown]
# Before scaling, the bars sit well below the diagonal: predictions made with confidence
# above 0.9 are right far less often than that. Dividing the logits by T > 1 moves the
# confidences down to match, and the ECE drops, while every predicted class, and so the
# accuracy, stays the same.

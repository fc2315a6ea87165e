"""Next-token prediction: a character tokenizer, one-hot vectors and embedding lookup
with its gradient, the (input, target) windows of a text, the cross-entropy over every
position, a causal prefix average and bigram counts.

Shapes: V the vocabulary size, C the channels, B windows, T positions. A window w of
T + 1 tokens gives the inputs x = w[:-1] and the targets y = w[1:]; a model maps
x (B, T) to logits (B, T, V), and the loss is the mean over the B T positions of
-log softmax(logits[b, t])[y[b, t]]. Every function checks its input and raises
ValueError naming what is wrong. This module imports torch, the standard library and the
package's shared checks (snippets/checks.py).
"""

# --8<-- [start:imports]
import torch
from torch import Tensor

from snippets.checks import check_float, check_int
# --8<-- [end:imports]

__all__ = [
    "CharTokenizer",
    "one_hot",
    "embed",
    "embed_grad",
    "windows",
    "next_token_loss",
    "prefix_mean",
    "bigram_counts",
    "next_token_distribution",
]


# --8<-- [start:checks]
INTEGER = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_ids(
    ids: Tensor, V: int, name: str = "ids", V_name: str = "V", dim: int | None = None
) -> None:
    """A vocabulary size V >= 1 and an integer tensor of token ids in [0, V) (with
    ``dim`` dimensions, when given); ``V_name`` says where V comes from."""
    check_int(V_name, V, low=1)
    if not isinstance(ids, Tensor) or ids.dtype not in INTEGER:
        raise ValueError(
            f"{name} must be an integer tensor of token ids, "
            f"got {getattr(ids, 'dtype', type(ids).__name__)}"
        )
    if dim is not None and ids.dim() != dim:
        raise ValueError(
            f"{name} must have {dim} dimension, got shape {tuple(ids.shape)}"
        )
    if ids.numel() and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(
            f"{name} must be token ids in [0, {V_name}) = [0, {V}), got values from "
            f"{int(ids.min())} to {int(ids.max())}"
        )


def check_text(text: str) -> None:
    """A non-empty string."""
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string to build the vocabulary from")


def check_known(s: str, stoi: dict) -> None:
    """A string whose characters are all in the vocabulary ``stoi``."""
    if not isinstance(s, str):
        raise ValueError(f"s must be a string, got {type(s).__name__}")
    unknown = sorted(set(s) - stoi.keys())
    if unknown:
        raise ValueError(f"characters not in the vocabulary: {unknown}")


def check_embed(ids: Tensor, E: Tensor) -> None:
    """A table E (V, C) and token ids in [0, V). Dtypes: float32, float64."""
    check_float("E", E, dim=2)
    check_ids(ids, E.shape[0], V_name="E.shape[0]")


def check_embed_grad(ids: Tensor, dL_dX: Tensor, V: int) -> None:
    """Token ids in [0, V) and a gradient dL_dX of shape ids.shape + (C,).
    Dtypes: float32, float64."""
    check_ids(ids, V)
    check_float("dL_dX", dL_dX)
    if dL_dX.shape[:-1] != ids.shape or dL_dX.dim() != ids.dim() + 1:
        raise ValueError(
            f"dL_dX must have shape ids.shape + (C,) = {tuple(ids.shape)} + (C,), "
            f"got {tuple(dL_dX.shape)}"
        )


def check_windows(ids: Tensor, T: int) -> None:
    """A window length T >= 1 and a 1-dimensional ids of at least T + 1 tokens."""
    check_int("T", T, low=1)
    if not isinstance(ids, Tensor) or ids.dim() != 1:
        raise ValueError(
            f"ids must be a 1-dimensional tensor, got shape "
            f"{tuple(getattr(ids, 'shape', ()))}"
        )
    if T + 1 > len(ids):
        raise ValueError(
            f"a window of T + 1 = {T + 1} tokens is longer than the text of "
            f"{len(ids)} tokens"
        )


def check_logits(logits: Tensor, targets: Tensor, reduction: str) -> None:
    """logits (B, T, V), targets (B, T) of ids in [0, V), reduction "mean" or "none".
    Dtypes: float32, float64."""
    check_float("logits", logits, dim=3)
    B, T, V = logits.shape
    if tuple(getattr(targets, "shape", ())) != (B, T):
        raise ValueError(
            f"targets must have shape (B, T) = ({B}, {T}) to match logits "
            f"(B, T, V) = {tuple(logits.shape)}, "
            f"got {tuple(getattr(targets, 'shape', ()))}"
        )
    check_ids(targets, V, "targets", "logits.shape[-1]")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def check_counts(N: Tensor) -> None:
    """A square (V, V) tensor of non-negative counts."""
    if not isinstance(N, Tensor) or N.dim() != 2 or N.shape[0] != N.shape[1]:
        raise ValueError(
            f"N must be a (V, V) tensor of counts, got shape "
            f"{tuple(getattr(N, 'shape', ()))}"
        )
    if (N < 0).any():
        raise ValueError("N must hold counts, got a negative value")


# --8<-- [end:checks]


# --8<-- [start:tokenizer]
class CharTokenizer:
    """One token per character. The vocabulary is the sorted set of the characters of
    ``text`` and a character's id is its index there: encode(str) -> (T,) int64,
    decode((T,)) -> str. Dtypes: int64 ids from encode; decode takes any integer
    dtype."""

    def __init__(self, text: str):
        check_text(text)
        self.vocab = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, s: str, *, device=None) -> Tensor:
        """s -> its ids (T,), int64 on ``device``."""
        check_known(s, self.stoi)
        return torch.tensor(
            [self.stoi[ch] for ch in s], dtype=torch.int64, device=device
        )

    def decode(self, ids: Tensor) -> str:
        check_ids(ids, len(self), dim=1)
        return "".join(self.vocab[i] for i in ids.tolist())


# --8<-- [end:tokenizer]


# --8<-- [start:embed]
def one_hot(ids: Tensor, V: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """ids (...) -> (..., V): 1 at [..., ids[...]], 0 elsewhere.
    Dtypes: integer ids in, ``dtype`` out: float32 (default), float64."""
    check_ids(ids, V)
    return (ids[..., None] == torch.arange(V, device=ids.device)).to(dtype)


def embed(ids: Tensor, E: Tensor) -> Tensor:
    """Row lookup E[ids]: ids (...) and E (V, C) -> (..., C), equal to
    one_hot(ids, V) @ E. Dtypes: float32, float64."""
    check_embed(ids, E)
    return E[ids.long()]


def embed_grad(ids: Tensor, dL_dX: Tensor, V: int) -> Tensor:
    """dL/dE = one_hot(ids, V)^T dL/dX, for X = E[ids]: ids (...), dL_dX (..., C) ->
    (V, C). Row v is the sum of dL/dX over the positions holding token v (zero if there
    are none). Dtypes: float32, float64."""
    check_embed_grad(ids, dL_dX, V)
    C = dL_dX.shape[-1]
    dL_dE = dL_dX.new_zeros(V, C)
    # repeats add up
    dL_dE.index_add_(0, ids.reshape(-1).long(), dL_dX.reshape(ids.numel(), C))
    return dL_dE


# --8<-- [end:embed]


# --8<-- [start:windows]
def windows(ids: Tensor, T: int) -> tuple[Tensor, Tensor]:
    """Every window of T + 1 consecutive tokens of ids (N,), split into inputs and
    targets: x, y (N - T, T) with x[i] = ids[i : i + T] and
    y[i] = ids[i + 1 : i + T + 1], so that y[i, t] is the token after the prefix
    x[i, : t + 1]. Dtypes: any integer dtype (the ids' own)."""
    check_windows(ids, T)
    w = ids.unfold(0, T + 1, 1)  # (N - T, T + 1): a view, no copy
    return w[:, :-1], w[:, 1:]


# --8<-- [end:windows]


# --8<-- [start:loss]
def next_token_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of every position:
    loss[b, t] = logsumexp(logits[b, t]) - logits[b, t, y] with y = targets[b, t], for
    logits (B, T, V) and targets (B, T). reduction "mean" averages the B T losses (as
    F.cross_entropy does), "none" returns them, (B, T). Dtypes: float32, float64."""
    check_logits(logits, targets, reduction)
    # logits - logsumexp: stable, never log(0) of a softmax
    log_q = logits.log_softmax(-1)
    losses = -log_q.gather(-1, targets[..., None].long())[..., 0]  # (B, T)
    return losses.mean() if reduction == "mean" else losses


# --8<-- [end:loss]


# --8<-- [start:prefix_mean]
def prefix_mean(X: Tensor) -> Tensor:
    """H[..., t, :] = mean of X[..., s, :] over s <= t, for X (..., T, C): the average
    of each prefix, H = A X with A (T, T) lower triangular, row t equal to 1 / (t + 1)
    on columns 0..t. Row t of H depends on rows 0..t of X only. Dtypes: float32,
    float64."""
    check_float("X", X, min_dim=2)
    T = X.shape[-2]
    A = torch.tril(X.new_ones(T, T))
    A = A / A.sum(1, keepdim=True)
    return A @ X


# --8<-- [end:prefix_mean]


# --8<-- [start:bigram]
def bigram_counts(ids: Tensor, V: int) -> Tensor:
    """N[a, b] = how often token b follows token a in ids (n,): (V, V) int64.
    Dtypes: integer ids in, int64 counts out."""
    check_ids(ids, V, dim=1)
    ids = ids.long()
    return torch.bincount(ids[:-1] * V + ids[1:], minlength=V * V).view(V, V)


def next_token_distribution(N: Tensor) -> Tensor:
    """P[a] = N[a] / sum_b N[a, b], the observed distribution of the token after a, for
    counts N (V, V); float64. A row with no counts (a never followed by anything) is
    uniform, 1 / V. Dtypes: integer or float counts in, float64 out."""
    check_counts(N)
    N = N.double()
    rows = N.sum(1, keepdim=True)
    return torch.where(rows > 0, N / torch.where(rows > 0, rows, 1.0), 1 / N.shape[1])


# --8<-- [end:bigram]

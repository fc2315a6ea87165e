"""snippets.next_token against torch.nn.functional, autograd and loops written out: the
tokenizer's round trip, one-hot and embedding lookup with its gradient (repeated tokens
included), the windows of a text, the loss over every position in torch's two layouts, the
causal prefix average, bigram counts and the loss they minimise, and the errors for bad input."""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tests.unit.strategies import DTYPES, seeded, tol
from snippets.next_token import (
    CharTokenizer,
    bigram_counts,
    embed,
    embed_grad,
    next_token_loss,
    next_token_distribution,
    one_hot,
    prefix_mean,
    windows,
)

F64 = torch.float64
ID_DTYPES = (torch.int64, torch.int32, torch.uint8)
# Letters, digits, punctuation, whitespace and a few characters beyond ASCII. An explicit
# alphabet: st.text's default draws from all of Unicode, whose tables take seconds to build.
ALPHABET = "abcxyzABZ019 .,!?'\n\t\u00e9\u00df\u20ac\u4e2d\U0001f600"


@st.composite
def token_ids(draw, max_V: int = 12, max_dims: int = 3):
    """(ids, V): V 1-max_V and ids of 0-max_dims dimensions (sides 1-5) in [0, V), of an integer
    dtype. A small V makes repeated tokens common."""
    V = draw(st.integers(1, max_V))
    shape = tuple(draw(st.lists(st.integers(1, 5), max_size=max_dims)))
    ids = torch.randint(0, V, shape, generator=seeded(draw))
    return ids.to(draw(st.sampled_from(ID_DTYPES))), V


# Tokens


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=40), st.data())
def test_tokenizer_round_trip_on_any_text(text, data):
    tok = CharTokenizer(text)
    ids = tok.encode(text)
    assert ids.dtype == torch.int64 and ids.shape == (len(text),)
    assert tok.vocab == sorted(set(text)) and len(tok) == len(set(text))
    assert ids.tolist() == [sorted(set(text)).index(ch) for ch in text]
    assert tok.decode(ids) == text
    # any string over the vocabulary
    part = data.draw(st.text(alphabet=tok.vocab, max_size=10))
    assert tok.decode(tok.encode(part)) == part


# One-hot and embeddings


@given(token_ids(), st.sampled_from(DTYPES))
def test_one_hot_matches_torch(case, dtype):
    ids, V = case
    h = one_hot(ids, V, dtype)
    assert h.shape == (*ids.shape, V) and h.dtype == dtype
    assert torch.equal(h, F.one_hot(ids.long(), V).to(dtype))


@given(token_ids(), st.integers(1, 6), st.sampled_from(DTYPES), st.data())
def test_embed_is_the_one_hot_product_and_torch_lookup(case, C, dtype, data):
    ids, V = case
    E = torch.randn(V, C, generator=seeded(data.draw), dtype=dtype)
    X = embed(ids, E)
    assert X.shape == (*ids.shape, C) and X.dtype == dtype
    assert torch.equal(X, F.embedding(ids.long(), E))
    torch.testing.assert_close(X, one_hot(ids, V, dtype) @ E, **tol(dtype))


@given(token_ids(max_V=5), st.integers(1, 6), st.sampled_from(DTYPES), st.data())
def test_embed_grad_matches_autograd_and_sums_repeats(case, C, dtype, data):
    """Against autograd through F.embedding, and row by row against a loop over positions."""
    ids, V = case
    gen = seeded(data.draw)
    E = torch.randn(V, C, generator=gen, dtype=dtype, requires_grad=True)
    G = torch.randn(*ids.shape, C, generator=gen, dtype=dtype)
    (expected,) = torch.autograd.grad(F.embedding(ids.long(), E), E, G)
    dL_dE = embed_grad(ids, G, V)
    assert dL_dE.shape == (V, C) and dL_dE.dtype == dtype
    torch.testing.assert_close(dL_dE, expected, **tol(dtype))
    flat_ids, flat_G = ids.reshape(-1).tolist(), G.reshape(-1, C)
    for v in range(V):
        rows = [flat_G[i] for i, u in enumerate(flat_ids) if u == v]
        loop = torch.stack(rows).sum(0) if rows else torch.zeros(C, dtype=dtype)
        torch.testing.assert_close(dL_dE[v], loop, **tol(dtype))


def test_embed_grad_adds_a_token_repeated_many_times():
    ids = torch.tensor([2, 0, 2, 2, 1, 2])
    G = torch.arange(12, dtype=F64).reshape(6, 2)
    dL_dE = embed_grad(ids, G, 4)
    torch.testing.assert_close(dL_dE[2], G[[0, 2, 3, 5]].sum(0))
    torch.testing.assert_close(dL_dE[3], torch.zeros(2, dtype=F64))


def test_embed_grad_without_channels_is_empty_as_autograds():
    """C = 0: dL/dE is (V, 0), as autograd's through F.embedding (no reshape of an empty -1)."""
    ids, E = torch.tensor([[0, 2], [1, 1]]), torch.zeros(3, 0, requires_grad=True)
    (expected,) = torch.autograd.grad(F.embedding(ids, E), E, torch.zeros(2, 2, 0))
    assert embed_grad(ids, torch.zeros(2, 2, 0), 3).shape == expected.shape == (3, 0)


def test_embed_gradcheck():
    gen = torch.Generator().manual_seed(0)
    E = torch.randn(4, 3, generator=gen, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda E: embed(torch.tensor([[1, 3, 1], [0, 1, 1]]), E), (E,)
    )


# Windows


@given(st.integers(2, 40), st.integers(1, 40), st.data())
def test_windows_match_slices(n, T, data):
    T = min(T, n - 1)
    ids = torch.randint(0, 7, (n,), generator=seeded(data.draw))
    x, y = windows(ids, T)
    assert x.shape == y.shape == (n - T, T)
    for i in range(n - T):
        assert torch.equal(x[i], ids[i : i + T]) and torch.equal(
            y[i], ids[i + 1 : i + T + 1]
        )


def test_windows_of_the_notes_example():
    tok = CharTokenizer("abcdef")
    x, y = windows(tok.encode("abcdef"), 4)
    assert [tok.decode(r) for r in x] == ["abcd", "bcde"]
    assert [tok.decode(r) for r in y] == ["bcde", "cdef"]


# The loss over every position


@st.composite
def next_token_problems(draw):
    """Logits (B, T, V), B 1-4, T 1-6, V 1-8, at a drawn scale and dtype, and targets (B, T)."""
    B, T, V = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 8))
    dtype = draw(st.sampled_from(DTYPES))
    gen = seeded(draw)
    scale = draw(st.sampled_from([1e-2, 1.0, 10.0, 200.0]))
    logits = scale * torch.randn(B, T, V, generator=gen, dtype=dtype)
    return logits, torch.randint(0, V, (B, T), generator=gen).to(
        draw(st.sampled_from(ID_DTYPES))
    )


@given(next_token_problems())
def test_next_token_loss_matches_cross_entropy_in_both_layouts(case):
    logits, y = case
    B, T, V = logits.shape
    big = max(1.0, logits.abs().max().item())
    t = (
        dict(rtol=1e-5, atol=2e-6 * big)
        if logits.dtype == torch.float32
        else dict(rtol=1e-9, atol=1e-12 * big)
    )
    loss = next_token_loss(logits, y)
    assert loss.shape == () and loss.dtype == logits.dtype and torch.isfinite(loss)
    flat = F.cross_entropy(logits.reshape(B * T, V), y.long().reshape(-1))
    torch.testing.assert_close(loss, flat, **t)
    torch.testing.assert_close(
        loss, F.cross_entropy(logits.transpose(1, 2), y.long()), **t
    )
    per = next_token_loss(logits, y, reduction="none")
    assert per.shape == (B, T)
    for b in range(B):
        for s in range(T):
            expected = torch.logsumexp(logits[b, s], 0) - logits[b, s, int(y[b, s])]
            torch.testing.assert_close(per[b, s], expected, **t)


@given(next_token_problems())
@settings(max_examples=20)
def test_next_token_loss_gradient_is_softmax_minus_one_hot(case):
    logits, y = case
    B, T, V = logits.shape
    leaf = logits.clone().requires_grad_()
    (grad,) = torch.autograd.grad(next_token_loss(leaf, y), leaf)
    expected = (F.softmax(logits, -1) - F.one_hot(y.long(), V).to(logits.dtype)) / (
        B * T
    )
    torch.testing.assert_close(grad, expected, **tol(logits.dtype))


def test_next_token_loss_gradcheck():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 3, 5, generator=gen, dtype=F64, requires_grad=True)
    y = torch.randint(0, 5, (2, 3), generator=gen)
    assert torch.autograd.gradcheck(lambda z: next_token_loss(z, y), (z,))


def test_next_token_loss_is_finite_where_log_of_softmax_is_not():
    z = torch.tensor([[[0.0, 120.0, 3.0], [50.0, -60.0, 10.0]]])  # float32
    y = torch.tensor([[0, 1]])
    assert torch.isinf(-torch.log(F.softmax(z, -1)).gather(-1, y[..., None]).mean())
    exact = (torch.logsumexp(z.double(), -1) - z.double()[0, [0, 1], [0, 1]]).mean()
    torch.testing.assert_close(next_token_loss(z, y).double(), exact)


# Causality


@given(
    st.integers(1, 3),
    st.integers(1, 8),
    st.integers(1, 5),
    st.sampled_from(DTYPES),
    st.data(),
)
def test_prefix_mean_is_the_running_average(B, T, C, dtype, data):
    X = torch.randn(B, T, C, generator=seeded(data.draw), dtype=dtype)
    H = prefix_mean(X)
    assert H.shape == X.shape and H.dtype == dtype
    for t in range(T):
        torch.testing.assert_close(H[:, t], X[:, : t + 1].mean(1), **tol(dtype))


def test_prefix_mean_does_not_peek():
    """Changing the rows after t leaves rows 0..t of the output as they were, for every t."""
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(3, 7, 4, generator=gen, dtype=F64)
    for t in range(6):
        later = X.clone()
        later[:, t + 1 :] = torch.randn(3, 6 - t, 4, generator=gen, dtype=F64)
        torch.testing.assert_close(
            prefix_mean(later)[:, : t + 1], prefix_mean(X)[:, : t + 1]
        )
        torch.testing.assert_close(
            prefix_mean(X[:, : t + 1]), prefix_mean(X)[:, : t + 1]
        )


# Bigram counts


@given(st.text(alphabet="abcde ", min_size=2, max_size=60))
def test_bigram_counts_match_a_counter(text):
    tok = CharTokenizer(text)
    N = bigram_counts(tok.encode(text), len(tok))
    assert N.shape == (len(tok), len(tok)) and N.dtype == torch.int64
    expected = torch.zeros_like(N)
    for (a, b), count in Counter(zip(text, text[1:])).items():
        expected[tok.stoi[a], tok.stoi[b]] = count
    assert torch.equal(N, expected)
    P = next_token_distribution(N)
    torch.testing.assert_close(P.sum(1), torch.ones(len(tok), dtype=F64))
    for a in range(len(tok)):
        if N[a].sum() > 0:
            torch.testing.assert_close(P[a], N[a].double() / N[a].sum())
        else:
            torch.testing.assert_close(
                P[a], torch.full((len(tok),), 1 / len(tok), dtype=F64)
            )


def test_next_token_distribution_of_fractional_counts():
    """Rows are normalised by their sums, also when those are below 1; an empty row is uniform."""
    N = torch.tensor([[0.2, 0.3, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 6.0]], dtype=F64)
    expected = torch.tensor(
        [[0.4, 0.6, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.25, 0.0, 0.75]], dtype=F64
    )
    torch.testing.assert_close(next_token_distribution(N), expected)


def test_the_bigram_loss_is_minimised_by_the_observed_distribution():
    """At W = log P the autograd gradient of the mean bigram loss is zero wherever the row's
    token occurs as a context, and the loss there is the observed conditional entropy; moving
    W in any random direction raises it."""
    text = "she sells sea shells by the sea shore"
    tok = CharTokenizer(text)
    ids, V = tok.encode(text), len(tok)
    x, y = ids[:-1], ids[1:]
    P = next_token_distribution(bigram_counts(ids, V))
    W = P.log().clamp(min=-200.0).requires_grad_()  # log 0 -> -200: softmax unchanged
    loss = F.cross_entropy(W[x], y)
    (grad,) = torch.autograd.grad(loss, W)
    assert grad.abs().max() < 1e-12
    entropy = -sum(math.log(P[a, b]) for a, b in zip(x.tolist(), y.tolist())) / len(x)
    assert loss.item() == pytest.approx(entropy, rel=1e-12)
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        step = 0.1 * torch.randn(V, V, generator=gen, dtype=F64)
        assert F.cross_entropy((W.detach() + step)[x], y) > loss


# Errors


def ints(*values: int) -> torch.Tensor:
    return torch.tensor(values)


def zeros(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def bad(name: str, call, message: str):
    """A call that must raise ValueError matching message."""
    return pytest.param(call, message, id=name)


TOK = CharTokenizer("abc")
BAD = [
    bad(
        "tokenizer-empty", lambda: CharTokenizer(""), "text must be a non-empty string"
    ),
    bad(
        "tokenizer-not-str",
        lambda: CharTokenizer(["a", "b"]),
        "text must be a non-empty string",
    ),
    bad(
        "encode-unknown",
        lambda: TOK.encode("abz!"),
        r"characters not in the vocabulary: \['!', 'z'\]",
    ),
    bad(
        "decode-too-large",
        lambda: TOK.decode(ints(0, 3)),
        r"ids must be token ids in \[0, V\) = \[0, 3\), got values from 0 to 3",
    ),
    bad(
        "decode-negative",
        lambda: TOK.decode(ints(-1, 2)),
        r"ids must be token ids in \[0, V\) = \[0, 3\), got values from -1",
    ),
    bad(
        "decode-float",
        lambda: TOK.decode(zeros(2)),
        "ids must be an integer tensor of token ids, got torch.float64",
    ),
    bad(
        "decode-2-d",
        lambda: TOK.decode(ints(0, 1)[None]),
        r"ids must have 1 dimension, got shape \(1, 2\)",
    ),
    bad(
        "one-hot-out-of-range",
        lambda: one_hot(ints(0, 4), 4),
        r"ids must be token ids in \[0, V\) = \[0, 4\), got values from 0 to 4",
    ),
    bad(
        "one-hot-V-zero",
        lambda: one_hot(ints(0), 0),
        "V must be an integer >= 1, got 0",
    ),
    bad(
        "one-hot-bool-ids",
        lambda: one_hot(torch.tensor([True]), 2),
        "ids must be an integer tensor",
    ),
    bad(
        "embed-out-of-range",
        lambda: embed(ints(0, 5), zeros(5, 2)),
        r"ids must be token ids in \[0, E.shape\[0\]\) = \[0, 5\), got values from 0 to 5",
    ),
    bad(
        "embed-E-1-d",
        lambda: embed(ints(0), zeros(5)),
        r"E must have 2 dimension\(s\), got .* of shape \(5,\)",
    ),
    bad(
        "embed-E-integer",
        lambda: embed(ints(0), zeros(5, 2, dtype=torch.int64)),
        "E must be a floating-point tensor",
    ),
    bad(
        "embed-grad-shape",
        lambda: embed_grad(ints(0, 1), zeros(3, 2), 2),
        r"dL_dX must have shape ids.shape \+ \(C,\) = \(2,\) \+ \(C,\), got \(3, 2\)",
    ),
    bad(
        "embed-grad-no-C",
        lambda: embed_grad(ints(0, 1), zeros(2), 2),
        r"dL_dX must have shape ids.shape \+ \(C,\)",
    ),
    bad(
        "embed-grad-out-of-range",
        lambda: embed_grad(ints(0, 2), zeros(2, 3), 2),
        r"ids must be token ids in \[0, V\) = \[0, 2\)",
    ),
    bad(
        "windows-too-long",
        lambda: windows(ints(0, 1, 2), 3),
        r"a window of T \+ 1 = 4 tokens is longer than the text of 3 tokens",
    ),
    bad(
        "windows-T-zero",
        lambda: windows(ints(0, 1, 2), 0),
        "T must be an integer >= 1, got 0",
    ),
    bad(
        "windows-T-float",
        lambda: windows(ints(0, 1, 2), 1.0),
        "T must be an integer >= 1, got 1.0",
    ),
    bad(
        "windows-2-d",
        lambda: windows(ints(0, 1, 2)[None], 1),
        r"ids must be a 1-dimensional tensor, got shape \(1, 3\)",
    ),
    bad(
        "loss-targets-transposed",
        lambda: next_token_loss(zeros(2, 5, 3), zeros(5, 2, dtype=torch.int64)),
        r"targets must have shape \(B, T\) = \(2, 5\) to match logits \(B, T, V\) = "
        r"\(2, 5, 3\), got \(5, 2\)",
    ),
    bad(
        "loss-flattened-logits",
        lambda: next_token_loss(zeros(10, 3), zeros(10, dtype=torch.int64)),
        r"logits must have 3 dimension\(s\), got .* of shape \(10, 3\)",
    ),
    bad(
        "loss-target-out-of-range",
        lambda: next_token_loss(zeros(1, 2, 3), ints(0, 3)[None]),
        r"targets must be token ids in \[0, logits.shape\[-1\]\) = \[0, 3\), got values from 0 to 3",
    ),
    bad(
        "loss-float-targets",
        lambda: next_token_loss(zeros(1, 2, 3), zeros(1, 2)),
        "targets must be an integer tensor",
    ),
    bad(
        "loss-reduction",
        lambda: next_token_loss(zeros(1, 2, 3), ints(0, 1)[None], reduction="sum"),
        r"reduction must be 'mean' or 'none', got 'sum'",
    ),
    bad(
        "prefix-mean-1-d",
        lambda: prefix_mean(zeros(4)),
        r"X must have at least 2 dimension\(s\), got .* of shape \(4,\)",
    ),
    bad(
        "prefix-mean-integer",
        lambda: prefix_mean(zeros(2, 2, dtype=torch.int64)),
        "X must be a floating-point tensor",
    ),
    bad(
        "bigram-out-of-range",
        lambda: bigram_counts(ints(0, 1, 3), 3),
        r"ids must be token ids in \[0, V\) = \[0, 3\)",
    ),
    bad(
        "bigram-2-d",
        lambda: bigram_counts(ints(0, 1)[None], 3),
        r"ids must have 1 dimension, got shape \(1, 2\)",
    ),
    bad(
        "distribution-not-square",
        lambda: next_token_distribution(zeros(2, 3)),
        r"N must be a \(V, V\) tensor of counts, got shape \(2, 3\)",
    ),
    bad(
        "distribution-negative",
        lambda: next_token_distribution(-torch.eye(2)),
        "N must hold counts, got a negative value",
    ),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_input_raises_value_error_naming_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()

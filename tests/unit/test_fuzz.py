"""Malformed input to every public function: an answer or a ValueError naming the argument.

Each sample call of tests/unit/calls.py that is a plain ``call(fn, *args, **kwargs)`` is
rebuilt with one argument spoilt at a time:

- a floating tensor: one dimension more or one less, an integer dtype, an empty first or last
  dimension, a nan or an inf entry, and the same values in a non-contiguous layout;
- a number (not a bool): 0, -1, nan and inf.

The call must either return or raise ``ValueError`` whose message names the spoilt argument
(its parameter name; for a check helper whose first parameter ``name`` is its caller's name
for the second, as in ``check_number("lr", value)``, the second is named by that). Any other
exception (a deep ``RuntimeError`` or ``IndexError`` from torch, a ``ZeroDivisionError``...)
fails, and so does a call that changes its inputs in place, one that runs longer than
``LIMIT`` seconds (where the OS has ``SIGALRM``), or a non-contiguous input that gives a
different answer from the contiguous one.
"""

import inspect
import math
import re
import signal
import time
from contextlib import contextmanager

import pytest
import torch

from tests.unit.calls import CASES, C128, F64, Call, In
from tests.unit.test_device import leaves, same

LIMIT = 5.0  # seconds: every sample call takes milliseconds


def spoilt_tensors(x: torch.Tensor):
    """(what, tensor) pairs: the malformed versions of a floating tensor."""
    yield "one more dimension", x[None]
    if x.dim() >= 1:
        yield "one dimension less", x[0]
        yield "an empty first dimension", x[:0]
        yield "an empty last dimension", x[..., :0]
    # no warning
    yield (
        "an integer dtype",
        (x.real if x.is_complex() else x).to(torch.int64),
    )
    for value in (math.nan, math.inf):
        bad = x.clone()
        if bad.numel():
            bad.view(-1)[0] = value
            yield f"a {value} entry", bad


def spoilt_numbers(v):
    yield from ((f"{bad!r}", bad) for bad in (0, -1) if bad != v)
    if isinstance(v, float):
        yield from (("nan", math.nan), ("inf", math.inf))


def non_contiguous(x: torch.Tensor) -> torch.Tensor:
    """The same values, every dimension strided (every other element of a larger tensor)."""
    big = torch.zeros([2 * n for n in x.shape], dtype=x.dtype)
    view = big[tuple(slice(None, None, 2) for _ in x.shape)]
    view.copy_(x)
    return view


def variants(c: Call):
    """(parameter name, what, Call) for each spoilt argument of c."""
    bound = inspect.signature(c.fn).bind(*c.args, **c.kwargs)
    told = {}  # check_number("lr", value): value is named as the helper's caller calls it
    params = list(bound.signature.parameters)
    if (
        params[:1] == ["name"]
        and len(params) > 1
        and isinstance(bound.arguments.get("name"), str)
    ):
        told[params[1]] = bound.arguments["name"]
    for name, value in bound.arguments.items():
        if isinstance(value, torch.Tensor) and (
            value.is_floating_point() or value.is_complex()
        ):
            bads = list(spoilt_tensors(value))
            if value.dim() >= 1 and value.numel() > 1:
                bads.append(("a non-contiguous layout", non_contiguous(value)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            bads = list(spoilt_numbers(value))
        else:
            continue
        for what, bad in bads:
            arguments = dict(bound.arguments, **{name: bad})
            b = inspect.BoundArguments(bound.signature, arguments)
            yield told.get(name, name), what, Call(c.fn, b.args, b.kwargs)


def tensors_in(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_in(o)]
    return []


@contextmanager
def time_limit(seconds: float):
    # Windows: the CI job's timeout is the limit there
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(*_):
        raise TimeoutError(f"over {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def outcome(c: Call) -> str | None:
    """None when the call behaves; otherwise what went wrong."""
    inputs = tensors_in((c.args, c.kwargs))
    before = [t.detach().clone() for t in inputs]
    start = time.perf_counter()
    error = None
    try:
        with time_limit(LIMIT):
            c()
    except Exception as e:  # noqa: BLE001 - the point: any type but ValueError is a failure
        error = e
    for t, b in zip(inputs, before):  # a changed input fails, error or not
        if not torch.equal(t.detach().isnan(), b.isnan()) or not torch.equal(
            t.detach().nan_to_num(), b.nan_to_num()
        ):
            return "an input changed in place"
    if isinstance(error, ValueError):
        raise error
    if error is not None:
        return f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
    if time.perf_counter() - start > LIMIT:
        return f"took {time.perf_counter() - start:.1f} s"
    return None


def names(c: Call, name: str) -> set[str]:
    """What a clear message may call the spoilt argument ``name``: that name; for a check
    helper (``check_*``), whose callers pass their own values and settings, also the name it
    was told to use (its ``name`` parameter, given or by default: ``check_float("x", t, dim)``
    speaks of x whichever argument was spoilt)."""
    if not c.fn.__name__.startswith("check_"):
        return {name}
    bound = inspect.signature(c.fn).bind(*c.args, **c.kwargs)
    bound.apply_defaults()
    told = bound.arguments.get("name")
    return {name, told} if isinstance(told, str) else {name}


def check(c: Call, name: str) -> str | None:
    try:
        return outcome(c)
    except ValueError as e:
        if not any(re.search(rf"\b{re.escape(n)}\b", str(e)) for n in names(c, name)):
            return f"ValueError that does not name {name!r}: {str(e)[:120]}"
        return None


def fuzzable(case_name: str):
    case = CASES[case_name]
    c = case.build(In(C128 if case.dtypes and case.dtypes[0].is_complex else F64))
    return c if isinstance(c, Call) else None


@pytest.mark.parametrize("case_name", CASES)
def test_malformed_input_gets_an_answer_or_a_clear_error(case_name):
    c = fuzzable(case_name)
    if c is None:
        return  # built by hand (a closure over several calls): its parts have cases of their own
    failures = []
    for i, (name, what, bad) in enumerate(variants(c)):
        problem = check(bad, name)
        if problem is None and what == "a non-contiguous layout":
            # fresh inputs for both calls: a generator among them has moved on
            again = list(variants(fuzzable(case_name)))[i][2]
            try:
                for got, expected in zip(
                    leaves(again()), leaves(fuzzable(case_name)()), strict=True
                ):
                    same(got, expected)
            except AssertionError as e:
                problem = f"another answer than for contiguous input: {str(e).splitlines()[0]}"
        if problem:
            failures.append(f"{name} with {what}: {problem}")
    assert not failures, f"{case_name}:\n  " + "\n  ".join(failures)

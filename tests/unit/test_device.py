"""Every tensor a snippet function creates goes where its inputs are, in their dtype.

Each case of tests/unit/calls.py runs twice on CPU inputs: as it is, and with the default device
set to "meta" (``torch.device("meta")`` as a context manager). A tensor the function makes
without naming a device (``torch.eye(n, dtype=x.dtype)`` instead of ``torch.eye(n,
dtype=x.dtype, device=x.device)``) is then a meta tensor: mixing it with the CPU inputs raises,
or the result comes back on "meta". On a GPU that tensor would be on the CPU and the call would
fail with a device mismatch, which this finds without a GPU. A function that takes no tensor
gets ``device="cpu"``: one that ignores it makes its result on "meta".

Then each case runs in float32 and in float64 (complex64 and complex128 for the complex S4
kernels) on the same numbers: float outputs must have the input's dtype, and the float32
result must match the float64 one within ``RTOL``. Some functions run in bfloat16 too.

Every function, class or method whose case runs in float dtypes states them in a "Dtypes: ..."
line of its docstring (a method may leave it to its class's), which the readers see on the
pages: the line must name exactly the dtypes its case runs in, and the bfloat16 tolerance it
is held to, so the statements cannot drift from the tests.
"""

import importlib
import inspect
import os
import pkgutil
import re

import pytest
import torch

import snippets
from tests.unit.calls import (
    CASES,
    COMPLEX,
    EXEMPT,
    F32,
    F64,
    REAL,
    Call,
    Case,
    In,
    call,
)

# float32 against float64: eps32 = 1.2e-7, and these small calls chain at most a few dozen
# roundings through well-conditioned maths, so 1e-4 (about 800 eps32) holds with room; the
# cases that lose more (finite differences, samplers, complex kernels) state their own rtol.
# Relative to the largest entry too, so an entry that cancels to ~0 is not held to 1e-4 of
# itself.
RTOL = 1e-4


def leaves(result) -> list:
    """The tensors and numbers a call returned, in order (a Value or Dual by its tensors)."""
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [x for r in result for x in leaves(r)]
    if isinstance(result, dict):
        return [x for k in sorted(result, key=str) for x in leaves((k, result[k]))]
    if isinstance(result, snippets.autodiff.Value):
        return leaves((result.data, result.grad))
    if isinstance(result, snippets.autodiff.Dual):
        return leaves((result.primal, result.tangent))
    return [result]


def same(got, expected, rtol=None):
    """Tensors: same kind, shape and values (within rtol of the largest entry, when given);
    anything else: equal (floats within rtol)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{type(got)} where a tensor was expected"
        got = got.detach()
        expected = expected.detach()
        if rtol is None:
            torch.testing.assert_close(got, expected, equal_nan=True)
        elif not (expected.is_floating_point() or expected.is_complex()):
            assert torch.equal(got, expected)
        else:
            got = got.to(expected.dtype)
            scale = expected.abs().max().item() if expected.numel() else 0.0
            torch.testing.assert_close(got, expected, rtol=rtol, atol=rtol * scale)
    elif isinstance(expected, float):
        assert isinstance(got, float)
        tol = {} if rtol is None else dict(rtol=rtol, atol=0.0)
        torch.testing.assert_close(got, expected, equal_nan=True, **tol)
    else:
        assert got == expected


def run(name, dtype):
    return CASES[name].build(In(dtype))()


def check_on_meta(case: Case) -> None:
    """The call with a "meta" default device gives the plain call's results, on the CPU; a
    factory also puts its result on whatever device it is given."""
    dtype = (case.dtypes or (F64,))[-1]
    expected = leaves(case.build(In(dtype))())
    call = case.build(In(dtype))  # the same inputs again, on the CPU
    with torch.device("meta"):
        got = leaves(call())
    devices = [t.device.type for t in got if isinstance(t, torch.Tensor)]
    assert devices == ["cpu"] * len(devices), "a tensor made on the default device"
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        same(g, e)
    if case.factory:
        made = [
            t
            for t in leaves(case.build(In(dtype, device="meta"))())
            if isinstance(t, torch.Tensor)
        ]
        assert made and all(t.device.type == "meta" for t in made), (
            "device= not followed"
        )


def check_dtypes(case: Case) -> None:
    """Float outputs in the input's dtype; float32 within rtol of float64 (unless it says why
    it cannot be compared)."""
    low, high = case.dtypes
    got, expected = leaves(case.build(In(low))()), leaves(case.build(In(high))())
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(g, torch.Tensor) and g.is_floating_point():
            assert g.dtype == REAL.get(low, low), f"{g.dtype} returned for {low} input"
        if isinstance(g, torch.Tensor) and g.is_complex():
            assert g.dtype == COMPLEX[low], f"{g.dtype} returned for {low} input"
        if not case.compare:
            same(g, e, case.rtol or RTOL)


@pytest.mark.parametrize("name", CASES)
def test_created_tensors_follow_the_inputs(name):
    check_on_meta(CASES[name])


DTYPE_CASES = [n for n, c in CASES.items() if c.dtypes]


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_float32_matches_float64_and_keeps_its_dtype(name):
    case = CASES[name]
    assert case.rtol is None or case.why, f"{name}: say why its rtol differs"
    check_dtypes(case)


BF16_CASES = [n for n, c in CASES.items() if c.bfloat16]


@pytest.mark.parametrize("name", BF16_CASES)
def test_bfloat16_matches_float64_within_its_tolerance(name):
    """On the same bfloat16 numbers: only the arithmetic differs."""
    got = leaves(run(name, torch.bfloat16))
    expected = leaves(CASES[name].build(In(F64, grain=torch.bfloat16))())
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == torch.bfloat16
        same(g, e, CASES[name].bfloat16)


def public_callables() -> list[str]:
    """module.name and module.Class.method for every public function, class and method
    defined in a snippets module."""
    names = []
    for info in pkgutil.iter_modules(snippets.__path__):
        module = importlib.import_module(f"snippets.{info.name}")
        for name, obj in vars(module).items():
            if (
                name.startswith("_")
                or getattr(obj, "__module__", None) != module.__name__
            ):
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                names.append(f"{info.name}.{name}")
            if inspect.isclass(obj):
                names += [
                    f"{info.name}.{name}.{m}"
                    for m, f in vars(obj).items()
                    if not m.startswith("_")
                    and (inspect.isfunction(f) or isinstance(f, staticmethod))
                ]
    return names


def test_every_public_callable_has_a_case():
    public = public_callables()
    missing = [n for n in public if n not in CASES and n not in EXEMPT]
    assert not missing, f"no case in tests/unit/calls.py and not EXEMPT: {missing}"
    assert all(EXEMPT.values()), "every exemption states its reason"
    stale = [n for n in [*CASES, *EXEMPT] if n not in public]
    assert not stale, f"cases for callables that are not public (any more): {stale}"


def test_the_check_can_fail():
    """A function that makes a tensor on the default device is caught."""

    def bad(x):
        return x + torch.ones(x.shape, dtype=x.dtype)

    with pytest.raises(RuntimeError):
        check_on_meta(Case(lambda i: call(bad, i.r(3))))


def test_a_function_that_ignores_device_is_caught():
    """A factory that takes device= and drops it makes its result on "meta" under the test;
    one that always makes it on the CPU fails the second half."""

    def ignores(n, *, device=None, dtype=F64):
        return torch.arange(n, dtype=dtype)

    def cpu_only(n, *, device=None, dtype=F64):
        return torch.arange(n, dtype=dtype, device="cpu")

    for fn, why in ((ignores, "default device"), (cpu_only, "device= not followed")):
        with pytest.raises(AssertionError, match=why):
            check_on_meta(Case(lambda i: call(fn, 3, **i.factory), factory=True))


def test_a_wrong_dtype_or_a_float32_loss_is_caught():
    """Computing in float64 and returning it, or losing digits in float32, fails."""
    with pytest.raises(
        AssertionError, match="torch.float64 returned for torch.float32"
    ):
        check_dtypes(Case(lambda i: call(lambda x: x.double() * 2, i.r(3))))
    sloppy = lambda x: x + 1e-3 * (x.dtype == F32)  # noqa: E731
    with pytest.raises(AssertionError):
        check_dtypes(Case(lambda i: call(sloppy, i.r(3))))


# Factories whose result holds 0 and 1 only: exact in every dtype, so any dtype is fine.
ANY_DTYPE = {"reading_list.all_masks", "symmetry.random_permutation_matrix"}
TYPED_FACTORIES = [
    n for n, c in CASES.items() if c.factory and c.dtypes and n not in ANY_DTYPE
]


@pytest.mark.parametrize("name", TYPED_FACTORIES)
def test_a_factory_rejects_a_dtype_that_cannot_hold_its_result(name):
    """An integer dtype (a real one for the complex S4 factories) is a ValueError naming
    dtype, not a deep torch error or a result rounded to integers."""
    bad = torch.float64 if CASES[name].dtypes[0].is_complex else torch.int64
    with pytest.raises(ValueError, match="dtype must be a"):
        CASES[name].build(In(bad))()


# The float dtypes a "Dtypes:" line can name; "float16" inside "bfloat16" is not a word.
DTYPE_WORDS = re.compile(r"\b(bfloat16|float16|float32|float64|complex64|complex128)\b")


def documented(name: str) -> str | None:
    """The "Dtypes: ..." sentence of name's docstring (a method's, or else its class's): from
    "Dtypes:" to the first full stop that ends a sentence."""
    module, *path = name.split(".")
    objs = [importlib.import_module(f"snippets.{module}")]
    for part in path:
        objs.append(inspect.getattr_static(objs[-1], part))
    for obj in reversed(objs[1:]):  # the method first, then its class
        doc = " ".join((getattr(obj, "__func__", obj).__doc__ or "").split())
        if "Dtypes:" in doc:
            return re.match(r"Dtypes:(.*?)(?:\.\s|\.$|$)", doc[doc.index("Dtypes:") :])[
                0
            ]
    return None


def check_documented(name: str, case: Case) -> None:
    """The line names exactly the dtypes the case runs in (bfloat16 with its tolerance)."""
    line = documented(name)
    assert line, (
        f"{name}: no 'Dtypes: ...' line in its docstring (its case runs {case.dtypes})"
    )
    named = set(DTYPE_WORDS.findall(line))
    runs = {str(d).removeprefix("torch.") for d in case.dtypes}
    runs |= {"bfloat16"} if case.bfloat16 else set()
    assert named == runs, (
        f"{name}: {line!r} names {sorted(named)}, its case runs {sorted(runs)}"
    )
    if case.bfloat16:
        stated = re.search(r"bfloat16 agrees with float64 to ([0-9.e+-]+)", line)
        assert stated and float(stated[1]) == case.bfloat16, (
            f"{name}: {line!r} does not state the bfloat16 tolerance {case.bfloat16:g}"
        )


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_the_docstring_states_the_dtypes_its_case_runs(name):
    check_documented(name, CASES[name])


def test_a_missing_or_wrong_dtypes_line_is_caught():
    """No line, a dtype the case does not run, one it runs but the line leaves out, or a
    bfloat16 tolerance other than the tested one: each fails."""
    for name, case, why in [
        ("autodiff.logistic_map", Case(None), "no 'Dtypes"),  # pure Python: no line
        ("attention.rope", Case(None), "names"),  # bfloat16 not run
        # bfloat16 not named
        (
            "attention.attention",
            Case(None, bfloat16=2e-2),
            "names",
        ),
        ("attention.rope", Case(None, bfloat16=1e-2), "tolerance"),  # 2e-2 stated
        ("s4.kernel_nplr", Case(None), "names"),  # complex, not real
    ]:
        with pytest.raises(AssertionError, match=why):
            check_documented(name, case)


# --- On a real accelerator --------------------------------------------------------------------
# SNIPPETS_TEST_DEVICE=cuda python3 tasks.py test unit: every case also runs with its tensors
# (and generators) moved to that device, or with device= for a factory, and must give the CPU
# answer there. Not collected without it (a CPU-only machine has nothing to move to). The cases
# built by hand as closures make their i.r/i.c/i.t tensors on the device instead.
DEVICE = os.environ.get("SNIPPETS_TEST_DEVICE")


def on(device: torch.device, obj):
    """obj with every tensor moved to ``device`` and every generator replaced by one there
    (seeded from the original's first draw, so draws differ from the CPU's)."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, torch.Generator):
        seed = int(torch.randint(2**62, (), generator=obj))
        return torch.Generator(device=device).manual_seed(seed)
    if isinstance(obj, (tuple, list)):
        return type(obj)(on(device, o) for o in obj)
    if isinstance(obj, dict):
        return {k: on(device, v) for k, v in obj.items()}
    return obj


def draws_randomly(c: Call) -> bool:
    return any(isinstance(a, torch.Generator) for a in (*c.args, *c.kwargs.values()))


def check_on_device(case: Case, device: torch.device) -> None:
    dtype = (case.dtypes or (F64,))[-1]
    if case.factory:
        got, expected = case.build(In(dtype, device=device))(), case.build(In(dtype))()
        random = False
    else:
        c = case.build(In(dtype))
        if isinstance(c, Call):
            random = draws_randomly(c)
            got = c.fn(*on(device, c.args), **on(device, c.kwargs))
        else:  # built by hand: its i.r, i.c and i.t tensors made on the device
            random = False
            got = case.build(In(dtype, place=device))()
        expected = case.build(In(dtype))()
    got, expected = leaves(got), leaves(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(g, torch.Tensor):
            assert g.device.type == device.type, f"a result on {g.device}, not {device}"
            g = g.cpu()
        # another generator's numbers: shapes and dtypes only
        if random or case.compare:
            assert type(g) is type(e)
            if isinstance(g, torch.Tensor):
                assert (g.shape, g.dtype) == (e.shape, e.dtype)
        else:
            same(g, e, case.rtol or RTOL)


if DEVICE:

    @pytest.mark.parametrize("name", CASES)
    def test_the_device_gives_the_cpu_answer(name):
        check_on_device(CASES[name], torch.device(DEVICE))

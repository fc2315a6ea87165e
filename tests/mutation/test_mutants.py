"""Checks that can fail: each wrong variant in tests/mutation/mutants.py must fail the chapter's doc
tests and the unit tests.

Each mutant runs in its own copy of the project, in a fresh process forked from a server that
has already imported torch, pytest and MkDocs' Markdown stack (``multiprocessing``'s
forkserver with a preload list): a mutant then costs its tests, not 3-4 s of imports. Every
selected mutant is submitted to a pool of two workers when the first test asks for the runs.
"""

import multiprocessing
import os
import pathlib
import shutil
import sys
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor

import pytest

from tests.docblocks import ROOT
from tests.mutation.mutants import MUTANTS

# What a mutant's run reads: the config (load_config imports the hook, includes read
# includes/ and benchmarks/results/), the chapters and the tests; not the site's assets.
COPY = [
    "conftest.py",
    "pyproject.toml",
    "mkdocs.yml",
    "docs",
    "snippets",
    "tests",
    "overrides",
    "hooks",
    "includes",
    "benchmarks/results",
]
SKIP = shutil.ignore_patterns("__pycache__", "assets")
# Imported once by the fork server; nothing from this repository (each copy has its own).
# Besides the libraries: what torch, pytest and hypothesis import lazily on first use (the
# first `assert_close` alone imports torch.distributed.tensor, 0.5 s).
PRELOAD = [
    "torch",
    "numpy",
    "hypothesis",
    "pytest",
    "pytest_markdown_docs.plugin",
    "markdown",
    "pymdownx.snippets",
    "pymdownx.superfences",
    "mkdocs.config",
    "material",
    "mkdocs_jupyter.plugin",
    "jupytext",
    "jaxtyping",
    "einops",
    "markdown_it",
    "yaml",
    "torch.testing",
    "torch.distributed.tensor",
    "torch._dynamo",
    "torch.func",
    "torch.optim",
    "torch.utils.checkpoint",
    "torch.utils.data",
    "torch.autograd.functional",
    "torch.utils.flop_counter",
    "hypothesis.strategies",
    "unittest.mock",
    "_pytest.doctest",
    "_pytest.legacypath",
    "_pytest.pytester",
    "pytest_markdown_docs._runners",
    "platformdirs",
    "tests.mutation.mutant_server",
]
WORKERS = 2


def copy_project(name: str, tmp) -> pathlib.Path:
    """A copy of the project with the mutant applied."""
    root = pathlib.Path(tmp) / name
    for item in COPY:
        src, dst = ROOT / item, root / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=SKIP)
        elif src.exists():
            shutil.copy2(src, dst)
    MUTANTS[name].apply(root)
    return root


def run_in_copy(name: str, tmp: str) -> dict:
    """In a freshly forked process: copy the project, apply the mutant, run its chapter and
    unit tests there, and remove the copy."""
    import json
    import time

    import torch

    start = time.perf_counter()
    mutant = MUTANTS[name]
    root = str(copy_project(name, tmp))
    for module in [
        m for m in sys.modules if m.split(".")[0] in ("tests", "snippets", "conftest")
    ]:
        del sys.modules[module]  # the copy's tests/ and snippets/ are imported afresh
    sys.path.insert(0, root)
    os.chdir(root)
    report, log = os.path.join(root, "report.json"), os.path.join(root, "pytest.log")
    os.environ.update(
        MUTANT=name,
        MUTANT_REPORT=report,
        HYPOTHESIS_PROFILE="mutant",
        PYTHONDONTWRITEBYTECODE="1",
    )
    torch.set_num_threads(1)  # two runs at once on two cores: one thread each
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # A run only needs to fail: no terminal output (the report says what passed and failed, and
    # rendering tracebacks costs more than most runs), no assertion rewriting (parsing the test
    # modules), no unraisable-exception plugin (its gc.collect() walks the preloaded heap).
    pytest.main(
        [
            "-p",
            "tests.mutation.mutants",
            "-p",
            "no:terminal",
            "-p",
            "no:cacheprovider",
            "--assert=plain",
            "-p",
            "no:unraisableexception",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            mutant.chapter,
            mutant.tests,
        ]
    )
    sys.stdout.flush()
    sys.stderr.flush()
    result = {"failed": [], "snippets": ""}
    if os.path.exists(report):
        with open(report) as f:
            result = json.load(f)
    with open(log, errors="replace") as f:
        output = f.read()
    shutil.rmtree(root, ignore_errors=True)
    return {
        **result,
        "root": root,
        "output": output[-3000:],
        "seconds": time.perf_counter() - start,
    }


@pytest.fixture(scope="session")
def mutant_runs(request) -> dict[str, Future]:
    """Each selected mutant's run, submitted at once to the pool (a Future of its result)."""
    names = [
        item.callspec.params["name"]
        for item in request.session.items
        if item.originalname == "test_mutant_is_caught"
    ]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with (
        tempfile.TemporaryDirectory(prefix="mutants-") as tmp,
        ProcessPoolExecutor(WORKERS, mp_context=context, max_tasks_per_child=1) as pool,
    ):
        yield {name: pool.submit(run_in_copy, name, tmp) for name in names}
        pool.shutdown(wait=True, cancel_futures=True)  # a failed run leaves none queued


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_is_caught(name, mutant_runs):
    mutant = MUTANTS[name]
    result = mutant_runs[name].result(timeout=300)
    output = result["output"]
    assert result["snippets"].startswith(result["root"]), (
        f"mutant {name!r} ran against snippets outside its mutated copy: {result}\n{output}"
    )
    for where in (mutant.chapter, mutant.tests):
        assert where in result["failed"], (
            f"mutant {name!r} ({mutant.why}) passed {where}: "
            f"{result.get('outcomes', {}).get(where)}; caught elsewhere by "
            f"{result.get('caught_by')} in {result.get('seconds', 0):.1f} s (this mutant alone: "
            f"pytest tests/mutation/test_mutants.py -k {name})\n{output}"
        )


@pytest.mark.parametrize("name", [n for n, m in MUTANTS.items() if m.first])
def test_mutant_first_tests_exist(name):
    """Each mutant's ``first`` names a unit test of its file (so a rename cannot quietly send
    its run back to the slow order) and a fragment of its chapter (where the page catches it,
    kept true)."""
    mutant = MUTANTS[name]
    tests, chapter = (
        (ROOT / mutant.tests).read_text(),
        (ROOT / mutant.chapter).read_text(),
    )
    assert any(f"def {f}(" in tests for f in mutant.first), (
        name,
        mutant.first,
        mutant.tests,
    )
    assert any(f in chapter for f in mutant.first), (name, mutant.first, mutant.chapter)

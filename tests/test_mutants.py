"""Checks that can fail: each wrong variant in tests/mutants.py must fail the chapter's doc
tests and the unit tests."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.docblocks import ROOT
from tests.mutants import MUTANTS

COPY = ["conftest.py", "pyproject.toml", "mkdocs.yml", "docs", "snippets", "tests", "overrides"]


def run_with_mutant(name: str, tmp) -> tuple[dict, str]:
    """Copy the project, apply the mutant, run its chapter and unit tests there."""
    mutant, root = MUTANTS[name], tmp / name
    root.mkdir()
    for item in COPY:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, root / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / item)
    mutant.apply(root)
    report = tmp / f"{name}.json"
    env = {**os.environ, "MUTANT": name, "MUTANT_REPORT": str(report),
           "HYPOTHESIS_PROFILE": "mutant", "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": "1"}  # two runs at once on two cores: one thread each
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.mutants", "-q", mutant.chapter, mutant.tests],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads(report.read_text()) if report.exists() else {"failed": [], "snippets": ""}
    result["root"] = str(root)
    return result, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def mutant_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mutants")
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(MUTANTS, pool.map(lambda n: run_with_mutant(n, tmp), MUTANTS)))


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_is_caught(name, mutant_runs):
    mutant = MUTANTS[name]
    result, output = mutant_runs[name]
    assert result["snippets"].startswith(result["root"]), (
        f"mutant {name!r} ran against snippets outside its mutated copy: {result}\n{output}")
    for where in (mutant.chapter, mutant.tests):
        assert where in result["failed"], (
            f"mutant {name!r} ({mutant.why}) passed {where}; output:\n{output}")

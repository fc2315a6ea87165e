"""Fixtures shared by the tests, and the background work some of them wait on.

The doc-test machinery itself lives in tests/docblocks.py. The site build and the mutant runs
take most of the suite's time on one core each, so they start when the session starts
and the tests that need them run last.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


BACKGROUND = ("built_site", "mutant_runs")  # fixtures whose work runs in the background
NEEDS = {"built_site": ("tests/test_site.py", "tests/test_links.py", "tests/test_browser.py"),
         "mutant_runs": ("tests/test_mutants.py",)}
BACKGROUND_KEY = pytest.StashKey[dict]()


def pytest_collection_modifyitems(session, config, items):
    """Tests that wait on background work (the site build, the mutant runs) go last, so the rest
    of the suite runs while that work proceeds on the other core."""
    def waits_on(item) -> int:
        names = getattr(item, "fixturenames", ())
        return max((i + 1 for i, f in enumerate(BACKGROUND) if f in names), default=0)
    items.sort(key=waits_on)  # stable: the order within each group is kept


def in_scope(config, files: tuple[str, ...]) -> bool:
    """Whether the paths this run was given (or the testpaths) contain one of these files."""
    args = [a.split("::")[0] for a in config.args] or config.getini("testpaths")
    paths = [(pathlib.Path(config.invocation_params.dir) / a).resolve() for a in args]
    return any(p == ROOT / f or p in (ROOT / f).parents for p in paths for f in files)


def background_priority() -> None:
    """Background work yields the CPU to the tests in the foreground: on two cores, with the
    build and two mutant runs beside them, the foreground tests otherwise get half a core and
    become the run's critical path. The background still gets every cycle the tests leave."""
    os.nice(10)


def start_build(background: dict) -> None:
    site = background["tmp"] / "site"
    log = open(background["tmp"] / "mkdocs.log", "w+")
    # No `-q`: it filters warnings before strict mode counts them. One torch thread in the
    # notebook kernels: the tests run beside the build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    background["build"] = (site, log, subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=background_priority))


def start_mutants(background: dict, names: list[str]) -> None:
    from tests.test_mutants import start_mutant_runs

    background["pool"], background["mutants"] = start_mutant_runs(
        background["tmp"] / "mutants", names)


def pytest_sessionstart(session):
    """When the run's paths include the tests that need the site or the mutant runs, start them
    now, before the 5 s of collection; collection then cancels what no selected test needs."""
    from tests.mutants import MUTANTS

    background = session.config.stash.setdefault(BACKGROUND_KEY, {})
    background["tmp"] = pathlib.Path(tempfile.mkdtemp(prefix="executable-ml-notes-"))
    if session.config.option.collectonly:
        return
    if in_scope(session.config, NEEDS["built_site"]):
        start_build(background)
    if in_scope(session.config, NEEDS["mutant_runs"]):
        start_mutants(background, list(MUTANTS))


def pytest_collection_finish(session):
    """Start the background work the selected tests need, if it has not started; stop what
    they do not need."""
    from tests.mutants import MUTANTS

    background = session.config.stash[BACKGROUND_KEY]
    if session.config.option.collectonly:
        return
    needed = {f for item in session.items for f in getattr(item, "fixturenames", ())}
    if "built_site" in needed and "build" not in background:
        start_build(background)
    elif "built_site" not in needed and "build" in background:
        background.pop("build")[2].kill()
    names = sorted({item.callspec.params["name"] for item in session.items
                    if "mutant_runs" in getattr(item, "fixturenames", ())}, key=list(MUTANTS).index)
    if names and "pool" not in background:
        start_mutants(background, names)
    for name, run in background.get("mutants", {}).items():
        if name not in names:
            run.cancel()  # not selected: a queued run never starts


def pytest_sessionfinish(session):
    background = session.config.stash.get(BACKGROUND_KEY, {})
    if "build" in background:
        background["build"][2].kill()
        background["build"][2].wait()
    if "pool" in background:
        background["pool"].shutdown(wait=True, cancel_futures=True)
    if "tmp" in background:
        shutil.rmtree(background["tmp"], ignore_errors=True)


@pytest.fixture(scope="session")
def built_site(request) -> pathlib.Path:
    """The site as `mkdocs build --strict` writes it, built once per test session in the
    background."""
    site, log, proc = request.config.stash[BACKGROUND_KEY]["build"]
    proc.wait(timeout=600)
    log.seek(0)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log.read()}"
    return site


@pytest.fixture(scope="session")
def mutant_runs(request) -> dict:
    """Each mutant's run (a Future of its result), started in the background."""
    return request.config.stash[BACKGROUND_KEY]["mutants"]


from hypothesis import HealthCheck, settings  # noqa: E402

# Seeded and repeatable: the same examples on every machine, no example database on disk.
# 50 examples per property in the everyday run; the weekly drift run (.github/workflows/
# drift.yml) and anyone who sets HYPOTHESIS_PROFILE=thorough draws ten times as many.
settings.register_profile("repo", derandomize=True, database=None, deadline=None,
                          max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", parent=settings.get_profile("repo"), max_examples=500)
# Mutant runs only need to see a test fail, not a minimal example.
settings.register_profile("mutant", parent=settings.get_profile("repo"), max_examples=15,
                          phases=[p for p in settings.get_profile("repo").phases
                                  if p.name != "shrink"])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repo"))

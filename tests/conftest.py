"""Fixtures shared by the site tests (the doc-test machinery itself lives in tests/docblocks.py)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def one_thread():
    """Unit tests run torch on one intra-op thread: their tensors are small, and when another
    process holds one of the two cores, a two-thread pool makes each call wait for the
    descheduled thread (10-50x slower). A test that times something sets its own count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> pathlib.Path:
    """The site as `mkdocs build --strict` writes it (built once per test session)."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # No `-q`: it filters warnings before strict mode counts them.
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return site


from hypothesis import HealthCheck, settings  # noqa: E402

# Seeded and repeatable: the same examples on every machine, no example database on disk.
settings.register_profile("repo", derandomize=True, database=None, deadline=None,
                          max_examples=150, suppress_health_check=[HealthCheck.too_slow])
# Mutant runs only need to see a test fail, not a minimal example.
settings.register_profile("mutant", parent=settings.get_profile("repo"), max_examples=60,
                          phases=[p for p in settings.get_profile("repo").phases
                                  if p.name != "shrink"])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repo"))

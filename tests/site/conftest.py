"""The built site the tests in this folder check: the one the workflow publishes.

``$SITE_DIR`` names a site that is already built (CI: the workflow's build step, which ran
just before); otherwise the fixture runs that build step itself, exactly as the workflow
writes it (``.github/workflows/site.yml``, step "Build the site"), so the command tested is
the command that publishes.
"""

import os
import pathlib
import subprocess

import pytest
import yaml

from tests.docblocks import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
BUILD_STEP = "Build the site"


def build_step() -> dict:
    """The workflow's build step: its ``run`` command, ``env`` and the folder it writes."""
    jobs = yaml.safe_load(WORKFLOW.read_text("utf8"))["jobs"]
    steps = [s for job in jobs.values() for s in job.get("steps", []) if s.get("name") == BUILD_STEP]
    assert len(steps) == 1, f"{WORKFLOW.name}: {len(steps)} steps named {BUILD_STEP!r}"
    return steps[0]


@pytest.fixture(scope="session")
def built_site() -> pathlib.Path:
    """The site, as `python3 tasks.py build` writes it."""
    if given := os.environ.get("SITE_DIR"):
        site = (ROOT / given).resolve()
        assert (site / "index.html").is_file(), f"$SITE_DIR={given}: no built site there"
        return site
    step = build_step()
    env = {**os.environ, **{k: str(v) for k, v in step.get("env", {}).items()}}
    proc = subprocess.run(step["run"], shell=True, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (
        f"the workflow's build step `{step['run']}` failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return ROOT / "site"

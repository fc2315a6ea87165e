"""The GitHub Actions set-up: linted offline, and the publishing rules pinned down.

zizmor (security audits) and check-jsonschema (GitHub's workflow schema) run from the same
environment as pytest; both work without network access. The rest reads the workflow YAML and
checks the few properties the deployment depends on: Pages deploys only from pushes to main,
only after the tests pass, and only the deploy job holds the Pages/OIDC write permissions.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.y*ml"))
SITE = GITHUB / "workflows" / "site.yml"
MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
PRIVILEGED = {"pages", "id-token"}


def tool(name: str) -> str:
    """An executable installed next to this interpreter (the project's venv), else on $PATH."""
    here = pathlib.Path(sys.executable).parent / name  # not resolved: a venv's python is a link
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is pinned in requirements.txt)", pytrace=False)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site() -> dict:
    return yaml.safe_load(SITE.read_text())


def test_there_are_workflows() -> None:
    assert SITE in WORKFLOWS, WORKFLOWS


def test_zizmor_finds_nothing() -> None:
    # `.github` covers the workflows and dependabot.yml.
    proc = run(tool("zizmor"), "--offline", "--no-progress", "--color=never", str(GITHUB))
    assert proc.returncode == 0, f"zizmor (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(workflow: pathlib.Path) -> None:
    schema = "vendor.github-workflows"
    proc = run(tool("check-jsonschema"), "--builtin-schema", schema, str(workflow))
    assert proc.returncode == 0, f"{workflow.name}:\n{proc.stdout}\n{proc.stderr}"


def test_dependabot_matches_schema() -> None:
    config = GITHUB / "dependabot.yml"
    if not config.exists():
        pytest.skip("no .github/dependabot.yml")
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(config))
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


def test_triggers(site: dict) -> None:
    triggers = site[True]  # PyYAML (YAML 1.1) reads the key `on` as the boolean True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers), triggers


def test_permissions_are_least_privilege(site: dict) -> None:
    assert site["permissions"] == {}, "top-level permissions must be empty"
    jobs = site["jobs"]
    assert jobs["test"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    for name, job in jobs.items():
        if name != "deploy":
            held = PRIVILEGED & set(job.get("permissions") or {})
            assert not held, f"job {name} holds {held}"


def test_deploy_only_after_tests_on_main_pushes(site: dict) -> None:
    deploy = site["jobs"]["deploy"]
    needs = deploy["needs"]
    assert "test" in ([needs] if isinstance(needs, str) else needs), needs
    condition = " ".join(str(deploy["if"]).replace("${{", "").replace("}}", "").split())
    assert condition == MAIN_PUSH, deploy["if"]
    assert deploy["environment"]["name"] == "github-pages"
    steps = deploy["steps"]
    assert any(str(step.get("uses", "")).startswith("actions/deploy-pages@") for step in steps)


def test_actions_are_pinned_to_commits() -> None:
    """Every `uses:` names a full commit SHA with a `# vX.Y.Z` comment (for Dependabot and
    readers); deploy-pages v4 (retired node20 runtime) is not used."""
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if match := re.search(r"\buses:\s*(\S+)(.*)", line):
                ref, rest = match.groups()
                if ref.startswith("./"):
                    continue
                pinned = re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref)
                assert pinned, f"{workflow.name}: not pinned to a commit: {line}"
                version = re.search(r"#\s*v(\d+)(\.\d+)*\b", rest)
                assert version, f"{workflow.name}: no version comment: {line}"
                if ref.startswith("actions/deploy-pages@"):
                    assert int(version.group(1)) >= 5, f"{workflow.name}: {line}"


def test_checkout_keeps_no_credentials(site: dict) -> None:
    for name, job in site["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name


def test_drift_guard_runs_weekly_against_the_newest_releases() -> None:
    """The scheduled run tests the newest torch and numpy, and deploys nothing."""
    drift = yaml.safe_load((GITHUB / "workflows" / "drift.yml").read_text())
    triggers = drift.get("on", drift.get(True))  # YAML 1.1 reads a bare `on` as True
    cron = triggers["schedule"][0]["cron"].split()
    assert len(cron) == 5 and cron[2:4] == ["*", "*"] and cron[4] != "*", cron  # weekly
    steps = [s for job in drift["jobs"].values() for s in job["steps"]]
    assert any("--upgrade torch numpy" in s.get("run", "") for s in steps)
    assert any("pytest" in s.get("run", "") for s in steps)
    assert not any("pages" in s.get("uses", "") for s in steps)
    for job in drift["jobs"].values():
        assert job["permissions"] == {"contents": "read"}, job["permissions"]

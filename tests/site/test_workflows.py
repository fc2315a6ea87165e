"""The GitHub Actions set-up: linted offline, and the publishing rules pinned down.

zizmor (security audits) and check-jsonschema (GitHub's workflow schema) run from the same
environment as pytest; both work without network access. The rest reads the workflow YAML and
checks what the deployment depends on: Pages deploys only from pushes to main, only after every
other job passed, and only the deploy job holds the Pages/OIDC write permissions; every command
a workflow runs is a `tasks.py` command that the tests run too (the build step, as written, by
tests/site/conftest.py; the test parts by `python3 tasks.py test`), and CI runs every part.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

import tasks
from tests.docblocks import ROOT
from tests.site.conftest import BUILD_STEP, build_step

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.y*ml"))
SITE = GITHUB / "workflows" / "site.yml"
MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def tool(name: str) -> str:
    """An executable installed next to this interpreter (the project's venv), else on $PATH."""
    # not resolved: a venv's python is a link
    here = pathlib.Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed (it is pinned in requirements.txt)", pytrace=False
        )
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
    proc = run(
        tool("zizmor"), "--offline", "--no-progress", "--color=never", str(GITHUB)
    )
    assert proc.returncode == 0, (
        f"zizmor (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(workflow: pathlib.Path) -> None:
    schema = "vendor.github-workflows"
    proc = run(tool("check-jsonschema"), "--builtin-schema", schema, str(workflow))
    assert proc.returncode == 0, f"{workflow.name}:\n{proc.stdout}\n{proc.stderr}"


def test_dependabot_matches_schema() -> None:
    config = GITHUB / "dependabot.yml"
    if not config.exists():
        pytest.skip("no .github/dependabot.yml")
    proc = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(config)
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


def test_triggers(site: dict) -> None:
    triggers = site[True]  # PyYAML (YAML 1.1) reads the key `on` as the boolean True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers), triggers


def test_permissions_are_least_privilege(site: dict) -> None:
    assert site["permissions"] == {}, "top-level permissions must be empty"
    jobs = site["jobs"]
    assert jobs["deploy"]["permissions"] == {
        "pages": "write",
        "id-token": "write",
        "contents": "write",  # to push the notebooks branch (Colab), and nothing else
    }
    for name, job in jobs.items():
        if name != "deploy":
            assert job["permissions"] == {"contents": "read"}, (
                name,
                job["permissions"],
            )


def test_deploy_only_after_every_other_job_on_main_pushes(site: dict) -> None:
    deploy = site["jobs"]["deploy"]
    needs = deploy["needs"]
    assert set([needs] if isinstance(needs, str) else needs) == set(site["jobs"]) - {
        "deploy"
    }
    condition = " ".join(str(deploy["if"]).replace("${{", "").replace("}}", "").split())
    assert condition == MAIN_PUSH, deploy["if"]
    assert deploy["environment"]["name"] == "github-pages"
    steps = deploy["steps"]
    assert any(
        str(step.get("uses", "")).startswith("actions/deploy-pages@") for step in steps
    )


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
    (test,) = [s for s in steps if "run" in s]
    assert test["env"]["UPGRADE"].split() == ["torch", "numpy"]
    assert {"docs", "unit"} <= set(test["run"].split()[3:])
    assert not any("pages" in s.get("uses", "") for s in steps)
    for job in drift["jobs"].values():
        assert job["permissions"] == {"contents": "read"}, job["permissions"]


def steps(workflow: pathlib.Path):
    for name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        for step in job.get("steps", []):
            yield name, job, step


COMMAND = re.compile(
    r"python3? tasks\.py (build|test(?: [a-z]+)*"
    r'|publish-notebooks site "\$NOTEBOOKS_REMOTE")'
)
PUBLISH_STEP = "Publish the notebooks for Colab"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_command_is_one_the_tests_run(workflow: pathlib.Path) -> None:
    """A workflow runs `tasks.py build` (the command the site tests run, as written),
    `tasks.py test` with some of its parts (what the full local run runs), or the
    deploy's `tasks.py publish-notebooks` (run as written by the test below), one line
    each; nothing else, so nothing CI does goes untried on a developer's machine."""
    for job, _, step in steps(workflow):
        if "run" not in step:
            continue
        command = step["run"].strip()
        match = COMMAND.fullmatch(command)
        assert match, (
            f"{workflow.name}, job {job}: {command!r} is not a tasks.py command"
        )
        words = match.group(1).split()
        if words[0] == "publish-notebooks":
            assert job == "deploy" and step.get("name") == PUBLISH_STEP, (job, step)
            continue
        assert set(words[1:]) <= set(tasks.PARTS), (
            f"{workflow.name}, job {job}: {command!r}"
        )


def test_ci_runs_every_part_and_the_build(site: dict) -> None:
    """Together the jobs run every part of `python3 tasks.py test` and the build the site
    tests check; the platform jobs cover the readers' systems and both Pythons."""
    commands = [step["run"].split() for _, _, step in steps(SITE) if "run" in step]
    parts = {word for c in commands if c[2] == "test" for word in c[3:]}
    assert parts == set(tasks.PARTS), parts
    matrix = site["jobs"]["platforms"]["strategy"]["matrix"]
    assert set(matrix["os"]) == {
        "ubuntu-latest",
        "ubuntu-24.04-arm",
        "macos-14",
        "windows-latest",
    }, matrix
    assert set(matrix["python"]) >= {"3.11", "3.13"}, matrix
    assert site["jobs"]["platforms"]["strategy"]["fail-fast"] is False


def test_the_numeric_jobs_nudge_pin_and_randomise(site: dict) -> None:
    """Three nudge seeds, on more than one thread (tasks.py's default is one); ATen's scalar
    path with MKL's SSE4.2 kernels, plain and nudged; Hypothesis unseeded."""
    jobs = site["jobs"]
    assert len(jobs["perturbed"]["strategy"]["matrix"]["seed"]) >= 3
    (nudged,) = [s for s in jobs["perturbed"]["steps"] if "run" in s]
    assert nudged["env"]["NUMERIC_NUDGE"] == "${{ matrix.seed }}"
    assert int(nudged["env"]["OMP_NUM_THREADS"]) > 1
    (old,) = [s for s in jobs["old-cpu"]["steps"] if "run" in s]
    assert old["env"] == {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "NUMERIC_NUDGE": "${{ matrix.nudge }}",
    }
    # plain and nudged
    assert set(jobs["old-cpu"]["strategy"]["matrix"]["nudge"]) == {
        "",
        "4",
    }
    (randomised,) = [s for s in jobs["hypothesis"]["steps"] if "run" in s]
    assert randomised["env"]["HYPOTHESIS_SEED"] == "random"


def test_a_job_compiles_the_kernels_with_inductor(site: dict) -> None:
    """tests/unit/test_compile.py reads COMPILE_BACKEND; one job runs the unit tests with the
    backend a reader's plain torch.compile uses."""
    (compiled,) = [s for s in site["jobs"]["compiled"]["steps"] if "run" in s]
    assert compiled["run"].split()[2:] == ["test", "unit"]
    assert compiled["env"] == {"COMPILE_BACKEND": "inductor"}


def test_the_site_job_tests_and_publishes_what_its_build_step_wrote(site: dict) -> None:
    """The build step is `tasks.py build` into site/; the next step tests that folder
    (SITE_DIR) and the upload publishes it."""
    job = site["jobs"]["site"]
    names = [s.get("name") for s in job["steps"]]
    build = build_step()
    assert build in job["steps"] and COMMAND.fullmatch(build["run"]).group(1) == "build"
    tested = job["steps"][names.index(BUILD_STEP) + 1]
    assert (
        tested["run"].split()[2:] == ["test", "site"]
        and tested["env"]["SITE_DIR"] == "site"
    )
    upload = [
        s
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")
    ]
    assert len(upload) == 1 and upload[0]["with"]["path"] == "site", upload


def test_the_browser_job_tests_the_site_jobs_build(site: dict) -> None:
    """The browser tests run in a job of their own, on the folder the site job built and
    uploaded (the one Pages publishes), with a browser that must be found."""
    jobs = site["jobs"]
    upload = [
        s
        for s in jobs["site"]["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    # on every run, not only on pushes to main
    assert len(upload) == 1 and "if" not in upload[0], upload
    browser = jobs["browser"]
    assert browser["needs"] == "site"
    (download,) = [
        s
        for s in browser["steps"]
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]
    assert download["with"] == {"name": upload[0]["with"]["name"], "path": "site"}
    (tested,) = [s for s in browser["steps"] if "run" in s]
    assert tested["run"].split()[2:] == ["test", "browser"]
    assert tested["env"]["SITE_DIR"] == "site" and tested["env"]["CI"] == "true"
    steps = browser["steps"]
    assert steps.index(download) < steps.index(tested)


def test_the_build_step_as_written_builds_the_site(built_site) -> None:
    """The site the tests in this folder check is the one the build step writes (when the
    run was not handed one in $SITE_DIR, the fixture ran the step itself)."""
    assert built_site.resolve() == (ROOT / "site").resolve()
    assert (built_site / "index.html").is_file() and (
        built_site / "sitemap.xml"
    ).is_file()


# --- the notebooks for Colab ----------------------------------------------------


def git_out(repo: pathlib.Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_deploy_publishes_the_notebooks_the_site_job_uploads(site: dict) -> None:
    """The site job uploads the built site (on every run: the browser job tests it); the
    deploy job, after every job passed, downloads it into the folder its publish step
    names, and publishes its notebooks with the GITHUB_TOKEN in an environment variable
    (the checkout keeps no credentials) before it deploys the pages that link them."""
    upload = [
        s
        for s in site["jobs"]["site"]["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert len(upload) == 1, upload
    assert upload[0]["with"]["path"] == "site", upload
    deploy = site["jobs"]["deploy"]["steps"]
    uses = [str(s.get("uses", "")).split("@")[0] for s in deploy]
    (download,) = [
        s
        for s in deploy
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]
    assert download["with"] == {"name": upload[0]["with"]["name"], "path": "site"}
    (publish,) = [s for s in deploy if s.get("name") == PUBLISH_STEP]
    assert publish["run"].split()[3] == download["with"]["path"]
    assert publish["env"] == {
        "NOTEBOOKS_REMOTE": "${{ github.server_url }}/${{ github.repository }}.git",
        "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
    }
    assert (
        uses.index("actions/checkout")
        < deploy.index(publish)
        < uses.index("actions/deploy-pages")
    )


def test_publish_notebooks_pushes_exactly_the_linked_notebooks(
    built_site, tmp_path
) -> None:
    """The deploy's publish step, run as written (its remote a local bare repository),
    makes branch `notebooks` one commit whose files are the site's notebooks, byte for
    byte, at the paths the pages' Colab links name, and a README naming the source
    commit; run again on other notebooks, it replaces the branch (a new orphan commit,
    force-pushed)."""
    assert built_site.resolve() == (ROOT / "site").resolve()  # the step's `site`
    (step,) = [s for _, _, s in steps(SITE) if s.get("name") == PUBLISH_STEP]
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    env["NOTEBOOKS_REMOTE"] = str(remote)
    proc = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{step['run']}:\n{proc.stdout}\n{proc.stderr}"

    branch = tasks.NOTEBOOKS_BRANCH
    notebooks = sorted(
        p.relative_to(built_site).as_posix() for p in built_site.rglob("*.ipynb")
    )
    pages = built_site.rglob("*.html")
    linked = {
        link.split(f"/blob/{branch}/", 1)[1]
        for page in pages
        for link in re.findall(
            r'<a href="(https://colab\.research\.google\.com/'
            r'github/[^"]+)"',
            page.read_text("utf8"),
        )
    }
    assert linked and linked == set(notebooks), set(notebooks) ^ linked
    tree = git_out(remote, "ls-tree", "-r", "--name-only", branch).split()
    assert tree == sorted(notebooks + ["README.md"]), tree
    for path in notebooks:
        blob = subprocess.run(
            ["git", "--git-dir", str(remote), "show", f"{branch}:{path}"],
            capture_output=True,
            check=True,
        ).stdout
        assert blob == (built_site / path).read_bytes(), path
    sha = tasks.source_commit()
    assert sha in git_out(remote, "log", "-1", "--format=%B", branch)
    assert sha in git_out(remote, "show", f"{branch}:README.md")
    assert git_out(remote, "rev-list", "--count", branch).strip() == "1"
    first = git_out(remote, "rev-parse", branch)

    other = tmp_path / "other-site"
    (other / "notebooks").mkdir(parents=True)
    (other / "notebooks" / "only.ipynb").write_text('{"cells": []}\n')
    proc = subprocess.run(
        [sys.executable, "tasks.py", "publish-notebooks", str(other), str(remote)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    tree = git_out(remote, "ls-tree", "-r", "--name-only", branch).split()
    assert tree == ["README.md", "notebooks/only.ipynb"], tree
    assert git_out(remote, "rev-list", "--count", branch).strip() == "1"  # no history
    assert git_out(remote, "rev-parse", branch) != first


def test_publish_notebooks_refuses_a_folder_without_notebooks(tmp_path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "tasks.py",
            "publish-notebooks",
            str(tmp_path / "empty"),
            str(remote),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "no *.ipynb" in proc.stderr, proc
    assert not git_out(remote, "branch", "--list").strip()

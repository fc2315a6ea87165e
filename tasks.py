#!/usr/bin/env python3
"""The project's commands; each one sets up `.venv/` first if it is missing or out of date.

    python3 tasks.py serve            # the site on http://127.0.0.1:8000, rebuilt on every change
    python3 tasks.py build            # the site into site/, as CI publishes it
    python3 tasks.py test [PART ...]  # every test, or some parts: docs unit site browser mutants
    python3 tasks.py bench [SUITE]    # benchmarks against torch, written to benchmarks/results/
    python3 tasks.py style            # ruff format + ruff check --fix, pages' Python blocks too
    python3 tasks.py publish-notebooks SITE_DIR REMOTE [--branch notebooks]
                                      # the built site's notebooks, force-pushed to a branch
                                      # (the deploy's; Colab opens them from there)

The test parts, each a pytest run of its own (CI runs each as a job; here they run side by
side, the others at a lower priority than the site part, and a summary follows):

    docs     the chapters' blocks and the README's (`pytest docs README.md`), against the
             source tree
    unit     the unit tests and the lab notebooks, against the package as a user installs it:
             a wheel built from this tree, in a fresh virtualenv, run from outside the tree
    site     the site that `tasks.py build` writes: what it shows, its links, the workflows,
             the house style (built once for this part and the next, unless SITE_DIR is set)
    browser  the same site in a headless Chromium: math, search, every copy button and what
             it copies run in a fresh Python, the width of code at 1280 px
    mutants  wrong variants of the snippets, each of which the docs and unit tests must fail

Environment:
    NUMERIC_NUDGE=<seed>     every floating result of torch's reductions, matrix products and
                             transcendental functions moved by one ulp (tests/nudge.py)
    HYPOTHESIS_SEED=random   Hypothesis examples from a new seed (printed), not the fixed ones;
                             HYPOTHESIS_SEED=<seed> replays a run
    UPGRADE="torch numpy"    the newest releases of these instead of the pins (the weekly
                             drift run, .github/workflows/drift.yml)
    REPO_URL=<url>           the repository the site links (source, edit, commit, notebook
                             install cells); by default from GITHUB_REPOSITORY or a GitHub
                             `origin` remote, and none without either

GITHUB_TOKEN=<token>       publish-notebooks pushes to an https REMOTE with it (CI's)

Needs only Python 3.11+ (and, for the browser tests, Chromium: `apt-get install chromium`).
"""

import hashlib
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import venv
from concurrent.futures import ThreadPoolExecutor, as_completed

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
INPUTS = ["requirements.txt", "pyproject.toml"]
ENV = {"NO_MKDOCS_2_WARNING": "1"}  # Material's notice about MkDocs 2.0, on every run
PARTS = ["docs", "unit", "site", "browser", "mutants"]
# The parts that test the built site: `tasks.py test` builds it once for both (CI: the site
# job builds it, the browser job tests the same folder).
SITE_PARTS = ("site", "browser")
BROWSER_TESTS = ["tests/site/test_browser.py", "tests/site/test_copy.py"]


def python(env_dir: pathlib.Path) -> pathlib.Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


PY = python(VENV)


def setup() -> None:
    """Create .venv and install the pinned requirements, unless they are installed already."""
    if not PY.exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".installed"
    upgrade = os.environ.get("UPGRADE", "").split()
    digest = hashlib.sha256(
        b"".join((ROOT / f).read_bytes() for f in INPUTS) + " ".join(upgrade).encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["-r", str(ROOT / "requirements.txt")], check=True)
    if upgrade:
        subprocess.run(pip + ["--upgrade", *upgrade], check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(ROOT)], check=True)
    stamp.write_text(digest)


# --- the site --------------------------------------------------------------------------------


def mkdocs(verb: str, *args: str) -> list[str]:
    """MkDocs as every command here runs it: strict (a warning fails), without `-q` (which
    drops warnings before strict mode counts them)."""
    return [str(PY), "-m", "mkdocs", verb, "--strict", *args]


GITHUB_REMOTE = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"([\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)


def github_repository() -> str:
    """``owner/name`` of the repository on GitHub: CI's GITHUB_REPOSITORY, else the `origin`
    remote when that is a GitHub URL, else ""."""
    if "/" in (repo := os.environ.get("GITHUB_REPOSITORY", "")):
        return repo
    try:
        remote = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git
        return ""
    match = GITHUB_REMOTE.match(remote)
    return match.group(1) if match else ""


def site_env() -> dict:
    """The repository's address (REPO_URL: mkdocs.yml's source, edit, commit and Colab links)
    from `github_repository`, unless REPO_URL is set; with no repository known, none (and the
    site has no repository links). On GitHub Actions also the published address (canonical
    links, the sitemap and instant navigation need it), from the repository's name; elsewhere
    mkdocs.yml's local default."""
    # The labs' kernels run torch on one thread: their tensors are small, and a second thread
    # only spins (on two busy cores it took the build from 38 s to 63 s of CPU).
    env = {**ENV, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if (repo := github_repository()) and "REPO_URL" not in os.environ:
        env["REPO_URL"] = f"https://github.com/{repo}"
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if "/" in repo and "SITE_URL" not in os.environ:
        owner, name = repo.split("/", 1)
        pages = f"https://{owner.lower()}.github.io/"
        env["SITE_URL"] = (
            pages if name.lower() == f"{owner.lower()}.github.io" else f"{pages}{name}/"
        )
    return env


def build(args: list[str]) -> int:
    """`python3 tasks.py build [--site-dir DIR]`: the one build (CI's, the tests', and what
    `serve` runs on every change)."""
    return run(mkdocs("build", *args), site_env())


def serve(args: list[str]) -> int:
    return run(mkdocs("serve", "--dev-addr", "127.0.0.1:8000", *args), site_env())


# --- house style -----------------------------------------------------------------------------

# ruff formats and lints these (config in pyproject.toml), and the Python blocks of the pages.
STYLE_PATHS = [
    "snippets",
    "tests",
    "hooks",
    "benchmarks",
    "tasks.py",
    "conftest.py",
    "docs/notebooks",
]
PAGES = ["README.md", "docs/*.md"]
LINE_LENGTH = 88  # pyproject.toml's [tool.ruff] line-length
# ruff formats a page's ```python fences (a preview feature), not `{.python continuation}` ones,
# and would read an include line (--8<-- "snippets/x.py:y") as Python. So the pages are
# formatted in a copy in which both are comments, restored after.
_KEEP = "# <<kept by tasks.py style>> "
_INCLUDE = re.compile(r"^([ \t]*)(-+8<-+[ \t].*)$", re.M)
_FENCE = re.compile(
    r"^([ \t]*)(`{3,}|~{3,})[ \t]*(\{[^}\n]*\.python\b[^}\n]*\})[ \t]*$", re.M
)
_KEPT_FENCE = re.compile(
    rf"^([ \t]*)(`{{3,}}|~{{3,}})python\n[ \t]*{re.escape(_KEEP)}(\{{.*\}})$", re.M
)
_KEPT = re.compile(rf"^([ \t]*){re.escape(_KEEP)}", re.M)


_PY_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})python[ \t]*$")
_TRAILING = re.compile(r"^([ \t]*)([^#\s][^#]*?)[ \t]{2,}(#[ \t].*)$")


def comments_above(text: str) -> str:
    """In the Python blocks of a page, a line too long for its trailing comment (two spaces
    after the code, as ruff puts it) gets the comment on a line of its own above it, where
    ruff would wrap the code around the comment; a long comment line is wrapped."""
    out, fence = [], None
    for line in text.split("\n"):
        if fence is None:
            m = _PY_FENCE.match(line)
            fence = (len(m[1]), m[2]) if m else None
        elif line.strip().startswith(fence[1]) and not line.strip().strip(fence[1][0]):
            fence = None
        else:
            m = _TRAILING.match(line)
            quotes_closed = m and m[2].count('"') % 2 == 0 and m[2].count("'") % 2 == 0
            if quotes_closed and len(f"{m[1]}{m[2]}  {m[3]}") - fence[0] > LINE_LENGTH:
                out.extend(wrap_comment(m[1] + m[3], fence[0]))
                line = m[1] + m[2]
            elif line.lstrip().startswith("# ") and _KEEP not in line:
                out.extend(wrap_comment(line, fence[0]))
                continue
        out.append(line)
    return "\n".join(out)


def wrap_comment(line: str, fence_indent: int) -> list[str]:
    """A comment line, wrapped to the line length (ruff leaves comments as they are)."""
    indent = line[: len(line) - len(line.lstrip())]
    width = LINE_LENGTH + fence_indent - len(indent) - 2
    if len(line) - fence_indent <= LINE_LENGTH:
        return [line]
    return [f"{indent}# {part}" for part in textwrap.wrap(line.lstrip()[2:], width)]


def format_pages(write: bool) -> dict[str, str]:
    """Each page whose Python blocks ruff would change: {path: the page as ruff formats it}.
    With ``write``, the pages are rewritten."""
    pages = sorted({p for pattern in PAGES for p in ROOT.glob(pattern)})
    changed = {}
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for k, page in enumerate(pages):
            text = page.read_text()
            text = _INCLUDE.sub(lambda m: m[1] + _KEEP + m[2], text)
            text = _FENCE.sub(
                lambda m: f"{m[1]}{m[2]}python\n{m[1]}{_KEEP}{m[3]}", text
            )
            text = comments_above(text)
            copies.append(pathlib.Path(tmp) / f"{k}.md")
            copies[-1].write_text(text)
        ruff = [str(PY), "-m", "ruff", "format", "--quiet", "--preview"]
        subprocess.run(
            [*ruff, "--config", str(ROOT / "pyproject.toml"), *map(str, copies)],
            check=True,
        )
        for page, copy in zip(pages, copies):
            text = _KEPT.sub(r"\1", _KEPT_FENCE.sub(r"\1\2\3", copy.read_text()))
            if text != page.read_text():
                changed[str(page.relative_to(ROOT))] = text
                if write:
                    page.write_text(text)
    return changed


def style(args: list[str]) -> int:
    """ruff format and ruff check --fix over the code and the pages' Python blocks."""
    ruff = [str(PY), "-m", "ruff"]
    os.chdir(ROOT)
    subprocess.run([*ruff, "format", *STYLE_PATHS], check=True)
    for page in format_pages(write=True):
        print(f"formatted {page}")
    return subprocess.run([*ruff, "check", "--fix", *STYLE_PATHS]).returncode


# --- the notebooks, for Colab ----------------------------------------------------------------

NOTEBOOKS_BRANCH = "notebooks"
BOT = "github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"


def source_commit() -> str:
    """The commit the site was built from: this checkout's HEAD (the stamps' commit)."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def publish_notebooks(args: list[str]) -> int:
    """`python3 tasks.py publish-notebooks SITE_DIR REMOTE [--branch notebooks]`: every
    ``*.ipynb`` of the built site, at its path on the site, as the one commit of BRANCH
    on REMOTE (force-pushed, a new orphan commit each time). Colab opens notebooks only
    from GitHub, and the build writes them (they are not committed): the pages' "Open in
    Colab" links point into this branch (overrides/main.html). Plain git, no other
    dependency (the deploy job runs it without the project's environment); with
    GITHUB_TOKEN set, the push to an https REMOTE authenticates with it, as
    actions/checkout does, kept out of the command line and of any file."""
    import argparse

    parser = argparse.ArgumentParser(prog="tasks.py publish-notebooks")
    parser.add_argument("site_dir", type=pathlib.Path)
    parser.add_argument("remote", help="a git remote URL or path")
    parser.add_argument("--branch", default=NOTEBOOKS_BRANCH)
    opts = parser.parse_args(args)
    site = opts.site_dir.resolve()
    notebooks = sorted(p.relative_to(site) for p in site.rglob("*.ipynb"))
    if not notebooks:
        print(f"publish-notebooks: no *.ipynb under {site}", file=sys.stderr)
        return 1
    remote = opts.remote
    if pathlib.Path(remote).exists():  # a local path: git runs in another folder
        remote = str(pathlib.Path(remote).resolve())
    sha = source_commit()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": BOT[0],
        "GIT_AUTHOR_EMAIL": BOT[1],
        "GIT_COMMITTER_NAME": BOT[0],
        "GIT_COMMITTER_EMAIL": BOT[1],
    }
    token = os.environ.get("GITHUB_TOKEN")
    if token and remote.startswith("https://"):
        import base64

        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    with tempfile.TemporaryDirectory(prefix="notebooks-") as tmp:
        work = pathlib.Path(tmp)

        def git(*cmd: str) -> None:
            subprocess.run(["git", "-C", tmp, *cmd], env=env, check=True)

        git("init", "--quiet")
        git("symbolic-ref", "HEAD", f"refs/heads/{opts.branch}")
        for rel in notebooks:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site / rel, work / rel)
        (work / "README.md").write_text(
            f"# Notebooks for Colab\n\n"
            f"Generated by the site's deploy from commit {sha}: every chapter and lab "
            f'notebook of the site, at its path there, for the pages\' "Open in Colab" '
            f"links. Do not edit: each deploy replaces this branch "
            f"(`python3 tasks.py publish-notebooks`).\n",
            encoding="utf8",
        )
        git("add", "--all")
        git(
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            f"Notebooks of the site built from {sha}",
        )
        git("push", "--quiet", "--force", remote, f"HEAD:refs/heads/{opts.branch}")
    print(f"published {len(notebooks)} notebooks of {sha} to {opts.branch}", flush=True)
    return 0


# --- the tests -------------------------------------------------------------------------------


def pytest_args() -> tuple[list[str], dict]:
    """Options every part's pytest gets from the environment: the Hypothesis seed."""
    seed = os.environ.get("HYPOTHESIS_SEED")
    if not seed:
        return [], {}
    if seed == "random":
        seed = str(random.SystemRandom().randrange(2**32))
    print(
        f"Hypothesis examples drawn from seed {seed}; replay a failure with "
        f"HYPOTHESIS_SEED={seed} python3 tasks.py test",
        flush=True,
    )
    return [f"--hypothesis-seed={seed}"], {"HYPOTHESIS_PROFILE": "random"}


def wheel_env(tmp: pathlib.Path) -> pathlib.Path:
    """A fresh virtualenv holding the project as a user installs it: the wheel, built from a
    copy of what pyproject.toml packages, installed without `-e`. Its dependencies (torch,
    numpy, pytest, ...) come from .venv through a path entry, not .venv's `.pth` files, so
    the editable install there, and with it the source tree, stays out of reach."""
    src, dist, env_dir = tmp / "src", tmp / "dist", tmp / "venv"
    shutil.copytree(
        ROOT / "snippets",
        src / "snippets",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        pip
        + [
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
    )
    subprocess.run([str(PY), "-m", "venv", "--without-pip", str(env_dir)], check=True)
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        pip
        + [
            "--python",
            str(python(env_dir)),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    ours = sysconfig.get_path(
        "purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}
    )
    theirs = subprocess.run(
        [str(PY), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    pathlib.Path(ours, "_dependencies_from_venv.pth").write_text(theirs.stdout)
    return env_dir


def unit_part(tmp: pathlib.Path, extra: list[str]) -> list[str]:
    """The unit tests and the labs, copied out of the tree, against the installed wheel."""
    env_dir = wheel_env(tmp)
    work = tmp / "work"
    for item in (
        "conftest.py",
        "pyproject.toml",
        "tests",
        "hooks/fences.py",
        "docs/notebooks",
    ):
        (work / item).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy2
        copy(
            ROOT / item,
            work / item,
            **(
                {"ignore": shutil.ignore_patterns("__pycache__")}
                if (ROOT / item).is_dir()
                else {}
            ),
        )
    where = subprocess.run(
        [str(python(env_dir)), "-c", "import snippets; print(snippets.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not pathlib.Path(where).resolve().is_relative_to(env_dir.resolve()):
        raise SystemExit(f"the unit part would test {where}, not the installed wheel")
    return [
        str(python(env_dir)),
        "-m",
        "pytest",
        "tests/unit",
        "docs/notebooks",
        *extra,
    ], work


def part_command(part: str, tmp: pathlib.Path, extra: list[str]):
    """The command of one part and the folder it runs in."""
    pytest = [str(PY), "-m", "pytest"]
    if part == "docs":  # the labs run in the unit part, against the wheel
        return pytest + ["docs", "README.md", "--ignore=docs/notebooks", *extra], ROOT
    if part == "unit":
        return unit_part(tmp, extra)
    # The browser tests by file, so that neither part collects (and imports) the other's
    # (a browser test in another file still runs, in the site part).
    if part == "site":
        skip = [f"--ignore={f}" for f in BROWSER_TESTS]
        return pytest + ["tests/site", *skip, *extra], ROOT
    if part == "browser":
        return pytest + [*BROWSER_TESTS, *extra], ROOT
    if part == "mutants":
        return pytest + ["tests/mutation", *extra], ROOT
    raise ValueError(part)


SUMMARY = re.compile(
    r"^=+ (.*\b(?:passed|failed|error|errors|skipped|no tests ran)\b.*) in "
    r"[\d.]+s(?: \([\d:]+\))? =+$",
    re.M,
)


def yield_to_site(part: str, parts: list[str]):
    """The build and the site's tests take longest, one after the other: when they run, the
    other parts run at a lower priority and take the CPU they leave (POSIX only)."""
    if part in SITE_PARTS or not set(SITE_PARTS) & set(parts) or os.name != "posix":
        return None
    return lambda: os.nice(5)


def build_for_tests(env: dict):
    """The site, built once for the site and browser parts by the test that runs the
    workflow's build step exactly as written (tests/site/conftest.py's ``built_site``: into
    site/, with an example repository where the build finds none). Its exit code, what it
    printed, and its seconds."""
    began = time.perf_counter()
    test = (
        "tests/site/test_workflows.py::test_the_build_step_as_written_builds_the_site"
    )
    proc = subprocess.run(
        [str(PY), "-m", "pytest", "-q", test],
        cwd=ROOT,
        env={k: v for k, v in env.items() if k != "SITE_DIR"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf8",
        errors="replace",
    )
    return proc.returncode, proc.stdout, time.perf_counter() - began


def run_site_part(built, part, tmp, extra, env, parts):
    """A part that tests the built site, once ``built`` (the build's future) is done."""
    code, output, _ = built.result()
    if code != 0:
        return 1, f"the build failed (exit {code}); its output is above", 0.0
    return run_part(part, tmp, extra, {**env, "SITE_DIR": "site"}, parts)


def run_part(
    part: str, tmp: pathlib.Path, extra: list[str], env: dict, parts: list[str]
):
    """One part, start to end (the unit part builds and installs its wheel first): its exit
    code and everything it printed."""
    began = time.perf_counter()
    try:
        cmd, cwd = part_command(part, tmp / part, extra)
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf8",
            errors="replace",
            preexec_fn=yield_to_site(part, parts),
        )
        code, output = proc.returncode, proc.stdout
    except (OSError, subprocess.CalledProcessError, SystemExit) as e:
        code, output = 1, f"the {part} part could not start: {e}"
    return code, output, time.perf_counter() - began


def test(parts: list[str], extra: list[str]) -> int:
    """Run the parts side by side, each a pytest process of its own; print each one's output
    as it ends, then one summary line. The build (for the site and browser parts, unless
    SITE_DIR names a built site) starts first, and those parts when it is done."""
    extra_args, extra_env = pytest_args()
    # Torch on one thread in every part: the parts already keep the cores busy side by side,
    # and a second torch thread only spins (a full run took 254-268 s of CPU with it, 234 s
    # without, on 2 cores). OMP_NUM_THREADS=2 python3 tasks.py test brings it back.
    env = {
        **os.environ,
        **ENV,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **extra_env,
    }
    start, totals, failed = time.perf_counter(), {}, []
    order = sorted(parts, key=lambda p: p not in SITE_PARTS)
    with (
        tempfile.TemporaryDirectory(prefix="tasks-test-") as tmp,
        ThreadPoolExecutor(len(order) + 1) as pool,
    ):
        for part in order:
            (pathlib.Path(tmp) / part).mkdir()
        runs, built = {}, None
        if set(SITE_PARTS) & set(parts) and "SITE_DIR" not in env:
            built = pool.submit(build_for_tests, env)
            runs[built] = "build"
        for part in order:
            args = (part, pathlib.Path(tmp), extra_args + extra, env, parts)
            if part in SITE_PARTS and built:
                runs[pool.submit(run_site_part, built, *args)] = part
            else:
                runs[pool.submit(run_part, *args)] = part
        for run in as_completed(runs):
            part, (code, output, seconds) = runs[run], run.result()
            print(
                f"\n{'#' * 30} {part}: exit {code}, {seconds:.1f} s {'#' * 30}\n{output}",
                flush=True,
            )
            if code != 0:
                failed.append(part)
            for count, word in re.findall(
                r"(\d+) (passed|failed|skipped|errors?)",
                (SUMMARY.findall(output) or [""])[-1],
            ):
                word = "error" if word.startswith("error") else word
                totals[word] = totals.get(word, 0) + int(count)
    counts = ", ".join(
        f"{totals.get(w, 0)} {w}" for w in ("passed", "failed", "skipped")
    )
    errors = f", {totals['error']} error" if totals.get("error") else ""
    summary = (
        f"{versions()}; parts: {', '.join(parts)}; failed: {', '.join(failed) or 'none'}; "
        f"{time.perf_counter() - start:.1f} s wall"
    )
    print(f"\n{summary}\n{counts}{errors}")
    # the job's page on Actions
    if step_summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(step_summary, "a", encoding="utf8") as f:
            f.write(f"{summary}\n\n**{counts}{errors}**\n")
    return 1 if failed else 0


def versions() -> str:
    # From the installed metadata: importing torch here would add 2 s to every run's end.
    code = (
        "import platform; from importlib.metadata import version as v; "
        'print(f\'Python {platform.python_version()}, torch {v("torch")}, '
        'numpy {v("numpy")}\')'
    )
    return subprocess.run(
        [str(PY), "-c", code], capture_output=True, text=True
    ).stdout.strip()


def run(cmd: list[str], extra_env: dict) -> int:
    env = {**os.environ, **extra_env}
    os.chdir(ROOT)
    # become the command: signals and the exit code go straight to it
    if os.name == "posix":
        os.execve(cmd[0], cmd, env)
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str]) -> int:
    verb, args = (argv[0], argv[1:]) if argv else ("", [])
    # Plain git: no .venv needed (the deploy job has none).
    if verb == "publish-notebooks":
        return publish_notebooks(args)
    if verb not in ("serve", "build", "test", "bench", "style"):
        print(__doc__, file=sys.stderr)
        return 2
    setup()
    if verb == "serve":
        return serve(args)
    if verb == "build":
        return build(args)
    if verb == "style":
        return style(args)
    if verb == "bench":
        return run([str(PY), "-m", "benchmarks", *args], ENV)
    parts = [a for a in args if a in PARTS]
    extra = [a for a in args if a not in PARTS]
    return test(parts or PARTS, extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

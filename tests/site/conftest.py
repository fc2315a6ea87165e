"""The built site the tests in this folder check: the one the workflow publishes; and the
browser they check it with.

``$SITE_DIR`` names a site that is already built (CI: the workflow's build step, which ran
just before); otherwise the fixture runs that build step itself, exactly as the workflow
writes it (``.github/workflows/site.yml``, step "Build the site"), so the command tested is
the command that publishes. Where that command finds no repository (no GITHUB_REPOSITORY, no
GitHub `origin`: tasks.py's ``site_env``), the fixture names ``EXAMPLE_REPO`` in REPO_URL, so
that the repository links are built and tested here too; on CI they are the real ones.

``origin`` serves that site on a local port and ``browser`` is a headless Chromium (Debian's
``chromium``, or the one named by $CHROMIUM), driven by Playwright; no Playwright-downloaded
browser is needed. Without a browser the tests that use it skip, except on CI (``CI=true``),
where they fail. Both are shared by tests/site/test_browser.py and tests/site/test_copy.py;
the tests of the latter that wait on its runs of copied code go last (the runs go on in the
background meanwhile, on the core the tests in the foreground leave free).
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.docblocks import ROOT

# imported where a browser is launched, not by every test of this folder
if TYPE_CHECKING:
    from playwright.sync_api import Browser

WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
EXAMPLE_REPO = "https://github.com/example-owner/executable-ml-notes"
BUILD_STEP = "Build the site"


def build_step() -> dict:
    """The workflow's build step: its ``run`` command, ``env`` and the folder it writes."""
    jobs = yaml.safe_load(WORKFLOW.read_text("utf8"))["jobs"]
    steps = [
        s
        for job in jobs.values()
        for s in job.get("steps", [])
        if s.get("name") == BUILD_STEP
    ]
    assert len(steps) == 1, f"{WORKFLOW.name}: {len(steps)} steps named {BUILD_STEP!r}"
    return steps[0]


@pytest.fixture(scope="session")
def built_site() -> pathlib.Path:
    """The site, as `python3 tasks.py build` writes it."""
    if given := os.environ.get("SITE_DIR"):
        site = (ROOT / given).resolve()
        assert (site / "index.html").is_file(), (
            f"$SITE_DIR={given}: no built site there"
        )
        return site
    step = build_step()
    env = {**os.environ, **{k: str(v) for k, v in step.get("env", {}).items()}}
    from tasks import github_repository

    if not github_repository():
        env.setdefault("REPO_URL", EXAMPLE_REPO)
    proc = subprocess.run(
        step["run"],
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        f"the workflow's build step `{step['run']}` failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    )
    return ROOT / "site"


# --- the browser ---------------------------------------------------------------------------

CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
)
NAMES = ("chromium", "chromium-browser", "google-chrome")
# Quiet and offline: no component updates, sync, or first-run fetches of Google's own.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> tuple[str | None, str]:
    """The browser to drive, and what was tried (for the skip message)."""
    if named := os.environ.get("CHROMIUM"):
        found = shutil.which(named) or (named if os.access(named, os.X_OK) else None)
        return found, f"$CHROMIUM={named}"
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path, ""
    for name in NAMES:
        if found := shutil.which(name):
            return found, ""
    return None, ", ".join(CANDIDATES) + " and " + ", ".join(NAMES) + " on $PATH"


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site quietly, with `sitemap.xml` pointing at this server.

    Material's instant navigation only intercepts links found in `sitemap.xml`, whose URLs start
    with `site_url`; served anywhere else, every click is a full page load and the re-rendering
    after a page swap would go untested. Rewriting the sitemap emulates serving at `site_url`.
    """

    site_url = ""  # set per server: the built site's `site_url`
    origin = ""  # set per server: `http://127.0.0.1:PORT`

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/sitemap.xml" or not self.site_url:
            return super().do_GET()
        body = pathlib.Path(self.directory, "sitemap.xml").read_bytes()
        body = body.replace(
            f"<loc>{self.site_url}".encode(), f"<loc>{self.origin}/".encode()
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def site_url_of(site: pathlib.Path) -> str:
    """`site_url` as the build used it: the home page's canonical link."""
    match = re.search(
        r'<link rel="canonical" href="([^"]+)"', (site / "index.html").read_text()
    )
    return match.group(1) if match else ""


def repo_url_of(site: pathlib.Path) -> str:
    """`repo_url` as the build used it: the header's repository link ("" when none)."""
    match = re.search(
        r'<a href="([^"]+)"[^>]*class="md-source"', (site / "index.html").read_text()
    )
    return match.group(1) if match else ""


@pytest.fixture(scope="session")
def origin(built_site: pathlib.Path) -> Iterator[str]:
    """`http://127.0.0.1:PORT`, serving the built site from a daemon thread."""
    handler = type("Handler", (SiteHandler,), {"site_url": site_url_of(built_site)})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(built_site))
    )
    server.daemon_threads = True
    host, port = server.server_address[:2]
    handler.origin = f"http://{host}:{port}"
    thread = threading.Thread(
        target=server.serve_forever, name="site-server", daemon=True
    )
    thread.start()
    try:
        yield handler.origin
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable, tried = find_chromium()
    if executable is None:
        message = (
            f"no Chromium to drive (tried {tried}): install one with "
            "`sudo apt-get install chromium`, or set $CHROMIUM to a Chrome/Chromium binary"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (a browser is required on CI)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


WAIT_ON_COPY_RUNS = (
    "test_every_copy_runs",
    "test_chapter_notebook_runs_top_to_bottom",
    "test_a_copy_without_its_setup_fails",
    "test_a_notebook_cell_that_fails_is_named",
)


def pytest_collection_modifyitems(items):
    """tests/site/test_copy.py's tests that wait on runs of copied code last: the runs, started
    once its browser has read the pages, go on while the other tests run."""
    last = [
        item for item in items if getattr(item, "originalname", "") in WAIT_ON_COPY_RUNS
    ]
    items[:] = [item for item in items if item not in last] + last

"""Every copy runs: what a code block's copy button puts on the clipboard runs in a fresh Python.

For every chapter (every ``docs/*.md`` with Python blocks) a headless Chromium reaches the built
page by following a link (Material's instant navigation swaps it in), opens every collapsed
block and clicks the copy button of every code block in page order (``button.click()`` in the
page, so that blocks in hidden tabs count too). Each click goes through Material's clipboard
handler (clipboard.js), which copies with ``execCommand('copy')`` from a textarea: the test
records that textarea's text from the ``copy`` event, and checks that the clipboard, read after
the last click, holds the last one. On the first page, one continuation block's button also
gets a real mouse click, and the clipboard after it is compared with what was recorded. Then:

* **The copy is what ran.** A block that runs on its own copies exactly its visible code. A
  ``continuation`` block copies the code its doc test executes: the blocks of its chain, in
  order (pytest-markdown-docs' own ``extract_fence_tests`` says what that is; only the blank
  lines it pads with to keep line numbers differ). Code blocks in other languages (none on the
  chapters today: the shell commands are on the landing and performance pages) must copy their
  visible code and are not run.
* **Every copy runs.** The copies of a chain are prefixes of each other (asserted), and code
  at the top level that completes without an exception also completes when cut at a block
  boundary, so only the longest copy of each chain runs: every block's code runs once.
* **The chapter's notebook runs.** The page's other way out, its download button, gives
  ``<chapter>.ipynb`` (tests/site/test_site.py checks its cells are the page's blocks); its code
  cells run in order in one namespace, as a kernel runs them, the way the copies do. Where
  the cells after the install cell are, line for line, the page's one copy (its blocks form
  one chain), that code runs once, as the copy, and the install cell runs on its own.

Each copy runs as ``python <file>`` would from a temporary folder outside the repository: in a
fresh process with a fresh ``__main__`` module, ``sys.path`` as a fresh interpreter there has
it (the repository off it; ``snippets`` comes from the package as installed), torch on one
thread. The processes are forked from a ``multiprocessing`` fork server that has already
imported torch, numpy and the few libraries the blocks import (tests/site/copy_runner.py), so a
run costs its code, not a 2 s torch import. The runs start once the browser is done, two at a
time at a lower priority, and go on while the other site tests run: tests/site/conftest.py puts
the tests that wait on them last. A failure names the page, the block it copied, the line and
the traceback. ``test_a_copy_without_its_setup_fails`` shows the check can fail: a continuation
block's own code, as Material copied it before the copies carried their chains, fails with a
NameError.

The browser gets a phone-sized window and stubs for KaTeX (``without_math``) and the search
index: math and search are test_browser.py's to check, and they would double the cost of each
page here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pytest_markdown_docs.plugin import (
    FenceSyntax,
    extract_fence_tests,
    parse_superfences_block_info,
)

from tests.docblocks import (
    DOCS,
    ROOT,
    Block,
    MkDocsFences,
    chapter_blocks,
    chapter_notebook,
)
from tests.site import copy_runner

pytestmark = pytest.mark.browser

BLOCKS = {path: chapter_blocks(path) for path in sorted(DOCS.rglob("*.md"))}
CHAPTERS = [path for path, blocks in BLOCKS.items() if blocks]
WORKERS = 2  # runs at a time (the machine has two cores)
RUN_TIMEOUT_S = 120  # one copy
TIMEOUT_MS = 10_000
POLL_MS = 50  # as in test_browser.py: not on every animation frame
# A phone's screen: Material's narrow layout (no sidebars) lays a page out in half the time, and
# every copy lays it out again (clipboard.js adds and removes a textarea).
VIEWPORT = {"width": 480, "height": 360}
PYTHON_CLASS = re.compile(r"\blanguage-(?:py|python|python3)\b")

# Ready once Material has given every code block its copy button.
BUTTONS_READY = """() => { const codes = document.querySelectorAll('.md-content pre > code');
    return codes.length > 0 && [...codes].every(
        c => c.parentElement.querySelector('button[data-md-type="copy"]')); }"""
# Go to a page as a reader does, by a link: Material's instant navigation fetches it and swaps
# it in (or, if it cannot, the browser loads it).
FOLLOW_LINK = """path => {
    document.querySelector('article').dataset.leaving = 'yes';
    const link = document.createElement('a');
    link.href = path;
    link.textContent = path;
    document.querySelector('.md-content').append(link);
    link.click(); }"""
ARRIVED = (
    """path => location.pathname === path && !document.querySelector('article[data-leaving]')
    && ("""
    + BUTTONS_READY
    + """)()"""
)
# Open every collapsed block (as a reader does to reach its button: a closed one copies
# nothing), click each code block's copy button in page order and record what each click copies
# (clipboard.js copies from a textarea: the copy event's target; "" if a click copies nothing),
# then read the clipboard.
COPY_ALL = """async timeout => {
    for (const details of document.querySelectorAll('.md-content details')) details.open = true;
    const copied = [];
    const listener = event => copied.push(event.target.value);
    document.addEventListener('copy', listener);
    const blocks = [];
    for (const block of document.querySelectorAll('.md-content div.highlight')) {
        const code = block.querySelector('pre > code');
        const button = block.querySelector('button[data-md-type="copy"]');
        const before = copied.length;
        if (button) button.click();
        blocks.push({classes: block.className, shown: code ? code.textContent : null,
                     buttons: block.querySelectorAll('button[data-md-type="copy"]').length,
                     copied: copied.length === before + 1 ? copied[before] : ''});
    }
    document.removeEventListener('copy', listener);
    const clipboard = await navigator.clipboard.readText();
    return {blocks, clipboard}; }"""
# The code blocks that scroll sideways at a desktop width (Material lays a page out with both
# sidebars from 1220 px): the first line of each, and its longest line.
WIDE_VIEWPORT = {"width": 1280, "height": 720}
# Every block is measured: collapsed boxes opened, every tab of a tab set shown.
SCROLLING = """() => {
    for (const details of document.querySelectorAll('.md-content details')) details.open = true;
    const style = document.head.appendChild(document.createElement('style'));
    style.textContent = '.tabbed-block { display: block !important; }';
    const wide = [...document.querySelectorAll('.md-content pre')]
        .map(pre => pre.querySelector(':scope > code') || pre)  // a lab's cells: the pre
        .filter(code => code.scrollWidth > code.clientWidth)
        .map(code => { const lines = code.textContent.split('\\n');
            return [lines[0], lines.reduce((a, b) => b.length > a.length ? b : a, '')]; });
    style.remove();
    return wide; }"""
# The labs (mkdocs-jupyter pages) are only measured; their cells are not Material's blocks.
LABS = sorted(f"/notebooks/{p.stem}/" for p in (DOCS / "notebooks").glob("*.py"))
LAB_ARRIVED = """path => location.pathname === path && !document.querySelector('article[data-leaving]')
    && document.querySelector('.jupyter-wrapper') !== null"""
LAB_SCROLLING: dict[str, list] = {}  # filled by the copies fixture
# A continuation block (it names the block it continues) on screen, for a real mouse click.
VISIBLE_CONTINUATION = """() => [...document.querySelectorAll('.md-content div.highlight')]
    .findIndex(block => block.hasAttribute('data-continues') && block.offsetParent !== null)"""


def page_path(chapter: pathlib.Path) -> str:
    rel = chapter.relative_to(DOCS).with_suffix("").as_posix()
    return "/" if rel == "index" else f"/{rel.removesuffix('/index')}/"


def name(chapter: pathlib.Path) -> str:
    return chapter.relative_to(ROOT).as_posix()


# --- what a copy should be ------------------------------------------------------------------


def chains(blocks: list[Block]) -> list[list[int]]:
    """For each block, the blocks its doc test runs (indices; itself last), read with
    pytest-markdown-docs' own option parser: a ``continuation`` block follows the chain of the
    previous block that runs. A block that does not run: itself."""
    out, previous = [], []
    for k, block in enumerate(blocks):
        if not block.runs:
            out.append([k])
            continue
        continues = "continuation" in parse_superfences_block_info(block.info)[1:]
        out.append((previous if continues else []) + [k])
        previous = out[-1]
    return out


def expected_copy(blocks: list[Block], chain: list[int]) -> str:
    """The clipboard after a click: the chain's code, one blank line between blocks (Material
    trims the end)."""
    return "\n\n".join(blocks[i].code.strip("\n") for i in chain).rstrip()


def without_padding(code: str) -> list[str]:
    """The lines of code that are not blank: pytest-markdown-docs pads a continuation with blank
    lines so that its line numbers are the chapter's (none where included code made the chain
    longer than the page)."""
    return [line for line in code.split("\n") if line.strip()]


def executed(chapter: pathlib.Path) -> dict[int, str]:
    """What pytest-markdown-docs executes for each block that runs, by the block's line."""
    return {
        t.start_line: t.source
        for t in extract_fence_tests(
            MkDocsFences(),
            chapter.read_text("utf8"),
            0,
            chapter,
            fence_syntax=FenceSyntax.superfences,
        )
    }


def maximal(blocks: list[Block], block_chains: list[list[int]]) -> list[int]:
    """The blocks that end a chain (no later block continues them): their copies are the
    longest ones, of which every other copy of the chain is a prefix."""
    continued = {c[-2] for c in block_chains if len(c) > 1}
    return [k for k, block in enumerate(blocks) if block.runs and k not in continued]


def notebook_script(cells: list[str]) -> str:
    """The cells as one script, each after an ``# In[k]:`` line."""
    return "\n\n".join(f"# In[{k}]:\n{code}" for k, code in enumerate(cells, 1))


def notebook_cell_at(cells: list[str], line: int) -> int:
    """The cell that holds line ``line`` of ``notebook_script(cells)``."""
    start = 1
    for k, code in enumerate(cells, 1):
        start += 1 + len(code.split("\n")) + 1  # the In line, the cell, the blank line
        if line < start:
            return k
    return len(cells)


# --- running a copy -------------------------------------------------------------------------


class CopyRunner:
    """Runs copies in fresh processes forked from a fork server that preloads the libraries;
    ``submit`` returns a Future of ``copy_runner.run_copy``'s result."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(copy_runner.PRELOAD)
        # The server starts with the first run, after the browser is done (its imports would
        # slow the browser down as much as the runs themselves).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        fresh = subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.sys_path = json.loads(fresh.stdout)  # a script's own folder goes first
        self.threads = ThreadPoolExecutor(WORKERS, thread_name_prefix="copy-run")

    def submit(self, text: str, stem: str) -> Future:
        return self.threads.submit(self.run, text, str(self.workdir / f"{stem}.py"))

    def run(self, text: str, filename: str) -> dict:
        receive, send = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=copy_runner.child,
            args=(send, text, filename, str(self.workdir), self.sys_path),
        )
        process.start()
        send.close()
        try:
            if receive.poll(RUN_TIMEOUT_S):
                return receive.recv()
            process.kill()
            return {
                "error": f"timed out after {RUN_TIMEOUT_S} s",
                "output": "",
                "seconds": 0.0,
            }
        except EOFError:
            process.join()
            return {
                "error": f"the process died (exit code {process.exitcode})",
                "output": "",
                "seconds": 0.0,
            }
        finally:
            process.join()
            receive.close()

    def close(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)


def where_it_failed(
    chapter: pathlib.Path,
    blocks: list[Block],
    chain: list[int],
    text: str,
    filename: str,
    error: str,
) -> str:
    """The copy's failing line (the last frame in the copy), and which chapter block it is in
    when the copy is the chain's code."""
    lines = [
        int(n) for n in re.findall(rf'File "{re.escape(filename)}", line (\d+)', error)
    ]
    if not lines:
        return "outside the copied code"
    line, start = lines[-1], 1
    if text != expected_copy(blocks, chain):
        return f"line {line} of the copy, which is not its chain's code"
    for i in chain:
        length = len(blocks[i].code.strip("\n").split("\n"))
        if line < start + length:
            return (
                f"line {line} of the copy is line {line - start + 1} of the block at "
                f"{name(chapter)}:{blocks[i].line}"
            )
        start += length + 1
    return f"line {line} of the copy"


def report(
    chapter: pathlib.Path,
    blocks: list[Block],
    chain: list[int],
    text: str,
    filename: str,
    result: dict,
) -> str:
    """A failed run, for a person: the block, its chain, the line, the traceback, the output."""
    first, last = blocks[chain[0]], blocks[chain[-1]]
    continued = (
        "the block at line"
        if len(chain) == 2
        else f"the {len(chain) - 1} blocks from line"
    )
    what = f"the copy of the block at {name(chapter)}:{last.line}" + (
        f" (it continues {continued} {first.line})" if len(chain) > 1 else ""
    )
    where = where_it_failed(chapter, blocks, chain, text, filename, result["error"])
    output = (
        f"\nits output ended:\n{result['output'][-1500:]}"
        if result["output"].strip()
        else ""
    )
    return f"{what} fails in a fresh Python; {where}\n{result['error']}{output}"


def without_math(route) -> None:
    """KaTeX stubbed out: rendering is test_browser.py's to check, a rendered formula is dozens
    of elements, and every copy lays the page out again (clipboard.js adds and removes a
    textarea). The stub leaves each formula's source as it is, marked as katex-init.js marks a
    rendered one (an empty ``.katex`` element), so that it logs no error for it."""
    if route.request.url.endswith("auto-render.min.js"):
        route.fulfill(
            content_type="text/javascript",
            body="""window.renderMathInElement =
            node => { node.appendChild(document.createElement('span')).className = 'katex'; };""",
        )
    elif route.request.url.endswith(".js"):
        route.fulfill(body="", content_type="text/javascript")
    else:  # KaTeX's stylesheet and fonts
        route.abort()


# --- the pages, copied --------------------------------------------------------------------


@dataclass
class PageCopies:
    chapter: pathlib.Path
    blocks: list[Block]
    chains: list[list[int]]
    copied: list[dict] = field(default_factory=list)  # every code block of the page
    # block: copy, file, run
    runs: dict[int, tuple[str, str, Future]] = field(default_factory=dict)
    clipboard: str = ""  # after the last click
    instant: bool = False  # reached by an instant-navigation swap, not a page load
    clicked: tuple[int, str] | None = (
        None  # a real mouse click: (block, clipboard after it)
    )
    error: str = ""
    notebook: tuple[list[str], str, Future] | None = None  # its code cells, file, run
    notebook_is_copy: bool = False  # its cells after the install cell are the one copy
    # code blocks wider than the page
    scrolling: list[list[str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def runner():
    with tempfile.TemporaryDirectory(prefix="copies-") as tmp:
        workdir = pathlib.Path(tmp).resolve()
        assert not workdir.is_relative_to(ROOT)
        runner = CopyRunner(workdir)
        try:
            yield runner
        finally:
            runner.close()


def mouse_click(page) -> tuple[int, str] | None:
    """A real click (the mouse on the block, then on its button) on a continuation block's copy
    button: the block (its index among the page's code blocks) and the clipboard after it."""
    k = page.evaluate(VISIBLE_CONTINUATION)
    if k < 0:
        return None
    block = page.locator(".md-content div.highlight").nth(k)
    block.hover()
    page.evaluate("() => navigator.clipboard.writeText('')")
    block.locator('button[data-md-type="copy"]').click()
    return k, page.evaluate("() => navigator.clipboard.readText()")


@pytest.fixture(scope="session")
def copies(browser, origin, built_site, runner) -> dict[pathlib.Path, PageCopies]:
    """Every chapter's page, each copy button clicked; the longest copy of each chain submitted
    to ``runner`` once the browser is done. The first page is loaded, the others reached by
    Material's instant navigation (as a reader following links gets them). The pages with the
    most code go first, and so do their runs (the longest)."""
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"], viewport=VIEWPORT
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/assets/katex/**", without_math)
    index = json.loads((built_site / "search" / "search_index.json").read_text("utf8"))
    # nobody searches here
    context.route(
        "**/search/search_index.json",
        lambda route: route.fulfill(json={"config": index["config"], "docs": []}),
    )
    page = context.new_page()
    pages = {}
    try:
        # Material intercepts links once it has read the sitemap (it fetches it after the load).
        with page.expect_response(lambda r: r.url.endswith("/sitemap.xml")):
            response = page.goto(origin + "/", wait_until="domcontentloaded")
        assert response is not None and response.ok, (
            f"GET /: {response and response.status}"
        )
        for chapter in sorted(
            CHAPTERS, key=lambda c: -sum(len(b.code) for b in BLOCKS[c])
        ):
            blocks = BLOCKS[chapter]
            found = pages[chapter] = PageCopies(chapter, blocks, chains(blocks))
            path = page_path(chapter)
            # gone after a reload
            page.evaluate("() => { window.__notReloaded = true; }")
            page.evaluate(FOLLOW_LINK, path)
            try:
                page.wait_for_function(ARRIVED, arg=path, polling=POLL_MS)
            except PlaywrightTimeoutError:
                found.error = (
                    f"{path} did not load, or its code blocks got no copy buttons"
                )
                continue
            found.instant = page.evaluate("() => window.__notReloaded === true")
            page.set_viewport_size(WIDE_VIEWPORT)
            found.scrolling = page.evaluate(SCROLLING)
            page.set_viewport_size(VIEWPORT)
            result = page.evaluate(COPY_ALL, TIMEOUT_MS)
            found.copied, found.clipboard = result["blocks"], result["clipboard"]
            python = [c for c in found.copied if PYTHON_CLASS.search(c["classes"])]
            if len(python) != len(blocks):
                found.error = (
                    f"the page has {len(python)} Python blocks, the chapter "
                    f"{len(blocks)}"
                )
            elif not any(p.clicked for p in pages.values()):
                found.clicked = mouse_click(page)
        page.set_viewport_size(WIDE_VIEWPORT)
        for path in LABS:
            page.evaluate(FOLLOW_LINK, path)
            page.wait_for_function(LAB_ARRIVED, arg=path, polling=POLL_MS)
            LAB_SCROLLING[path] = page.evaluate(SCROLLING)
    finally:
        context.close()
    # now: on two cores they would slow the browser down
    for (
        chapter,
        found,
    ) in pages.items():
        cells = [
            "".join(c["source"])
            for c in chapter_notebook(built_site, chapter)["cells"]
            if c["cell_type"] == "code"
        ]
        python = (
            []
            if found.error
            else [c for c in found.copied if PYTHON_CLASS.search(c["classes"])]
        )
        for k in maximal(found.blocks, found.chains):
            if python:
                stem = f"{chapter.stem}-line{found.blocks[k].line}"
                found.runs[k] = (
                    python[k]["copied"],
                    str(runner.workdir / f"{stem}.py"),
                    runner.submit(python[k]["copied"], stem),
                )
        stem = f"{chapter.stem}-notebook"
        found.notebook_is_copy = same_code_run(cells, found.runs)
        # the copy runs its code cells: here, the install cell
        if found.notebook_is_copy:
            found.notebook = (
                cells[:1],
                str(runner.workdir / f"{stem}.py"),
                runner.submit(notebook_script(cells[:1]), stem),
            )
        else:
            found.notebook = (
                cells,
                str(runner.workdir / f"{stem}.py"),
                runner.submit(notebook_script(cells), stem),
            )
    return pages


def same_code_run(cells: list[str], runs: dict[int, tuple[str, str, Future]]) -> bool:
    """Whether the notebook's code after its install cell is, line for line, the one copy that
    runs: a page whose blocks form one chain copies from its last block what its notebook
    holds (tests/site/test_site.py checks the cells are the page's blocks). That code then
    runs once, as the copy; the notebook's own run is its install cell (a no-op where the
    package is installed), which comes first in a kernel and defines nothing the cells use."""
    if len(runs) != 1 or not cells or "find_spec" not in cells[0]:
        return False
    ((text, _, _),) = runs.values()
    return without_padding("\n\n".join(cells[1:])) == without_padding(text)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=name)
def test_copy_is_what_ran(copies, chapter):
    """Each copy button copies its block, or for a continuation its chain, which is the code
    the block's doc test executes; a chain's copies are prefixes of one another."""
    found = copies[chapter]
    assert not found.error, f"{name(chapter)}: {found.error}"
    assert all(c["buttons"] == 1 for c in found.copied), (
        f"{name(chapter)}: a code block without exactly one copy button"
    )
    assert found.copied and found.clipboard == found.copied[-1]["copied"], (
        f"{name(chapter)}: the clipboard does not hold what the last click copied"
    )
    python = [c for c in found.copied if PYTHON_CLASS.search(c["classes"])]
    for other in (c for c in found.copied if not PYTHON_CLASS.search(c["classes"])):
        assert other["copied"] == other["shown"].rstrip(), (
            f"{name(chapter)}: a {other['classes']} block copies other text than it shows"
        )
    ran = executed(chapter)
    for k, (block, chain, html_block) in enumerate(
        zip(found.blocks, found.chains, python)
    ):
        where = f"{name(chapter)}:{block.line}"
        copied = html_block["copied"]
        if len(chain) == 1:
            assert copied == block.code.rstrip(), (
                f"{where}: the copy is not the visible code"
            )
        else:
            assert copied == expected_copy(found.blocks, chain), (
                f"{where}: a continuation copies other text than its chain "
                f"(from line {found.blocks[chain[0]].line})"
            )
            previous = python[chain[-2]]["copied"]
            assert copied.startswith(previous + "\n"), (
                f"{where}: the copy does not extend the copy of the block it continues"
            )
        if block.runs:
            assert without_padding(ran[block.line]) == without_padding(copied), (
                f"{where}: the copy is not what the doc test runs"
            )
        for module in copy_runner.NOT_YET_ATTRIBUTES:
            assert module not in copied or re.search(
                rf"(import|from) {re.escape(module)}\b", copied
            ), (
                f"{where}: uses {module} without importing it (fails in a fresh interpreter, "
                "not in the preloaded runs here)"
            )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=name)
def test_no_code_block_scrolls_sideways_at_1280px(copies, chapter):
    """At 1280 px (both sidebars shown) every line of code fits its block: ruff keeps code to
    88 columns (tests/site/test_style.py), and this checks that 88 columns fit the page."""
    found = copies[chapter]
    assert not found.error, f"{name(chapter)}: {found.error}"
    assert not found.scrolling, (
        f"{name(chapter)}: {len(found.scrolling)} code block(s) scroll sideways at "
        f"{WIDE_VIEWPORT['width']} px; their first and longest lines:\n"
        + "\n".join(
            f"  {first!r}\n  {longest!r} ({len(longest)} columns)"
            for first, longest in found.scrolling
        )
    )


@pytest.mark.parametrize("path", LABS)
def test_no_lab_cell_scrolls_sideways_at_1280px(copies, path):
    assert path in LAB_SCROLLING, f"{path} was not reached"
    assert not LAB_SCROLLING[path], (
        f"{path}: {len(LAB_SCROLLING[path])} block(s) scroll sideways at "
        f"{WIDE_VIEWPORT['width']} px; their first and longest lines:\n"
        + "\n".join(
            f"  {first!r}\n  {longest!r} ({len(longest)} columns)"
            for first, longest in LAB_SCROLLING[path]
        )
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=name)
def test_every_copy_runs(copies, chapter):
    """The longest copy of each chain runs in a fresh Python (and with it every prefix)."""
    found = copies[chapter]
    assert not found.error, f"{name(chapter)}: {found.error}"
    assert found.runs, f"{name(chapter)}: nothing ran"
    failures = []
    for k, (text, filename, run) in found.runs.items():
        result = run.result(timeout=RUN_TIMEOUT_S + 60)
        if result["error"]:
            failures.append(
                report(chapter, found.blocks, found.chains[k], text, filename, result)
            )
    if failures:
        pytest.fail(
            f"{len(failures)} of {len(found.runs)} copies fail:\n\n"
            + "\n\n".join(failures),
            pytrace=False,
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=name)
def test_chapter_notebook_runs_top_to_bottom(copies, chapter):
    """The notebook the page's download button gives runs in a fresh Python, its code cells in
    order in one namespace (as ``jupyter nbconvert --to script`` writes them, and as a kernel
    runs them)."""
    found = copies[chapter]
    cells, filename, run = found.notebook
    result = run.result(timeout=RUN_TIMEOUT_S + 60)
    # its other cells ran as the copy
    if not result["error"] and found.notebook_is_copy:
        ((_, _, copy_run),) = found.runs.values()
        copied = copy_run.result(timeout=RUN_TIMEOUT_S + 60)
        if copied["error"]:
            pytest.fail(
                f"{chapter.with_suffix('.ipynb').name}: its code cells after the install "
                f"cell are the copy of the page's last block, which fails in a fresh "
                f"Python (test_every_copy_runs says where):\n{copied['error']}",
                pytrace=False,
            )
    if result["error"]:
        lines = [
            int(n)
            for n in re.findall(
                rf'File "{re.escape(filename)}", line (\d+)', result["error"]
            )
        ]
        where = f"in code cell {notebook_cell_at(cells, lines[-1])}" if lines else ""
        output = (
            f"\nits output ended:\n{result['output'][-1500:]}"
            if result["output"]
            else ""
        )
        pytest.fail(
            f"{chapter.with_suffix('.ipynb').name} fails {where} in a fresh Python:\n"
            f"{result['error']}{output}",
            pytrace=False,
        )


def test_a_copy_without_its_setup_fails(runner):
    """The check can fail: a continuation block's own code (what its copy button gave before
    copies carried their chains) fails in a fresh Python, and the report names the block."""
    chapter = DOCS / "einsum.md"
    blocks = BLOCKS[chapter]
    k = next(k for k, chain in enumerate(chains(blocks)) if len(chain) > 1)
    filename = str(runner.workdir / "known-bad.py")
    result = runner.run(blocks[k].code, filename)  # now, not after the queued runs
    assert result["error"] and "NameError" in result["error"], result
    message = report(chapter, blocks, [k], blocks[k].code, filename, result)
    assert f"docs/einsum.md:{blocks[k].line}" in message and "NameError" in message, (
        message
    )


def test_a_notebook_cell_that_fails_is_named(runner):
    """The notebook check can fail, and says which cell: a cell using a name no cell defines."""
    cells = ["import torch\nx = torch.ones(2)", "y = x + 1\n\nz = y + w", "print(z)"]
    filename = str(runner.workdir / "known-bad-notebook.py")
    result = runner.run(notebook_script(cells), filename)
    assert result["error"] and "NameError" in result["error"], result
    line = int(
        re.findall(rf'File "{re.escape(filename)}", line (\d+)', result["error"])[-1]
    )
    assert notebook_cell_at(cells, line) == 2, (line, notebook_script(cells))


def test_a_mouse_click_copies_what_was_recorded(copies):
    """A real click on a continuation block's copy button puts its chain on the clipboard, as
    the recorded copy event said."""
    clicked = [(found, *found.clicked) for found in copies.values() if found.clicked]
    assert clicked, "no continuation block on screen to click"
    found, k, clipboard = clicked[0]
    assert clipboard == found.copied[k]["copied"] and "\n\n" in clipboard, (
        f"{name(found.chapter)}: a mouse click copied {clipboard[:200]!r}"
    )


def test_copies_are_read_after_instant_navigation(copies):
    """The pages were swapped in by Material's instant navigation (no reload), as a reader
    following links gets them: the copy texts, attributes of the blocks, come with the page."""
    instant = [name(c) for c, found in copies.items() if found.instant]
    assert len(instant) >= len(copies) - 1, (
        f"only {len(instant)} of {len(copies)} pages were reached without a reload: {instant}"
    )


def test_a_notebook_runs_once_only_where_it_is_the_copy():
    """Its cells after the install cell must be the page's one copy, line for line (blank
    lines aside), for the copy's run to stand for the notebook's."""
    install = "import importlib.util\nif importlib.util.find_spec('snippets') is None:\n    pass"
    cells = [install, "import torch\nx = torch.ones(2)", "y = x + 1"]
    one = {3: ("import torch\nx = torch.ones(2)\n\n\n\ny = x + 1", "f.py", Future())}
    assert same_code_run(cells, one)
    assert not same_code_run(cells[:2], one)  # a cell missing
    assert not same_code_run(cells[1:], one)  # no install cell
    # two copies
    assert not same_code_run(cells, {**one, 5: ("y = 2", "g.py", Future())})

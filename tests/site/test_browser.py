"""The built site, as a reader's browser sees it: headless Chromium against a local server.

Checks what `mkdocs build --strict` cannot: that KaTeX actually renders the math (also after
Material's instant navigation swaps a page in), that code blocks get their copy buttons, that
search finds the chapters, and that a page logs no errors and fetches nothing from another origin
(the site must work offline: vendored KaTeX, no Google Fonts).

The browser and the local server are the fixtures `browser` and `origin` of
tests/site/conftest.py (shared with tests/site/test_copy.py).
"""

from __future__ import annotations

import json
import pathlib
from html.parser import HTMLParser
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
# Waits poll every 50 ms, not on every animation frame (Playwright's default), which keeps the
# page drawing frames, on a core the other tests need, for as long as it waits.
POLL_MS = 50
# A sample of page kinds (every formula of every page is rendered by the test below): the
# chapter with the most display math, the performance page's figures, a notebook page
# (nbconvert markup), and the whole book on one page (mkdocs-print-site-plugin), every formula
# of it. The landing page and a chapter with tabs and admonitions (/einsum/, swapped in by
# instant navigation) get the same checks in the tests that open them below.
PAGES = ["/s4/", "/performance/", "/notebooks/score_models_lab/", "/print_page/"]
# The print page is every page at once (~210,000 elements, ~2,300 formulas): 2-4 s to load and
# render on a quiet machine, so it gets more than the other pages' 10 s.
PRINT_PAGE_TIMEOUT_MS = 40_000

# katex-init.js marks each `.arithmatex` element it has handled (rendered or not).
MATH_DONE = """() => [...document.querySelectorAll('.arithmatex')]
    .every(e => e.dataset.katex === 'done')"""


@dataclass
class Session:
    """One fresh browser context plus everything it logged and fetched."""

    origin: str
    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        response = self.page.goto(self.origin + path, wait_until="load")
        assert response is not None and response.ok, (
            f"GET {path}: {response and response.status}"
        )
        wait_for_math(self.page)

    def assert_clean(self) -> None:
        """No console errors, uncaught exceptions, failed loads, or other-origin requests."""
        assert self.requests, "no requests recorded"
        assert not self.foreign, f"requests to other origins: {self.foreign}"
        own = [u for u in self.requests if not u.startswith(("data:", "blob:"))]
        outside = [u for u in own if not u.startswith(self.origin + "/")]
        assert not outside, f"requests outside {self.origin}: {outside}"
        assert not self.errors, "browser errors:\n" + "\n".join(self.errors)


@pytest.fixture
def session(request, browser: Browser, origin: str, built_site) -> Iterator[Session]:
    """A fresh context. Its pages get an empty search index unless the test is marked
    ``search``: Material's worker indexes the whole site's text on every page load (about a
    second of CPU each), and only the search test searches."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    s = Session(origin, context, page)
    index = origin + "/search/search_index.json"
    empty = None
    if not request.node.get_closest_marker("search"):
        config = json.loads(
            (built_site / "search" / "search_index.json").read_text("utf8")
        )
        empty = json.dumps({"config": config["config"], "docs": []})

    def route(route) -> None:
        url = route.request.url
        if empty and url == index:
            route.fulfill(body=empty, content_type="application/json")
        elif url.startswith(origin + "/"):
            route.continue_()
        else:  # never let the page reach the network
            s.foreign.append(url)
            route.abort()

    def on_request(request: Request) -> None:
        s.requests.append(request.url)

    def on_response(response) -> None:
        if response.status >= 400:
            s.errors.append(f"HTTP {response.status}: {response.url}")

    def on_failed(request: Request) -> None:
        if request.url.startswith(origin + "/"):  # other origins are aborted by `route`
            s.errors.append(f"request failed ({request.failure}): {request.url}")

    context.route("**/*", route)
    context.on("request", on_request)
    context.on("response", on_response)
    context.on("requestfailed", on_failed)

    def on_console(message) -> None:
        if message.type == "error":
            s.errors.append(f"console: {message.text}")

    def on_page_error(error) -> None:
        s.errors.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield s
    finally:
        context.close()


def math_state(page: Page) -> dict[str, int]:
    return page.evaluate(
        """() => ({
            arithmatex: document.querySelectorAll('.arithmatex').length,
            katex: document.querySelectorAll('.arithmatex .katex').length,
            display: document.querySelectorAll('.arithmatex .katex-display').length,
            unrendered: [...document.querySelectorAll('.arithmatex')]
                .filter(e => !e.querySelector('.katex')).length,
            errors: document.querySelectorAll('.katex-error').length,
        })"""
    )


def wait_for_math(page: Page) -> None:
    """Wait until katex-init.js has handled every formula on the page."""
    try:
        page.wait_for_function(MATH_DONE, polling=POLL_MS)
    except PlaywrightTimeoutError:
        state = math_state(page)
        raise AssertionError(
            f"{page.url}: katex-init.js left math unhandled: {state}"
        ) from None


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_math_offline_without_errors(session: Session, path: str) -> None:
    if path == "/print_page/":
        session.page.set_default_timeout(PRINT_PAGE_TIMEOUT_MS)
    session.goto(path)
    math = math_state(session.page)
    assert math["errors"] == 0, f"{path}: {math['errors']} KaTeX errors"
    assert math["unrendered"] == 0, f"{path}: math left unrendered: {math}"
    if math["arithmatex"]:
        assert math["katex"] > 0, math
    if path.startswith("/notebooks/"):  # a lab downloads as a notebook, the lab's cells
        with session.page.expect_download() as info:
            session.page.locator('a[title="Download the notebook"]').click()
        assert info.value.suggested_filename == path.split("/")[-2] + ".ipynb"
        notebook = json.loads(pathlib.Path(info.value.path()).read_text("utf8"))
        assert (
            notebook["nbformat"] == 4
            and notebook["cells"][0]["cell_type"] == "markdown"
        )
        # the install cell, then the lab
        assert "find_spec" in notebook["cells"][1]["source"]
        check_colab_button(session.page, "notebooks/" + info.value.suggested_filename)
    # The print page is rendered without the theme's bundle (overrides/main.html): its math
    # comes from katex-init.js alone, which the checks above have just seen done.
    bundle = [r for r in session.requests if "/assets/javascripts/bundle." in r]
    assert bool(bundle) == (path != "/print_page/"), (path, bundle)
    if path in ("/s4/", "/print_page/"):  # inline and display math: not vacuous
        assert math["katex"] > math["display"] > 0, math
        # KaTeX's fonts come from the vendored woff2 files, not a fallback.
        loaded = session.page.evaluate(
            """async () => { await document.fonts.ready;
                return [...document.fonts].filter(f => f.family.replace(/"/g, '') === 'KaTeX_Main'
                                                     && f.status === 'loaded').length; }"""
        )
        assert loaded > 0, "KaTeX_Main font not loaded"
    session.assert_clean()


def test_math_in_headings_renders_in_the_table_of_contents(session: Session) -> None:
    """A heading's math reaches the table of contents as plain `\\(...\\)` text; katex-init.js
    renders it there too."""
    session.goto("/attention/")
    toc = session.page.evaluate(
        r"""() => [...document.querySelectorAll('.md-nav--secondary .md-nav__link')].map(a => ({
            text: a.textContent, katex: a.querySelectorAll('.katex').length}))"""
    )
    assert not [t for t in toc if "\\(" in t["text"]], toc
    assert sum(t["katex"] for t in toc) >= 3, toc  # S = QK^T, W_QK and W_OV
    session.assert_clean()


def test_instant_navigation_rerenders_math(session: Session) -> None:
    """Following a link swaps the page in without a reload; katex-init.js must render it again."""
    session.goto("/")
    page = session.page
    # The URL changes (pushState) before the new content is fetched and swapped in: wait for the
    # old article to leave the DOM, not for the URL.
    page.evaluate("() => { window.__noReload = true; }")
    page.evaluate("() => { window.__old = document.querySelector('article'); }")
    page.locator('.md-content a[href$="einsum/"]').first.click()
    page.wait_for_function(
        "() => window.__noReload !== true || !window.__old.isConnected"
    )
    instant = page.evaluate("() => window.__noReload === true")
    assert instant, "a full page load, not an instant swap"
    assert page.url == session.origin + "/einsum/", page.url
    wait_for_math(page)
    math = math_state(page)
    assert math["errors"] == 0 and math["unrendered"] == 0 and math["katex"] > 0, math
    session.assert_clean()


def search(page: Page, query: str) -> list[dict]:
    """The results of searching for ``query``: each one's page and its preview's text.

    Material searches the box's value on each keyup: the box is emptied (the results go) and
    filled with the whole query at once, so the results that appear are this query's, not a
    previous one's or a prefix's."""
    box = page.locator('input[data-md-component="search-query"]')
    for value in ("", query):
        box.fill(value)
        box.press("End")  # the keyup Material listens to
        if not value:
            page.wait_for_function(
                "() => !document.querySelector('.md-search-result__item')",
                polling=POLL_MS,
            )
    page.wait_for_selector(".md-search-result__item")
    return page.eval_on_selector_all(
        ".md-search-result__item a",
        """links => links.map(a => ({
        path: new URL(a.href).pathname, text: a.innerText}))""",
    )


@pytest.mark.search
def test_search_finds_chapters_and_names_used_in_code(session: Session) -> None:
    """Search finds a chapter by its subject, and a page by a name its code uses as a method
    (``x.unfold(...)``), whose previews show text, not TeX (``u(s)``, not ``\\(u(s)\\)``)."""
    session.goto("/")
    page = session.page
    page.keyboard.press("s")  # Material's shortcut: focus the search box
    page.wait_for_function(
        "() => document.activeElement?.matches('input[data-md-component=\"search-query\"]')"
    )
    for query, path in [
        ("einsum", "/einsum/"),
        ("unfold", "/conv/"),
        ("hippo", "/s4/"),
    ]:
        results = search(page, query)
        assert any(r["path"].startswith(path) for r in results), (query, results)
        tex = [r["text"] for r in results if "\\(" in r["text"] or "\\[" in r["text"]]
        assert not tex, (query, tex)
    session.assert_clean()


def test_landing_page_maps_the_chapters(session: Session) -> None:
    """The landing page lists every chapter, in the nav's order, with its snippet module."""
    session.goto("/")
    rows = session.page.eval_on_selector_all(
        ".md-content table tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))",
    )
    nav = session.page.eval_on_selector_all(
        ".md-nav--primary .md-nav__link", "links => links.map(a => a.innerText.trim())"
    )
    chapters = [f"{row[0]}. {row[1]}" for row in rows]  # numbered as in the nav
    assert chapters and chapters == [t for t in nav if t in chapters], (chapters, nav)
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1)), rows
    # A chapter's own module, or (a page of checks built on other chapters) the modules it uses.
    assert all(
        row[2].startswith("snippets.")
        or re.match(r"no module of its own; its blocks use snippets\.\w+", row[2])
        for row in rows
    ), rows
    session.assert_clean()


def test_chapter_shows_its_stamp_and_downloads_its_notebook(session: Session) -> None:
    """The verified-with stamp is on the page with its commit linked to the repository, the
    header links the repository and the page's edit button its source, the footer the chapters
    before and after it, and the download button gives the notebook."""
    session.goto("/conv/")
    page = session.page
    stamp = page.locator(".verified-stamp")
    assert stamp.is_visible()
    text = stamp.inner_text()
    assert "Verified with Python" in text and "pytest docs/conv.md" in text, text
    header = page.locator(".md-header a.md-source")
    assert header.is_visible()
    repo = header.get_attribute("href")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo or ""), repo
    commit = stamp.locator("a").filter(has=page.locator("code"))
    assert commit.is_visible() and re.fullmatch(
        re.escape(repo) + r"/commit/[0-9a-f]{40}", commit.get_attribute("href")
    ), repo
    edit = page.locator('a[rel="edit"]')
    assert (
        edit.is_visible()
        and edit.get_attribute("href") == repo + "/edit/main/docs/conv.md"
    )
    heading = page.locator("article h1").inner_text()
    number = int(re.match(r"(\d+)\. ", heading).group(1))
    previous, following = (
        page.locator(f".md-footer__link--{d}") for d in ("prev", "next")
    )
    assert previous.is_visible() and following.is_visible()
    assert re.search(rf"^Previous\s+{number - 1}\. ", previous.inner_text(), re.M), (
        previous.inner_text()
    )
    assert re.search(rf"^Next\s+{number + 1}\. ", following.inner_text(), re.M), (
        following.inner_text()
    )
    button = page.locator('a[title="Download this chapter as a notebook"]')
    assert button.is_visible()
    with page.expect_download() as info:
        button.click()
    import json

    notebook = json.loads(pathlib.Path(info.value.path()).read_text("utf8"))
    assert info.value.suggested_filename == "conv.ipynb"
    assert notebook["nbformat"] == 4 and any(
        c["cell_type"] == "code" for c in notebook["cells"]
    )
    check_colab_button(page, "conv.ipynb", repo)
    session.assert_clean()


def check_colab_button(page: Page, notebook: str, repo: str | None = None) -> None:
    """The "Open in Colab" button beside the download button: visible, with Colab's
    icon, opening ``notebook`` (its path on the site) from the repository's `notebooks`
    branch, where the deploy publishes the site's notebooks (not followed: the tests
    stay offline)."""
    repo = repo or page.locator(".md-header a.md-source").get_attribute("href")
    button = page.locator('a.md-content__button[title="Open in Colab"]')
    assert button.count() == 1 and button.is_visible(), page.url
    assert button.locator("svg").count() == 1
    expected = repo.replace(
        "https://github.com/", "https://colab.research.google.com/github/"
    )
    assert button.get_attribute("href") == f"{expected}/blob/notebooks/{notebook}"


class Formulas(HTMLParser):
    """The TeX of every ``.arithmatex`` element of a page, as katex-init.js finds it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.formulas: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif "arithmatex" in (dict(attrs).get("class") or "").split():
            self.depth = 1
            self.formulas.append("")

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.formulas[-1] += data


def test_every_formula_on_the_site_renders(
    session: Session, built_site: pathlib.Path
) -> None:
    """All the math of every page, rendered in one page by KaTeX with katex-init.js' delimiters
    and error handling: a formula KaTeX cannot parse fails here even on pages the tests above
    do not open."""
    formulas = []
    for page in sorted(built_site.rglob("*.html")):
        # every page's formulas again, rendered above
        if page.parent.name == "print_page":
            continue
        parser = Formulas()
        parser.feed(page.read_text("utf8"))
        formulas += [
            (str(page.relative_to(built_site)), f.strip()) for f in parser.formulas
        ]
    assert len(formulas) > 100, len(formulas)
    formulas.append(("a known-bad formula", r"\(\fracx\)"))  # the check can fail
    session.goto("/")
    failures = session.page.evaluate(
        r"""formulas => formulas.flatMap(([page, source]) => {
            const node = document.createElement('span');
            node.textContent = source;
            const errors = [];
            renderMathInElement(node, {
                delimiters: [{left: '\\(', right: '\\)', display: false},
                             {left: '\\[', right: '\\]', display: true}],
                errorCallback: (message, error) => errors.push(String(error?.message || message)),
            });
            if (!errors.length && !node.querySelector('.katex')) errors.push('not delimited');
            return errors.length ? [`${page}: ${source}: ${errors.join('; ')}`] : [];
        })""",
        formulas,
    )
    assert failures[-1].startswith("a known-bad formula"), failures[-1:]
    assert not failures[:-1], "\n".join(failures[:-1])

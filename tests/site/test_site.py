"""The built site shows exactly the Python blocks the doc tests run, and nothing else."""

import functools
import html
import json
import pathlib
import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from markdown_it import MarkdownIt

from tests.docblocks import (
    DOCS,
    NOTEBOOKS,
    PYTHON,
    ROOT,
    chapter_blocks,
    chapter_notebook,
    fence_lang,
    notebook_cells,
)
from tests.site.conftest import repo_url_of

CHAPTERS = sorted(DOCS.rglob("*.md"))
# pages that get a notebook and a stamp
WITH_CODE = [p for p in CHAPTERS if chapter_blocks(p)]
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.py"))


class CodeBlocks(HTMLParser):
    """Python code blocks of a page (``div.language-python.highlight``): title and text."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.blocks: list[dict] = []
        self.depth = 0  # div nesting inside the current block, 0 when outside
        self.field = None  # "code" or "title" while reading one

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.depth:
            self.depth += tag == "div"
            if tag == "code":
                self.field = "code"
            elif tag == "span" and "filename" in classes:
                self.field = "title"
        elif (
            tag == "div"
            and "highlight" in classes
            and any(c.removeprefix("language-") in PYTHON for c in classes)
        ):
            self.depth = 1
            self.blocks.append({"code": "", "title": ""})

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if (
            tag in ("code", "span")
            and self.field == {"code": "code", "span": "title"}[tag]
        ):
            self.field = None
        self.depth -= tag == "div"

    def handle_data(self, data):
        if self.depth and self.field:
            self.blocks[-1][self.field] += data

    def handle_entityref(self, name):
        self.handle_data(html.unescape(f"&{name};"))

    def handle_charref(self, name):
        self.handle_data(html.unescape(f"&#{name};"))


class NotebookCode(HTMLParser):
    """What a notebook page (mkdocs-jupyter) shows of its code cells, in order: the highlighted
    code (``div.highlight-ipynb``), the text its copy button copies (``div.clipboard-copy-txt``)
    and the input prompts (``In [k]:`` once executed)."""

    FIELDS = {
        "highlight-ipynb": "shown",
        "clipboard-copy-txt": "copied",
        "jp-InputPrompt": "prompts",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.copied: list[str] = []
        self.prompts: list[str] = []
        self.field = None  # the list being filled while inside one of those divs
        self.depth = 0  # div nesting inside it

    def handle_starttag(self, tag, attrs):
        if self.field is not None:
            self.depth += tag == "div"
            return
        classes = (dict(attrs).get("class") or "").split()
        for cls, name in self.FIELDS.items():
            if tag == "div" and cls in classes:
                self.field, self.depth = getattr(self, name), 1
                self.field.append("")

    def handle_endtag(self, tag):
        if self.field is not None:
            self.depth -= tag == "div"
            if not self.depth:
                self.field = None

    def handle_data(self, data):
        if self.field is not None:
            self.field[-1] += data


def page_html(site: pathlib.Path, chapter: pathlib.Path) -> str:
    """The built page of a chapter (MkDocs' directory URLs: x.md -> x/index.html)."""
    rel = chapter.relative_to(DOCS).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "index" else rel.parts
    return site.joinpath(*parts, "index.html").read_text("utf8")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_site_shows_what_ran(built_site, chapter):
    """Page by page, the Python blocks in the HTML are the chapter's blocks, same code, same
    order; the ones that run are the ones the doc tests collect; each one that does not run
    says why on the page."""
    parser = CodeBlocks()
    parser.feed(page_html(built_site, chapter))
    shown = parser.blocks
    blocks = chapter_blocks(chapter)
    assert len(shown) == len(blocks), (
        f"{chapter.relative_to(ROOT)}: the page shows {len(shown)} Python blocks, "
        f"the doc tests see {len(blocks)}"
    )
    for html_block, block in zip(shown, blocks):
        where = f"{chapter.relative_to(ROOT)}:{block.line}"
        assert html_block["code"].rstrip("\n") == block.code.rstrip("\n"), (
            f"{where}: the page shows other code than the doc test runs"
        )
        if not block.runs:
            assert (
                html_block["title"].startswith("Not run: ")
                and len(html_block["title"]) > 12
            ), (
                f"{where}: a notest block needs a visible reason, "
                '{.python notest title="Not run: <why>"}'
            )


@pytest.mark.parametrize(
    "notebook", NOTEBOOK_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_notebook_page_shows_what_ran(built_site, notebook):
    """A notebook's page shows (and copies) its code cells, same code, same order, as the
    notebook test runs them; the build executed each once, in order; the download button
    gives the lab as a notebook (.ipynb) of the cells that ran; and no Python appears outside
    the code cells."""
    import jupytext

    name = notebook.relative_to(ROOT)
    page = page_html(built_site, notebook)
    parser = NotebookCode()
    parser.feed(page)
    cells = notebook_cells(notebook)
    for field in ("shown", "copied"):
        html_cells = getattr(parser, field)
        assert len(html_cells) == len(cells), (
            f"{name}: the page has {len(html_cells)} code cells ({field}), the test runs "
            f"{len(cells)}"
        )
        for k, (html_cell, cell) in enumerate(zip(html_cells, cells), 1):
            assert html_cell.rstrip("\n") == cell.code.rstrip("\n"), (
                f"{name}:{cell.line}: code cell {k}: the page ({field}) is not what ran"
            )
    # &nbsp; to space
    executed = [" ".join(p.split()) for p in parser.prompts if p.strip()]
    assert executed == [f"In [{k}]:" for k in range(1, len(cells) + 1)], (
        f"{name}: the build did not execute every code cell once, in order: {executed}"
    )

    link = re.search(r'<a href="([^"]+)"[^>]*title="Download the notebook"', page)
    target = notebook.relative_to(DOCS).with_suffix(".ipynb").as_posix()
    assert link and link.group(1) == "../" + notebook.with_suffix(".ipynb").name, (
        f"{name}: no download button for {target}"
    )
    published = json.loads(built_site.joinpath(target).read_text("utf8"))
    assert published["nbformat"] == 4
    code = [c["source"] for c in published["cells"] if c["cell_type"] == "code"]
    check_install_cell(built_site, code[0], name)
    assert code[1:] == [c.code.rstrip("\n") for c in cells], (
        f"{target}: its code cells after the install cell are not the lab's"
    )
    source = jupytext.read(notebook)
    assert [
        c["source"] for c in published["cells"] if c["cell_type"] == "markdown"
    ] == [c.source for c in source.cells if c.cell_type == "markdown"], (
        f"{target}: prose differs"
    )

    blocks = CodeBlocks()
    blocks.feed(page)
    fences = [
        t
        for cell in jupytext.read(notebook).cells
        if cell.cell_type == "markdown"
        for t in MarkdownIt("commonmark").parse(cell.source)
        if t.type == "fence" and fence_lang(t.info) in PYTHON
    ]
    assert not blocks.blocks and not fences, (
        f"{name}: Python outside the code cells is shown but never run"
    )


@functools.cache
def nav_pages() -> tuple[str, ...]:
    """The pages of mkdocs.yml's nav, in reading order (``conv.md``, ``notebooks/s4_lab.py``)."""
    from mkdocs.config import load_config

    def pages(items):
        for item in items:
            for value in item.values() if isinstance(item, dict) else [item]:
                yield from pages(value) if isinstance(value, list) else [value]

    return tuple(pages(load_config(str(ROOT / "mkdocs.yml"))["nav"]))


def test_every_chapter_is_in_the_nav():
    """A chapter or notebook outside the nav is built but unreachable, and then nobody reads its
    checks."""
    assert sorted(nav_pages()) == sorted(
        str(p.relative_to(DOCS)) for p in CHAPTERS + NOTEBOOK_FILES
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_block_options_use_the_superfences_form(chapter):
    """`python notest` renders broken under superfences (literal backticks, the next block
    swallowed) although the build passes; `{.python notest}` is the form both tools read."""
    for block in chapter_blocks(chapter):
        info = block.info.strip()
        assert len(info.split()) == 1 or info.startswith("{"), (
            f"{chapter.relative_to(ROOT)}:{block.line}: write {{.python ...}}, not {info!r}"
        )


@pytest.mark.parametrize("chapter", WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_notebook_is_the_page(built_site, chapter):
    """Each chapter's notebook has the page's blocks that run as its code cells, same code,
    same order, and the page's download button gives it."""
    name = chapter.relative_to(ROOT)
    page = page_html(built_site, chapter)
    shown = CodeBlocks()
    shown.feed(page)
    ran = [
        b["code"].rstrip("\n")
        for b in shown.blocks
        if not b["title"].startswith("Not run")
    ]
    notebook = chapter_notebook(built_site, chapter)
    install, *code = [
        c["source"] for c in notebook["cells"] if c["cell_type"] == "code"
    ]
    check_install_cell(built_site, install, name)
    assert code == ran, f"{name}: the notebook's code cells are not the page's blocks"
    assert len(code) == sum(b.runs for b in chapter_blocks(chapter))
    prose = "\n".join(
        c["source"] for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    assert "--8<--" not in prose and "](" + chapter.name not in prose, (
        f"{name}: an include or a relative page link left in the notebook's prose"
    )
    link = re.search(
        r'<a href="([^"]+)"[^>]*title="Download this chapter as a notebook"', page
    )
    target = chapter.relative_to(DOCS).with_suffix(".ipynb").as_posix()
    assert link and link.group(1) == "../" + target, (
        f"{name}: no notebook download button"
    )


COLAB_LINK = re.compile(r'<a href="([^"]*)" title="Open in Colab"')


@pytest.mark.parametrize(
    "page", WITH_CODE + NOTEBOOK_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_opens_its_notebook_in_colab(built_site, page):
    """Every chapter with a notebook and every lab has an "Open in Colab" button:
    Colab's address of the file at the notebook's path on the site (the one the download
    button gives), on the branch the deploy publishes the notebooks to (tasks.py
    publish-notebooks, tested in test_workflows.py); that notebook's first code cell
    installs the package."""
    import tasks

    name = page.relative_to(ROOT)
    links = COLAB_LINK.findall(page_html(built_site, page))
    repo = repo_url_of(built_site).removeprefix("https://github.com/")
    prefix = (
        f"https://colab.research.google.com/github/{repo}/blob/"
        f"{tasks.NOTEBOOKS_BRANCH}/"
    )
    assert len(links) == 1 and links[0].startswith(prefix), f"{name}: {links}"
    path = links[0].removeprefix(prefix)
    assert path == page.relative_to(DOCS).with_suffix(".ipynb").as_posix(), (name, path)
    assert path.endswith(".ipynb") and (built_site / path).is_file(), (name, path)
    notebook = json.loads((built_site / path).read_text("utf8"))
    first = next(c["source"] for c in notebook["cells"] if c["cell_type"] == "code")
    check_install_cell(built_site, first, name)


def test_pages_without_a_notebook_have_no_colab_link(built_site):
    """The landing page, the performance page and any page without blocks that run."""
    without = [p for p in CHAPTERS if p not in WITH_CODE]
    assert without, "every page has a notebook: this test checks nothing"
    for page in without:
        assert not COLAB_LINK.search(page_html(built_site, page)), page.relative_to(
            ROOT
        )


def test_colab_links_need_a_repository_on_github(monkeypatch):
    """Without a repository (REPO_URL unset, see tasks.py's site_env), or with one
    elsewhere than GitHub (Colab opens GitHub's alone), no page gets a Colab address, so
    overrides/main.html shows no button."""
    from types import SimpleNamespace

    from hooks.site import COLAB, colab_url, on_page_context

    def page(src_uri, **meta):
        return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri), meta=meta)

    expected = {
        "conv.md": (
            "https://colab.research.google.com/github/o/r/blob/notebooks/conv.ipynb"
        ),
        "notebooks/s4_lab.py": (
            "https://colab.research.google.com/github/o/r/blob/notebooks/notebooks/"
            "s4_lab.ipynb"
        ),
        "performance.md": None,  # no notebook
    }
    for repo in (
        "https://github.com/o/r",
        "https://github.com/o/r.git",
        None,
        "",
        "https://gitlab.com/o/r",
    ):
        for src_uri, url in expected.items():
            chapter = page(
                src_uri, **({"notebook": "conv.ipynb"} if src_uri == "conv.md" else {})
            )
            on_page_context({}, chapter, {"repo_url": repo}, None)
            want = url if repo and "github.com" in repo else None
            assert chapter.meta.get(COLAB) == want, (repo, src_uri)
    assert colab_url(None, "conv.ipynb") is None


def head_sha() -> str:
    """The commit the build stamps: tasks.py's own answer (the publish step uses it too)."""
    import tasks

    return tasks.source_commit()


def check_install_cell(built_site, cell: str, name) -> None:
    """A published notebook's first code cell installs the package from the build's repository
    at this commit where `snippets` is missing (tests/site/test_copy.py runs it where it is
    installed, where it must do nothing)."""
    repo = repo_url_of(built_site)
    assert repo, "the site was built without a repository (see tests/site/conftest.py)"
    compact = re.sub(r'"\s+"', "", cell)  # the requirement's string, its pieces joined
    assert 'if importlib.util.find_spec("snippets") is None:' in cell, f"{name}: {cell}"
    assert f'"executable-ml-notes[book] @ git+{repo}@{head_sha()}"' in compact, (
        f"{name}: the first code cell does not install this commit's package:\n{cell}"
    )


@pytest.mark.parametrize("chapter", WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_has_a_verified_with_stamp(built_site, chapter):
    """The stamp names the versions these tests run with, this commit, and the command."""
    check_stamp(built_site, chapter)


@pytest.mark.parametrize(
    "notebook", NOTEBOOK_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_lab_notebook_has_a_verified_with_stamp(built_site, notebook):
    check_stamp(built_site, notebook)


def check_stamp(built_site, chapter):
    import platform
    import subprocess

    import numpy
    import torch

    page = page_html(built_site, chapter)
    stamp = re.search(r'<div class="verified-stamp">(.*?)</div>', page, re.S)
    assert stamp, f"{chapter.relative_to(ROOT)}: no verified-with stamp"
    text = html.unescape(re.sub(r"<[^>]+>", "", stamp.group(1)))
    commit = subprocess.run(
        ["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    for expected in (
        f"Python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"numpy {numpy.__version__}",
        f"commit {commit}",
        f"pytest docs/{chapter.relative_to(DOCS).as_posix()}",
    ):
        assert expected in text, (
            f"{chapter.relative_to(ROOT)}: the stamp lacks {expected!r}"
        )
    # The commit links to itself in the repository; the page's edit button to its source.
    repo = repo_url_of(built_site)
    assert (
        f'<a href="{repo}/commit/{head_sha()}"><code>{commit}</code></a>'
        in stamp.group(1)
    )
    edit = re.search(r'<a href="([^"]+)"[^>]*rel="edit"', page)
    source = chapter.relative_to(DOCS).as_posix()
    assert edit and edit.group(1) == f"{repo}/edit/main/docs/{source}", (
        f"{chapter.relative_to(ROOT)}: edit link {edit and edit.group(1)}"
    )


DEPRECATED = """
```python
import warnings

warnings.warn("this API is deprecated", {category})
```
"""


@pytest.mark.parametrize("category", ["DeprecationWarning", "FutureWarning"])
def test_a_deprecation_fails_a_doc_block(pytester, category):
    """The drift guard: with this repository's pytest settings, a block that triggers a
    deprecation fails (so the torch or numpy API it uses is about to change)."""
    import warnings

    settings = (ROOT / "pyproject.toml").read_text("utf8")
    pytester.makefile(".md", chapter=DEPRECATED.format(category=category))
    with warnings.catch_warnings():
        warnings.resetwarnings()  # only what the inner run's settings say, not this test's
        pytester.makepyprojecttoml(settings)
        result = pytester.runpytest_inprocess("chapter.md")
        result.assert_outcomes(failed=1)
        assert category in result.stdout.str()
        pytester.makepyprojecttoml(
            re.sub(r"\nfilterwarnings = \[.*?\n\]", "", settings, flags=re.S)
        )
        pytester.runpytest_inprocess("chapter.md").assert_outcomes(passed=1)  # no guard


CHAIN = """
```python
import pathlib

pathlib.Path("{name}.runs").open("a").write("first ")
def area(r):
    return PI * r * r       # PI: defined by a later block
```

```{.python continuation}
PI = 3.0
assert area(1.0) == 3.0
```

```{.python continuation}
assert {check}
```

```{.python continuation}
assert pathlib.Path("{name}.runs").read_text().split() == ["first"] * {runs}
```
"""


@pytest.fixture
def torch_imported():
    """torch, imported before pytester snapshots sys.modules: it drops what a test imports, and
    torch does not import twice in one process (this process's hook imports it for each test)."""
    import torch

    return torch


def test_a_chain_runs_each_block_once_and_a_failure_fails_what_follows(
    torch_imported, pytester, monkeypatch
):
    """tests/docblocks.py's ChainRunner: a page whose blocks continue one another runs each
    block once, in one namespace (a function of the first block sees a name the second
    defines); after a failing block, the next one runs its whole chain again and fails too.
    Two pages in one run (a pytest process costs 3 s here): one passes, one fails at its
    third block."""
    # --markdown-docs
    pytester.makepyprojecttoml((ROOT / "pyproject.toml").read_text("utf8"))
    for name, check, runs in [
        ("passes", "area(2.0) == 12.0", 1),
        ("fails", "area(2.0) == 0.0", 2),
    ]:
        page = CHAIN.replace("{check}", check).replace("{runs}", str(runs))
        pytester.makefile(".md", **{name: page.replace("{name}", name)})
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = (
        pytester.runpytest_subprocess(  # not in-process: that would import torch anew
            "passes.md",
            "fails.md",
            "-p",
            "tests.docblocks",
            "-p",
            "no:cacheprovider",
            "-rA",
        )
    )
    result.assert_outcomes(passed=6, failed=2)
    outcomes = re.findall(r"^(PASSED|FAILED) (\w+)\.md", result.stdout.str(), re.M)
    assert sorted(outcomes) == sorted(
        [("PASSED", "passes")] * 4
        + [("PASSED", "fails")] * 2
        + [("FAILED", "fails")] * 2
    ), outcomes


def test_lab_notebook_math_is_wrapped_for_katex():
    """mkdocs-jupyter leaves a Markdown cell's `$...$` as text; the build hook wraps each formula
    as arithmatex does, so katex-init.js renders it. Code cells and prose dollars stay as they
    are."""
    from hooks.site import notebook_math

    cell = (
        '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput">\n'
        r"<p>Inline $s(x) = \nabla_x \log p(x)$, a price of $5 and $6, and</p>"
        "\n"
        r"<p>$$\sum_i w_i = 1$$</p></div>"
    )
    code = '<div class="jp-CodeCell"><span class="s2">"$x_1$"</span></div>'
    assert notebook_math(cell + code) == (
        '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput">\n'
        r'<p>Inline <span class="arithmatex">\(s(x) = \nabla_x \log p(x)\)</span>, '
        "a price of $5 and $6, and</p>\n"
        r'<p><span class="arithmatex">\[\sum_i w_i = 1\]</span></p></div>' + code
    )


@pytest.mark.parametrize(
    "notebook", NOTEBOOK_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_lab_notebook_page_leaves_no_raw_math(built_site, notebook):
    """Every `$` formula of the lab's Markdown cells reached the page as arithmatex math."""
    import jupytext

    from hooks.site import DISPLAY_MATH, INLINE_MATH, MARKDOWN_CELL

    sources = "\n".join(
        c.source for c in jupytext.read(notebook).cells if c.cell_type == "markdown"
    )
    expected = len(DISPLAY_MATH.findall(sources)) + len(
        INLINE_MATH.findall(DISPLAY_MATH.sub("", sources))
    )
    cells = "".join(
        m[2] for m in MARKDOWN_CELL.finditer(page_html(built_site, notebook))
    )
    assert cells.count('class="arithmatex"') == expected
    assert not DISPLAY_MATH.search(cells) and not INLINE_MATH.search(cells)


@pytest.mark.parametrize(
    "notebook", NOTEBOOK_FILES, ids=lambda p: str(p.relative_to(ROOT))
)
def test_lab_page_links_jupyterlab_styles_once(built_site, notebook):
    """JupyterLab's stylesheet is one shared file that each lab page links, not ~570 KB
    inlined into each page (and parsed again by the search index on every build)."""
    from hooks.site import SHARED_STYLE_BYTES, STYLE

    page = page_html(built_site, notebook)
    inline = [len(m[1]) for m in STYLE.finditer(page)]
    assert max(inline, default=0) < SHARED_STYLE_BYTES, inline
    links = re.findall(
        r'<link rel="stylesheet" href="((?:\.\./)+assets/jupyter/\w+\.css)">', page
    )
    assert len(links) == 1, links
    css = (built_site / notebook.relative_to(DOCS).with_suffix("") / links[0]).resolve()
    assert css.is_file() and ".jupyter-wrapper" in css.read_text("utf8")[:2000]


def test_blocks_and_labs_import_only_what_the_package_declares():
    """A copied block or a downloaded lab runs where the package is installed with its `book`
    extra: what they import is the standard library, `snippets`, or a declared dependency."""
    import ast
    import sys
    import tomllib

    import jupytext

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf8"))["project"]
    declared = {
        re.match(r"[\w-]+", d).group(0).replace("-", "_")
        for d in project["dependencies"] + project["optional-dependencies"]["book"]
    }
    allowed = declared | set(sys.stdlib_module_names) | {"snippets"}
    sources = [
        (f"{p.relative_to(ROOT)}:{b.line}", b.code)
        for p in CHAPTERS
        for b in chapter_blocks(p)
    ]
    sources += [
        (str(p.relative_to(ROOT)), c.source)
        for p in NOTEBOOK_FILES
        for c in jupytext.read(p).cells
        if c.cell_type == "code"
    ]
    undeclared = []
    for where, code in sources:
        for node in ast.walk(ast.parse(code)):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            undeclared += [
                f"{where}: {n}" for n in names if n.split(".")[0] not in allowed
            ]
    assert not undeclared, (
        "imports outside pyproject.toml's dependencies and `book` extra:\n"
        + ("\n".join(undeclared))
    )
    assert declared >= {"torch", "numpy", "pytest", "einops", "matplotlib"}, declared


# ASCII controls but newline
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\t]")


def test_sources_hold_no_control_characters():
    """A TAB in a chapter is almost always a `\\t` that a Python string ate: `\\text` and `\\top`
    written through one come out as TAB + "ext" and TAB + "op", which KaTeX renders without an
    error (a TAB is whitespace to it)."""
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]!r}"
        for folder in (DOCS, ROOT / "snippets", ROOT / "includes")
        for path in sorted(folder.rglob("*"))
        if path.suffix in (".md", ".py")
        for n, line in enumerate(path.read_text("utf8").split("\n"), 1)
        if CONTROL_CHARACTERS.search(line)
    ]
    assert not found, "control characters:\n" + "\n".join(found)


def test_chapter_notebooks_hold_no_control_characters(built_site):
    """The same in the chapter notebooks the build writes (their cells' text, JSON decoded)."""
    found = [
        f"{chapter.relative_to(ROOT)} notebook, cell {i}: {line.strip()[:80]!r}"
        for chapter in WITH_CODE
        for i, cell in enumerate(chapter_notebook(built_site, chapter)["cells"])
        for line in "".join(cell["source"]).split("\n")
        if CONTROL_CHARACTERS.search(line)
    ]
    assert not found, "control characters:\n" + "\n".join(found)


def titled_nav_pages() -> list[tuple[str, str]]:
    """(title, source path) of every page of mkdocs.yml's nav, in reading order."""
    from mkdocs.config import load_config

    from hooks.site import nav_entries

    return list(nav_entries(load_config(str(ROOT / "mkdocs.yml"))["nav"]))


def test_chapters_are_numbered_in_reading_order(built_site):
    """Every page with Python blocks but the landing page is a numbered chapter, 1, 2, ... in
    the nav's order: "3. Optimisation" in the nav, the page's heading and its window title;
    the landing page, the labs and the pages without code (performance) are not numbered."""
    pages = titled_nav_pages()
    chapters = [
        uri
        for _, uri in pages
        if uri.endswith(".md") and uri != "index.md" and chapter_blocks(DOCS / uri)
    ]
    assert len(chapters) >= 10, chapters
    nav = [
        html.unescape(re.sub(r"<[^>]+>|\s+", " ", m).strip())
        for m in re.findall(
            r'<a href="[^"]*"\s+class="md-nav__link[^"]*">(.*?)</a>',
            (built_site / "index.html").read_text("utf8"),
            re.S,
        )
    ]
    for title, uri in pages:
        number = chapters.index(uri) + 1 if uri in chapters else None
        expected = f"{number}. {title}" if number else title
        assert expected in nav, (uri, expected, nav)
        page = page_html(built_site, DOCS / uri)
        if uri != "index.md":  # the landing page's window title is the site's name
            assert re.search(
                rf"<title>{re.escape(html.escape(expected, quote=False))} - ", page
            ), uri
        if uri.endswith(".md") and number:
            h1 = re.search(r"<h1[^>]*>(.*?)<", page).group(1)
            assert h1.startswith(f"{number}. "), (uri, h1)
    assert not [t for t in nav if re.match(r"\d+\. ", t) and t.endswith("lab")], nav


def url(uri: str) -> str:
    """A page's address in the site (MkDocs' directory URLs): ``conv.md`` -> ``/conv/``."""
    return (
        "/"
        + re.sub(r"(^|/)index$", "", uri.rsplit(".", 1)[0])
        + ("/" if uri != "index.md" else "")
    )


def test_footer_links_previous_and_next_in_reading_order(built_site):
    """Material's previous/next footer: each page links the pages before and after it in the
    nav (the first has no previous, the last no next)."""
    pages = titled_nav_pages()
    for k, (_, uri) in enumerate(pages):
        page = page_html(built_site, DOCS / uri)
        for direction, neighbour in (
            ("prev", pages[k - 1] if k else None),
            ("next", pages[k + 1] if k + 1 < len(pages) else None),
        ):
            link = re.search(
                rf'<a href="([^"]*)" class="md-footer__link '
                rf'md-footer__link--{direction}"',
                page,
            )
            if neighbour is None:
                assert link is None, (uri, direction)
                continue
            assert link, f"{uri}: no {direction} link in the footer"
            assert urljoin(url(uri), link.group(1)) == url(neighbour[1]), (
                uri,
                direction,
            )


def test_repository_comes_from_ci_or_the_origin_remote(monkeypatch, tmp_path):
    """tasks.py's site_env: REPO_URL from CI's GITHUB_REPOSITORY, else from a GitHub `origin`
    remote (https or ssh), else none; a REPO_URL already set wins."""
    import subprocess

    import tasks

    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    for name in ("GITHUB_REPOSITORY", "REPO_URL", "SITE_URL"):
        monkeypatch.delenv(name, raising=False)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert "REPO_URL" not in tasks.site_env()  # no remote: no repository links
    for remote in (
        "https://github.com/Owner/notes.git",
        "git@github.com:Owner/notes.git",
        "https://github.com/Owner/notes",
        "ssh://git@github.com/Owner/notes.git",
    ):
        subprocess.run(
            ["git", "-C", str(tmp_path), "remote", "remove", "origin"],
            capture_output=True,
        )
        subprocess.run(
            ["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True
        )
        assert tasks.site_env()["REPO_URL"] == "https://github.com/Owner/notes", remote
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "remote",
            "set-url",
            "origin",
            "https://gitlab.com/Owner/notes.git",
        ],
        check=True,
    )
    # not GitHub: no Colab, no GitHub-style links
    assert "REPO_URL" not in tasks.site_env()
    monkeypatch.setenv("GITHUB_REPOSITORY", "ci-owner/ci-notes")
    env = tasks.site_env()
    assert env["REPO_URL"] == "https://github.com/ci-owner/ci-notes"
    assert env["SITE_URL"] == "https://ci-owner.github.io/ci-notes/"
    monkeypatch.setenv("REPO_URL", "https://github.com/mine/fork")
    assert "REPO_URL" not in tasks.site_env()  # the one set in the environment stays


def test_without_a_repository_the_build_links_none(monkeypatch, caplog):
    """With no repository known, no edit links (MkDocs would warn on every page and fail the
    strict build), the stamp's commit is plain text and the notebooks have no install cell
    (their header says how to install instead). Every plugin's on_config runs, in MkDocs'
    order: print-site makes its page there, and warned when the hook dropped edit_uri after it
    (the site tests build with a repository, so only this catches it)."""
    from mkdocs.config import load_config

    from hooks.site import commit_link, install_cell, on_config, provenance

    monkeypatch.delenv("REPO_URL", raising=False)
    config = load_config(str(ROOT / "mkdocs.yml"))
    with caplog.at_level("WARNING", logger="mkdocs"):
        config = config.plugins.on_config(config)
    assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert config["repo_url"] is None and config["edit_uri"] is None
    monkeypatch.setenv("REPO_URL", "https://github.com/o/r")
    config = on_config(load_config(str(ROOT / "mkdocs.yml")))
    assert config["edit_uri"] == "edit/main/docs/"

    assert commit_link(None) == f"`{provenance()['commit']}`"
    assert install_cell(None) is None
    assert "/commit/" in commit_link("https://github.com/o/r") and install_cell(
        "https://github.com/o/r"
    )


# --- search and the print page --------------------------------------------------------------


def search_index(site: pathlib.Path) -> dict:
    import json

    return json.loads((site / "search" / "search_index.json").read_text("utf8"))


def pages_where_search_finds(index: dict, word: str, separator: str) -> set[str]:
    """The pages with an entry that has ``word`` among its words, split by ``separator`` as
    Material's search splits the text it indexes and the query (in the browser, a JavaScript
    regex; this one reads the same in Python)."""
    return {
        entry["location"].split("#")[0]
        for entry in index["docs"]
        if word
        in re.split(separator, html.unescape(entry["title"] + " " + entry["text"]))
    }


def test_search_finds_names_used_in_code(built_site):
    """A name that a page uses as a method (``x.unfold(2, K, 1)``, ``x.as_strided(...)``) is a
    word of the search index, so searching for it finds the page; with Material's default
    separator (spaces and hyphens) it is part of ``x.unfold(2,`` and found nowhere."""
    index = search_index(built_site)
    separator = index["config"]["separator"]
    assert "conv/" in pages_where_search_finds(index, "unfold", separator)
    assert "einsum/" in pages_where_search_finds(index, "as_strided", separator)
    assert "conv/" not in pages_where_search_finds(index, "unfold", r"[\s\-]+")


def test_search_previews_show_no_tex(built_site):
    """The search index holds each formula as text (``u(s)``), not its TeX source
    (``\\(u(s)\\)``), which the result previews would show; code keeps its backslashes
    (``match=r"size \\[41, 12\\]"`` is code, not math)."""
    from hooks.site import CODE

    index = search_index(built_site)
    tex = [
        f"{entry['location']}: {part[max(0, part.find(delim) - 40) :][:100]!r}"
        for entry in index["docs"]
        for k, part in enumerate(CODE.split(entry["title"] + "\n" + entry["text"]))
        for delim in ("\\(", "\\[", "\\)", "\\]")
        if k % 2 == 0 and delim in part
    ]
    assert not tex, "TeX in the search index:\n" + "\n".join(tex[:10])
    hippo = [e["text"] for e in index["docs"] if e["location"].startswith("s4/#hippo")]
    assert hippo and "u(s)" in hippo[0], hippo[:1]  # the page's \\(u(s)\\), as text


def test_search_previews_turn_tex_into_text():
    """What the build hook makes of the formulas it finds in the search index."""
    from hooks.site import plain_math, plain_search_math

    assert plain_math(r"\frac{\partial L}{\partial \theta_{i}}") == "(∂ L)/(∂ θ_i)"
    assert (
        plain_math(r"S = QK^\top,\ \lVert x \rVert_2 \le \tfrac12")
        == "S = QKᵀ, ‖ x ‖_2 ≤ 1/2"
    )
    assert plain_math(r"\mathbb{E}\big[\log \sigma(z)\big] \in \{0, 1\}") == (
        "E[log σ(z)] ∈ {0, 1}"
    )
    assert plain_search_math(
        r"<p>the path \(u(s)\) and \[\sum_i w_i\]</p>"
        r'<pre><code>match=r"\(x\)"</code></pre>'
    ) == (r'<p>the path u(s) and ∑_i w_i</p><pre><code>match=r"\(x\)"</code></pre>')


def headings(page: str) -> list[str]:
    """The text of a page's ``h1`` headings."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", h)).strip("¶ \n")
        for h in re.findall(r"<h1\b[^>]*>(.*?)</h1>", page, re.S)
    ]


def test_print_page_is_the_book_in_reading_order(built_site):
    """print_page/ (mkdocs-print-site-plugin) holds every page of the nav, in the nav's order,
    each with its heading and its Python blocks as the doc tests run them; so printed or
    saved, it is the book that was checked."""
    page = (built_site / "print_page" / "index.html").read_text("utf8")
    sections = re.split(r'<section class="print-page" id="([^"]+)"', page)
    keys, bodies = sections[1::2], sections[2::2]
    uris = nav_pages()
    assert keys == [re.sub(r"\.\w+$", "", uri).replace("/", "-") for uri in uris], keys
    for uri, body in zip(uris, bodies):
        heading = headings(page_html(built_site, DOCS / uri))[:1]
        assert heading and headings(body)[:1] == heading, (
            uri,
            heading,
            headings(body)[:1],
        )
    shown = CodeBlocks()
    shown.feed(page)
    ran = [
        b.code.rstrip("\n")
        for uri in uris
        if uri.endswith(".md")
        for b in chapter_blocks(DOCS / uri)
    ]
    assert [b["code"].rstrip("\n") for b in shown.blocks] == ran


def test_readme_example_is_a_block_of_the_einsum_chapter():
    """The README's example is one of the einsum chapter's blocks that run, word for word: the
    book's code in one place, quoted, never a variant that only the README has."""
    blocks = [
        t.content
        for t in MarkdownIt("commonmark").parse((ROOT / "README.md").read_text("utf8"))
        if t.type == "fence" and fence_lang(t.info) in PYTHON
    ]
    ran = {b.code for b in chapter_blocks(DOCS / "einsum.md") if b.runs}
    assert blocks and all(code in ran for code in blocks), blocks


# --- each piece of code once per page (issue 17) ----------------------------------------------

REPEAT_LIMIT = (
    0.05  # at most this share of a page's counted code lines repeat earlier ones
)
TRIVIAL = re.compile(
    r"[\s()\[\]{},:;]*|else:|try:|finally:|pass|return|continue|break|\.\.\.|"
    r'"""|\'\'\''
)
# one line, no brackets
IMPORT = re.compile(r"(?:from [\w.]+ )?import [\w., ]+(?: as \w+)?")
DEFINITION = re.compile(r"(?:async\s+)?(?:def|class)\s+(\w+)")


def docstring_lines(code: str) -> set[int]:
    """The line numbers (from 0) of the docstrings in ``code``: prose, not code; two functions
    may well say the same thing (``Dtypes: float32, float64.``)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    lines = set()
    for node in ast.walk(tree):
        if isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                lines.update(range(body[0].lineno - 1, body[0].end_lineno))
    return lines


def logical_lines(code: str) -> list[tuple[int, str]]:
    """The lines of ``code`` as Python reads them: a statement, or a signature, the formatter
    spread over several lines is one line, its pieces joined by single spaces (so that two
    signatures sharing `x: Tensor,` on a line of its own are not a repeat). Each with the
    number (from 0) of its first line; physical lines where the code does not tokenize."""
    import io
    import tokenize

    lines = code.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [(i, line.strip()) for i, line in enumerate(lines)]
    found, start = [], None
    for tok in tokens:
        if tok.type in (tokenize.NL, tokenize.COMMENT) and start is None:
            if tok.type == tokenize.COMMENT:
                found.append((tok.start[0] - 1, tok.string.strip()))
            continue
        if tok.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        if start is None:
            start = tok.start[0]
        if tok.type == tokenize.NEWLINE:
            end = tok.start[0]
            text = " ".join(l.strip() for l in lines[start - 1 : end] if l.strip())
            found.append((start - 1, text))
            start = None
    return found


def repeats(blocks: list[str], run: int = 3) -> dict:
    """What a reader scrolls through on a page whose Python blocks are ``blocks`` (in page
    order, collapsed boxes included): the counted code lines (not blank, not docstrings, not
    trivially common like lone brackets or ``else:``; a one-line import counts once, where
    first shown: a block that stands alone may import again what it uses), how many of them
    repeat code already shown on the page, and the top-level functions and classes shown twice:
    the same definition, word for word (two different examples may each be called ``f``). A repeat is a run of at least ``run`` counted lines in a row of one block,
    each already shown on the page (compared without indentation): a piece of code shown
    again, not an idiom of a line or two that two checks share (``dL_dy =
    torch.randn_like(y)``; ``opt.step()`` then ``return theta.detach()``). Duplicate-code
    detectors draw the same line, looser: pylint's ``min-similarity-lines`` is 4."""
    seen, counted, repeated, defined = set(), 0, 0, {}
    for k, code in enumerate(blocks):
        prose, streak = docstring_lines(code), 0
        for definition in definitions(code):
            defined.setdefault(definition, []).append(k + 1)
        for i, text in logical_lines(code):
            if (
                i in prose
                or TRIVIAL.fullmatch(text)
                or (text in seen and IMPORT.fullmatch(text))
            ):
                continue
            counted += 1
            if text in seen:
                streak += 1
                repeated += run if streak == run else streak > run
            else:
                streak = 0
            seen.add(text)
    return {
        "lines": counted,
        "repeated": repeated,
        "share": repeated / counted if counted else 0.0,
        "twice": {
            DEFINITION.match(d)[1]: at for d, at in defined.items() if len(at) > 1
        },
    }


def definitions(code: str) -> list[str]:
    """The top-level functions and classes of a block, each as its text from its ``def`` or
    ``class`` line to the next unindented line, trailing blank lines and spaces dropped."""
    found, lines = [], code.split("\n")
    for i, line in enumerate(lines):
        if DEFINITION.match(line):
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j][0].isspace()):
                j += 1
            found.append("\n".join(l.rstrip() for l in lines[i:j]).rstrip())
    return found


def page_code(site: pathlib.Path, chapter: pathlib.Path) -> list[str]:
    parser = CodeBlocks()
    parser.feed(page_html(site, chapter))
    return [b["code"] for b in parser.blocks]


def test_each_piece_of_code_is_shown_once_per_page(built_site):
    """On every page, no function or class is shown twice (a later block continues from the
    one that taught it, or imports it, never both), and at most 5% of the code lines a reader
    sees repeat lines already shown on that page."""
    report = {
        str(c.relative_to(ROOT)): repeats(page_code(built_site, c)) for c in WITH_CODE
    }
    table = "\n".join(
        f"  {page:32} {r['repeated']:4}/{r['lines']:<5} {r['share']:6.1%}"
        + (
            f"  shown twice: {', '.join(f'{n} (blocks {at})' for n, at in r['twice'].items())}"
            if r["twice"]
            else ""
        )
        for page, r in report.items()
    )
    bad = [
        page for page, r in report.items() if r["twice"] or r["share"] > REPEAT_LIMIT
    ]
    assert not bad, (
        f"pages that show code twice: {', '.join(bad)}\n"
        f"  page                             repeated/lines\n{table}"
    )


def test_repeats_counts_what_a_reader_sees_again():
    # another f: an example of its own
    r = repeats(
        [
            "import torch\ndef f(x):\n    return x + 1\n",
            "import torch\n\n)\nf(2)\n",
            "def f(x):\n    return x + 1\n",
            "y = 2\nf(2)\ny = 3\n",
            "def f(x):\n    return x + 2\n",
        ],
        run=2,
    )
    assert (r["lines"], r["repeated"], r["twice"]) == (11, 2, {"f": [1, 3]})
    # two lines: under the default run of 3
    assert (
        repeats(["from a import b\nx = 1\ny = 2\n", "from a import b\nx = 1\ny = 2\n"])[
            "repeated"
        ]
        == 0
    )
    assert (
        repeats(["x = 1\ny = 2\nz = 3\n", "x = 1\ny = 2\nz = 3\nw = 4\n"])["repeated"]
        == 3
    )
    assert (
        repeats(
            ['def g():\n    """Same words."""\n', 'def h():\n    """Same words."""\n']
        )["repeated"]
        == 0
    )


@pytest.mark.parametrize("chapter", WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_copy_chains_are_links_not_copies(built_site, chapter):
    """A continuation block names the block it continues, one earlier on the page, and carries
    no copy of its chain (copy-chain.js assembles that at the click; tests/site/test_copy.py
    checks what it copies): a page's HTML grows with its code, not with the code's square."""
    page = built_site / chapter.relative_to(DOCS).with_suffix("") / "index.html"
    text = page.read_text("utf8")
    assert "data-copy=" not in text, chapter
    tags = re.findall(
        r"<div ([^>]*)class=\"language-(?:py|python|python3) highlight\"", text
    )
    ids = [re.search(r'\bid="([^"]+)"', t) for t in tags]
    seen = set()
    for tag, found in zip(tags, ids):
        if link := re.search(r'data-continues="([^"]+)"', tag):
            assert link.group(1) in seen, (chapter, tag)
        if found:
            seen.add(found.group(1))
    assert any("data-continues" in t for t in tags), (
        f"{chapter}: no continuation blocks"
    )

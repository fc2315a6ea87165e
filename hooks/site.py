"""Build hook (``hooks:`` in mkdocs.yml): what MkDocs adds to the pages at build time.

* **A notebook per chapter.** Every page with Python blocks is also written as
  ``<chapter>.ipynb``: snippet includes expanded, prose as Markdown cells, each block that the
  doc tests run as a code cell, in page order; the page gets a "Download notebook" button
  (``overrides/main.html``). ``tests/site/test_site.py`` runs each one and compares it with
  the page. Each lab (a jupytext file) is written as ``notebooks/<lab>.ipynb`` too, the file
  its page's download button gives. Where the build knows the repository (``repo_url``), a
  notebook's first code cell installs the package from it when it is missing, and (on
  GitHub) the page gets an "Open in Colab" button too, pointing into the branch that the
  deploy publishes the notebooks to (``tasks.py publish-notebooks``).
* **Chapter numbers** in the nav's reading order, in the nav (so in the previous/next footer)
  and in each chapter's heading.
* **A verified-with stamp** at the bottom of each such page and of each lab notebook: the Python, torch and numpy
  versions and the commit of this build (a link to it in the repository, when known), and the
  command that re-runs the page's blocks.
  CI publishes a build only after every test passed with that environment and commit.
* **The chapter map** on the landing page, from the nav and each snippet module's docstring
  and ``__all__`` (read with ``ast``, nothing imported).
* **Math in the lab notebooks.** mkdocs-jupyter leaves ``$...$`` and ``$$...$$`` in Markdown
  cells as text (nbconvert expects MathJax); each formula is wrapped the way
  pymdownx.arithmatex wraps the chapters' math, so ``katex-init.js`` renders it and the
  browser tests check it like any other.
* **The performance figures**, drawn from ``benchmarks/results/<machine>/*.json`` by
  ``benchmarks/plots.py``.
* **Every copy runs.** A ``continuation`` block's doc test runs the blocks it continues first;
  its copy button copies them too (Material reads a ``data-copy`` attribute on the block in
  place of the visible code, which ``copy-chain.js`` sets at the click from the blocks of the
  chain, each naming the block it continues), so what a reader pastes into a fresh Python is
  what ran. The
  block says so in a caption above it that links to the first block of its chain. A block
  that runs on its own keeps Material's copy of its visible code. ``tests/site/test_copy.py``
  clicks every copy button and runs what it copied.
* **Search previews without TeX.** Material's search index keeps each formula's source,
  which the result previews would show as ``\\(u(s)\\)``; outside code, each one becomes
  text there (``u(s)``, ``\\frac{\\partial L}{\\partial \\theta}`` as ``(∂ L)/(∂ θ)``).
* **The print page** (mkdocs-print-site-plugin, ``print_page/``): the chapters as this hook
  leaves them (the copy chains, the labs' math), with each block's id made unique on the page
  (``print_page_ids``) and the labs' shared stylesheet linked from where the page is.
"""

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import pathlib
import platform
import re
import subprocess

import markdown
from markdown_it import MarkdownIt
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load(path: str):
    """A module of this repository, loaded from its file: the same whether MkDocs was started
    as ``mkdocs``, ``python -m mkdocs`` or from another directory (MkDocs puts the hook's
    folder on ``sys.path`` only while it loads the hook, and the repository never)."""
    spec = importlib.util.spec_from_file_location(
        f"site_hook_{pathlib.Path(path).stem}", ROOT / path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fences = load("hooks/fences.py")
PYTHON, dedent_containers, fence_lang = (
    fences.PYTHON,
    fences.dedent_containers,
    fences.fence_lang,
)
continuation_chains = fences.continuation_chains

NOTEBOOK = (
    "notebook"  # page.meta key: the chapter's notebook, relative to the site root
)
COLAB = "colab"  # page.meta key: the page's notebook on Colab (overrides/main.html)
# The branch that the deploy publishes the site's notebooks to (tasks.py's
# NOTEBOOKS_BRANCH): Colab opens notebooks only from GitHub, and these are written by
# the build.
NOTEBOOKS_BRANCH = "notebooks"
GITHUB_REPO = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?")
CHAPTER_MAP = "<!-- chapter map -->"
FIGURES = "performance/"  # where the performance page's figures go in the site


# --- what this build was made with -------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@functools.cache
def provenance() -> dict:
    """Versions and commit of this build (the ones the tests ran with, in CI)."""
    versions = {"Python": platform.python_version()}
    for dist in ("torch", "numpy"):
        versions[dist] = importlib.metadata.version(dist)
    try:
        commit, sha, date = git("log", "-1", "--format=%h %H %cs").split()
        if git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "docs",
            "snippets",
            "mkdocs.yml",
            "hooks",
        ):
            commit += " + uncommitted changes"
    except (OSError, subprocess.CalledProcessError, ValueError):
        commit, sha, date = "unknown (not a git checkout)", "", ""
    return {"versions": versions, "commit": commit, "sha": sha, "date": date}


def commit_link(repo_url: str | None) -> str:
    """This build's commit as Markdown: a link to it in the repository when the build knows the
    repository (``repo_url``, see tasks.py's ``site_env``), else the bare hash."""
    p = provenance()
    short, _, rest = p["commit"].partition(" ")
    if not (repo_url and p["sha"]):
        return f"`{p['commit']}`"
    return f"[`{short}`]({repo_url.rstrip('/')}/commit/{p['sha']})" + (
        f" {rest}" if rest else ""
    )


def stamp(src_uri: str, repo_url: str | None, parts: str = "block") -> str:
    """The verified-with stamp of a chapter (its blocks) or a lab (its code cells), as
    Markdown."""
    p = provenance()
    versions = ", ".join(f"{name} {v}" for name, v in p["versions"].items())
    when = f" ({p['date']})" if p["date"] else ""
    return (
        f'<div class="verified-stamp" markdown>\n\n'
        f"**Verified with** {versions} at commit {commit_link(repo_url)}{when}: every {parts} on "
        f"this page ran and passed its checks before the site was published. Re-run them "
        f"on your machine with `pytest docs/{src_uri}`.\n\n</div>\n"
    )


# --- chapters as notebooks ---------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def is_chapter(text: str) -> bool:
    """A page with at least one Python block (asked several times per page in a build)."""
    return any(
        t.type == "fence" and fence_lang(t.info) in PYTHON
        for t in MarkdownIt("commonmark").parse(dedent_containers(text))
    )


_expanders: dict[int, object] = {}


def expander(config):
    """pymdownx.snippets' preprocessor, configured as this build configures it."""
    if id(config) not in _expanders:
        md = markdown.Markdown(
            extensions=config["markdown_extensions"],
            extension_configs=config["mdx_configs"],
        )
        _expanders[id(config)] = md.preprocessors["snippet"]
    return _expanders[id(config)]


def container_title(opener: str) -> str:
    """``!!! warning "Title"`` or ``=== "Tab"`` as a bold line in the notebook."""
    title = re.search(r'"(.*)"', opener)
    kind = opener.split()[1] if len(opener.split()) > 1 else ""
    return f"**{title.group(1) if title else kind.capitalize()}**"


def absolute_links(text: str, site_url: str) -> str:
    """Links between pages (``conv.md#x``, ``notebooks/s4_lab.py``) to the published site."""

    def page(m: re.Match) -> str:
        target, anchor = m.group(1), m.group(3) or ""
        path = re.sub(r"(^|/)index$", r"\1", target)
        return f"]({site_url}{path}{'/' if path and not path.endswith('/') else ''}{anchor})"

    return re.sub(r"\]\((?!https?:)([^)#\s]+?)\.(md|py)(#[^)\s]*)?\)", page, text)


def inline_references(text: str) -> str:
    """Reference links (``[x][]``, ``[text][x]``) as inline links, their definitions dropped: a
    notebook resolves references only within one cell."""
    definition = re.compile(r"^\[([^\]]+)\]:\s*(\S+)\s*$", re.M)
    urls = {label.lower(): url for label, url in definition.findall(text)}

    def link(m: re.Match) -> str:
        url = urls.get((m.group(2) or m.group(1)).lower())
        return f"[{m.group(1)}]({url})" if url else m.group(0)

    text = re.sub(r"<!--.*?-->", "", definition.sub("", text), flags=re.S)
    return re.sub(r"\[([^\]]+)\]\[([^\]]*)\]", link, text)


def chapter_notebook(text: str, src_uri: str, config) -> str:
    """The chapter as an nbformat-4 notebook (JSON): Markdown cells and the blocks that run."""
    # YAML front matter: page meta
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    lines = inline_references("\n".join(expander(config).run(text.split("\n"))))
    lines = dedent_containers(lines, opener=container_title).split("\n")
    site_url = config["site_url"] or "/"
    cells, prose_from = [], 0

    def prose(end: int) -> None:
        source = absolute_links("\n".join(lines[prose_from:end]).strip("\n"), site_url)
        if source.strip():
            cells.append(("markdown", source))

    for tok in MarkdownIt("commonmark").parse("\n".join(lines)):
        if (
            tok.type == "fence"
            and fence_lang(tok.info) in PYTHON
            and "notest" not in tok.info
        ):
            prose(tok.map[0])
            cells.append(("code", tok.content.rstrip("\n")))
            prose_from = tok.map[1]
    prose(len(lines))

    p = provenance()
    page_url = site_url + src_uri.removesuffix(".md").removesuffix("index") + "/"
    install = install_cell(config["repo_url"])
    header = (
        f"*Executable ML Notes*: this notebook is [the page]({page_url}) as a notebook, "
        f"verified with {', '.join(f'{k} {v}' for k, v in p['versions'].items())} at "
        f"commit {commit_link(config['repo_url'])}. It needs the book's `snippets` "
        "package with what its blocks import (torch, numpy, pytest, einops): "
        + (
            "its first code cell installs them where the package is missing (Colab, a "
            "fresh kernel)."
            if install
            else "in a clone of the repository, `pip install '.[book]'` (or `python3 tasks.py "
            "test`, which sets up `.venv` with all of them)."
        )
    )
    cells[:0] = [("markdown", header)] + ([("code", install)] if install else [])
    return notebook_json(cells)


def install_cell(repo_url: str | None) -> str | None:
    """A notebook's first code cell: where the book's package is not importable, it installs
    it with its ``book`` extra from the repository, at this build's commit (the one the
    notebook was verified at); where it is (a clone's .venv, the tests), it does nothing. Plain
    Python, not ``%pip``, so that the tests run it as they run the other cells. None when the
    build knows no repository."""
    sha = provenance()["sha"]
    if not (repo_url and sha):
        return None
    return (
        "# Where the book's package is missing (Colab, a fresh kernel): install it from the\n"
        "# repository, at the commit this notebook was verified at.\n"
        "import importlib.util\nimport subprocess\nimport sys\n\n"
        'requirement = ("executable-ml-notes[book] @ "\n'
        f'               "git+{repo_url.rstrip("/")}"\n'
        f'               "@{sha}")\n'
        'if importlib.util.find_spec("snippets") is None:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement],\n'
        "                   check=True)\n"
        "    importlib.invalidate_caches()"
    )


def notebook_json(cells: list[tuple[str, str]]) -> str:
    """An nbformat-4 notebook (JSON) of ("markdown" | "code", source) cells, not executed."""
    notebook = {
        "cells": [
            {
                "cell_type": kind,
                "id": f"cell-{k}",
                "metadata": {},
                "source": source,
                **({"execution_count": None, "outputs": []} if kind == "code" else {}),
            }
            for k, (kind, source) in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def lab_notebook(text: str, config) -> str:
    """A lab (a jupytext percent file) as the notebook its download button gives: its cells,
    the install cell after its title."""
    import jupytext

    cells = [
        (c.cell_type, c.source)
        for c in jupytext.reads(text, fmt="py:percent").cells
        if c.cell_type in ("markdown", "code")
    ]
    if install := install_cell(config["repo_url"]):
        at = 1 if cells and cells[0][0] == "markdown" else 0
        cells.insert(at, ("code", install))
    return notebook_json(cells)


def is_lab(src_uri: str) -> bool:
    return src_uri.startswith("notebooks/") and src_uri.endswith(".py")


def notebook_uri(src_uri: str) -> str:
    """The notebook the build writes for a chapter (``conv.md``) or a lab
    (``notebooks/s4_lab.py``)."""
    return src_uri.removesuffix(".md").removesuffix(".py") + ".ipynb"


# --- every copy runs ----------------------------------------------------------------------

# The element pymdownx.highlight wraps each Python fence in, in page order.
PYTHON_BLOCK = re.compile(r'<div class="language-(?:%s) highlight">' % "|".join(PYTHON))
BLOCK_ID = (
    "py-block-{}"  # the first block of a chain, the target of its captions' links
)


def python_blocks(text: str, config) -> list[tuple[str, str]]:
    """A page's Python blocks, in page order, as it shows them: (info string, code with its
    includes expanded), the containers dedented as ``chapter_notebook`` dedents them."""
    # YAML front matter: page meta
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = dedent_containers("\n".join(expander(config).run(text.split("\n"))))
    return [
        (tok.info, tok.content)
        for tok in MarkdownIt("commonmark").parse(text)
        if tok.type == "fence" and fence_lang(tok.info) in PYTHON
    ]


def caption(first: int, length: int) -> str:
    """The line above a continuation block: what it continues, and what its copy button
    copies."""
    above = "the block above" if length == 2 else f"the {length - 1} blocks above"
    copies = "both" if length == 2 else f"all {length}"
    return (
        f'<p class="copy-chain">Continues <a href="#{BLOCK_ID.format(first + 1)}" '
        f'title="Go to the first block of this chain">{above}</a>: the copy button copies '
        f"{copies}.</p>\n"
    )


def copy_chains(html: str, text: str, src_uri: str, config) -> str:
    """Each continuation block of a page (its HTML; ``text``: its Markdown) copies its whole
    chain and says so. The page carries each link of a chain once: a continuation block names
    the block it continues (``data-continues``), and copy-chain.js follows those links when
    its copy button is clicked, setting the ``data-copy`` attribute Material copies from. (Each
    block carrying its whole chain's text made a page of one long chain grow with the square
    of its code: the print page reached 10 MB.) The first block of a chain gets the id its
    captions link to."""
    blocks = python_blocks(text, config)
    found = PYTHON_BLOCK.findall(html)
    if len(found) != len(blocks):  # the copy texts would land on the wrong blocks
        raise ValueError(
            f"{src_uri}: {len(blocks)} Python blocks in the Markdown but "
            f"{len(found)} in the HTML; the copy buttons cannot be matched to them"
        )
    chains = continuation_chains([info for info, _ in blocks])
    linked = {i for chain in chains if len(chain) > 1 for i in chain}
    k = -1

    def block(m: re.Match) -> str:
        nonlocal k
        k += 1
        chain, tag = chains[k], m.group(0)
        if k in linked:
            tag = tag.replace("<div ", f'<div id="{BLOCK_ID.format(k + 1)}" ', 1)
        if len(chain) == 1:  # runs on its own: Material copies the visible code
            return tag
        tag = tag.replace(
            "<div ", f'<div data-continues="{BLOCK_ID.format(chain[-2] + 1)}" ', 1
        )
        return caption(chain[0], len(chain)) + tag

    return PYTHON_BLOCK.sub(block, html)


# --- the landing page's chapter map ------------------------------------------------------


def module_summary(path: pathlib.Path) -> tuple[str, list[str]]:
    """A snippet module's first docstring sentence and its ``__all__``, without importing it."""
    tree = ast.parse(path.read_text("utf8"))
    doc = (ast.get_docstring(tree) or "").split("\n\n")[0].replace("\n", " ")
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "__all__" for t in node.targets
        ):
            names = list(ast.literal_eval(node.value))
    return doc, names


def nav_entries(nav):
    """(title, uri) of every page of the nav, in reading order."""
    for item in nav:
        for title, value in item.items() if isinstance(item, dict) else [(None, item)]:
            yield from (
                nav_entries(value) if isinstance(value, list) else [(title, value)]
            )


def chapter_numbers(config) -> dict[str, int]:
    """The chapters' numbers, in the nav's reading order: every page with Python blocks but the
    landing page (the labs, the performance page and the other pages without code stay
    unnumbered). The nav, the chapter titles and the landing page's map all use these."""
    numbers = {}
    for _, uri in nav_entries(config["nav"]):
        if (
            uri.endswith(".md")
            and uri != "index.md"
            and is_chapter((ROOT / "docs" / uri).read_text("utf8"))
        ):
            numbers[uri] = len(numbers) + 1
    return numbers


def chapter_map(config, files) -> str:
    """A table of the chapters in reading order (the nav's), with each one's snippet module."""
    rows = ["| | chapter | its module in `snippets/` | lab |", "|---|---|---|---|"]
    labs = {
        f.src_uri.removeprefix("notebooks/").removesuffix("_lab.py"): f.src_uri
        for f in files
        if is_lab(f.src_uri)
    }
    numbers = chapter_numbers(config)
    for title, uri in nav_entries(config["nav"]):
        if uri not in numbers:
            continue
        source = ROOT / "docs" / uri
        module = ROOT / "snippets" / pathlib.Path(uri).with_suffix(".py").name
        if module.exists():
            doc, names = module_summary(module)
            provides = f"`snippets.{module.stem}`: {doc}<br>" + ", ".join(
                f"`{n}`" for n in names
            )
        else:  # a page of checks built on other chapters' modules
            used = sorted(
                set(
                    re.findall(
                        r"^\s*(?:from|import) snippets\.(\w+)",
                        source.read_text("utf8"),
                        re.M,
                    )
                )
            )
            provides = "no module of its own; its blocks use " + ", ".join(
                f"`snippets.{name}`" for name in used
            )
        stem = uri.removesuffix(".md")
        lab = f"[lab]({labs[stem]})" if stem in labs else ""
        rows.append(f"| {numbers[uri]} | [{title}]({uri}) | {provides} | {lab} |")
    return "\n".join(rows)


# --- math in the lab notebooks -----------------------------------------------------------

MARKDOWN_CELL = re.compile(
    r'(<div class="[^"]*\bjp-RenderedMarkdown\b[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL
)
# TeX's rules as pandoc applies them: no space just inside a `$`, no digit right after the
# closing one (so "costs $5 and $6" stays prose); `\$` is a literal dollar.
DISPLAY_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?![\s$])(.+?)(?<![\s\\])\$(?!\d)", re.DOTALL)


def arithmatex_math(cell: str) -> str:
    """A Markdown cell's HTML with each ``$$...$$`` / ``$...$`` formula in the element
    pymdownx.arithmatex (generic mode) would give it."""
    cell = DISPLAY_MATH.sub(
        lambda m: f'<span class="arithmatex">\\[{m[1]}\\]</span>', cell
    )
    return INLINE_MATH.sub(
        lambda m: f'<span class="arithmatex">\\({m[1]}\\)</span>', cell
    )


def notebook_math(html: str) -> str:
    return MARKDOWN_CELL.sub(lambda m: m[1] + arithmatex_math(m[2]) + m[3], html)


# --- MkDocs events -----------------------------------------------------------------------


# before print-site's on_config makes its page (and that page's edit link)
@event_priority(100)
def on_config(config):
    """Without a repository (``repo_url`` unset: see mkdocs.yml) no edit links either: MkDocs
    would make them relative paths and warn on every page, which fails the strict build.
    With mkdocs-print-site-plugin: its anchor rewriting replaced by one pass (print_page_ids)."""
    if not config["repo_url"]:
        config["edit_uri"] = None
    if "print-site" in config["plugins"]:
        import mkdocs_print_site_plugin.urls

        mkdocs_print_site_plugin.urls.update_anchor_ids = print_page_ids
    return config


def on_files(files, config):
    """Add each chapter's and each lab's notebook and the performance figures to the site."""
    for file in list(files):
        if is_lab(file.src_uri):
            text = pathlib.Path(file.abs_src_path).read_text("utf8")
            files.append(
                File.generated(
                    config,
                    notebook_uri(file.src_uri),
                    content=lab_notebook(text, config),
                )
            )
    for file in list(files.documentation_pages()):
        text = pathlib.Path(file.abs_src_path).read_text("utf8")
        if is_chapter(text):
            files.append(
                File.generated(
                    config,
                    notebook_uri(file.src_uri),
                    content=chapter_notebook(text, file.src_uri, config),
                )
            )
    if (ROOT / "benchmarks" / "plots.py").exists():
        figures = load("benchmarks/plots.py").figures
        for name, svg in figures(ROOT / "benchmarks" / "results").items():
            files.append(File.generated(config, FIGURES + name, content=svg))
    return files


def on_nav(nav, config, files):
    """Each chapter's number before its title in the nav (and so in the previous/next footer
    and the window's title)."""
    numbers = chapter_numbers(config)
    for page in nav.pages:
        if number := numbers.get(page.file.src_uri):
            page.title = f"{number}. {page.title}"
    return nav


def on_page_markdown(text, page, config, files):
    """The stamp and the notebook link on chapters; the chapter map on the landing page."""
    if page.file.src_uri == "index.md" and CHAPTER_MAP in text:
        return text.replace(CHAPTER_MAP, chapter_map(config, files))
    if page.file.src_uri.endswith(".md") and is_chapter(text):
        page.meta[NOTEBOOK] = notebook_uri(page.file.src_uri)
        # "# 3. Optimisation"
        if number := chapter_numbers(config).get(page.file.src_uri):
            text = re.sub(r"\A(\s*)# ", rf"\g<1># {number}. ", text)
        return text.rstrip("\n") + "\n\n" + stamp(page.file.src_uri, config["repo_url"])
    return text


def colab_url(repo_url: str | None, notebook: str) -> str | None:
    """Colab's address of a notebook of the site (``conv.ipynb``,
    ``notebooks/s4_lab.ipynb``): the file at the same path on the repository's
    NOTEBOOKS_BRANCH; none without a GitHub repository (Colab opens GitHub's alone)."""
    if not (match := GITHUB_REPO.fullmatch(repo_url or "")):
        return None
    return (
        f"https://colab.research.google.com/github/{match.group(1)}/blob/"
        f"{NOTEBOOKS_BRANCH}/{notebook}"
    )


def on_page_context(context, page, config, nav):
    """The "Open in Colab" button's address, on each page with a notebook: a chapter's
    (set above) or a lab's."""
    src_uri = page.file.src_uri
    notebook = page.meta.get(NOTEBOOK) or (
        notebook_uri(src_uri) if is_lab(src_uri) else None
    )
    if notebook and (url := colab_url(config["repo_url"], notebook)):
        page.meta[COLAB] = url
    return context


@event_priority(50)  # before print-site keeps each page's HTML for the print page
def on_page_content(html, page, config, files):
    """Chapters: each continuation block copies its chain. Lab notebooks: their Markdown
    cells' math in arithmatex's elements, the stamp, and JupyterLab's stylesheet as one shared
    file."""
    if is_lab(page.file.src_uri):
        lab_stamp = markdown.markdown(
            stamp(page.file.src_uri, config["repo_url"], "code cell"),
            extensions=["md_in_html"],
        )
        return shared_styles(notebook_math(html), page.url) + "\n" + lab_stamp
    if page.file.src_uri.endswith(".md"):
        text = pathlib.Path(page.file.abs_src_path).read_text("utf8")
        if is_chapter(text):
            return copy_chains(html, text, page.file.src_uri, config)
    return html


# --- the notebook pages' stylesheet ------------------------------------------------------

STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.DOTALL)
STYLES = "assets/jupyter/"  # where the shared stylesheets go in the site
SHARED_STYLE_BYTES = (
    20_000  # JupyterLab's own (~570 KB); the small page-specific ones stay
)
_styles: dict[str, str] = {}  # file name -> CSS, written once per build (on_post_build)


def shared_styles(html: str, page_url: str) -> str:
    """mkdocs-jupyter inlines JupyterLab's ~570 KB stylesheet into every notebook page, where
    the reader downloads it again on each lab and the search index parses it each build; a
    large inline stylesheet becomes a link to one file, named by its content."""

    def link(m: re.Match) -> str:
        if len(m[1]) < SHARED_STYLE_BYTES:
            return m[0]
        name = hashlib.sha256(m[1].encode()).hexdigest()[:16] + ".css"
        _styles[name] = m[1]
        return f'<link rel="stylesheet" href="{get_relative_url(STYLES + name, page_url)}">'

    return STYLE.sub(link, html)


# --- search previews and the print page --------------------------------------------------

SEARCH_INDEX = "search/search_index.json"
PRINT_PAGE = "print_page/index.html"
# as the search index keeps it
CODE = re.compile(r"(<pre>.*?</pre>|<code>.*?</code>)", re.S)
MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", re.S)
GREEK = dict(
    zip(
        "alpha beta gamma delta epsilon varepsilon zeta eta theta iota kappa lambda mu "
        "nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta "
        "Lambda Xi Pi Sigma Phi Psi Omega".split(),
        "αβγδεεζηθικλμνξπρστυφφχψωΓΔΘΛΞΠΣΦΨΩ",
    )
)
SYMBOLS = {
    **GREEK,
    "partial": "∂",
    "nabla": "∇",
    "sum": "∑",
    "prod": "∏",
    "int": "∫",
    "sqrt": "√",
    "cdot": "·",
    "times": "×",
    "le": "≤",
    "ge": "≥",
    "ne": "≠",
    "approx": "≈",
    "sim": "~",
    "to": "→",
    "mapsto": "↦",
    "leftarrow": "←",
    "Longrightarrow": "⟹",
    "in": "∈",
    "subset": "⊂",
    "infty": "∞",
    "odot": "⊙",
    "otimes": "⊗",
    "circ": "∘",
    "pm": "±",
    "propto": "∝",
    "mid": "|",
    "ell": "ℓ",
    "lVert": "‖",
    "rVert": "‖",
    "lvert": "|",
    "rvert": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "lceil": "⌈",
    "rceil": "⌉",
    "lfloor": "⌊",
    "rfloor": "⌋",
    "top": "ᵀ",
    "dots": "…",
    "cdots": "⋯",
    "vdots": "⋮",
    "ddots": "⋱",
    "bmod": "mod",
    ",": " ",
    ";": " ",
    "quad": " ",
    "qquad": " ",
    "\\": "; ",
    "_": "_",
    "{": "\x00",
    "}": "\x01",
    "!": "",
}
# the argument stays, as plain letters
DROPPED = {
    "left",
    "right",
    "big",
    "Big",
    "bigl",
    "bigr",
    "textstyle",
    "displaystyle",
    "text",
    "mathbb",
    "mathcal",
    "mathbf",
    "mathrm",
    "operatorname",
    "hat",
    "widehat",
    "bar",
    "overline",
    "tilde",
    "dot",
    "underbrace",
}


def braced(tex: str, i: int) -> tuple[str, int]:
    """The argument of a TeX command that starts at ``tex[i]`` (a ``{...}`` group or one
    character), and where it ends."""
    while i < len(tex) and tex[i].isspace():
        i += 1
    if tex[i : i + 1] != "{":
        return tex[i : i + 1], i + 1
    depth, j = 0, i
    while j < len(tex):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return tex[i + 1 : j], j + 1
        j += 2 if tex[j] == "\\" else 1
    return tex[i + 1 :], len(tex)


def plain_math(tex: str) -> str:
    """A formula as text for a search preview: ``\\frac{a}{b}`` as ``a/b``, symbols as Unicode,
    other commands as their names (``\\log`` as ``log``), braces gone."""
    tex = re.sub(r"\\(?:begin|end)\{\w+\*?\}|&amp;", " ", tex)
    while fraction := re.search(r"\\t?frac(?![A-Za-z])", tex):
        numerator, i = braced(tex, fraction.end())
        denominator, i = braced(tex, i)
        tex = (
            tex[: fraction.start()]
            + "/".join(
                p if re.fullmatch(r"\\?\w+", p) else f"({p})"
                for p in (numerator.strip(), denominator.strip())
            )
            + tex[i:]
        )
    tex = re.sub(
        r"\\([A-Za-z]+|.)",
        lambda m: "" if m[1] in DROPPED else SYMBOLS.get(m[1], m[1]),
        tex,
    )
    tex = tex.replace("^ᵀ", "ᵀ").replace("{", "").replace("}", "")
    return " ".join(tex.replace("\x00", "{").replace("\x01", "}").split())


def plain_search_math(text: str) -> str:
    """An entry of the search index (HTML text) with each formula outside code as text."""
    return "".join(
        part if k % 2 else MATH.sub(lambda m: plain_math(m[1] or m[2] or ""), part)
        for k, part in enumerate(CODE.split(text))
    )


def search_index_without_tex(site_dir: pathlib.Path) -> None:
    path = site_dir / SEARCH_INDEX
    if not path.is_file():
        return
    index = json.loads(path.read_text("utf8"))
    for entry in index["docs"]:
        entry["title"] = plain_search_math(entry["title"])
        entry["text"] = plain_search_math(entry["text"])
    path.write_text(
        json.dumps(index, separators=(",", ":"), ensure_ascii=False), "utf8"
    )


def print_page_ids(page_html: str, page_key: str) -> str:
    """mkdocs-print-site-plugin's ``update_anchor_ids``, which it calls on each page it puts on
    the print page: the ids of headings, list items and footnote marks get the page's key, as
    every link within the page already has. Here in one pass, where the plugin's pattern
    searches to the end of the line from every ``<`` (4 s of this build); and the Python
    blocks' ids too (``py-block-3``), which the captions above continuation blocks link to."""
    return re.sub(
        r'(<(?:h[1-6]|sup|li|div)\b[^>]*?\sid=")',
        rf"\g<1>{page_key}-",
        page_html,
        flags=re.I,
    )


def fix_print_page(site_dir: pathlib.Path) -> None:
    """The labs' stylesheet link, relative to a lab page, made relative to the print page; the
    landing page's link to the print page (print-site makes it ``#print_page``, a page that is
    not on it) to the print page's top."""
    path = site_dir / PRINT_PAGE
    if path.is_file():
        html = re.sub(
            r'href="(?:\.\./)+' + STYLES, 'href="../' + STYLES, path.read_text("utf8")
        )
        html = html.replace('href="#print_page"', 'href="#print-site-page"')
        path.write_text(html, "utf8")


@event_priority(-100)  # after search and print-site have written their files
def on_post_build(config):
    for name, css in _styles.items():
        path = pathlib.Path(config["site_dir"], STYLES, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(css, "utf8")
    search_index_without_tex(pathlib.Path(config["site_dir"]))
    fix_print_page(pathlib.Path(config["site_dir"]))

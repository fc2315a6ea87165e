"""The doc-test machinery: pytest-markdown-docs collects every Python block as MkDocs renders it.

Out of the box pytest-markdown-docs reads Markdown as CommonMark, so it would run a
``--8<--`` include line as Python and skip the blocks inside admonitions (``!!!``, ``???``)
and content tabs (``===``). This plugin gives it a parser that

* dedents container bodies in place (line numbers are kept, so a failure names the
  chapter file and the block's line), and
* expands ``--8<--`` includes inside Python blocks with the pymdownx.snippets preprocessor
  built from ``mkdocs.yml``, the one MkDocs runs.

Loaded from the root ``conftest.py``, so ``pytest docs/<chapter>.md`` works on its own.
"""

import pathlib
import re
from dataclasses import dataclass
from functools import cache

import pytest
from markdown_it import MarkdownIt
from pytest_markdown_docs.plugin import (FenceSyntax, MarkdownDocstringCodeModule,
                                         MarkdownTextFile, extract_fence_tests,
                                         parse_superfences_block_info)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PYTHON = ("py", "python", "python3")
CONTAINER = re.compile(r"^(?P<indent> *)(?:!!!|\?\?\?\+?|===\+?)\s")


def dedent_containers(text: str) -> str:
    """Replace each admonition / details / tab opener by a blank line and dedent its body.

    The result has the same number of lines, so line numbers still point into the chapter.
    """
    out, stack = [], []  # stack: absolute indent of each open container's body
    for line in text.split("\n"):
        expanded = line.expandtabs(4)
        if not expanded.strip():
            out.append("")
            continue
        indent = len(expanded) - len(expanded.lstrip(" "))
        while stack and indent < stack[-1]:
            stack.pop()
        m = CONTAINER.match(expanded)
        if m:
            stack.append(len(m["indent"]) + 4)
            out.append("")
        else:
            out.append(expanded[stack[-1]:] if stack else line)
    return "\n".join(out)


@cache
def snippet_preprocessor():
    """pymdownx.snippets' preprocessor, configured from mkdocs.yml exactly as MkDocs does."""
    import markdown
    from mkdocs.config import load_config

    cfg = load_config(str(ROOT / "mkdocs.yml"))
    md = markdown.Markdown(extensions=cfg["markdown_extensions"],
                           extension_configs=cfg["mdx_configs"])
    return md.preprocessors["snippet"]


def expand_snippets(code: str, line: int) -> str:
    """Expand the ``--8<--`` lines of one code block (``line``: the block's first line)."""
    if "--8<--" not in code:
        return code
    try:
        return "\n".join(snippet_preprocessor().run(code.split("\n")))
    except Exception as e:  # SnippetMissingError and friends: say which block
        raise IncludeError(f"{line}: the block's include failed: {e}") from e


class IncludeError(Exception):
    """A ``--8<--`` include that pymdownx.snippets cannot resolve (``check_paths: true``)."""


class MkDocsFences:
    """A markdown-it parser whose fences hold what MkDocs shows (containers, includes)."""

    def __init__(self):
        self.md = MarkdownIt("commonmark")

    def parse(self, text: str, env=None):
        tokens = self.md.parse(dedent_containers(text), env)
        for tok in tokens:
            if tok.type == "fence" and fence_lang(tok.info) in PYTHON:
                tok.content = expand_snippets(tok.content, tok.map[0] + 1)
        return tokens


def fence_lang(info: str) -> str | None:
    parts = parse_superfences_block_info(info)
    return parts[0] if parts else None


@dataclass(frozen=True)
class Block:
    """A Python block of a chapter: its first line, its code, and whether it runs."""

    line: int
    code: str
    runs: bool
    info: str


def chapter_blocks(path: pathlib.Path) -> list[Block]:
    """Every Python block of a chapter, in page order, as the doc tests see it."""
    text = path.read_text("utf8")
    ran = {t.start_line: t for t in extract_fence_tests(
        MkDocsFences(), text, 0, path, fence_syntax=FenceSyntax.superfences)}
    blocks = []
    for tok in MkDocsFences().parse(text):
        if tok.type == "fence" and fence_lang(tok.info) in PYTHON:
            start = tok.map[0] + 1
            blocks.append(Block(start, tok.content, start in ran, tok.info))
    return blocks


@pytest.hookimpl
def pytest_markdown_docs_markdown_it():
    return MkDocsFences()


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    """Doc tests come from docs/*.md only, not from docstrings of every .py file."""
    found = yield
    for c in found:
        if isinstance(c, MarkdownTextFile):
            c.collect = _naming_includes(c)
    return [c for c in found if not isinstance(c, MarkdownDocstringCodeModule)]


def _naming_includes(collector):
    """A broken include fails collection with ``chapter.md:line: why``, not a stack trace."""
    collect = collector.collect

    def wrapped():
        try:
            yield from collect()
        except IncludeError as e:
            raise collector.CollectError(f"{collector.path.relative_to(ROOT)}:{e}") from None

    return wrapped


def pytest_terminal_summary(terminalreporter, config):
    """Say how many blocks on the site do not run, and where."""
    if not config.option.markdowndocs:
        return
    skipped = []
    for path in sorted(DOCS.rglob("*.md")):
        try:
            skipped += [(path.relative_to(ROOT), b.line) for b in chapter_blocks(path)
                        if not b.runs]
        except IncludeError:
            pass  # already reported as that chapter's collection error
    where = ", ".join(f"{p}:{line}" for p, line in skipped)
    terminalreporter.write_line(f"notest blocks on the site: {len(skipped)}"
                                + (f" ({where})" if where else ""))

"""The doc-test machinery: pytest-markdown-docs collects every Python block as MkDocs renders it.

Out of the box pytest-markdown-docs reads Markdown as CommonMark, so it would run a
``--8<--`` include line as Python and skip the blocks inside admonitions (``!!!``, ``???``)
and content tabs (``===``). This plugin gives it a parser that

* dedents container bodies in place (line numbers are kept, so a failure names the
  chapter file and the block's line), and
* expands ``--8<--`` includes inside Python blocks with the pymdownx.snippets preprocessor
  built from ``mkdocs.yml``, the one MkDocs runs;

and runs a page whose blocks continue one another (``{.python continuation}``) block by block,
each once, in one namespace (``ChainRunner``), rather than its whole chain again for each block.

Notebooks, jupytext percent files in ``docs/notebooks/`` that mkdocs-jupyter renders and
executes, are collected as one test each: their code cells, read by jupytext as mkdocs-jupyter
reads them, run in order in one fresh namespace, with matplotlib drawing off-screen (Agg).

Loaded from the root ``conftest.py``, so ``pytest docs/<chapter>.md`` and
``pytest docs/notebooks/<notebook>.py`` work on their own.
"""

import json
import os
import pathlib
import dataclasses
from dataclasses import dataclass
from functools import cache

import pytest
from markdown_it import MarkdownIt
from pytest_markdown_docs._runners import DefaultRunner, register_runner
from pytest_markdown_docs.plugin import (
    FenceSyntax,
    MarkdownDocstringCodeModule,
    MarkdownTextFile,
    extract_fence_tests,
)

from hooks.fences import PYTHON, dedent_containers, fence_lang  # noqa: F401 (re-exported)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# mkdocs.yml: mkdocs-jupyter `include: ["notebooks/*.py"]`
NOTEBOOKS = DOCS / "notebooks"


@cache
def snippet_preprocessor():
    """pymdownx.snippets' preprocessor, configured from mkdocs.yml exactly as MkDocs does."""
    import markdown
    from mkdocs.config import load_config

    cfg = load_config(str(ROOT / "mkdocs.yml"))
    md = markdown.Markdown(
        extensions=cfg["markdown_extensions"], extension_configs=cfg["mdx_configs"]
    )
    preprocessor = md.preprocessors["snippet"]
    preprocessor.auto_append = []  # the link definitions go to pages, not into code blocks
    return preprocessor


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
    ran = {
        t.start_line: t
        for t in extract_fence_tests(
            MkDocsFences(), text, 0, path, fence_syntax=FenceSyntax.superfences
        )
    }
    blocks = []
    for tok in MkDocsFences().parse(text):
        if tok.type == "fence" and fence_lang(tok.info) in PYTHON:
            start = tok.map[0] + 1
            blocks.append(Block(start, tok.content, start in ran, tok.info))
    return blocks


def chapter_notebook(site: pathlib.Path, chapter: pathlib.Path) -> dict:
    """The chapter's notebook as the built site publishes it (``<chapter>.ipynb``)."""
    return json.loads(
        site.joinpath(chapter.relative_to(DOCS).with_suffix(".ipynb")).read_text("utf8")
    )


@pytest.hookimpl
def pytest_markdown_docs_markdown_it():
    return MkDocsFences()


@register_runner(default=True)
class ChainRunner(DefaultRunner):
    """pytest-markdown-docs' runner, without running a chain again for each of its blocks.

    A ``continuation`` block's test is the code of its whole chain (the blocks before it, and
    it). Run as it comes, a page whose blocks all continue one another runs its first block
    once per block. Instead, when the block before it in the chain has just run and passed,
    a block runs only its own code, in the namespace that run left (the same dict: functions
    defined before look up later names in it, as they would in one run): the same statements
    in the same order, each once. Any other case (the first block, a block after
    a failure, a test run alone with ``-k``) runs the whole chain, as the plugin does. Line
    numbers and the failure report are the plugin's (the code keeps its place in the file)."""

    last: tuple[str, str, dict] | None = (
        None  # (file, chain's code, namespace) of the last pass
    )

    def runtest(self, test, args, *, asyncio_runner=None):
        last, ChainRunner.last = ChainRunner.last, None
        source = test.source
        if (
            last
            and last[0] == str(test.source_path)
            and source.startswith(last[1])
            and len(source) > len(last[1])
        ):
            done = last[1]
            # fixtures
            last[2].update({k: v for k, v in args.items() if not k.startswith("__")})
            args = last[2]
            test = dataclasses.replace(
                test, source="\n" * done.count("\n") + source[len(done) :]
            )
        super().runtest(test, args, asyncio_runner=asyncio_runner)
        ChainRunner.last = (str(test.source_path), source, args)


def is_notebook(path: pathlib.Path) -> bool:
    return path.suffix == ".py" and path.parent == NOTEBOOKS


@dataclass(frozen=True)
class Cell:
    """A notebook's code cell: the line its code starts on in the .py file, and the code."""

    line: int
    code: str


def notebook_cells(path: pathlib.Path) -> list[Cell]:
    """The code cells of a notebook in order, as mkdocs-jupyter renders and executes them
    (``jupytext.read``), each located in the file so that a traceback names its lines."""
    import jupytext

    nb = jupytext.read(path)
    fmt = (
        nb.metadata.get("jupytext", {})
        .get("text_representation", {})
        .get("format_name")
    )
    if fmt != "percent":
        raise ValueError(
            f"{path.relative_to(ROOT)}: jupytext reads it as {fmt!r}; "
            "write notebooks in the percent format (`# %%` cells)"
        )
    lines = path.read_text("utf8").split("\n")
    cells, pos = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = cell.source.split("\n")
        for start in range(pos, len(lines) - len(code) + 1):
            if lines[start : start + len(code)] == code:
                before = [line for line in lines[pos:start] if line.strip()]
                # right after its cell marker
                if before and before[-1].startswith("# %%"):
                    break
        else:  # jupytext changed the code (a commented magic, say): the test would run other code
            raise ValueError(
                f"{path.relative_to(ROOT)}: code cell {len(cells) + 1} is not in "
                f"the file as written after line {pos}: {cell.source[:80]!r}"
            )
        cells.append(Cell(start + 1, cell.source))
        pos = start + len(code)
    return cells


def run_cells(cells: list[tuple[str, int, str]], on_cell=lambda k: None) -> dict:
    """Run code cells ``(file name, first line, code)`` in order in one fresh namespace, as a
    kernel would, with matplotlib drawing off-screen; a traceback names the file's lines."""
    namespace = {"__name__": "__main__"}
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"  # read when matplotlib is first imported
    import matplotlib
    import matplotlib.pyplot as plt

    try:
        with matplotlib.rc_context():  # a notebook's rcParams stay in the notebook
            for k, (filename, line, code) in enumerate(cells):
                on_cell(k)
                exec(compile("\n" * (line - 1) + code, filename, "exec"), namespace)
    finally:
        plt.close("all")
        if backend is None:
            del os.environ["MPLBACKEND"]
        else:
            os.environ["MPLBACKEND"] = backend
    return namespace


class NotebookFile(pytest.File):
    """A notebook under docs/notebooks/: one test."""

    def collect(self):
        yield NotebookItem.from_parent(self, name="notebook")


class NotebookItem(pytest.Item):
    """A notebook's code cells, in order, in one fresh namespace, as a kernel would run them."""

    cell: tuple[int, int, Cell] | None = (
        None  # (number, of how many, cell) while running
    )

    def runtest(self):
        cells = notebook_cells(self.path)
        run_cells(
            [(str(self.path), cell.line, cell.code) for cell in cells],
            on_cell=lambda k: setattr(self, "cell", (k + 1, len(cells), cells[k])),
        )

    def repr_failure(self, excinfo, style=None):
        # from the failing cell on
        excinfo.traceback = excinfo.traceback.cut(path=self.path)
        failure = super().repr_failure(excinfo, style)
        if self.cell and hasattr(failure, "addsection"):
            number, total, cell = self.cell
            failure.addsection(
                "notebook",
                f"code cell {number} of {total}, "
                f"{self.path.relative_to(ROOT)}:{cell.line}",
            )
        return failure

    def reportinfo(self):
        return self.path, 0, f"notebook {self.path.relative_to(ROOT)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Every test (unit tests, doc blocks, notebooks) runs torch on one intra-op thread: the
    tensors are small, and the site build and the mutant runs share the two cores, where a
    two-thread pool makes each call wait for a descheduled thread (10-50x slower). A test that
    times something sets its own count. With NUMERIC_NUDGE=<seed> it runs under
    tests/nudge.py's mode: rounded results of reductions, matrix products and transcendental
    functions moved by one ulp, so that a check that passes only by luck of rounding fails
    (except tests marked ``unnudged``: the mode's own tests, which compare with plain torch, and
    the torch.compile tests, which cannot run under a dispatch mode).
    (A hook of this plugin, not an autouse fixture: pytest-markdown-docs' blocks get no
    autouse fixtures, and tests/conftest.py does not reach docs/.)"""
    import contextlib

    import torch

    seed = (
        os.environ.get("NUMERIC_NUDGE")
        if not item.get_closest_marker("unnudged")
        else None
    )
    if seed:
        from tests.nudge import Nudge
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with Nudge(seed) if seed else contextlib.nullcontext():
            return (yield)
    finally:
        torch.set_num_threads(before)


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    """Doc tests come from docs/*.md and the notebooks only, not from docstrings of every .py
    file; a notebook is one test, never also imported as a test module."""
    found = yield
    if is_notebook(file_path):
        return [NotebookFile.from_parent(parent, path=file_path)]
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
            raise collector.CollectError(
                f"{collector.path.relative_to(ROOT)}:{e}"
            ) from None

    return wrapped


COLLECTED = pytest.StashKey[list]()


def pytest_collection_finish(session):
    session.config.stash[COLLECTED] = sorted(
        {item.path for item in session.items if item.path.suffix == ".md"}
    )


def pytest_terminal_summary(terminalreporter, config):
    """Say how many blocks of the chapters this run collected do not run, and where."""
    chapters = config.stash.get(COLLECTED, [])
    if not config.option.markdowndocs or not chapters:
        return
    skipped = []
    for path in chapters:
        try:
            skipped += [
                (path.relative_to(ROOT), b.line)
                for b in chapter_blocks(path)
                if not b.runs
            ]
        except IncludeError:
            pass  # already reported as that chapter's collection error
    where = ", ".join(f"{p}:{line}" for p, line in skipped)
    terminalreporter.write_line(
        f"notest blocks on the site: {len(skipped)}" + (f" ({where})" if where else "")
    )

"""House style, by tool: ruff formats and lints the code and the pages' Python blocks
(configured in pyproject.toml, at 88 columns), and the functions the chapters teach read as
their formulas, with their input checks behind the Setup box (README, "Contributing").

`python3 tasks.py style` fixes what the formatter and the linter can fix.
"""

import ast
import re
import statistics
import subprocess
import sys

import pytest

import tasks
from hooks.fences import continuation_chains
from tests.docblocks import DOCS, ROOT, chapter_blocks

RUFF = [sys.executable, "-m", "ruff"]
FIX = "run `python3 tasks.py style`"


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUFF, *args], cwd=ROOT, input=stdin, capture_output=True, text=True
    )


def test_code_is_formatted():
    r = ruff("format", "--check", *tasks.STYLE_PATHS)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}{FIX}"


def test_code_passes_lint():
    r = ruff("check", "--output-format", "concise", *tasks.STYLE_PATHS)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"


def test_pages_python_blocks_are_formatted():
    changed = tasks.format_pages(write=False)
    assert not changed, (
        f"ruff would reformat the Python blocks of {sorted(changed)}: {FIX}"
    )


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_pages_python_blocks_pass_lint(page):
    """Each chain of a page's blocks as it runs (the blocks it continues first, includes
    expanded): pyflakes, pycodestyle and bugbear. An import may come where the text first
    needs it (E402), and a lambda made in a loop is called in that loop (B023)."""
    blocks = chapter_blocks(DOCS / page)
    chains = continuation_chains([b.info for b in blocks])
    continued = {chain[-2] for chain in chains if len(chain) > 1}
    problems = []
    for k, chain in enumerate(chains):
        if k in continued or not blocks[k].runs:
            continue  # a longer chain holds it
        code = "\n\n".join(blocks[i].code for i in chain)
        # fmt: skip
        r = ruff(
            "check",
            "--output-format",
            "concise",
            "--extend-ignore",
            "E402,B023",
            "--stdin-filename",
            f"{page}:{blocks[chain[0]].line}.py",
            "-",
            stdin=code,
        )
        lines = code.splitlines()
        problems += [
            f"{m[0]}\n    {lines[int(m[1]) - 1].strip()}"
            for m in re.finditer(r"^\S+?:(\d+):\d+: .*$", r.stdout, re.M)
        ]
        assert r.returncode == 0 or problems, r.stderr
    assert not problems, "\n".join(problems)


# --- taught functions read as their formulas -----------------------------------------------

INCLUDE = re.compile(
    r'^(?P<indent>\s*)--8<-- "snippets/(?P<module>\w+)\.py:(?P<section>\w+)"'
)
SECTION = re.compile(r"\s*# --8<-- \[(start|end):(\w+)\]")


def taught_sections() -> set[tuple[str, str]]:
    """(module, section) pairs a chapter shows outside its collapsed Setup box."""
    taught = set()
    for page in DOCS.glob("*.md"):
        in_setup = False
        for line in page.read_text().splitlines():
            if line.startswith("??? note") and "Setup" in line:
                in_setup = True
            elif line.strip() and not line[0].isspace():
                in_setup = False
            m = INCLUDE.match(line)
            if m and not (in_setup and m["indent"]):
                taught.add((m["module"], m["section"]))
    return taught


def is_guard(statement: ast.stmt) -> bool:
    """An input check: a call of a check_* function, or an `if ...: raise`."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        f = statement.value.func
        return getattr(f, "id", getattr(f, "attr", "")).lstrip("_").startswith("check")
    if isinstance(statement, ast.If) and not statement.orelse:
        return all(isinstance(s, ast.Raise) for s in statement.body)
    return isinstance(statement, ast.Raise)


def taught_functions() -> list[tuple[str, int, int]]:
    """(module.function, body lines, guard lines) of each function the chapters teach. Body:
    the non-blank, non-comment lines after the docstring."""
    taught, rows = taught_sections(), []
    for path in sorted((ROOT / "snippets").glob("*.py")):
        text = path.read_text()
        lines, section, where = text.splitlines(), None, {}
        for number, line in enumerate(lines, 1):
            m = SECTION.match(line)
            if m:
                section = m[2] if m[1] == "start" else None
            elif section:
                where[number] = section

        def count(statements) -> int:
            return sum(
                1
                for s in statements
                for i in range(s.lineno, s.end_lineno + 1)
                if lines[i - 1].strip() and not lines[i - 1].strip().startswith("#")
            )

        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("check"):
                continue
            if (path.stem, where.get(node.lineno)) not in taught:
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            guards = [s for s in body if is_guard(s)]
            rows.append((f"{path.stem}.{node.name}", count(body), count(guards)))
    return rows


# The taught functions that check their input in two lines, and why one cannot do.
TWO_CHECKS = {
    "autodiff.vjp": "x is checked before f builds its graph, and v against the shape of "
    "f(x) after it: f must not run on unchecked input, and only its output gives v's shape",
    "logistic_regression.exp_shifted": "z is checked, then the row max the shift needs "
    "anyway: a finite-check of z itself would read the logits once more, against the "
    "softmax's 1.5x goal (performance page)",
}


def test_taught_functions_read_as_their_formulas():
    """Issue 17: a median body of at most 8 lines, at most a quarter of them input checks,
    and no taught function spends more than one line on its checks."""
    rows = taught_functions()
    median = statistics.median(body for _, body, _ in rows)
    share = sum(g for *_, g in rows) / sum(body for _, body, _ in rows)
    print(
        f"{len(rows)} taught functions: median body {median} lines, guards {share:.1%}"
    )
    assert len(rows) > 200  # the measure still finds the chapters' functions
    assert median <= 8
    assert share <= 0.25
    assert [name for name, _, guards in rows if guards > 1] == list(TWO_CHECKS)

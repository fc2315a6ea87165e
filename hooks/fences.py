"""How a page's fenced code reads, shared by the build hook (``hooks/site.py``) and the doc
tests (``tests/docblocks.py``): one definition of a Python block, of a container's body, of
a fence's language and options, and of the blocks a continuation runs, so that the site and the
tests cannot disagree about which blocks exist or what a block's copy button copies.

Only the standard library and pymdown-extensions' own parser of fence options: the build
needs nothing from the test suite.
"""

import re

PYTHON = ("py", "python", "python3")
CONTAINER = re.compile(r"^(?P<indent> *)(?:!!!|\?\?\?\+?|===\+?)\s")
# `{.python notest title="..."}` or a bare `python`: the first word or class is the language.
_LANG = re.compile(r"^\s*\{?\s*\.?([\w+-]+)")


def dedent_containers(text: str, opener=lambda line: "") -> str:
    """Replace each admonition / details / tab opener by ``opener(line)`` (a blank line unless
    told otherwise) and dedent its body.

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
            out.append(opener(expanded.strip()))
        else:
            out.append(expanded[stack[-1] :] if stack else line)
    return "\n".join(out)


def fence_lang(info: str) -> str | None:
    """The language of a fence's info string (``python``, ``{.python notest}``), or None."""
    m = _LANG.match(info)
    return m.group(1) if m else None


def fence_options(info: str) -> set[str]:
    """A fence's options (``continuation``, ``notest``, ...) as pytest-markdown-docs reads them
    with ``--markdown-docs-syntax=superfences`` (``parse_superfences_block_info``): the info
    string without its braces, split on whitespace, less the language."""
    info = info.strip()
    if not info.startswith("{"):
        return set(info.split()[1:])
    words = info.strip("{}").split()
    lang = next((w for w in words if w.startswith(".")), None)
    return {w for w in words if w != lang} if lang else set(words[1:])


def continuation_chains(infos: list[str]) -> list[list[int]]:
    """For the Python blocks of a page (their info strings, in page order), the blocks each
    one's doc test executes, in order, as indices into ``infos``: itself, preceded by the chain
    of the block it continues.

    pytest-markdown-docs (0.9.2, ``extract_fence_tests``) runs a ``continuation`` block after
    the code of the previous block that *runs* (a ``notest`` block is skipped and does not end
    a chain) and runs every other block on its own. A ``notest`` block runs nowhere: its chain
    is itself.
    """
    chains, previous = [], []
    for k, info in enumerate(infos):
        options = fence_options(info)
        if "notest" in options:
            chains.append([k])
            continue
        chain = (previous if "continuation" in options else []) + [k]
        chains.append(chain)
        previous = chain
    return chains

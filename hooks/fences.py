"""How a page's fenced code reads, shared by the build hook (``hooks/site.py``) and the doc
tests (``tests/docblocks.py``): one definition of a Python block, of a container's body, and of
a fence's language, so that the site and the tests cannot disagree about which blocks exist.

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
            out.append(expanded[stack[-1]:] if stack else line)
    return "\n".join(out)


def fence_lang(info: str) -> str | None:
    """The language of a fence's info string (``python``, ``{.python notest}``), or None."""
    m = _LANG.match(info)
    return m.group(1) if m else None

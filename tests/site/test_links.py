"""Links of the built site: every internal link and anchor resolves, and every external link
is one of those listed in includes/links.md.

Not linkchecker: on this site (notebook pages inline ~1 MB of HTML and base64 figures each) it
took 31 s of CPU, a third of the suite's budget, to check what this does in well under one.
"""

import pathlib
import re
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from tests.docblocks import DOCS, ROOT
from tests.site.conftest import repo_url_of

LINKS = ROOT / "includes" / "links.md"
# the footer's "Made with"
THEME_LINKS = {"https://squidfunk.github.io/mkdocs-material/"}
# http:, https:, mailto:, data:, ...
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


class Links(HTMLParser):
    """The ids of a page and the targets of its links (``href``, ``src``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            # the published address, not a file here
            if attrs.get(name) and not (
                tag == "link" and attrs.get("rel") in ("canonical", "alternate")
            ):
                self.targets.append(attrs[name])


@pytest.fixture(scope="module")
def pages(built_site) -> dict[pathlib.Path, Links]:
    parsed = {}
    for path in sorted(built_site.rglob("*.html")):
        links = Links()
        links.feed(path.read_text("utf8"))
        parsed[path] = links
    return parsed


def resolve(
    site: pathlib.Path, page: pathlib.Path, target: str
) -> tuple[pathlib.Path, str]:
    """The file a relative link of a page points to (a directory means its index.html)."""
    base = "/" + page.relative_to(site).as_posix()
    url = urlsplit(urljoin(base, target))
    path = site / unquote(url.path).lstrip("/")
    if url.path.endswith("/") or path.is_dir():
        path = path / "index.html"
    return path, unquote(url.fragment)


def test_internal_links_and_anchors_resolve(built_site, pages):
    broken = []
    for page, links in pages.items():
        for target in links.targets:
            if EXTERNAL.match(target) or target.startswith("//"):
                continue
            path, anchor = resolve(built_site, page, target)
            where = f"{page.relative_to(built_site)}: {target}"
            if not path.is_file():
                broken.append(f"{where} (no {path.relative_to(built_site)})")
            elif anchor and path in pages and anchor not in pages[path].ids:
                broken.append(f"{where} (no id {anchor!r} there)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def listed_links() -> set[str]:
    return set(re.findall(r"^\[[^\]]+\]:\s*(\S+)", LINKS.read_text("utf8"), re.M))


def test_external_links_are_listed_in_one_place(built_site, pages):
    """Pages link outside the site only through includes/links.md, so the whole list of
    external links is one file to review (and to check online, which the tests never do)."""
    listed = listed_links()
    # the header's, edit and commit links: the build's own
    repo = repo_url_of(built_site)
    own = ("http://127.0.0.1:8000/",) + ((repo + "/",) if repo else ())
    if repo:  # and its notebooks on Colab (the Open in Colab buttons, see test_site.py)
        colab = repo.replace(
            "https://github.com/", "https://colab.research.google.com/github/"
        )
        own += (colab + "/blob/notebooks/",)
    for page, links in pages.items():
        for target in links.targets:
            # the site's own address when local, and its repository
            if (
                re.match(r"https?:", target)
                and target != repo
                and not target.startswith(own)
            ):
                assert target in listed | THEME_LINKS, (
                    f"{page}: {target} is not in {LINKS.relative_to(ROOT)}"
                )
    inline = [
        f"{p.relative_to(ROOT)}: {m}"
        for p in sorted(DOCS.rglob("*.md"))
        for m in re.findall(r"\]\((https?:[^)]*)\)", p.read_text("utf8"))
    ]
    assert not inline, (
        "write external links as [text][name] with the URL in "
        f"{LINKS.relative_to(ROOT)}:\n" + "\n".join(inline)
    )


def test_each_external_link_is_defined_once():
    """One label per URL and one URL per label: two names for one paper drift apart."""
    import collections

    definitions = re.findall(r"^\[([^\]]+)\]:\s*(\S+)", LINKS.read_text("utf8"), re.M)
    labels = collections.Counter(label.lower() for label, _ in definitions)
    urls = collections.Counter(url for _, url in definitions)
    assert not [label for label, n in labels.items() if n > 1], labels.most_common(3)
    assert not [url for url, n in urls.items() if n > 1], urls.most_common(3)


def test_the_link_check_finds_a_broken_link_and_anchor(built_site, pages):
    """The check above can fail: a missing page and a missing anchor are both reported."""
    page = built_site / "index.html"
    assert resolve(built_site, page, "no-such-chapter/")[0].is_file() is False
    path, anchor = resolve(built_site, page, "einsum/#no-such-section")
    assert path.is_file() and anchor not in pages[path].ids
    path, anchor = resolve(
        built_site, built_site / "einsum" / "index.html", "../conv/#conv1d"
    )
    assert path == built_site / "conv" / "index.html"

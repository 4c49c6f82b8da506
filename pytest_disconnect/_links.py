"""The documentation site's address, set here once: reports link to its pages.

pyproject.toml's Documentation URL and mkdocs.yml's site_url repeat it; a test checks
that all three agree and that every page and anchor a report links to exists in docs/.
"""

from __future__ import annotations

DOCS_URL = "https://pytest-disconnect.readthedocs.io/en/latest/"
REPOSITORY_URL = "https://github.com/pytest-disconnect/pytest-disconnect"

#: Every (page, anchor) a report links to, filled as the links are made, checked by the tests.
LINKED: set[tuple[str, str]] = set()


def docs_link(page: str, anchor: str = "") -> str:
    """The site's URL of ``docs/<page>.md`` (``anchor`` a heading's slug), as MkDocs serves it."""
    LINKED.add((page, anchor))
    path = "" if page == "index" else f"{page}/"
    return f"{DOCS_URL}{path}" + (f"#{anchor}" if anchor else "")

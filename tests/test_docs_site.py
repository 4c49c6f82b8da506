"""The docs site: one address everywhere, every link a report prints lands on a heading, and
every code block is marked with its language (python blocks run: tests/docs_blocks.py)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]  # the slugs MkDocs makes

from pytest_disconnect import _links
from pytest_disconnect._report import text as _report

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
#: python runs; the others are shown, not run.
LANGUAGES = {"python", "console", "text", "toml", "ini"}


def test_one_docs_address() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    site_url = re.search(r"^site_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    assert site_url is not None
    assert project["urls"]["Documentation"] == site_url.group(1) == _links.DOCS_URL
    assert project["urls"]["Source"] == _links.REPOSITORY_URL


def headings(page: Path) -> set[str]:
    return {slugify(title.strip(), "-") for title in re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)}


def test_every_link_in_a_report_lands_on_a_heading() -> None:
    assert _report.__name__ in sys.modules  # importing _report made its links
    assert _links.LINKED
    for page, anchor in sorted(_links.LINKED):
        path = ROOT / "docs" / f"{page}.md"
        assert path.exists(), f"a report links to {page}, which docs/ does not have"
        assert not anchor or anchor in headings(path), f"docs/{page}.md has no heading #{anchor}"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_code_block_says_its_language(page: Path) -> None:
    inside = False
    for number, line in enumerate(page.read_text().split("\n"), 1):
        fence = re.match(r"^```(\S*)", line)
        if fence is None:
            continue
        if not inside:
            assert fence.group(1) in LANGUAGES, f"{page.name}:{number}: a block needs one of {sorted(LANGUAGES)}"
        inside = not inside


def test_the_readme_is_a_landing_page() -> None:
    assert len((ROOT / "README.md").read_text().split("\n")) < 250

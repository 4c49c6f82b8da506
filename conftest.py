"""Runs every code block of README.md and docs/ as part of the test suite (see tests/docs_blocks.py)."""

from tests.docs_blocks import collector

pytest_collect_file = collector()

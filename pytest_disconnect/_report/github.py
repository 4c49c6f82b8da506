"""GitHub Actions: the run's table in the job summary, an error annotation at each failing handler.

Both are plain text GitHub reads: markdown appended to the file named by
``$GITHUB_STEP_SUMMARY``, and ``::error file=...,line=...::message`` workflow
commands printed to standard output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .._asgi.routes import template
from .summary import SEVERITY, EndpointStats


def active(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def step_summary(table: Mapping[str, EndpointStats], handlers: Mapping[str, str], footer: str) -> str:
    """The end-of-run table as markdown, worst first."""
    rows = sorted(table.values(), key=lambda stats: (SEVERITY.index(stats.verdict),
                                                     -(stats.worst_latency or 0.0), stats.endpoint))
    lines = ["### pytest-disconnect", "",
             "| endpoint | requests | disconnected | worst stop latency | verdict | handler |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for stats in rows:
        verdict = stats.verdict if stats.passed else f"**{stats.verdict}** :x:"
        where = handlers.get(template(stats.endpoint))
        handler = f"`{where}`" if where is not None else ""
        lines.append(f"| `{_cell(stats.endpoint)}` | {stats.requests} | {stats.disconnected} | "
                     f"{stats.show_latency()} | {verdict} | {handler} |")
    failing = sum(not stats.passed for stats in rows)
    lines += ["", f"{len(rows)} endpoints, {failing} with a failing verdict. {footer}".rstrip(), ""]
    return "\n".join(lines) + "\n"


def annotation(file: str, line: int | None, title: str, message: str) -> str:
    """'::error file=app.py,line=25,title=...::message', escaped as GitHub's workflow commands require."""
    properties = [f"file={_property(file)}"]
    if line is not None:
        properties.append(f"line={line}")
    properties.append(f"title={_property(title)}")
    return f"::error {','.join(properties)}::{_data(message)}"


def error_lines(entries: Iterable[tuple[str, int | None, str, str]]) -> list[str]:
    return [annotation(*entry) for entry in entries]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")

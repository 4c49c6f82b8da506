"""The run's summary: per endpoint, how many requests, the worst stop latency, the worst verdict.

Each test's results are folded per endpoint and stored as the test's user
properties: pytest writes those to the JUnit XML report, and pytest-xdist ships
them from its workers to the controller, where the table is printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .._result import DisconnectResult, Verdict

PROPERTY_PREFIX = "disconnect "

#: Worst first: the order of the table, and which verdict an endpoint shows.
SEVERITY: tuple[Verdict, ...] = ("resisted", "cancelled", "leaked", "kept-running", "not-disconnected",
                                 "cancelled-from-outside", "stopped", "finished")


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's requests, folded."""

    endpoint: str
    requests: int
    disconnected: int
    verdict: Verdict
    #: Seconds from the disconnect (or the app's return, for leaked work) to the last work's end.
    worst_latency: float | None = None
    #: The work never ended on its own: worst_latency is when the harness cancelled it.
    censored: bool = False
    #: Disconnected requests whose app saw the disconnect (receive() or send()): the rest only ended in time.
    looked: int = 0

    @classmethod
    def of(cls, result: DisconnectResult) -> EndpointStats:
        latency, censored = _stop_latency(result)
        return cls(result.endpoint, 1, int(result.disconnected_at is not None), result.verdict,
                   latency, censored, int(bool(result.looked)))

    def merge(self, other: EndpointStats) -> EndpointStats:
        worse = other if SEVERITY.index(other.verdict) < SEVERITY.index(self.verdict) else self
        latency, censored = self.worst_latency, self.censored
        if other.worst_latency is not None and (latency is None or (other.censored, other.worst_latency)
                                                > (censored, latency)):
            latency, censored = other.worst_latency, other.censored
        return replace(self, requests=self.requests + other.requests,
                       disconnected=self.disconnected + other.disconnected, looked=self.looked + other.looked,
                       verdict=worse.verdict,
                       worst_latency=latency, censored=censored)

    @property
    def passed(self) -> bool:
        return self.verdict in ("stopped", "finished")

    def show_latency(self) -> str:
        if self.worst_latency is None:
            return "-"
        shown = _seconds(self.worst_latency)
        return f"> {shown}" if self.censored else shown

    def to_property(self) -> tuple[str, str]:
        """('disconnect GET /items/{id}', 'requests=3; disconnected=1; ...'), for JUnit and xdist."""
        latency = "" if self.worst_latency is None else f"{self.worst_latency:.6f}"
        return (PROPERTY_PREFIX + self.endpoint,
                f"requests={self.requests}; disconnected={self.disconnected}; looked={self.looked}; "
                f"verdict={self.verdict}; "
                f"worst_latency_s={'>' if self.censored else ''}{latency}")

    @classmethod
    def from_property(cls, name: str, value: object) -> EndpointStats | None:
        if not name.startswith(PROPERTY_PREFIX) or not isinstance(value, str):
            return None
        try:
            fields = dict(part.split("=", 1) for part in value.split("; "))
            latency = fields["worst_latency_s"]
            verdict = fields["verdict"]
            if verdict not in SEVERITY:
                return None
            return cls(name[len(PROPERTY_PREFIX):], int(fields["requests"]), int(fields["disconnected"]),
                       verdict,
                       float(latency.lstrip(">")) if latency.lstrip(">") else None, latency.startswith(">"),
                       int(fields.get("looked", "0")))
        except (KeyError, ValueError):
            return None


def fold(results: Iterable[DisconnectResult], into: dict[str, EndpointStats] | None = None
         ) -> dict[str, EndpointStats]:
    """Results folded per endpoint, in first-seen order."""
    table = {} if into is None else into
    for result in results:
        add(table, EndpointStats.of(result))
    return table


class Tally:
    """One endpoint's requests folded as they come, in place: EndpointStats.merge's rules without
    a frozen object per request (a test may loop over thousands of scenarios)."""

    __slots__ = ("censored", "disconnected", "endpoint", "latency", "looked", "requests", "severity")

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.requests = self.disconnected = self.looked = 0
        self.severity = len(SEVERITY)
        self.latency: float | None = None
        self.censored = False

    def add(self, result: DisconnectResult) -> None:
        self.requests += 1
        self.disconnected += result.disconnected_at is not None
        self.looked += bool(result.looked)
        self.severity = min(self.severity, SEVERITY.index(result.verdict))
        latency, censored = _stop_latency(result)
        if latency is not None and (self.latency is None or (censored, latency) > (self.censored, self.latency)):
            self.latency, self.censored = latency, censored

    def stats(self) -> EndpointStats:
        return EndpointStats(self.endpoint, self.requests, self.disconnected, SEVERITY[self.severity],
                             self.latency, self.censored, self.looked)


def tally(tallies: dict[str, Tally], result: DisconnectResult) -> None:
    """Fold one result into its endpoint's tally."""
    endpoint = result.endpoint
    known = tallies.get(endpoint)
    if known is None:
        known = tallies[endpoint] = Tally(endpoint)
    known.add(result)


def add(table: dict[str, EndpointStats], stats: EndpointStats) -> None:
    known = table.get(stats.endpoint)
    table[stats.endpoint] = stats if known is None else known.merge(stats)


def worth_showing(table: dict[str, EndpointStats]) -> bool:
    """Quiet unless a client left somewhere or something failed."""
    return any(stats.disconnected or not stats.passed for stats in table.values())


def summary_lines(table: dict[str, EndpointStats], settings_line: str) -> list[str]:
    """The table, worst first; then the settings that applied."""
    rows = sorted(table.values(), key=lambda stats: (SEVERITY.index(stats.verdict),
                                                     -(stats.worst_latency or 0.0), stats.endpoint))
    header = ("endpoint", "requests", "disconnected", "looked", "worst stop latency", "verdict")
    cells = [header, *((stats.endpoint, str(stats.requests), str(stats.disconnected), str(stats.looked),
                        stats.show_latency(), stats.verdict if stats.passed else f"{stats.verdict} FAILED")
                       for stats in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = [_row(row, widths) for row in cells]
    lines.insert(1, _row(tuple("-" * width for width in widths), widths))
    failing = sum(not stats.passed for stats in rows)
    lines.append("")
    endpoints = f"{len(rows)} endpoint{'s' if len(rows) != 1 else ''}"
    lines.append(f"{endpoints}, {failing} with a failing verdict" if failing else f"{endpoints}, all passing")
    unaware = [stats.endpoint for stats in rows if stats.passed and stats.disconnected > stats.looked]
    if unaware:
        lines.append(f"never looked at the disconnect ({len(unaware)}): {', '.join(unaware)}; their work ended "
                     "within the tolerance on its own, which shows it was short, not that it stops")
    lines.append(settings_line)
    return lines


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, *numbers, last = cells
    return "  ".join([first.ljust(widths[0]),
                      *(cell.rjust(width) for cell, width in zip(numbers, widths[1:-1], strict=True)),
                      last]).rstrip()


def _stop_latency(result: DisconnectResult) -> tuple[float | None, bool]:
    base = result.disconnected_at
    if result.verdict == "leaked":
        base = result.returned_at
    if base is None:
        return None, False
    if result.stopped_at is not None:
        return max(0.0, result.stopped_at - base), False
    if result.cancelled_at is not None:
        return max(0.0, result.cancelled_at - base), True
    return None, False


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"

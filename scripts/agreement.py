"""Does the in-process verdict match what a real server shows? Every sample and catalogue case,
in-process under each server profile, and live behind the matching real server.

For each case and profile: the verdict and stop latency in-process, then live (the app served
by uvicorn or hypercorn on 127.0.0.1, a real client that closes its socket at the same moment),
and whether they agree: the same verdict, and latencies within --slack seconds of each other.
`asgi-2.4` has no live server (uvicorn and hypercorn advertise 2.3 and 2.1), so it shows "n/a".

Run:  python scripts/agreement.py                 (every case; about 2 minutes)
      python scripts/agreement.py --close rst     (the client resets instead of closing)
      python scripts/agreement.py --only b1 b4    (cases whose name starts with these)
      python scripts/agreement.py --libraries     (sse-starlette, FastAPI, Litestar, Django streams)
Exit status 1 if any case disagrees.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from pytest_disconnect import PROFILES, Disconnect, DisconnectResult, LiveSetupError  # noqa: E402

#: Profiles with a real server to check them against.
LIVE_SERVERS = ("uvicorn", "hypercorn")
#: A real server that never called the app: a client that reset the connection mid-body
#: (hypercorn drops such a request), so there was nothing to compare.
NOTHING_RAN = "the server dropped a request the client reset mid-body: the app never ran"
#: Cases whose live verdict may differ, and why (examples/README.md, the bug catalogue).
EXPLAINED = {
    "catalogue b3 poll": "real servers cut the body into messages their own way (uvicorn joins what has "
                         "arrived, hypercorn adds an empty end-of-body message), and B3 eats one message",
}


@dataclass(frozen=True)
class Case:
    name: str
    app: Any
    method: str = "GET"
    path: str = "/"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    case: str
    profile: str
    in_process: DisconnectResult
    live: DisconnectResult | None
    live_error: str | None = None

    @property
    def explained(self) -> str | None:
        if self.live_error is not None and "nothing ran" in self.live_error:
            return NOTHING_RAN
        return next((why for prefix, why in EXPLAINED.items() if self.case.startswith(prefix)), None)

    def agrees(self, slack: float) -> bool | None:
        """None when there is nothing to compare (no live server for the profile, or explained)."""
        if self.explained is not None:
            return None
        if self.live is None:
            return None if self.live_error is None else False
        if self.in_process.verdict != self.live.verdict:
            return False
        ours, theirs = self.in_process.latency, self.live.latency
        return ours is None or theirs is None or abs(ours - theirs) <= slack


def sample_cases() -> list[Case]:
    import app as sample
    import escapes

    cases = [Case(f"app.py {path}", sample.app, path=path, options={"after": 0.5})
             for path in ("/no-context", "/with-context", "/cancel-on-disconnect")]
    for route in escapes.app.routes:
        path = getattr(route, "path", "")
        if path.startswith(("/sync", "/thread", "/process", "/blocks", "/awaits")):
            cases.append(Case(f"escapes.py {path}", escapes.app, path=path,
                              options={"after": 0.2, "tolerance": 0.3, "patience": 1.5}))
    return cases


def catalogue_cases() -> list[Case]:
    try:
        import catalogue
    except ImportError:
        return []
    return [Case(f"catalogue {case.name}", case.app, case.method, case.path, dict(case.options))
            for case in getattr(catalogue, "CASES", ())]


def library_cases() -> list[Case]:
    """Streams on the libraries users stream with (tests/library_apps.py), those installed."""
    import importlib.util

    from tests.library_apps import CASES

    return [Case(case.title, case.build(), path=case.path, options=dict(case.options))
            for case in CASES if importlib.util.find_spec(case.module) is not None]


def run_case(case: Case, profile: str, close: str) -> Row:
    # A Disconnect made by hand runs the app's lifespan (Litestar's starts an event emitter):
    # close() shuts it down, as the fixture does after each test.
    disconnect = Disconnect()
    try:
        return _run_case(disconnect, case, profile, close)
    finally:
        disconnect.close()


def _run_case(disconnect: Disconnect, case: Case, profile: str, close: str) -> Row:
    options = {"check": False, "server": profile, **case.options}
    in_process = disconnect.run(case.app, case.method, case.path, **options)
    if profile not in LIVE_SERVERS:
        return Row(case.name, profile, in_process, None)
    try:
        live = disconnect.run(case.app, case.method, case.path, live=close, **options)
    except LiveSetupError as exc:
        return Row(case.name, profile, in_process, None, str(exc))
    return Row(case.name, profile, in_process, live)


def rows(cases: Iterable[Case], profiles: Sequence[str], close: str) -> Iterable[Row]:
    for case in cases:
        for profile in profiles:
            yield run_case(case, profile, close)


def _latency(result: DisconnectResult | None) -> str:
    if result is None or result.latency is None:
        return "-"
    return f"{result.latency * 1000:.1f} ms" if result.latency < 1 else f"{result.latency:.2f} s"


def table(results: Sequence[Row], slack: float) -> list[str]:
    header = ("case", "profile", "in-process", "latency", "live", "latency", "agree?")
    lines = [header]
    for row in results:
        agree = row.agrees(slack)
        lines.append((row.case, row.profile, row.in_process.verdict, _latency(row.in_process),
                      row.live.verdict if row.live is not None else ("error" if row.live_error else "n/a"),
                      _latency(row.live),
                      "explained" if row.explained else {True: "yes", False: "NO", None: "-"}[agree]))
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                for line in lines]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    rendered += [f"  {row.case} [{row.profile}] live: {row.live_error}" for row in results if row.live_error]
    reasons = {**EXPLAINED, "(live error)": NOTHING_RAN}
    rendered += [f"  explained: {prefix}...: {why}" for prefix, why in reasons.items()
                 if any(row.explained == why for row in results)]
    return rendered


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--close", choices=("fin", "rst", "half-close"), default="fin")
    parser.add_argument("--only", nargs="*", default=(), help="case name prefixes (after 'catalogue ')")
    parser.add_argument("--slack", type=float, default=0.01, help="latency difference that still agrees, s")
    parser.add_argument("--libraries", action="store_true",
                        help="the library streams (tests/library_apps.py) instead of the samples and catalogue")
    args = parser.parse_args(argv)
    cases = library_cases() if args.libraries else sample_cases() + catalogue_cases()
    profiles = list(LIVE_SERVERS) if args.libraries else list(PROFILES)
    if args.only:
        cases = [case for case in cases if case.name.split(" ", 1)[-1].startswith(tuple(args.only))]
    results = []
    for row in rows(cases, profiles, args.close):
        results.append(row)
        print(f"{row.case} [{row.profile}]: {row.in_process.verdict} / "
              f"{row.live.verdict if row.live else row.live_error or 'n/a'}", file=sys.stderr)
    print("\n".join(table(results, args.slack)))
    disagree = [row for row in results if row.agrees(args.slack) is False]
    print(f"\n{len(results)} rows, {len(disagree)} disagree (close={args.close}, slack={args.slack * 1000:g} ms)")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())

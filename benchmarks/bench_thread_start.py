"""Cost of watching threads the app starts (threading.Thread.start wrapped while scenarios run).

Prints the time to start and join a no-op thread, unwrapped and wrapped outside any scenario
(the case every other thread in the process pays), and the ratio.
"""

from __future__ import annotations

import threading
import time

from pytest_disconnect._watch import plain_threads as _plain_threads

N = 2000


def start_and_join() -> float:
    began = time.perf_counter()
    for _ in range(N):
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
    return (time.perf_counter() - began) / N


def main() -> None:
    plain = min(start_and_join() for _ in range(5))
    with _plain_threads.START.lease():
        wrapped = min(start_and_join() for _ in range(5))
    print(f"thread start+join: {plain * 1e6:.1f} us plain, {wrapped * 1e6:.1f} us wrapped "
          f"(outside scenarios), ratio {wrapped / plain:.3f}")


if __name__ == "__main__":
    main()

"""Counts and latencies of one closed-loop workload run, shared by the thread-based benches
(cert, transit) so that their rates and percentiles are computed the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    items: int = 0  # batch items done (transit's batch workloads); 0 where a request is one item
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def ips(self) -> float:
        return self.items / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        """The ``p``-th percentile latency in milliseconds."""
        if not self.latencies:
            return 0.0
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(p / 100 * len(data)))] * 1000

    def merge(self, part: Result) -> Result:
        self.requests += part.requests
        self.items += part.items
        self.errors += part.errors
        self.latencies.extend(part.latencies)
        self.elapsed += part.elapsed
        return self


def run_threads(threads: int, work: Callable[[Result, threading.Barrier], None]) -> Result:
    """Run ``work`` on ``threads`` threads; each waits on the barrier once set up (so that all
    start together) and fills a Result of its own. The sum has the wall time from the start."""
    result = Result()
    lock = threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def worker() -> None:
        local = Result()
        work(local, start_gate)
        with lock:
            result.merge(local)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    result.elapsed = time.perf_counter() - began
    return result

"""Progress of long work as lines on stderr, fed from inside the batches (`engine.run_batch`
calls `on_steps(n)` after every chunk of n steps, so a single long run reports too).

* When stderr is not a terminal (a terminal gets tqdm bars) and the work is long (at least
  `LONG_WORK` config·steps): a first line saying what runs, then every `LINE_EVERY` seconds the
  config·steps done of all, the rate and the time left, and a line when a batch finishes.
* Always: once the first second of work has set a rate, work that would take longer than
  `ESTIMATE_OVER` is announced with its estimate, so a mistyped `--steps 1e14` is not silent.
"""
from __future__ import annotations

import sys
import time

LONG_WORK = 2_000_000  # config·steps (≈ a minute on one CPU core): announce it when not on a terminal
LINE_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal
ESTIMATE_OVER = 3600.0  # seconds: longer work is announced with its estimate after its first second
RATE_AFTER = 1.0  # seconds of work before the rate is trusted for the estimate


class Progress:
    """Counts the config·steps of `batches` ([K, steps] per batch) as they are done."""

    def __init__(self, batches: list[tuple[int, int]], lines: bool):
        self.total = sum(k * steps for k, steps in batches)
        self.batches = len(batches)
        self.unit = "steps" if all(k == 1 for k, _ in batches) else "config·steps"
        self.lines = lines and self.total >= LONG_WORK
        self.done, self.index, self.K = 0, 0, 1
        self.start = self.last = time.perf_counter()
        self.estimated = False

    def announce(self, message: str) -> None:
        if self.lines:
            line(message)

    def batch(self, index: int, K: int) -> None:
        """Batch `index` (0-based) of K configs begins."""
        self.index, self.K = index, K

    def on_steps(self, n: int) -> None:
        """n steps of the current batch are done (the engine's callback)."""
        self.done += n * self.K
        now = time.perf_counter()
        if not self.estimated and now - self.start >= RATE_AFTER:
            self.estimated = True
            left = (self.total - self.done) / self.rate(now)
            if left > ESTIMATE_OVER:
                line(f"{self.total:,} {self.unit} at {self.rate(now):,.0f} {self.unit}/s take about {duration(left)} more; "
                     f"Ctrl-C stops (finished runs are kept)")
        if self.lines and now - self.last >= LINE_EVERY:
            self.last = now
            line(self.status(now))

    def batch_done(self, index: int, size: int) -> None:
        now = time.perf_counter()
        if self.lines and (now - self.last >= LINE_EVERY or index == self.batches - 1):
            self.last = now
            line(f"batch {index + 1}/{self.batches} done ({size} configs); {now - self.start:.0f} s so far")

    def rate(self, now: float) -> float:
        return self.done / max(now - self.start, 1e-9)

    def status(self, now: float) -> str:
        rate = self.rate(now)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{self.done:,} of {self.total:,} {self.unit} ({100 * self.done / self.total:.0f} %), "
                f"{rate:,.0f} {self.unit}/s, about {duration(left)} left (batch {self.index + 1}/{self.batches}, "
                f"{self.K} configs)")


def duration(seconds: float) -> str:
    """`seconds` in the largest fitting unit: s, min, h, days or years."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def line(message: str) -> None:
    print(f"toylab: {message}", file=sys.stderr, flush=True)

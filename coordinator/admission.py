"""Per-analyst admission at the coordinator: a rate (token bucket) and a cap on county queries in flight.

One analyst's burst must not make another wait: over either limit, a query is refused at once with
RESOURCE_EXHAUSTED and a retry-after, rather than queued behind the others."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from coordinator.config import AnalystLimits

RETRY_AFTER_KEY = "retry-after"


class Refused(Exception):
    """A query over an analyst's limit; retry_after is the seconds to wait before trying again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    at: float
    in_flight: int = 0


class Admission:
    """Thread-safe per-analyst token buckets and in-flight counts."""

    def __init__(self, limits: AnalystLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @contextmanager
    def admit(self, analyst: str) -> Iterator[None]:
        """Hold one of the analyst's in-flight places for the block; Refused when over the rate or the cap."""
        self._take(analyst)
        try:
            yield
        finally:
            with self._lock:
                self._buckets[analyst].in_flight -= 1

    def _take(self, analyst: str) -> None:
        limits = self.limits
        with self._lock:
            now = self._clock()
            b = self._buckets.setdefault(analyst, _Bucket(tokens=float(limits.burst), at=now))
            b.tokens = min(float(limits.burst), b.tokens + (now - b.at) * limits.rate_per_second)
            b.at = now
            if b.in_flight >= limits.concurrent:
                raise Refused(
                    f"{analyst!r} already has {b.in_flight} county queries running (the limit is "
                    f"{limits.concurrent}); wait for one to finish and retry",
                    retry_after=1.0,
                )
            if b.tokens < 1.0:
                wait = math.ceil((1.0 - b.tokens) / limits.rate_per_second * 10) / 10
                raise Refused(
                    f"{analyst!r} is over the rate of {limits.rate_per_second:g} county queries a second "
                    f"(bursts of {limits.burst}); retry after {wait:g} s",
                    retry_after=wait,
                )
            b.tokens -= 1.0
            b.in_flight += 1

"""Timing side by side: rates of repeated work, interleaved rounds, summaries of ratios."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ganstudy.config import BLOCK_STEPS
from ganstudy.engine.threads import torch_threads

__all__ = ["torch_threads"]  # the one context manager of threads.py, as the figures import it


def default_threads() -> int:
    """Every core this process may use (torch's own default): the figures are about the
    machine. The reference loop, the trainer and the matmul ceiling all run on this count.
    (A study trial runs on its resources.cpu threads; `run_bench(threads=1)` shows that.)"""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def now(device: torch.device) -> float:
    """Wall time after the device has finished the work queued so far."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median and spread of per-round values."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": list(values),
    }


def ratio_summary(a: Sequence[float], b: Sequence[float], scale: float = 1.0) -> dict[str, Any]:
    """scale·a/b as a figure: the ratio of the two sides' medians over rounds, so that it
    equals the ratio of the medians printed beside it, with the spread of the per-round
    ratios (which always holds it: a_i >= m·b_i for every round implies median(a) >=
    m·median(b)). Key names as `summary`'s."""
    rounds = [scale * x / y for x, y in zip(a, b, strict=True)]
    return {
        "median": scale * statistics.median(a) / statistics.median(b),
        "min": min(rounds),
        "max": max(rounds),
        "rounds": rounds,
    }


class Rate:
    """A thing that does `n` units of work per sample and reports units per second."""

    def __init__(self, work: Callable[[int], None], device: torch.device, sample_s: float):
        self.work, self.device = work, device
        self.n = self._calibrate(sample_s)

    def _calibrate(self, sample_s: float) -> int:
        """Units of work that fill about sample_s (grown 4x at a time, then scaled)."""
        n = 1
        while True:
            start = now(self.device)
            self.work(n)
            elapsed = now(self.device) - start
            if elapsed >= sample_s / 4 or n >= 1 << 20:
                break
            n *= 4
        n = max(1, round(n * sample_s / max(elapsed, 1e-9)))
        # Whole blocks of the trainer's randomness, so each sample pays its share of refills.
        return n if n < BLOCK_STEPS else round(n / BLOCK_STEPS) * BLOCK_STEPS

    def __call__(self) -> float:
        start = now(self.device)
        self.work(self.n)
        return self.n / (now(self.device) - start)


def interleave(samplers: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call every sampler once per round, the order reversed every other round (after one
    discarded warm-up round), and return each one's values by round.

    Why: slow drifts of the machine (other processes, clock boosts) then hit every side
    alike, and no side always runs first, or right after the same other side.
    """
    for sample in samplers.values():
        sample()
    values: dict[str, list[float]] = {name: [] for name in samplers}
    names = list(samplers)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            values[name].append(samplers[name]())
    return values

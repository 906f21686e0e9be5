"""The bench's threads figure: the trainer on one torch thread against torch's default.

Training defaults to one thread (ganstudy/threads.py); this figure measures what that costs
or saves on this machine, as it is loaded now, side by side (interleaved rounds).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from ganstudy.bench.figures import trainer_rate
from ganstudy.bench.images import dcgan_config
from ganstudy.bench.reference import bench_config
from ganstudy.bench.settings import Settings
from ganstudy.bench.timing import default_threads, interleave, ratio_summary, torch_threads
from ganstudy.config import TrialConfig


def threads_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """Trainer steps/s on one torch thread over torch's default (a thread per core), metrics
    off: why training defaults to one thread (threads.py). The machine's other work counts:
    the JSON's others_busy_* say how busy it was."""
    many = default_threads()
    if device.type != "cpu" or many == 1:
        why = "a GPU trains on its own kernels" if device.type != "cpu" else "one core"
        return {"skipped": f"nothing to compare ({why})"}
    rows = []
    for family, config in (
        ("mlp", bench_config(128, 128, device=device.type)),  # TrialConfig's own networks
        ("dcgan", dcgan_config(*s.dcgan_shape, device=device.type)),
    ):
        # A trainer per side, each sized on its own thread count: a sample of either side
        # then lasts about sample_s, however slow the other is.
        def side(threads: int, config: TrialConfig = config) -> Callable[[], float]:
            with torch_threads(threads):
                rate = trainer_rate(config, s.sample_s)

            def sample() -> float:
                with torch_threads(threads):
                    return rate()

            return sample

        v = interleave({"one": side(1), "default": side(many)}, s.rounds)
        rows.append(
            {
                "family": family,
                "width": config.d_width,
                "batch": config.batch_size,
                "ratio": ratio_summary(v["one"], v["default"]),
                "one_thread_steps_per_s": statistics.median(v["one"]),
                "default_steps_per_s": statistics.median(v["default"]),
            }
        )
    return {
        "what": f"trainer steps/s on 1 thread / on torch's default {many}, R = 1, metrics off",
        "default_threads": many,
        "rows": rows,
    }

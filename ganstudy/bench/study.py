"""The study figure: a small study through Ray Tune against the same trials back to back.

Relative to the ideal (sum of back-to-back trial times / concurrent slots), with Ray's
start-up and shutdown timed apart, and the same trials on plain worker processes to tell
the machine's own cost of running side by side from Ray's. Ray only through the run
layer's public API: `run.session` starts and stops it, `ganstudy.run_study` runs the study.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import ganstudy
from ganstudy.bench.settings import Settings
from ganstudy.bench.targets import STUDY_TARGET_TRIAL_S
from ganstudy.bench.timing import summary, torch_threads
from ganstudy.config import TrialConfig, from_dict
from ganstudy.engine.trainer import Trainer
from ganstudy.run import session
from ganstudy.study.spec import StudySpec, spec_from_dict


def bench_spec(
    name: str, steps: int, eval_every: int, replicas: int, params: dict[str, Any], **keys: Any
) -> StudySpec:
    """A grid study on ring8 as the bench runs them: seed 0, js_binned minimised, one CPU
    core per trial (the default resources, whatever the machine has besides); `keys` adds
    study keys (fuse)."""
    return spec_from_dict(
        {
            "name": name,
            "target": "ring8",
            "steps": steps,
            "eval_every": eval_every,
            "replicas": replicas,
            "seed": 0,
            "metric": "js_binned",
            "mode": "min",
            "resources": {"cpu": 1, "gpu": 0},
            "search": {"algorithm": "grid"},
            **keys,
            "params": params,
        },
        source="<bench>",
    )


def _study_spec(s: Settings, steps: int, eval_every: int) -> StudySpec:
    # A grid of trials of equal cost (only learning rates differ), so the ideal is
    # reachable by any scheduler: sum of trial times / slots.
    lrs = [1e-3 * 0.8**i for i in range(s.study_trials)]
    return bench_spec("bench", steps, eval_every, 1, {"lr_d": {"grid": lrs}, "device": "cpu"})


def _trial_configs(spec: StudySpec) -> list[TrialConfig]:
    keys = list(spec.dimensions)
    values = [spec.dimensions[k].args for k in keys]
    return [
        from_dict({**spec.fixed, **dict(zip(keys, combo, strict=True))})
        for combo in itertools.product(*values)
    ]


def _run_trial(config: TrialConfig) -> None:
    for _ in Trainer(config, threads=torch.get_num_threads()).run():
        pass


def _timed_trial(config: TrialConfig) -> float:
    """One trial in a worker process of the plain pool (one thread, as in Ray)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    _run_trial(config)
    return time.perf_counter() - start


def _warm_worker() -> None:
    """Pool worker start-up: one thread, as in Ray; every op called once by a tiny trial, as
    in the (warm) process that times the trials back to back."""
    torch.set_num_threads(1)
    _run_trial(TrialConfig(steps=2, eval_every=1, eval_samples=256, device="cpu"))


def _worker_pid(_: int) -> int:
    time.sleep(0.1)
    return os.getpid()


def _pool_s(configs: list[TrialConfig], slots: int) -> float:
    """Wall time of the trials on `slots` plain worker processes (no Ray), started and warmed
    up beforehand: what running side by side costs on this machine by itself."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    with context.Pool(slots, initializer=_warm_worker) as pool:
        while len(set(pool.map(_worker_pid, range(slots), chunksize=1))) < slots:
            pass  # until every worker has started and answered
        start = time.perf_counter()
        pool.map(_timed_trial, configs, chunksize=1)
        return time.perf_counter() - start


def study_figure(s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Time `s.study_trials` equal trials back to back, on plain processes and through Ray
    Tune (embedded local Ray), `s.study_rounds` times; ratios to the ideal and their parts."""
    # Size the trials: default TrialConfig on one thread (as each Ray trial runs, with
    # resources.cpu = 1), steps chosen so one trial takes about study_trial_s back to back.
    eval_every = TrialConfig().eval_every
    with torch_threads(1):
        sizing = TrialConfig(steps=eval_every, device="cpu")
        _run_trial(sizing)  # warm-up
        start = time.perf_counter()
        _run_trial(sizing)
        per_interval = time.perf_counter() - start
        intervals = max(1, round(s.study_trial_s / per_interval))
        spec = _study_spec(s, intervals * eval_every, eval_every)
        configs = _trial_configs(spec)
        slots = min(len(configs), int(os.cpu_count() or 1))

        rounds: list[dict[str, float]] = []
        for r in range(s.study_rounds):
            log(f"  study round {r + 1}/{s.study_rounds}: {len(configs)} trials back to back")
            trial_s = []
            for config in configs:
                start = time.perf_counter()
                _run_trial(config)
                trial_s.append(time.perf_counter() - start)
            log(f"  study round {r + 1}/{s.study_rounds}: on {slots} plain processes")
            pool_s = _pool_s(configs, slots)
            log(f"  study round {r + 1}/{s.study_rounds}: the same trials through Ray Tune")
            with tempfile.TemporaryDirectory() as folder, _quiet_fds():
                start = time.perf_counter()
                started = session.start()  # the start-up a study does
                ray_start_s = time.perf_counter() - start
                try:
                    start = time.perf_counter()
                    # Ray is up: run_study uses it and leaves the shutdown (timed) to us.
                    out = ganstudy.run_study(spec, results_dir=Path(folder) / "b", progress=False)
                    study_s = time.perf_counter() - start
                finally:
                    start = time.perf_counter()
                    if started:
                        session.stop()
                    ray_stop_s = time.perf_counter() - start
                trials = pd.read_parquet(Path(out) / "trials.parquet")
                # Each trial's own running time inside its Ray worker (Tune's time_total_s).
                in_ray_s = trials.groupby("trial_id")["wall_s"].first().tolist()
            ideal = sum(trial_s) / slots
            rounds.append(
                {
                    "trial_s": statistics.mean(trial_s),
                    "trial_in_ray_s": statistics.mean(in_ray_s),
                    "ideal_s": ideal,
                    "study_s": study_s,
                    "ray_start_s": ray_start_s,
                    "ray_stop_s": ray_stop_s,
                    "ratio": study_s / ideal,
                    "ratio_with_start": (ray_start_s + study_s + ray_stop_s) / ideal,
                    # Side by side on plain processes, no Ray: the machine's own share ...
                    "pool_ratio": pool_s / ideal,
                    # ... and Ray's, relative to that.
                    "ray_over_pool": study_s / pool_s,
                    # Trials run slower side by side in Ray workers than alone ...
                    "trial_slowdown": statistics.mean(in_ray_s) / statistics.mean(trial_s),
                    # ... and the rest is per-trial start-up, scheduling and table writing.
                    "rest_s": study_s - sum(in_ray_s) / slots,
                    # The excess over the ideal for trials of STUDY_TARGET_TRIAL_S: the
                    # slowdown scales with trial length, the rest is taken as fixed.
                    "ratio_at_target_s": statistics.mean(in_ray_s) / statistics.mean(trial_s)
                    + (study_s - sum(in_ray_s) / slots)
                    / (STUDY_TARGET_TRIAL_S * len(configs) / slots),
                }
            )
    keys = [
        "ratio",
        "ratio_with_start",
        "ratio_at_target_s",
        "pool_ratio",
        "ray_over_pool",
        "trial_slowdown",
        "rest_s",
        "ray_start_s",
        "trial_s",
    ]
    return {
        "what": "study wall time through Ray Tune (embedded local Ray, Ray start-up apart) / "
        "ideal (sum of back-to-back trial times / concurrent slots)",
        "trials": len(configs),
        "slots": slots,
        "steps": spec.fixed["steps"],
        "cpu_per_trial": spec.resources.cpu,
        **{key: summary([r[key] for r in rounds]) for key in keys},
        "rounds": rounds,
    }


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Ray and Tune write to the process's stdout/stderr directly; keep that out of the
    bench's own output (the JSON on stdout above all)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)

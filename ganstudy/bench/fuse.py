"""The fuse figure: the balance grid (shortened) through Ray Tune unfused and with
`fuse: auto`, back to back in one Ray session, as a wall-time ratio; and the same grid,
shorter still and in float64, run both ways to check every member's history against its
unfused trial.

Why two runs: the timed one trains as users do (float32, balance's eval cadence), and
float32 members cannot equal their unfused trials (a batched kernel of another R rounds
differently). Exactness is per step: even float64 rounding differences grow to O(1) by
step ~150 of balance's fastest-D cells (plain replicas, R = 3 against R = 1, do the same),
so the check compares the first evals, before the chaos of GAN training amplifies them.
A third measure says what bounds the ratio: the same grid's training alone (no Ray, no
evaluation, one thread as a trial has), every configuration on its own against the chunks
the fused study trains (`run.groups.plan`), interleaved.

Ray only through `run.session` and `ganstudy.run_study`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import ganstudy
from ganstudy.bench.settings import Settings
from ganstudy.bench.study import bench_spec
from ganstudy.bench.timing import default_threads, interleave, ratio_summary
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import BLOCK_STEPS, from_dict
from ganstudy.engine.trainer import Trainer
from ganstudy.run import groups, session
from ganstudy.study.spec import StudySpec

# studies/balance.yaml's grid and fixed settings (72 configurations x 3 replicas); the bench
# shortens it to s.fuse_steps and runs it in float64.
BALANCE_PARAMS = {
    "loss": {"grid": ["minimax", "nonsaturating", "wgan_gp", "hinge"]},
    "k": {"grid": [1, 2, 5]},
    "lr_d": {"grid": [0.0001, 0.001, 0.01]},
    "lr_g": 0.001,
    "d_width": {"grid": [32, 128]},
    "g_width": 64,
    "optimizer": "adam",
    "target_std": 0.05,
}
# Two losses at two rates in one group: per-member losses and optimizer settings (tests).
QUICK_PARAMS = {"loss": {"grid": ["minimax", "hinge"]}, "lr_d": {"grid": [1e-3, 1e-2]}}
EQUAL_TOLERANCE = 1e-8  # relative, on every history metric


def _spec(s: Settings, fuse: str, steps: int, eval_every: int, dtype: str) -> StudySpec:
    params = QUICK_PARAMS if s.fuse_grid == "quick" else BALANCE_PARAMS
    cheap = {"g_width": 16, "d_width": 16, "eval_samples": 2000} if s.fuse_grid == "quick" else {}
    params = {**params, **cheap, "dtype": dtype, "device": "cpu"}
    return bench_spec(f"bench_fuse_{fuse}", steps, eval_every, 3, params, fuse=fuse)


def fuse_figure(s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Wall times of the grid unfused and fused (float32, s.fuse_steps, an eval every
    s.fuse_eval_every), their ratio, and the largest relative difference between a
    member's float64 history and its unfused trial's over s.fuse_check_steps."""
    quick = s.fuse_grid == "quick"  # one float64 run each way, timed and checked (tests)
    dtype = "float64" if quick else "float32"
    timed = {f: _spec(s, f, s.fuse_steps, s.fuse_eval_every, dtype) for f in ("off", "auto")}
    half = s.fuse_check_steps // 2
    checked = {f: _spec(s, f, s.fuse_check_steps, half, "float64") for f in ("off", "auto")}
    runs = [*((("timed", f), spec) for f, spec in timed.items())]
    if not quick:
        runs += [*((("checked", f), spec) for f, spec in checked.items())]
    wall, histories = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        started = session.start()
        try:
            for (kind, fuse), spec in runs:
                log(f"  {kind}, fuse: {fuse}: {spec.num_trials()} configurations x 3 replicas")
                start = time.perf_counter()
                out = ganstudy.run_study(
                    spec, results_dir=Path(folder) / f"{kind}_{fuse}", progress=False
                )
                wall[kind, fuse] = time.perf_counter() - start
                if kind == "checked" or quick:
                    histories[fuse] = _history(Path(out), list(spec.dimensions))
        finally:
            if started:
                session.stop()
    off, auto = histories["off"], histories["auto"]
    keys = [*checked["off"].dimensions, "replica", "step"]
    joined = off.merge(auto, on=keys, suffixes=("_off", "_auto"))
    worst = 0.0
    for name in METRIC_COLUMNS:
        a, b = joined[f"{name}_off"], joined[f"{name}_auto"]
        both = a.notna() & b.notna()
        if (a.isna() != b.isna()).any():
            worst = float("inf")
        scale = b[both].abs().clip(lower=1.0)
        worst = max(worst, float(((a[both] - b[both]).abs() / scale).max() or 0.0))
    return {
        "configurations": timed["off"].num_trials(),
        "training": training_bound(timed["auto"], s.fuse_train_rounds),
        "steps": s.fuse_steps,
        "eval_every": s.fuse_eval_every,
        "unfused_s": wall["timed", "off"],
        "fused_s": wall["timed", "auto"],
        "speedup": wall["timed", "off"] / wall["timed", "auto"],
        "check_steps": s.fuse_steps if quick else s.fuse_check_steps,
        "rows_compared": len(joined),
        "rows_expected": len(off),
        "max_relative_difference": worst,
        "equal": len(joined) == len(off) == len(auto) and worst <= EQUAL_TOLERANCE,
    }


def training_bound(spec: StudySpec, rounds: int) -> dict[str, Any]:
    """Grid-steps/s of the study's training alone: every configuration's own trainer
    against the chunks `fuse: auto` trains on this machine's trial slots, BLOCK_STEPS steps
    each per sample, one thread; the ratio (unfused time / fused time) bounds what fusing
    can give the study when neither Ray nor the evaluations cost anything."""
    configs = groups.configurations(spec)
    slots = groups.slots(spec, None, {"CPU": float(default_threads())})
    chunks = groups.plan(configs, spec.fuse_max, slots)
    alone = [Trainer(from_dict(c), threads=1) for c in configs]  # one thread, as a trial has
    fused = [Trainer([from_dict(c) for c in chunk], threads=1) for chunk in chunks]

    def rate(trainers: list[Trainer]) -> Callable[[], float]:
        def sample() -> float:
            start = time.perf_counter()
            for trainer in trainers:
                trainer.train(BLOCK_STEPS)
            return BLOCK_STEPS / (time.perf_counter() - start)

        return sample

    v = interleave({"alone": rate(alone), "fused": rate(fused)}, rounds)
    return {"chunks": len(chunks), "speedup": ratio_summary(v["fused"], v["alone"])}


def _history(folder: Path, swept: list[str]) -> pd.DataFrame:
    """history.parquet keyed by the swept settings, replica and step (trial_ids differ)."""
    trials = pd.read_parquet(folder / "trials.parquet")[["trial_id", *swept]].drop_duplicates()
    history = pd.read_parquet(folder / "history.parquet").merge(trials, on="trial_id")
    return history[[*swept, "replica", "step", *METRIC_COLUMNS]]

"""Synthetic study folders in the results.py table contract, for the report tests.

The numbers are made up but shaped like real GAN runs (JS decays towards an outcome-dependent
floor, a dominating D drives D(G(z)) to 0 and grad_norm_g down 100x, critic losses have NaN
probabilities), so every figure and finding has something to show. When a real smoke study
is available the tests can point at it instead; nothing here is imported by the package.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ganstudy.columns import FINISHED, PROBABILITY_LOSSES
from ganstudy.config import TrialConfig

PROB_LOSSES = set(PROBABILITY_LOSSES)  # losses whose D outputs a probability
RING8 = np.array(
    [[2 * math.cos(2 * math.pi * i / 8), 2 * math.sin(2 * math.pi * i / 8)] for i in range(8)]
)


def _outcome(loss: str, k: int, ratio: float, replica: int) -> str:
    """A made-up but plausible phase diagram: a strong D kills the saturating loss."""
    if loss == "minimax":
        if k >= 5 and ratio >= 4:
            return "d_dominates"
        if k >= 5 or ratio >= 4:
            return "mode_collapse" if replica == 0 else "d_dominates"
        return "converged"
    if loss == "nonsaturating":
        return "mode_collapse" if (k >= 5 and ratio >= 4 and replica == 0) else "converged"
    if loss == "wasserstein" and ratio >= 4 and k == 1:
        return "oscillating"
    if loss == "hinge" and ratio < 1:
        return "diverged"
    return "converged"


def _samples(
    outcome: str, frac: float, rng: np.random.Generator, n: int, target: str
) -> np.ndarray:
    """Generated points (n, dim): a blob that moves onto some of the modes as training goes."""
    if target == "curves":  # y = a x^2 + (a - 1) with a spread that shrinks onto [1, 2]
        x = np.linspace(-1, 1, 15)
        a = rng.uniform(1, 2, (n, 1)) if outcome == "converged" else np.full((n, 1), 1.5)
        return a * x**2 + (a - 1) + (1 - frac) * rng.normal(0, 0.5, (n, 15))
    if target in ("gaussian1d", "mixture1d"):
        return rng.normal(4 * frac, 1.25, (n, 1))
    if target == "digits":  # 8x8 images in [-1, 1]: noise that sharpens as training goes
        return np.tanh((1 + 3 * frac) * rng.normal(size=(n, 64)))
    n_modes = {"converged": 8, "mode_collapse": 2, "oscillating": 5}.get(outcome, 1)
    modes = RING8[:n_modes] if outcome != "d_dominates" else np.zeros((1, 2))
    centre = modes[rng.integers(0, len(modes), n)]  # (n, 2)
    spread = 0.02 + 0.6 * (1 - frac)
    return (
        (1 - frac) * 0.3 * rng.normal(size=(n, 2))
        + frac * centre
        + spread * rng.normal(size=(n, 2))
    )


def write_study(
    root: Path,
    *,
    name: str = "synthetic",
    losses: tuple[str, ...] = ("minimax", "nonsaturating", "wasserstein"),
    ks: tuple[int, ...] = (1, 5),
    ratios: tuple[float, ...] = (1.0, 4.0),
    widths: tuple[tuple[int, int], ...] = ((64, 64),),
    replicas: int = 2,
    steps: int = 400,
    eval_every: int = 100,
    target: str = "ring8",
    samples: bool = True,
    n_samples: int = 150,
    seed: int = 0,
    extra: dict[str, tuple] | None = None,
    fixed: dict[str, object] | None = None,
    targets: tuple[str, ...] | None = None,
    search: dict | None = None,
) -> Path:
    """Write trials/history/samples/modes parquet, spec.yaml and environment.json under
    root/name.

    extra: further swept TrialConfig settings and their values (pack, unroll, r1, ...), each
    crossed with the rest as a grid does; fixed: TrialConfig settings every trial shares
    (model, ...); targets: several targets swept (remedies' ring8 and grid25); search: the
    spec's search (a sampled study's {"algorithm": "random"})."""
    extra = dict(extra or {})
    fixed = dict(fixed or {})
    swept_targets = targets or (target,)
    rng = np.random.default_rng(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    lr_g = 2e-4
    trial_rows, hist_rows, sample_frames, mode_rows = [], [], [], []
    evals = list(range(0, steps + 1, eval_every))
    modes_of = {
        "ring8": 8,
        "grid25": 25,
        "curves": 10,
        "mixture1d": 3,
        "gaussian1d": 1,
        "digits": 10,
        "dirac": 1,
    }
    trial_no = 0
    combos = itertools.product(
        swept_targets, losses, ks, ratios, widths, itertools.product(*extra.values())
    )
    for target, loss, k, ratio, (d_width, g_width), more in combos:
        n_modes = modes_of[target]
        trial_id = f"t{trial_no:03d}"
        trial_no += 1
        config = TrialConfig(
            **(
                fixed
                | dict(zip(extra, more, strict=True))
                | dict(
                    target=target,
                    loss=loss,
                    k=k,
                    lr_d=lr_g * ratio,
                    lr_g=lr_g,
                    d_width=d_width,
                    g_width=g_width,
                    steps=steps,
                    eval_every=eval_every,
                    replicas=replicas,
                    seed=seed,
                )
            )
        )
        params = dataclasses.asdict(config)
        for replica in range(replicas):
            outcome = _outcome(loss, k, ratio, replica)
            rows = _history(loss, k, outcome, evals, n_modes, rng)
            _measure(rows, target, config, rng)
            if target == "curves":  # no density on a grid: no reference JS
                for row in rows:
                    row["js_binned"] = float("nan")
            for row in rows:
                row.update(trial_id=trial_id, replica=replica)
            hist_rows += rows
            mode_rows += _occupancy(trial_id, replica, outcome, rows, n_modes)
            final = {key: v for key, v in rows[-1].items() if key != "step"}
            trial_rows.append(
                params
                | final
                | dict(
                    replica=replica,
                    seed=seed + replica,
                    status=FINISHED,
                    wall_s=float(rng.uniform(5, 9)),
                )
            )
            if samples:
                for step in evals:
                    frac = step / steps
                    xy = _samples(outcome, frac, rng, n_samples, target)
                    frame = pd.DataFrame(xy, columns=[f"x{d}" for d in range(xy.shape[1])])
                    frame.insert(0, "step", step)
                    frame.insert(0, "replica", replica)
                    frame.insert(0, "trial_id", trial_id)
                    sample_frames.append(frame)
    trials = pd.DataFrame(trial_rows)
    trials.insert(0, "trial_id", trials.pop("trial_id"))
    trials.to_parquet(folder / "trials.parquet", index=False)
    history = pd.DataFrame(hist_rows)
    front = ["trial_id", "replica", "step"]
    history = history[front + [c for c in history.columns if c not in front]]
    history.to_parquet(folder / "history.parquet", index=False)
    if samples:
        pd.concat(sample_frames, ignore_index=True).to_parquet(
            folder / "samples.parquet", index=False
        )
    if mode_rows:
        pd.DataFrame(mode_rows).to_parquet(folder / "modes.parquet", index=False)
    spec = {
        "name": name,
        "metric": "js_binned",
        "mode": "min",
        "params": {
            "target": {"grid": list(targets)} if targets else target,
            "steps": steps,
            "eval_every": eval_every,
            "loss": {"grid": list(losses)},
            "k": {"grid": list(ks)},
            "lr_d": {"grid": [lr_g * r for r in ratios]},
            **{key: {"grid": list(values)} for key, values in extra.items()},
            **fixed,
        },
        "replicas": replicas,
    }
    if search:
        spec["search"] = search
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / "environment.json").write_text(json.dumps({"torch": "synthetic", "device": "cpu"}))
    return folder


def _measure(rows: list[dict], target: str, config: TrialConfig, rng: np.random.Generator) -> None:
    """The columns only some runs measure: the classifier's on images, class_accuracy for a
    conditional G, (θ, ψ) on the Dirac-GAN."""
    if target == "digits":
        _image_metrics(rows, rng)
    last = rows[-1]["step"] or 1
    for row in rows:
        frac = row["step"] / last
        if config.conditional:
            row["class_accuracy"] = float(np.clip(0.1 + 0.9 * frac, 0, 1))
        if target == "dirac":
            decay = math.exp(-5 * frac * config.r1)
            angle = 12 * frac
            row.update(
                theta=float(decay * math.cos(angle)),
                psi=float(decay * math.sin(angle)),
                dirac_distance=float(decay),
            )


def _image_metrics(rows: list[dict], rng: np.random.Generator) -> None:
    """Add what an image target measures through its classifier: fd, precision, recall;
    js_probe above js_binned (the class histograms' JS sees less than a probe on the
    images, as on real digits runs: both are lower bounds, neither a reference)."""
    for row in rows:
        js = row["js_binned"]
        if not math.isfinite(js):
            row.update(fd=float("nan"), precision=float("nan"), recall=float("nan"))
            continue
        row["js_probe"] = float(min(js + 0.2 + rng.normal(0, 0.01), math.log(2)))
        row.update(
            fd=float(40 * js + rng.uniform(0, 1)),
            precision=float(np.clip(1 - js, 0, 1)),
            recall=float(np.clip(1 - 1.2 * js, 0, 1)),
        )


def write_dirac_study(root: Path) -> Path:
    """A Dirac-GAN study: two configurations of 2 replicas, minimax circles at radius √2,
    nonsaturating spirals in to 1e-4 of its start (made-up numbers shaped like the
    Dirac-GAN's)."""
    folder = write_study(
        root,
        name="dirac",
        losses=("minimax", "nonsaturating"),
        ks=(1,),
        ratios=(1.0,),
        target="gaussian1d",
        samples=False,
    )
    trials = pd.read_parquet(folder / "trials.parquet")
    history = pd.read_parquet(folder / "history.parquet")
    trials[["target", "model"]] = "dirac"
    trial_loss = trials.drop_duplicates("trial_id").set_index("trial_id")["loss"]
    angle = history["step"] / 40.0
    shrink = np.where(
        history["trial_id"].map(trial_loss) == "minimax", 1.0, np.exp(-history["step"] / 43.4)
    )
    radius = math.sqrt(2) * shrink
    history["theta"] = radius * np.cos(angle + math.pi / 4)
    history["psi"] = radius * np.sin(angle + math.pi / 4)
    history["dirac_distance"] = np.hypot(history["theta"], history["psi"])
    last = history.sort_values("step").groupby(["trial_id", "replica"]).tail(1)
    trials = trials.drop(columns=["theta", "psi", "dirac_distance"], errors="ignore").merge(
        last[["trial_id", "replica", "theta", "psi", "dirac_distance"]],
        on=["trial_id", "replica"],
    )
    trials.to_parquet(folder / "trials.parquet", index=False)
    history.to_parquet(folder / "history.parquet", index=False)
    return folder


def _occupancy(
    trial_id: str, replica: int, outcome: str, rows: list[dict], n_modes: int
) -> list[dict]:
    """modes.parquet rows of one run: its modes_captured modes, 20 samples each, a window
    that moves one mode per eval in a collapsing run (a G hopping between modes)."""
    out = []
    for i, row in enumerate(rows):
        shift = i if outcome == "mode_collapse" else 0
        for j in range(int(row["modes_captured"])):
            mode = (shift + j) % n_modes
            out.append(
                dict(trial_id=trial_id, replica=replica, step=row["step"], mode=mode, count=20)
            )
    return out


def _history(
    loss: str, k: int, outcome: str, evals: list[int], n_modes: int, rng: np.random.Generator
) -> list[dict]:
    """Metric rows of one run, one per eval step."""
    floor = {"converged": 0.03, "mode_collapse": 0.35, "d_dominates": 0.62, "oscillating": 0.15}
    rows = []
    last = evals[-1]
    for step in evals:
        frac = step / last
        if outcome == "diverged" and frac > 0.6:
            nan = float("nan")
            rows.append(
                dict(
                    step=step,
                    js_d=nan,
                    js_probe=nan,
                    js_binned=nan,
                    d_real=nan,
                    d_fake=nan,
                    d_real_std=nan,
                    d_fake_std=nan,
                    critic_real=nan,
                    critic_fake=nan,
                    loss_d=nan,
                    loss_g=nan,
                    grad_norm_d=nan,
                    grad_norm_g=nan,
                    modes_captured=0.0,
                    n_modes=n_modes,
                    high_quality_frac=0.0,
                    mode_kl=nan,
                    outcome="diverged",
                )
            )
            continue
        base = floor.get(outcome, 0.4)
        js = base + (0.66 - base) * math.exp(-4 * frac)
        if outcome == "oscillating":
            js += 0.08 * math.sin(12 * frac)
        js = float(np.clip(js + rng.normal(0, 0.01), 0, math.log(2)))
        tight = 1 - 0.7 / k  # js_d is a looser lower bound when D is trained less
        js_d = float(np.clip(js * tight + rng.normal(0, 0.01), 0, math.log(2)))
        js_probe = float(np.clip(js * 0.85 + rng.normal(0, 0.01), 0, math.log(2)))
        dom = outcome == "d_dominates"
        d_real = 0.5 + (0.48 if dom else 0.15) * frac * (1 if dom else math.exp(-3 * frac))
        d_fake = 0.5 - (0.48 if dom else 0.15) * frac * (1 if dom else math.exp(-3 * frac))
        grad_g = (1.0 * 10 ** (-2 * frac) if dom else 1.0 + 0.2 * rng.normal()) * (
            1 + 0.05 * rng.normal()
        )
        captured = {"converged": n_modes, "mode_collapse": 2, "d_dominates": 1}.get(outcome, 5)
        captured = round(1 + (captured - 1) * frac)
        prob = loss in PROB_LOSSES
        rows.append(
            dict(
                step=step,
                js_d=js_d if prob else float("nan"),
                js_probe=js_probe,
                js_binned=js,
                d_real=d_real if prob else float("nan"),
                d_fake=d_fake if prob else float("nan"),
                d_real_std=0.05 if prob else float("nan"),
                d_fake_std=0.05 if prob else float("nan"),
                critic_real=2.0 * frac + rng.normal(0, 0.1),
                critic_fake=-1.0 * frac + rng.normal(0, 0.1),
                loss_d=1.38 - js,
                loss_g=0.69 + js,
                grad_norm_d=0.5 + 0.1 * rng.normal() ** 2,
                grad_norm_g=abs(grad_g),
                modes_captured=float(captured),
                n_modes=n_modes,
                high_quality_frac=float(np.clip(0.1 + 0.85 * frac, 0, 1)),
                mode_kl=float(math.log(n_modes / captured)),
                outcome=outcome if frac > 0.5 else "converged",
            )
        )
    return rows

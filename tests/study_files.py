"""Small study files for the Ray tests (test_run_study.py, test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import yaml


def tiny_study(
    name: str, steps: int = 200, losses: tuple[str, ...] = ("minimax", "hinge"), **changes
) -> dict:
    """A few seconds per trial: ring8, 16-wide models, cheap metrics; `changes` replace
    top-level keys, and their `params` are added to (or replace) the cheap defaults."""
    params = changes.pop("params", {})
    study = {
        "name": name,
        "target": "ring8",
        "steps": steps,
        "eval_every": 100,
        "replicas": 2,
        "seed": 0,
        "metric": "js_binned",
        "mode": "min",
        "resources": {"cpu": 1, "gpu": 0},
        "search": {"algorithm": "grid"},
        "params": {
            "loss": {"grid": list(losses)},
            "d_width": 16,
            "g_width": 16,
            "eval_samples": 2000,
            "eval_batch": 256,
        },
    }
    study.update(changes)
    study["params"].update(params)
    return study


def write_study(folder: Path, study: dict) -> Path:
    """The study as `<folder>/<name>.yaml`."""
    path = folder / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path

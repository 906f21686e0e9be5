"""run/tensorboard.py: the event files, read back with TensorBoard's own event reader."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import cloudpickle
import numpy as np
import pandas as pd
import pyarrow.fs
import pytest
from PIL import Image
from study_files import tiny_study, write_study
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from ganstudy.cli import main
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.run.tensorboard import SAMPLE_GRID, GStepTensorBoard
from ganstudy.run.trainable import SAMPLES_DIR, read_rows, write_eval, write_snapshot
from ganstudy.study.results import load_results

EVERYTHING = {"scalars": 0, "images": 0, "tensors": 0}  # keep every event, not a sample


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    events.Reload()
    return events


def _hparams(events: EventAccumulator) -> dict:
    content = events.SummaryMetadata(hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content
    start = hparams_metadata.parse_session_start_info_plugin_data(content)
    return {key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
            for key, value in start.hparams.items()}  # fmt: skip


def _trial(folder: Path, trial_id: str = "abc_00000") -> SimpleNamespace:
    """What the callback reads of a Ray Trial, for a trial folder on the local disk."""
    path = folder / f"trial_{trial_id}"
    for folder in ("evals", SAMPLES_DIR):  # train_trial makes them as it starts
        (path / folder).mkdir(parents=True)
    storage = SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem())
    return SimpleNamespace(
        trial_id=trial_id,
        storage=storage,
        path=str(path),
        local_path=str(path),
        init_local_path=lambda: None,
    )


def _rows(step: int, seeds: list[int], value: float) -> list[dict]:
    """One eval's rows: every metric `value + replica` (js_d NaN: a loss without it)."""
    rows = []
    for replica, seed in enumerate(seeds):
        row = {"step": step, "replica": replica, "seed": seed, "outcome": "converged"}
        row |= {name: value + replica for name in METRIC_COLUMNS}
        row["js_d"] = math.nan
        rows.append(row)
    return rows


def _report(callback, trial, step: int, rows: list[dict], settings: dict) -> None:
    """What train_trial writes and Ray then hands the callback for one eval."""
    fs = trial.storage.storage_filesystem
    write_eval(fs, trial.path, step, {"rows": rows, "origin": None, "settings": settings})
    callback.log_trial_result(step // 100 + 1, trial, {"step": step})


SETTINGS = {"loss": "hinge", "lr_d": 0.0002, "replicas": 2, "target": "ring8", "seed": 3}


def test_a_redone_step_replaces_the_earlier_attempts_points(tmp_path):
    # A retry from the checkpoint of step 100 (or a PBT exploit of it) redoes step 200: the
    # trial's eval file of step 200 is replaced, so history.parquet takes the second
    # attempt's row, and TensorBoard must show that row, once.
    trial = _trial(tmp_path)
    callback = GStepTensorBoard(["loss", "lr_d"])
    callback.log_trial_start(trial)
    for step in (0, 100, 200):
        _report(callback, trial, step, _rows(step, [3, 4], value=step), SETTINGS)
    for step in (200, 300):  # the second attempt: other numbers
        _report(callback, trial, step, _rows(step, [3, 4], value=step + 0.5), SETTINGS)
    callback.log_trial_end(trial)

    history = pd.DataFrame(read_rows(pyarrow.fs.LocalFileSystem(), trial.path, 300))
    assert sorted(p.name for p in Path(trial.path).iterdir()) == [
        "evals",
        "loss=hinge,lr_d=0.0002",
        SAMPLES_DIR,
    ]
    for replica, rows in history.groupby("replica"):
        events = _events(Path(trial.path, "loss=hinge,lr_d=0.0002", f"replica_{replica}"))
        assert "js_d" not in events.Tags()["scalars"]  # NaN: no point drawn
        for name in set(METRIC_COLUMNS) - {"js_d"}:
            drawn = [(e.step, e.value) for e in events.Scalars(name)]
            assert drawn == list(zip(rows["step"], rows[name], strict=True))
        assert [e.value for e in events.Scalars("loss_d")] == [
            0 + replica,
            100 + replica,
            200.5 + replica,
            300.5 + replica,
        ]
        assert _hparams(events) == {
            "loss": "hinge", "lr_d": 0.0002, "trial_id": "abc_00000",
            "replica": replica, "seed": 3 + replica,
        }  # fmt: skip


def test_a_retry_from_scratch_keeps_the_runs_hparams(tmp_path):
    # A trial that crashed before its first checkpoint starts again at step 0: the purge
    # from step 0 drops every earlier point, and the run keeps its hparams.
    trial = _trial(tmp_path)
    callback = GStepTensorBoard(["loss"])
    for step, value in ((0, 0), (100, 100), (0, 0.5), (100, 100.5)):
        _report(callback, trial, step, _rows(step, [3, 4], value=value), SETTINGS)
    callback.log_trial_end(trial)
    events = _events(Path(trial.path, "loss=hinge", "replica_1"))
    assert [(e.step, e.value) for e in events.Scalars("fd")] == [(0, 1.5), (100, 101.5)]
    assert _hparams(events)["seed"] == 4


def test_fused_members_are_runs_of_their_own(tmp_path):
    trial = _trial(tmp_path)
    callback = GStepTensorBoard(["loss"])
    members = [SETTINGS | {"loss": "hinge"}, SETTINGS | {"loss": "minimax"}]
    settings = {"members": json.dumps(members)}
    rows = [r | {"member": m} for m in (0, 1) for r in _rows(0, [3, 4], value=10 * m)]
    _report(callback, trial, 0, rows, settings)
    callback.log_trial_end(trial)
    for m, loss in enumerate(("hinge", "minimax")):
        for replica in (0, 1):
            events = _events(Path(trial.path, f"member_{m},loss={loss}", f"replica_{replica}"))
            assert [e.value for e in events.Scalars("fd")] == [10 * m + replica]
            assert _hparams(events)["trial_id"] == f"abc_00000.{m}"


def test_image_targets_draw_each_replicas_sample_grid(tmp_path):
    trial = _trial(tmp_path)
    callback = GStepTensorBoard(["loss"])
    settings = SETTINGS | {"target": "digits"}  # 1 x 8 x 8 images
    snapshot = np.stack([np.full((256, 64), 1.0), np.full((256, 64), -1.0)])  # white, black
    snapshot[1, 0] = np.nan  # a non-finite pixel row is drawn black, not an error
    write_snapshot(trial.storage.storage_filesystem, f"{trial.path}/{SAMPLES_DIR}", 0, snapshot)
    _report(callback, trial, 0, _rows(0, [3, 4], value=0), settings)
    callback.log_trial_end(trial)
    for replica, brightness in ((0, 255), (1, 0)):
        events = _events(Path(trial.path, "loss=hinge", f"replica_{replica}"))
        (image,) = events.Images("samples")
        assert image.step == 0
        pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("L"))
        # tensorboardX's grid: 8 images to a row, each 8 x 8 pixels and a gray line below
        # and to the right of it.
        assert pixels.shape == (SAMPLE_GRID // 8 * 9, 8 * 9)
        cells = pixels.reshape(8, 9, 8, 9)
        assert (cells[:, :8, :, :8] == brightness).all()
        gray = int(0.5 * 255)  # tensorboardX truncates float pixels times 255 to uint8
        assert (cells[:, 8] == gray).all() and (cells[:, :, :, 8] == gray).all()


def test_the_callback_survives_the_pickling_of_a_resumable_tuner():
    # Tuner.restore (--resume) takes the callbacks from the tuner.pkl written at the start.
    callback = cloudpickle.loads(cloudpickle.dumps(GStepTensorBoard(["loss"], pbt=True)))
    assert callback.swept == ("loss",) and callback.pbt


def _assert_events_hold_history(trial: Path, run: str, rows: pd.DataFrame) -> None:
    """The run's scalars are the rows' metric columns, step by step (NaN: no point)."""
    events = _events(trial / run)
    for name in METRIC_COLUMNS:
        finite = rows[rows[name].notna()]
        drawn = events.Scalars(name) if len(finite) else []
        assert [e.step for e in drawn] == finite["step"].tolist(), (run, name)
        # Event files hold float32.
        assert [e.value for e in drawn] == pytest.approx(finite[name].tolist(), rel=1e-6)


@pytest.mark.slow
def test_a_fused_study_retried_after_a_crash_draws_its_history(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDY_FAULT", "raise@100")  # every trial crashes once, retries
    monkeypatch.setenv("GANSTUDY_FAULT_DIR", str(tmp_path))
    # One slot: both configurations in one fused trial.
    study = tiny_study("fused", 200, ("minimax", "hinge"), fuse="auto", max_concurrent=1)
    out = tmp_path / "fused"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    assert len(list(tmp_path.glob("*.raise@100"))) == 1  # one fused trial, crashed once
    results = load_results(out)
    losses = results.trials.drop_duplicates("trial_id").set_index("trial_id")["loss"]
    assert len(losses) == 2 and all("." in trial_id for trial_id in losses.index)
    for (trial_id, replica), rows in results.history.groupby(["trial_id", "replica"]):
        ray_id, member = trial_id.split(".")
        run = f"member_{member},loss={losses[trial_id]}/replica_{replica}"
        _assert_events_hold_history(out / "ray" / f"trial_{ray_id}", run, rows)


@pytest.mark.slow
def test_a_study_writes_history_to_tensorboard_step_by_step(tmp_path):
    study = tiny_study("tb", losses=("minimax",), steps=200)
    out = tmp_path / "tb"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    results = load_results(out)
    history = results.history
    assert len(history) == 2 * 3  # 2 replicas x evals at steps 0, 100, 200
    (trial_id,) = history["trial_id"].unique()
    trial = out / "ray" / f"trial_{trial_id}"
    # Ray's own TensorBoard logger is replaced, not doubled: no event file of its own.
    assert not list(trial.glob("events.out.tfevents.*"))
    for replica, rows in history.groupby("replica"):
        _assert_events_hold_history(trial, f"loss=minimax/replica_{replica}", rows)
        events = _events(trial / "loss=minimax" / f"replica_{replica}")
        assert [e.step for e in events.Scalars("js_binned")] == [0, 100, 200]
        assert _hparams(events) == {
            "loss": "minimax", "trial_id": trial_id, "replica": replica, "seed": replica,
        }  # fmt: skip

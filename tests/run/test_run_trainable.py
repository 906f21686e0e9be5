"""What a trial writes: lean checkpoints and one snapshot file per eval step."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pyarrow.fs
import pytest
from ray.tune import Checkpoint

from ganstudy.config import TrialConfig
from ganstudy.engine.trainer import Trainer
from ganstudy.run.trainable import (
    read_config,
    read_exploits,
    read_samples,
    save_state,
    write_snapshot,
)


def test_checkpoint_bytes_do_not_grow_with_the_number_of_evals(tmp_path):
    # The smoke study's models with 12 evals after step 0: the last checkpoint may exceed
    # the first by the history rows only (issue 10: at most 1.3x).
    config = TrialConfig(
        steps=240, eval_every=20, replicas=2, d_width=64, g_width=64, eval_samples=2000,
        eval_batch=256,
    )  # fmt: skip
    trainer = Trainer(config)
    sizes = []
    for evaluation in trainer.run():
        folder = tmp_path / f"checkpoint_{evaluation.step}"
        folder.mkdir()
        sizes.append(save_state(trainer, folder).stat().st_size)
    assert len(sizes) == 13
    # Step 0's checkpoint is smaller: Adam allocates its moment estimates at its first step.
    # From the first eval after training, only the history rows are added.
    assert sizes[-1] <= 1.3 * sizes[1], sizes
    # The growth is the history: about the same number of bytes per eval, not more.
    steps = np.diff(sizes[1:])
    assert steps.max() <= 2 * max(steps.min(), 1), sizes


def test_snapshots_round_trip_and_stop_at_the_checkpointed_step(tmp_path):
    fs = pyarrow.fs.LocalFileSystem()
    folder = str(tmp_path / "samples")
    fs.create_dir(folder)
    arrays = {step: np.random.default_rng(step).normal(size=(2, 5, 2)) for step in (0, 20, 40)}
    for step, array in arrays.items():
        write_snapshot(fs, folder, step, array)
    write_snapshot(fs, folder, 20, arrays[20])  # a retry writes the same step again
    (tmp_path / "samples" / "step_000000060.npy.123.tmp").write_bytes(b"half")
    got = read_samples(fs, str(tmp_path), last_step=20)
    assert sorted(got) == [0, 20]  # 40 came after the checkpoint the tables use
    for step in got:
        np.testing.assert_array_equal(got[step], arrays[step])


def test_a_trials_files_become_tables_with_every_eval_the_last_included(tmp_path):
    """What train_trial writes per eval (rows, samples, mode counts, a checkpoint), read
    back by the run layer's _record and made into tables by build_tables, without Ray:
    every eval of every replica reaches history, samples and modes, and the trials row is
    the last eval's."""
    from types import SimpleNamespace

    from ray.tune import Checkpoint

    from ganstudy.config import to_dict
    from ganstudy.run import trainable
    from ganstudy.run.study import _record
    from ganstudy.study.results import build_tables
    from ganstudy.study.spec import spec_from_dict

    study = {"name": "t", "target": "ring8", "steps": 20, "eval_every": 10, "replicas": 2}
    study |= {"metric": "js_binned", "mode": "min"}
    spec = spec_from_dict(study | {"params": {"d_width": 8, "g_width": 8}})
    small = {"d_width": 8, "g_width": 8, "eval_samples": 500, "eval_batch": 128}
    config = TrialConfig(**(spec.fixed | small | {"coverage_samples": 100}))
    fs, trial = pyarrow.fs.LocalFileSystem(), tmp_path / "trial_00000"
    for name in (trainable.SAMPLES_DIR, trainable.MODES_DIR, trainable.ROWS_DIR):
        (trial / name).mkdir(parents=True)
    (trial / trainable.CONFIG_FILE).write_text(json.dumps(to_dict(config)))
    trainer, evaluations = Trainer(config), []
    for evaluation in trainer.run():  # as train_trial writes each eval
        step = evaluation.step
        write_snapshot(fs, f"{trial}/{trainable.SAMPLES_DIR}", step, evaluation.samples)
        write_snapshot(fs, f"{trial}/{trainable.MODES_DIR}", step, evaluation.modes)
        rows = {"rows": evaluation.rows, "origin": None, "settings": to_dict(config)}
        (trial / trainable.ROWS_DIR / f"step_{step:09d}.json").write_bytes(trainable._json(rows))
        checkpoint = trial / f"checkpoint_{len(evaluations):06d}"
        checkpoint.mkdir()
        save_state(trainer, checkpoint, trial_id="00000")
        evaluations.append(evaluation)
    assert [e.step for e in evaluations] == [0, 10, 20]
    result = SimpleNamespace(
        path=str(trial),
        filesystem=fs,
        checkpoint=Checkpoint(str(checkpoint), filesystem=fs),
        config=to_dict(config),
        metrics={"time_total_s": 3.0},
        error=None,
    )
    record = _record(result, {"00000": "TERMINATED"}, spec, optuna_numbers={})
    assert record.status == "finished" and record.wall_s == 3.0
    tables = build_tables([record])
    history, trials = tables["history"], tables["trials"]
    assert history.groupby("replica")["step"].apply(list).to_dict() == {
        0: [0, 10, 20],
        1: [0, 10, 20],
    }
    assert sorted(tables["samples"]["step"].unique()) == [0, 10, 20]
    last = evaluations[-1]
    assert trials["steps_done"].tolist() == [20, 20]
    for r in (0, 1):
        assert trials["js_binned"][r] == last.rows[r]["js_binned"]
        assert trials["outcome"][r] == last.rows[r]["outcome"]
    # Mode counts of the last eval, as the trainer counted them (nonzero ones stored).
    modes = tables["modes"]
    at_last = modes[modes["step"] == 20]
    assert at_last["count"].sum() == last.modes.sum()


class _FakeTuneContext:
    """What train_trial asks Tune for, outside Ray: one CPU, a trial id, local storage."""

    def __init__(self, trial_id: str, trial_path: str):
        self.trial_id, self.trial_path = trial_id, trial_path

    def get_trial_resources(self):
        return SimpleNamespace(required_resources={"CPU": 1})

    def get_trial_id(self) -> str:
        return self.trial_id

    def get_storage(self):
        fs = pyarrow.fs.LocalFileSystem()
        return SimpleNamespace(storage_filesystem=fs, trial_fs_path=self.trial_path)


def test_a_state_taken_at_the_last_step_keeps_the_settings_the_trial_trained_with(
    tmp_path, monkeypatch
):
    """PBT can exploit at a trial's final report: the trial restores a donor's finished state
    with perturbed settings and trains no more. The exploit is recorded, and the settings the
    tables give the trial stay those it trained with (the real pbt study's trial 6 read
    lr_d 7.2e-4, which it never trained with, instead of its 3.0e-3)."""
    from ganstudy.config import to_dict
    from ganstudy.run import trainable

    trained = TrialConfig(steps=4, eval_every=2, replicas=1, d_width=8, g_width=8,
                          eval_samples=256, eval_batch=256, lr_d=3e-3)  # fmt: skip
    donor = Trainer(trained)
    for _ in donor.run():
        pass
    checkpoint = tmp_path / "trial_donor" / "checkpoint_000002"
    checkpoint.mkdir(parents=True)
    save_state(donor, checkpoint, trial_id="donor")
    own = tmp_path / "trial_me"
    own.mkdir()
    (own / trainable.CONFIG_FILE).write_text(json.dumps(to_dict(trained)))
    perturbed = to_dict(trained) | {"lr_d": 7e-4}
    monkeypatch.setattr(trainable.tune, "get_context", lambda: _FakeTuneContext("me", str(own)))
    monkeypatch.setattr(
        trainable.tune, "get_checkpoint", lambda: Checkpoint.from_directory(str(checkpoint))
    )
    monkeypatch.setattr(trainable.tune, "report", lambda *a, **k: pytest.fail("trained on"))
    trainable.train_trial(perturbed)
    fs = pyarrow.fs.LocalFileSystem()
    (exploit,) = read_exploits(fs, str(own))
    assert exploit["donor"] == "donor" and exploit["step"] == trained.steps
    assert read_config(fs, str(own))["lr_d"] == 3e-3

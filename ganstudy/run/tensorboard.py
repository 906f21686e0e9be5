"""TensorBoard by G step: Ray's TensorBoard logger, made to draw a study's history.

Ray's own `TBXLoggerCallback` writes one run per trial whose x axis is its count of reports
(`timesteps_total` or else `training_iteration`: 1, 2, 3, ...) and whose values are the means
over replicas that the trainable reports. `GStepTensorBoard` subclasses it, so Ray adds no
default one beside it (`ray.tune.utils.callback._create_default_callbacks`): one writer of
event files, under each trial's folder as Ray's was. For every eval a trial reports it writes
- one run per replica (per member and replica in a fused trial), named by the settings the
  study sweeps: `trial_<id>/<setting>=<value>,.../replica_<r>`
  (`trial_<id>/member_<m>,<setting>=<value>,.../replica_<r>` in a fused trial);
- every metric column of history.parquet as a scalar at the G step (`step`), taken from the
  very rows the trial wrote for history.parquet (`trainable.read_eval`); a NaN (a metric
  undefined for the loss or target, a diverged replica) is left out, as TensorBoard draws
  none; the outcome so far as text; under PBT each numeric swept setting as `setting/<name>`;
- the swept settings, trial id, replica and seed as hparams (TensorBoard's HParams tab);
- for image targets, the fixed-z sample grid (the snapshot's first SAMPLE_GRID images).
A step not past a run's last one (a retry from a checkpoint, a PBT exploit of an earlier
state) reopens the run with tensorboardX's `purge_step`, so TensorBoard drops the superseded
points as history.parquet keeps only the latest attempt's row of each step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.logger import TBXLoggerCallback

from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import IMAGE_SHAPES
from ganstudy.run import groups
from ganstudy.run.trainable import SAMPLES_DIR, read_eval, read_snapshot

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

SAMPLE_GRID = 64  # images per replica and eval: tensorboardX lays them out 8 to a row
GAP = 1  # pixels of gray between the grid's images
NAME_CHARS = 200  # a run folder's name stays under the 255 bytes of common filesystems


@dataclass
class _Run:
    """One replica's open event file and the last step written to it."""

    writer: Any  # tensorboardX.SummaryWriter
    last_step: int


class GStepTensorBoard(TBXLoggerCallback):
    """Ray's TensorBoard logger with the G step on the x axis, one run per replica, the
    swept settings in run names and hparams, and image targets' sample grids."""

    def __init__(self, swept: Sequence[str], pbt: bool = False):
        super().__init__()
        self.swept = tuple(swept)  # the study's swept settings (spec.dimensions), in order
        self.pbt = pbt  # settings change within a trial: draw them as curves too
        self._runs: dict[str, dict[tuple[int, int], _Run]] = {}
        self._folders: dict[str, dict[int, str]] = {}  # trial -> member -> run folder name

    def log_trial_start(self, trial: Trial) -> None:
        trial.init_local_path()
        self._runs.setdefault(trial.trial_id, {})

    def log_trial_result(self, iteration: int, trial: Trial, result: dict) -> None:
        step = int(result["step"])
        fs, path = trial.storage.storage_filesystem, trial.path
        attempt = read_eval(fs, path, step)
        if attempt is None:  # written before eval files existed: nothing to draw from
            return
        members = groups.members_of(attempt["settings"])
        fused = groups.MEMBERS_KEY in attempt["settings"]  # ids <id>.<m> even for one member
        replicas = int(members[0]["replicas"])
        shape = IMAGE_SHAPES.get(members[0]["target"])
        snapshot = read_snapshot(fs, f"{path}/{SAMPLES_DIR}", step) if shape else None
        for row in attempt["rows"]:
            member, replica = int(row.get("member", 0)), int(row["replica"])
            settings = members[member]
            writer = self._writer(trial, member, replica, settings, row["seed"], step, fused)
            for name in METRIC_COLUMNS:
                if math.isfinite(row[name]):
                    writer.add_scalar(name, row[name], step)
            writer.add_text("outcome", row["outcome"], step)
            if self.pbt:
                for key in self.swept:
                    if _is_number(settings.get(key)):
                        writer.add_scalar(f"setting/{key}", settings[key], step)
            if snapshot is not None:
                images = snapshot[member * replicas + replica, :SAMPLE_GRID]  # (n, C·H·W)
                writer.add_images("samples", sample_images(images, shape), step)
            writer.flush()

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        self._folders.pop(trial.trial_id, None)
        for run in self._runs.pop(trial.trial_id, {}).values():
            run.writer.file_writer.add_summary(_session_end(failed))
            run.writer.close()

    def _writer(
        self,
        trial: Trial,
        member: int,
        replica: int,
        settings: dict[str, Any],
        seed: int,
        step: int,
        fused: bool,
    ) -> Any:
        """The replica's writer for `step`: the open one, or a new one whose purge_step
        hides what an earlier attempt wrote at `step` and after."""
        runs = self._runs.setdefault(trial.trial_id, {})
        run = runs.get((member, replica))
        if run is not None and step > run.last_step:
            run.last_step = step
            return run.writer
        if run is not None:
            run.writer.close()
        names = self._folders.setdefault(trial.trial_id, {})
        if member not in names:  # kept for the trial: PBT may change the settings later
            names[member] = self.run_name(settings, member if fused else None)
        folder = Path(trial.local_path, names[member], f"replica_{replica}")
        writer = self._summary_writer_cls(
            str(folder),
            purge_step=step,
            flush_secs=30,
            # Two writers opened within a second in one folder would get one file name.
            filename_suffix=f".{time.time_ns()}",
        )
        # With every file, so that each holds what TensorBoard needs of the run on its own.
        trial_id = f"{trial.trial_id}.{member}" if fused else trial.trial_id
        hparams = {key: settings.get(key) for key in self.swept}
        hparams |= {"trial_id": trial_id, "replica": replica, "seed": int(seed)}
        writer.file_writer.add_summary(_session_start(hparams))
        runs[(member, replica)] = _Run(writer, step)
        return writer

    def run_name(self, settings: dict[str, Any], member: int | None = None) -> str:
        """The run folder of one configuration: its swept settings, `k=1,loss=minimax`
        (a fused trial's member m: `member_<m>,...`; no swept settings: `trial`)."""
        parts = [f"member_{member}"] if member is not None else []
        parts += [f"{key}={_shown(settings.get(key))}" for key in self.swept]
        name = ",".join(parts) or "trial"
        return name.replace("/", "_")[:NAME_CHARS]


def sample_images(rows: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Flat generated rows (n, C·H·W) in tanh's range as images (n, C, H + 1, W + 1) in
    [0, 1], each with a gray line below and to its right: tensorboardX's grid has no gaps,
    and 8 x 8 digits on black would run together. A non-finite pixel (a diverged replica)
    is black."""
    images = np.clip((np.nan_to_num(rows, nan=-1.0) + 1) / 2, 0, 1)
    images = images.reshape(len(rows), *shape)
    gap = ((0, 0), (0, 0), (0, GAP), (0, GAP))
    return np.pad(images, gap, constant_values=0.5).astype(np.float32)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _session_start(hparams: dict[str, Any]) -> Any:
    """TensorBoard's session-start summary of `hparams` (the HParams tab builds its table
    from these and the runs' scalar tags; no experiment summary needed)."""
    from tensorboardX.summary import hparams as hparams_summaries

    _, start, _ = hparams_summaries(hparams, {})
    return start


def _session_end(failed: bool) -> Any:
    """TensorBoard's session-end summary: the HParams tab's status of the run."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    status = Status.Value("STATUS_FAILURE" if failed else "STATUS_SUCCESS")
    content = HParamsPluginData(session_end_info=SessionEndInfo(status=status), version=0)
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=content.SerializeToString()
        )
    )
    return Summary(value=[Summary.Value(tag="_hparams_/session_end_info", metadata=metadata)])

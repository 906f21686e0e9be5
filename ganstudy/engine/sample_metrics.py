"""The metrics of generated samples against their target: every number of an eval that
needs only the samples (no discriminator, no training state).

`SampleMetrics(target, device).measure(real, fake, config)` gives js_probe, js_binned, the
mode coverage (modes_captured, high_quality_frac, mode_kl, and the counts per mode) and, on
an image target, fd, precision and recall, for replica-batched samples (R, N, dim), taking
each metric's share of the samples exactly as an eval of `config` does. `evaluate_samples`
does it for one array of samples made anywhere (`ganstudy eval`): a GAN trained elsewhere
gets the numbers of ganstudy's tables. js_d is the one JS estimate it cannot give: it is
the trial's own discriminator's bound (columns.BY_NAME["js_d"]).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ganstudy.config import LIMITS, ConfigError, TrialConfig, from_dict
from ganstudy.engine import metrics
from ganstudy.engine.targets import Target, make_target

# What measure() returns per replica, in history-table order (columns.COLUMNS).
SAMPLE_METRICS: tuple[str, ...] = (
    "js_probe",
    "js_binned",
    "modes_captured",
    "high_quality_frac",
    "mode_kl",
    "fd",
    "precision",
    "recall",
)
# The TrialConfig settings that change what evaluate_samples measures: the target's own
# (scale, std, data_dir), the eval's sizes and rules, and the real draw's seed and device.
EVAL_SETTINGS: tuple[str, ...] = (
    "target_scale",
    "target_std",
    "data_dir",
    "eval_samples",
    "eval_batch",
    "coverage_samples",
    "coverage_min_count",
    "quality_sigmas",
    "seed",
    "device",
    "dtype",
)
NOT_FROM_SAMPLES = {"js_d": "needs the trial's own discriminator D, which samples do not carry"}


def samples_needed(config: TrialConfig, target: Target) -> int:
    """Generated samples per replica an eval of `config` measures: js_binned's
    eval_samples (the target's default where None), js_probe's eval_batch, the coverage's
    coverage_samples; fd, precision and recall take the first metrics.FEATURE_POINTS."""
    return max(
        config.eval_samples or target.default_eval_samples,
        config.eval_batch,
        config.coverage_samples,
    )


class SampleMetrics:
    """One target's references for measuring samples: js_binned's partition and exact
    masses (at once), the held-out features and their k-NN radii (on first use: the same
    reference at every measurement)."""

    def __init__(self, target: Target, device: torch.device):
        self.target = target
        self.binning = target.binning()
        self.data_masses = target.bin_masses(self.binning).to(device)
        self._real_features: torch.Tensor | None = None
        self._real_radii: torch.Tensor | None = None

    def measure(
        self, real: torch.Tensor, fake: torch.Tensor, config: TrialConfig
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(SAMPLE_METRICS -> (R,) tensors, high-quality counts per mode (R, n_modes)) of
        fakes (R, >= samples_needed, dim) against real points (R, config.eval_batch, dim)
        drawn from the target; NaN where the target lacks what a metric needs."""
        c, target = config, self.target
        n = c.eval_batch
        half = n // 2
        probe_real, probe_fake = self._probe_space(real[:, :n], fake[:, :n])
        values = {
            "js_probe": metrics.js_probe(
                probe_real[:, :half],
                probe_fake[:, :half],
                probe_real[:, half:],
                probe_fake[:, half:],
            )
        }
        n_binned = c.eval_samples or target.default_eval_samples
        points = target.binned_points(fake[:, :n_binned])
        values["js_binned"] = metrics.js_binned(points, self.binning, self.data_masses)
        coverage = fake[:, : c.coverage_samples]
        counts = metrics.mode_counts(coverage, target, c.quality_sigmas)  # (R, n_modes)
        values |= metrics.coverage_of_counts(
            counts, coverage.shape[1], c.coverage_min_count, coverage.dtype
        )
        return values | self._feature_metrics(fake), counts

    def _probe_space(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """js_probe's points: the target classifier's features of real and fake (R, n, dim)
        where it has them, else the samples. Why: Euclidean neighbours among raw pixels
        rank images by stroke overlap, not by what they show; the features are the space
        fd, precision and recall already measure in."""
        real_features = self.target.features(real)  # (R, n, F) or None
        if real_features is None:
            return real, fake
        return real_features, self.target.features(fake)

    def _feature_metrics(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """fd, precision and recall of the first metrics.FEATURE_POINTS fakes (R, N, dim) in
        the target's classifier's feature space, against a fixed held-out sample of the
        same size; NaN without features."""
        n = min(metrics.FEATURE_POINTS, fake.shape[1])
        fake_features = self.target.features(fake[:, :n])  # (R, n, F) or None
        if fake_features is None:
            nan = torch.full((fake.shape[0],), math.nan, device=fake.device, dtype=fake.dtype)
            return {"fd": nan, "precision": nan, "recall": nan}
        if self._real_features is None:  # fixed data: the same reference every time
            held_out = self.target.held_out_features(metrics.FEATURE_POINTS)
            self._real_features = held_out.to(fake.device, torch.float64)  # (N, F)
            self._real_radii = metrics.kth_neighbour_radius(self._real_features[None])[0]
        real = self._real_features
        return {"fd": metrics.frechet_distance(real, fake_features)} | (
            metrics.precision_recall(real, fake_features, real_radii=self._real_radii)
        )


class SamplesError(ValueError):
    """Samples that cannot be measured against the target; the message says the fix."""


def evaluate_samples(
    target: str, samples: np.ndarray | torch.Tensor, **settings: Any
) -> dict[str, float]:
    """Every metric of SAMPLE_METRICS for `samples` generated anywhere, as a ganstudy eval
    measures a trial's generator: {name: value}, NaN where the target lacks what the
    metric needs (columns.why_nan says what; js_d is never measurable from samples:
    NOT_FROM_SAMPLES).

    `samples`: (N, *target shape) or flat (N, dim) (image targets: (N, C, H, W), or
    (N, H, W) for one channel), values as the target's samples (images in [-1, 1]), N at
    least `samples_needed`. `settings`: TrialConfig fields of EVAL_SETTINGS (e.g.
    coverage_samples=360 for a small sample, data_dir for mnist). Raises ConfigError for a
    bad setting, SamplesError for unusable samples.

        ganstudy.evaluate_samples("ring8", np.load("fakes.npy"))["modes_captured"]
    """
    for key in settings:
        if key not in EVAL_SETTINGS:
            raise ConfigError(
                key,
                "does not change what eval measures; the settings it takes: "
                + ", ".join(EVAL_SETTINGS),
            )
    config = from_dict({"target": target, **settings})  # validates ranges, names, data_dir
    # Lazily: the trainer may measure through this module without an import cycle.
    from ganstudy.engine.trainer import resolve_device

    try:
        device = resolve_device(config.device)
    except ValueError as error:  # cuda asked for, none visible
        raise ConfigError("device", str(error).removeprefix("device: ")) from None
    try:
        made = make_target(config.target, config.target_scale, config.target_std, config.data_dir)
    except ValueError as error:  # a scale or std the target has no use for
        key = "target_scale" if config.target_scale is not None else "target_std"
        raise ConfigError(key, str(error)) from None
    dtype = getattr(torch, config.dtype)
    fake = check_samples(made, samples, config)
    fake = fake.to(device, dtype)[None]  # (1, N, dim): one replica
    generator = torch.Generator(device).manual_seed(config.seed)
    real = made.sample(config.eval_batch, generator).to(dtype)[None]
    with torch.no_grad():
        values, _ = SampleMetrics(made, device).measure(real, fake, config)
    return {name: float(values[name][0]) for name in SAMPLE_METRICS}


def check_samples(
    target: Target, samples: np.ndarray | torch.Tensor, config: TrialConfig
) -> torch.Tensor:
    """The samples as flat rows (N, dim) float64, or SamplesError naming what is wrong and
    the fix: a shape that is not the target's, NaN or inf, fewer than an eval of `config`
    measures, image values outside [-1, 1]."""
    x = samples if torch.is_tensor(samples) else torch.as_tensor(np.asarray(samples))
    if not (x.dtype.is_floating_point or x.dtype in _INTEGERS):
        raise SamplesError(f"samples of dtype {x.dtype} are no numbers; give a float array")
    accepted = _accepted_shapes(target)
    if x.ndim < 1 or tuple(x.shape[1:]) not in accepted:
        forms = " or ".join(_shape_text(("N", *a)) for a in accepted)
        raise SamplesError(
            f"samples of shape {_shape_text(tuple(x.shape))} do not fit target {target.name}; "
            f"give {forms}"
        )
    x = x.reshape(len(x), target.dim).to(torch.float64)
    bad = int((~torch.isfinite(x)).any(-1).sum())
    if bad:
        raise SamplesError(f"{bad} of {len(x)} samples hold NaN or inf; drop or fix them")
    needed = samples_needed(config, target)
    if len(x) < needed:
        raise SamplesError(_too_few(len(x), needed, config, target))
    if target.picture == "images":
        low, high = float(x.min()), float(x.max())
        if low < -1 - IMAGE_TOLERANCE or high > 1 + IMAGE_TOLERANCE:
            raise SamplesError(
                f"pixel values span [{low:g}, {high:g}], but the images of target {target.name} "
                "are in [-1, 1] (a tanh output); rescale, e.g. x / 127.5 - 1 for 0..255 pixels"
            )
    return x


_INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
IMAGE_TOLERANCE = 1e-3  # float rounding of a tanh output beyond +-1


def _accepted_shapes(target: Target) -> list[tuple[int, ...]]:
    """One sample's shapes evaluate_samples takes: the target's (models') shape, flat
    (dim,), (H, W) for a one-channel image, () for a 1-D target."""
    shape = tuple(target.shape)
    forms = [shape, (target.dim,)]
    if len(shape) == 3 and shape[0] == 1:
        forms.append(shape[1:])
    if target.dim == 1:
        forms.append(())
    return list(dict.fromkeys(forms))  # (dim,) is the shape of a toy: once


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _too_few(n: int, needed: int, config: TrialConfig, target: Target) -> str:
    """The too-few-samples line: the fix is more samples, or an eval that measures fewer."""
    floor = int(LIMITS["eval_batch"].lo)
    if n < floor:
        return f"{n} samples are too few: js_probe needs at least {floor}; give more samples"
    sizes = {
        "eval_samples": config.eval_samples or target.default_eval_samples,
        "eval_batch": config.eval_batch,
        "coverage_samples": config.coverage_samples,
    }
    lower = " ".join(f"{key}={n}" for key, size in sizes.items() if size > n)
    return (
        f"{n} samples, but an eval at these settings measures {needed} ("
        + ", ".join(f"{key} {size}" for key, size in sizes.items())
        + f"); give {needed} samples, or measure fewer with --set {lower}"
    )

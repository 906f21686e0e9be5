"""Sample drawers, one per `picture` a target names: how one panel of generated samples looks.

A target's `picture` attribute says how its samples are seen: "points" (a 1-D histogram or a
2-D scatter, by `dim`, over the density where the target has modes) or "curves" (curves over
the target's `x` abscissae) or "images" (a grid of sample images of the target's `shape`).
Adding a picture is one drawer and one line in DRAWERS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import torch

from ganstudy.engine.targets import GaussianMixture, Target, make_target
from ganstudy.report.style import SAMPLE_COLOR, Skip, note


@dataclass(frozen=True)
class SampleDrawer:
    """Draws the samples of one evaluation step of one run into one panel."""

    # (ax, points of this step (n, dim), target, all samples of the run) -> None
    draw: Callable[[Any, np.ndarray, Target, pd.DataFrame], None]
    caption: Callable[[Target], str]  # the figure caption for this target
    panel: Callable[[Target], tuple[float, float]]  # (width, height) inches per panel
    check: Callable[[Target], None] = lambda _target: None  # raises Skip if it cannot draw


def target_of(run: pd.Series) -> Target:
    """The run's target object from its target, target_scale and target_std columns."""
    scale, std = _number(run, "target_scale"), _number(run, "target_std")
    return make_target(str(run["target"]), scale=scale, std=std)


def _number(run: pd.Series, key: str) -> float | None:
    value = run.get(key)
    return None if value is None or pd.isna(value) else float(value)


def mixture_log_density(x: np.ndarray, modes: np.ndarray, std: float) -> np.ndarray:
    """log p(x) of an equal-weight mixture of N(mode, std² I); x (..., dim) -> (...)."""
    mixture = GaussianMixture("plot", torch.as_tensor(modes, dtype=torch.float64), std)
    return mixture.log_prob(torch.as_tensor(x, dtype=torch.float64)).numpy()


@lru_cache(maxsize=8)
def _mixture_grid(modes_key: tuple, std: float, lim: tuple[float, float, float, float]):
    """Log density of an equal-weight isotropic Gaussian mixture on a plotting grid."""
    modes = np.array(modes_key)  # (n_modes, 2)
    # Fine enough that a mode's 3σ circle spans several cells even at std 0.02.
    n = int(min(900, max(300, (lim[1] - lim[0]) / (std / 2))))
    gx, gy = np.linspace(lim[0], lim[1], n), np.linspace(lim[2], lim[3], n)
    xx, yy = np.meshgrid(gx, gy)  # (n, n)
    return gx, gy, mixture_log_density(np.stack([xx, yy], -1), modes, std)


def _geometry(target: Target) -> tuple[np.ndarray | None, float | None]:
    """Mode centres (n_modes, dim) and per-mode std; (None, None) without modes."""
    if target.modes is None or target.std is None:
        return None, None
    return target.modes.numpy(), float(target.std)


def _draw_points(ax: Any, pts: np.ndarray, target: Target, run: pd.DataFrame) -> None:
    modes, std = _geometry(target)
    if target.dim == 2:
        _draw_2d(ax, pts, modes, std)
    else:
        _draw_1d(ax, pts[:, 0], modes, std, _range_1d(run, modes, std))


def _check_points(target: Target) -> None:
    if target.dim not in (1, 2):
        raise Skip(f"samples of {target.name} are {target.dim}-dimensional: no 1-D or 2-D view")


def _draw_2d(ax: Any, pts: np.ndarray, modes: np.ndarray | None, std: float | None) -> None:
    if modes is not None and std is not None:
        extent = np.abs(modes).max() + max(1.0, 0.25 * np.abs(modes).max())
        lim = (-extent, extent, -extent, extent)
        gx, gy, logp = _mixture_grid(tuple(map(tuple, modes)), std, lim)
        # Contours at 1, 2, 3σ from a mode centre, relative to the peak density.
        levels = sorted(logp.max() - np.array([4.5, 2.0, 0.5]))
        ax.contourf(gx, gy, logp, levels=[levels[0], logp.max() + 1], colors=["0.88"])
        ax.contour(gx, gy, logp, levels=levels, colors="0.45", linewidths=0.5)
    else:
        finite = pts[np.isfinite(pts).all(1)]
        if len(finite) == 0:
            note(ax, "no finite samples")
            return
        lo, hi = np.quantile(finite, [0.01, 0.99], axis=0)
        pad = 0.1 * (hi - lo).max() + 1e-3
        lim = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=SAMPLE_COLOR, linewidths=0)
    outside = ~(
        (pts[:, 0] >= lim[0])
        & (pts[:, 0] <= lim[1])
        & (pts[:, 1] >= lim[2])
        & (pts[:, 1] <= lim[3])
    )
    if outside.any():
        ax.text(
            0.02,
            0.02,
            f"{outside.sum()} of {len(pts)} outside",
            transform=ax.transAxes,
            fontsize="xx-small",
            color="#a23344",
        )
    ax.set(xlim=lim[:2], ylim=lim[2:], xticks=[], yticks=[])
    ax.set_aspect("equal")


def _draw_1d(
    ax: Any, x: np.ndarray, modes: np.ndarray | None, std: float | None, lim: tuple
) -> None:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        note(ax, "no finite samples")
        return
    ax.hist(x, bins=np.linspace(*lim, 41), density=True, color=SAMPLE_COLOR, alpha=0.7)
    if modes is not None and std is not None:
        grid = np.linspace(*lim, 400)
        density = np.exp(mixture_log_density(grid[:, None], modes, std))
        ax.plot(grid, density, color="0.3", lw=1)
    ax.set(xlim=lim, yticks=[])


def _range_1d(g: pd.DataFrame, modes: np.ndarray | None, std: float | None) -> tuple:
    """One x-range per run, covering the target and the samples, so panels compare."""
    lo, hi = np.nanquantile(g["x0"].replace([np.inf, -np.inf], np.nan), [0.01, 0.99])
    if modes is not None and std is not None:
        lo, hi = min(lo, modes.min() - 4 * std), max(hi, modes.max() + 4 * std)
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


def _points_caption(target: Target) -> str:
    if target.dim == 2:
        return (
            "Generated points (blue) over the target's density contours (grey, 1–3σ) at "
            "evaluation steps, for the best and worst run and one run per outcome; look for "
            "points that spread onto every mode (converged) or pile onto a few (mode collapse)."
        )
    return (
        "Histogram of generated samples at evaluation steps, over the target density where "
        "known, for the best and worst run and one run per outcome."
    )


def _draw_curves(ax: Any, pts: np.ndarray, target: Target, _run: pd.DataFrame) -> None:
    x = target.x.numpy()  # (points,) the abscissae every curve is evaluated on
    # The real family's band: y = a·x² + (a − 1) for a in [a_low, a_high].
    low, high = (a * (x**2 + 1) - 1 for a in (target.a_low, target.a_high))
    ax.fill_between(x, low, high, color="0.85", lw=0)
    for curve in pts[:12]:
        ax.plot(x, curve, color=SAMPLE_COLOR, lw=0.8, alpha=0.8)
    ax.set(ylim=(-0.5, 3.5), xticks=[-1, 0, 1])


def _curves_caption(_target: Target) -> str:
    return (
        "Generated curves (blue) over the band of the real family y = a·x² + (a−1), "
        "a ∈ [1, 2] (grey), for the best and worst run and one run per outcome; good "
        "generators draw smooth parabolas inside the band."
    )


IMAGE_GRID = 6  # a panel shows the first 6 x 6 samples of the step


def _draw_images(ax: Any, pts: np.ndarray, target: Target, _run: pd.DataFrame) -> None:
    """The first IMAGE_GRID² samples (flat rows) as one mosaic, black -1 to white 1."""
    channels, height, width = target.shape
    n = min(len(pts), IMAGE_GRID**2)
    if n == 0:
        note(ax, "no samples")
        return
    images = np.full((IMAGE_GRID**2, height, width, channels), np.nan)
    images[:n] = pts[:n].reshape(n, channels, height, width).transpose(0, 2, 3, 1)
    images = np.clip((images + 1) / 2, 0, 1)  # tanh range -> [0, 1]; NaN stays NaN
    # Rows of IMAGE_GRID images, a 1-pixel gap between them (NaN: drawn as background).
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=np.nan)
    grid = padded.reshape(IMAGE_GRID, IMAGE_GRID, height + 1, width + 1, channels)
    mosaic = grid.transpose(0, 2, 1, 3, 4).reshape(
        IMAGE_GRID * (height + 1), IMAGE_GRID * (width + 1), channels
    )[:-1, :-1]  # (rows, cols, C)
    if channels == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.nan_to_num(mosaic, nan=1.0), interpolation="nearest")
    ax.set(xticks=[], yticks=[])


def _check_images(target: Target) -> None:
    if len(target.shape) != 3:
        raise Skip(f"samples of {target.name} are not images: shape {target.shape}")


def _images_caption(target: Target) -> str:
    return (
        f"The first {IMAGE_GRID * IMAGE_GRID} generated images of {target.name} at "
        "evaluation steps, for the best and worst run and one run per outcome; look for "
        "legible digits of every class (converged) or the same few repeated (mode collapse)."
    )


DRAWERS: dict[str, SampleDrawer] = {
    "points": SampleDrawer(
        draw=_draw_points,
        caption=_points_caption,
        panel=lambda t: (2.1, 2.1) if t.dim == 2 else (2.7, 2.0),
        check=_check_points,
    ),
    "curves": SampleDrawer(draw=_draw_curves, caption=_curves_caption, panel=lambda t: (2.7, 2.0)),
    "images": SampleDrawer(
        draw=_draw_images,
        caption=_images_caption,
        panel=lambda t: (2.1, 2.1),
        check=_check_images,
    ),
}

"""Target distributions behind one interface (`base.Target`), registered by name.

Adding a target is one module (a `Target` subclass and a factory `(scale, std) -> Target`)
plus one line in TARGETS, and its name in `config.TargetName`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

from ganstudy.config import DATA_TARGETS, IMAGE_SHAPES, MODE_COUNTS, TargetName
from ganstudy.engine.targets.base import Binning, Picture, Target
from ganstudy.engine.targets.curves import Curves, curves
from ganstudy.engine.targets.digits import Digits, StackedDigits, digits, stacked_digits
from ganstudy.engine.targets.dirac import Dirac, dirac
from ganstudy.engine.targets.images import ImageTarget
from ganstudy.engine.targets.mixtures import GaussianMixture, gaussian1d, grid25, mixture1d, ring8
from ganstudy.engine.targets.mnist import Mnist, fashion_mnist, mnist, stacked_mnist

__all__ = [
    "TARGETS",
    "Binning",
    "Curves",
    "Digits",
    "Dirac",
    "GaussianMixture",
    "ImageTarget",
    "Mnist",
    "Picture",
    "StackedDigits",
    "Target",
    "make_target",
]

# name -> factory(scale, std): scale and std None mean the literature defaults. The targets
# read from files (config.DATA_TARGETS) take data_dir too: factory(scale, std, data_dir).
TARGETS: dict[str, Callable[..., Target]] = {
    "gaussian1d": gaussian1d,
    "mixture1d": mixture1d,
    "ring8": ring8,
    "grid25": grid25,
    "curves": curves,
    "digits": digits,
    "dirac": dirac,
    "stacked_digits": stacked_digits,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "stacked_mnist": stacked_mnist,
}
if set(TARGETS) != set(typing.get_args(TargetName)):  # a name declared without a target
    raise ImportError(f"targets/ and config.TargetName disagree: {sorted(TARGETS)}")
# Image targets declare their (C, H, W) in config too (config validates model=dcgan without
# building targets); the classes say it once more, so check them against each other.
_SHAPES = {name: factory(None, None).shape for name, factory in TARGETS.items()}  # cheap:
# a file target reads its files only when first sampled
if {name: shape for name, shape in _SHAPES.items() if len(shape) == 3} != IMAGE_SHAPES:
    raise ImportError(f"targets/ and config.IMAGE_SHAPES disagree: {sorted(IMAGE_SHAPES)}")
# The mode counts config.default_coverage_samples follows, likewise.
if {name: factory(None, None).n_modes for name, factory in TARGETS.items()} != MODE_COUNTS:
    raise ImportError("targets/ and config.MODE_COUNTS disagree on the modes of a target")


def make_target(
    name: str,
    scale: float | None = None,
    std: float | None = None,
    data_dir: str | None = None,
) -> Target:
    """The target called `name` (a key of TARGETS) with optional scale and std; `data_dir`
    is where a file target (config.DATA_TARGETS) reads its images (ignored by the others).
    A file target reads nothing here: its files are read (and their errors raised) when it
    is first sampled."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    if name in DATA_TARGETS:
        return TARGETS[name](scale, std, data_dir)
    return TARGETS[name](scale, std)

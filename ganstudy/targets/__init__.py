"""Target distributions behind one interface (`base.Target`), registered by name.

Adding a target is one module (a `Target` subclass and a factory `(scale, std) -> Target`)
plus one line in TARGETS, and its name in `config.TargetName`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

from ganstudy.config import IMAGE_SHAPES, TargetName
from ganstudy.targets.base import Binning, Picture, Target
from ganstudy.targets.curves import Curves, curves
from ganstudy.targets.digits import Digits, StackedDigits, digits, stacked_digits
from ganstudy.targets.images import ImageTarget
from ganstudy.targets.mixtures import GaussianMixture, gaussian1d, grid25, mixture1d, ring8

__all__ = [
    "TARGETS",
    "Binning",
    "Curves",
    "Digits",
    "GaussianMixture",
    "ImageTarget",
    "Picture",
    "StackedDigits",
    "Target",
    "make_target",
]

# name -> factory(scale, std): scale and std None mean the literature defaults.
TARGETS: dict[str, Callable[[float | None, float | None], Target]] = {
    "gaussian1d": gaussian1d,
    "mixture1d": mixture1d,
    "ring8": ring8,
    "grid25": grid25,
    "curves": curves,
    "digits": digits,
    "stacked_digits": stacked_digits,
}
if set(TARGETS) != set(typing.get_args(TargetName)):  # a name declared without a target
    raise ImportError(f"targets/ and config.TargetName disagree: {sorted(TARGETS)}")
# Image targets declare their (C, H, W) in config too (config validates model=dcgan without
# building targets); the classes say it once more, so check them against each other.
_SHAPES = {name: factory(None, None).shape for name, factory in TARGETS.items()}  # cheap
if {name: shape for name, shape in _SHAPES.items() if len(shape) == 3} != IMAGE_SHAPES:
    raise ImportError(f"targets/ and config.IMAGE_SHAPES disagree: {sorted(IMAGE_SHAPES)}")


def make_target(name: str, scale: float | None = None, std: float | None = None) -> Target:
    """The target called `name` (a key of TARGETS) with optional scale and std."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[name](scale, std)

"""The `digits` and `stacked_digits` targets: scikit-learn's 8x8 handwritten digits.

1,797 grey images of the digits 0-9 (UCI optical recognition of handwritten digits, bundled
with scikit-learn: no download), pixel values 0..16 scaled to [-1, 1] (G ends in tanh).
A sample is flat, (64,), as every target's; models see it as `shape` (1, 8, 8).
`stacked_digits` puts three independently drawn digits in the three channels: (3, 8, 8),
flat (192,), 1,000 modes (the digits' Stacked MNIST; see targets/images.py).

A fixed, stratified 20% of the images (HELD_OUT_FRACTION, SPLIT_SEED) is held out for
measurement only (`held_out`); `sample_labeled` draws, with replacement, from the other
80% (1,437 images), which is the distribution G learns.

Modes are the 10 classes (per channel), read off samples by a softmax regression
(scikit-learn's `LogisticRegression`, deterministic L-BFGS) fitted once per process on the
training split (about a second, so it is not cached on disk): 96.9% held-out accuracy
(tests/engine/test_targets_digits.py). A sample is high quality when the classifier's confidence
(largest class probability) is at least QUALITY_CONFIDENCE on every channel;
`quality_sigmas` does not apply to images (there is no std) and is ignored. The features
fd, precision and recall compare are the regression's 10 logits per channel (a linear
classifier has no hidden layer).

js_binned: each sample maps to its mode index (a 1-D coordinate, `binned_points`), the
partition is one unit cell per mode, and `bin_masses` are the training split's class
frequencies (their products over the channels of a stack; 0 outside). So js_binned is the
JS between the generated mode histogram and the real mode masses: a lower bound of
JS(p_data, p_g) (the data-processing inequality: a function of the samples cannot separate
the distributions more than the samples do). It sees mode balance, not image quality;
js_probe (k-NN in the classifier's 10 logits, trainer.Trainer._probe_space) and fd see both.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ganstudy.engine.targets.images import ImageTarget

HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0  # the held-out split is this seed's, always: the same images in every run
QUALITY_CONFIDENCE = 0.8  # high quality: the classifier is at least this sure (92% of the
# held-out real images are; 0.9 would leave 84%, 0.5 98%)
CLASSIFIER_C = 1.0  # LogisticRegression's inverse L2 weight (0.1 and 0.3: 95.8%, 96.9%)


@lru_cache(maxsize=1)
def _data() -> dict[str, torch.Tensor]:
    """The images (n, 64) in [-1, 1] and labels of both splits, float64 / long on the CPU;
    loaded once per process (scikit-learn is imported here only: `import ganstudy` stays
    fast)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.data / 8.0 - 1.0  # 0..16 -> [-1, 1]
    train_x, test_x, train_y, test_y = train_test_split(
        images,
        digits.target,
        test_size=HELD_OUT_FRACTION,
        stratify=digits.target,
        random_state=SPLIT_SEED,
    )
    return {
        "train_x": torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float64)),
        "train_y": torch.from_numpy(train_y.astype(np.int64)),
        "test_x": torch.from_numpy(np.ascontiguousarray(test_x, dtype=np.float64)),
        "test_y": torch.from_numpy(test_y.astype(np.int64)),
    }


@lru_cache(maxsize=1)
def _classifier() -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax regression weights (64, 10) and biases (10,) fitted on the training split,
    once per process (about a second)."""
    from sklearn.linear_model import LogisticRegression

    data = _data()
    fit = LogisticRegression(C=CLASSIFIER_C, max_iter=2000).fit(
        data["train_x"].numpy(), data["train_y"].numpy()
    )
    weight = torch.from_numpy(np.ascontiguousarray(fit.coef_.T, dtype=np.float64))
    return weight, torch.from_numpy(fit.intercept_.astype(np.float64))


class Digits(ImageTarget):
    """scikit-learn's 8x8 digits; see the module docstring."""

    name = "digits"
    quality_confidence = QUALITY_CONFIDENCE

    def __init__(self, stack: int = 1) -> None:
        super().__init__(side=8, stack=stack)

    def _split(self) -> dict[str, torch.Tensor]:
        return _data()

    def _classify(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax-regression logits (..., 10) of images (..., 64); they are the features too
        (a linear classifier has no hidden layer)."""
        weight, bias = _classifier()
        logits = images @ weight.to(images.device, images.dtype) + bias.to(
            images.device, images.dtype
        )  # (..., 10)
        return logits, logits


class StackedDigits(Digits):
    """Three independently drawn digits as the three channels: 1,000 modes (module doc)."""

    name = "stacked_digits"

    def __init__(self) -> None:
        super().__init__(stack=3)


def digits(scale: float | None = None, std: float | None = None) -> Digits:
    """scikit-learn's 8x8 digits (see `Digits`); scale and std do not apply."""
    if scale is not None or std is not None:
        raise ValueError("target_scale / target_std do not apply to the digits target; omit them")
    return Digits()


def stacked_digits(scale: float | None = None, std: float | None = None) -> StackedDigits:
    """Three digits as three channels (see `StackedDigits`); scale and std do not apply."""
    if scale is not None or std is not None:
        raise ValueError(
            "target_scale / target_std do not apply to the stacked_digits target; omit them"
        )
    return StackedDigits()

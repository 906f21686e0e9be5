"""The `digits` target: scikit-learn's 8x8 handwritten digits, an image target.

1,797 grey images of the digits 0-9 (UCI optical recognition of handwritten digits, bundled
with scikit-learn: no download), pixel values 0..16 scaled to [-1, 1] (G ends in tanh).
A sample is flat, (64,), as every target's; models see it as `shape` (1, 8, 8).

A fixed, stratified 20% of the images (HELD_OUT_FRACTION, SPLIT_SEED) is held out for
measurement only (`held_out`); `sample_labeled` draws, with replacement, from the other
80% (1,437 images), which is the distribution G learns.

Modes are the 10 classes, read off samples by a softmax regression (scikit-learn's
`LogisticRegression`, deterministic L-BFGS) fitted once per process on the training split:
96.9% held-out accuracy (tests/test_targets_digits.py). A sample is high quality when the
classifier's confidence (largest class probability) is at least QUALITY_CONFIDENCE;
`quality_sigmas` does not apply to images (there is no std) and is ignored.

js_binned: each sample maps to its predicted class (a 1-D coordinate, `binned_points`), the
partition is 10 unit cells centred on 0..9, and `bin_masses` are the training split's class
frequencies (0 outside). So js_binned is the JS between the generated class histogram and
the real class masses: a lower bound of JS(p_data, p_g) (the data-processing inequality:
a function of the samples cannot separate the distributions more than the samples do).
It sees mode balance, not image quality; js_probe (k-NN on the 64 pixels) sees both.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ganstudy.targets.base import Binning, Target

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


class Digits(Target):
    """scikit-learn's 8x8 digits; see the module docstring."""

    name = "digits"
    picture = "images"  # the report draws a grid of sample images
    n_classes = 10

    def __init__(self) -> None:
        self.dim = 64
        self.modes = None
        self.std = None
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def n_modes(self) -> int:
        return self.n_classes

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n training images (n, 64), float64 on the generator's device, drawn uniformly with
        replacement, and their classes (n,)."""
        device = generator.device
        if device not in self._on_device:  # one copy per device, not one per draw
            data = _data()
            self._on_device[device] = (data["train_x"].to(device), data["train_y"].to(device))
        images, labels = self._on_device[device]
        index = torch.randint(len(labels), (n,), generator=generator, device=device)
        return images[index], labels[index]

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out images (360, 64) and classes: for measurement only, never trained on."""
        data = _data()
        return data["test_x"], data["test_y"]

    def class_probabilities(self, samples: torch.Tensor) -> torch.Tensor:
        """The classifier's class probabilities (..., 10) of samples (..., 64)."""
        weight, bias = _classifier()
        logits = samples @ weight.to(samples.device, samples.dtype) + bias.to(
            samples.device, samples.dtype
        )  # (..., 10)
        return logits.softmax(-1)

    def binning(self) -> Binning:
        """10 unit cells centred on the classes 0..9."""
        return Binning((torch.arange(self.n_classes + 1, dtype=torch.float64) - 0.5,))

    def bin_masses(self, binning: Binning) -> torch.Tensor:
        """The training split's class frequencies, then 0 outside: (11,)."""
        labels = _data()["train_y"]
        counts = torch.bincount(labels, minlength=self.n_classes).to(torch.float64)
        return torch.cat([counts / len(labels), torch.zeros(1, dtype=torch.float64)])

    def binned_points(self, samples: torch.Tensor) -> torch.Tensor:
        """Each sample's predicted class as a coordinate, (R, N, 1) from (R, N, 64)."""
        return self.class_probabilities(samples).argmax(-1, keepdim=True).to(samples.dtype)

    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted class, confidence >= QUALITY_CONFIDENCE) of samples (..., 64);
        `quality_sigmas` does not apply to images and is ignored."""
        confidence, which = self.class_probabilities(samples).max(-1)
        return which, confidence >= QUALITY_CONFIDENCE


def digits(scale: float | None = None, std: float | None = None) -> Digits:
    """scikit-learn's 8x8 digits (see `Digits`); scale and std do not apply."""
    if scale is not None or std is not None:
        raise ValueError("target_scale / target_std do not apply to the digits target; omit them")
    return Digits()

"""Measurements of a GAN: pure functions, tensors in, per-replica numbers out.

All JS estimates are in nats, in [0, log 2]. See DESIGN.md for the theory:
`js_d` is the discriminator-based lower bound (V(D,G) + log 4)/2, `js_probe` the bound
from a freshly trained classifier, `js_binned` the reference from a histogram against the
target's exact cell masses. Every function takes replica-batched tensors (R, N, ...) and
returns (R,) tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ganstudy.columns import OUTCOMES  # noqa: F401 (the labels classify_outcome gives)
from ganstudy.engine.targets import Binning, Target

LOG2 = math.log(2.0)


def discriminator_outputs(
    real: torch.Tensor, fake: torch.Tensor, probability: bool
) -> dict[str, torch.Tensor]:
    """D's outputs on real and fake points, (R, N) raw outputs each.

    critic_* are the raw outputs (always). d_* are probabilities sigmoid(output) and js_d the
    bound (V(D,G) + log 4)/2, only where the loss makes D's output a logit; NaN otherwise,
    since a critic value is no probability.
    """
    stats = {"critic_real": real.mean(-1), "critic_fake": fake.mean(-1)}
    if probability:
        p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
        stats |= {
            "d_real": p_real.mean(-1),
            "d_fake": p_fake.mean(-1),
            "d_real_std": p_real.std(-1),
            "d_fake_std": p_fake.std(-1),
            "js_d": js_from_logits(real, fake),
        }
    else:
        nan = torch.full_like(stats["critic_real"], math.nan)
        stats |= dict.fromkeys(["d_real", "d_fake", "d_real_std", "d_fake_std", "js_d"], nan)
    return stats


def js_from_logits(real: torch.Tensor, fake: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """(V(D,G) + log 4)/2 with D = sigmoid(logit), floored at 0 (clamp=False: the raw bound).

    A lower bound on JS, tight only for the optimal D. V can fall below -log 4 for a poor D;
    max(0, bound) is still a valid lower bound and keeps the column in [0, log 2].
    """
    value = F.logsigmoid(real).mean(-1) + F.logsigmoid(-fake).mean(-1)  # V(D, G)
    bound = (value + 2 * LOG2) / 2
    return bound.clamp(min=0.0) if clamp else bound


def js_from_masses(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS divergence (nats) between discrete distributions along the last axis."""
    return _js_all_cells(p, q).clamp(0.0, LOG2)


def _js_all_cells(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS (nats, unclamped) along the last axis, summed over every cell."""
    m = 0.5 * (p + q)
    # xlogy gives 0·log 0 = 0; where m = 0 both p and q are 0, so the ratio is never 0/0 used.
    m_safe = torch.where(m > 0, m, torch.ones_like(m))
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m_safe)).sum(-1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m_safe)).sum(-1)
    return 0.5 * (kl_pm + kl_qm)


def histogram(points: torch.Tensor, binning: Binning) -> torch.Tensor:
    """Normalised histogram (R, n_cells + 1) of points (R, N, dim); the last cell is 'outside'."""
    replicas, n = points.shape[:2]
    cells = binning.n_cells + 1
    index = binning.index(points) + cells * torch.arange(replicas, device=points.device)[:, None]
    counts = torch.bincount(index.flatten(), minlength=replicas * cells)
    return counts.reshape(replicas, cells).to(torch.float64) / n


def _js_seen_cells(hist: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """js_from_masses of each row of hist (R, cells) against p, over the seen cells only.

    The 2-D grids have 1e5+ cells and a histogram of 20k points leaves most empty; there
    q = 0, m = p / 2 and each adds p log 2 / 2, summed in one go. 10x faster at R = 4 on the
    CPU; equal to js_from_masses to 1e-12 (tested).
    """
    replica, cell = (hist > 0).nonzero(as_tuple=True)
    p_seen, q_seen = p[cell], hist[replica, cell]
    m = 0.5 * (p_seen + q_seen)
    terms = 0.5 * (
        torch.xlogy(p_seen, p_seen) - torch.xlogy(p_seen, m) + q_seen * (q_seen / m).log()
    )
    seen_mass = torch.zeros_like(hist[:, 0]).index_add_(0, replica, p_seen)
    js = torch.zeros_like(hist[:, 0]).index_add_(0, replica, terms)
    return js + 0.5 * LOG2 * (p.sum() - seen_mass)


def js_binned(
    points: torch.Tensor, binning: Binning, data_masses: torch.Tensor, clamp: bool = True
) -> torch.Tensor:
    """JS between the histogram of generated points (R, N, dim) and the exact cell masses,
    clamped to [0, log 2] against rounding (clamp=False: the raw sum)."""
    hist = histogram(points, binning)  # (R, cells)
    p = data_masses.to(hist.device)
    # index_add_ of floats is not deterministic on CUDA (atomics); row sums are, and a GPU
    # does not mind the empty cells.
    cpu = hist.device.type == "cpu"
    js = _js_seen_cells(hist, p) if cpu else _js_all_cells(p, hist)
    return js.clamp(0.0, LOG2) if clamp else js


PROBE_NEIGHBOURS = (4, 8, 16, 32)  # the k js_probe chooses from, per replica and eval
PROBE_CV_POINTS = 512  # training points (half real, half fake) whose leave-one-out CE picks k
PROBE_PSEUDO_COUNT = 0.25  # added to each class's neighbour votes: no probability is 0 or 1
PROBE_STD_FLOOR = 0.1  # no coordinate's scale below this fraction of the mean (_probe_scale)
PROBE_CHUNK = 1 << 18  # distance entries per chunk (1 MB in float32): the chunk stays in cache
PROBE_CHUNK_GPU = 1 << 26  # ... on a GPU (256 MB): few big launches instead of thousands


def js_probe(
    real_train: torch.Tensor,
    fake_train: torch.Tensor,
    real_test: torch.Tensor,
    fake_test: torch.Tensor,
    clamp: bool = True,
) -> torch.Tensor:
    """log 2 - held-out cross-entropy of a k-nearest-neighbour classifier of real vs fake,
    floored at 0 (clamp=False: the raw bound). Inputs are (R, N, dim), balanced classes;
    each replica has its own probe.

    The classifier: P(real | x) = (real points among x's k nearest training points + a) /
    (k + 2a), a = PROBE_PSEUDO_COUNT, in coordinates standardised by the real training data,
    with k from PROBE_NEIGHBOURS chosen by leave-one-out cross-entropy on PROBE_CV_POINTS of
    the training points (never the held-out ones). For any classifier fitted without the
    held-out points, log 2 - E[CE] <= JS (the same inequality as js_d), so this is a lower
    bound whatever the loss. This is the k-NN classifier two-sample test (Lopez-Paz & Oquab,
    2017); no randomness, so it is comparable across trials.

    Why k-NN and not a small MLP (issue 6): on 70 GAN snapshots (ring8, grid25, 1-D targets;
    nonsaturating, minimax, wgan_gp; steps 0-3000) it sat 0.051 nats below js_binned on
    average against 0.175 for a width-32 MLP trained 100 full-batch Adam steps (correlation
    with js_binned 0.98 against 0.70), at a third of the cost. Small k resolves the sharp
    modes of the 2-D targets, large k the smooth differences of the 1-D ones; the choice
    by cross-validation takes whichever the data need. The pseudo-count caps one
    misclassified point's cost at log((k + 2a) / a) nats and the bound at
    log 2 - log((k + 2a) / (k + a)) for perfectly separated samples (0.685 nats at k = 32).
    """
    n_real = real_train.shape[1]
    mean, std = _probe_scale(real_train)
    train = (torch.cat([real_train, fake_train], 1) - mean) / std  # (R, Ntr, dim)
    test = (torch.cat([real_test, fake_test], 1) - mean) / std  # (R, Nte, dim)
    k = _choose_k(train, n_real)  # (R,)
    votes = _real_votes(test, train, n_real, int(k.max()))
    cross_entropy = _cross_entropy(votes, real_test.shape[1], k[:, None])[:, 0]  # (R,)
    bound = LOG2 - cross_entropy
    return (bound.clamp(min=0.0) if clamp else bound).to(test.dtype)


def probe_neighbours(real_train: torch.Tensor, fake_train: torch.Tensor) -> torch.Tensor:
    """The k (R,) js_probe uses for these training points (R, N, dim): the one of
    PROBE_NEIGHBOURS with the least leave-one-out cross-entropy."""
    mean, std = _probe_scale(real_train)
    train = (torch.cat([real_train, fake_train], 1) - mean) / std  # (R, Ntr, dim)
    return _choose_k(train, real_train.shape[1])


def _probe_scale(real_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (R, 1, dim) of the real training points: the probe's coordinates.

    Each std is floored at PROBE_STD_FLOOR of the mean std over dimensions (and at 1e-6):
    an image's corner pixels are constant in real data (std 0), and dividing by it would
    let the tiniest generated deviation there decide every neighbour. The toys' dimensions
    have like stds, so the floor never binds for them."""
    std = real_train.std(1, keepdim=True)  # (R, 1, dim)
    floor = (PROBE_STD_FLOOR * std.mean(-1, keepdim=True)).clamp(min=1e-6)  # (R, 1, 1)
    return real_train.mean(1, keepdim=True), torch.maximum(std, floor)


def _choose_k(train: torch.Tensor, n_real: int) -> torch.Tensor:
    """k per replica (R,): leave-one-out votes for the first PROBE_CV_POINTS / 2 real and
    fake training points (standardised, the first n_real real)."""
    device = train.device
    candidates = torch.tensor([k for k in PROBE_NEIGHBOURS if k < train.shape[1]], device=device)
    half = min(PROBE_CV_POINTS // 2, n_real, train.shape[1] - n_real)
    cv_points = torch.cat([torch.arange(half), n_real + torch.arange(half)]).to(device)
    votes = _real_votes(train[:, cv_points], train, n_real, int(candidates.max()), cv_points)
    return candidates[_cross_entropy(votes, half, candidates).argmin(-1)]  # (R,)


def _real_votes(
    query: torch.Tensor,
    train: torch.Tensor,
    n_real: int,
    k_max: int,
    query_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """(R, Nq, k_max): real training points among each query's 1, 2, ..., k_max nearest.

    Training points 0..n_real-1 are the real ones. query_index, where the queries are
    training points, names them, so that none counts itself (leave-one-out)."""
    replicas, n_train = train.shape[:2]
    # |x - t|^2 ranks like |t|^2 - 2 x.t for a fixed query x: one batched matmul per chunk.
    train_sq = train.pow(2).sum(-1).unsqueeze(1)  # (R, 1, Ntr)
    chunk = PROBE_CHUNK if train.device.type == "cpu" else PROBE_CHUNK_GPU
    rows = max(1, chunk // (replicas * n_train))
    votes = []
    for start in range(0, query.shape[1], rows):
        score = torch.baddbmm(train_sq, query[:, start : start + rows], train.mT, alpha=-2)
        if query_index is not None:
            own = query_index[start : start + rows]
            score[:, torch.arange(len(own), device=own.device), own] = math.inf
        nearest = score.topk(k_max, dim=-1, largest=False, sorted=True).indices
        votes.append((nearest < n_real).cumsum(-1))
    return torch.cat(votes, 1)


def _cross_entropy(votes: torch.Tensor, n_real: int, k: torch.Tensor) -> torch.Tensor:
    """Mean CE (nats, balanced classes) of the k-NN classifier, (R, K): one column per
    candidate k, given as (K,) for every replica or (R, K) per replica. votes (R, N, k_max)
    come from _real_votes for queries whose first n_real are real."""
    k = k.expand(votes.shape[0], -1)  # (R, K)
    real = votes.gather(2, (k - 1)[:, None, :].expand(-1, votes.shape[1], -1))  # (R, N, K)
    p_real = (real.double() + PROBE_PSEUDO_COUNT) / (k[:, None, :] + 2 * PROBE_PSEUDO_COUNT)
    return -0.5 * (p_real[:, :n_real].log().mean(1) + (-p_real[:, n_real:]).log1p().mean(1))


def mode_counts(samples: torch.Tensor, target: Target, quality_sigmas: float = 3.0) -> torch.Tensor:
    """High-quality samples per mode (R, M) int64 of samples (R, N, dim): what
    `mode_coverage` counts a mode's capture by (a low-quality sample counts nowhere)."""
    which, good = target.assign_modes(samples, quality_sigmas)  # (R, N) each
    counts = torch.zeros(*which.shape[:-1], target.n_modes, dtype=torch.int64, device=which.device)
    return counts.scatter_add_(-1, which, good.to(torch.int64))  # (R, M)


def mode_coverage(
    samples: torch.Tensor, target: Target, quality_sigmas: float = 3.0, min_count: int = 1
) -> dict[str, torch.Tensor]:
    """Mode statistics of samples (R, N, dim), VEEGAN / Unrolled-GAN convention.

    The target assigns each sample its mode and says whether it is high quality
    (`Target.assign_modes`: for mixtures, within `quality_sigmas` stds of the nearest mode;
    for curves, a bin of the fitted a and a small rms residual from the family); a mode is
    captured if it holds at least `min_count` high-quality samples. mode_kl is
    KL(histogram of high-quality samples over modes || uniform), NaN when there are none.
    """
    counts = mode_counts(samples, target, quality_sigmas)
    return coverage_of_counts(counts, samples.shape[1], min_count, samples.dtype)


def coverage_of_counts(
    counts: torch.Tensor, n_samples: int, min_count: int = 1, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """`mode_coverage`'s numbers from `mode_counts` (R, M) of `n_samples` samples per
    replica (the trainer counts once and keeps the counts for modes.parquet)."""
    n_modes = counts.shape[-1]
    counts_f = counts.to(dtype)
    n_good = counts_f.sum(-1)
    freq = counts_f / n_good.clamp(min=1).unsqueeze(-1)
    kl = (torch.xlogy(freq, freq) + freq * math.log(n_modes)).sum(-1)
    return {
        "modes_captured": (counts >= min_count).sum(-1).to(dtype),
        "high_quality_frac": n_good / n_samples,
        "mode_kl": torch.where(n_good > 0, kl, torch.full_like(kl, math.nan)),
    }


def class_accuracy(samples: torch.Tensor, labels: torch.Tensor, target: Target) -> torch.Tensor:
    """Fraction (R,) of samples (R, N, dim) that the target assigns to the label (R, N) G
    was asked for: the classifier's class (mode) for images, the nearest mode for mixtures,
    the a-bin for curves (`Target.assign_modes`; quality does not enter)."""
    which, _ = target.assign_modes(samples, math.inf)  # (R, N)
    return (which == labels).to(samples.dtype).mean(-1)


# ---------------------------------------------------------------------------------------
# Image metrics in a classifier's feature space (Target.features; NaN for the toys).
# ---------------------------------------------------------------------------------------

FEATURE_POINTS = 2048  # generated samples per replica (and held-out real ones) compared in
# feature space: the k-NN balls' distance matrices are 2048 x 2048 per replica, ~0.3 GFLOP
PR_NEIGHBOURS = 3  # Kynkäänniemi et al. (2019)'s default k
PR_CHUNK = 1 << 22  # distance entries per chunk of the ball tests (32 MB in float64)


def gaussian_fit(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (..., F) and unbiased covariance (..., F, F) of features (..., N, F), float64."""
    x = features.to(torch.float64)
    mean = x.mean(-2)
    centred = x - mean.unsqueeze(-2)  # (..., N, F)
    return mean, centred.mT @ centred / (x.shape[-2] - 1)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Fréchet distance (R,) between Gaussian fits of real features (N, F) (or (R, N, F))
    and each replica's generated features (R, M, F):

        |mu_r - mu_g|² + tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

    This is FID's formula (Heusel et al. 2017) in the feature space of the target's own
    small classifier, not Inception's: its numbers are comparable within a target only,
    never with published FIDs. tr (S_r S_g)^(1/2) is the sum of the square roots of the
    eigenvalues of the symmetric S_r^(1/2) S_g S_r^(1/2) (same spectrum as S_r S_g), so two
    symmetric eigendecompositions replace a general matrix square root; eigenvalues that
    rounding makes slightly negative are clipped to 0. 0 when the fits are equal.
    """
    mu_r, cov_r = gaussian_fit(real)
    mu_g, cov_g = gaussian_fit(fake)  # (R, F), (R, F, F)
    values, vectors = torch.linalg.eigh(cov_r)
    root_r = (vectors * values.clamp(min=0).sqrt().unsqueeze(-2)) @ vectors.mT  # S_r^(1/2)
    middle = root_r @ cov_g @ root_r  # (R, F, F), symmetric PSD
    middle = 0.5 * (middle + middle.mT)  # exactly symmetric for eigvalsh
    trace_root = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum(-1)  # (R,)
    traces = cov_r.diagonal(dim1=-2, dim2=-1).sum(-1) + cov_g.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (mu_r - mu_g).pow(2).sum(-1) + traces - 2 * trace_root


def kth_neighbour_radius(points: torch.Tensor, k: int = PR_NEIGHBOURS) -> torch.Tensor:
    """Distance (R, N) from each point (R, N, F) to its k-th nearest other point, float64
    (the radii of precision_recall's balls; a fixed real set's can be computed once)."""
    points = points.to(torch.float64)
    radii = []
    rows = max(1, PR_CHUNK // (points.shape[0] * points.shape[1]))
    for start in range(0, points.shape[1], rows):
        dist = torch.cdist(points[:, start : start + rows], points)  # (R, rows, N)
        # The nearest "neighbour" is the point itself (distance 0): take the (k+1)-th.
        radii.append(dist.topk(k + 1, dim=-1, largest=False).values[..., k])
    return torch.cat(radii, 1)


def precision_recall(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = PR_NEIGHBOURS,
    real_radii: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), (R,) each, of generated
    features (R, M, F) against real ones (N, F) (or (R, N, F)), in float64.

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour in the same set. precision: the fraction of generated
    points inside the real manifold (are the samples realistic?); recall: the fraction of
    real points inside the generated manifold (is all of the data covered?). A collapsed
    generator has a tiny manifold: its recall falls towards 0 while its precision can stay
    near 1. `real_radii` ((N,) or (R, N), from kth_neighbour_radius with the same k) skips
    recomputing a fixed real set's radii at every eval.

    The two sets are compared at equal size: the first min(N, M) points of each (the
    larger set's radii recomputed). Why: a ball reaches the k-th neighbour, so the bigger
    set's balls are smaller. On digits (360 held-out images) against 2,048 fresh draws of
    the training distribution, whose repeated images make radii 0, recall read 0.73; at
    360 each 0.89, the 0.91 of two distinct real sets (tests/engine/test_metrics_features.py).
    """
    fake = fake.to(torch.float64)
    n = min(real.shape[-2], fake.shape[1])
    if real.shape[-2] > n:
        real, real_radii = real[..., :n, :], None
    fake = fake[:, :n]
    replicas, n_fake = fake.shape[:2]
    real = real.to(torch.float64).expand(replicas, -1, -1)  # (R, N, F)
    if real_radii is None:
        real_radii = kth_neighbour_radius(real, k)
    real_radii = real_radii.to(torch.float64).expand(replicas, -1)  # (R, N)
    fake_radii = kth_neighbour_radius(fake, k)  # (R, M)
    # One real-fake distance matrix serves both: precision reads it along the real axis,
    # recall along the fake one. In chunks of fake rows: (R, rows, N) stays ~32 MB.
    precise = []
    covered = torch.zeros(real.shape[:2], dtype=torch.bool, device=real.device)  # (R, N)
    rows = max(1, PR_CHUNK // (replicas * real.shape[1]))
    for start in range(0, n_fake, rows):
        dist = torch.cdist(fake[:, start : start + rows], real)  # (R, rows, N)
        precise.append((dist <= real_radii.unsqueeze(1)).any(-1))  # (R, rows)
        covered |= (dist <= fake_radii[:, start : start + rows].unsqueeze(-1)).any(1)
    return {
        "precision": torch.cat(precise, 1).to(torch.float64).mean(-1),
        "recall": covered.to(torch.float64).mean(-1),
    }


# ---------------------------------------------------------------------------------------
# Outcome labels. Every threshold lives here and is documented in the README.
# ---------------------------------------------------------------------------------------

OUTCOME_THRESHOLDS = {
    # D separates real from fake: probability gap d_real - d_fake at least this ...
    "d_gap": 0.6,
    # ... or (critic losses) the k-NN probe separates them this well (nats; its ceiling is
    # 0.685 for fully separated samples, log 2 = 0.693).
    "probe_separates": 0.45,
    # Vanishing generator gradient: final grad_norm_g below this fraction of its peak ...
    "g_grad_vanished": 0.1,
    # ... or below this absolute floor (healthy runs measure 0.1-20 on the toys; a saturated
    # minimax G can be at 1e-5 by the first eval, before any peak was seen).
    "g_grad_floor": 1e-3,
    # Fitted: at least this fraction of the samples high quality (within quality_sigmas
    # stds of a mode, or on the curve family). Below it the samples are off the data, so
    # the modes they miss say nothing about collapse: not_fitted (collapse is VEEGAN's
    # "high quality, few modes"). Measured on ring8 (std 0.05) runs of the balance study's
    # settings at 8000 steps: Gs off the data 0.000-0.044 (JS 0.67-0.69), Gs on 4-6 of the
    # 8 modes 0.37-0.80; diffuse clouds after 300 steps 0.002-0.021 (grid25: 19 of 25
    # "modes"). VEEGAN's table: ALI on the ring 0.0013 (not fitted), Unrolled GAN 0.16-0.36
    # (fitted, modes missing).
    "fitted_quality": 0.1,
    # ... on an image target (fd defined), where high quality means the classifier is at
    # least quality_confidence sure on every channel. A classifier is sure of much that is
    # no digit (uniform noise images: 0.19 on digits), and js_binned sees only the class
    # histogram, which blobs can balance, so the bar is higher: real held-out digits score
    # 0.92, an untrained dcgan 0.00, one after 100 steps (class-balanced blobs, recall
    # 0.03) 0.34-0.48.
    "fitted_quality_images": 0.5,
    # Oscillating: the JS reference ranges over more than this (nats) in the last third of evals.
    "oscillation_range": 0.1,
    # Converged: the JS reference (js_binned, else js_probe) at most this (nats) at the end ...
    "converged_js": 0.3,
}


def vanishing_threshold(peak_g: float) -> float:
    """The generator gradient at or below which it has vanished: g_grad_vanished of its
    peak, never below g_grad_floor; the floor alone where no finite peak exists (Python's
    max(nan, floor) would be nan and switch the floor off)."""
    t = OUTCOME_THRESHOLDS
    if not math.isfinite(peak_g):
        return t["g_grad_floor"]
    return max(t["g_grad_vanished"] * peak_g, t["g_grad_floor"])


def classify_outcome(history: Sequence[dict[str, float]], n_modes: int) -> str:
    """One label for one replica's eval history (oldest first), checked in this order:

    1. diverged: non-finite parameters at the last eval (every metric of the row is NaN).
    2. d_dominates: D separates real from fake (d_gap, or probe_separates for critic
       losses), the generator gradient has vanished (g_grad_vanished of its peak, or
       below g_grad_floor) and the JS reference is still above converged_js (the same
       number as rule 6: a G close enough to be converged is not starved): the saturation
       of the minimax loss that the paper warns about.
    3. not_fitted: G has not fitted the data: it is untrained (step 0) or fewer than
       fitted_quality of its samples are high quality (fitted_quality_images on an image
       target, fd finite), so they lie off the data and the modes they miss say nothing
       about collapse. Not on the Dirac game (dirac_distance defined): its G is one point
       whose dynamics the other labels describe.
    4. mode_collapse: the target has several modes and the generator, on the data,
       captures fewer.
    5. oscillating: the JS reference (js_binned, else js_probe) still swings by more than
       oscillation_range over the last third of the evals; that third must hold at least 3
       evals, so a history of fewer than 9 evals is never oscillating.
    6. converged: the JS reference is at most converged_js: on the data, all modes,
       stable, close.
    7. not_converged: otherwise: on the data, stable, all modes, G's gradient alive (else
       rule 2), but p_g still farther from p_data than converged_js: training has not got
       there (yet), which says nothing about D winning.
    """
    t = OUTCOME_THRESHOLDS
    last = history[-1]
    if not (math.isfinite(last["critic_real"]) and math.isfinite(last["critic_fake"])):
        return "diverged"
    if math.isfinite(last["d_real"]):
        d_separates = last["d_real"] - last["d_fake"] >= t["d_gap"]
    else:
        d_separates = last["js_probe"] >= t["probe_separates"]
    # Step 0 has no gradient yet (NaN), so the peak is over the finite values.
    peak_g = max(
        (row["grad_norm_g"] for row in history if math.isfinite(row["grad_norm_g"])),
        default=math.nan,
    )
    vanished = last["grad_norm_g"] <= vanishing_threshold(peak_g)
    reference = "js_binned" if math.isfinite(last["js_binned"]) else "js_probe"
    # A G already within converged_js of the data is not starved by D: at the Dirac-GAN's
    # equilibrium G's gradient is 0 and a k-NN probe still tells 0 from 1e-11.
    far = not last[reference] <= t["converged_js"]
    if d_separates and vanished and far:
        return "d_dominates"
    dirac_game = math.isfinite(last.get("dirac_distance", math.nan))
    untrained = last.get("step") == 0
    image = math.isfinite(last.get("fd", math.nan))  # feature metrics: image targets only
    fitted = t["fitted_quality_images"] if image else t["fitted_quality"]
    off_data = last["high_quality_frac"] < fitted  # NaN (no modes): False
    if not dirac_game and (untrained or off_data):
        return "not_fitted"
    if n_modes > 1 and last["modes_captured"] < n_modes:
        return "mode_collapse"
    tail = [row[reference] for row in history[len(history) - max(len(history) // 3, 1) :]]
    if len(tail) >= 3 and max(tail) - min(tail) > t["oscillation_range"]:
        return "oscillating"
    if last[reference] <= t["converged_js"]:
        return "converged"
    return "not_converged"

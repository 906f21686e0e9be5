"""write_study arguments for a tiny synthetic study shaped like each shipped study
(studies/*.yaml): the same swept settings, two values where the study has more (three where
a value's place in the order matters), so the report's layout can be tested per shape."""

from __future__ import annotations

from itertools import product

WIDTHS = (32, 128)
SHAPES: dict[str, dict] = {
    # loss x k x lr_d (lr_g fixed) x d_width (g_width fixed)
    "balance": dict(
        losses=("minimax", "nonsaturating"),
        ks=(1, 5),
        ratios=(0.1, 1.0, 10.0),
        widths=((32, 64), (128, 64)),
    ),
    # d_width x g_width, one loss
    "capacity": dict(
        losses=("nonsaturating",),
        ks=(1,),
        ratios=(1.0,),
        widths=tuple(product((32, 128, 512), (32, 64, 128))),
        target="grid25",
    ),
    # conditional x d_width (g_width fixed)
    "conditional": dict(
        losses=("nonsaturating",),
        ks=(1,),
        ratios=(1.0,),
        widths=((32, 128), (128, 128)),
        extra={"conditional": (False, True)},
        target="grid25",
    ),
    # loss only
    "critics": dict(losses=("wasserstein", "wgan_gp"), ks=(5,), ratios=(1.0,)),
    "losses": dict(
        losses=("minimax", "nonsaturating", "hinge", "least_squares"), ks=(1,), ratios=(1.0,)
    ),
    # loss x k x lr_d on images (digits and mnist)
    "digits": dict(
        losses=("minimax", "wgan_gp"),
        ks=(1, 3),
        ratios=(0.2, 1.0, 5.0),
        target="digits",
        fixed={"model": "dcgan"},
    ),
    # loss x r1 x updates on the Dirac-GAN
    "dirac": dict(
        losses=("minimax", "wasserstein"),
        ks=(1,),
        ratios=(1.0,),
        target="dirac",
        extra={"r1": (0.0, 0.5, 2.0), "updates": ("alternating", "simultaneous")},
        fixed={"model": "dirac"},
        samples=False,
    ),
    # target x loss x pack x unroll
    "remedies": dict(
        losses=("minimax", "nonsaturating"),
        ks=(1,),
        ratios=(1.0,),
        targets=("ring8", "grid25"),
        extra={"pack": (1, 4), "unroll": (0, 5)},
    ),
    # loss x k
    "smoke": dict(losses=("minimax", "nonsaturating"), ks=(1, 2), ratios=(1.0,)),
    # d_width x g_width on stacked digits (drawn here on grid25: the layout is the point)
    "stacked": dict(
        losses=("nonsaturating",),
        ks=(1,),
        ratios=(1.0,),
        widths=tuple(product((8, 24, 64), (16, 64))),
        target="grid25",
    ),
    # sampled: loss x k x lr_d (continuous) x d_width (tpe; pbt samples lr_d and lr_g)
    "tpe": dict(
        losses=("minimax", "hinge"),
        ks=(1, 3),
        ratios=(0.05, 0.09, 0.2, 0.35, 0.7, 1.3, 2.6, 5.0, 11.0),
        widths=((32, 64), (128, 64)),
        search={"algorithm": "random", "num_samples": 36},
    ),
}
# What each shape's grid and trajectory figures must draw: (x, y, rows) of cells.layout.
LAYOUTS = {
    "balance": ("k", "lr_ratio", ("cap_ratio",)),
    "capacity": ("g_width", "d_width", ()),
    "conditional": ("conditional", "cap_ratio", ()),
    "critics": (None, None, ()),
    "losses": (None, None, ()),
    "digits": ("k", "lr_ratio", ()),
    "dirac": ("r1", "updates", ()),
    "remedies": ("pack", "unroll", ()),
    "smoke": ("k", None, ()),
    "stacked": ("g_width", "d_width", ()),
    "tpe": ("k", "lr_ratio", ("cap_ratio",)),
}

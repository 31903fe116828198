"""FID and KID for images, offline, in the feature space of our own small classifier.

Images go through a :class:`~lightning_modules.metrics.feature_net.FeatureClassifier` once
(:func:`image_features`); the metrics then work on those feature vectors [n, d]. Both are
computed by torchmetrics (``FrechetInceptionDistance`` / ``KernelInceptionDistance``) given an
identity "feature extractor", so the formulas are torchmetrics' own and extraction is not
repeated for every bootstrap replicate.

    fid   ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2)), squared feature units.
          Replicates: bootstrap of the generated features (reference fixed), as for the
          toy metrics.
    kid   unbiased MMD^2 with the cubic kernel (x.y / d + 1)^3, averaged over random subsets
          of ``subset_size`` rows of each set. Replicates: the per-subset values, so its
          interval is the spread of one subset's estimate (wider than the uncertainty of the
          mean over all subsets; it is the usual "KID std").

Values are only comparable between runs scored with the same feature network (see
``feature_net.weights_hash``) and the same sample sizes: both are biased upwards at small n,
which :func:`image_reference_floor` measures.

Example:
    >>> import torch
    >>> from lightning_modules.metrics.fid import fid
    >>> g = torch.Generator().manual_seed(0)
    >>> ref = torch.randn(500, 8, generator=g, dtype=torch.float64)
    >>> gen = torch.randn(500, 8, generator=g, dtype=torch.float64) + 0.5
    >>> fid(gen, ref, n_boot=0).value > fid(ref[:250], ref[250:], n_boot=0).value
    True
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from . import IMAGE_METRICS
from ._common import (
    Estimate,
    PointsLike,
    boot_record,
    bootstrap_indices,
    check_pair,
    percentile_interval,
    resample_generator,
)

# What torch-fidelity's Inception loader would fetch into <torch hub dir>/checkpoints/.
_INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
_INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{_INCEPTION_WEIGHTS}"


class _GivenFeatures(nn.Module):
    """Identity "feature extractor": the metric's inputs already are feature vectors [n, d].

    ``num_features`` tells torchmetrics the width, so it does not probe with a dummy image.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def check_images(images: Tensor, *, name: str = "samples") -> Tensor:
    """A float tensor [n, C, H, W] with every pixel finite, else ValueError.

    A diverged sampler produces NaN/inf; failing here makes the trial fail with a clear
    message instead of a NaN metric (or a linear-algebra error deep in torchmetrics).
    """
    t = torch.as_tensor(images)
    if t.ndim != 4:
        raise ValueError(f"{name} must be images [n, C, H, W]; got shape {tuple(t.shape)}")
    bad = int((~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)).sum()) if t.is_floating_point() else 0
    if bad:
        raise ValueError(f"{name}: {bad} of {t.shape[0]} images contain non-finite pixels")
    return t


@torch.no_grad()
def image_features(net: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """``net.features`` of ``images`` [n, C, H, W] in eval mode, batched: float64 [n, d] on CPU."""
    images = check_images(images, name="images")
    param = next(net.parameters())
    was_training = net.training
    net.eval()
    try:
        out = [net.features(images[i:i + batch_size].to(device=param.device, dtype=param.dtype))
               .to(device="cpu", dtype=torch.float64) for i in range(0, len(images), batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, getattr(net, "feature_dim", 0), dtype=torch.float64)


def fid(gen_feats: PointsLike, ref_feats: PointsLike, *, n_boot: int = 100, seed: int = 0) -> Estimate:
    """Fréchet distance between Gaussians fitted to generated [n, d] and reference [m, d] features.

    Computed by torchmetrics' ``FrechetInceptionDistance`` in float64. Replicates resample the
    generated features with replacement (generator seeded with ``seed``); the reference
    statistics are accumulated once and kept.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    x, y = check_pair(gen_feats, ref_feats)
    metric = FrechetInceptionDistance(feature=_GivenFeatures(x.shape[1]), reset_real_features=False)
    metric.update(y, real=True)
    metric.update(x, real=False)
    value = float(metric.compute())
    reps = []
    for rows in bootstrap_indices(x.shape[0], n_boot, resample_generator(seed)):
        metric.reset()  # clears only the generated side (reset_real_features=False)
        metric.update(x[rows], real=False)
        reps.append(float(metric.compute()))
    return Estimate(value, torch.tensor(reps, dtype=torch.float64))


def default_subset_size(n: int, m: int) -> int:
    """Half the smaller set, capped at 500: subsets then differ from each other even when
    one set is small, and large sets do not make the O(size^2) kernels slow."""
    return max(2, min(n, m, 1000) // 2)


def kid(
    gen_feats: PointsLike, ref_feats: PointsLike, *, subsets: int = 50,
    subset_size: int | None = None, seed: int = 0,
) -> Estimate:
    """Kernel (MMD^2, cubic polynomial kernel) distance between generated and reference features.

    Computed by torchmetrics' ``KernelInceptionDistance``. Value: the mean over ``subsets``
    random subsets; replicates: the per-subset values (see the module docstring).
    torchmetrics draws its subsets from the global RNG, so we seed a forked RNG with ``seed``
    and leave the caller's stream untouched; the draws are those of one
    ``KernelInceptionDistance(subsets=subsets)`` call under ``torch.manual_seed(seed)``.
    """
    x, y = check_pair(gen_feats, ref_feats)
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1; got {subsets}")
    size = default_subset_size(len(x), len(y)) if subset_size is None else int(subset_size)
    if not 2 <= size <= min(len(x), len(y)):
        raise ValueError(f"subset_size must be in [2, {min(len(x), len(y))}] (the smaller set); got {size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "saves all features in a buffer": intended
        # One subset per compute(), uncached, so each subset's value is visible.
        metric = KernelInceptionDistance(
            feature=_GivenFeatures(x.shape[1]), subsets=1, subset_size=size, compute_with_cache=False
        )
    metric.update(y, real=True)
    metric.update(x, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reps = torch.tensor([float(metric.compute()[0]) for _ in range(subsets)], dtype=torch.float64)
    return Estimate(float(reps.mean()), reps)


def _inception_weights(weights_path: str | Path | None) -> str:
    """A local Inception weights file, never a download: the given path, else torch hub's cache."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise RuntimeError(f"inception_fid: weights_path={path} is not a file")
        return str(path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / _INCEPTION_WEIGHTS
    if not cached.is_file():
        raise RuntimeError(
            f"inception_fid downloads nothing: put {_INCEPTION_WEIGHTS} (from {_INCEPTION_URL}) at "
            f"{cached} (torch hub cache, set by TORCH_HOME) or pass weights_path="
        )
    return str(cached)


def _to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] images [n, C, H, W] -> uint8 [n, 3, H, W], grayscale repeated to 3 channels."""
    x = ((images.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def inception_fid(
    gen_images: Tensor, ref_images: Tensor, *, weights_path: str | Path | None = None,
    batch_size: int = 100, device: str | None = None,
) -> float:
    """Standard FID (Inception-v3 pool features, 2048-d) of [-1, 1] images; opt-in, not offline-default.

    Needs torch-fidelity (``pip install 'wsbench[gpu]'``) and the Inception weights on disk
    (``weights_path`` or torch hub's cache); it never downloads. Images are scaled to uint8 and
    grayscale is repeated to RGB; torch-fidelity resizes them to 299x299.

    Raises:
        RuntimeError: torch-fidelity missing or the weights not found (the message says what to do).
        ValueError: non-finite or non-image input.
    """
    if importlib.util.find_spec("torch_fidelity") is None:
        raise RuntimeError("inception_fid needs torch-fidelity: pip install 'wsbench[gpu]'")
    gen = check_images(gen_images, name="samples")
    ref = check_images(ref_images, name="reference")
    path = _inception_weights(weights_path)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=path).to(dev)
    except ModuleNotFoundError as err:  # torchmetrics' own check of torch-fidelity
        raise RuntimeError(f"inception_fid needs torch-fidelity: pip install 'wsbench[gpu]' ({err})") from err
    for images, real in ((ref, True), (gen, False)):
        for i in range(0, len(images), batch_size):
            metric.update(_to_uint8_rgb(images[i:i + batch_size]).to(dev), real=real)
    return float(metric.compute())


def _resolve(metrics: Sequence[str]) -> list[str]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name not in IMAGE_METRICS:
            raise ValueError(f"unknown image metric {name!r}; allowed: {', '.join(IMAGE_METRICS)}")
    return names


def image_quality(
    samples: Tensor, reference: Tensor, feature_net: nn.Module, *,
    metrics: Sequence[str] = IMAGE_METRICS, n_boot: int = 100, ci: float = 0.95, seed: int = 0,
    replicates: bool = False, boot: Sequence[str] | None = None,
) -> dict[str, float | list[float]]:
    """FID/KID of generated images against reference images, with intervals.

    Args:
        samples: generated images [n, C, H, W] in [-1, 1].
        reference: reference images [m, C, H, W], or their precomputed features [m, d]
            (from :func:`image_features` with the same ``feature_net``).
        n_boot: fid bootstrap replicates (0: interval [value, value]); kid's replicates are
            its subsets.
        replicates: also return each metric's replicates as ``name + "_boot"`` (fid: the
            bootstrap, paired across calls with one seed; kid: its per-subset values, whose
            subsets are also the same for one seed and sizes).
        boot: the metrics that get an interval (None: all); the others get their value alone
            (no ``name + "_ci"``, no replicates), as in ``metrics.quality``.

    Returns:
        ``{name: value, name + "_ci": [lo, hi]}`` with python floats, like ``metrics.quality``.

    Raises:
        ValueError: unknown metric, non-finite samples (a diverged sampler), or bad shapes.
    """
    names = _resolve(metrics)
    samples = check_images(samples, name="samples")
    reference = torch.as_tensor(reference)
    if reference.ndim == 4 and reference.shape[1:] != samples.shape[1:]:
        raise ValueError(f"samples are {tuple(samples.shape[1:])} images but reference is "
                         f"{tuple(reference.shape[1:])}; they must match")
    gen_feats = image_features(feature_net, samples)
    ref_feats = image_features(feature_net, reference) if reference.ndim == 4 else reference
    out: dict[str, float | list[float]] = {}
    for name in names:
        booted = boot is None or name in boot
        est = fid(gen_feats, ref_feats, n_boot=n_boot if booted else 0, seed=seed) if name == "fid" else \
            kid(gen_feats, ref_feats, seed=seed)
        out[name] = est.value
        if booted:
            out[name + "_ci"] = percentile_interval(est, ci)
        if replicates and booted:
            out[name + "_boot"] = boot_record(est)
    return out


def image_reference_floor(
    real_feats_same_n: PointsLike, ref_feats: PointsLike, *, seed: int = 0
) -> dict[str, float]:
    """FID and KID between real held-out features and the reference: the sampling floor.

    Use as many real images as the trial has samples: both metrics are biased upwards at
    small n, so a floor at another n is not the trial's floor.
    """
    return {
        "fid": fid(real_feats_same_n, ref_feats, n_boot=0, seed=seed).value,
        "kid": kid(real_feats_same_n, ref_feats, seed=seed).value,
    }

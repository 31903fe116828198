"""Checks every knob before any compute: bad input stops with one line (key, value, allowed)."""

from __future__ import annotations

from omegaconf import DictConfig

from lightning_modules.data.images import IMAGE_DATASETS
from lightning_modules.data.toy import TOY_DATASETS
from lightning_modules.drafters import DRAFTERS
from lightning_modules.methods import METHODS
from lightning_modules.metrics import available_metrics
from lightning_modules.pairing import PAIRINGS
from lightning_modules.paths import STARTS
from lightning_modules.solvers import SOLVERS
from sweeps.errors import ConfigError

SAMPLERS = ("grid", "tpe", "nsga2")
COST_AXES = ("nfe", "wallclock", "flops")
LOGGERS = ("wandb", "none")
WANDB_MODES = ("offline", "online", "disabled")
DEVICES = ("cpu", "cuda", "auto")
# What each kind of data can use (a drafter, net or metric of the other kind is a config error).
KIND_DRAFTERS = {"toy": ("gmm", "vae"), "image": ("ppca", "conv_vae", "gan")}
KIND_ARCHS = {"toy": ("mlp",), "image": ("unet",)}
IMAGE_METRICS = ("fid", "kid")


def _one_of(key: str, value: object, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ConfigError(key, value, f"one of {', '.join(allowed)}")


def _int_at_least(key: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(key, value, f"an integer >= {low}")


def _unit_interval(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(key, value, "a number in [0, 1)")


def _positive(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(key, value, "a number > 0")


def validate_run(cfg: DictConfig) -> None:
    """Checks of one runnable configuration (an arm, or an arm with trial params applied)."""
    _one_of("data.name", cfg.data.name, sorted(TOY_DATASETS) + list(IMAGE_DATASETS))
    kind = "image" if cfg.data.name in IMAGE_DATASETS else "toy"
    if kind == "toy":
        if "n_train" not in cfg.data:
            raise ConfigError("data.name", cfg.data.name, "an image set with data=digits (this data group holds toy sets)")
        _int_at_least("data.n_train", cfg.data.n_train, 2)
    else:
        if "n_ref" not in cfg.data:
            raise ConfigError("data.name", cfg.data.name, "a toy set with data=toy (this data group holds image sets)")
        _int_at_least("data.n_ref", cfg.data.n_ref, 2)
        _int_at_least("data.n_val", cfg.data.n_val, 2)
        if cfg.data.name != "digits" and not cfg.data.root:
            raise ConfigError("data.root", cfg.data.root, f"the folder holding the {cfg.data.name} files "
                              "(nothing is downloaded)")
    _one_of("device", cfg.device, DEVICES)
    _int_at_least("threads", cfg.threads, 1)
    if cfg.train_workers != "auto":
        _int_at_least("train_workers", cfg.train_workers, 1)

    d = cfg.drafter
    _one_of("drafter.name", d.name, DRAFTERS)
    if d.name not in KIND_DRAFTERS[kind]:
        raise ConfigError("drafter", d.name, f"one of {', '.join(KIND_DRAFTERS[kind])} for {kind} data")
    if d.name in ("ppca", "conv_vae", "gan"):
        _int_at_least("drafter.latent", d.latent, 1)
    if d.name == "gan":
        _one_of("drafter.arch", d.arch, ("mlp", "dcgan"))
    if d.name in ("conv_vae", "gan"):
        _int_at_least("drafter.steps", d.steps, 1)
        _int_at_least("drafter.width", d.width, 1)
        _positive("drafter.lr", d.lr)
    if d.name == "gmm":
        _int_at_least("drafter.n_components", d.n_components, 1)
    if d.name == "vae":
        _int_at_least("drafter.latent", d.latent, 1)
        _int_at_least("drafter.steps", d.steps, 1)
        _positive("drafter.lr", d.lr)

    r = cfg.refiner
    _one_of("refiner.pairing", r.pairing, PAIRINGS)
    _one_of("refiner.start", r.start, STARTS)
    _unit_interval("refiner.t0", r.t0)
    lo_hi = list(r.t0_range)
    if len(lo_hi) != 2 or not all(isinstance(v, (int, float)) for v in lo_hi) or not 0 <= lo_hi[0] <= lo_hi[1] < 1:
        raise ConfigError("refiner.t0_range", lo_hi, "[lo, hi] with 0 <= lo <= hi < 1")
    _int_at_least("refiner.train.steps", r.train.steps, 1)
    _int_at_least("refiner.train.batch_size", r.train.batch_size, 2)
    _positive("refiner.train.lr", r.train.lr)
    if r.train.n_drafts is not None:
        _int_at_least("refiner.train.n_drafts", r.train.n_drafts, 2)
    if r.net.arch not in KIND_ARCHS[kind]:
        raise ConfigError("refiner.net.arch", r.net.arch, f"{' or '.join(KIND_ARCHS[kind])} for {kind} data "
                          f"(refiner={'unet' if kind == 'image' else 'fm'})")
    if r.net.arch == "mlp":
        _int_at_least("refiner.net.hidden", r.net.hidden, 1)
        _int_at_least("refiner.net.depth", r.net.depth, 1)
    else:
        _int_at_least("refiner.net.base", r.net.base, 1)
        _int_at_least("refiner.net.levels", r.net.levels, 1)

    m = cfg.method
    _one_of("method.name", m.name, sorted(METHODS))
    _unit_interval("method.t0", m.t0)
    _int_at_least("method.steps", m.steps, 1)
    _one_of("method.solver", m.solver, SOLVERS)
    if m.name == "noise_start" and m.t0 != 0:
        raise ConfigError("method.t0", m.t0, "0 for noise_start (it integrates from noise at t = 0)")
    if m.name in ("noise_start", "sdedit") and r.pairing == "nearest":
        raise ConfigError("refiner.pairing", r.pairing, "independent or minibatch_ot for the noise-start model")

    e = cfg.eval
    metrics = list(e.metrics)
    allowed_metrics = list(IMAGE_METRICS) if kind == "image" else available_metrics()
    for name in metrics:
        _one_of("eval.metrics", name, allowed_metrics)
    _one_of("eval.primary_metric", e.primary_metric, metrics)
    _int_at_least("eval.n_samples", e.n_samples, 10)
    _int_at_least("eval.n_boot", e.n_boot, 1)
    _int_at_least("eval.timing_repeats", e.timing_repeats, 1)


def validate_sweep(cfg: DictConfig) -> None:
    """Checks of the sweep and logger sections."""
    s = cfg.sweep
    _one_of("sweep.sampler", s.sampler, SAMPLERS)
    _one_of("sweep.cost_axis", s.cost_axis, COST_AXES)
    if s.n_trials is not None:
        _int_at_least("sweep.n_trials", s.n_trials, 1)
    if not isinstance(s.study, str) or not s.study or "/" in s.study or ":" in s.study:
        raise ConfigError("sweep.study", s.study, "a non-empty name without '/' or ':'")
    _one_of("logger.name", cfg.logger.name, LOGGERS)
    if cfg.logger.name == "wandb":
        _one_of("logger.mode", cfg.logger.mode, WANDB_MODES)

"""Checks every knob before any compute: bad input stops with one line (key, value, allowed)."""

from __future__ import annotations

import importlib.util

from omegaconf import DictConfig

from lightning_modules.data.images import IMAGE_DATASETS
from lightning_modules.data.text import TEXT_DATASETS
from lightning_modules.data.toy import TOY_DATASETS
from lightning_modules.discrete.mixture import DISCRETE_SAMPLERS
from lightning_modules.drafters import DRAFTERS
from lightning_modules.continuous.methods import METHODS
from lightning_modules.metrics import available_metrics
from lightning_modules.metrics.text import TEXT_METRICS
from lightning_modules.continuous.pairing import PAIRINGS
from lightning_modules.continuous.paths import STARTS
from lightning_modules.continuous.solvers import SOLVERS
from sweeps.errors import ConfigError
from sweeps.text_models import TEXT_PAIRINGS

SAMPLERS = ("grid", "tpe", "nsga2")
COST_AXES = ("nfe", "wallclock", "flops")
LOGGERS = ("wandb", "none")
WANDB_MODES = ("offline", "online", "disabled")
DEVICES = ("cpu", "cuda", "auto")
# What each kind of data can use (a drafter, net or metric of the other kind is a config error).
KIND_DRAFTERS = {"toy": ("gmm", "vae"), "image": ("ppca", "conv_vae", "gan"), "text": ("ngram", "lstm")}
KIND_ARCHS = {"toy": ("mlp",), "image": ("unet",), "text": ("transformer",)}
KIND_REFINER = {"toy": "fm", "image": "unet", "text": "dfm"}
KIND_DATA_GROUP = {"toy": ("n_train", "toy"), "image": ("n_ref", "digits"), "text": ("seq_len", "shakespeare")}
TEXT_METHODS = ("masked_dfm", "ws_dfm", "drafter_only")
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
    _one_of("data.name", cfg.data.name, sorted(TOY_DATASETS) + list(IMAGE_DATASETS) + list(TEXT_DATASETS))
    kind = "image" if cfg.data.name in IMAGE_DATASETS else "text" if cfg.data.name in TEXT_DATASETS else "toy"
    field, group = KIND_DATA_GROUP[kind]
    if field not in cfg.data:
        raise ConfigError("data.name", cfg.data.name, f"a set of the chosen data group; {cfg.data.name} needs data={group}")
    if kind == "toy":
        _int_at_least("data.n_train", cfg.data.n_train, 2)
    elif kind == "image":
        _int_at_least("data.n_ref", cfg.data.n_ref, 2)
        _int_at_least("data.n_val", cfg.data.n_val, 2)
        if cfg.data.name != "digits" and not cfg.data.root:
            raise ConfigError("data.root", cfg.data.root, f"the folder holding the {cfg.data.name} files "
                              "(nothing is downloaded)")
    else:
        _int_at_least("data.seq_len", cfg.data.seq_len, 2)
        _int_at_least("data.n_val_docs", cfg.data.n_val_docs, 1)
        _int_at_least("data.n_test_docs", cfg.data.n_test_docs, 1)
        if cfg.data.name == "text" and not cfg.data.root:
            raise ConfigError("data.root", cfg.data.root, "a .txt file or a folder of .txt files (data.name=text)")
        if cfg.data.name == "hf":
            if not cfg.data.root:
                raise ConfigError("data.root", cfg.data.root, "a Hugging Face dataset name (data.name=hf)")
            if importlib.util.find_spec("datasets") is None:
                raise ConfigError("data.name", "hf", "shakespeare or text here: the hub loader needs `pip install "
                                  "datasets` and a network on first use")
    _one_of("device", cfg.device, DEVICES)
    if cfg.device == "cuda":
        raise ConfigError("device", cfg.device, "cpu or auto: models and samplers are not moved to CUDA yet, "
                          "so a CUDA run would time CPU work")
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
    if d.name == "ngram":
        _int_at_least("drafter.order", d.order, 1)
    if d.name == "lstm":
        for key in ("width", "layers", "steps", "batch_size"):
            _int_at_least(f"drafter.{key}", d[key], 1)
        _positive("drafter.lr", d.lr)
    if d.name == "vae":
        _int_at_least("drafter.latent", d.latent, 1)
        _int_at_least("drafter.steps", d.steps, 1)
        _positive("drafter.lr", d.lr)

    r = cfg.refiner
    _one_of("refiner.pairing", r.pairing, TEXT_PAIRINGS if kind == "text" else PAIRINGS)
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
                          f"(refiner={KIND_REFINER[kind]})")
    if r.net.arch == "transformer":
        for key in ("width", "depth", "heads", "time_freqs"):
            _int_at_least(f"refiner.net.{key}", r.net[key], 1)
        if r.net.width % r.net.heads:
            raise ConfigError("refiner.net.width", r.net.width, f"a multiple of refiner.net.heads={r.net.heads}")
    elif r.net.arch == "mlp":
        _int_at_least("refiner.net.hidden", r.net.hidden, 1)
        _int_at_least("refiner.net.depth", r.net.depth, 1)
    else:
        _int_at_least("refiner.net.base", r.net.base, 1)
        _int_at_least("refiner.net.levels", r.net.levels, 1)

    m = cfg.method
    _one_of("method.name", m.name, sorted(METHODS))
    _unit_interval("method.t0", m.t0)
    _int_at_least("method.steps", m.steps, 1)
    if kind == "text":
        _one_of("method.name", m.name, TEXT_METHODS)
        _one_of("method.solver", m.solver, DISCRETE_SAMPLERS)
    else:
        _one_of("method.name", m.name, sorted(set(METHODS) - set(TEXT_METHODS) | {"drafter_only"}))
        _one_of("method.solver", m.solver, SOLVERS)
    if m.name in ("noise_start", "masked_dfm") and m.t0 != 0:
        raise ConfigError("method.t0", m.t0, f"0 for {m.name} (it starts from noise at t = 0)")
    if m.name in ("noise_start", "sdedit") and r.pairing == "nearest":
        raise ConfigError("refiner.pairing", r.pairing, "independent or minibatch_ot for the noise-start model")

    e = cfg.eval
    metrics = list(e.metrics)
    allowed_metrics = {"image": list(IMAGE_METRICS), "text": list(TEXT_METRICS)}.get(kind, available_metrics())
    for name in metrics:
        _one_of("eval.metrics", name, allowed_metrics)
    _one_of("eval.primary_metric", e.primary_metric, metrics)
    if kind == "text":
        # Fronts minimise the primary metric: entropy and distinct-n are higher-is-better.
        _one_of("eval.primary_metric", e.primary_metric, ["gen_ppl"])
        for name in metrics:
            if name.startswith("distinct_") and int(name.removeprefix("distinct_")) > cfg.data.seq_len:
                raise ConfigError("eval.metrics", name, f"distinct_n with n <= data.seq_len={cfg.data.seq_len}")
    _int_at_least("eval.n_samples", e.n_samples, 10)
    _int_at_least("eval.n_boot", e.n_boot, 1)
    _int_at_least("eval.timing_repeats", e.timing_repeats, 1)
    if kind == "text":
        lm = e.text_lm
        for key in ("width", "depth", "heads", "steps", "batch_size"):
            _int_at_least(f"eval.text_lm.{key}", lm[key], 1)
        if lm.width % lm.heads:
            raise ConfigError("eval.text_lm.width", lm.width, f"a multiple of eval.text_lm.heads={lm.heads}")
        _positive("eval.text_lm.lr", lm.lr)
        if lm.hub and importlib.util.find_spec("transformers") is None:
            raise ConfigError("eval.text_lm.hub", lm.hub, "null here: the hub evaluator needs `pip install "
                              "transformers` and a network on first use")


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

"""Checks every knob before any compute: bad input stops with one line (key, value, allowed).

What is checked comes from the declarations: the track (data section, metrics), the method
(its knobs, t0 semantics, which kinds of data it handles), the drafter and the refiner family
(its pairings, starts and net architectures). The fixed sections (eval, sweep, logger) are
typed by the structured config schema.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.device import resolve as resolve_device
from lightning_modules.core.registry import DRAFTERS, FAMILIES, METHODS, Knob, check_section
from sweeps import declared
from sweeps.errors import ConfigError
from sweeps.models import track_of

COMMON_REFINER = (Knob("family", str), Knob("pairing", str), Knob("start", str),
                  Knob("t0_conditioned", bool), Knob("t0_range", list), Knob("t0", float, low=0.0, high=1.0,
                                                                                      high_open=True),
                  Knob("net", dict), Knob("train", dict))
TRAIN_KNOBS = (Knob("steps", int, low=1), Knob("batch_size", int, low=2), Knob("lr", float, low=0.0),
               Knob("ema_decay", float, low=0.0, high=1.0), Knob("n_drafts", int, low=2, nullable=True),
               Knob("seed", int, low=0), Knob("early_stop", int, 0, low=0))
POSITIVE = ("lr",)  # > 0, not only >= 0


def _plain(node: object) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _check(section: str, values: dict, knobs: tuple[Knob, ...], owner: str, fixed: tuple[str, ...] = ("name",)) -> None:
    check_section(section, values, knobs, owner=owner, fixed=fixed)
    for key in POSITIVE:
        if key in values and values[key] is not None and not values[key] > 0:
            raise ConfigError(f"{section}.{key}", values[key], "a number > 0")


def validate_run(cfg: DictConfig) -> None:
    """Checks of one runnable configuration (an arm, or an arm with trial params applied)."""
    track = track_of(cfg)
    track.validate(cfg)
    resolve_device(cfg.device)  # device=cuda without CUDA: one line, before any compute
    Knob("threads", int, low=1).check("threads", cfg.threads)

    spec = METHODS.get(cfg.method.name)
    if track.kind not in spec.kinds:
        allowed = [n for n, s in METHODS.items() if track.kind in s.kinds]
        raise ConfigError("method.name", spec.name, f"one of {', '.join(allowed)} for track {track.name}")
    method = _plain(cfg.method)
    fixed = ("name",) if spec.t0 == "knob" else ("name", "t0")
    _check("method", method, spec.knobs, f"method {spec.name}", fixed)
    if spec.check is not None:
        spec.check(method)
    if spec.t0 in ("zero", "one") and "t0" in method:
        t0 = 0.0 if spec.t0 == "zero" else 1.0
        if method["t0"] != t0:
            why = "it starts from noise at t = 0" if spec.t0 == "zero" else "the drafter alone sits at t0 = 1"
            raise ConfigError("method.t0", method["t0"], f"{t0:g} for {spec.name} ({why})")

    if "drafter" in spec.needs:
        drafter = DRAFTERS.get(cfg.drafter.name)
        if track.kind not in drafter.kinds:
            allowed = [n for n, s in DRAFTERS.items() if track.kind in s.kinds]
            raise ConfigError("drafter", drafter.name, f"one of {', '.join(allowed)} for track {track.name}")
        _check("drafter", _plain(cfg.drafter), drafter.knobs, f"drafter {drafter.name}")

    declared.check(cfg)
    if {"noise_model", "refiner"} & set(spec.needs):
        _validate_refiner(cfg, track)
    if spec.warm:
        _t0_in_refiner_range(cfg)
    _int("eval.n_samples", cfg.eval.n_samples, 10)
    _int("eval.n_boot", cfg.eval.n_boot, 1)
    _int("eval.timing_repeats", cfg.eval.timing_repeats, 3)  # a median of fewer whole runs is one run's noise
    _int("eval.latency_windows", cfg.eval.get("latency_windows", 0), 0)


def _int(key: str, value: object, low: int) -> None:
    Knob(key, int, low=low).check(key, value)


def _validate_refiner(cfg: DictConfig, track) -> None:  # noqa: ANN001
    r = _plain(cfg.refiner)
    family = FAMILIES.get(r.get("family"), key="refiner.family")
    if track.kind not in family.kinds:
        allowed = [n for n, s in FAMILIES.items() if track.kind in s.kinds]
        raise ConfigError("refiner.family", family.name, f"one of {', '.join(allowed)} for track {track.name}")
    _check("refiner", r, COMMON_REFINER + family.knobs, f"refiner family {family.name}", fixed=())
    Knob("pairing", str, choices=family.pairings).check("refiner.pairing", r["pairing"])
    Knob("start", str, choices=family.starts).check("refiner.start", r["start"])
    lo_hi = list(r["t0_range"])
    if len(lo_hi) != 2 or not all(isinstance(v, int | float) for v in lo_hi) or not 0 <= lo_hi[0] <= lo_hi[1] < 1:
        raise ConfigError("refiner.t0_range", lo_hi, "[lo, hi] with 0 <= lo <= hi < 1")
    _check("refiner.train", r["train"], TRAIN_KNOBS, f"refiner family {family.name}", fixed=())
    net = r["net"]
    arch = net.get("arch")
    archs = [a for a, kinds in family.nets.items() if track.kind in kinds]
    if arch not in archs:
        raise ConfigError("refiner.net.arch", arch, f"{' or '.join(archs)} for track {track.name} "
                          f"(refiner family {family.name})")
    _check("refiner.net", net, family.net_knobs[arch], f"net {arch}", fixed=("arch",))
    family.check(r, METHODS.get(cfg.method.name).needs)


def _t0_in_refiner_range(cfg: DictConfig) -> None:
    """A refiner is valid only at the t0 it was trained for: refused before any training."""
    from sweeps.trial import check_t0_matches_refiner

    try:
        check_t0_matches_refiner(cfg)
    except ValueError as err:
        r = cfg.refiner
        trained = f"in refiner.t0_range {list(r.t0_range)}" if r.t0_conditioned else f"refiner.t0={r.t0}"
        raise ConfigError("method.t0", cfg.method.t0, f"{trained}, where the refiner is trained") from err


def validate_sweep(cfg: DictConfig) -> None:
    """What the schema (sweeps/schema.py, which closes sampler, cost_axis and logger.mode)
    cannot express: the study name is a folder and a study-name prefix."""
    s = cfg.sweep
    if s.n_trials is not None:
        _int("sweep.n_trials", s.n_trials, 1)
    if not isinstance(s.study, str) or not s.study or "/" in s.study or ":" in s.study:
        raise ConfigError("sweep.study", s.study, "a non-empty name without '/' or ':'")
    _int("sweep.confirm_looks", s.confirm_looks, 1)
    _int("sweep.confirm_boot", s.confirm_boot, 40)
    if s.confirm_n is not None:
        _int("sweep.confirm_n", s.confirm_n, 10)
    if s.budgets is not None and not all(isinstance(b, int | float) and b > 0 for b in s.budgets):
        raise ConfigError("sweep.budgets", list(s.budgets), "a list of block budgets > 0 such as [32, 64, 128, 256]")
    if s.matched_on is not None and not all(isinstance(k, str) and "." in k for k in s.matched_on):
        raise ConfigError("sweep.matched_on", list(s.matched_on), "a list of knob keys such as [method.steps]")
    if not s.match_delta >= 0:
        raise ConfigError("sweep.match_delta", s.match_delta, "a number >= 0")
    if s.search_timing_repeats is not None:  # searching ranks settings; a reported timing is a confirmation's
        _int("sweep.search_timing_repeats", s.search_timing_repeats, 1)  # a 98.3% interval's tails need a few replicates each
    if not float(s.confirm_budget) >= 0.0:
        raise ConfigError("sweep.confirm_budget", s.confirm_budget, ">= 0, a fraction of the search's time")

"""One trial: the models an arm needs (cached), samples with counted cost, quality with CIs.
What depends on the kind of data (reference, metrics, saved samples) is the track's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from analysis.load import safe_name
from lightning_modules.core.cost import measure
from lightning_modules.core.device import resolve as resolve_device
from lightning_modules.core.method import SampleBatch
from lightning_modules.core.registry import DRAFTERS, METHODS, build_method
from lightning_modules.tracks.base import Reference
from sweeps import host_load
from sweeps.config import config_hash, to_dict
from sweeps.models import ModelStore, track_of

# Knobs every record carries in `params`, resolved, so analysis can group and label points.
STANDARD_KNOBS = ("method.name", "method.t0", "method.steps", "method.solver", "refiner.pairing",
                  "refiner.start", "refiner.t0_conditioned", "drafter.name")
T0_OF = {"zero": 0.0, "one": 1.0}  # the start time of methods whose t0 is not a knob


@dataclass
class Evaluation:
    quality: dict
    floor: dict
    cost: dict
    batch: SampleBatch
    train: dict
    fields: dict  # track-specific record fields (evaluator, metric_info)


def method_knobs(cfg: DictConfig, *, columns_only: bool = False) -> list[str]:
    """The params keys of the method's declared knobs, in declaration order (columns_only:
    those shown as table columns; solver tolerances stay in params only)."""
    return [f"method.{k.name}" for k in METHODS.get(cfg.method.name).knobs if k.column or not columns_only]


def knob_values(cfg: DictConfig, extra: list[str]) -> dict:
    """Resolved values of the standard knobs, the method's and drafter's declared knobs and
    the swept keys; `method.t0` is the actual start time (0 noise start, 1 drafter alone)."""
    spec = METHODS.get(cfg.method.name)
    keys = list(STANDARD_KNOBS) + method_knobs(cfg)
    if "drafter" in spec.needs:
        keys += [f"drafter.{k}" for k in DRAFTERS.get(cfg.drafter.name).record_knobs]
    if "drafter" not in spec.needs:  # a method without a drafter records none
        keys = [k for k in keys if not k.startswith("drafter.")]
    out = {}
    for key in dict.fromkeys(keys + list(extra)):
        value = OmegaConf.select(cfg, key)
        out[key] = OmegaConf.to_container(value) if hasattr(value, "_metadata") else value
    if spec.t0 in T0_OF:
        out["method.t0"] = T0_OF[spec.t0]
    return out


class Evaluator:
    """Evaluates trial configs; caches references and floors per (data, n, metrics, identity)."""

    def __init__(self, models: ModelStore) -> None:
        self.models = models
        self._refs: dict[str, Reference] = {}

    def identity(self, cfg: DictConfig) -> dict | None:
        """What besides the config decides a trial's numbers (the track's evaluator weights)."""
        return track_of(cfg).identity(cfg, self.models)

    def max_samples(self, cfg: DictConfig) -> int | None:
        """The largest n the track's data allows for cfg (None: no limit)."""
        return track_of(cfg).max_samples(cfg, self.models)

    def reference(self, cfg: DictConfig) -> Reference:
        e = cfg.eval
        key = config_hash([str(cfg.track), to_dict(cfg, "data"), e.n_samples, e.reference_seed, list(e.metrics),
                           to_dict(cfg.eval)["metric_options"], self.identity(cfg)])
        if key not in self._refs:
            self._refs[key] = track_of(cfg).reference(cfg, self.models)
        return self._refs[key]

    def evaluate(self, cfg: DictConfig) -> Evaluation:
        track, spec = track_of(cfg), METHODS.get(cfg.method.name)
        check_t0_matches_refiner(cfg)
        models, train = {}, {}
        for need in spec.needs:
            models[need] = self.models.get(need, cfg)
            key = self.models.key(need, cfg)
            train[need] = {"key": key, **self.models.train_info.get(key, {})}
        method = build_method(spec.name, models, knob_settings(cfg))
        batch = measure(method, cfg.eval.n_samples, cfg.seed, repeats=cfg.eval.timing_repeats,
                        device=resolve_device(cfg.device), check_ledger=bool(cfg.sweep.get("check_ledger", False)),
                        timing_guard=lambda: host_load.timing(bool(cfg.sweep.get("time_alone", False))),
                        latency_windows=int(cfg.eval.get("latency_windows", 0)))
        # The evaluator nets run on the device (the metrics move their inputs there); the
        # statistics, saved samples and W&B tables take host tensors.
        batch.samples = batch.samples.cpu()
        batch.drafts = None if batch.drafts is None else batch.drafts.cpu()
        ref = self.reference(cfg)
        quality = track.quality(cfg, self.models, batch.samples, ref)
        return Evaluation(quality, ref.floor, batch.cost, batch, train, track.record_fields(cfg, self.models))

    def save_samples(self, run_dir: Path, arm: str, trial: int, ev: Evaluation, cfg: DictConfig) -> tuple:
        """The track keeps the first eval.save_samples samples (and drafts); relative paths."""
        folder = Path("samples") / safe_name(arm)
        return track_of(cfg).save_samples(run_dir, folder, trial, ev.batch, int(cfg.eval.save_samples), cfg,
                                          self.models)


def knob_settings(cfg: DictConfig) -> dict:
    """The method's knob values from cfg (and the refiner's start), as its factory takes them."""
    spec = METHODS.get(cfg.method.name)
    knobs = {k.name: cfg.method[k.name] for k in spec.knobs if k.name in cfg.method}
    knobs["start"] = cfg.refiner.start
    return knobs


def check_t0_matches_refiner(cfg: DictConfig) -> None:
    """A refiner is only valid at the t0 it was trained for."""
    if not METHODS.get(cfg.method.name).warm:
        return
    t0, r = cfg.method.t0, cfg.refiner
    if r.t0_conditioned:
        lo, hi = r.t0_range
        if not lo <= t0 <= hi:
            raise ValueError(f"method.t0={t0} lies outside refiner.t0_range [{lo}, {hi}] the refiner was trained on")
    elif abs(t0 - r.t0) > 1e-9:
        raise ValueError(f"method.t0={t0} differs from refiner.t0={r.t0}, the only t0 this refiner was trained for")

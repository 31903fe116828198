"""The Track: what one kind of data brings to a sweep. A track owns its data module, its
reference and floor, its quality metrics, its evaluator models, how samples are saved and
logged, and its validation; `sweeps/` calls it and never branches on the modality.

A user's track is a subclass registered with `register_track(MyTrack())` in a plugin file.
`models` below is the sweep's model store: `models.get(role, cfg)` (a trained, cached model),
`models.key(role, cfg)`, `models.train_info[key]`, `models.data(cfg)`, `models.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import Knob, check_section


def booted(cfg: DictConfig) -> list[str]:
    """The metrics whose values get bootstrap intervals (eval.boot_metrics): all of eval.metrics,
    or the primary one alone (the only one fronts, speed-ups and verdicts read)."""
    if cfg.eval.get("boot_metrics", "all") == "primary":
        return [cfg.eval.primary_metric]
    return list(cfg.eval.metrics)


@dataclass(frozen=True)
class MetricInfo:
    """How a quality metric reads: its label and direction (fronts minimise the primary), and
    whether it is computed with the track's evaluator model (FID/KID on a feature net, gen PPL
    under an evaluator LM): reports then name that model (the record's `evaluator`) in its label."""

    label: str
    higher_is_better: bool = False
    evaluator: bool = False

    def record(self) -> dict:
        return {"label": self.label, "higher_is_better": self.higher_is_better, "evaluator": self.evaluator}


def evaluator_field(label: str, info: dict, *, suffix: str = "") -> dict:
    """A record's `evaluator`: the track's evaluator model as reports name it. `label` is what
    they call it ("feature net"), `suffix` follows its name in a metric's label ("FID
    (digits-classifier features)"), `fields` lists `info`'s keys (name, key, weights_hash and
    the track's own), in the order the note under every table shows them."""
    return {"label": label, "suffix": suffix, "fields": list(info), **info}


@dataclass
class Reference:
    """Held-out samples a trial is compared with, the floor (the metrics of real data against
    them) and any precomputed features."""

    samples: torch.Tensor
    floor: dict
    features: torch.Tensor | None = None


class Track:
    name = "track"
    kind = "vector"  # vector | image | tokens: which methods, drafters and nets apply
    datasets: tuple[str, ...] = ()
    data_knobs: tuple[Knob, ...] = ()
    evaluators: tuple[str, ...] = ()  # model roles its metrics need (trained before the trials)
    primary_metrics: tuple[str, ...] | None = None  # metrics allowed as the front's axis (None: all)

    # --- declaration ------------------------------------------------------------------------

    def metric_info(self, name: str) -> MetricInfo | None:
        """The metric's label and direction, None if this track does not compute it."""
        raise NotImplementedError

    def data_module(self, cfg: DictConfig) -> Any:
        raise NotImplementedError

    @property
    def data_defaults(self) -> dict:
        """The data section a track without a conf/data file gets (`data=<track name>`): its
        first dataset and the declared knobs' defaults."""
        return {"name": self.datasets[0], **{k.name: k.default for k in self.data_knobs}}

    # --- validation (before any compute) ----------------------------------------------------

    def validate(self, cfg: DictConfig) -> None:
        """Data section and metrics: one ConfigError line on the first bad value."""
        data = OmegaConf.to_container(cfg.data, resolve=True)
        if data.get("name") not in self.datasets:
            raise ConfigError("data.name", data.get("name"), f"one of {', '.join(self.datasets)} for track {self.name}")
        check_section("data", data, self.data_knobs, owner=f"track {self.name}")
        metrics = list(cfg.eval.metrics)
        for name in metrics:
            if self.metric_info(name) is None:
                raise ConfigError("eval.metrics", name, f"a metric of track {self.name}: {self.metric_names()}")
        primary = cfg.eval.primary_metric
        if primary not in metrics:
            raise ConfigError("eval.primary_metric", primary, f"one of eval.metrics ({', '.join(metrics)})")
        if self.metric_info(primary).higher_is_better:
            raise ConfigError("eval.primary_metric", primary, "a lower-is-better metric (fronts minimise it)")

    def metric_names(self) -> str:
        return "see the track's declaration"

    def check_data(self, dm: Any, cfg: DictConfig) -> None:
        """Checks that need the loaded data (too few windows, ...)."""

    def max_samples(self, cfg: DictConfig, models: Any) -> int | None:
        """The largest eval.n_samples the data allows (a confirmation's looks stop there); None: any."""
        return None

    def check_evaluator(self, cfgs: list[DictConfig], models: Any) -> None:
        """Checks that need the trained models, before any trial (an evaluator weaker than a
        model it judges); a one-line ConfigError."""

    # --- evaluation -------------------------------------------------------------------------

    def identity(self, cfg: DictConfig, models: Any) -> dict | None:
        """What besides the config decides a trial's numbers (an evaluator's weights hash)."""
        return None

    def reference(self, cfg: DictConfig, models: Any) -> Reference:
        raise NotImplementedError

    def quality(self, cfg: DictConfig, models: Any, samples: torch.Tensor, ref: Reference) -> dict:
        """{metric: value, metric_ci: [lo, hi], metric_boot: [replicates]} of the generated
        samples; the runner moves the `_boot` lists to the record's `quality_boot`. Replicates
        must be paired: replicate b of every trial with one seed and n resamples the same
        sample indices (`metrics._common.resample_generator`)."""
        raise NotImplementedError

    def evaluator_record(self, cfg: DictConfig, models: Any) -> dict | None:
        """The record's `evaluator` (`evaluator_field`): the model behind the metrics whose
        MetricInfo says `evaluator`; None for a track without one."""
        return None

    def record_fields(self, cfg: DictConfig, models: Any) -> dict:
        """Extra fields of every record: metric_info and the evaluator behind the metrics."""
        return {"metric_info": {m: self.metric_info(m).record() for m in cfg.eval.metrics},
                "evaluator": self.evaluator_record(cfg, models)}

    # --- samples ----------------------------------------------------------------------------

    def save_reference(self, run_dir: Path, cfg: DictConfig, models: Any, ref: Reference, keep: int) -> None:
        np.save(run_dir / "reference.npy", ref.samples[:keep].float().numpy())

    def save_samples(self, run_dir: Path, folder: Path, trial: int, batch: Any, keep: int, cfg: DictConfig,
                     models: Any) -> tuple[str, str | None]:
        """Keep the first `keep` samples (and drafts) as .npy; returns relative paths."""
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
        samples_rel = folder / f"{trial}.npy"
        np.save(run_dir / samples_rel, batch.samples[:keep].float().numpy())
        drafts_rel = None
        if batch.drafts is not None:
            drafts_rel = folder / f"{trial}.drafts.npy"
            np.save(run_dir / drafts_rel, batch.drafts[:keep].float().numpy())
        return str(samples_rel), (str(drafts_rel) if drafts_rel else None)

    def wandb_samples(self, wandb: Any, record: dict, batch: Any, cfg: DictConfig, models: Any) -> Any:
        """What W&B shows of a trial's samples (None: nothing)."""
        return None

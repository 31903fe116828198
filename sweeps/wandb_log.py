"""Weights & Biases logging, offline by default: one run per trial (grouped by study), opened
when the trial starts and closed with its results, and one study run with the report's
figures, tables and every model's training curves. Where runs go (mode, project, entity,
dir, tags, group) follows sweeps.wandb_settings: a `logger.*` value, else its `WANDB_*`
variable, else wsbench's default. Samples are what the track shows (image grids, 2-D
scatters, a table of sample texts). A logging failure warns once and never fails a sweep:
trials.jsonl is the record that counts."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sweeps.wandb_settings import wandb_settings

# report figures the study run shows as images (those the report wrote)
STUDY_FIGURES = ("front_nfe", "front_wallclock", "speedup_vs_t0", "learning_curves", "sample_grids")
# A trial's run skips what the study run already holds (host, git, pip packages, console) and
# W&B's system monitor: measured 0.13 s per init with them, 0.014 s without, and the monitor
# samples the CPU while trials are timed.
LEAN_RUN = {"x_disable_meta": True, "x_disable_stats": True, "x_disable_machine_info": True,
            "disable_git": True, "disable_code": True, "save_code": False, "console": "off",
            "x_save_requirements": False}


class NullLogger:
    def begin(self, record: dict, cfg: DictConfig | None = None) -> None:
        pass

    def close(self) -> None:
        pass

    def trial(self, record: dict, ev: object, cfg: DictConfig | None = None) -> None:
        pass

    def study(self, summary: dict) -> None:
        pass


class WandbLogger:
    def __init__(self, cfg: DictConfig, run_dir: Path, log=print, models=None, settings: dict | None = None) -> None:  # noqa: ANN001
        self.cfg, self.run_dir, self.log, self.models = cfg.logger, run_dir, log, models
        self.study_name = cfg.sweep.study
        self.settings = settings or wandb_settings(cfg.logger, run_dir, self.study_name)
        self.broken = False
        self.open: dict[tuple, object] = {}  # (arm, trial, confirm) -> the run begun for it
        os.environ.setdefault("WANDB_SILENT", "true")
        if os.environ.pop("WANDB_RUN_ID", None):  # one id for every trial's run would merge them all
            log("warning: WANDB_RUN_ID is ignored: a sweep writes one W&B run per trial")

    def close(self) -> None:
        """Finish the runs of trials that never finished (Ctrl-C, a lost storage) as failed."""
        while self.open:
            _, run = self.open.popitem()
            try:
                run.finish(exit_code=1)
            except Exception:  # noqa: BLE001 - W&B may already be shutting down
                pass

    def _init(self, lean: bool = False, **kw):  # noqa: ANN003, ANN202
        import wandb

        Path(self.settings["dir"]).mkdir(parents=True, exist_ok=True)
        if lean:
            kw["settings"] = wandb.Settings(**LEAN_RUN)
        return wandb.init(**self.settings, reinit="create_new", **kw)

    def _guard(self, fn, *args) -> None:  # noqa: ANN001
        if self.broken:
            return
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001
            self.broken = True
            self.log(f"warning: W&B logging disabled for this sweep ({err.__class__.__name__}: {err})")

    def begin(self, record: dict, cfg: DictConfig | None = None) -> None:
        """Open the trial's run as it starts (W&B shows it running), with its full config."""
        self._guard(self._begin, record, cfg)

    def _begin(self, record: dict, cfg: DictConfig | None) -> None:
        kind = "confirm" if record.get("confirm") else "trial"
        name = f"{record['arm']}#{record['trial']}" + ("-confirm" if kind == "confirm" else "")
        self.open[_key(record)] = self._init(lean=True, name=name, job_type=kind, config=trial_config(record, cfg))

    def trial(self, record: dict, ev: object, cfg: DictConfig | None = None) -> None:
        """Log the finished trial (its values, CIs, floors and costs) and close its run."""
        self._guard(self._trial, record, ev, cfg)

    def _trial(self, record: dict, ev: object, cfg: DictConfig | None) -> None:
        import wandb

        run = self.open.pop(_key(record), None)
        if run is None:  # failed before it began (a bad search range)
            self._begin(record, cfg)
            run = self.open.pop(_key(record))
        fields = getattr(ev, "fields", None) or {}  # the evaluator model (none on the points track)
        run.config.update({k: v for k, v in fields.items() if k != "metric_info" and v is not None},
                          allow_val_change=True)
        values = trial_summary(record)
        metrics = {k: v for k, v in values.items() if _scalar(v) and not k.endswith(("_ci_low", "_ci_high"))}
        if self.cfg.get("log_samples") and ev is not None and cfg is not None:
            from sweeps.models import track_of

            shown = track_of(cfg).wandb_samples(wandb, record, ev.batch, cfg, self.models)
            if shown is not None:
                metrics["samples"] = shown
        run.log(metrics)
        run.summary.update(values)  # the CIs and floors too (history holds the values only)
        run.finish(exit_code=0 if record["state"] == "COMPLETE" else 1)

    def study(self, summary: dict) -> None:
        self._guard(self._study, summary)

    def _study(self, summary: dict) -> None:
        import wandb

        run = self._init(name=f"{self.study_name}-study", job_type="study",
                         config={"metric": summary.get("metric"), "cost_axis": summary.get("cost_axis"),
                                 "track": summary.get("track"), "baseline": summary.get("baseline")})
        # Text runs: entropy/distinct-n of each front point beside it (front_diversity is
        # parallel to front); other runs have no such columns.
        extra = list(summary.get("diversity_metrics") or [])
        diversity = summary.get("front_diversity") or {}
        rows = []
        for arm, points in (summary.get("front") or {}).items():
            div = diversity.get(arm) or []
            rows += [[arm, c, q, *((div[i] if i < len(div) else {}).get(m) for m in extra)]
                     for i, (c, q) in enumerate(points)]
        columns = ["arm", summary.get("cost_axis", "cost"), summary.get("metric", "quality"), *extra]
        logged = {"pareto_front": wandb.Table(columns=columns, data=rows)}
        speed = []
        axis = summary.get("cost_axis")
        tolerant = (summary.get("speedup_tolerant_by_axis") or {}).get(axis) or {}
        confirmed = summary.get("confirmed") or {}
        targets = [("strict", summary.get("speedup_at_iso_quality") or {}), ("tolerant", tolerant),
                   ("confirmed strict", (confirmed.get("speedup_by_axis") or {}).get(axis) or {}),
                   ("confirmed tolerant", (confirmed.get("speedup_tolerant_by_axis") or {}).get(axis) or {})]
        for target, by_base in targets:
            for base, per_arm in by_base.items():
                speed += [[base, arm, target, r.get("text"), r.get("value"), (r.get("interval") or {}).get("text"),
                           (r.get("verdict") or {}).get("word")] for arm, r in per_arm.items()]
        logged["speedup"] = wandb.Table(columns=["baseline", "arm", "target", "speedup", "value", "interval",
                                                 "verdict"], data=speed)
        report = self.run_dir / "report"
        for stem in STUDY_FIGURES:  # the report's own figures, as images beside the tables
            if (report / f"{stem}.png").exists():
                logged[f"figures/{stem}"] = wandb.Image(str(report / f"{stem}.png"))
        curves = training_curve_rows(self.run_dir)
        if curves:  # every trained model's logged losses, long format, and a chart per model and loss
            logged["training_curves"] = wandb.Table(columns=["model", "role", "step", "loss", "value"], data=curves)
            logged.update(curve_charts(wandb, curves))
        run.log(logged)
        run.finish()


def trial_config(record: dict, cfg: DictConfig | None) -> dict:
    """A trial run's config: the trial's whole resolved config (data, seed, sample count,
    training budgets, evaluator nets; the storage password masked) and the trial's identity."""
    from sweeps.storage import secretless

    config = OmegaConf.to_container(secretless(cfg), resolve=True) if cfg is not None else {}
    for k in ("arm", "trial", "method", "track", "role", "config_hash", "seed", "n_samples", "confirm", "confirm_of"):
        if record.get(k) is not None and k not in config:  # the config's own method/seed/track stay
            config[k] = record[k]
    config["params"] = dict(record.get("params") or {})
    return config


def trial_summary(record: dict) -> dict:
    """Flat summary values of a record: quality/<m> with quality/<m>_ci_low/_ci_high, floor/<m>,
    cost/<k> (nested costs as cost/networks/refiner/calls), counters/<name> (the method's own
    per-sample statistics, cost.counters), state, seconds and error."""
    out: dict = {"state": record["state"]}
    for section, prefix in (("quality", "quality"), ("reference_floor", "floor")):
        for k, v in (record.get(section) or {}).items():
            if k.endswith("_ci") and isinstance(v, list) and len(v) == 2:
                out[f"{prefix}/{k}_low"], out[f"{prefix}/{k}_high"] = v
            elif _scalar(v):
                out[f"{prefix}/{k}"] = v
    cost = dict(record.get("cost") or {})
    counters = cost.pop("counters", None) or {}  # whatever the method named: a section of their own
    out.update(_flat("cost", cost))
    out.update({f"counters/{k}": v for k, v in counters.items() if _scalar(v)})
    for k in ("seconds", "error"):
        if record.get(k) is not None:
            out[k] = record[k]
    return out


def _flat(prefix: str, value: object) -> dict:
    if isinstance(value, dict):
        return {k2: v2 for k, v in value.items() for k2, v2 in _flat(f"{prefix}/{k}", v).items()}
    return {prefix: value} if _scalar(value) or isinstance(value, str) else {}


def training_curve_rows(run_dir: Path) -> list[list]:
    """[model key, role, step, loss column, value] for every logged point of RUN_DIR/curves."""
    from analysis.curves import read_curves

    rows = []
    for key, (entry, curve) in read_curves(run_dir).items():
        for column in (c for c in curve.columns if c != "step"):
            rows += [[key, entry.get("role"), int(step), column, float(value)]
                     for step, value in curve[["step", column]].dropna().itertuples(index=False)]
    return rows


def curve_charts(wandb, rows: list[list]) -> dict:  # noqa: ANN001
    """{"curves/<model>/<loss>": a W&B line chart of that loss against step} from curve rows."""
    series: dict[tuple, list] = {}
    for key, _role, step, column, value in rows:
        series.setdefault((key, column), []).append([step, value])
    return {f"curves/{key}/{column}": wandb.plot.line(wandb.Table(columns=["step", column], data=points),
                                                      "step", column, title=f"{key}: {column}")
            for (key, column), points in series.items()}


def _key(record: dict) -> tuple:
    return record["arm"], record["trial"], bool(record.get("confirm"))


def _scalar(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def make_logger(cfg: DictConfig, run_dir: Path, log=print, models=None):  # noqa: ANN001, ANN201
    """The sweep's logger; NullLogger when W&B is off (logger=none, or mode disabled from
    logger.mode or WANDB_MODE: then nothing is written). A bad WANDB_MODE is a ConfigError."""
    settings = wandb_settings(cfg.get("logger"), run_dir, str(cfg.sweep.study))
    if settings is None:
        return NullLogger()
    return WandbLogger(cfg, run_dir, log, models, settings)

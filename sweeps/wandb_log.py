"""Weights & Biases logging, offline by default: one run per trial (grouped by study) and one
study run with the Pareto table. Samples are what the track shows (image grids, 2-D scatters,
a table of sample texts). `logger=none` or `~logger` switches it off. A logging
failure warns once and never fails a sweep: trials.jsonl is the record that counts."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


class NullLogger:
    def trial(self, record: dict, ev: object, cfg: DictConfig | None = None) -> None:
        pass

    def study(self, summary: dict) -> None:
        pass


class WandbLogger:
    def __init__(self, cfg: DictConfig, run_dir: Path, log=print, models=None) -> None:  # noqa: ANN001
        self.cfg, self.run_dir, self.log, self.models = cfg.logger, run_dir, log, models
        self.study_name = cfg.sweep.study
        self.broken = False
        os.environ.setdefault("WANDB_SILENT", "true")
        (run_dir / "wandb").parent.mkdir(parents=True, exist_ok=True)

    def _init(self, **kw):  # noqa: ANN003, ANN202
        import wandb

        return wandb.init(project=self.cfg.project, entity=self.cfg.entity, group=self.study_name,
                          mode=self.cfg.mode, dir=str(self.run_dir), reinit="create_new", **kw)

    def _guard(self, fn, *args) -> None:  # noqa: ANN001
        if self.broken:
            return
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001
            self.broken = True
            self.log(f"warning: W&B logging disabled for this sweep ({err.__class__.__name__}: {err})")

    def trial(self, record: dict, ev: object, cfg: DictConfig | None = None) -> None:
        self._guard(self._trial, record, ev, cfg)

    def _trial(self, record: dict, ev: object, cfg: DictConfig | None) -> None:
        import wandb

        config = {"arm": record["arm"], "method": record["method"], **record.get("params", {}),
                  "config_hash": record.get("config_hash")}
        config.update({k: record[k] for k in ("track", "role") if record.get(k)})
        # The track's own record fields (the evaluator net behind its metrics), whatever the track.
        config.update({k: v for k, v in (getattr(ev, "fields", None) or {}).items() if k != "metric_info"})
        run = self._init(name=f"{record['arm']}#{record['trial']}", job_type="trial", config=config)
        metrics = {"state": record["state"]}
        # Scalars only: the CIs ("<metric>_ci" lists) stay in trials.jsonl.
        for k, v in (record.get("quality") or {}).items():
            if _scalar(v):
                metrics[f"quality/{k}"] = v
        for k, v in (record.get("reference_floor") or {}).items():
            if _scalar(v):
                metrics[f"floor/{k}"] = v
        for k, v in (record.get("cost") or {}).items():
            if _scalar(v):
                metrics[f"cost/{k}"] = v
        if self.cfg.log_samples and ev is not None and cfg is not None:
            from sweeps.models import track_of

            shown = track_of(cfg).wandb_samples(wandb, record, ev.batch, cfg, self.models)
            if shown is not None:
                metrics["samples"] = shown
        run.log(metrics)
        if record["state"] == "FAIL":
            run.summary["error"] = record.get("error")
        run.finish()

    def study(self, summary: dict) -> None:
        self._guard(self._study, summary)

    def _study(self, summary: dict) -> None:
        import wandb

        run = self._init(name=f"{self.study_name}-study", job_type="study",
                         config={"metric": summary.get("metric"), "cost_axis": summary.get("cost_axis")})
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
        run.log({"pareto_front": wandb.Table(columns=columns, data=rows)})
        speed = []
        for base, per_arm in (summary.get("speedup_at_iso_quality") or {}).items():
            speed += [[base, arm, r.get("text"), r.get("value")] for arm, r in per_arm.items()]
        run.log({"speedup": wandb.Table(columns=["baseline", "arm", "speedup", "value"], data=speed)})
        curves = training_curve_rows(self.run_dir)
        if curves:  # every trained model's logged losses, long format (W&B plots a line per model)
            run.log({"training_curves": wandb.Table(columns=["model", "role", "step", "loss", "value"], data=curves)})
        run.finish()


def training_curve_rows(run_dir: Path) -> list[list]:
    """[model key, role, step, loss column, value] for every logged point of RUN_DIR/curves."""
    from analysis.curves import read_curves

    rows = []
    for key, (entry, curve) in read_curves(run_dir).items():
        for column in (c for c in curve.columns if c != "step"):
            rows += [[key, entry.get("role"), int(step), column, float(value)]
                     for step, value in curve[["step", column]].dropna().itertuples(index=False)]
    return rows


def _scalar(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def make_logger(cfg: DictConfig, run_dir: Path, log=print, models=None):  # noqa: ANN001, ANN201
    logger = cfg.get("logger")
    if not logger or logger.get("name", "none") == "none" or logger.get("mode") == "disabled":
        return NullLogger()
    return WandbLogger(cfg, run_dir, log, models)

"""Weights & Biases logging, offline by default: one run per trial (grouped by study) and one
study run with the Pareto table. Samples: image grids, 2-D scatters, or for text a table of
sample texts (arm, trial, index, draft, sample). `logger=none` switches it off. A logging
failure warns once and never fails a sweep: trials.jsonl is the record that counts."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


class NullLogger:
    def trial(self, record: dict, ev: object) -> None:
        pass

    def study(self, summary: dict) -> None:
        pass


class WandbLogger:
    def __init__(self, cfg: DictConfig, run_dir: Path, log=print) -> None:  # noqa: ANN001
        self.cfg, self.run_dir, self.log = cfg.logger, run_dir, log
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

    def trial(self, record: dict, ev: object) -> None:
        self._guard(self._trial, record, ev)

    def _trial(self, record: dict, ev: object) -> None:
        import wandb

        config = {"arm": record["arm"], "method": record["method"], **record.get("params", {}),
                  "config_hash": record.get("config_hash")}
        if record.get("text_eval"):
            config["text_eval"] = record["text_eval"]
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
        samples = getattr(ev, "samples", None) if ev is not None else None
        texts = getattr(ev, "texts", None) if ev is not None else None
        if self.cfg.log_samples and texts is not None:
            # Text: one row per sample, its draft beside it (warm-start methods).
            drafts = getattr(ev, "draft_texts", None)
            metrics["samples"] = wandb.Table(columns=list(TEXT_COLUMNS), data=text_rows(record, texts, drafts))
        elif self.cfg.log_samples and samples is not None and samples.ndim == 4:
            # Images: drafts (where there are any) above the samples refined from them.
            rows = [samples[:8]] if ev.drafts is None else [ev.drafts[:8], samples[:8]]
            metrics["samples"] = wandb.Image(image_grid(rows), caption="drafts (top), samples (bottom)"
                                             if ev.drafts is not None else "samples")
        elif self.cfg.log_samples and _floating(samples):
            table = wandb.Table(columns=["x", "y"], data=samples[:1000, :2].tolist())
            metrics["samples"] = wandb.plot.scatter(table, "x", "y", title=f"{record['arm']} #{record['trial']}")
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
        run.finish()


TEXT_COLUMNS = ("arm", "trial", "index", "draft", "sample")
MAX_TEXT_ROWS = 16


def _floating(samples: object) -> bool:
    """Float samples (points) are scattered; token ids (text without decoded texts) are not."""
    if samples is None:
        return False
    if hasattr(samples, "is_floating_point"):
        return bool(samples.is_floating_point())
    import numpy as np

    return bool(np.issubdtype(np.asarray(samples).dtype, np.floating))


def _scalar(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text_rows(record: dict, texts: list, drafts: list | None, limit: int = MAX_TEXT_ROWS) -> list[list]:
    """Rows (arm, trial, index, draft, sample) of a text trial's first `limit` samples; the draft
    cell is None where the method has no drafts."""
    drafts = list(drafts) if drafts is not None else []
    return [[record["arm"], record["trial"], i, str(drafts[i]) if i < len(drafts) else None, str(text)]
            for i, text in enumerate(list(texts)[:limit])]


def image_grid(rows: list) -> object:
    """Rows of [k, C, H, W] images in [-1, 1] as one uint8 HxWxC array (1-pixel gaps)."""
    import numpy as np

    arrays = [np.asarray(r.float().clamp(-1, 1)) for r in rows]
    k = max(len(a) for a in arrays)
    c, h, w = arrays[0].shape[1:]
    grid = np.ones((len(arrays) * (h + 1), k * (w + 1), c), dtype=np.float32)
    for i, a in enumerate(arrays):
        for j, img in enumerate(a):
            grid[i * (h + 1): i * (h + 1) + h, j * (w + 1): j * (w + 1) + w] = (img.transpose(1, 2, 0) + 1) / 2
    grid = (grid * 255).round().astype(np.uint8)
    return grid[..., 0] if c == 1 else grid


def make_logger(cfg: DictConfig, run_dir: Path, log=print):  # noqa: ANN001, ANN201
    if cfg.logger.name == "none" or cfg.logger.mode == "disabled":
        return NullLogger()
    return WandbLogger(cfg, run_dir, log)

"""W&B trial logging on real records: the track decides what a trial's samples look like
(a table of texts with drafts beside them, a 2-D scatter); scalars only, never the CIs."""

from __future__ import annotations

import json

import torch
from omegaconf import OmegaConf

from lightning_modules.core.method import SampleBatch
from sweeps.cache import ArtifactCache
from sweeps.config import compose
from sweeps.models import ModelStore
from sweeps.trial import Evaluation
from sweeps.wandb_log import WandbLogger


def _logger(tmp_path, models):
    cfg = OmegaConf.create({"logger": {"name": "wandb", "project": "wsbench", "entity": None, "mode": "offline",
                                       "log_samples": True}, "sweep": {"study": "s"}})
    messages: list[str] = []
    return WandbLogger(cfg, tmp_path / "run", log=messages.append, models=models), messages


def _evaluation(record, batch):
    """The Evaluation a trial hands the logger, rebuilt from its real record."""
    fields = {k: record[k] for k in ("metric_info", "evaluator") if k in record}
    return Evaluation(record["quality"], record["reference_floor"], record["cost"], batch, record["train"], fields)


def _first(run_dir, method):
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return next(r for r in map(json.loads, lines) if r["method"] == method)


def test_text_trials_log_a_table_of_samples_with_their_drafts(tmp_path, fake_wandb, smoke_runs):
    cfg = compose(["experiment=smoke_text"])
    models = ModelStore(ArtifactCache(tmp_path / "cache"))
    dm = models.data(cfg)
    logger, messages = _logger(tmp_path, models)
    record = _first(smoke_runs["text"], "ws_dfm")
    samples = torch.stack([dm.encode("to be or not to be, that is")[:16], dm.encode("the question: whether")[:16]])
    drafts = torch.stack([dm.encode("to bx or nat to be, that is")[:16], dm.encode("thy questiom: whither")[:16]])
    logger.trial(record, _evaluation(record, SampleBatch(samples, drafts, 2.0)), cfg)
    assert messages == [] and not logger.broken
    run = fake_wandb[-1]
    assert run.finished and run.exit_code == 0 and run.config["evaluator"] == record["evaluator"]
    assert run.config["track"] == "text" and run.config["role"] == "method" and run.init["job_type"] == "trial"
    assert run.config["data"]["name"] == cfg.data.name and run.config["params"] == record["params"]
    metrics = run.logged[0]
    assert metrics["samples"].columns == ["arm", "trial", "index", "draft", "sample"]
    assert metrics["samples"].data == [
        [record["arm"], record["trial"], 0, "to bx or nat to ", "to be or not to "],
        [record["arm"], record["trial"], 1, "thy questiom: wh", "the question: wh"]]
    assert metrics["quality/gen_ppl"] == record["quality"]["gen_ppl"] and metrics["cost/nfe"] == record["cost"]["nfe"]
    assert not any(k.endswith("_ci") for k in metrics)
    # No drafts (the masked baseline): the draft cell is empty.
    masked = _first(smoke_runs["text"], "masked_dfm")
    logger.trial(masked, _evaluation(masked, SampleBatch(samples[:1], None, 1.0)), cfg)
    assert fake_wandb[-1].logged[0]["samples"].data[0][3] is None


def test_point_trials_log_a_scatter(tmp_path, fake_wandb, smoke_runs):
    cfg = compose(["experiment=smoke"])
    logger, messages = _logger(tmp_path, ModelStore(ArtifactCache(tmp_path / "cache")))
    record = _first(smoke_runs["points"], "noise_start")
    logger.trial(record, _evaluation(record, SampleBatch(torch.randn(50, 2), None, 1.0)), cfg)
    assert messages == [] and "samples" in fake_wandb[-1].logged[0]
    assert record["evaluator"] is None and "evaluator" not in fake_wandb[-1].config  # points: no evaluator model
    # A trial's run is lean (no system monitor sampling the CPU while trials are timed).
    lean = fake_wandb[-1].init["settings"]
    assert lean.x_disable_stats and lean.x_disable_meta and lean.console == "off"
    # A failed trial has no samples: its error goes to the run summary.
    failed = {**record, "state": "FAIL", "error": "ValueError: boom"}
    for key in ("quality", "cost", "reference_floor"):
        failed.pop(key)
    logger.trial(failed, None, cfg)
    assert fake_wandb[-1].summary["error"] == "ValueError: boom" and "samples" not in fake_wandb[-1].logged[0]
    assert fake_wandb[-1].exit_code == 1 and fake_wandb[-1].summary["state"] == "FAIL"


def test_the_study_run_holds_every_models_training_curve(tmp_path, fake_wandb, smoke_runs):
    from analysis_runs import copy_run

    from analysis import write_report

    run_dir = copy_run(smoke_runs["points"], tmp_path / "run")
    summary = write_report(run_dir)
    cfg = OmegaConf.create({"logger": {"name": "wandb", "project": "wsbench", "entity": None, "mode": "offline",
                                       "log_samples": True}, "sweep": {"study": "s"}})
    WandbLogger(cfg, run_dir, log=lambda *_: None).study(summary)
    assert "settings" not in fake_wandb[-1].init  # the study run keeps W&B's metadata (host, git, packages)
    tables = {k: v for logged in fake_wandb[-1].logged for k, v in logged.items()}
    curves = tables["training_curves"]
    assert curves.columns == ["model", "role", "step", "loss", "value"]
    index = json.loads((run_dir / "curves" / "index.json").read_text())
    assert {row[0] for row in curves.data} == set(index)
    assert {row[3] for row in curves.data} == {"train/loss", "val/loss"}
    first = next(r for r in curves.data if r[3] == "train/loss")
    csv_first = (run_dir / "curves" / f"{first[0]}.csv").read_text().splitlines()[1].split(",")
    assert first[2] == int(csv_first[0]) and first[4] == float(csv_first[1])

"""One trial: the models an arm needs (cached), samples with counted cost, quality with CIs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from lightning_modules.core.cost import eval_flops_per_sample, measure
from lightning_modules.continuous.methods import METHODS, WARM_METHODS, build_method
from lightning_modules.metrics import quality, reference_floor
from sweeps.config import config_hash, to_dict
from sweeps.models import ModelStore, data_kind

# Knobs every record carries in `params`, resolved, so analysis can group and label points.
STANDARD_KNOBS = ("method.name", "method.t0", "method.steps", "method.solver", "refiner.pairing",
                  "refiner.start", "refiner.t0_conditioned", "drafter.name")


@dataclass
class Evaluation:
    quality: dict
    floor: dict
    cost: dict
    samples: torch.Tensor
    drafts: torch.Tensor | None
    train: dict
    features: dict | None = None
    text_eval: dict | None = None
    texts: list[str] | None = None        # text runs: decoded samples and drafts (first few)
    draft_texts: list[str] | None = None


def trial_hash(cfg: DictConfig, identity: dict | None = None) -> str:
    """Identity of a trial's result: everything that can change its numbers (for images also
    the feature net's weights hash, so a changed classifier changes every FID's key)."""
    parts = to_dict(cfg, "data", "drafter", "refiner", "method", "eval", "seed")
    if identity:
        parts["identity"] = identity
    return config_hash(parts)


def knob_values(cfg: DictConfig, extra: list[str]) -> dict:
    from omegaconf import OmegaConf

    out = {}
    for key in list(STANDARD_KNOBS) + [k for k in extra if k not in STANDARD_KNOBS]:
        value = OmegaConf.select(cfg, key)
        out[key] = OmegaConf.to_container(value) if hasattr(value, "_metadata") else value
    if cfg.drafter.name == "gmm":
        out["drafter.n_components"] = cfg.drafter.n_components
    if cfg.drafter.name in ("ppca", "conv_vae", "gan"):
        out["drafter.latent"] = cfg.drafter.latent
    if cfg.drafter.name == "ngram":
        out["drafter.order"] = cfg.drafter.order
    if cfg.drafter.name == "lstm":
        out["drafter.width"], out["drafter.steps"] = cfg.drafter.width, cfg.drafter.steps
    return out


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


class Evaluator:
    """Evaluates trial configs; caches references and floors per (data, n, metrics[, features])."""

    def __init__(self, models: ModelStore) -> None:
        self.models = models
        self._refs: dict[str, tuple[torch.Tensor, dict, torch.Tensor | None]] = {}
        self._hub: dict[str, object] = {}

    def reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict]:
        ref, floor, _ = self._reference(cfg)
        return ref, floor

    def identity(self, cfg: DictConfig) -> dict | None:
        """What besides the config decides a trial's numbers: the weights of the FID feature
        net (images) or of the evaluator LM (text)."""
        kind = data_kind(cfg)
        if kind == "image":
            return {"feature_net": self.features_info(cfg)["weights_hash"]}
        if kind == "text":
            return {"text_lm": self.text_eval_info(cfg)["weights_hash"]}
        return None

    def text_eval_info(self, cfg: DictConfig) -> dict:
        """The evaluator LM every text metric of this config used (goes into each record)."""
        self.models.get("text_lm", cfg)
        key = self.models.key("text_lm", cfg)
        info = self.models.train_info.get(key, {})
        return {"name": f"{cfg.data.name}-char-transformer", "key": key, "weights_hash": info.get("weights_hash"),
                "val_ppl": info.get("val_ppl"), "n_params": info.get("n_params")}

    def features_info(self, cfg: DictConfig) -> dict:
        """The feature network every image metric of this config used (goes into each record)."""
        net = self.models.get("feature_net", cfg)
        key = self.models.key("feature_net", cfg)
        info = self.models.train_info.get(key, {})
        return {"name": f"{cfg.data.name}-classifier", "key": key, "weights_hash": info.get("weights_hash"),
                "test_accuracy": info.get("test_accuracy"), "feature_dim": int(net.feature_dim),
                "n_reference": int(len(self.models.data(cfg).ref))}

    def _reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict, torch.Tensor | None]:
        e = cfg.eval
        key = config_hash([to_dict(cfg, "data"), e.n_samples, e.reference_seed, list(e.metrics),
                           to_dict(cfg.eval)["metric_options"], self.identity(cfg)])
        if key not in self._refs:
            kind = data_kind(cfg)
            make = {"image": self._image_reference, "text": self._text_reference}.get(kind, self._toy_reference)
            self._refs[key] = make(cfg)
        return self._refs[key]

    def _toy_reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict, None]:
        e = cfg.eval
        dm = self.models.data(cfg)
        ref = dm.reference(e.n_samples, e.reference_seed)
        other = dm.reference(e.n_samples, e.reference_seed + 1)
        floor = reference_floor(other, ref, metrics=list(e.metrics), seed=cfg.seed,
                                options=to_dict(cfg.eval)["metric_options"])
        return ref, floor, None

    def _image_reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """The whole held-out reference split; floor = real training images (as many as the
        trial generates) against it, i.e. what a sampler reproducing the data would score."""
        from lightning_modules.metrics.fid import image_features, image_reference_floor

        net = self.models.get("feature_net", cfg)
        dm = self.models.data(cfg)
        ident = self.identity(cfg)
        cache_key = self.models.cache.key("reference_features", {"data": to_dict(cfg, "data"), **ident})
        if self.models.cache.has(cache_key):
            state, _ = self.models.cache.load(cache_key)
            ref_feats = state["features"]
        else:
            ref_feats = image_features(net, dm.ref)
            self.models.cache.save(cache_key, {"features": ref_feats}, {"n": len(dm.ref), **ident})
        real = dm.train[: min(int(cfg.eval.n_samples), len(dm.train))]
        floor = image_reference_floor(image_features(net, real), ref_feats)
        return dm.ref, {m: floor[m] for m in cfg.eval.metrics}, ref_feats

    def _text_reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict, None]:
        """Held-out (test split) windows, as many as a trial generates; the floor is the
        metrics of that real text under the same evaluator."""
        from lightning_modules.metrics.text import text_floor

        lm = self.models.get("text_lm", cfg)
        dm = self.models.data(cfg)
        ref = dm.reference(int(cfg.eval.n_samples), int(cfg.eval.reference_seed))
        floor = text_floor(lm, ref, metrics=list(cfg.eval.metrics))
        if cfg.eval.text_lm.hub:  # scored once per reference, like the rest of the floor
            floor.update(self._hub_ppl(cfg, [dm.decode(row) for row in ref], floor=True))
        return ref, floor, None

    def evaluate(self, cfg: DictConfig) -> Evaluation:
        name = cfg.method.name
        check_t0_matches_refiner(cfg)
        models, train = {}, {}
        for need in METHODS[name].needs:
            models[need] = self.models.get(need, cfg)
            key = self.models.key(need, cfg)
            train[need] = {"key": key, **self.models.train_info.get(key, {})}
        knobs = to_dict(cfg.method)
        knobs["start"] = cfg.refiner.start
        method = build_method(name, models, knobs)
        # FLOPs per evaluation of the plain (unconditioned) net: one unit for every method.
        eval_flops = eval_flops_per_sample(self.models.unit_net(cfg))
        batch = measure(method, cfg.eval.n_samples, cfg.seed, eval_flops=eval_flops,
                        repeats=cfg.eval.timing_repeats, device=cfg.device)
        reference, floor, ref_feats = self._reference(cfg)
        features = None
        if data_kind(cfg) == "text":
            return self._text_evaluation(cfg, batch, floor, train)
        if ref_feats is not None:
            from lightning_modules.metrics.fid import image_quality

            net = self.models.get("feature_net", cfg)
            q = image_quality(batch.samples, ref_feats, net, metrics=list(cfg.eval.metrics),
                              n_boot=cfg.eval.n_boot, seed=cfg.seed)
            features = self.features_info(cfg)
        else:
            q = quality(batch.samples, reference, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot,
                        seed=cfg.seed, options=to_dict(cfg.eval)["metric_options"])
        return Evaluation(q, floor, batch.cost, batch.samples, batch.drafts, train, features)

    def _text_evaluation(self, cfg: DictConfig, batch, floor: dict, train: dict) -> Evaluation:  # noqa: ANN001
        from lightning_modules.metrics.text import text_quality

        lm = self.models.get("text_lm", cfg)
        q = text_quality(batch.samples, lm, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot, seed=cfg.seed)
        dm = self.models.data(cfg)
        if cfg.eval.text_lm.hub:  # opt-in, online: a hub LM scores the decoded text as well
            q.update(self._hub_ppl(cfg, [dm.decode(row) for row in batch.samples]))
        keep = int(cfg.eval.save_samples)
        texts = [dm.decode(row) for row in batch.samples[:keep]]
        drafts = None if batch.drafts is None else [dm.decode(row) for row in batch.drafts[:keep]]
        return Evaluation(q, floor, batch.cost, batch.samples, batch.drafts, train, text_eval=self.text_eval_info(cfg),
                          texts=texts, draft_texts=drafts)

    def _hub_ppl(self, cfg: DictConfig, texts: list[str], *, floor: bool = False) -> dict:
        from lightning_modules.metrics._common import percentile_interval
        from lightning_modules.metrics.text import HFCausalLM, gen_ppl

        name = str(cfg.eval.text_lm.hub)
        if name not in self._hub:
            self._hub[name] = HFCausalLM(name, device="cpu")  # like every other model here (no CUDA path yet)
        est = gen_ppl(self._hub[name].sequence_nll_texts(texts), n_boot=0 if floor else cfg.eval.n_boot, seed=cfg.seed)
        if floor:
            return {"gen_ppl_hub": float(est.value)}
        return {"gen_ppl_hub": float(est.value), "gen_ppl_hub_ci": percentile_interval(est, 0.95)}


def check_t0_matches_refiner(cfg: DictConfig) -> None:
    """A refiner is only valid at the t0 it was trained for: a mismatch fails the trial."""
    if cfg.method.name not in WARM_METHODS:
        return
    t0, r = cfg.method.t0, cfg.refiner
    if r.t0_conditioned:
        lo, hi = r.t0_range
        if not lo <= t0 <= hi:
            raise ValueError(f"method.t0={t0} lies outside refiner.t0_range [{lo}, {hi}] the refiner was trained on")
    elif abs(t0 - r.t0) > 1e-9:
        raise ValueError(f"method.t0={t0} differs from refiner.t0={r.t0}, the only t0 this refiner was trained for")


def save_samples(run_dir: Path, arm: str, trial: int, ev: Evaluation, keep: int) -> tuple[str, str | None]:
    """Keep the first `keep` samples (and drafts) as .npy for the report (text: their decoded
    texts as one .json); returns relative paths."""
    folder = Path("samples") / safe_name(arm)
    (run_dir / folder).mkdir(parents=True, exist_ok=True)
    if ev.texts is not None:
        rel = folder / f"{trial}.json"
        (run_dir / rel).write_text(json.dumps({"samples": ev.texts, "drafts": ev.draft_texts}, indent=1))
        return str(rel), None
    samples_rel = folder / f"{trial}.npy"
    np.save(run_dir / samples_rel, ev.samples[:keep].float().numpy())
    drafts_rel = None
    if ev.drafts is not None:
        drafts_rel = folder / f"{trial}.drafts.npy"
        np.save(run_dir / drafts_rel, ev.drafts[:keep].float().numpy())
    return str(samples_rel), (str(drafts_rel) if drafts_rel else None)

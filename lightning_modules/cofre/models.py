"""The CoFRe family's trained models: `fp_mdlm` (settings in substrate.fp_mdlm), an FP-MDLM
trained from scratch on MDLM's ELBO or converted from the substrate's `mdlm` by distillation
(`init: mdlm`), and `fp_mdlm_cons` (substrate.fp_mdlm_cons): that model after a consistency
post-training. Each is a substrate-style model: trained once, cached, shipped."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.cofre.module import FPMDLMModule
from lightning_modules.cofre.net import FixedPointDenoiser
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.knobs import Knob
from lightning_modules.core.roles import check_transformer, section, substrate_spec
from lightning_modules.core.training import fit
from lightning_modules.core.validation import held_out
from lightning_modules.data.toy import RandomBatches
from lightning_modules.mdlm.module import elbo_bits_per_char
from lightning_modules.mdlm.registered import mdlm_spec

FP, CONS = "fp_mdlm", "fp_mdlm_cons"
INITS = ("scratch", "mdlm")
DISTILL_KEYS = ("lam", "tau", "gap_min", "gap_max", "warmup")
MEASURED_ITERS = (1, 2, 4, 8)


def _cross_step_knobs(steps: int, warmup: int) -> tuple[Knob, ...]:
    return (Knob("lam", float, 0.1, low=0.0), Knob("tau", float, 1.5, low=0.0, high_open=True),
            Knob("gap_min", float, 0.05, low=0.0, high=1.0), Knob("gap_max", float, 0.30, low=0.0, high=1.0),
            Knob("warmup", int, warmup, low=0), Knob("steps", int, steps, low=1))


FP_KNOBS = (
    Knob("init", str, "scratch", choices=INITS, help="scratch: MDLM's ELBO from random weights; mdlm: the "
         "substrate MDLM's blocks (first -> pre, next -> F, last -> post), distilled from it"),
    Knob("width", int, 96, low=1), Knob("heads", int, 4, low=1), Knob("pre", int, 1, low=0),
    Knob("post", int, 1, low=0),
    Knob("iters", int, 2, low=1, help="fixed-point iterations of a plain call (validation, the ELBO)"),
    Knob("ng_max", int, 3, low=0, help="training: U{0..ng_max} iterations without gradient"),
    Knob("g_min", int, 1, low=1), Knob("g_max", int, 4, low=1, help="then U{g_min..g_max} with gradient"),
    Knob("batch_size", int, 64, low=2), Knob("lr", float, 1.0e-3, low=0.0),
    Knob("ema_decay", float, 0.999, low=0.0, high=1.0), Knob("clip", float, 1.0, low=0.0),
    Knob("seed", int, 0, low=0), Knob("early_stop", int, 0, low=0),
    Knob("dropout", float, 0.0, low=0.0, high=1.0, high_open=True),
    *_cross_step_knobs(40000, 400),
)
CONS_KNOBS = (*(k for k in _cross_step_knobs(1200, 200) if k.name != "tau"), Knob("lr", float, 3.0e-4, low=0.0),
              Knob("seed", int, 0, low=0))


def check_fp(values: dict) -> None:
    check_transformer(f"substrate.{FP}")(values)
    if values["g_min"] > values["g_max"]:
        raise ConfigError(f"substrate.{FP}.g_min", values["g_min"], f"<= substrate.{FP}.g_max={values['g_max']}")
    if values["gap_min"] > values["gap_max"]:
        raise ConfigError(f"substrate.{FP}.gap_min", values["gap_min"], f"<= gap_max={values['gap_max']}")


def fp_spec(cfg: DictConfig) -> dict:
    """Its cache identity: the data, its settings (the distillation's only when it distils) and,
    converted, the MDLM it starts from."""
    own = substrate_spec(cfg, FP)
    if own["init"] == "scratch":
        return {"data": section(cfg, "data"), FP: {k: v for k, v in own.items() if k not in DISTILL_KEYS}}
    return {"data": section(cfg, "data"), FP: own, "teacher": mdlm_spec(cfg)}


def cons_spec(cfg: DictConfig) -> dict:
    return {"from": fp_spec(cfg), CONS: substrate_spec(cfg, CONS)}


def build_fp(cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001
    s = cfg.substrate[FP]
    return FixedPointDenoiser(dm.vocab_size, dm.seq_len, width=s.width, heads=s.heads, pre=s.pre, post=s.post,
                              iters=s.iters, dropout=float(s.dropout))


def convert(fp: FixedPointDenoiser, mdlm: nn.Module) -> None:
    """Start an FP-MDLM from a trained MDLM: stem, norm and head copied; its first blocks become
    P, the next F, its last blocks H (blocks between are dropped); the fusion is W_h = I, W_u = 0."""
    layers = list(mdlm.blocks.layers)
    pre, post = len(fp.pre), len(fp.post)
    if len(layers) < pre + 1 + post or mdlm.embed.weight.shape != fp.embed.weight.shape:
        raise ConfigError(f"substrate.{FP}.init", "mdlm", f"an MDLM of the same width with at least pre + 1 + post = "
                          f"{pre + 1 + post} blocks (substrate.mdlm has {len(layers)})")
    for name in ("embed", "local", "norm", "head"):
        getattr(fp, name).load_state_dict(getattr(mdlm, name).state_dict())
    with torch.no_grad():
        fp.position.copy_(mdlm.position)
    for i, block in enumerate(fp.pre):
        block.load_state_dict(layers[i].state_dict())
    fp.fp.load_state_dict(layers[pre].state_dict())
    for i, block in enumerate(fp.post):
        block.load_state_dict(layers[len(layers) - post + i].state_dict())


def _fit(model: nn.Module, module: FPMDLMModule, cfg: DictConfig, dm, *, steps: int, seed: int,  # noqa: ANN001
         early_stop: int = 0) -> dict:
    """Train, keep the EMA weights, measure."""
    batch_size = cfg.substrate[FP].batch_size
    info = fit(module, RandomBatches(dm.train, batch_size=batch_size, seed=seed), max_steps=steps, seed=seed,
               val_batches=held_out(dm.val, batch_size=batch_size), early_stop=early_stop)
    model.load_state_dict(module.sampling_net(use_ema=True).state_dict())
    model.eval()
    return {**info, **measure_fp(model, cfg, dm)}


def _solver_kw(s: DictConfig) -> dict:
    return {"ema_decay": s.ema_decay, "ng_max": s.ng_max, "g_min": s.g_min, "g_max": s.g_max, "clip": s.clip}


def train_fp(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    s = cfg.substrate[FP]
    kw = {"lr": s.lr, **_solver_kw(s)}
    if s.init == "mdlm":
        teacher = get("mdlm")
        convert(model, teacher)
        kw |= {"extra": "distill", "teacher": teacher, "lam": s.lam, "tau": s.tau, "gap_min": s.gap_min,
               "gap_max": s.gap_max, "warmup": s.warmup}
    module = FPMDLMModule(model, mask_id=dm.mask_id, max_steps=s.steps, **kw)
    return _fit(model, module, cfg, dm, steps=s.steps, seed=s.seed, early_stop=int(s.early_stop))


def train_cons(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    s = cfg.substrate[CONS]
    model.load_state_dict(get(FP).state_dict())
    module = FPMDLMModule(model, mask_id=dm.mask_id, max_steps=s.steps, lr=s.lr, **_solver_kw(cfg.substrate[FP]),
                          extra="consistency", lam=s.lam, gap_min=s.gap_min, gap_max=s.gap_max, warmup=s.warmup)
    return _fit(model, module, cfg, dm, steps=s.steps, seed=s.seed)


def measure_fp(model: nn.Module, cfg: DictConfig, dm) -> dict:  # noqa: ANN001, ARG001
    """Held-out ELBO (bits/char) at its own iteration count and at 1, 2, 4 and 8."""
    own = model.iters
    by_iters = {}
    try:
        for n in sorted({*MEASURED_ITERS, own}):
            model.iters = n
            by_iters[str(n)] = elbo_bits_per_char(model, dm.val, mask_id=dm.mask_id)
    finally:
        model.iters = own
    return {"val_bits_per_char": by_iters[str(own)],
            "val_bits_per_char_by_iters": {k: v for k, v in by_iters.items() if int(k) in MEASURED_ITERS},
            "n_params": sum(p.numel() for p in model.parameters())}

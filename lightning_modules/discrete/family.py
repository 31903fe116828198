"""The discrete flow-matching family (`refiner.family=dfm`, text): the masked noise-start
model and WS-DFM refiners on a transformer denoiser.

Refiner training pairs: `independent` pairs free-running drafts with random training
windows (the draft then says nothing about its x1); `teacher_forced` drafts each training
window x1 with the drafter fed x1's own preceding tokens, so (draft, x1) differ where the
drafter errs: the text analogue of the `nearest` pairing of images; `hamming_ot` pairs
free-running drafts with the training windows of their batch by an exact assignment on the
number of differing positions (minibatch OT for text); `corrupt` keeps x1 and swaps a
fraction `corrupt_rate` of its positions (fresh each batch) for the drafter's teacher-forced
tokens, so a draft is mostly right, as good free-running drafts are, and the refiner learns to
keep what is right rather than that every draft token is suspect.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.continuous.paths import STARTS
from lightning_modules.core import seeding
from lightning_modules.core.device import device_of
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import FamilySpec, Knob, register_family
from lightning_modules.core.roles import POOL_SEED, section, without_off
from lightning_modules.core.training import fit
from lightning_modules.data.toy import FixedBatches, RandomBatches
from lightning_modules.discrete.dfm import DiscreteFlowMatching

TEXT_PAIRINGS = ("independent", "teacher_forced", "hamming_ot", "corrupt")
TEACHER_FORCED_POOLS = ("teacher_forced", "corrupt")  # one teacher-forced draft per training window


def dfm_spec(role: str, cfg: DictConfig) -> dict:
    """Cache identity: the masked model pairs nothing; teacher-forced pools ignore n_drafts."""
    data, ref = section(cfg, "data"), section(cfg, "refiner")
    ref["train"] = without_off(ref["train"], "early_stop")
    noise_train = {k: v for k, v in ref["train"].items() if k != "n_drafts"}
    if role == "noise_model":
        return {"data": data, "net": ref["net"], "train": noise_train}
    warm_train = noise_train if ref["pairing"] in TEACHER_FORCED_POOLS else ref["train"]
    warm = {"data": data, "drafter": section(cfg, "drafter"), "net": ref["net"], "train": warm_train,
            "pairing": ref["pairing"], "start": ref["start"], "t0_conditioned": ref["t0_conditioned"]}
    if ref["pairing"] == "corrupt":  # only here, so the other pairings keep their keys
        warm["corrupt_rate"] = ref["corrupt_rate"]
    warm["t0"] = list(ref["t0_range"]) if ref["t0_conditioned"] else ref["t0"]
    warm["draws"] = seeding.DRAWS  # its training drafts come from the per-sample streams
    return warm


def dfm_build(role: str, cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001
    from lightning_modules.nets.transformer import TransformerDenoiser

    net = cfg.refiner.net
    return TransformerDenoiser(dm.vocab_size, dm.seq_len, width=net.width, depth=net.depth, heads=net.heads,
                               time_freqs=net.time_freqs,
                               t0_conditioned=role == "refiner" and cfg.refiner.t0_conditioned)


def dfm_train(role: str, model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    """Train the masked baseline or a WS-DFM refiner; the EMA weights are kept."""
    r = cfg.refiner
    val_seed = r.train.seed + 1  # the held-out windows' batches: fixed, apart from training's
    if role == "noise_model":
        batches = RandomBatches(dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
        val = RandomBatches(dm.val, batch_size=r.train.batch_size, seed=val_seed)
        module = DiscreteFlowMatching(model, mask_id=dm.mask_id, mode="noise", lr=r.train.lr,
                                      ema_decay=r.train.ema_decay, max_steps=r.train.steps)
    else:
        drafter, pool_seed = get("drafter"), POOL_SEED + r.train.seed
        with torch.inference_mode():
            if r.pairing in TEACHER_FORCED_POOLS:
                pool = drafter.teacher_forced(dm.train.to(device_of(drafter)), seed=pool_seed).cpu().clone()
                batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
                val_pool = drafter.teacher_forced(dm.val.to(device_of(drafter)), seed=pool_seed + 1).cpu().clone()
                val = RandomBatches(val_pool, dm.val, batch_size=r.train.batch_size, seed=val_seed)
            else:
                n_drafts = r.train.n_drafts or len(dm.train)
                pool = drafter.sample(n_drafts, seed=pool_seed).cpu().clone()  # data, like dm.train
                batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size, seed=r.train.seed,
                                        aligned=False)
                val = RandomBatches(pool, dm.val, batch_size=r.train.batch_size, seed=val_seed, aligned=False)
        module = DiscreteFlowMatching(model, mask_id=dm.mask_id, mode="warm", start=r.start, t0=r.t0,
                                      t0_range=tuple(r.t0_range), lr=r.train.lr, ema_decay=r.train.ema_decay,
                                      max_steps=r.train.steps, pairing=r.pairing, corrupt_rate=r.corrupt_rate)
    info = fit(module, batches, max_steps=r.train.steps, seed=r.train.seed, val_batches=FixedBatches(val),
               early_stop=int(r.train.get("early_stop") or 0))
    model.load_state_dict(module.sampling_net(use_ema=True).state_dict())
    info.update(ema_decay=r.train.ema_decay, batch_size=r.train.batch_size, lr=r.train.lr)
    return info


def dfm_check(refiner: dict, needs: tuple[str, ...]) -> None:
    net = refiner["net"]
    if net["width"] % net["heads"]:
        raise ConfigError("refiner.net.width", net["width"], f"a multiple of refiner.net.heads={net['heads']}")


register_family(FamilySpec(
    "dfm", kinds=("tokens",), spec=dfm_spec, build=dfm_build, train=dfm_train, pairings=TEXT_PAIRINGS,
    starts=STARTS, nets={"transformer": ("tokens",)}, check=dfm_check,
    knobs=(Knob("corrupt_rate", float, 0.25, low=0.0, high=1.0,
                help="pairing=corrupt: the fraction of x1's positions given the drafter's teacher-forced token"),),
    net_knobs={"transformer": (Knob("width", int, 96, low=1), Knob("depth", int, 2, low=1),
                               Knob("heads", int, 4, low=1), Knob("time_freqs", int, 16, low=1))},
))

"""The text track's models for `ModelStore`: n-gram / LSTM drafters, transformer denoisers
(masked baseline and WS-DFM refiners) and the evaluator language model.

Refiner training pairs: `independent` pairs free-running drafts with random training
windows (the draft then says nothing about its x1); `teacher_forced` drafts each training
window x1 with the drafter fed x1's own preceding tokens, so (draft, x1) differ where the
drafter errs: the text analogue of the `nearest` pairing of images.
"""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.data.text import TextDataModule
from lightning_modules.data.toy import RandomBatches
from lightning_modules.core.training import fit

TEXT_DRAFTERS = ("ngram", "lstm")
TEXT_PAIRINGS = ("independent", "teacher_forced")


def build_text_drafter(d: DictConfig, dm: TextDataModule) -> nn.Module:
    from lightning_modules.drafters import LSTMDrafter, NGramDrafter

    if d.name == "ngram":
        return NGramDrafter(dm.vocab_size, dm.seq_len, d.order)
    if d.name == "lstm":
        return LSTMDrafter(dm.vocab_size, dm.seq_len, width=d.width, layers=d.layers, lr=d.lr)
    raise ValueError(f"unknown text drafter '{d.name}'; allowed: {', '.join(TEXT_DRAFTERS)}")


def train_text_drafter(model: nn.Module, d: DictConfig, dm: TextDataModule) -> dict:
    if d.name == "ngram":
        from lightning_modules.drafters import NGramDrafter

        start = time.perf_counter()
        fitted = NGramDrafter.fit(dm.train.flatten(), dm.vocab_size, dm.seq_len, d.order)
        model.load_state_dict(fitted.state_dict())
        return {"seconds": time.perf_counter() - start, "final_loss": None, "method": "counts"}
    return fit(model, RandomBatches(dm.train, batch_size=d.batch_size, seed=d.seed), max_steps=d.steps, seed=d.seed)


def build_denoiser(cfg: DictConfig, dm: TextDataModule, *, conditioned: bool = False) -> nn.Module:
    from lightning_modules.nets.transformer import TransformerDenoiser

    net = cfg.refiner.net
    return TransformerDenoiser(dm.vocab_size, dm.seq_len, width=net.width, depth=net.depth, heads=net.heads,
                               time_freqs=net.time_freqs, t0_conditioned=conditioned)


def train_denoiser(name: str, model: nn.Module, cfg: DictConfig, dm: TextDataModule, drafter: nn.Module | None,
                   pool_seed: int) -> dict:
    """Train the masked baseline (`noise_model`) or a WS-DFM refiner; the EMA weights are kept."""
    from lightning_modules.discrete.dfm import DiscreteFlowMatching

    r = cfg.refiner
    if name == "noise_model":
        batches = RandomBatches(dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
        module = DiscreteFlowMatching(model, mask_id=dm.mask_id, mode="noise", lr=r.train.lr,
                                      ema_decay=r.train.ema_decay, max_steps=r.train.steps)
    else:
        with torch.inference_mode():
            if r.pairing == "teacher_forced":
                pool = drafter.teacher_forced(dm.train, seed=pool_seed).clone()
                batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
            else:
                n_drafts = r.train.n_drafts or len(dm.train)
                pool = drafter.sample(n_drafts, seed=pool_seed).clone()
                batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size, seed=r.train.seed,
                                        aligned=False)
        module = DiscreteFlowMatching(model, mask_id=dm.mask_id, mode="warm", start=r.start, t0=r.t0,
                                      t0_range=tuple(r.t0_range), lr=r.train.lr, ema_decay=r.train.ema_decay,
                                      max_steps=r.train.steps)
    info = fit(module, batches, max_steps=r.train.steps, seed=r.train.seed)
    model.load_state_dict(module.denoiser(use_ema=True).state_dict())
    info.update(ema_decay=r.train.ema_decay, batch_size=r.train.batch_size, lr=r.train.lr)
    return info


def build_text_lm(cfg: DictConfig, dm: TextDataModule) -> nn.Module:
    from lightning_modules.metrics.evaluator_lm import CausalTransformerLM

    e = cfg.eval.text_lm
    return CausalTransformerLM(dm.vocab_size, dm.seq_len, width=e.width, depth=e.depth, heads=e.heads, lr=e.lr)


def train_text_lm(model: nn.Module, cfg: DictConfig, dm: TextDataModule) -> dict:
    """The evaluator LM, trained on the training split; its val split gives a sanity PPL."""
    from lightning_modules.metrics.evaluator_lm import train_evaluator_lm

    e = cfg.eval.text_lm
    net, info = train_evaluator_lm(dm.train, dm.val, vocab_size=dm.vocab_size, seq_len=dm.seq_len, width=e.width,
                                   depth=e.depth, heads=e.heads, steps=e.steps, batch_size=e.batch_size, lr=e.lr,
                                   seed=e.seed)
    model.load_state_dict(net.state_dict())
    return info

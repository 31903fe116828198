"""The model roles methods need, as registered trainable models: `drafter` (DRAFTERS entry
named by drafter.name), `noise_model` and `refiner` (the refiner family named by
refiner.family: FM for continuous data, DFM for text). Each role's cache identity is exactly
the config that produces it, so changing method.steps reuses every model while changing
refiner.pairing retrains only the refiners."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import DRAFTERS, FAMILIES, Knob, register_model

# Drafts for refiner training come from their own seed stream, never the evaluation seed.
POOL_SEED = 1_000_003


def section(cfg: DictConfig, name: str) -> dict:
    """A plain dict of one config section (resolved)."""
    return OmegaConf.to_container(cfg[name], resolve=True)


def without_off(spec: dict, *keys: str) -> dict:
    """`spec` without those of `keys` that are off (0, None, False): an option added later
    leaves the cache keys of models trained before it, with the option off, as they were."""
    return {k: v for k, v in spec.items() if k not in keys or v}


def transformer_knobs(*, steps: int) -> tuple[Knob, ...]:
    """The settings of a text-substrate transformer (substrate.<model>), declared once for the
    MDLM and autoregressive baselines and any family model built like them."""
    return (Knob("width", int, 96, low=1), Knob("depth", int, 4, low=1), Knob("heads", int, 4, low=1),
            Knob("steps", int, steps, low=1), Knob("batch_size", int, 64, low=2),
            Knob("lr", float, 1.0e-3, low=0.0), Knob("ema_decay", float, 0.999, low=0.0, high=1.0),
            Knob("seed", int, 0, low=0), Knob("early_stop", int, 0, low=0),
            Knob("dropout", float, 0.0, low=0.0, high=1.0, high_open=True))


def check_transformer(section_name: str) -> object:
    """Rules across a transformer's knobs: the width splits into the heads; lr > 0."""

    def check(values: dict) -> None:
        if values["width"] % values["heads"]:
            raise ConfigError(f"{section_name}.width", values["width"], f"a multiple of {section_name}.heads="
                              f"{values['heads']}")
        if not values["lr"] > 0:
            raise ConfigError(f"{section_name}.lr", values["lr"], "a number > 0")

    return check


def substrate_spec(cfg: DictConfig, model: str) -> dict:
    """substrate.<model> as a model's spec (dropout only when on)."""
    return without_off(section(cfg, "substrate")[model], "dropout")


def _drafter_spec(cfg: DictConfig) -> dict:
    return {"data": section(cfg, "data"), "drafter": section(cfg, "drafter")}


def _family(cfg: DictConfig):  # noqa: ANN202
    return FAMILIES.get(cfg.refiner.family, key="refiner.family")


register_model(
    "drafter", spec=_drafter_spec,
    build=lambda cfg, dm: DRAFTERS.get(cfg.drafter.name).build(cfg.drafter, dm),
    train=lambda model, cfg, dm, get: DRAFTERS.get(cfg.drafter.name).fit(model, cfg.drafter, dm),
    seed=lambda cfg: int(cfg.drafter.seed),
    effort=lambda cfg: DRAFTERS.get(cfg.drafter.name).effort(cfg.drafter),
)
for _role in ("noise_model", "refiner"):
    register_model(
        _role, spec=lambda cfg, r=_role: _family(cfg).spec(r, cfg),
        build=lambda cfg, dm, r=_role: _family(cfg).build(r, cfg, dm),
        train=lambda model, cfg, dm, get, r=_role: _family(cfg).train(r, model, cfg, dm, get),
        seed=lambda cfg: int(cfg.refiner.train.seed),
        # exact OT pairing costs about twice as much per step
        effort=lambda cfg: float(cfg.refiner.train.steps) * (2.0 if cfg.refiner.pairing == "minibatch_ot" else 1.0),
        after=("drafter",) if _role == "refiner" else (),
    )

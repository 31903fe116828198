"""Models a family (or a plugin) declares with settings of their own (registry.ModelSpec:
`knobs` in the config section `config`, e.g. substrate.mdlm). The composer fills a declared
model's missing keys from its defaults, so `substrate.<model>.<knob>=...` works for a plugin's
model as for a built-in one; validation checks the sections of the models a trial needs."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_modules.core.registry import check_section, declared_models, load_plugins


def fill(cfg: DictConfig) -> None:
    """Every declared model's section, its missing keys set to the declared defaults (the
    config files' values win)."""
    load_plugins(cfg.get("plugin"))
    for spec in declared_models():
        parent_key, _, leaf = spec.config.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if not isinstance(parent, DictConfig):
            continue  # the section's parent is not in this config (a schema without it)
        with open_dict(parent):
            if not isinstance(parent.get(leaf), DictConfig):
                parent[leaf] = {}
            node = parent[leaf]
            for knob in spec.knobs:
                if knob.name not in node:
                    node[knob.name] = knob.default


def check(cfg: DictConfig) -> None:
    """One-line errors for every declared model's section (used by the trial or not: a bad
    value is refused wherever it is set)."""
    for spec in declared_models():
        node = OmegaConf.select(cfg, spec.config)
        if not isinstance(node, DictConfig):
            continue
        values = OmegaConf.to_container(node, resolve=True)
        check_section(spec.config, values, spec.knobs, owner=f"model {spec.name}", fixed=())
        spec.check(values)

"""Structured configs: the types of the fixed config sections, checked while Hydra composes,
and setting keys of such a typed config with one-line errors (set_key, delete_key).

Values live in conf/*.yaml (one source of truth); these dataclasses give each fixed key its
type (so `sweep.n_trials=abc` fails as it is set) and its closed set of choices
(`choices` in the field's metadata, checked by `check_choices`). The group sections `data`,
`drafter`, `refiner` and `method` are free here (`Any`): their knobs are declared by the
registries and checked by sweeps.validate. `sweep.space`, `sweep.arms` and
`eval.metric_options` are free-form mappings (their own keys may contain dots).

Choices are plain strings rather than Enums so the composed config holds `"grid"`, not an
Enum member, wherever it travels (YAML dumps, JSON records, W&B, spawned workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from sweeps.errors import ConfigError, did_you_mean

# ConfigStore names: the base schema (conf/config.yaml extends it) and the per-option
# schemas of groups whose options differ in shape (conf/logger/wandb.yaml extends one).
BASE_SCHEMA = "wsbench_schema"
SCHEMA_SUFFIX = "_schema"
# Free-form mappings whose own keys contain dots (swept config keys): any key may be set.
OPEN_KEYS = ("sweep.space", "sweep.arms")
ABSENT = object()  # OmegaConf.select's default: tells a missing key from a null one


def _choice(*allowed: str, default: Any = MISSING) -> Any:
    return field(default=default, metadata={"choices": allowed})


@dataclass
class FeatureNetConf:
    """Images: the classifier whose penultimate layer gives FID/KID features."""

    steps: int = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    width: int = MISSING
    feature_dim: int = MISSING
    seed: int = MISSING


@dataclass
class TextLMConf:
    """Text: the evaluator LM of generative perplexity (hub: an opt-in HF model name)."""

    width: int = MISSING
    depth: int = MISSING
    heads: int = MISSING
    steps: int = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    seed: int = MISSING
    dropout: float = 0.0
    bf16: bool = False  # train under bf16 autocast (fp32 weights; every measurement stays fp32)
    hub: str | None = None


@dataclass
class EvalConf:
    n_samples: int = MISSING
    reference_seed: int = MISSING
    metrics: list[str] = MISSING
    primary_metric: str = MISSING
    metric_options: dict[str, Any] = field(default_factory=dict)  # free: metric -> options
    n_boot: int = MISSING
    boot_metrics: str = _choice("all", "primary", default="all")  # metrics with intervals (primary: the front's only)
    timing_repeats: int = MISSING
    latency_windows: int = 0  # > 0: also time that many samples one at a time (batch-1 latency, cost.latency_s)
    save_samples: int = MISSING
    feature_net: FeatureNetConf = field(default_factory=FeatureNetConf)
    text_lm: TextLMConf = field(default_factory=TextLMConf)


@dataclass
class SweepConf:
    study: str = MISSING
    sampler: str = _choice("grid", "tpe", "nsga2")
    n_trials: int | None = None
    seed: int = MISSING
    cost_axis: str = _choice("nfe", "wallclock", "flops", "blocks", "latency")
    storage: str | None = None
    run_dir: str | None = None
    space: dict[str, Any] = field(default_factory=dict)  # free: swept key -> values / range
    arms: dict[str, Any] | None = None  # free: arm name -> {set: [...], space: {...}}
    confirm: bool = MISSING  # re-run the finalists on fresh seeds after the search, in looks (sweeps/confirm.py)
    confirm_looks: int = 3  # at most this many looks; each look's interval at 1 - 0.05 / looks
    confirm_budget: float = 0.25  # confirmations' time, at most this fraction of the search's (trials + training)
    confirm_n: int | None = None  # look 1's samples (null: the search's eval.n_samples); later looks grow it
    search_timing_repeats: int | None = None  # timed runs of a search trial (null: eval.timing_repeats); confirmations time eval.timing_repeats
    confirm_boot: int = 400  # bootstrap replicates of a confirmation (its interval's tails need more than eval.n_boot)
    heartbeat_s: int = 10  # a running trial's heartbeat period (journal file and database)
    grace_s: int = 60  # a trial whose heartbeat is older is a dead worker's: failed and retried
    max_retry: int = 2  # retries of a dead worker's trial before it stays failed
    lock_grace_s: int = 30  # a journal-file lock older than this is a killed writer's (Optuna's default)
    time_alone: bool = False  # take a host-wide lock for the timed runs (no other trial computes)
    only: list[str] | None = None  # run these arms only (null: every arm)
    check_ledger: bool = False  # replay each network's first calls on their real inputs: the ledger's contract
    matched_on: list[str] | None = None  # also compare each arm with the primary baseline at equal values of these knobs
    match_delta: float = 0.02  # a matched comparison "matches" when its quality ratio's upper end <= 1 + this
    budgets: list[float] | None = None  # nominal block budgets per sample: report/budgets.md compares every arm at each
    primary_baseline: str | None = None  # the arm the tables compare against first (null: the first baseline arm)


@dataclass
class WandbLoggerConf:
    """logger=wandb (logger=none and `~logger` are just {name: none})."""

    name: str = "wandb"
    # null: the WANDB_* variable, else wsbench's default (sweeps/wandb_settings.py)
    project: str | None = None
    entity: str | None = None
    mode: str | None = _choice("offline", "online", "disabled", "shared", "dryrun", "run", default=None)
    dir: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    log_samples: bool = MISSING


def _no_logger() -> dict:
    return {"name": "none"}


@dataclass
class WsbenchConf:
    seed: int = MISSING
    device: str = _choice("cpu", "cuda", "auto")
    threads: int = MISSING
    train_workers: Any = MISSING  # "auto" or a number of processes (checked below)
    train_checkpoint_every: int = 1000  # optimiser steps between checkpoints of a training (0: none)
    cache_dir: str | None = None
    track: str = MISSING  # points | images | text | a plugin's track (checked against the registry)
    plugin: Any = None  # a path or module, or a list of them
    eval: EvalConf = field(default_factory=EvalConf)
    data: Any = MISSING
    drafter: Any = MISSING
    refiner: Any = MISSING
    method: Any = MISSING
    sweep: SweepConf = field(default_factory=SweepConf)
    # free: model name -> its declared knobs (registry.ModelSpec.knobs; filled and checked by
    # sweeps.declared), e.g. substrate.mdlm for the masked-diffusion baseline
    substrate: dict[str, Any] = field(default_factory=dict)
    # `~logger` removes the logger group; what is left is this default: no logger.
    logger: Any = field(default_factory=_no_logger)
    experiment: str | None = None  # filled by compose: the experiment=NAME chosen, if any
    choices: dict[str, Any] = field(default_factory=dict)  # filled by compose: group -> option


# Dataclass-typed sections: their keys are fixed (`+eval.foo=1` is refused).
SCHEMAS: dict[str, type] = {BASE_SCHEMA: WsbenchConf, f"wandb{SCHEMA_SUFFIX}": WandbLoggerConf}


def check_choices(cfg: DictConfig) -> None:
    """Raise a one-line ConfigError for a closed-choice key set outside its choices."""
    _check_node(cfg, "")
    workers = cfg.get("train_workers")
    if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError("train_workers", workers, "auto or an integer >= 1")
    every = cfg.get("train_checkpoint_every", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError("train_checkpoint_every", every, "an integer >= 0 (0: no checkpoints)")


def _check_node(node: Any, prefix: str) -> None:
    schema = node._metadata.object_type if isinstance(node, DictConfig) else None
    if schema is None or not is_dataclass(schema):
        return
    for f in fields(schema):
        if f.name not in node:
            continue
        value = node._get_node(f.name)
        key = f"{prefix}{f.name}"
        allowed = f.metadata.get("choices")
        if allowed is not None and node[f.name] not in allowed and not (node[f.name] is None and f.default is None):
            raise ConfigError(key, node[f.name], f"one of {', '.join(allowed)}")
        if isinstance(value, DictConfig):
            _check_node(value, key + ".")


# --- setting keys of a typed config, with one-line errors ------------------------------------


def open_key_of(key: str) -> str | None:
    """The free-form mapping (OPEN_KEYS) `key` lies in, if any."""
    return next((k for k in OPEN_KEYS if key == k or key.startswith(k + ".")), None)


def all_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of the config (mappings and leaves), for "did you mean" hints."""
    out: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                out.append(f"{prefix}{k}")
                if f"{prefix}{k}" not in OPEN_KEYS:
                    walk(v, f"{prefix}{k}.")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return out


def open_struct(cfg: DictConfig) -> None:
    """Struct mode everywhere except the free-form mappings under OPEN_KEYS."""
    OmegaConf.set_struct(cfg, True)
    for key in OPEN_KEYS:
        node = OmegaConf.select(cfg, key)
        if isinstance(node, DictConfig):
            OmegaConf.set_struct(node, False)


def check_complete(cfg: DictConfig) -> None:
    """A key the schema requires (MISSING) and no config file set is an error."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(missing[0], "???", "a value (the config files leave it unset)")


def check_free(cfg: DictConfig, key: str, value: object) -> None:
    """Adding `key` is allowed only below a free mapping, never as a new schema field."""
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts):
        typed = node._metadata.object_type if isinstance(node, DictConfig) else None
        if typed is not None and typed is not dict and part not in node:
            where = ".".join(parts[:i]) or "the top level"
            fields = ", ".join(str(k) for k in node.keys() if k not in ("experiment", "choices"))
            raise ConfigError(key, value, f"not a key of {where}, whose keys the schema fixes: {fields}")
        if not isinstance(node, DictConfig) or part not in node:
            return
        node = node._get_node(part)
        if not isinstance(node, DictConfig):
            if i < len(parts) - 1:
                raise ConfigError(key, value, f"{'.'.join(parts[: i + 1])} is not a mapping")
            return


def delete_key(cfg: DictConfig, key: str, value: object) -> None:
    """~a.b: remove a key of a free section (schema fields cannot be removed)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if not isinstance(parent, DictConfig) or leaf not in parent:
        raise ConfigError(f"~{key}", value, "an existing key or group (see `wsbench sweep --show-config`)")
    typed = parent._metadata.object_type
    if typed is not None and typed is not dict:
        raise ConfigError(f"~{key}", value, "a key of a free section (data, drafter, refiner, method or a "
                          "free mapping): the schema keeps this one, set it instead")
    if value is not None and parent[leaf] != value:
        raise ConfigError(f"~{key}", value, f"the current value ({parent[leaf]!r}) or no value")
    with open_dict(parent):
        del parent[leaf]


def expected(cfg: DictConfig, key: str, err: OmegaConfBaseException) -> str:
    """What a typed key accepts, in words (from its schema type)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    node = parent._get_node(leaf) if isinstance(parent, DictConfig) and leaf in parent else None
    ref = getattr(getattr(node, "_metadata", None), "ref_type", None)
    optional = bool(getattr(getattr(node, "_metadata", None), "optional", False))
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    text = words.get(ref)
    if text is None and isinstance(node, DictConfig | ListConfig):
        text = "a mapping" if isinstance(node, DictConfig) else "a list"
    if text is None:
        return str(err.msg or err).splitlines()[0]
    return text + (" or null" if optional else "")


def set_key(cfg: DictConfig, key: str, value: object) -> None:
    """Set an existing dotted key; unknown keys are a ConfigError, not a silent addition.
    Under sweep.space / sweep.arms any key may be set (missing levels are created)."""
    open_root = open_key_of(key)
    if open_root is None:
        if OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=False) is ABSENT:
            raise ConfigError(key, value, "unknown config key (see `wsbench sweep --show-config`)"
                              + did_you_mean(key, all_keys(cfg)))
        try:
            OmegaConf.update(cfg, key, value, merge=False)
        except OmegaConfBaseException as err:
            raise ConfigError(key, value, expected(cfg, key, err)) from None
        return
    try:
        if key != open_root:
            # Missing or null levels under the open root become mappings (sweep.arms: null).
            parts = key[len(open_root) + 1:].split(".")
            node_key = open_root
            for part in [None, *parts[:-1]]:
                node_key = node_key if part is None else f"{node_key}.{part}"
                node = OmegaConf.select(cfg, node_key, default=None)
                if not isinstance(node, DictConfig):
                    OmegaConf.update(cfg, node_key, {}, merge=False, force_add=True)
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    except OmegaConfBaseException as err:
        raise ConfigError(key, value, expected(cfg, key, err)) from None
    node = OmegaConf.select(cfg, open_root)
    if isinstance(node, DictConfig):
        OmegaConf.set_struct(node, False)

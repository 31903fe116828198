"""A trial's identity: everything that can change its numbers, and nothing else.

`settings(cfg)` is what a trial ran with, read from the resolved config the way the trial
reads it: the method section (its knobs, as the method's factory takes them), the data and
evaluation sections (the reference and the metrics), the seed and track, the cache keys of
the models the method needs (each key is the hash of exactly the config that trained it), and
the content of any plugin file. Pure bookkeeping is left out: output paths, the logger, the
sweep's own settings (space, arms, storage), the number of samples kept on disk, training
workers and checkpoint period. `config_key` is its hash: every record carries it, and a run
folder is extended only by trials whose settings hash the same (`check_records_match`).

`trial_hash` adds the timing conditions (host, device, threads, code) and the evaluator's
weights: the resume key of one trial.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from lightning_modules.core.plugins import plugin_path
from lightning_modules.core.registry import METHODS, MODELS
from sweeps.cache import model_key
from sweeps.config import config_hash, to_dict, with_params
from sweeps.errors import ConfigError
from sweeps.versions import conditions

# Keys that never change a trial's numbers (what is kept on disk, not what is measured).
BOOKKEEPING = ("eval.save_samples",)


def settings(cfg: DictConfig) -> dict:
    """What a trial with this config ran with (see the module docstring), JSON-able."""
    spec = METHODS.get(cfg.method.name)
    ev = to_dict(cfg, "eval")["eval"]
    for key in BOOKKEEPING:
        ev.pop(key.split(".", 1)[1], None)
    out = {"track": str(cfg.track), "seed": int(cfg.seed), "method": to_dict(cfg, "method")["method"],
           "data": to_dict(cfg, "data")["data"], "eval": ev,
           "models": {need: model_key(need, cfg) for need in spec.needs}}
    if "refiner" in spec.needs:  # the refiner's start state is passed to the method (build_method)
        out["start"] = str(cfg.refiner.start)
    plugins = _plugin_hashes(cfg.get("plugin"))
    if plugins:
        out["plugins"] = plugins
    return out


def config_key(cfg: DictConfig) -> str:
    return config_hash(settings(cfg))


def trial_hash(cfg: DictConfig, identity: dict | None = None) -> str:
    """The resume key of one trial: its settings, the conditions its timings are taken under
    (host, device, threads, code) and what besides the config decides its numbers (the
    track's evaluator weights, `identity`)."""
    parts = {"settings": settings(cfg), "conditions": conditions(cfg)}
    if identity:
        parts["identity"] = identity
    return config_hash(parts)


def _plugin_hashes(plugin: object) -> dict[str, str]:
    """sha256 (16 hex) of each plugin .py file (a module name stands for itself)."""
    if plugin is None:
        return {}
    items = [plugin] if isinstance(plugin, str) else list(OmegaConf.to_container(plugin) if isinstance(
        plugin, ListConfig) else plugin)
    out = {}
    for item in map(str, items):
        try:
            out[Path(item).name] = _file_hash(str(plugin_path(item)))
        except ConfigError:  # a module name stands for itself
            out[Path(item).name] = item
    return out


@functools.lru_cache(maxsize=32)
def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


# --- run folders: what their records ran with ---------------------------------------------


def remember(run_dir: Path, cfg: DictConfig) -> str:
    """Write run_dir/configs/<config_key>.json (once) and return the key: the settings behind
    every record carrying that key, so a refused resume can name the keys that differ."""
    values = settings(cfg)
    key = config_hash(values)
    path = Path(run_dir) / "configs" / f"{key}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"settings": values, "model_specs": model_specs(cfg)}, indent=1, sort_keys=True,
                                  default=str))
        tmp.replace(path)
    return key


def model_specs(cfg: DictConfig) -> dict:
    """The config each needed model was trained from (its cache key hashes it): what a
    refused resume names instead of a bare key."""
    return {need: MODELS.get(need).spec(cfg) for need in METHODS.get(cfg.method.name).needs}


def searching(cfg: DictConfig) -> DictConfig:
    """A search trial's config: eval.timing_repeats = sweep.search_timing_repeats where set
    (confirmations keep eval.timing_repeats)."""
    k = cfg.sweep.get("search_timing_repeats")
    return cfg if k is None else with_params(cfg, {"eval.timing_repeats": int(k)})


def now_of(arm, record: dict) -> DictConfig:  # noqa: ANN001
    """The config the arm would run the record's trial with today: its swept values (and a
    confirmation's seed, n and replicates; a search trial's timing repeats) applied to the
    arm's config."""
    recorded = record.get("params") or {}
    params = {key: recorded[key] for key in record.get("swept", []) if key in recorded}
    if record.get("confirm"):  # its seed, and at a later look its n (``fresh``: what it overrode)
        params.update(record.get("fresh") or {"seed": record["seed"]})
        return with_params(arm.cfg, params)
    return with_params(searching(arm.cfg), params) if params else searching(arm.cfg)


def check_records_match(run_dir: Path, records: list[dict], arms: list) -> None:  # noqa: ANN001
    """Refuse (one line naming the affected arms and the keys that differ) a run folder holding
    records of an arm made under settings other than the arm's today; never mix them."""
    by_name = {arm.name: arm for arm in arms}
    stale: dict[str, list[dict]] = {}
    first_keys = ""
    for rec in records:
        arm = by_name.get(rec.get("arm"))
        if arm is None or not rec.get("config_key"):
            continue  # another arm's (not run now), or failed before its config was resolved
        cfg = now_of(arm, rec)
        if config_key(cfg) == rec["config_key"]:
            continue
        if not stale:
            first_keys = differing_keys(run_dir, rec["config_key"], (settings(cfg), model_specs(cfg)))
        stale.setdefault(arm.name, []).append(rec)
    if stale:
        which = ", ".join(f"{name} ({len(recs)} record(s))" for name, recs in stale.items())
        raise ConfigError("sweep.run_dir", str(run_dir),
                          f"a run folder of the same settings: {which} were made with other {first_keys}; set "
                          "sweep.study=NAME (or sweep.run_dir=DIR) for a new study, or re-run with that folder's "
                          "settings (its config.yaml keeps every one)")


def differing_keys(run_dir: Path, key: str, now: tuple[dict, dict]) -> str:
    """'eval.n_samples (300 then, 600 now), ...' from the remembered settings of `key`."""
    path = Path(run_dir) / "configs" / f"{key}.json"
    if not path.is_file():
        return "settings (their record names no saved config)"
    saved = json.loads(path.read_text())
    then = _named(saved["settings"], saved.get("model_specs", {}))
    flat = _named(json.loads(json.dumps(now[0], default=str)), json.loads(json.dumps(now[1], default=str)))
    differ = [k for k in sorted(set(then) | set(flat)) if then.get(k, "(unset)") != flat.get(k, "(unset)")]
    shown = [f"{k} ({then.get(k, '(unset)')!r} then, {flat.get(k, '(unset)')!r} now)" for k in differ[:3]]
    more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
    return "settings: " + ", ".join(shown) + more


def _named(values: dict, specs: dict) -> dict:
    """Flat config keys of the settings, with each model's key replaced by the config keys it
    was trained from (`refiner.train.steps`, not `models.refiner`)."""
    flat = {k: v for k, v in _flat(values).items() if not k.startswith("models.")}
    for need, spec in specs.items():
        for k, v in _flat(spec).items():
            flat[k if k.split(".")[0] in (need, "data") else f"{need}.{k}"] = v
    return flat


def _flat(obj: object, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}

"""`python -m sweeps.ship [OVERRIDES]`: ship the config's shippable models with the package.

Ships every model the arms need (their methods' and their track's evaluators) that declares
`ship` (registry.ModelSpec: the text substrate's evaluator LM, its MDLM and autoregressive
baselines, a family's own models), each one already trained into the cache: its weights
rounded through fp16, its held-out fit measured again on the rounded weights (the model's own
`measure`), written to `lightning_modules/shipped/<key>.pt` with its training record and
curve. The local cache entry is replaced by the rounded weights, so this machine scores with
exactly what users will load. Nothing is trained here: a model not in the cache is listed
and skipped (train it with `wsbench train` and the same overrides).
"""

from __future__ import annotations

import inspect
import sys

from lightning_modules import shipped
from lightning_modules.core.registry import METHODS, MODELS
from lightning_modules.metrics.feature_net import weights_hash
from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.errors import ConfigError
from sweeps.models import ModelStore, track_of


def ship_jobs(arms: list, store: ModelStore) -> dict[str, tuple[str, object]]:  # noqa: ANN001
    """{key: (role, config)}: each arm's shippable models (its track's evaluators first, then
    its method's), first use first."""
    jobs: dict[str, tuple[str, object]] = {}
    for arm in arms:
        for role in (*track_of(arm.cfg).evaluators, *METHODS.get(arm.cfg.method.name).needs):
            if MODELS.get(role).ship:
                jobs.setdefault(store.key(role, arm.cfg), (role, arm.cfg))
    return jobs


def ship_one(store: ModelStore, role: str, cfg, log=print) -> str:  # noqa: ANN001
    """Round one cached model to fp16, measure it again, write its shipped file; its key."""
    key = store.key(role, cfg)
    model = store.get(role, cfg)
    trained = dict(store.train_info[key])
    model.load_state_dict(shipped.rounded(model.state_dict()))
    measure = MODELS.get(role).measure
    takes_get = len(inspect.signature(measure).parameters) > 3  # measured through another model (a head)
    measured = measure(model, cfg, store.data(cfg), *([lambda other: store.get(other, cfg)] if takes_get else []))
    info = {**trained, **measured, "weights_hash": weights_hash(model), "weights_dtype": "float16"}
    info.update({f"trained_{k}": trained.get(k) for k, v in measured.items() if isinstance(v, float)})
    meta = {"spec": MODELS.get(role).spec(cfg), "train": info, "curve": store.curve_text(key)}
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    shipped.write(shipped.SHIPPED_DIR / f"{key}.pt", state, meta)
    store.cache.save(key, state, {"spec": meta["spec"], "train": info}, files={"curve.csv": meta["curve"]}
                     if meta["curve"] else None)
    store.train_info[key] = info
    fits = ", ".join(f"{k} {v:.4f} (fp32 {trained.get(k, float('nan')):.4f})" for k, v in measured.items()
                     if isinstance(v, float))
    log(f"shipped {role} [{key}]: {fits}; {shipped.SHIPPED_DIR / (key + '.pt')}")
    return key


def ship(overrides: list[str], log=print) -> list[str]:  # noqa: ANN001
    """Ship every trained, not yet shipped model the config's arms need that declares `ship`;
    the keys shipped."""
    cfg, arms = build_arms(overrides)
    store = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    jobs = ship_jobs(arms, store)
    if not jobs:
        raise ConfigError("experiment", cfg.experiment, "a study whose arms need shippable models (models that "
                          "declare ship=True, such as the text substrate's: experiment=text_substrate)")
    done = []
    for key, (role, role_cfg) in jobs.items():
        if shipped.find(key):
            log(f"{role} [{key}]: already shipped")
        elif not store.cache.has(key):
            log(f"{role} [{key}]: not trained yet (wsbench train with the same overrides); skipped")
        else:
            done.append(ship_one(store, role, role_cfg, log))
    return done


if __name__ == "__main__":
    try:
        ship(sys.argv[1:])
    except ConfigError as err:  # one line and exit 2, as the CLI does
        print(f"sweeps.ship: error: {err}", file=sys.stderr)
        sys.exit(2)

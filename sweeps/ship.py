"""`python -m sweeps.ship [OVERRIDES]`: ship the config's text substrate with the package.

Ships the evaluator LM and every substrate model the arms need (the MDLM and autoregressive
baselines and their convergence runs), each one already trained into the cache: its weights
rounded through fp16, its held-out fit measured again on the rounded weights (the model's own
`measure`), written to `lightning_modules/shipped/<key>.pt` with its training record and
curve. The local cache entry is replaced by the rounded weights, so this machine scores with
exactly what users will load. Nothing is trained here: a model not in the cache is listed
and skipped (train it with `wsbench train` and the same overrides).
"""

from __future__ import annotations

import sys

from lightning_modules import shipped
from lightning_modules.core.registry import METHODS, MODELS
from lightning_modules.metrics.feature_net import weights_hash
from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.errors import ConfigError
from sweeps.models import ModelStore


def substrate_jobs(cfg, arms: list, store: ModelStore) -> dict[str, tuple[str, object]]:  # noqa: ANN001
    """{key: (role, config)}: the evaluator, then each arm's substrate models, first use first."""
    jobs = {store.key("text_lm", cfg): ("text_lm", cfg)}
    for arm in arms:
        for role in METHODS.get(arm.cfg.method.name).needs:
            if role in (arm.cfg.get("substrate") or {}):
                jobs.setdefault(store.key(role, arm.cfg), (role, arm.cfg))
    return jobs


def ship_one(store: ModelStore, role: str, cfg, log=print) -> str:  # noqa: ANN001
    """Round one cached model to fp16, measure it again, write its shipped file; its key."""
    key = store.key(role, cfg)
    model = store.get(role, cfg)
    trained = dict(store.train_info[key])
    model.load_state_dict(shipped.rounded(model.state_dict()))
    measured = MODELS.get(role).measure(model, cfg, store.data(cfg))
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
    """Ship every trained, not yet shipped model of the config's text substrate; the keys shipped."""
    cfg, arms = build_arms(overrides)
    if str(cfg.track) != "text":
        raise ConfigError("track", cfg.track, "text: only the text substrate ships (experiment=text_substrate)")
    store = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    done = []
    for key, (role, role_cfg) in substrate_jobs(cfg, arms, store).items():
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

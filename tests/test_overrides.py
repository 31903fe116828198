"""What a command-line override means for a study's arms, and records that mean what their
labels say: the override rule, per-arm changes, arm names, resume by the settings a record
was made with (run through the CLI on experiment=smoke)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from sweeps.cli import USAGE, main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ["-q", "experiment=smoke"]
ARMS = {"noise_start[indep]": ("noise_start", "baseline", None), "warm_start[gmm4]": ("warm_start", "method", "gmm"),
        "drafter_only[gmm4]": ("drafter_only", "drafter", "gmm")}


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def _sweep(*words: str) -> int:
    """`wsbench sweep WORDS` with the flags first (argparse takes no flag between overrides)."""
    flags = [w for i, w in enumerate(words) if w.startswith("-") or (i and words[i - 1] == "--cfg")]
    return main(["sweep", *flags, *[w for w in words if w not in flags]])


def _refused(capsys, *overrides: str) -> str:
    """The one line a refused command prints (exit code 2)."""
    capsys.readouterr()
    assert _sweep(*SMOKE, *overrides) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_key_an_arm_sets_is_refused_naming_the_arms_and_the_per_arm_form(workdir, capsys):
    line = _refused(capsys, "method=sdedit")
    assert line.startswith("wsbench: error: method='sdedit' is not allowed")
    assert "noise_start[indep], warm_start[gmm4], drafter_only[gmm4]" in line
    assert "sweep.arms.<name>.set+=[method=sdedit]" in line
    line = _refused(capsys, "drafter.n_components=16")
    assert "warm_start[gmm4], drafter_only[gmm4] set drafter.n_components=4" in line and "noise_start" not in line
    line = _refused(capsys, "refiner.pairing=minibatch_ot")
    assert "arm(s) noise_start[indep], warm_start[gmm4] set refiner.pairing=independent, " \
           "refiner.pairing=minibatch_ot" in line
    # A key no arm sets applies to every arm and is checked in each: the error names the arm.
    line = _refused(capsys, "method.t0=0.7")
    assert "method.t0=0.7 is not allowed: 0 for noise_start" in line
    assert "(in arm noise_start[indep]; for some arms only: sweep.arms.<name>.set+=[method.t0=0.7])" in line
    assert not list(workdir.rglob("trials.jsonl"))


def test_an_arm_runs_the_method_and_drafter_its_name_says(workdir, capsys):
    line = _refused(capsys, "sweep.arms.noise_start[indep].set+=[method=sdedit]")
    assert "sweep.arms.noise_start[indep]='method=sdedit' is not allowed: method noise_start" in line
    line = _refused(capsys, "sweep.arms.warm_start[gmm4].set=[method=warm_start, drafter=vae]")
    assert "sweep.arms.warm_start[gmm4]='drafter=vae' is not allowed: drafter gmm" in line
    # A new arm of another method under a name of its own is fine.
    assert _sweep(*SMOKE, "--show-config", "+sweep.arms.sdedit[gmm4].set=[method=sdedit, drafter=gmm, "
                  "drafter.n_components=4]", "sweep.arms.sdedit[gmm4].space={method.t0: [0.8]}") == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    arm = next(d for d in docs[1:] if d["arm"] == "sdedit[gmm4]")
    assert arm["config"]["method"]["name"] == "sdedit" and arm["space"] == {"method.t0": [0.8]}


def test_unknown_arms_and_misspelt_keys_are_refused_with_a_suggestion(workdir, capsys):
    line = _refused(capsys, "sweep.arms.warm_start[gmm5].space={method.t0: [0.7]}")
    assert "an arm of this study: noise_start[indep], warm_start[gmm4], drafter_only[gmm4] " \
           "(did you mean warm_start[gmm4]?)" in line
    assert "(did you mean method.t0?)" in _refused(capsys, "method.t00=1")
    assert "(did you mean eval.n_samples?)" in _refused(capsys, "eval.n_sampels=600")
    assert "(did you mean sdedit?)" in _refused(capsys, "method=sdedti")
    assert "(did you mean noise_start[indep]?)" in _refused(capsys, "sweep.only=[noise_start]")
    assert "(did you mean drafter.n_components?)" in _refused(capsys, "drafter.n_component=3")
    line = _refused(capsys, "hydra.run.dir=out")
    assert "hydra.run.dir='out' is not allowed" in line and "sweep.run_dir" in line
    assert not list(workdir.rglob("trials.jsonl"))


def test_show_config_validates_and_prints_each_arms_resolved_config(workdir, capsys):
    line = _refused(capsys, "--show-config", "sweep.arms.warm_start[gmm4].set+=[method.t0=abc]")
    assert "method.t0='abc' is not allowed" in line and "(in arm warm_start[gmm4])" in line
    assert _sweep(*SMOKE, "--cfg", "job", "sweep.arms.warm_start[gmm4].set+=[method.solver=heun]") == 0
    study, *arms = yaml.safe_load_all(capsys.readouterr().out)
    assert study["sweep"]["study"] == "smoke" and [a["arm"] for a in arms] == list(ARMS)
    solvers = {a["arm"]: a["config"]["method"].get("solver") for a in arms}
    assert solvers == {"noise_start[indep]": "euler", "warm_start[gmm4]": "heun", "drafter_only[gmm4]": None}
    assert {a["arm"]: a["config"]["method"]["name"] for a in arms} == {k: v[0] for k, v in ARMS.items()}


def test_one_arm_changed_and_every_record_says_what_ran(workdir, capsys):
    """A per-arm change reaches that arm only; sweep.only runs some arms; every record's
    method, role and drafter are its arm's."""
    assert _sweep(*SMOKE, "sweep.confirm=false", "sweep.arms.warm_start[gmm4].set+=[method.solver=heun]",
                  "sweep.arms.warm_start[gmm4].space={method.t0: [0.8], method.steps: [1]}",
                  "sweep.only=['warm_start[gmm4]', 'noise_start[indep]']") == 0
    records = _records(workdir / "runs" / "smoke")
    assert sorted(r["arm"] for r in records) == ["noise_start[indep]"] * 3 + ["warm_start[gmm4]"]
    for r in records:
        method, role, drafter = ARMS[r["arm"]]
        assert (r["method"], r["role"], r["params"].get("drafter.name")) == (method, role, drafter)
        assert r["params"]["method.solver"] == ("heun" if r["arm"] == "warm_start[gmm4]" else "euler")
        assert r["format"] == 2 and len(r["config_key"]) == 16 and r["swept"] == list(
            {"noise_start[indep]": ["method.steps"], "warm_start[gmm4]": ["method.t0", "method.steps"]}[r["arm"]])
        saved = json.loads((workdir / "runs" / "smoke" / "configs" / f"{r['config_key']}.json").read_text())
        assert saved["settings"]["method"]["solver"] == r["params"]["method.solver"]


def test_resume_reuses_only_records_of_the_same_settings(workdir, capsys):
    """Each changed setting refuses naming exactly the arms it affects; logger and progress
    options recompute nothing; a grown grid computes only its new point; config.yaml keeps
    every config the folder was run with."""
    base = [*SMOKE, "sweep.confirm=false"]
    assert _sweep(*base) == 0
    run_dir = workdir / "runs" / "smoke"
    before = (run_dir / "trials.jsonl").read_bytes()
    affected = {
        "eval.n_samples=600": (list(ARMS), "eval.n_samples (300 then, 600 now)"),
        "refiner.train.steps=50": (["noise_start[indep]", "warm_start[gmm4]"], "train.steps (60 then, 50 now)"),
        "sweep.arms.warm_start[gmm4].set+=[method.solver=heun]": (["warm_start[gmm4]"],
                                                                  "method.solver ('euler' then, 'heun' now)"),
        "data.n_train=3000": (list(ARMS), "data.n_train (20000 then, 3000 now)"),
    }
    for override, (arms, why) in affected.items():
        capsys.readouterr()
        assert _sweep(*base, override) == 2, override
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and why in line and "sweep.study=NAME" in line, line
        named = [a for a in ARMS if f"{a} (" in line]
        assert named == arms, (override, line)
    assert (run_dir / "trials.jsonl").read_bytes() == before  # refused: nothing written
    for same in (["logger=wandb", "logger.mode=disabled"], ["-v"], ["eval.save_samples=10"]):
        assert _sweep(*base, *same) == 0
        assert (run_dir / "trials.jsonl").read_bytes() == before, same
    assert _sweep(*base, "sweep.arms.noise_start[indep].space={method.steps: [1, 2, 4, 8]}") == 0
    new = _records(run_dir)[len(before.splitlines()):]
    assert [(r["arm"], r["params"]["method.steps"]) for r in new] == [("noise_start[indep]", 8)]
    docs = (run_dir / "config.yaml").read_text().split("\n---\n")
    headers = [d.splitlines()[0] for d in docs]
    assert len(docs) == 4 and all(h.startswith("# ") for h in headers)  # base, logger, save_samples, grid
    assert "logger=wandb" in headers[1] and yaml.safe_load(docs[1])["logger"]["mode"] == "disabled"


def test_a_folder_of_the_previous_version_is_refused_in_one_line(workdir, capsys):
    assert _sweep(*SMOKE, "sweep.confirm=false", "sweep.only=['drafter_only[gmm4]']") == 0
    path = workdir / "runs" / "smoke" / "trials.jsonl"
    old = [{k: v for k, v in r.items() if k not in ("format", "config_key", "swept")} for r in _records(path.parent)]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    line = _refused(capsys)
    assert "holds 1 record(s) written before records carried their settings (config_key)" in line
    assert "sweep.study=NAME" in line and path.read_text().count("\n") == 1


def _examples(text: str) -> list[list[str]]:
    """The wsbench sweep/train/worker/quickstart commands of a text (README code blocks, --help),
    continuation lines joined, comments dropped, as override lists."""
    out, joined = [], text.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.split(" # ")[0].strip()
        if not line.startswith("wsbench ") or "..." in line or "[overrides]" in line:
            continue
        words = shlex.split(line)[1:]
        command, rest = words[0], words[1:]
        if command not in ("sweep", "train", "worker", "quickstart"):
            continue
        overrides, skip = [], False
        for word in rest:
            if skip:
                skip = False
            elif word == "--storage":
                skip = True  # a server URL: not part of the config's validation
            elif not word.startswith("-"):
                overrides.append(word)
        out.append((["experiment=quickstart"] if command == "quickstart" else []) + overrides)
    return out


def test_every_example_of_the_readme_the_docs_and_the_help_composes_under_the_rule(workdir, monkeypatch):
    from sweeps.arms import show_config

    monkeypatch.chdir(ROOT)  # plugin paths in the examples are relative to the project
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = "\n".join(block.split("\n", 1)[1] for page in pages for block in page.read_text().split("```")[1::2]
                       if block.startswith("bash"))
    examples = [list(e) for e in dict.fromkeys(tuple(e) for e in _examples(blocks) + _examples(USAGE))]
    assert len(examples) >= 15 and any("set+=" in " ".join(e) for e in _examples(USAGE))
    for overrides in examples:
        if "device=cuda" in overrides:
            continue  # needs a GPU (tests/test_device.py)
        docs = show_config(overrides).split("\n---\n")
        assert yaml.safe_load(docs[0])["sweep"]["study"], overrides


@pytest.mark.parametrize("override", ["method=noise_start", "drafter=vae"])
def test_a_study_without_arms_takes_every_key(workdir, override):
    """No experiment arms: the single arm is the configured method, named after it."""
    from sweeps.arms import build_arms

    _, arms = build_arms([override])
    assert [a.name for a in arms] == [arms[0].cfg.method.name]

"""The confirmation stage: after the search, each arm's picked (best) setting is re-evaluated
on fresh seeds, written as a `confirm` record, used by the tables, never told to Optuna, and
not recomputed by a re-run."""

import json

import optuna
import pytest
from analysis_runs import all_records, confirmations, copy_run, md_cells, of_arm, records

from analysis import write_report
from sweeps.runner import CONFIRM_SEED_OFFSET
from sweeps.study import run_study

QUIET = {"log": lambda *args, **kwargs: None}


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _best(recs, metric):
    """Each arm's best trial worked out from the records: lowest metric, fewer NFE on ties."""
    done = [r for r in recs if r["state"] == "COMPLETE"]
    arms = dict.fromkeys(r["arm"] for r in done)
    return {a: min(of_arm(done, a), key=lambda r: (r["quality"][metric], r["cost"]["nfe"])) for a in arms}


@pytest.mark.parametrize("track", ["points", "images", "text"])
def test_each_arm_best_setting_is_confirmed_on_fresh_seeds(smoke_runs, track):
    run = smoke_runs[track]
    recs, again = records(run), confirmations(run)
    metric = recs[0]["primary_metric"]
    best = _best(recs, metric)
    first = [c for c in again if c["look"] == 1]
    # Look 1 holds every arm's best setting (and the other finalists: sweeps.confirm).
    assert {(a, b["trial"]) for a, b in best.items()} <= {(c["arm"], c["confirm_of"]) for c in first}
    by_trial = {(r["arm"], r["trial"]): r for r in recs}
    for c in again:
        picked = by_trial[(c["arm"], c["confirm_of"])]
        assert c["confirm"] is True and c["state"] == "COMPLETE" and c["trial"] == picked["trial"]
        assert c["seed"] == picked["seed"] + CONFIRM_SEED_OFFSET
        swept = {k: v for k, v in picked["params"].items() if k in picked["knobs"]}
        assert {k: c["params"][k] for k in swept} == swept  # the same setting
        assert c["config_hash"] != picked["config_hash"]  # another seed, another identity
        assert len(c["quality_boot"][metric]) == c["rule"]["n_boot"] == 40  # the smoke runs' confirm_boot
        assert "samples_path" not in c  # the search trial's samples are kept as they are
    for c in first:
        picked = by_trial[(c["arm"], c["confirm_of"])]
        assert c["n_samples"] == picked["n_samples"]
        # Fresh samples: the metrics as a whole differ (one discrete metric, e.g. hist_tv in
        # steps of 1/n, may tie by chance).
        values = [k for k in picked["quality"] if not k.endswith("_ci")]
        assert [c["quality"][k] for k in values] != [picked["quality"][k] for k in values]


def test_tables_report_the_confirmation_of_the_picked_setting(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    summary = write_report(run)
    metric = summary["metric"]
    best = _best(records(run), metric)
    by_arm = {c["arm"]: c for c in confirmations(run) if c["confirm_of"] == best[c["arm"]]["trial"] and c["look"] == 1}
    md = (run / "report" / "speedup.md").read_text()
    assert md.splitlines()[0].startswith(f"| arm | best {metric} [CI], fresh seeds | in search |")
    assert "re-evaluated on fresh seeds (seed 1000003)" in md
    for arm, b in summary["best_quality"].items():
        c = by_arm[arm]
        assert b["value"] == c["quality"][metric] and [b["lo"], b["hi"]] == c["quality"][f"{metric}_ci"]
        assert b["search"]["value"] == best[arm]["quality"][metric]
        assert b["confirmed"] == {"seed": c["seed"], "counters": c["cost"].get("counters") or {}}
        cells = md_cells(md, arm)
        assert float(cells[1].split(" [")[0]) == pytest.approx(c["quality"][metric], rel=1e-3)
        assert float(cells[2]) == pytest.approx(best[arm]["quality"][metric], rel=1e-3)
    # The fronts and speed-ups stay on the search trials (shared seeds, paired).
    assert sum(len(f) for f in summary["front"].values()) <= len(records(run))
    assert summary["n_trials"] == {a: len(of_arm(records(run), a)) for a in summary["n_trials"]}


def test_a_rerun_recomputes_no_confirmation_and_optuna_never_sees_them(smoke_runs, tmp_path, monkeypatch):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    before = (run / "trials.jsonl").read_text()
    from sweeps import runner as runner_mod

    calls = []
    real = runner_mod.SweepRunner._evaluate_into
    monkeypatch.setattr(runner_mod.SweepRunner, "_evaluate_into",
                        lambda self, record, cfg: calls.append(record["arm"]) or real(self, record, cfg))  # fmt: skip
    run_study(["experiment=smoke", f"sweep.run_dir={run}"], report=False, **QUIET)
    assert calls == [] and (run / "trials.jsonl").read_text() == before
    # A lost confirmation is the only thing re-run, once.
    lines = before.splitlines()
    dropped = next(i for i, line in enumerate(lines) if json.loads(line).get("confirm"))
    (run / "trials.jsonl").write_text("".join(x + "\n" for i, x in enumerate(lines) if i != dropped))
    run_study(["experiment=smoke", f"sweep.run_dir={run}"], report=False, **QUIET)
    assert calls == [json.loads(lines[dropped])["arm"]]
    assert len(all_records(run)) == len(lines)
    # The smoke sweep's Optuna studies (the copy has no journal) hold the search trials only.
    original = smoke_runs["points"]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(original / "optuna.journal"))
    )
    for arm in dict.fromkeys(r["arm"] for r in records(original)):
        study = optuna.load_study(study_name=f"smoke:{arm}", storage=storage)
        assert len(study.trials) == len(of_arm(records(original), arm))


def test_confirmation_can_be_turned_off_and_the_table_says_so(tmp_path):
    run = tmp_path / "off"
    run_study(["experiment=smoke", f"sweep.run_dir={run}", "sweep.confirm=false"], report=False, **QUIET)
    assert confirmations(run) == [] and records(run)
    write_report(run)
    md = (run / "report" / "speedup.md").read_text()
    assert "not re-evaluated on fresh seeds (sweep.confirm=false)" in md
    assert "fresh seeds |" not in md.splitlines()[0]

"""write_report on the text track (gen PPL under an evaluator LM, diversity beside it,
samples.md) and the W&B table of sample texts, on the smoke_text sweep's real run folder
and on copies of its records with hand-set values.

Hand computation, gen PPL, NFE axis (wall-clock = 0.5 s x NFE + 0.5 s drafter for ws_dfm):
- masked (baseline): best 6.0, CI [5.5, 6.5] at NFE 16 -> target 6.0 (its point estimate),
  reached first at NFE 16; NFE 32 (6.25) is dominated.
- ws_dfm[ngram3]: 5.0 at NFE 8 (t0 0.8) is the cheapest trial meeting 6.0 (6.5 at NFE 4
  misses it) -> 16 / 8 = 2.0x. Wall-clock: 8 / (4 + 0.5) = 1.8x. That best gen PPL came
  with collapsed entropy (1.5 vs 3.3 on held-out text): the tables must show it beside it.
- drafter_only[ngram3]: 10.0 at NFE 0 -> never reaches.
"""

import json

import numpy as np
import pytest
from analysis_runs import (
    copy_run,
    md_cells,
    md_rows,
    of_arm,
    png_size,
    records,
    write_records,
)
from text_runs import DRAFT, FLOOR, MASK, WS, ci, make_text_run

from analysis import format_summary_table, write_report
from analysis.tracks.text import table_diversity

N_SHOWN = 3  # samples per trial in samples.md


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


@pytest.fixture()
def text_run(smoke_runs, tmp_path):
    return make_text_run(smoke_runs["text"], tmp_path / "run")


@pytest.fixture()
def no_npy_for_text(monkeypatch):
    """Fail if the report tries the scatter/image samples code or np.load on a .json file."""
    import analysis.tracks.images
    import analysis.tracks.points

    real_load = np.load

    def guarded_load(file, *args, **kwargs):
        assert not str(file).endswith(".json"), f"np.load on a text file: {file}"
        return real_load(file, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("image/scatter samples code called on a text run")

    monkeypatch.setattr(np, "load", guarded_load)
    monkeypatch.setattr(analysis.tracks.points, "plot_scatter_samples", refuse)
    monkeypatch.setattr(analysis.tracks.images, "plot_image_samples", refuse)


def _knob_headers(summary):
    return [k.removeprefix("method.") for k in summary["knobs"]]


def _knob_text(run, arm, trial):
    """``t0 0.8 · steps 8 · ...``: a trial's knobs as samples.md lists them."""
    rec = next(r for r in of_arm(records(run), arm) if r["trial"] == trial)
    return " · ".join(
        f"{k.removeprefix('method.')} {rec['params'][k]:g}"
        if isinstance(rec["params"][k], float | int)
        else f"{k.removeprefix('method.')} {rec['params'][k]}"
        for k in rec["knobs"]
    )


def _label(rec):
    return f"{rec['metric_info']['gen_ppl']['label']} ({rec['evaluator']['name']})"


def test_real_text_run_report(smoke_runs, tmp_path, no_npy_for_text):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    recs = records(run)
    summary = write_report(run)
    out = run / "report"
    assert summary["track"] == "text" and summary["metric"] == "gen_ppl"
    assert summary["metric_label"] == _label(recs[0])
    assert summary["baseline"] == MASK and summary["baselines"] == [MASK, "mdlm", "ar"]  # smoke_text has all three
    assert summary["diversity_metrics"] == ["entropy", "distinct_2"]  # declared higher-is-better
    assert list(summary["speedup_vs_t0"]) == [WS]
    assert "samples.md" in summary["files"] and not (out / "samples.png").exists()
    md = (out / "samples.md").read_text()
    # The warm arm's saved texts carry their drafts: each draft above its refined sample.
    saved = json.loads((run / of_arm(recs, WS)[0]["samples_path"]).read_text())
    assert saved["drafts"] and md.index(saved["drafts"][0]) < md.index(saved["samples"][0])
    reference = json.loads((run / "reference.json").read_text())["samples"]
    assert reference[0] in md and md.index("## Reference") < md.index(f"## {MASK}")
    front = (out / "front.md").read_text()
    info = recs[0]["metric_info"]
    assert md_rows(front)[0] == [
        "arm", "NFE per sample", f"{_label(recs[0])} [CI]", f"{info['entropy']['label']} [CI]",
        f"{info['distinct_2']['label']} [CI]", *summary["counters"], *_knob_headers(summary), "trial",
    ]  # fmt: skip
    assert summary["counters"] == ["heavy_calls", "light_calls", "light_steps"]  # the scheduled arm's
    assert set(md_cells(front, DRAFT)[5:-1]) == {"—"}  # drafter_only declares no knob


def test_text_summary_fronts_speedups_and_diversity(text_run, no_npy_for_text):
    summary = write_report(text_run)
    out = text_run / "report"
    rec = records(text_run)[0]
    assert json.loads((out / "summary.json").read_text()) == summary

    assert summary["metric"] == "gen_ppl" and summary["metric_label"] == _label(rec)
    assert summary["evaluators"] == [{**rec["evaluator"], "arms": [MASK, WS, DRAFT], "n_trials": 9}]
    assert summary["baseline"] == MASK and summary["baselines"] == [MASK]
    assert summary["reference_floor"] == FLOOR
    assert summary["front"] == {
        MASK: [[4, 12.0], [8, 8.0], [16, 6.0]],
        WS: [[2, 7.0], [4, 6.5], [8, 5.0]],
        DRAFT: [[0, 10.0]],
    }
    assert summary["fronts_by_axis"]["nfe"] == summary["front"]

    # Diversity at every front point, parallel to `front`.
    assert summary["diversity_metrics"] == ["entropy", "distinct_2", "distinct_4"]
    ws = summary["front_diversity"][WS]
    assert [(p["trial"], p["entropy"], p["distinct_2"]) for p in ws] == [
        (2, 2.9, 0.38),
        (1, 3.15, 0.41),
        (3, 1.5, 0.12),
    ]
    assert ws[2]["entropy_ci"] == ci(1.5, 0.05) and ws[2]["distinct_4"] == 0.12 + 0.25
    for axis in ("nfe", "wallclock"):
        by_axis = summary["front_diversity_by_axis"][axis]
        assert {a: len(p) for a, p in by_axis.items()} == {
            a: len(p) for a, p in summary["fronts_by_axis"][axis].items()
        }
    best = summary["best_quality"][WS]
    assert (best["value"], best["trial"], best["floor"]) == (5.0, 3, 4.9)
    assert best["diversity"]["entropy"] == 1.5

    vs_mask = summary["speedup_at_iso_quality"][MASK]
    assert (vs_mask[WS]["status"], vs_mask[WS]["value"], vs_mask[WS]["text"]) == ("ok", 2.0, "2.0x")
    assert (vs_mask[WS]["target"], vs_mask[WS]["baseline_cost"]) == (6.0, 16.0)
    assert vs_mask[DRAFT]["text"] == "never reaches"
    wall = summary["speedup_by_axis"]["wallclock"][MASK][WS]
    assert wall["value"] == pytest.approx(8 / 4.5) and wall["text"] == "1.8x"
    assert [(r["t0"], r["text"]) for r in summary["speedup_vs_t0"][WS]] == [
        (0.5, "never reaches"),  # 6.5 at best
        (0.8, "2.0x"),  # 5.0 at NFE 8
    ]

    # Files: samples.md instead of the samples figure; no image grids.
    assert "samples.md" in summary["files"]
    assert not any(f.startswith(("samples.png", "samples.pdf", "grids/")) for f in summary["files"])
    assert not (out / "samples.png").exists() and not (out / "grids").exists()
    # Front figures carry the entropy panel under the gen PPL panel: 9 x 6.3 in at 150 dpi
    # (the legend sits beside the axes).
    assert png_size(out / "front_nfe.png") == (1350, 945)
    assert (out / "front_wallclock.pdf").read_bytes()[:4] == b"%PDF"


def test_text_tables_show_entropy_beside_gen_ppl(text_run, no_npy_for_text):
    summary = write_report(text_run)
    out = text_run / "report"
    rec = records(text_run)[0]
    label, info = _label(rec), rec["metric_info"]
    ent, d2 = info["entropy"]["label"], info["distinct_2"]["label"]
    front = (out / "front.md").read_text()
    knobs = _knob_headers(summary)
    assert md_rows(front)[0] == [
        "arm", "NFE per sample", f"{label} [CI]", f"{ent} [CI]", f"{d2} [CI]", *knobs, "trial"
    ]  # fmt: skip
    assert knobs[:2] == ["t0", "steps"]
    floor = "reference floor (held-out text)"
    assert md_cells(front, floor) == [floor, "—", "4.9", "3.3", "0.5", *["—"] * (len(knobs) + 1)]
    ws = [r for r in md_rows(front) if r[0] == WS]
    assert [r[:3] for r in ws] == [
        [WS, "2", "7 [6.5, 7.5]"],
        [WS, "4", "6.5 [6, 7]"],
        [WS, "8", "5 [4.5, 5.5]"],
    ]
    assert ws[2] == [
        WS,
        "8",
        "5 [4.5, 5.5]",
        "1.5 [1.45, 1.55]",
        "0.12 [0.11, 0.13]",
        "0.8",
        "8",
        "euler",
        "1",  # gate: off
        "3",
    ]
    assert len(md_rows(front)) == 2 + 1 + 3 + 3 + 1  # header, separator, floor row, front points
    note = front.strip().splitlines()[-1]
    lm = rec["evaluator"]
    assert note.startswith(f"Evaluator LM for gen PPL: {lm['name']} (val PPL {lm['val_ppl']:.4g}")
    assert f"weights {lm['weights_hash']}" in note and "parameters" in note
    assert "samples per trial: 100" in note and "higher = more diverse" in note

    tex = (out / "front.tex").read_text()
    assert (
        f"{ent} {{[}}CI{{]}}" in tex and "reference floor (held-out text) & --- & 4.9 & 3.3" in tex
    )

    speed = (out / "speedup.md").read_text()
    assert md_rows(speed)[0] == [
        "arm", f"best {label} [CI]", "in search", f"floor {label}", f"{ent} at best [CI]", f"floor {ent}",
        f"vs {MASK} (NFE)", f"vs {MASK} (FLOPs)", f"vs {MASK} (wall-clock)",
        f"vs {MASK} within 1% (NFE)", f"vs {MASK} within 1% (FLOPs)", f"vs {MASK} within 1% (wall-clock)",
    ]  # fmt: skip
    assert md_cells(speed, WS) == [
        WS,
        "5 [4.5, 5.5]",
        "5",
        "4.9",
        "1.5 [1.45, 1.55]",
        "3.3",
        "2.0x",
        "2.0x",  # FLOPs: 1000 per NFE, 16 against 8
        "1.8x",
        # Within 1% of masked's best (6 at 16 NFE: target 6.06) masked still needs 16 NFE.
        "2.0x",
        "2.0x",
        "1.8x",
    ]
    assert md_cells(speed, MASK)[4:] == ["3.25 [3.2, 3.3]", "3.3", *["baseline"] * 6]
    assert f"{ent} at best {{[}}CI{{]}}" in (out / "speedup.tex").read_text()

    lines = format_summary_table(summary).splitlines()
    assert lines[0] == f"smoke_text: {label}, speed-up vs {MASK}"
    assert f"{ent} at best" in lines[1]
    assert next(x for x in lines if x.startswith(WS)).split() == [
        WS,
        "5",
        "1.5",
        "8",
        "2.0x",
        "2.0x",
        "1.8x",
    ]
    assert lines[-1] == "Sample texts: samples.md in the report folder."

    with pytest.raises(ValueError, match="metric='entropy' is higher-is-better"):
        write_report(text_run, metric="entropy")


def test_samples_md(text_run, no_npy_for_text):
    write_report(text_run)
    md = (text_run / "report" / "samples.md").read_text()
    info = records(text_run)[0]["metric_info"]
    name = info["gen_ppl"]["label"]

    def section(start: str, end: str | None) -> str:
        return md[md.index(start) : md.index(end) if end else None]

    # Reference first, with the floor; a sample with ``` gets a longer fence.
    assert md.index("## Reference (held-out text)") < md.index(f"## {MASK}")
    assert "REFERENCE 0: Now is the winter of our discontent" in md
    assert "````text\na line with ``` three backticks inside\n````" in md
    assert "REFERENCE 3" not in md  # only the first few
    labels = [info[m]["label"] for m in ("gen_ppl", "entropy", "distinct_2", "distinct_4")]
    assert "{} 4.9, {} 3.3, {} 0.5, {} 0.8".format(*labels) in md

    # Arms in order, each with its best and cheapest trial.
    assert md.index(f"## {MASK}") < md.index(f"## {WS}") < md.index(f"## {DRAFT}")
    mask = section(f"## {MASK}", f"## {WS}")
    assert f"### best {name}: trial 2" in mask and "### cheapest (nfe): trial 0" in mask
    assert f"{_knob_text(text_run, MASK, 2)} · NFE 16" in mask and "steps 16" in mask
    assert f"{name} 6 [5.5, 6.5] · {labels[1]} 3.25 [3.2, 3.3]" in mask
    for i in range(N_SHOWN):
        assert f"{MASK} t2 sample {i}:" in mask and f"{MASK} t0 sample {i}:" in mask
    assert f"{MASK} t2 sample {N_SHOWN}" not in mask and f"{MASK} t1 sample" not in mask
    assert ", draft:" not in mask and ", refined:" not in mask  # no drafts for the baseline

    ws = section(f"## {WS}", f"## {DRAFT}")
    assert f"### best {name}: trial 3" in ws and "### cheapest (nfe): trial 2" in ws
    assert f"{_knob_text(text_run, WS, 3)} · NFE 8" in ws and "t0 0.8 · steps 8" in ws
    assert f"{labels[1]} 1.5 [1.45, 1.55]" in ws
    for trial in (3, 2):
        for i in range(N_SHOWN):
            draft, sample = f"{WS} t{trial} draft {i}:", f"{WS} t{trial} sample {i}:"
            assert ws.index(draft) < ws.index(sample)  # the draft above its refined sample
    assert "Sample 1, draft:" in ws and "Sample 1, refined:" in ws

    drafter = section(f"## {DRAFT}", None)
    assert f"### best {name} = cheapest (nfe): trial 0" in drafter
    assert f"{DRAFT} t0 sample 0:" in drafter


def test_samples_md_without_reference_and_missing_file(smoke_runs, tmp_path, no_npy_for_text):
    run = make_text_run(smoke_runs["text"], tmp_path / "run", reference=False)
    (run / next(r for r in of_arm(records(run), WS) if r["trial"] == 3)["samples_path"]).unlink()
    write_report(run)
    md = (run / "report" / "samples.md").read_text()
    assert "## Reference" not in md and md.index("# Sample texts") < md.index(f"## {MASK}")
    assert "_samples file missing: 3.json_" in md


def test_mixed_evaluators_are_flagged(text_run, no_npy_for_text):
    recs = records(text_run)
    for r in recs:
        if r["arm"] == WS and r["state"] == "COMPLETE":
            r["evaluator"].update(weights_hash="ffffeeeeddddcccc", val_ppl=5.6)
    write_records(text_run, recs)
    with pytest.warns(UserWarning, match="mix 2 different evaluator LMs"):
        summary = write_report(text_run)
    assert summary["metric_label"].endswith("; MIXED: 2 different evaluator LMs)")
    assert [(e["weights_hash"], e["arms"], e["n_trials"]) for e in summary["evaluators"]] == [
        (recs[0]["evaluator"]["weights_hash"], [MASK, DRAFT], 5),
        ("ffffeeeeddddcccc", [WS], 4),  # the failed trial carries no evaluator
    ]
    last = (text_run / "report" / "front.md").read_text().strip().splitlines()[-1]
    assert last.startswith("WARNING: the trials mix 2 different evaluator LMs")
    assert "weights ffffeeeeddddcccc" in last and f"used by {WS}" in last


def test_track_decides_the_renderer_not_the_file_contents(text_run, no_npy_for_text):
    # Neither a primary metric nor an evaluator LM recorded: the track still says text.
    recs = records(text_run)
    for r in recs:
        r.pop("primary_metric", None), r.pop("evaluator", None)
    summary = write_report(write_records(text_run, recs))
    assert (
        summary["metric_label"]
        == f"{recs[0]['metric_info']['gen_ppl']['label']} (evaluator not recorded)"
    )
    assert "samples.md" in summary["files"]


def test_diversity_columns():
    # Front table: entropy and the smallest-n distinct-n, whatever n the study asked for.
    assert table_diversity(["entropy", "distinct_8", "distinct_4"]) == ["entropy", "distinct_4"]
    assert table_diversity(["distinct_12"]) == ["distinct_12"]
    assert table_diversity(["coverage"]) == []


# --- W&B: the study table built from summary.json ------------------------------------------


def _logger(tmp_path):
    from omegaconf import OmegaConf

    from sweeps.wandb_log import WandbLogger

    cfg = OmegaConf.create(
        {
            "logger": {"name": "wandb", "project": "wsbench", "entity": None,
                       "mode": "offline", "log_samples": True},
            "sweep": {"study": "shakespeare"},
        }
    )  # fmt: skip
    messages: list[str] = []
    return WandbLogger(cfg, tmp_path / "run", log=messages.append), messages


def test_wandb_study_table_has_entropy(text_run, tmp_path, fake_wandb, no_npy_for_text):
    summary = write_report(text_run)
    logger, messages = _logger(tmp_path)
    logger.study(summary)
    assert messages == []
    front = fake_wandb[-1].logged[0]["pareto_front"]
    assert front.columns == ["arm", "nfe", "gen_ppl", "entropy", "distinct_2", "distinct_4"]
    assert [WS, 8.0, 5.0, 1.5, 0.12, 0.12 + 0.25] in front.data
    assert len(front.data) == 3 + 3 + 1

"""`wsbench figures` on real smoke runs of the three tracks: one three-panel fronts figure (PDF
and PNG) and a booktabs table; three axes, the legend outside them, one colour and marker per
method family across panels, a log axis exactly where a panel's values span more than 10x."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_runs import SMOKE_EXPERIMENTS, copy_run

from analysis.figures import log_scale_wanted, speedup_vs_t0_figure
from analysis.fronts import arm_fronts
from analysis.paper import fronts_figure
from analysis.study import load_study
from analysis.style import FAMILY_STYLES, LEGACY_FAMILIES
from analysis.trials import complete_trials

TRACKS = ("points", "images", "text")


@pytest.fixture(scope="module")
def runs(smoke_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    return [copy_run(smoke_runs[t], root / SMOKE_EXPERIMENTS[t]) for t in TRACKS]


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_cli_writes_one_figure_a_latex_table_and_the_image_grids(runs, tmp_path, capsys):
    from sweeps.cli import main

    out = tmp_path / "fig"
    assert main(["figures", *map(str, runs), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"fronts.pdf", "fronts.png", "fronts.tex", "fronts.md"} <= names
    assert (out / "fronts.pdf").read_bytes()[:5] == b"%PDF-"
    assert f"samples_{load_study(runs[1], 'flops').name}.png" in names  # the image study only
    assert not any(n.startswith("samples_") and "smoke_text" in n for n in names)
    tex = (out / "fronts.tex").read_text()
    assert tex.count(r"\toprule") == 1 and tex.count(r"\bottomrule") == 1 and tex.count(r"\midrule") == 3
    # every arm of every study has a row with its family
    for run in runs:
        study = load_study(run, "flops")
        for arm, family in study.families().items():
            assert f"{_tex(arm)} & {_tex(family)} &" in tex


def _tex(text: str) -> str:
    from analysis.tables import latex_escape

    return latex_escape(text)


def test_three_axes_legend_outside_one_style_per_family(runs):
    studies = [load_study(r, "flops") for r in runs]
    fig = fronts_figure(studies, "flops")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert not any(_overlaps(box, ax.get_window_extent(renderer)) for ax in axes)
    seen: dict[str, set] = {}
    markers: dict[str, set] = {}
    for ax in axes:
        for line in ax.get_lines():
            if line.get_gid():  # the arms' lines (gid = family); floors have none
                seen.setdefault(line.get_gid(), set()).add(line.get_color())
                if line.get_marker() not in (None, "None", ""):  # free drafters: a level line, no marker
                    markers.setdefault(line.get_gid(), set()).add(line.get_marker())
    families = {f for s in studies for f in s.families().values()}
    assert set(seen) == families and len(families) >= 4  # noise start, warm start, drafter alone, ...
    assert all(len(c) == 1 for c in seen.values()) and all(len(m) == 1 for m in markers.values())
    colors = [next(iter(c)) for c in seen.values()]
    assert len(set(colors)) == len(colors)  # and no two families share one
    assert all(next(iter(seen[f])) == FAMILY_STYLES[f][0] for f in families if f in FAMILY_STYLES)
    # the legend names each family (its colour and marker), then the arms
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[: len(families)] == list(dict.fromkeys(f for s in studies for f in s.families().values()))
    assert {a for s in studies for a in s.families()} <= set(labels)


def test_a_panel_is_log_scaled_exactly_where_its_values_span_more_than_10x(runs):
    studies = [load_study(r, "flops") for r in runs]
    fig = fronts_figure(studies, "flops")
    for ax, study in zip(fig.axes, studies, strict=False):
        values = [v for front in arm_fronts(study.trials, study.metric, "flops").values()
                  for v in front[f"q.{study.metric}"]]
        values.append(complete_trials(study.trials)[f"floor.{study.metric}"].median())
        assert ax.get_yscale() == ("log" if log_scale_wanted(np.array(values)) else "linear"), study.name
        costs = complete_trials(study.trials)["flops"].to_numpy(dtype=float)
        assert ax.get_xscale() == ("log" if log_scale_wanted(costs[costs > 0]) else "linear"), study.name


def test_log_scale_rule():
    assert log_scale_wanted(np.array([24.0, 0.4, 0.18]))  # digits: the 1-NFE baseline beside the rest
    assert not log_scale_wanted(np.array([0.18, 0.4, 1.2]))
    assert not log_scale_wanted(np.array([-0.01, 0.5, 30.0]))  # KID can be negative: no log axis
    assert not log_scale_wanted(np.array([np.nan]))


def test_the_registry_declares_the_families_old_records_are_read_with():
    from lightning_modules.core.registry import METHODS

    for name, family in LEGACY_FAMILIES.items():
        assert METHODS.get(name).family == family


def test_speedup_vs_t0_names_each_arm_once_beside_the_axes(runs):
    from analysis import build_summary, load_trials

    trials = load_trials(runs[0])
    summary = build_summary(trials, "hist_tv", "nfe")
    fig = speedup_vs_t0_figure(summary["speedup_vs_t0"], summary["baseline"])
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    arms = list(summary["speedup_vs_t0"])
    assert arms and labels[: len(arms)] == arms and len(labels) == len(set(labels))
    assert set(labels[len(arms):]) <= {"measured", "lower bound (≥)", "never reaches"}
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not _overlaps(ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer))


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    from sweeps.cli import main

    assert main(["figures", str(runs[0]), "--out", str(tmp_path / "o"), "--cost-axis", "joules"]) == 2
    assert capsys.readouterr().err.strip() == \
        "wsbench: error: --cost-axis='joules' is not allowed: one of nfe, wallclock, flops, blocks, latency"
    assert main(["figures", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("wsbench: error:")
    assert not (tmp_path / "o").exists()


def test_image_grids_show_each_arms_best_samples_and_a_warm_starts_drafts(runs):
    from analysis.paper_samples import GRID, samples_figure
    from analysis.picks import best_by_arm

    study = load_study(runs[1], "flops")
    picks = best_by_arm(study.trials, study.metric)
    fig = samples_figure(study)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in shown]
    expected = []
    for arm, row in picks.items():
        if isinstance(row.get("drafts_path"), str) and not row["drafter_alone"]:
            expected.append(f"{arm}\ndrafts")
        expected.append(f"{arm}\n")
    assert len(titles) == len(expected) and all(t.startswith(e) for t, e in zip(titles, expected, strict=True))
    saved = np.load(runs[1] / picks[next(iter(picks))]["samples_path"])
    side = GRID * (saved.shape[2] + 1) - 1
    assert shown[0].get_images()[0].get_array().shape[:2] == (side, side)
    assert samples_figure(load_study(runs[2], "flops")) is None  # text: no image grids


def test_a_run_whose_trials_all_failed_is_one_line(runs, tmp_path, capsys):
    import json

    from analysis import load_trials
    from sweeps.cli import main

    failed = copy_run(runs[0], tmp_path / "failed")
    records = [json.loads(line) for line in (failed / "trials.jsonl").read_text().splitlines()]
    for r in records:  # as the runner writes a failure: state and error, no values
        r.update(state="FAIL", error="RuntimeError: boom")
        for key in ("quality", "quality_boot", "reference_floor", "cost", "samples_path", "drafts_path"):
            r.pop(key, None)
    (failed / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["figures", str(runs[1]), str(failed), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == \
        f"wsbench: error: {failed}: no COMPLETE trial to draw (all {len(load_trials(failed))} trial(s) failed)"


def test_every_built_in_family_has_its_own_fixed_style():
    from lightning_modules.core.registry import METHODS

    # built-in only: plugins other tests load into the registry take spare styles by design
    families = {spec.family for _, spec in METHODS.items() if spec.source.startswith("lightning_modules.")}
    assert families <= set(FAMILY_STYLES), families - set(FAMILY_STYLES)
    assert len({style for style in FAMILY_STYLES.values()}) == len(FAMILY_STYLES)

"""write_report on text runs (gen PPL under an evaluator LM) and the W&B table of sample texts.

Hand computation, gen PPL, NFE axis (n_samples = 100, wall-clock = 0.5 s x NFE + drafter):
- masked[euler] (baseline): best 6.0, CI [5.5, 6.5] at NFE 16 -> target 6.5, reached first
  at NFE 16; NFE 32 (6.25) is dominated.
- ws_dfm[ngram3]: 6.5 at NFE 4 (t0 0.5) is the cheapest trial meeting 6.5 -> 16 / 4 = 4.0x
  (its grid starts at NFE 2, so not a lower bound). Wall-clock: 0.08 / ((2 + 0.5) / 100) =
  3.2x. Its best gen PPL, 5.0 at NFE 8 (t0 0.8), came with collapsed entropy (1.5 vs 3.3 on
  held-out text): the tables must show that beside it.
- drafter_only[lstm]: 10.0 at NFE 0 -> never reaches.
"""

import json
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from analysis import format_summary_table, load_trials, write_report
from analysis.text_report import front_headers, is_diversity, is_text_run

MASK, WS, DRAFT = "masked[euler]", "ws_dfm[ngram3]", "drafter_only[lstm]"
EVAL = {
    "name": "shakespeare-char-transformer",
    "key": "text_eval-9c1d",
    "weights_hash": "a1b2c3d4e5f60718",
    "val_ppl": 5.1,
    "n_params": 1800000,
}
LABEL = "gen PPL (shakespeare-char-transformer)"
FLOOR = {"gen_ppl": 4.9, "entropy": 3.3, "distinct_2": 0.5, "distinct_4": 0.8}
N_SHOWN = 3  # samples per trial in samples.md


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _ci(value, half):
    return [value - half, value + half]


def _record(arm, method, trial, nfe, ppl, entropy, d2, *, t0=None, ppl_ci=None, evaluator=EVAL):
    params = {"method.name": method, "method.steps": max(nfe, 1), "method.solver": "euler"}
    if t0 is not None:
        params["method.t0"] = t0
    record = {
        "study": "shakespeare",
        "arm": arm,
        "trial": trial,
        "state": "COMPLETE",
        "method": method,
        "params": params,
        "quality": {
            "gen_ppl": ppl,
            "gen_ppl_ci": ppl_ci or _ci(ppl, 0.5),
            "entropy": entropy,
            "entropy_ci": _ci(entropy, 0.05),
            "distinct_2": d2,
            "distinct_2_ci": _ci(d2, 0.01),
            "distinct_4": d2 + 0.25,
            "distinct_4_ci": _ci(d2 + 0.25, 0.01),
        },
        "reference_floor": dict(FLOOR),
        "cost": {"nfe": nfe, "wallclock_s": 0.5 * nfe + (0.5 if t0 is not None else 0.0)},
        "n_samples": 100,
        "seed": 0,
        "primary_metric": "gen_ppl",
        "samples_path": f"samples/{arm}/{trial}.json",
        "drafts_path": None,
    }
    if evaluator is not None:
        record["text_eval"] = dict(evaluator)
    return record


def _texts(arm, trial, kind):
    return [f"{arm} t{trial} {kind} {i}: O Romeo, wherefore art thou" for i in range(8)]


def make_text_run(root: Path, *, ws_evaluator=EVAL, reference=True) -> Path:
    """Three arms: the masked baseline (4 budgets, one dominated), a warm-start arm with drafts
    (t0 0.5 and 0.8) and a drafter alone; plus one failed trial."""
    records = [
        _record(MASK, "masked_dfm", 0, 4, 12.0, 3.1, 0.40),
        _record(MASK, "masked_dfm", 1, 8, 8.0, 3.2, 0.42),
        _record(MASK, "masked_dfm", 2, 16, 6.0, 3.25, 0.44),
        _record(MASK, "masked_dfm", 3, 32, 6.25, 3.2, 0.43),
        _record(WS, "ws_dfm", 0, 2, 9.0, 3.0, 0.39, t0=0.5, evaluator=ws_evaluator),
        _record(WS, "ws_dfm", 1, 4, 6.5, 3.15, 0.41, t0=0.5, evaluator=ws_evaluator),
        _record(WS, "ws_dfm", 2, 2, 7.0, 2.9, 0.38, t0=0.8, evaluator=ws_evaluator),
        _record(WS, "ws_dfm", 3, 8, 5.0, 1.5, 0.12, t0=0.8, evaluator=ws_evaluator),
        {"study": "shakespeare", "arm": WS, "trial": 4, "state": "FAIL", "method": "ws_dfm",
         "params": {"method.t0": 0.95}, "error": "t0 outside range"},
        _record(DRAFT, "drafter_only", 0, 0, 10.0, 3.3, 0.45),
    ]  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for r in records:
        if r.get("samples_path"):
            path = root / r["samples_path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            samples = _texts(r["arm"], r["trial"], "sample")
            drafts = _texts(r["arm"], r["trial"], "draft") if r["method"] == "ws_dfm" else None
            path.write_text(json.dumps({"samples": samples, "drafts": drafts}))
    if reference:
        refs = [f"REFERENCE {i}: Now is the winter of our discontent" for i in range(5)]
        refs[1] = "a line with ``` three backticks inside"
        (root / "reference.json").write_text(json.dumps({"samples": refs}))
    return root


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:4] == b"\x89PNG"
    return struct.unpack(">II", data[16:24])


def _cells(md: str, first: str) -> list[str]:
    line = next(x for x in md.splitlines() if x.startswith(f"| {first} |"))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.fixture()
def no_npy_for_text(monkeypatch):
    """Fail if the report tries the scatter/image samples code or np.load on a .json file."""
    import analysis.plots

    real_load = np.load

    def guarded_load(file, *args, **kwargs):
        assert not str(file).endswith(".json"), f"np.load on a text file: {file}"
        return real_load(file, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("image/scatter samples code called on a text run")

    monkeypatch.setattr(np, "load", guarded_load)
    monkeypatch.setattr(analysis.plots, "plot_samples", refuse)
    monkeypatch.setattr(analysis.plots, "plot_arm_grids", refuse)


def test_text_summary_fronts_speedups_and_diversity(tmp_path, no_npy_for_text):
    run = make_text_run(tmp_path / "run")
    summary = write_report(run)
    out = run / "report"
    assert json.loads((out / "summary.json").read_text()) == summary

    assert summary["metric"] == "gen_ppl" and summary["metric_label"] == LABEL
    assert summary["text_eval"] == [{**EVAL, "arms": [MASK, WS, DRAFT], "n_trials": 9}]
    assert summary["features"] == []
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
    assert ws[2]["entropy_ci"] == _ci(1.5, 0.05) and ws[2]["distinct_4"] == 0.12 + 0.25
    for axis in ("nfe", "wallclock"):
        by_axis = summary["front_diversity_by_axis"][axis]
        assert {a: len(p) for a, p in by_axis.items()} == {
            a: len(p) for a, p in summary["fronts_by_axis"][axis].items()
        }
    best = summary["best_quality"][WS]
    assert (best["value"], best["trial"], best["floor"]) == (5.0, 3, 4.9)
    assert best["diversity"]["entropy"] == 1.5

    vs_mask = summary["speedup_at_iso_quality"][MASK]
    assert (vs_mask[WS]["status"], vs_mask[WS]["value"], vs_mask[WS]["text"]) == ("ok", 4.0, "4.0x")
    assert (vs_mask[WS]["target"], vs_mask[WS]["baseline_cost"]) == (6.5, 16.0)
    assert vs_mask[DRAFT]["text"] == "never reaches"
    wall = summary["speedup_by_axis"]["wallclock"][MASK][WS]
    assert wall["value"] == pytest.approx(3.2) and wall["text"] == "3.2x"
    assert [(r["t0"], r["text"]) for r in summary["speedup_vs_t0"][WS]] == [
        (0.5, "4.0x"),
        (0.8, "2.0x"),  # 5.0 at NFE 8
    ]

    # Files: samples.md instead of the samples figure; no image grids.
    assert "samples.md" in summary["files"]
    assert not any(f.startswith(("samples.png", "samples.pdf", "grids/")) for f in summary["files"])
    assert not (out / "samples.png").exists() and not (out / "grids").exists()
    # Front figures carry the entropy panel under the gen PPL panel: 7 x 6.3 in at 150 dpi.
    assert _png_size(out / "front_nfe.png") == (1050, 945)
    assert (out / "front_wallclock.pdf").read_bytes()[:4] == b"%PDF"


def test_text_tables_show_entropy_beside_gen_ppl(tmp_path, no_npy_for_text):
    run = make_text_run(tmp_path / "run")
    summary = write_report(run)
    out = run / "report"
    front = (out / "front.md").read_text()
    assert front.splitlines()[0] == (
        f"| arm | NFE per sample | {LABEL} [CI] | entropy [CI] | distinct-2 [CI] "
        "| t0 | steps | trial |"
    )
    floor = "reference floor (held-out text)"
    assert _cells(front, floor) == [floor, "—", "4.9", "3.3", "0.5", "—", "—", "—"]
    ws = [[c.strip() for c in x.strip("|").split("|")] for x in front.splitlines() if WS in x]
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
        "3",
    ]
    table = [x for x in front.splitlines() if x.startswith("|")]
    assert len(table) == 2 + 1 + 3 + 3 + 1  # header, separator, floor row, front points
    note = front.strip().splitlines()[-1]
    assert note.startswith("Evaluator LM for gen PPL: shakespeare-char-transformer (val PPL 5.1")
    assert "1.8M parameters" in note and "weights a1b2c3d4e5f60718" in note
    assert "samples per trial: 100" in note and "higher = more diverse" in note

    tex = (out / "front.tex").read_text()
    assert "entropy {[}CI{]}" in tex and "reference floor (held-out text) & --- & 4.9 & 3.3" in tex
    assert "shakespeare-char-transformer (val PPL 5.1" in tex

    speed = (out / "speedup.md").read_text()
    assert speed.splitlines()[0] == (
        f"| arm | best {LABEL} [CI] | floor {LABEL} | entropy at best [CI] | floor entropy "
        f"| vs {MASK} (NFE) | vs {MASK} (wall-clock) |"
    )
    assert _cells(speed, WS) == [
        WS,
        "5 [4.5, 5.5]",
        "4.9",
        "1.5 [1.45, 1.55]",
        "3.3",
        "4.0x",
        "3.2x",
    ]
    assert _cells(speed, MASK)[3:] == ["3.25 [3.2, 3.3]", "3.3", "baseline", "baseline"]
    assert r"entropy at best {[}CI{]}" in (out / "speedup.tex").read_text()

    text = format_summary_table(summary)
    lines = text.splitlines()
    assert lines[0] == f"shakespeare: {LABEL}, speed-up vs {MASK}"
    assert "entropy at best" in lines[1]
    assert next(x for x in lines if x.startswith(WS)).split() == [
        WS,
        "5",
        "1.5",
        "4",
        "4.0x",
        "3.2x",
    ]
    assert lines[-1] == "Sample texts: samples.md in the report folder."

    with pytest.raises(ValueError, match="diversity measure"):
        write_report(run, metric="entropy")


def test_samples_md(tmp_path, no_npy_for_text):
    run = make_text_run(tmp_path / "run")
    write_report(run)
    md = (run / "report" / "samples.md").read_text()

    def section(start: str, end: str | None) -> str:
        return md[md.index(start) : md.index(end) if end else None]

    # Reference first, with the floor; a sample with ``` gets a longer fence.
    assert md.index("## Reference (held-out text)") < md.index(f"## {MASK}")
    assert "REFERENCE 0: Now is the winter of our discontent" in md
    assert "````text\na line with ``` three backticks inside\n````" in md
    assert "REFERENCE 3" not in md  # only the first few
    assert "gen PPL 4.9, entropy 3.3, distinct-2 0.5, distinct-4 0.8" in md

    # Arms in order, each with its best and cheapest trial.
    assert md.index(f"## {MASK}") < md.index(f"## {WS}") < md.index(f"## {DRAFT}")
    mask = section(f"## {MASK}", f"## {WS}")
    assert "### best gen PPL: trial 2" in mask and "### cheapest (nfe): trial 0" in mask
    assert "steps 16 · NFE 16" in mask and "gen PPL 6 [5.5, 6.5] · entropy 3.25 [3.2, 3.3]" in mask
    for i in range(N_SHOWN):
        assert f"{MASK} t2 sample {i}:" in mask and f"{MASK} t0 sample {i}:" in mask
    assert f"{MASK} t2 sample {N_SHOWN}" not in mask and f"{MASK} t1 sample" not in mask
    assert ", draft:" not in mask and ", refined:" not in mask  # no drafts for the baseline

    ws = section(f"## {WS}", f"## {DRAFT}")
    assert "### best gen PPL: trial 3" in ws and "### cheapest (nfe): trial 2" in ws
    assert "t0 0.8 · steps 8 · NFE 8" in ws and "entropy 1.5 [1.45, 1.55]" in ws
    for trial in (3, 2):
        for i in range(N_SHOWN):
            draft, sample = f"{WS} t{trial} draft {i}:", f"{WS} t{trial} sample {i}:"
            assert ws.index(draft) < ws.index(sample)  # the draft above its refined sample
    assert "Sample 1, draft:" in ws and "Sample 1, refined:" in ws

    drafter = section(f"## {DRAFT}", None)
    assert "### best gen PPL = cheapest (nfe): trial 0" in drafter
    assert f"{DRAFT} t0 sample 0:" in drafter


def test_samples_md_without_reference_and_missing_file(tmp_path, no_npy_for_text):
    run = make_text_run(tmp_path / "run", reference=False)
    (run / f"samples/{WS}/3.json").unlink()
    write_report(run)
    md = (run / "report" / "samples.md").read_text()
    assert "## Reference" not in md and md.index("# Sample texts") < md.index(f"## {MASK}")
    assert "_samples file missing: 3.json_" in md


def test_mixed_evaluators_are_flagged(tmp_path, no_npy_for_text):
    other = dict(EVAL, weights_hash="ffffeeeeddddcccc", val_ppl=5.6)
    run = make_text_run(tmp_path / "run", ws_evaluator=other)
    with pytest.warns(UserWarning, match="mix 2 different evaluator LMs"):
        summary = write_report(run)
    assert summary["metric_label"] == (
        "gen PPL (shakespeare-char-transformer; MIXED: 2 different evaluator LMs)"
    )
    assert [(e["weights_hash"], e["arms"], e["n_trials"]) for e in summary["text_eval"]] == [
        ("a1b2c3d4e5f60718", [MASK, DRAFT], 5),
        ("ffffeeeeddddcccc", [WS], 4),
    ]
    last = (run / "report" / "front.md").read_text().strip().splitlines()[-1]
    assert last.startswith("WARNING: the trials mix 2 different evaluator LMs")
    assert "weights ffffeeeeddddcccc" in last and f"used by {WS}" in last


def test_text_run_detection_and_scatter_code_skips_json(tmp_path, monkeypatch):
    run = make_text_run(tmp_path / "run", ws_evaluator=None)
    trials = load_trials(run)
    assert is_text_run(trials)
    records = [json.loads(x) for x in (run / "trials.jsonl").read_text().splitlines()]
    for r in records:  # neither primary metric nor evaluator: the .json samples still tell
        r.pop("primary_metric", None), r.pop("text_eval", None)
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert is_text_run(load_trials(run))
    assert write_report(run)["metric_label"] == "gen PPL (evaluator LM not recorded)"

    # The scatter/image code itself never np.loads a .json path.
    import analysis.plots as plots

    real_load = np.load

    def guarded_load(file, *args, **kwargs):
        assert not str(file).endswith(".json")
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", guarded_load)
    assert not plots.images_in_run(trials, run)
    paths = plots.plot_samples(trials, run, "gen_ppl", "nfe", tmp_path / "samples")
    assert [p.name for p in paths] == ["samples.png", "samples.pdf"]


def test_diversity_names():
    assert is_diversity("entropy") and is_diversity("distinct_4") and is_diversity("distinct_12")
    assert not is_diversity("gen_ppl") and not is_diversity("distinct_x")
    # Front table: entropy and the smallest-n distinct-n, whatever n the study asked for.
    assert front_headers(["entropy", "distinct_4", "distinct_8"]) == [
        "entropy [CI]",
        "distinct-4 [CI]",
    ]
    assert front_headers(["distinct_12"]) == ["distinct-12 [CI]"]


# --- W&B ------------------------------------------------------------------------------------


class _FakeRun:
    def __init__(self, **kwargs):
        self.init = kwargs
        self.logged: list[dict] = []
        self.summary: dict = {}
        self.finished = False

    def log(self, metrics):
        self.logged.append(metrics)

    def finish(self):
        self.finished = True


@pytest.fixture()
def fake_wandb(monkeypatch, tmp_path):
    """The real ``wandb`` module (its Table checks columns and rows) with ``init`` replaced,
    so nothing is written or started."""
    wandb = pytest.importorskip("wandb")
    runs: list[_FakeRun] = []

    def init(**kwargs):
        runs.append(_FakeRun(**kwargs))
        return runs[-1]

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    return runs


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


def test_wandb_text_table(tmp_path, fake_wandb):
    logger, messages = _logger(tmp_path)
    record = _record(WS, "ws_dfm", 3, 8, 5.0, 1.5, 0.12, t0=0.8)
    tokens = np.zeros((2, 16), dtype=np.int64)  # token ids: never scattered
    ev = SimpleNamespace(
        samples=tokens, drafts=tokens, texts=["to be or", "not to be"], draft_texts=["to bx", "nat"]
    )
    logger.trial(record, ev)
    assert messages == [] and not logger.broken
    run = fake_wandb[-1]
    assert run.finished and run.init["config"]["text_eval"] == EVAL
    metrics = run.logged[0]
    table = metrics["samples"]
    assert table.columns == ["arm", "trial", "index", "draft", "sample"]
    assert table.data == [[WS, 3, 0, "to bx", "to be or"], [WS, 3, 1, "nat", "not to be"]]
    assert metrics["quality/gen_ppl"] == 5.0 and metrics["quality/entropy"] == 1.5
    assert metrics["floor/entropy"] == 3.3 and metrics["cost/nfe"] == 8
    assert not any(k.endswith("_ci") for k in metrics)

    # No drafts (the masked baseline): the draft cell is empty.
    logger.trial(_record(MASK, "masked_dfm", 0, 4, 12.0, 3.1, 0.4), SimpleNamespace(
        samples=tokens, drafts=None, texts=["abc"], draft_texts=None))  # fmt: skip
    assert fake_wandb[-1].logged[0]["samples"].data == [[MASK, 0, 0, None, "abc"]]
    # Token ids without decoded texts: nothing logged as samples (no scatter of ids).
    logger.trial(_record(MASK, "masked_dfm", 1, 8, 8.0, 3.2, 0.4), SimpleNamespace(
        samples=tokens, drafts=None))  # fmt: skip
    assert "samples" not in fake_wandb[-1].logged[0] and not logger.broken


def test_wandb_study_table_has_entropy(tmp_path, fake_wandb, no_npy_for_text):
    summary = write_report(make_text_run(tmp_path / "run"))
    logger, messages = _logger(tmp_path)
    logger.study(summary)
    assert messages == []
    front = fake_wandb[-1].logged[0]["pareto_front"]
    assert front.columns == ["arm", "nfe", "gen_ppl", "entropy", "distinct_2", "distinct_4"]
    assert [WS, 8.0, 5.0, 1.5, 0.12, 0.12 + 0.25] in front.data
    assert len(front.data) == 3 + 3 + 1


def test_wandb_points_still_scattered(tmp_path, fake_wandb):
    logger, messages = _logger(tmp_path)
    record = _record(MASK, "noise_start", 0, 4, 12.0, 3.1, 0.4)
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    logger.trial(record, SimpleNamespace(samples=points, drafts=None))
    assert messages == [] and "samples" in fake_wandb[-1].logged[0]

"""Test environment: nothing lands in ~ (W&B, matplotlib, torch hub, our model cache)."""

import os
import tempfile

import pytest

_TMP = tempfile.mkdtemp(prefix="wsbench-tests-")
# pytest-xdist's workers inherit the controller's environment: each takes folders of its own
# (a model cache trained by one process at a time, a host-load folder that counts its own work).
_PARENT = os.environ.get("WSBENCH_TEST_TMP")
for var, sub in (("WANDB_DIR", "wandb"), ("MPLCONFIGDIR", "mpl"), ("TORCH_HOME", "torch"), ("WSBENCH_CACHE", "cache"),
                 ("WSBENCH_HOST_DIR", "host")):
    if var not in os.environ or (_PARENT and os.environ[var].startswith(_PARENT)):
        os.environ[var] = os.path.join(_TMP, sub)
os.environ["WSBENCH_TEST_TMP"] = _TMP
os.environ.setdefault("WANDB_MODE", "offline")
if os.environ.get("PYTEST_XDIST_WORKER"):  # one torch thread per test process: -n 2 fills 2 cores, not 4
    os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """Run in a fresh folder, so runs/ lands in tmp."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def one_thread():
    """Small nets run fastest (and reproducibly) on one torch thread; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """``{"points" | "images" | "text": run folder}``: the smoke sweeps' real output, run once
    per session (a few seconds each). Copy a folder (``analysis_runs.copy_run``) before
    writing into it."""
    from analysis_runs import missing_fields, run_smoke_sweeps

    reuse = os.environ.get("WSBENCH_TEST_SMOKE_RUNS")  # a folder of finished smoke runs
    if reuse:
        from pathlib import Path

        from analysis_runs import SMOKE_EXPERIMENTS

        runs = {t: Path(reuse) / e for t, e in SMOKE_EXPERIMENTS.items()}
    else:  # once per test run: pytest-xdist's workers share the folder, one lock per sweep, and
        # take the sweeps in opposite orders so that two workers make them side by side
        from analysis_runs import SMOKE_EXPERIMENTS
        from filelock import FileLock

        root = tmp_path_factory.getbasetemp()
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            root = root.parent
        folder, tracks = root / "smoke-runs", list(SMOKE_EXPERIMENTS)
        if worker and int(worker.lstrip("gw") or 0) % 2:
            tracks.reverse()
        for track in tracks:
            with FileLock(str(root / f"smoke-runs-{track}.lock")):
                if not (folder / f"{track}.done").exists():
                    run_smoke_sweeps(folder, [track])
                    (folder / f"{track}.done").touch()
        runs = {t: folder / e for t, e in SMOKE_EXPERIMENTS.items()}
    missing = missing_fields(runs["points"])
    if missing:  # analysis refuses such records: say so once instead of in every test
        pytest.fail(f"the smoke sweep's records lack {missing}; analysis needs them")
    return runs


class FakeConfig(dict):
    """`run.config`: `update` changes a key that is already set only with allow_val_change."""

    def update(self, values, allow_val_change=False):
        changed = [k for k, v in values.items() if k in self and self[k] != v]
        if changed and not allow_val_change:
            raise ValueError(f"config keys changed without allow_val_change: {changed}")
        super().update(values)


class FakeRun:
    """What `wandb.init` returns in tests: records what is logged, starts nothing."""

    def __init__(self, **kwargs):
        self.init, self.logged, self.summary, self.finished = kwargs, [], {}, False
        self.config, self.exit_code = FakeConfig(kwargs.get("config") or {}), None

    def log(self, metrics):
        self.logged.append(metrics)

    def finish(self, exit_code=None):
        self.finished, self.exit_code = True, exit_code


@pytest.fixture()
def fake_wandb(monkeypatch, tmp_path):
    """The real ``wandb`` module (its Table checks columns and rows) with ``init`` replaced,
    so nothing is written or started; returns the list of runs started."""
    wandb = pytest.importorskip("wandb")
    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    return runs


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The URL of a PostgreSQL server: `WSBENCH_TEST_PG_URL` (what `.ci/run` starts), else a
    throw-away cluster started here; skipped only where no server binaries exist."""
    import pg_server as pg

    url = os.environ.get("WSBENCH_TEST_PG_URL")
    if url:
        yield url
        return
    if not pg.available():
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    folder = tempfile.mkdtemp(prefix="wsbench-pg-", dir="/tmp")  # the postgres user must enter it
    try:
        yield pg.start(folder)
    finally:
        pg.stop(folder)


@pytest.fixture()
def pg_url(pg_server):
    """A fresh, empty database on the test server (one per test)."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.rsplit("/", 1)[0] + "/" + name

"""A run folder's files: reading its results files (``trials.jsonl`` and one file per
worker) into records (torn last lines, bad lines, merging without duplicates), and the safe
names of the folders and files written per arm. Shared with the sweep side."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

TRIALS_FILE = "trials.jsonl"


def results_files(run_dir: str | Path) -> list[Path]:
    """A run folder's results files: ``trials.jsonl`` (written by ``wsbench sweep``) and one
    ``trials.<host>-<pid>.jsonl`` per worker (``wsbench worker``), which workers on other
    machines write in their own run folders and which are copied here to be analysed."""
    run_dir = Path(run_dir)
    return [p for p in [run_dir / TRIALS_FILE, *sorted(run_dir.glob("trials.*.jsonl"))] if p.is_file()]


def read_records(path: str | Path, *, missing_ok: bool = False) -> list[dict[str, Any]]:
    """The records of ``path``: a run folder (all its results files, merged) or one file.

    Blank lines are skipped. A torn LAST line of a file (no trailing newline and not valid
    JSON: a writer killed mid-append) is ignored with a ``UserWarning``; any other line that
    is not a JSON object raises ``ValueError`` naming ``file:line``. No results file raises
    ``FileNotFoundError``, or gives ``[]`` with ``missing_ok=True`` (a run not started yet).
    Merged files: a record found twice (a file copied in twice) is kept once, and a point
    computed twice (same arm and ``config_hash``, both COMPLETE, different trials: a worker
    died after writing its record on a host whose file the retry could not see) keeps the
    first, with a warning.
    """
    path = Path(path)
    if path.is_dir() or path.suffix != ".jsonl":
        files = results_files(path)
        if not files:
            if missing_ok:
                return []
            raise FileNotFoundError(f"no {TRIALS_FILE} in run folder {path} (expected {path / TRIALS_FILE})")
        if len(files) > 1:
            return _merged([r for f in files for r in _read_file(f)], path)
        path = files[0]
    elif not path.is_file():
        if missing_ok:
            return []
        raise FileNotFoundError(f"no {TRIALS_FILE} in run folder {path.parent} (expected {path})")
    return _read_file(path)


def _merged(records: list[dict[str, Any]], run_dir: Path) -> list[dict[str, Any]]:
    seen, points, out, twice = set(), set(), [], 0
    for record in records:
        ident = json.dumps(record, sort_keys=True)
        if ident in seen:
            continue
        seen.add(ident)
        if record.get("state") == "COMPLETE" and record.get("config_hash"):
            point = (record.get("arm"), record["config_hash"], bool(record.get("confirm")))
            if point in points:
                twice += 1
                continue
            points.add(point)
        out.append(record)
    if twice:
        warnings.warn(f"{run_dir}: {twice} point(s) computed twice across results files; kept the first of each",
                      stacklevel=3)
    return out


def _read_file(file: Path) -> list[dict[str, Any]]:
    text = file.read_text(encoding="utf-8")
    lines = text.split("\n")
    torn_candidate = len(lines) if lines and lines[-1] != "" else None  # no final newline
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if lineno == torn_candidate:
                warnings.warn(
                    f"{file}:{lineno}: ignoring a torn last line (no newline, not valid JSON: "
                    "a writer was killed mid-write)",
                    stacklevel=2,
                )
                continue
            raise ValueError(f"{file}:{lineno}: malformed JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{file}:{lineno}: expected a JSON object, got {type(record).__name__}"
            )
        records.append(record)
    return records


def safe_name(text: str) -> str:
    """A file-name-safe folder or file name for an arm; a name that needed changing gets a
    short hash of the original, so `a,b` and `a_b` never share a folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_.") or "arm"
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha1(str(text).encode()).hexdigest()[:6]}"

"""Read an offline W&B run's datastore (run-<id>.wandb): W&B 0.31 keeps an offline run's
config and summary there (config.yaml and wandb-summary.json appear only once synced). The
file is a LevelDB-style log: a 7-byte header (":W&B", magic, version), then 32 KiB blocks of
chunks, each with a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last)
holding a serialized `Record` protobuf."""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
HEADER = struct.Struct("<IHB")


def records(path: Path):  # noqa: ANN201
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B datastore"
    pos, chunk = 7, b""
    while pos + HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER.size:  # block trailer
            pos += left
            continue
        _crc, length, kind = HEADER.unpack_from(data, pos)
        if length == 0 and kind == 0:  # zero padding to the block's end
            pos += left
            continue
        chunk += data[pos + HEADER.size:pos + HEADER.size + length]
        pos += HEADER.size + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def offline_run(run_folder: Path) -> dict:
    """{"project", "name", "job_type", "tags", "group", "config": {...}, "summary": {...},
    "exit_code"} of one offline run folder (offline-run-*)."""
    out: dict = {"config": {}, "summary": {}, "exit_code": None}
    (path,) = Path(run_folder).glob("run-*.wandb")
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(project=run.project, name=run.display_name, job_type=run.job_type,
                       tags=list(run.tags), group=run.run_group,
                       start=run.start_time.seconds + run.start_time.nanos / 1e9)
            out["config"].update({u.key: json.loads(u.value_json) for u in run.config.update})
        elif kind == "config":
            out["config"].update({u.key or "/".join(u.nested_key): json.loads(u.value_json)
                                  for u in record.config.update})
        elif kind == "summary":
            for u in record.summary.update:
                key = u.key or "/".join(u.nested_key)
                out["summary"][key] = json.loads(u.value_json)
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    return out


def offline_runs(wandb_dir: Path) -> list[dict]:
    """Every offline run under a W&B dir (WANDB_DIR/wandb/offline-run-*), in start order."""
    runs = [offline_run(folder) for folder in Path(wandb_dir).glob("wandb/offline-run-*")]
    return sorted(runs, key=lambda r: r["start"])

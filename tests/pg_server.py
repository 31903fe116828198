"""A throw-away local PostgreSQL server for the tests (stdlib only, so `.ci/run` can use it
before the project is installed).

    eval "$(python3 tests/pg_server.py start /tmp/wsbench-pg)"   # exports WSBENCH_TEST_PG_URL
    python3 tests/pg_server.py stop /tmp/wsbench-pg

The cluster lives in the given folder, listens on 127.0.0.1 only, on a free port, and takes a
password (user `wsbench`, password `wsbench`), so wrong credentials can be tested. initdb
refuses root: as root, the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER, PASSWORD = "wsbench", "wsbench"
BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def binary(name: str) -> str | None:
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def available() -> bool:
    return binary("initdb") is not None and binary("pg_ctl") is not None


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: str | Path) -> str:
    """Start a cluster in `folder` (created); returns its URL (database `postgres`)."""
    folder = Path(folder)
    if (folder / "url").exists():
        return (folder / "url").read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (folder, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        folder.chmod(0o700)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run(_as_server_user([binary("initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256",
                                    f"--pwfile={pwfile}", "-E", "UTF8"]), **quiet)
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
    subprocess.run(_as_server_user([binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
                                    "-w", "start"]), **quiet)
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
    (folder / "url").write_text(url + "\n")
    return url


def stop(folder: str | Path) -> None:
    data = Path(folder) / "data"
    if data.exists():
        subprocess.run(_as_server_user([binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    action, where = sys.argv[1], sys.argv[2]
    if action == "start":
        if not available():
            print("echo 'PostgreSQL server binaries not found: the PostgreSQL tests will be skipped' >&2")
            sys.exit(0)
        print(f"export WSBENCH_TEST_PG_URL={start(where)}")
    elif action == "stop":
        stop(where)
    else:
        sys.exit(f"usage: {sys.argv[0]} start|stop FOLDER")

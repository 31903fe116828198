"""The README is a front door: short, every link resolves, and its "Try it" block runs as written."""

import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
TESTED_MARK = "<!-- tested: tests/test_readme.py runs every line of the next block -->"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _code_blocks(text: str, lang: str = "bash") -> list[list[str]]:
    """The lines of every ```lang block, in order."""
    return [
        block.splitlines() for block in re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)
    ]


def _relative_links(path: Path) -> list[str]:
    """Link targets outside code blocks, without web links and anchors."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    targets = [
        t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "mailto:", "#"))
    ]
    return [t.split("#", 1)[0] for t in targets]


def _tested_block() -> list[str]:
    """The commands of the block right after the tested-mark comment, comments stripped."""
    text = README.read_text()
    assert text.count(TESTED_MARK) == 1, "README.md needs exactly one tested-block comment"
    after = text.split(TESTED_MARK, 1)[1]
    assert after.lstrip("\n").startswith("```bash\n"), (
        "the tested comment must sit right above a ```bash block"
    )
    lines = _code_blocks(after)[0]
    return [shlex.split(line, comments=True) for line in lines if shlex.split(line, comments=True)]


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= 260, f"README.md has {n} lines; at most 260 (move detail into docs/)"


def test_every_relative_link_resolves():
    broken = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in [README, *DOCS]
        for target in _relative_links(page)
        if not (page.parent / target).resolve().exists()
    ]
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "docs/ holds no page"
    linked = {(ROOT / target).resolve() for target in _relative_links(README)}
    unlinked = [str(page.relative_to(ROOT)) for page in DOCS if page.resolve() not in linked]
    assert unlinked == []


def test_quick_start_opens_with_make_quickstart_then_make_test():
    first = _code_blocks(README.read_text())[0]
    commands = [line.split("#", 1)[0].strip() for line in first if line.split("#", 1)[0].strip()]
    assert commands[:2] == ["make quickstart", "make test"]


def _trials(run_dir: Path) -> list[dict]:
    path = run_dir / "trials.jsonl"
    assert path.is_file(), f"{path} was not written"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check(argv: list[str], out: str, cwd: Path) -> None:
    """What each command of the block must print or write (a new line needs a check here)."""
    study = next((a.split("=", 1)[1] for a in argv if a.startswith("sweep.study=")), None)
    if argv == ["--help"]:
        for command in ("sweep", "train", "analyze", "list"):
            assert re.search(rf"^\s+{command}\b", out, re.M), f"--help does not list '{command}'"
    elif argv == ["list"]:
        for word in ("experiments", "smoke", "warm_start", "noise_start"):
            assert word in out, f"wsbench list does not mention '{word}'"
    elif argv[0] == "sweep" and study == "try":
        records = _trials(cwd / "runs" / "try")
        assert records and all(r["study"] == "try" and r["state"] == "COMPLETE" for r in records)
        assert {"noise_start[indep]", "warm_start[gmm4]"} <= {r["arm"] for r in records}
    elif argv[0] == "sweep" and study == "warped":
        records = _trials(cwd / "runs" / "warped")
        warped = [r for r in records if r["arm"] == "warped" and not r.get("confirm")]
        assert {r["params"]["method.steps"] for r in warped} == {1, 4}
        assert all(
            r["method"] == "noise_start_warped" and r["params"]["method.gamma"] == 2.0
            for r in warped
        )
        assert all(r["state"] == "COMPLETE" for r in records)
    elif argv == ["analyze", "runs/try"]:
        summary = json.loads((cwd / "runs" / "try" / "report" / "summary.json").read_text())
        searched = [r for r in _trials(cwd / "runs" / "try") if not r.get("confirm")]
        assert summary["study"] == "try" and summary["baseline"] == "noise_start[indep]"
        assert summary["n_complete"] == {
            arm: sum(r["arm"] == arm for r in searched) for arm in summary["n_complete"]
        }
        assert set(summary["n_complete"]) == {r["arm"] for r in searched}
        assert "report written to runs/try/report" in out
    else:
        raise AssertionError(f"no check for README command: wsbench {shlex.join(argv)}")


def test_try_it_block_runs_as_written(workdir, capsys):
    """Each line through `wsbench`'s own entry point (`sweeps.cli.main`, what the script calls),
    in one process: the process boundary is tested in test_cli.py, and imports cost seconds."""
    from sweeps.cli import main

    commands = _tested_block()
    assert commands and all(c[0] == "wsbench" for c in commands), (
        "every line of the block starts with wsbench"
    )
    for command in commands:
        argv = command[1:]
        try:
            code = main(argv)
        except SystemExit as stop:  # --help
            code = stop.code
        captured = capsys.readouterr()
        out = captured.out + captured.err
        assert code == 0, f"wsbench {shlex.join(argv)} exited {code}:\n{out[-2000:]}"
        _check(argv, out, workdir)

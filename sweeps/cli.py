"""`wsbench quickstart | train | sweep | analyze | worker | list` with Hydra overrides."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

USAGE = """wsbench COMMAND [overrides...]

  quickstart [overrides]   train, sweep and report the moons comparison (CPU, ~5 min)
  sweep [overrides]        run (or resume) a study; writes runs/<study>/ and its report
  worker [overrides]       join a study on a shared --storage: claim its trials beside other workers
  train [overrides]        train (or find in the cache) the models the config's arms need
  analyze RUN_DIR          write RUN_DIR/report/ from trials.jsonl
  figures RUN [RUN ...]    paper figures of several studies side by side (--out DIR)
  list [plugin=FILE.py]    registered tracks, methods, drafters, refiner families (with knobs),
                           experiments and each config group's options

overrides (Hydra): GROUP=OPTION (data=toy, method=sdedit, experiment=toy), a.b=value
           (method.t0=0.8, sweep.n_trials=40), +a.b=value (a free key), ~logger (drop a group),
           plugin=FILE.py (a user's methods, drafters or tracks; a relative path is looked for
           in the current folder, then in the project's conf/); --show-config (or --cfg job)
           validates and prints the study's config and each arm's.

arms: a key applies to every arm and is checked in each; a key an arm sets itself (its method,
      its drafter's size...) is refused; one arm is changed under sweep.arms.NAME, some run
      with sweep.only=[NAME, ...]; a re-run reuses only records made with the same settings:
  wsbench sweep experiment=smoke eval.n_samples=600 sweep.study=smoke600          # every arm
  wsbench sweep experiment=smoke 'sweep.arms.warm_start[gmm4].set+=[method.solver=heun]'  # one arm
  wsbench sweep experiment=smoke '+sweep.arms.sdedit[gmm4].set=[method=sdedit, drafter=gmm, drafter.n_components=4]'
"""


COMMANDS = {  # name: (one line, what its positional arguments are)
    "quickstart": ("train, sweep and report the moons comparison (CPU, ~5 min)", "Hydra overrides"),
    "sweep": ("run (or resume) a study; writes runs/<study>/ and its report", "Hydra overrides"),
    "worker": ("join a study on a shared --storage: claim its trials beside other workers", "Hydra overrides"),
    "train": ("train (or find in the cache) the models the config's arms need", "Hydra overrides"),
    "analyze": ("write RUN_DIR/report/ from trials.jsonl", "RUN_DIR"),
    "figures": ("paper figures of several studies side by side: fronts on one cost axis, a LaTeX table, "
                "sample grids", "RUN_DIR ..."),
    "list": ("the registered tracks, methods, drafters and refiner families (with their knobs), the "
             "experiments and each config group's options",
             "plugin=FILE.py (optional)"),
}
OVERRIDES_HELP = ("GROUP=OPTION (data=toy, experiment=toy), a.b=value (method.t0=0.8), +a.b=value (a free "
                  "key), ~group (drop it), plugin=FILE.py")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsbench", usage=USAGE)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only errors, the final table and the summary line")
    common.add_argument("-v", "--verbose", action="store_true", help="also Optuna's log")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (line, positional) in COMMANDS.items():
        epilog = USAGE[USAGE.index("arms:"):] if positional == "Hydra overrides" else None
        p = sub.add_parser(name, help=line, description=line, parents=[common], prog=f"wsbench {name}", epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "analyze":
            p.add_argument("rest", nargs=1, metavar="RUN_DIR", help="a run folder holding trials.jsonl")
            p.add_argument("--metric", default=None, help="quality metric (default: the study's primary)")
            p.add_argument("--cost-axis", default="nfe", help="nfe | wallclock | flops | blocks | latency")
            p.add_argument("--tolerance", type=float, default=None,
                           help="the tolerant target: within this fraction of the baseline's best, a column beside "
                                "the strict one (default 0.01, MLPerf's 99%%; 0 leaves it out)")
            p.add_argument("--entropy-band", type=float, default=None,
                           help="text: nats either side of held-out entropy that count as matched (default 0.05)")
            continue
        if name == "figures":
            p.add_argument("rest", nargs="*", metavar="RUN_DIR", help="run folders holding trials.jsonl, one panel each")
            p.add_argument("--out", default="figures", help="folder for the figures and table (default: figures)")
            p.add_argument("--cost-axis", default="flops", help="flops | nfe | wallclock | blocks | latency (default flops: one axis "
                                                                "for every family)")
            continue
        p.add_argument("rest", nargs="*", metavar="OVERRIDE",
                       help=OVERRIDES_HELP if positional == "Hydra overrides" else positional)
        if name != "list":
            p.add_argument("--storage", default=None, help="Optuna database URL (default: a journal file in the run folder)")
            p.add_argument("--show-config", action="store_true",
                           help="validate, print the study's config and each arm's resolved config (YAML "
                                "documents), and exit")
            p.add_argument("--cfg", choices=["job"], default=None, help="Hydra's spelling of --show-config")
    return parser


def _log_for(args: argparse.Namespace):  # noqa: ANN202
    """-q keeps warnings and errors; the default prints progress lines."""
    if args.quiet:
        return lambda *parts, **kw: print(*parts, **kw) if str(parts[0] if parts else "").startswith(
            ("warning", "error")) else None
    return print


def main(argv: list[str] | None = None) -> int:
    # Piped output arrives line by line, as on a terminal (no PYTHONUNBUFFERED needed).
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    args = _parser().parse_args(argv)

    from sweeps.errors import ConfigError, StorageLost, StudyFailed

    if args.quiet:  # training worker processes inherit it: no progress lines from them either
        os.environ["WSBENCH_QUIET"] = "1"
    if args.verbose:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.INFO)
    log = _log_for(args)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "figures":
            return _figures(args)
        if args.command == "list":
            from sweeps.listing import registered

            plugins = [o.split("=", 1)[1] for o in args.rest if o.lstrip("+").startswith("plugin=")]
            print(registered(plugins))
            return 0
        overrides = list(args.rest)
        if args.storage:
            overrides.append(f"sweep.storage={args.storage}")
        if args.command == "quickstart":
            overrides = ["experiment=quickstart", *overrides]
        if args.show_config or args.cfg:
            from sweeps.arms import show_config

            print(show_config(overrides))
            return 0
        from sweeps.study import run_study, train_only

        if args.command == "train":
            train_only(overrides, log=log)
            return 0
        start = time.perf_counter()
        summary = run_study(overrides, worker=args.command == "worker", report=args.command != "worker", log=log)
        if summary is not None:
            from analysis import format_summary_table

            print(format_summary_table(summary))
        print(f"wsbench {args.command}: finished in {time.perf_counter() - start:.0f} s")
        return 0
    except ConfigError as err:
        print(f"wsbench: error: {err}", file=sys.stderr)
        return 2
    except StudyFailed as err:
        print(f"wsbench: error: {err}", file=sys.stderr)
        return 1
    except StorageLost as err:
        print(f"wsbench: error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("wsbench: interrupted; finished trials are kept. Re-run the same command to resume.", file=sys.stderr)
        return 130


def _analyze(args: argparse.Namespace) -> int:
    from analysis import format_summary_table, write_report

    run_dir = Path(args.rest[0])
    band = args.entropy_band
    if band is not None and not (math.isfinite(band) and band > 0):
        print(f"wsbench: error: --entropy-band={band} is not allowed: a number of nats > 0", file=sys.stderr)
        return 2
    options = {} if band is None else {"entropy_band": band}
    tolerance = args.tolerance
    if tolerance is not None and not (math.isfinite(tolerance) and 0 <= tolerance < 1):
        print(f"wsbench: error: --tolerance={tolerance} is not allowed: a fraction in [0, 1)", file=sys.stderr)
        return 2
    extra = {} if tolerance is None else {"tolerance": tolerance}
    try:
        summary = write_report(run_dir, metric=args.metric, cost_axis=args.cost_axis, options=options, **extra)
    except (FileNotFoundError, ValueError) as err:
        print(f"wsbench: error: {err}", file=sys.stderr)
        return 2
    print(format_summary_table(summary))
    print(f"report written to {run_dir / 'report'}")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from analysis.paper import write_figures

    if not args.rest:
        print("wsbench: error: figures takes one or more RUN_DIRs", file=sys.stderr)
        return 2
    try:
        files = write_figures(args.rest, args.out, cost_axis=args.cost_axis)
    except (FileNotFoundError, ValueError) as err:
        print(f"wsbench: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(files)} file(s) written to {args.out}: {', '.join(sorted(p.name for p in files))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

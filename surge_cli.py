"""The `surge` command line: run a scenario and write its table, phases and chart.

    surge run baseline
    surge run no_speculation --seed 3 --out out/ns3
    surge run my_scenario.toml --set months=240 --set chartist_trend_gain=3

Exit codes: 0 success, 2 bad input (unknown scenario or key, bad value, unwritable
output folder); nothing is written on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tomllib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.params import Params, ScenarioError, load_scenario

if TYPE_CHECKING:
    import pandas as pd

PROG = "surge"
EXIT_OK = 0
EXIT_BAD_INPUT = 2

# Output files, in the order they are moved into place.
OUTPUT_FILES = (
    "timeseries.parquet",
    "timeseries.csv",
    "phases.csv",
    "overview.png",
    "params.json",
)

EPILOG = """\
examples:
  surge run baseline
      run the baseline scenario with seed 0; writes out/baseline/
  surge run no_speculation --seed 3
      the ablation without trend-following investors, seed 3; writes out/no_speculation/
  surge run baseline --set months=240 --set chartist_trend_gain=3.0
      override parameters by flat (months) or dotted (run.months) name
  surge run path/to/my_scenario.toml --out results/mine
      run a scenario file and write into results/mine/

files written to the output folder:
  timeseries.parquet, timeseries.csv  one row per month, units in the column names
  phases.csv                          detected Perez phases: phase, start, end, months
  overview.png                        seven-panel chart with the phases shaded
  params.json                         scenario, seed and every resolved parameter

exit codes: 0 success, 2 bad input (nothing is written)
"""


class UsageError(Exception):
    """Bad command-line input; the message is shown after 'surge: error:'."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid seed {value}: must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Surge: an agent-based model of the AI infrastructure investment cycle "
            "(labs, hyperscalers, investors, adopters and a government, monthly)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="run one scenario with one seed and write its outputs",
        description="Run one scenario with one seed and write its outputs to a folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "scenario",
        metavar="NAME|FILE",
        help="a scenario name in scenarios/ (baseline, no_speculation, ...) or a .toml file",
    )
    run.add_argument(
        "--seed", type=_seed, default=0, metavar="N", help="random seed, >= 0 (default 0)"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --set months=240 or --set investors.herding_strength=0;"
        " values are read as TOML (numbers, true/false, quoted or bare strings); repeatable",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default out/<scenario name>); other files in it are left alone",
    )
    return parser


# ---- input ------------------------------------------------------------------------------


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['months=36', 'preference=good_enough'] -> {'months': 36, 'preference': 'good_enough'}.

    Values are parsed as TOML so numbers and booleans get their type; anything TOML cannot
    read is kept as the raw string, and the parameter validation then says what is allowed.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set months=240")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except (tomllib.TOMLDecodeError, KeyError):
            value = text
        overrides[key] = value
    return overrides


def check_writable(out: Path) -> None:
    """Raise UsageError unless ``out`` is, or can be created as, a writable folder.

    Creates nothing: it finds the nearest existing ancestor and checks it is a folder we
    may write into, so a bad --out fails before the run rather than after it.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    probe = out if out.exists() else out.parent
    while not probe.exists():
        if probe.is_symlink():  # dangling symlink: cannot create through it
            raise UsageError(f"--out {out}: {probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is not a folder")
    # The temporary folder goes next to `out`; an existing `out` must also take new files.
    folders = [out.parent, out] if out.exists() else [probe]
    for folder in folders:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"--out {out}: no permission to write in {folder}")


# ---- output -----------------------------------------------------------------------------


def write_outputs(
    table: pd.DataFrame,
    labels: pd.Series,
    params: Params,
    seed: int,
    overrides: dict[str, Any],
    out: Path,
) -> list[Path]:
    """Write all output files into ``out`` atomically; return their final paths.

    Everything is built in a hidden temporary folder next to ``out`` (same filesystem, so
    os.replace is atomic). Only when every file has been written are they moved into
    place, one os.replace each; files in ``out`` that Surge does not write are untouched.
    On any failure the temporary folder is removed and ``out`` is as it was.
    """
    # Imported here so that `surge --help` and input errors stay fast.
    from analysis.charts import overview_figure, save_figure
    from analysis.phases import phase_table

    phases = phase_table(table, labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()  # plain mkdir, so the folder gets the usual umask permissions
    try:
        table.to_parquet(staging / "timeseries.parquet", index=False)
        table.to_csv(staging / "timeseries.csv", index=False)
        phases.to_csv(staging / "phases.csv", index=False, date_format="%Y-%m-%d")
        fig, _ = overview_figure(table, labels, title=f"{params.name} (seed {seed})")
        save_figure(fig, staging / "overview.png")
        manifest = {
            "scenario": params.name,
            "description": params.description,
            "seed": seed,
            "overrides": overrides,
            "parameters": params.flat(),
        }
        with open(staging / "params.json", "x", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, default=str)
            fh.write("\n")
        if not out.exists():
            try:  # a new folder appears all at once
                staging.rename(out)
                return [out / name for name in OUTPUT_FILES]
            except OSError:
                pass  # created meanwhile: fall back to moving file by file
        out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            os.replace(staging / name, out / name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out / name for name in OUTPUT_FILES]


def format_phases(table: pd.DataFrame, labels: pd.Series) -> str:
    """The phase table as aligned text with YYYY-MM dates."""
    from analysis.phases import phase_table

    phases = phase_table(table, labels)
    shown = phases.assign(
        start=[f"{d:%Y-%m}" for d in phases["start"]],
        end=[f"{d:%Y-%m}" for d in phases["end"]],
    )
    return shown.to_string(index=False)


# ---- commands ---------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from analysis.phases import label_phases
    from sim.run import run_scenario

    overrides = parse_overrides(args.overrides)
    params = load_scenario(args.scenario, overrides)  # bad input fails here, before anything
    out = Path(args.out) if args.out is not None else Path("out") / params.name
    check_writable(out)
    table = run_scenario(args.scenario, seed=args.seed, overrides=overrides, progress=True)
    labels = label_phases(table)
    try:
        paths = write_outputs(table, labels, params, args.seed, overrides, out)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from exc
    print(f"{params.name} (seed {args.seed}): {len(table)} months, detected phases")
    print(format_phases(table, labels))
    print(f"wrote {len(paths)} files to {out}/: {', '.join(p.name for p in paths)}")
    return EXIT_OK


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `surge` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _error(str(exc))
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    try:
        if args.command == "run":
            return cmd_run(args)
    except (UsageError, ScenarioError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    return _error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())

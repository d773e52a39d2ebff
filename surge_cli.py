"""The `surge` command line: run, list, show and batch scenarios; summarise and analyse.

    surge run baseline
    surge run no_speculation --seed 3 --out out/ns3
    surge run my_scenario.toml --set months=240 --set chartist_trend_gain=3
    surge list
    surge show no_speculation
    surge batch baseline no_speculation --seeds 20 --jobs 2 --out out/ablation
    surge summary out/ablation --csv out/ablation/summary.csv
    surge app --port 8765

Exit codes: 0 success, 1 some runs of a batch failed, 2 bad input (unknown scenario or
key, bad value, unwritable output folder, a folder in use); nothing is written on bad
input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tomllib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sim.params import (
    FIELD_GROUP,
    GROUPS,
    SCENARIO_DIR,
    Params,
    ScenarioError,
    load_scenario,
    scenario_path,
)

if TYPE_CHECKING:
    import pandas as pd

PROG = "surge"
EXIT_OK = 0
EXIT_FAILED_RUNS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

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
        epilog=COMMANDS_EPILOG + EPILOG,
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
    _add_other_commands(commands)
    return parser


SET_HELP = (
    "override a parameter for every run, e.g. --set months=240 or "
    "--set investors.herding_strength=0; values are read as TOML; repeatable"
)

LIST_EPILOG = """\
examples:
  surge list
      every scenario in scenarios/ with its one-line description
"""

SHOW_EPILOG = """\
examples:
  surge show baseline
      every parameter of the baseline scenario, grouped, with its unit
  surge show no_speculation
      the same for the ablation; the source column says which values come from
      scenarios/no_speculation.toml (file:line), from the scenario it extends, or
      from the model's defaults
  surge show my_scenario.toml --set months=240
      a scenario file with an override, as `surge run` would resolve it
"""

BATCH_EPILOG = """\
examples:
  surge batch baseline --seeds 20
      20 replicates of the baseline; writes out/batch/
  surge batch baseline no_speculation --seeds 20 --jobs 2 --out out/ablation
      both scenarios with the same 20 seeds (common random numbers), 2 worker processes
  surge batch baseline --grid herding_strength=0,0.25,0.5 --grid chartist_trend_gain=1,3
      a 3 x 2 grid of parameter values, each with the --seeds replicates
  surge batch baseline --seeds 50 --out out/big --resume
      finish a batch that was interrupted (or rerun its failed runs); finished runs
      are kept and the results are the same as those of an uninterrupted batch
  surge batch baseline --executor dask --scheduler tcp://127.0.0.1:8786
      run on a running dask cluster whose workers have Surge installed

seeds: replicate k of every scenario and grid point runs with the k-th seed spawned
from --root-seed (numpy SeedSequence), whatever the order the runs finish in.

files written to the output folder:
  manifest.json             batch spec and one record per finished run
  runs/<run_id>.parquet     the monthly table of one run (units in column names)
  runs/<run_id>.phases.csv  its detected Perez phases
  runs/<run_id>.json        its record: scenario, grid values, seed, status, timing,
                            error with traceback if it failed
  batch.lock                while the batch runs (one batch per folder at a time)

exit codes: 0 every run ok, 1 some runs failed (their records say why; --resume
reruns them), 2 bad input (nothing is written), 130 interrupted (--resume finishes)
"""

SUMMARY_EPILOG = """\
examples:
  surge summary out/batch
      median and 10th-90th percentiles of the headline metrics and phase dates, per
      scenario and grid point
  surge summary out/ablation --csv out/ablation/summary.csv
      also save the summary as CSV (one row per scenario and grid point)
"""

COMMANDS_EPILOG = """\
commands:
  surge run baseline                      one run, outputs in out/baseline/
  surge list                              the scenarios and what they are for
  surge show no_speculation               resolved parameters and where each was set
  surge batch baseline no_speculation --seeds 20
                                          an ensemble of runs in out/batch/
  surge summary out/batch                 ensemble medians and percentiles
  surge sensitivity baseline --method morris --params all --n 10
                                          which parameters drive the outputs
  surge compare us_frontier china_diffusion
                                          strategy comparison report in out/compare/
  surge plot out/compare                  redraw a comparison's charts
  surge calibrate                         fit the baseline to 2018-2024 public figures
  surge app                               watch a run in the browser, phases as they emerge

'surge COMMAND --help' shows the options and more examples of each command.

"""


def _positive(what: str):
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid {what} {text!r}: expected an integer"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"invalid {what} {value}: must be at least 1")
        return value

    return convert


def _add_other_commands(commands) -> None:
    commands.add_parser(
        "list",
        help="list the scenarios in scenarios/ with their descriptions",
        description="List the scenarios in scenarios/ with their one-line descriptions.",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    show = commands.add_parser(
        "show",
        help="show a scenario's resolved parameters and where each value was set",
        description=(
            "Show every parameter of a scenario as a run would use it, grouped, with its unit"
            " and its source: file:line where it was set (following `extends`), --set, or"
            " default."
        ),
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("scenario", metavar="NAME|FILE", help="a scenario name or a .toml file")
    show.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="show the parameters with this override applied; repeatable",
    )

    batch = commands.add_parser(
        "batch",
        help="run scenarios x grid points x seeds and write every run's results",
        description=(
            "Run one or more scenarios, over a grid of parameter values, with several seeds"
            " each, in parallel; write each run's table, phases and record into one folder."
        ),
        epilog=BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument(
        "scenarios",
        nargs="+",
        metavar="NAME|FILE",
        help="scenario names in scenarios/ or .toml files",
    )
    batch.add_argument(
        "--seeds",
        type=_positive("number of seeds"),
        default=10,
        metavar="N",
        help="replicates (seeds) per scenario and grid point, >= 1 (default 10)",
    )
    batch.add_argument(
        "--root-seed",
        type=_seed,
        default=0,
        metavar="S",
        help="root of the seed sequence the replicate seeds are spawned from (default 0)",
    )
    batch.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a parameter over these values (read as TOML); repeat for a Cartesian grid",
    )
    batch.add_argument(
        "--out", metavar="DIR", default="out/batch", help="results folder (default out/batch)"
    )
    _add_execution_options(
        batch, "continue the batch in --out: keep runs that finished ok, run the rest"
    )
    _add_set_option(batch)

    summary = commands.add_parser(
        "summary",
        help="summarise a batch folder: ensemble medians and 10th/90th percentiles",
        description=(
            "Print, per scenario and grid point, the ensemble median and 10th/90th percentiles"
            " of the headline metrics and of each Perez phase's start and length."
        ),
        epilog=SUMMARY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    summary.add_argument("folder", metavar="DIR", help="a folder written by `surge batch`")
    summary.add_argument(
        "--csv", metavar="PATH", default=None, help="also save the summary table as CSV"
    )
    _add_sensitivity_command(commands)
    _add_compare_commands(commands)
    _add_calibrate_command(commands)
    _add_app_command(commands)


COMPARE_EPILOG = """\
examples:
  surge compare us_frontier china_diffusion
      32 seeds of each strategy plus the tipping runs (8 parameters x 2 values x 8
      seeds); writes out/compare/
  surge compare us_frontier china_diffusion --seeds 8 --no-tipping --out out/quick
      a quick comparison without the tipping runs
  surge compare us_frontier china_diffusion --resume
      reuse the finished runs in out/compare/ and run only what is missing

files written to --out:
  batch/                the ensembles (as `surge batch`; resumable)
  tipping/<parameter>/  the tipping runs, one batch per parameter
  comparison.csv/.md    per scenario: median and 10th/90th percentiles of every outcome
  per_run.csv           the outcomes of every run
  tipping.csv/.md       which parameter values reverse the ranking of the first two
                        scenarios on productivity gain and on stranded capital
  networks.json         one representative seed per scenario at the frenzy peak and
                        after the turning point (the model is rerun for this)
  series, phases, scatter, network (.png and .svg)   the charts
  report.md, report.html   the table, the charts and what differs, in numbers

exit codes: 0 success, 1 some runs failed (rerun with --resume), 2 bad input,
130 interrupted (--resume finishes)
"""

PLOT_EPILOG = """\
examples:
  surge plot out/compare
      redraw series, phases, scatter and network (.png, .svg) from the saved results in
      out/compare/ (written by `surge compare`) without running anything
"""


def _add_compare_commands(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare strategies: ensembles, outcome table, charts, tipping parameters",
        description=(
            "Run (or reuse with --resume) an ensemble of each scenario with common seeds and"
            " write a comparison report: outcome table, charts, and which parameter values"
            " reverse the ranking of the first two scenarios."
        ),
        epilog=COMPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "scenarios", nargs="+", metavar="NAME|FILE", help="two or more scenarios to compare"
    )
    compare.add_argument(
        "--seeds",
        type=_positive("number of seeds"),
        default=32,
        metavar="N",
        help="replicates per scenario, >= 1 (default 32)",
    )
    compare.add_argument(
        "--root-seed", type=_seed, default=0, metavar="S", help="root of the seeds (default 0)"
    )
    compare.add_argument(
        "--out", metavar="DIR", default="out/compare", help="report folder (default out/compare)"
    )
    _add_execution_options(compare, "reuse the finished runs in --out")
    _add_set_option(compare)
    compare.add_argument(
        "--tipping",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the tipping parameters (default on)",
    )
    plot = commands.add_parser(
        "plot",
        help="redraw the charts of a comparison folder from its saved results",
        description="Redraw every chart of a `surge compare` folder; runs nothing.",
        epilog=PLOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plot.add_argument("folder", metavar="DIR", help="a folder written by `surge compare`")


APP_EPILOG = """\
examples:
  surge app
      serve the app at http://127.0.0.1:8765/ and open that address in a browser
  surge app --port 9000
      another port, e.g. when 8765 is taken
  surge app --host 0.0.0.0
      listen on every network interface: anyone who can reach this machine can use it

in the browser: pick a scenario, move the sliders and press Reset, then press Step or the
play button; the charts shade the Perez phases detected in the months run so far.
Ctrl+C stops the server.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected an integer") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value}: must be in 1-65535")
    return value


def _add_app_command(commands) -> None:
    app = commands.add_parser(
        "app",
        help="serve the interactive app: a run month by month in the browser",
        description=(
            "Serve the interactive app (Mesa's SolaraViz): pick a scenario, set its main"
            " parameters, step or play a run and watch the headline series, the detected"
            " Perez phases and the compute and capital networks as they change."
        ),
        epilog=APP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    app.add_argument(
        "--port", type=_port, default=8765, metavar="N", help="port to listen on (default 8765)"
    )


SENSITIVITY_EPILOG = """\
examples:
  surge sensitivity baseline --method morris --params all --n 10 --seeds 2
      Morris screening of every parameter with sensitivity bounds (sens= in
      sim/params.py); writes out/sensitivity/baseline_morris/
  surge sensitivity baseline --method sobol --params herding_strength,tobin_q_sensitivity \\
      --n 512 --executor dask --scheduler tcp://10.0.0.5:8786
      Sobol' indices of two parameters (n must be a power of 2) on a dask cluster
  surge sensitivity baseline --method sobol --params all --n 1024 --resume
      finish an interrupted study: finished runs are kept

files written to --out:
  batch/            the batch of runs (as `surge batch`; resumable)
  indices.csv       per output and parameter: mu_star, mu_star_conf, sigma, mu (Morris)
                    or S1, S1_conf, ST, ST_conf (Sobol', 95% bootstrap intervals)
  outputs.csv       the design, one row per point, with its outputs averaged over seeds
  run_outputs.csv   the outputs of every run
  morris_*.png / sobol_*.png   mu*-sigma plot / S1 and ST bars per output
  summary.md        the top drivers of each output
  study.json        method, parameters, bounds, seeds

a run without a turning point counts its horizon (its length in months) as the
turning-point month; summary.md reports the share of such runs.

exit codes: 0 success, 1 some runs failed (rerun with --resume), 2 bad input
"""


def _add_sensitivity_command(commands) -> None:
    sens = commands.add_parser(
        "sensitivity",
        help="global sensitivity analysis (Morris or Sobol') of a scenario's parameters",
        description=(
            "Sample parameters over their sensitivity bounds with SALib, run the sample as a"
            " batch and compute Morris or Sobol' indices of the headline outputs."
        ),
        epilog=SENSITIVITY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sens.add_argument("scenario", metavar="NAME|FILE", help="a scenario name or a .toml file")
    sens.add_argument("--method", choices=("morris", "sobol"), required=True)
    sens.add_argument(
        "--params",
        required=True,
        metavar="A,B|all",
        help="parameters to vary (flat or dotted names), or all with sensitivity bounds",
    )
    sens.add_argument(
        "--n",
        type=_positive("n"),
        required=True,
        metavar="N",
        help="Morris: trajectories; Sobol': base samples, a power of 2",
    )
    sens.add_argument(
        "--seeds",
        type=_positive("number of seeds"),
        default=1,
        metavar="K",
        help="replicates per design point; outputs are averaged over them (default 1)",
    )
    sens.add_argument(
        "--root-seed",
        type=_seed,
        default=0,
        metavar="S",
        help="root of the replicate seeds and of the sampler's seed (default 0)",
    )
    sens.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="study folder (default out/sensitivity/<scenario>_<method>)",
    )
    _add_execution_options(sens, "continue the study in --out")
    _add_set_option(sens)


CALIBRATE_EPILOG = """\
examples:
  surge calibrate
      fit the baseline's free parameters to the 2018-2024 figures in
      data/calibration_targets.csv (4 seeds per candidate, 400 candidates); writes
      out/calibration/baseline/
  surge calibrate --check-only --report-seeds 16
      no fit: hold the scenario as it is against the targets and past surges
  surge calibrate --params legacy_spend_growth_per_yr,rd_ambition_growth_per_yr \\
      --budget 100 --seeds 2
      a quick fit of two of the free parameters
  surge calibrate dotcom_like --check-only
      the historical checks (drawdown, turning-point length, capex fall) of a scenario

files written to --out:
  calibrated.toml   a scenario extending the input with the fitted values (not with
                    --check-only); run it with `surge run DIR/calibrated.toml`
  history.csv       every candidate of the search with its score (not with --check-only)
  batch/            the report runs (full length, --report-seeds seeds; resumable)
  parameters.json   the report runs' resolved parameters
  report.md         per target: figure and range, model median and 10-90%, distance;
                    targets not compared and why; historical checks
  report.csv        the same table; historical.csv the historical checks
  calibration.png   model against data, one panel per target

exit codes: 0 success, 1 some report runs failed (rerun with --resume), 2 bad input
"""


def _add_calibrate_command(commands) -> None:
    from sim.calibration import FREE_PARAMETERS

    cal = commands.add_parser(
        "calibrate",
        help="fit a scenario's free parameters to 2018-2024 public figures",
        description=(
            "Estimate the free parameters by simulated method of moments (SciPy's"
            " differential evolution over the distance to each target's range, several"
            " seeds per candidate, runs in parallel), write the fitted scenario and a"
            " report of every target against the model's ensemble."
        ),
        epilog=CALIBRATE_EPILOG
        + "\nfree parameters (search range; what pins each down):\n"
        + "".join(
            f"  {name} ({fp.low:g}-{fp.high:g}{', log' if fp.log else ''}): {fp.why}\n"
            for name, fp in FREE_PARAMETERS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cal.add_argument(
        "scenario",
        metavar="NAME|FILE",
        nargs="?",
        default="baseline",
        help="the scenario to start from (default baseline)",
    )
    cal.add_argument(
        "--seeds",
        type=_positive("number of seeds"),
        default=4,
        metavar="N",
        help="runs per candidate, on common seeds (default 4)",
    )
    cal.add_argument(
        "--budget",
        type=_positive("budget"),
        default=400,
        metavar="K",
        help="candidates the search may evaluate (default 400)",
    )
    cal.add_argument(
        "--params",
        default="",
        metavar="A,B",
        help="fit only these free parameters (default: all of them)",
    )
    cal.add_argument(
        "--report-seeds",
        type=_positive("number of report seeds"),
        default=16,
        metavar="N",
        help="full-length runs of the result for the report (default 16)",
    )
    cal.add_argument(
        "--check-only",
        action="store_true",
        help="do not fit: report how the scenario as it is meets the targets",
    )
    cal.add_argument(
        "--targets",
        metavar="CSV",
        default=None,
        help="targets file (default data/calibration_targets.csv)",
    )
    cal.add_argument(
        "--root-seed",
        type=_seed,
        default=0,
        metavar="S",
        help="root of the run seeds and of the optimiser's seed (default 0)",
    )
    cal.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default out/calibration/<scenario>)",
    )
    _add_execution_options(cal, "reuse finished report runs in --out/batch")


def _add_execution_options(parser: argparse.ArgumentParser, resume_help: str) -> None:
    """Where and how a command's runs execute: shared by batch, compare and sensitivity."""
    parser.add_argument(
        "--jobs",
        type=_positive("number of jobs"),
        default=None,
        metavar="J",
        help="worker processes for --executor process or a local dask cluster"
        " (default: the number of CPUs)",
    )
    parser.add_argument(
        "--executor",
        choices=("serial", "process", "dask"),
        default="process",
        help="where runs execute: serial (this process), process (a process pool, the"
        " default) or dask (a local dask cluster, or --scheduler)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --executor dask: a running scheduler, e.g. tcp://127.0.0.1:8786",
    )
    parser.add_argument("--resume", action="store_true", help=resume_help)


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    """--set for the commands whose runs take parameter overrides (not calibrate, whose
    fitted scenario file must say everything the fit assumed: put fixed values in a
    scenario file for it)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=SET_HELP,
    )


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


# ---- list and show ----------------------------------------------------------------------


def _display_path(path: Path) -> str:
    """A path relative to the working folder when it lies inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            with path.open("rb") as fh:
                header = tomllib.load(fh)
            text = str(header.get("description", "")).strip() or "(no description)"
            if "extends" in header:
                text += f"  [extends {header['extends']}]"
        except (OSError, tomllib.TOMLDecodeError) as exc:
            text = f"(cannot be read: {exc})"
        rows.append((path.stem, " ".join(text.split())))
    if not rows:
        print(f"no scenarios in {SCENARIO_DIR}")
        return EXIT_OK
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    return EXIT_OK


_TABLE_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def toml_key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line where it is assigned, for the simple TOML of scenarios.

    Understands [table] headers, bare/quoted/dotted keys and skips the inside of
    multi-line strings; keys it cannot place are simply absent.
    """
    lines: dict[str, int] = {}
    table: list[str] = []
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote is not None:  # inside a multi-line string
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        header = _TABLE_RE.match(line)
        if header:
            table = [part.strip() for part in header.group(1).split(".")]
            continue
        key = _KEY_RE.match(line)
        if not key:
            continue
        parts = [
            part.strip().strip("\"'")
            for part in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", key.group(1))
        ]
        lines.setdefault(".".join([*table, *parts]), number)
        rest = line[key.end() :]
        for quote in ('"""', "'''"):
            if rest.count(quote) % 2 == 1:
                open_quote = quote
                break
    return lines


def scenario_sources(name_or_path: str | Path) -> tuple[list[Path], dict[str, str]]:
    """The `extends` chain of a scenario (leaf first) and where each set value comes from.

    Sources are 'path:line' of the file that set the value last (a child overrides its
    parent); parameters no file sets are absent. Assumes the scenario loads (call
    load_scenario first): this only locates values, it does not check them.
    """
    chain: list[Path] = []
    sources: dict[str, str] = {}

    def visit(path: Path) -> None:
        if path.resolve() in [p.resolve() for p in chain]:
            return
        chain.append(path)
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        if "extends" in data:  # the same rule as sim.params: a .toml path is file-relative
            parent = str(data["extends"])
            if parent.endswith(".toml") and not Path(parent).is_absolute():
                parent = str(path.parent / parent)
            visit(scenario_path(parent))
        where = toml_key_lines(text)
        shown = _display_path(path)
        for group, table in data.items():
            if group in GROUPS and isinstance(table, dict):
                for name in table:
                    line = where.get(f"{group}.{name}")
                    sources[f"{group}.{name}"] = f"{shown}:{line}" if line else shown

    visit(scenario_path(name_or_path))
    return chain, sources


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def cmd_show(args: argparse.Namespace) -> int:
    import dataclasses

    overrides = parse_overrides(args.overrides)
    params = load_scenario(args.scenario, overrides)  # bad input fails here
    chain, sources = scenario_sources(args.scenario)
    for key in overrides:
        group = key.split(".", 1)[0] if "." in key else FIELD_GROUP[key]
        name = key.split(".", 1)[1] if "." in key else key
        sources[f"{group}.{name}"] = f"--set {key}"
    header = tomllib.loads(chain[0].read_text(encoding="utf-8"))
    print(f"scenario     {params.name}")
    print(f"file         {_display_path(chain[0])}")
    if len(chain) > 1:
        print(f"extends      {' -> '.join(_display_path(p) for p in chain[1:])}")
    if params.description:
        print(f"description  {params.description}")
    if header.get("claim"):
        print(f"claim        {header['claim']}")
    flat = params.flat()
    rows: list[tuple[str, str, str, str, str]] = []
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            dotted = f"{group}.{f.name}"
            rows.append(
                (
                    group,
                    f.name,
                    _format_value(flat[dotted]),
                    f.metadata.get("unit") or "-",
                    sources.get(dotted, "default"),
                )
            )
    w_name = max(len(r[1]) for r in rows)
    w_value = max(len(r[2]) for r in rows)
    w_unit = max(len(r[3]) for r in rows)
    current = None
    for group, name, value, unit, source in rows:
        if group != current:
            print(f"\n[{group}]")
            current = group
        print(f"  {name:<{w_name}}  {value:<{w_value}}  {unit:<{w_unit}}  {source}")
    return EXIT_OK


# ---- batch and summary ------------------------------------------------------------------


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """['months=36,48', 'preference=a,b'] -> {'months': [36, 48], 'preference': ['a', 'b']}.

    Each value is read as TOML like a --set value; the parameter validation then checks
    every value against the parameter's type and range.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. --grid months=120,240")
        pieces = [piece.strip() for piece in text.split(",")]
        if not any(pieces) or not all(pieces):
            raise UsageError(f"--grid {item!r}: give one or more values separated by commas")
        if key in grid:
            raise UsageError(f"--grid {key}: given twice; list all its values in one --grid")
        grid[key] = [parse_overrides([f"v={piece}"])["v"] for piece in pieces]
    return grid


def _check_batch_out(out: Path) -> None:
    """Like check_writable, for a folder that the batch writes into (not next to)."""
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a folder")
        for folder in (out, out / "runs"):
            if folder.exists() and (
                not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK)
            ):
                raise UsageError(f"--out {out}: no permission to write in {folder}")
        return
    check_writable(out)


def cmd_batch(args: argparse.Namespace) -> int:
    from sim.batch import BatchError, plan_batch
    from sim.executors import ExecutorError, check_executor

    overrides = parse_overrides(args.overrides)
    grid = parse_grid(args.grid)
    try:
        check_executor(args.executor, args.scheduler)
        plan = plan_batch(
            args.scenarios,
            seeds=args.seeds,
            root_seed=args.root_seed,
            grid=grid,
            overrides=overrides,
        )
    except (BatchError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    _check_batch_out(out)
    n = len(plan.tasks)
    result = _execute(plan, out, args)
    if result is None:
        return EXIT_INTERRUPTED
    print(
        f"{n} runs: {result.ok} ok ({result.skipped} already done), {result.failed} failed;"
        f" records in {out}/manifest.json"
    )
    for record in result.records:
        if record.get("status") != "ok":
            last = (record.get("error") or "").strip().splitlines()[-1:] or ["unknown error"]
            print(
                f"  failed {record['run_id']} ({record['scenario']}, seed {record['seed']}):"
                f" {last[0]}  [see {out}/runs/{record['run_id']}.json]"
            )
    if result.failed:
        print(f"rerun the failed runs with: {PROG} batch ... --out {out} --resume")
    print(f"summary: {PROG} summary {out}")
    return result.exit_code


def _execute(plan, folder: Path, args: argparse.Namespace, **options):
    """Run a planned batch into folder; None if it was interrupted (Ctrl-C or SIGTERM)."""
    from sim.batch import BatchError, BatchInterrupted, run_batch

    previous = _raise_on_sigterm()
    try:
        return run_batch(
            plan,
            folder,
            executor=args.executor,
            jobs=args.jobs,
            scheduler=args.scheduler,
            resume=args.resume,
            progress=True,
            **options,
        )
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    except BatchInterrupted as exc:
        done, n = len(exc.result.records), len(plan.tasks)
        print(
            f"{PROG}: interrupted; {done} of {n} runs are recorded in {folder}/; "
            "rerun with --resume to finish",
            file=sys.stderr,
        )
        return None
    finally:
        with contextlib.suppress(TypeError, ValueError):
            signal.signal(signal.SIGTERM, previous)


def _raise_on_sigterm():
    """SIGTERM stops a batch like Ctrl-C: records stay consistent and the lock is released."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)


def cmd_summary(args: argparse.Namespace) -> int:
    from analysis.results import ResultsError, format_summary, load_results, summarise

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    csv = Path(args.csv) if args.csv else None
    if csv is not None:
        if csv.exists() and csv.is_dir():
            raise UsageError(f"--csv {csv}: is a folder")
        check_writable(csv.parent if str(csv.parent) else Path("."))
    try:
        frame = load_results(folder)
        table = summarise(frame)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    print(format_summary(table))
    if csv is not None:
        from sim.batch import write_atomic

        csv.parent.mkdir(parents=True, exist_ok=True)
        text = table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
        write_atomic(csv, text.encode())
        print(f"wrote {csv}")
    return EXIT_OK


# A study can have 10^5 runs: rewrite its manifest at most this often (the run records are
# written as each run finishes, and --resume rebuilds the manifest from them).
MANIFEST_EVERY_S = 2.0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.batch import BatchError
    from sim.executors import ExecutorError, check_executor
    from sim.sensitivity import SensitivityError, plan_study

    overrides = parse_overrides(args.overrides)
    try:
        check_executor(args.executor, args.scheduler)
        study = plan_study(
            args.scenario,
            args.method,
            args.params,
            args.n,
            seeds=args.seeds,
            root_seed=args.root_seed,
            overrides=overrides,
        )
    except (BatchError, ExecutorError, SensitivityError) as exc:
        raise UsageError(str(exc)) from None
    stem = Path(str(args.scenario)).stem
    out = Path(args.out) if args.out else Path("out/sensitivity") / f"{stem}_{args.method}"
    batch_folder = out / "batch"
    _check_batch_out(out)
    n = len(study.plan.tasks)
    result = _execute(study.plan, batch_folder, args, manifest_every_s=MANIFEST_EVERY_S)
    if result is None:
        return EXIT_INTERRUPTED
    print(f"{n} runs: {result.ok} ok ({result.skipped} already done), {result.failed} failed")
    if result.exit_code != EXIT_OK:
        print(f"not analysed; rerun the failed runs with: {PROG} sensitivity ... --resume")
        return result.exit_code
    from analysis.sensitivity import write_report

    written = write_report(
        out,
        batch_folder,
        study.method,
        study.problem,
        study.design,
        study.plan.point_hashes,
        study.meta(),
        study.seed,
    )
    print(f"wrote {', '.join(p.name for p in written)} in {out}/")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.batch import BatchError, plan_batch
    from sim.executors import ExecutorError, check_executor

    if len(args.scenarios) < 2:
        raise UsageError("compare needs at least two scenarios")
    overrides = parse_overrides(args.overrides)
    out = Path(args.out)
    try:
        check_executor(args.executor, args.scheduler)
        plan = plan_batch(
            args.scenarios, seeds=args.seeds, root_seed=args.root_seed, overrides=overrides
        )
        from analysis.comparison import plan_tipping

        tipping = plan_tipping(args.scenarios, args.root_seed, overrides) if args.tipping else {}
    except (BatchError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    _check_batch_out(out)
    batches = [(plan, out / "batch")]
    batches += [(p, out / "tipping" / name) for name, p in tipping.items()]
    for plan_k, folder in batches:
        result = _execute(plan_k, folder, args)
        if result is None:
            return EXIT_INTERRUPTED
        if result.exit_code != EXIT_OK:
            print(
                f"{result.failed} runs failed in {folder}/; rerun with: {PROG} compare ... --resume"
            )
            return result.exit_code
    from analysis.comparison import write_report
    from analysis.results import ResultsError

    try:
        written = write_report(out, overrides, tipping_parameters=list(tipping))
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {', '.join(p.name for p in written)} in {out}/")
    print(f"report: {out}/report.md (and report.html)")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    import pandas as pd

    from analysis.calibration import TARGETS_FILE, TargetsError, load_targets, write_report
    from sim.batch import BatchError, plan_batch, write_atomic
    from sim.calibration import (
        CalibrationError,
        check_free_parameters,
        fit_months,
        scenario_toml,
    )
    from sim.executors import ExecutorError, check_executor

    scenario = args.scenario
    stem = Path(str(scenario)).stem
    out = Path(args.out) if args.out else Path("out/calibration") / stem
    check_writable(out)
    names = [n.strip() for n in args.params.split(",") if n.strip()]
    try:
        check_executor(args.executor, args.scheduler)
        targets = load_targets(args.targets or TARGETS_FILE)
        free = check_free_parameters(names)
        fit_months(scenario)  # a scenario that cannot be fitted fails before any run
    except (TargetsError, CalibrationError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    fitted: dict[str, float] = {}
    fitted_file = out / "calibrated.toml"
    if not args.check_only and fitted_file.exists() and args.resume:
        fitted = _read_fitted(fitted_file)  # the fit finished; finish its report runs
        scenario = str(fitted_file.resolve())
    elif not args.check_only:
        if fitted_file.exists() or (out / "batch").exists():
            raise UsageError(
                f"--out {out}: holds an earlier calibration; give another --out, or"
                " --resume to finish its report"
            )
        fitted = _fit(args, scenario, targets, free, out)
        out.mkdir(parents=True, exist_ok=True)
        text = scenario_toml(
            str(scenario_path(scenario).resolve()) if Path(str(scenario)).suffix else scenario,
            fitted,
            f"{stem} with its free parameters fitted to 2018-2024 by surge calibrate",
            header=[
                f"fitted by: surge calibrate {stem} --seeds {args.seeds} "
                f"--budget {args.budget} --root-seed {args.root_seed}"
            ],
        )
        write_atomic(fitted_file, text.encode())
        scenario = str(fitted_file.resolve())
    try:
        plan = plan_batch([scenario], seeds=args.report_seeds, root_seed=args.root_seed)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    result = _execute(plan, out / "batch", args)
    if result is None:
        return EXIT_INTERRUPTED
    if result.exit_code != EXIT_OK:
        print(f"report not written; rerun the failed runs with: {PROG} calibrate ... --resume")
        return result.exit_code
    resolved = load_scenario(scenario)
    parameters = resolved.flat()
    write_atomic(out / "parameters.json", json.dumps(parameters, indent=1, default=str).encode())
    title = f"{resolved.name}: model against 2018-2024 figures"
    written = write_report(out, out / "batch", parameters, targets, title, fitted)
    report = pd.read_csv(out / "report.csv")
    print(f"inside the range: {int(report['inside'].sum())} of {len(report)} compared targets")
    print(f"wrote {', '.join(p.name for p in written)} in {out}/")
    return EXIT_OK


def _read_fitted(path: Path) -> dict[str, float]:
    """The fitted values of a calibrated.toml, by dotted name."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return {
        f"{group}.{name}": value
        for group, table in data.items()
        if isinstance(table, dict)
        for name, value in table.items()
    }


def _fit(args: argparse.Namespace, scenario: str, targets, free, out: Path) -> dict[str, float]:
    """Run the search with a progress bar; write history.csv; return the fitted values."""
    from tqdm import tqdm

    from analysis.calibration import score_function
    from sim.batch import write_atomic
    from sim.calibration import CalibrationError, calibrate

    with tqdm(total=args.budget, desc="calibrate", unit="candidate") as bar:

        def advance(evaluated: int, best: float) -> None:
            bar.update(min(evaluated, bar.total - bar.n))
            bar.set_postfix(best=f"{best:.3g}")

        try:
            result = calibrate(
                scenario,
                score_function(targets),
                seeds=args.seeds,
                budget=args.budget,
                root_seed=args.root_seed,
                free=free,
                executor=args.executor,
                jobs=args.jobs,
                scheduler=args.scheduler,
                on_generation=advance,
            )
        except CalibrationError as exc:
            raise UsageError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "history.csv", result.history_frame().to_csv(index=False).encode())
    print(f"best score {result.best_score:.4g} ({result.message})")
    return result.best


def cmd_plot(args: argparse.Namespace) -> int:
    from analysis.comparison import BATCH, draw_charts
    from analysis.results import ResultsError

    folder = Path(args.folder)
    if not (folder / BATCH).is_dir():
        raise UsageError(f"{folder}: no {BATCH}/ folder; is this a `surge compare` folder?")
    try:
        written = draw_charts(folder)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    print(f"redrew {', '.join(p.name for p in written)} in {folder}/")
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> NoReturn:
    """Hand this process over to the Solara server, so Ctrl+C and signals reach it directly."""
    print(f"Surge app at http://{args.host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    command = [
        sys.executable, "-m", "solara", "run", "surge_app.page",
        "--host", args.host, "--port", str(args.port), "--production", "--no-open",
    ]  # fmt: skip
    # Quiet two of Solara's development checks: a rules-of-hooks warning about Mesa's own
    # code, and one on every page load that cookies are not secure over plain http.
    warnings = "ignore:Cookies with samesite=none require https:UserWarning"
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",  # figures are drawn off screen, into images
        "SOLARA_CHECK_HOOKS": "off",
        "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), warnings])),
    }
    os.execve(sys.executable, command, env)


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
        if args.command == "list":
            return cmd_list(args)
        if args.command == "show":
            return cmd_show(args)
        if args.command == "batch":
            return cmd_batch(args)
        if args.command == "summary":
            return cmd_summary(args)
        if args.command == "sensitivity":
            return cmd_sensitivity(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "plot":
            return cmd_plot(args)
        if args.command == "calibrate":
            return cmd_calibrate(args)
        if args.command == "app":
            return cmd_app(args)
    except (UsageError, ScenarioError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `surge show baseline | head`: the reader left; not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return _error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())

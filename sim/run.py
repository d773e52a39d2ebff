"""One run of one scenario with one seed, as a pure function.

A run is the unit everything else is built from: the command line, batch sweeps and
parallel workers. Keeping it free of side effects (no files, no plots, no global state)
means it can be pickled off to a worker process, repeated for a seed sweep, or tested
in-process, and the caller alone decides what to write where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from sim.model import SurgeModel
from sim.params import load_scenario


def run_scenario(
    scenario: str | Path = "baseline",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run ``scenario`` (a name in scenarios/ or a TOML path) with ``seed``; return the table.

    ``overrides`` maps flat or dotted parameter names to values, checked like TOML values
    (a bad one raises :class:`sim.params.ScenarioError`). ``progress`` shows a tqdm bar on
    stderr, one tick per simulated month.

    The result is the model's monthly table, one row per month, with ``scenario`` (the
    scenario's name) and ``seed`` columns inserted right after ``date``.

    Why a pure function: one run is a self-contained, side-effect-free unit of work. It
    writes no files and touches no shared state, so it can be shipped to a worker process
    as-is (arguments and result are plain, picklable values) and the same arguments always
    give the same table.
    """
    params = load_scenario(scenario, overrides)
    model = SurgeModel(params=params, rng=seed)
    with tqdm(
        total=params.run.months,
        desc=f"{params.name} (seed {seed})",
        unit="month",
        disable=not progress,
    ) as bar:
        table = model.run(progress=bar)
    table.insert(1, "scenario", params.name)
    table.insert(2, "seed", seed)
    return table

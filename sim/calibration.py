"""Fit the baseline's free parameters to 2018-2024 by simulated method of moments.

The search is SciPy's differential evolution (Storn & Price 1997), a population method
that needs no gradient and tolerates the kinks that thresholds in agent rules put in the
objective. Each generation's candidates are evaluated together: every candidate is run
with the same ``seeds`` (common random numbers, so two candidates differ by their
parameters and not by their luck), all runs of the generation go through the batch
executor at once (serial, local processes or Dask), and a caller-supplied ``score``
turns a candidate's tables into one number to minimise. Runs stop at the end of the fit
window (December 2024), which makes an evaluation cheap and makes plain that later years
play no part in the fit.

The same root seed, seeds, budget and executor-independent scoring give the same fit:
the optimiser's generator is seeded from the root seed and run results do not depend on
where they ran.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch import plan_points
from sim.executors import map_runs
from sim.params import GROUPS, load_scenario, resolve_key

FIT_END_MONTH = "2024-12"  # last month of the fit window


@dataclass(frozen=True)
class FreeParameter:
    """A parameter the calibration may move, within ``[low, high]``.

    ``log`` searches the logarithm (for scales spanning orders of magnitude); ``why``
    says which targets pin it down.
    """

    low: float
    high: float
    log: bool
    why: str


# The free parameters: those with no direct public measurement that mainly set the
# level and timing of the 2018-2024 series. Parameters measured directly (algorithmic
# progress, Chinchilla coefficients, useful lives) keep their published values; the Bass
# innovation rate moves only inside the range the literature gives for it, and the
# hardware doubling time is held to the measured 2018-2024 price-performance by its target.
# Parameters that 2018-2024 does not move (the cap fundamentals put on labs' R&D binds
# only from 2025) are left out: a search would set them at random.
FREE_PARAMETERS: dict[str, FreeParameter] = {
    "technology.flop_per_usd_doubling_years": FreeParameter(
        1.6,
        2.95,
        False,
        "GPU price-performance 2018-2024 (the hardware curve flattens, so its starting "
        "doubling time lies below the period's average) and training compute growth",
    ),
    "technology.power_efficiency_elasticity": FreeParameter(
        0.3, 1.0, False, "data-centre electricity growth 2018-2023 against capex growth"
    ),
    "hyperscalers.legacy_spend_start_usd_bn_per_yr": FreeParameter(
        20.0, 120.0, False, "capex 2018-2020: non-AI cloud and internal workloads"
    ),
    "hyperscalers.legacy_spend_growth_per_yr": FreeParameter(
        0.0,
        0.5,
        False,
        "capex 2018-2022: growth of cloud before the AI boom (cloud revenue grew 30-50% a "
        "year in 2018-2022)",
    ),
    "labs.rd_spend_start_usd_bn_per_month": FreeParameter(
        0.00002, 0.02, True, "frontier training compute 2020"
    ),
    "labs.rd_ambition_growth_per_yr": FreeParameter(
        0.5, 4.0, False, "growth of training compute and of its cost"
    ),
    "labs.final_run_share": FreeParameter(
        0.05,
        0.5,
        False,
        "training compute 2020 and 2023 against capex 2024: how much of labs' compute "
        "spending goes into the largest run",
    ),
    "labs.training_flop_gain_per_yr": FreeParameter(
        0.0,
        0.4,
        False,
        "training compute growth against training cost growth: what Cottier et al.'s gap "
        "(compute 4.2x, cost 2.4x a year) leaves after hardware",
    ),
    "adopters.required_capability_mean": FreeParameter(
        35.0, 70.0, False, "firms' AI use 2024 and lab revenue 2024"
    ),
    "adopters.bass_innovation_per_yr": FreeParameter(
        0.003, 0.05, False, "firms' AI use 2024 (bounded by the Sultan et al. range)"
    ),
    "hyperscalers.rent_utilisation_elasticity": FreeParameter(
        0.5, 6.0, False, "GPU rent 2023 (the scarcity premium) and 2024"
    ),
}


class CalibrationError(ValueError):
    """Bad calibration input (unknown parameter, budget too small...)."""


@dataclass
class Evaluation:
    """One candidate: its parameter values and score (``inf`` if a run failed)."""

    generation: int
    values: dict[str, float]
    score: float


@dataclass
class CalibrationResult:
    best: dict[str, float]
    best_score: float
    history: list[Evaluation] = field(default_factory=list)
    message: str = ""

    def history_frame(self) -> pd.DataFrame:
        rows = [{"generation": e.generation, **e.values, "score": e.score} for e in self.history]
        return pd.DataFrame(rows)


def check_free_parameters(names: Sequence[str]) -> dict[str, FreeParameter]:
    """The free parameters named (dotted or flat names), or all of them for an empty list."""
    if not names:
        return dict(FREE_PARAMETERS)
    chosen: dict[str, FreeParameter] = {}
    for name in names:
        try:
            group, attribute = resolve_key(name, "--params")
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
        dotted = f"{group}.{attribute}"
        if dotted not in FREE_PARAMETERS:
            raise CalibrationError(
                f"--params {name}: not a free parameter of the calibration; choose from "
                f"{', '.join(sorted(FREE_PARAMETERS))}"
            )
        chosen[dotted] = FREE_PARAMETERS[dotted]
    return chosen


def fit_months(scenario: str | Path) -> int:
    """Months from the scenario's start to the end of the fit window, inclusive."""
    start = pd.Period(load_scenario(scenario).run.start_month, freq="M")
    months = (pd.Period(FIT_END_MONTH, freq="M") - start).n + 1
    if months < 24:
        raise CalibrationError(
            f"scenario starts {start}: fewer than 24 months before {FIT_END_MONTH} to fit"
        )
    return months


def _to_values(x: np.ndarray, free: Mapping[str, FreeParameter]) -> dict[str, float]:
    """Unit-cube coordinates -> parameter values (log-uniform for log parameters)."""
    values = {}
    for u, (name, fp) in zip(x, free.items(), strict=True):
        u = float(min(1.0, max(0.0, u)))
        if fp.log:
            value = math.exp(math.log(fp.low) + u * (math.log(fp.high) - math.log(fp.low)))
        else:
            value = fp.low + u * (fp.high - fp.low)
        values[name] = float(f"{value:.6g}")  # short, readable values in the scenario file
    return values


def _to_unit(values: Mapping[str, float], free: Mapping[str, FreeParameter]) -> np.ndarray:
    out = []
    for name, fp in free.items():
        v = float(values[name])
        if fp.log:
            out.append((math.log(v) - math.log(fp.low)) / (math.log(fp.high) - math.log(fp.low)))
        else:
            out.append((v - fp.low) / (fp.high - fp.low))
    return np.clip(np.array(out), 0.0, 1.0)


Score = Callable[[list[pd.DataFrame], dict[str, Any]], float]


def evaluate_points(
    scenario: str | Path,
    points: list[dict[str, float]],
    score: Score,
    seeds: int,
    root_seed: int,
    months: int,
    executor: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
) -> list[float]:
    """Score each parameter point from its runs (one per seed) up to ``months``.

    All runs of all points go to the executor at once. ``score(tables, parameters)``
    receives a point's tables in seed order and its resolved flat parameters. A point
    with a failed run scores ``inf``.
    """
    plan = plan_points(
        scenario, points, seeds=seeds, root_seed=root_seed, overrides={"run.months": months}
    )
    tables: dict[tuple[str, int], pd.DataFrame] = {}
    failed: set[str] = set()
    for task, outcome in map_runs(plan.tasks, executor, jobs, scheduler):
        if isinstance(outcome, BaseException):
            failed.add(task.param_hash)
        else:
            tables[(task.param_hash, task.replicate)] = outcome["table"]
    scores = []
    for point, phash in zip(points, plan.point_hashes, strict=True):
        if phash in failed:
            scores.append(math.inf)
            continue
        runs = [tables[(phash, k)] for k in range(seeds)]
        flat = load_scenario(scenario, {"run.months": months, **point}).flat()
        scores.append(float(score(runs, flat)))
    return scores


def calibrate(
    scenario: str | Path,
    score: Score,
    seeds: int = 4,
    budget: int = 400,
    root_seed: int = 0,
    free: Mapping[str, FreeParameter] | None = None,
    executor: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
    on_generation: Callable[[int, float], None] | None = None,
) -> CalibrationResult:
    """Minimise ``score`` over the free parameters with at most ``budget`` candidates.

    The scenario's own values seed the first population (so the fit can only improve
    on where it starts); the rest is a Latin hypercube. Population size is ``5 x`` the
    number of parameters; the number of generations follows from the budget.
    """
    from scipy.optimize import differential_evolution

    free = dict(free or FREE_PARAMETERS)
    dims = len(free)
    population = 5 * dims
    if budget < 2 * population:
        raise CalibrationError(
            f"--budget {budget}: need at least {2 * population} candidates "
            f"(two generations of {population} for {dims} parameters)"
        )
    months = fit_months(scenario)
    start = load_scenario(scenario).flat()
    rng = np.random.default_rng(np.random.SeedSequence(root_seed))
    init = _latin_hypercube(population, dims, rng)
    init[0] = _to_unit({name: start[name] for name in free}, free)
    result = CalibrationResult(best={}, best_score=math.inf)
    generation = itertools.count()

    def objective(x: np.ndarray) -> np.ndarray:
        """Vectorised objective: ``x`` is (parameters, candidates)."""
        g = next(generation)
        points = [_to_values(column, free) for column in x.T]
        scores = evaluate_points(
            scenario, points, score, seeds, root_seed, months, executor, jobs, scheduler
        )
        for point, s in zip(points, scores, strict=True):
            result.history.append(Evaluation(g, point, s))
            if s < result.best_score:
                result.best, result.best_score = point, s
        if on_generation is not None:
            on_generation(len(points), result.best_score)
        return np.array([s if math.isfinite(s) else 1e12 for s in scores])

    outcome = differential_evolution(
        objective,
        bounds=[(0.0, 1.0)] * dims,
        maxiter=budget // population - 1,
        popsize=population,  # with init given, the population is init's rows
        init=init,
        mutation=(0.5, 1.0),
        recombination=0.7,
        rng=rng,
        polish=False,
        vectorized=True,
        updating="deferred",
        tol=1e-3,
    )
    result.message = str(outcome.message)
    return result


def _latin_hypercube(n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=dims, rng=rng).random(n)


def scenario_toml(
    base: str, values: Mapping[str, float], description: str, header: Sequence[str] = ()
) -> str:
    """A scenario file that extends ``base`` and sets the fitted ``values`` (dotted names)."""
    lines = [f"# {line}" for line in header]
    lines += [
        f'name = "{Path(str(base)).stem}_calibrated"',
        f'description = "{description}"',
        'claim = "The 2018-2024 build-out is reproduced within the public figures\' ranges."',
        f'extends = "{base}"',
    ]
    by_group: dict[str, list[str]] = {}
    for dotted, value in values.items():
        group, name = dotted.split(".", 1)
        by_group.setdefault(group, []).append(f"{name} = {value!r}")
    for group in GROUPS:
        if group in by_group:
            lines += ["", f"[{group}]", *by_group[group]]
    return "\n".join(lines) + "\n"

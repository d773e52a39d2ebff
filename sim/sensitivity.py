"""Global sensitivity analysis: the SALib problem, its sample and the batch that runs it.

The parameters and their ranges come from the parameter definitions themselves: every
field made with ``p(..., sens=(low, high))`` in :mod:`sim.params` can be sampled, over
``[low, high]`` in its own unit. ``--params all`` means every such field.

A study is planned in three steps, none of which runs the model:

1. :func:`resolve_parameters` turns ``"a,b"`` or ``"all"`` into dotted names, refusing
   unknown names and parameters without sensitivity bounds (:class:`SensitivityError`).
2. :func:`sample` draws the SALib design: Morris trajectories (``n`` trajectories,
   ``levels`` grid levels) or a Saltelli/Sobol' sequence (``n`` base samples, a power of
   2; first and total order only, so ``n * (k + 2)`` rows for ``k`` parameters). The
   sampler's seed is derived from the root seed (:func:`sample_seed`), so the same
   command always gives the same design. Integer parameters are rounded when the design
   is turned into runs; the analysis uses the design as drawn.
3. :func:`plan_study` makes one batch (:func:`sim.batch.plan_points`): every distinct
   design row x ``seeds`` replicates, resumable and executor-independent like any batch.
   The outputs of a row are averaged over its replicates before the analysis
   (:mod:`analysis.sensitivity`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch import BatchPlan, plan_points
from sim.params import GROUPS, ScenarioError, resolve_key, sens_fields

METHODS = ("morris", "sobol")
MORRIS_LEVELS = 4


class SensitivityError(ValueError):
    """Bad sensitivity-analysis input; nothing was sampled, run or written."""


def resolve_parameters(spec: str) -> list[str]:
    """``"all"`` or a comma-separated list of flat or dotted names -> dotted names."""
    available = sens_fields()
    if spec.strip() == "all":
        return list(available)
    names: list[str] = []
    for raw in spec.split(","):
        key = raw.strip()
        if not key:
            raise SensitivityError(f"--params {spec!r}: empty parameter name")
        try:
            group, name = resolve_key(key, "--params")
        except ScenarioError as exc:
            raise SensitivityError(str(exc)) from None
        dotted = f"{group}.{name}"
        if dotted not in available:
            raise SensitivityError(
                f"--params: {dotted} has no sensitivity bounds (sens=) in sim/params.py; "
                f"parameters with bounds: {', '.join(n.split('.')[1] for n in available)}"
            )
        if dotted in names:
            raise SensitivityError(f"--params: {key} is given twice")
        names.append(dotted)
    return names


def _field(dotted: str) -> dataclasses.Field:
    group, name = dotted.split(".", 1)
    return next(f for f in dataclasses.fields(GROUPS[group]) if f.name == name)


def is_integer(dotted: str) -> bool:
    f = _field(dotted)
    return f.type in ("int", int)


def problem(names: list[str]) -> dict[str, Any]:
    """The SALib problem: dotted names, their sensitivity bounds and units."""
    if not names:
        raise SensitivityError("--params: give at least one parameter")
    fields_ = [_field(n) for n in names]
    return {
        "num_vars": len(names),
        "names": list(names),
        "bounds": [list(map(float, f.metadata["sens"])) for f in fields_],
        "units": [f.metadata["unit"] for f in fields_],
    }


def sample_seed(root_seed: int) -> int:
    """Seed of the SALib sampler and bootstrap: a function of the root seed only."""
    child = np.random.SeedSequence(root_seed, spawn_key=(0x5E45, 1))
    return int(child.generate_state(1)[0] % (2**31 - 1))


def check_n(method: str, n: int) -> None:
    if method not in METHODS:
        raise SensitivityError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise SensitivityError(f"--n {n}: need at least 2")
    if method == "sobol" and n & (n - 1):
        lower = 1 << (n.bit_length() - 1)
        raise SensitivityError(
            f"--n {n}: Sobol' sampling needs a power of 2, e.g. {lower} or {lower * 2}"
        )


def sample(prob: Mapping[str, Any], method: str, n: int, seed: int) -> np.ndarray:
    """The design: one row per model evaluation, one column per parameter."""
    check_n(method, n)
    salib_problem = {k: prob[k] for k in ("num_vars", "names", "bounds")}
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(salib_problem, N=n, num_levels=MORRIS_LEVELS, seed=seed)
    from SALib.sample import sobol

    return sobol.sample(salib_problem, N=n, calc_second_order=False, seed=seed)


def to_points(prob: Mapping[str, Any], design: np.ndarray) -> list[dict[str, Any]]:
    """Design rows -> parameter overrides (integer parameters rounded to the nearest)."""
    ints = [is_integer(n) for n in prob["names"]]
    points = []
    for row in np.asarray(design, dtype=float):
        points.append(
            {
                name: int(round(x)) if integer else float(x)
                for name, x, integer in zip(prob["names"], row, ints, strict=True)
            }
        )
    return points


@dataclass(frozen=True)
class Study:
    """A planned sensitivity study: its design and the batch that evaluates it."""

    scenario: str
    method: str
    n: int
    seeds: int
    root_seed: int
    problem: dict[str, Any]
    design: np.ndarray  # as sampled (not rounded): what the analysis uses
    plan: BatchPlan  # plan.point_hashes[i] identifies the runs of design row i

    @property
    def seed(self) -> int:
        return sample_seed(self.root_seed)

    def meta(self) -> dict[str, Any]:
        """Plain description of the study, stored beside its results."""
        return {
            "scenario": self.scenario,
            "method": self.method,
            "n": self.n,
            "seeds": self.seeds,
            "root_seed": self.root_seed,
            "sample_seed": self.seed,
            "morris_levels": MORRIS_LEVELS if self.method == "morris" else None,
            "parameters": self.problem["names"],
            "bounds": self.problem["bounds"],
            "units": self.problem["units"],
            "rows": int(self.design.shape[0]),
            "runs": len(self.plan.tasks),
        }


def plan_study(
    scenario: str | Path,
    method: str,
    params: str | list[str],
    n: int,
    seeds: int = 1,
    root_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> Study:
    """Check the input, draw the design and plan its batch; nothing runs."""
    names = resolve_parameters(params) if isinstance(params, str) else list(params)
    for name in names:
        if name not in sens_fields():
            raise SensitivityError(f"{name}: not a parameter with sensitivity bounds")
    check_n(method, n)
    for key in overrides or {}:
        group, name = resolve_key(key, "--set")
        if f"{group}.{name}" in names:
            raise SensitivityError(f"--set {key}: is also sampled (--params); give it once")
    prob = problem(names)
    seed = sample_seed(root_seed)
    design = sample(prob, method, n, seed)
    label = {"sensitivity": method, "n": n, "parameters": names, "sample_seed": seed}
    plan = plan_points(
        scenario,
        to_points(prob, design),
        seeds=seeds,
        root_seed=root_seed,
        overrides=overrides,
        label=label,
    )
    return Study(
        scenario=str(scenario),
        method=method,
        n=n,
        seeds=seeds,
        root_seed=root_seed,
        problem=prob,
        design=design,
        plan=plan,
    )

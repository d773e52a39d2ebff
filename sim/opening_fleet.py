"""The fleet and order book a hyperscaler holds when a run opens.

A run that opened with an empty order book would spend its first year filling it: capex
would climb from a fraction of its steady level, an artefact of the start rather than a
fact of 2018. Instead, the hyperscalers' own ordering rules (sim/rules/capacity.py and
`planned_capacity`) are run over the years before the first month on non-AI demand alone,
starting from a fleet whose vintages fall geometrically with age. By the first month the
start has been forgotten: the vintages, the accelerators on order, the buildings under
way and the demand outlook are what those rules leave under steady growth, and capex
carries on at its steady pace from the first month.

Assumed for those years: fabs, grids and lenders keep up (nothing in them binds), the
market values hyperscalers at their fundamentals (no Tobin's-q tilt), and the hardware
curve runs backwards at the opening month's pace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.rules.capacity import backlog_after_orders, buildings_needed_gw, housed_units
from sim.rules.finance import planned_capacity
from sim.technology import HOURS_PER_MONTH


@dataclass(frozen=True)
class OpeningFleet:
    """One hyperscaler's physical state at the start of the first month (month 0)."""

    units_mn: np.ndarray  # mn H100e by arrival month -life .. lead-1 (index 0 retires first)
    kw_per_unit: np.ndarray  # kW per H100e of each of those vintages
    backlog_mn: float  # accelerators on order at the fabs
    shells_ready_gw: float  # building power in place before month 0's arrivals
    shells_pipeline_gw: np.ndarray  # building power arriving in months 0 .. lead-1
    hours_asked: float  # hours asked in month -1
    demand_growth: float  # smoothed monthly log growth of hours asked

    @property
    def online_mn(self) -> float:
        """Units online in month -1: the vintages that arrived by then."""
        life = self.units_mn.size - self.shells_pipeline_gw.size
        return float(self.units_mn[:life].sum())


@dataclass(frozen=True)
class OrderingRules:
    """The parameters of a hyperscaler's ordering rules that the warm-up needs."""

    lead_months: int  # shipment to online
    adjustment_months: float  # a capacity gap is ordered over this many months
    life_months: int  # accelerators retire after this many months online
    target_utilisation: float
    demand_memory_months: float  # smoothing of demand growth
    max_growth_per_yr: float  # highest growth a plan extrapolates
    cancellation_per_month: float  # share of surplus orders cancelled a month


def warm_up_fleet(
    hours_at: Callable[[int], float],
    kw_at: Callable[[int], float],
    rules: OrderingRules,
    warm_up_months: int,
) -> OpeningFleet:
    """Run the ordering rules from month -warm_up_months to month -1.

    `hours_at(t)` is the hours asked of the hyperscaler in month t, `kw_at(t)` the power per
    H100e of a unit shipped in month t (both for t < 0). Each month follows the agent's
    order: buildings arrive and worn-out units retire, the demand outlook and the capacity
    plan are updated, accelerators and buildings are ordered, then the buildings are started
    and the units they can house are shipped, to come online `lead_months` later.
    """
    lead, life, start = rules.lead_months, rules.life_months, -warm_up_months
    first = start - life  # earliest arrival month held (the vintage retiring at the start)
    units = np.zeros(lead - first)  # by arrival month first .. lead-1
    kw = np.zeros(lead - first)
    shells_pipeline = np.zeros(lead - start)  # by arrival month start .. lead-1

    # the starting fleet: vintages falling geometrically with age at the growth of demand
    monthly = (hours_at(start + 12) / hours_at(start)) ** (1.0 / 12.0)
    capacity = hours_at(start) / HOURS_PER_MONTH / 1e6 / rules.target_utilisation
    ages = np.arange(-(lead - 1), life + 1)  # age 0 arrived at the start, < 0 on their way
    sizes = monthly ** (-ages.astype(float))
    sizes *= capacity / sizes[(ages >= 0) & (ages < life)].sum()
    for age, size in zip(ages, sizes, strict=True):
        units[start - age - first] = size
        kw[start - age - first] = kw_at(start - age - lead)
    shells_ready = float((units * kw).sum())  # buildings full, as steady growth leaves them
    backlog, hours_before = 0.0, hours_at(start - 1)
    demand_growth = math.log(monthly)

    for t in range(start, 0):
        shells_ready += shells_pipeline[t - start]
        units[t - life - first] = 0.0
        hours = hours_at(t)
        growth = math.log(max(hours, 1.0) / max(hours_before, 1.0))
        demand_growth += (growth - demand_growth) / rules.demand_memory_months
        hours_before = hours
        expected = min(math.expm1(12.0 * demand_growth), rules.max_growth_per_yr)
        target = planned_capacity(
            hours / HOURS_PER_MONTH / 1e6,
            max(expected, -0.5),
            lead + rules.adjustment_months,
            rules.target_utilisation,
            1.0,
            0.0,
        )
        retiring = units[t - life + 1 - first : t - life + lead - first].sum()
        have = units[: t + lead + 1 - first].sum() - retiring + backlog
        backlog = backlog_after_orders(
            backlog, target - have, rules.adjustment_months, rules.cancellation_per_month
        )
        free = shells_ready + shells_pipeline[t + 1 - start :].sum() - (units * kw).sum()
        built = buildings_needed_gw(backlog, kw_at(t), free) / rules.adjustment_months
        shells_pipeline[t + lead - start] += built
        shipped = housed_units(backlog, free + built, kw_at(t))
        units[t + lead - first] += shipped
        kw[t + lead - first] = kw_at(t)
        backlog -= shipped

    return OpeningFleet(
        units_mn=units[-(life + lead) :].copy(),
        kw_per_unit=kw[-(life + lead) :].copy(),
        backlog_mn=backlog,
        shells_ready_gw=shells_ready,
        shells_pipeline_gw=shells_pipeline[-lead:].copy(),
        hours_asked=hours_before,
        demand_growth=demand_growth,
    )

"""Non-AI demand, and ordering accelerators and buildings: the hyperscalers' supply chain.

The hyperscaler agent applies the ordering rules month by month, and the opening fleet's
warm-up (sim/opening_fleet.py) applies the same rules to the years before a run starts.
"""

from __future__ import annotations

import math


def legacy_spend_multiple(years: float, growth_per_yr: float, half_life_years: float) -> float:
    """Non-AI spending `years` after the start, as a multiple of its level at the start.

    Its log growth is ln(1 + g0) a year at the start and halves every h years after it
    (cloud growth slows as workloads finish moving to it), so the multiple is
    exp(ln(1 + g0) * h / ln 2 * (1 - 2^(-t/h))), which tends to (1 + g0)^t as h grows and
    levels off at exp(ln(1 + g0) * h / ln 2). Before the start (t < 0, the opening fleet's
    warm-up) it grew steadily at g0: (1 + g0)^t.
    Worked example: g0 = 0.2, h = 10, t = 10: ln 1.2 = 0.18232; 10 / ln 2 = 14.427;
    1 - 2^-1 = 0.5 -> exp(0.18232 * 14.427 * 0.5) = exp(1.3152) = 3.7254
    (constant growth would give 1.2^10 = 6.1917); t = -2: 1.2^-2 = 0.69444.
    """
    if years < 0:
        return (1.0 + growth_per_yr) ** years
    scale = half_life_years / math.log(2.0)
    return math.exp(math.log1p(growth_per_yr) * scale * -math.expm1(-years / scale))


def backlog_after_orders(
    backlog_mn: float, gap_mn: float, adjustment_months: float, cancellation_per_month: float
) -> float:
    """The order backlog at the fabs after this month's orders or cancellations (mn H100e).

    A capacity gap is ordered over `adjustment_months`; a surplus cancels only a share of
    what is still on order, the rest keeps coming.
    Worked example: backlog 0.2, gap 0.3, 3 months -> 0.2 + 0.1 = 0.3; gap -0.5 with 5%
    cancelled a month -> 0.2 - 0.05 * min(0.2, 0.5) = 0.19.
    """
    if gap_mn > 0:
        return backlog_mn + gap_mn / adjustment_months
    return backlog_mn - min(backlog_mn, -gap_mn) * cancellation_per_month


def buildings_needed_gw(backlog_mn: float, kw_per_unit: float, free_gw: float) -> float:
    """Power (GW) the backlog will draw beyond what buildings in place or under way can house.

    mn units x kW = GW. Worked example: backlog 0.3 mn at 1.2 kW = 0.36 GW, 0.1 GW free
    -> 0.26 GW; with 0.5 GW free -> 0.
    """
    return max(0.0, backlog_mn * kw_per_unit - free_gw)


def housed_units(offered_mn: float, free_gw: float, kw_per_unit: float) -> float:
    """Of the accelerators offered, those the free building power can take (mn H100e).

    Worked example: 0.3 mn offered, 0.24 GW free at 1.2 kW -> 0.2 mn; 0.5 GW free -> 0.3.
    """
    return min(offered_mn, max(0.0, free_gw) / kw_per_unit)

"""Hardware price-performance and algorithmic efficiency: how compute gets cheaper and better."""

from __future__ import annotations

import math


def hardware_log_growth(
    log_multiple: float, doubling_years: float, plateau_multiple: float
) -> float:
    """Monthly growth of log price-performance, slowing as it nears its plateau.

    d ln P / dt = g0 * (1 - ln P / ln M), with g0 = ln 2 / doubling time: Moore-like at the
    start, zero at the ceiling M (a Gompertz approach).
    Worked example: doubling 2.46 yr -> g0 = 0.6931/2.46 = 0.28177/yr = 0.023481/month;
    halfway to a 100x plateau (ln P = 2.3026 of 4.6052) -> 0.023481 * 0.5 = 0.011740/month.
    """
    if plateau_multiple <= 1.0:
        return 0.0
    g0 = math.log(2.0) / doubling_years / 12.0
    return g0 * max(0.0, 1.0 - log_multiple / math.log(plateau_multiple))


def algorithmic_log_growth(
    log_efficiency_gain: float,
    effort_ratio: float,
    growth_per_yr: float,
    effort_elasticity: float,
    diminishing_returns: float,
) -> float:
    """Monthly growth of log algorithmic efficiency (Jones 1995 semi-endogenous growth).

    g = g0 * R^lambda * exp(-phi * x), where R is research effort relative to a reference level and
    x the log efficiency already gained (R = effort / reference effort, so R = 1 gives g0):
    more effort speeds progress with diminishing
    returns, and each idea found makes the next harder, so steady progress needs
    exponentially growing effort.
    Worked example: g0 = 1.2/yr, R = 8, lambda = 0.3, phi = 0.1, x = 5:
      8^0.3 = 1.8661; exp(-0.5) = 0.60653; g = 1.2 * 1.8661 * 0.60653 / 12 = 0.11318/month.
    """
    effort = max(effort_ratio, 1e-9) ** effort_elasticity
    return growth_per_yr * effort * math.exp(-diminishing_returns * log_efficiency_gain) / 12.0

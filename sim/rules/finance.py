"""Valuation, investment, credit and impairment rules."""

from __future__ import annotations

import functools
import math

import numpy as np


def fundamental_value(
    net_assets_usd_bn: float,
    net_cash_usd_bn: float,
    revenue_usd_bn_per_yr: float,
    target_revenue_usd_bn_per_yr: float,
    margin: float,
    discount_rate: float,
    long_run_growth: float,
    fade_years: int,
    floor_share: float,
) -> float:
    """A fundamentalist's equity value: net cash plus discounted earnings, floored by assets.

    Revenue moves from today's level to the target (the market the firm can address today)
    in equal log steps over fade_years, then grows at the long-run rate (a Gordon terminal
    value). Earnings are revenue times a sustainable margin. The equity is never valued below
    floor_share of net assets (what the assets would fetch if sold).
    Worked example: net cash 10, revenue 10/yr, target 40/yr over 2 years, margin 0.3,
    r = 0.1, g = 0.0, net assets 40, floor 0.5:
      year 1: revenue 10 * 2 = 20 -> earnings 6 -> PV 5.4545
      year 2: revenue 40 -> earnings 12 -> PV 9.9174
      terminal: 12 / 0.1 = 120 -> PV 99.174
      value = 10 + 5.4545 + 9.9174 + 99.174 = 124.55 (above the floor of 20)
    """
    r, g = discount_rate, long_run_growth
    start = max(revenue_usd_bn_per_yr, 1e-9)
    step = (max(target_revenue_usd_bn_per_yr, 1e-9) / start) ** (1.0 / fade_years)
    revenue, pv, earnings = start, 0.0, 0.0
    for discount in _discount_factors(r, fade_years):
        revenue *= step
        earnings = margin * revenue
        pv += earnings / discount
    if r <= g:
        raise ValueError(f"discount rate {r} must exceed long-run growth {g}")
    pv += earnings * (1.0 + g) / (r - g) / (1.0 + r) ** fade_years
    floor = floor_share * max(net_assets_usd_bn, 0.0)
    return max(floor, net_cash_usd_bn + pv, 1e-3)


@functools.lru_cache(maxsize=16)
def _discount_factors(rate: float, years: int) -> tuple[float, ...]:
    """(1 + rate)^year for years 1..years. Every firm is valued several times a month at
    the same rate, so the powers are taken once."""
    return tuple((1.0 + rate) ** year for year in range(1, years + 1))


def planned_capacity(
    demand_now: float,
    demand_growth_per_yr: float,
    lead_months: int,
    target_utilisation: float,
    valuation_premium: float,
    q_sensitivity: float,
) -> float:
    """Capacity wanted when today's orders come online: extrapolated demand, tilted by q.

    K* = D * (1 + g)^(lead/12) / u* * (q / q*)^psi, where q / q* is market value over
    fundamental value (Tobin 1969: invest more when the market prices capital above what
    its cash flows justify). Worked example: D = 1.0, g = 0.5/yr, lead 24, u* = 0.8,
    q / q* = 2, psi = 0.3: 1.0 * 1.5^2 / 0.8 * 2^0.3 = 2.8125 * 1.2311 = 3.4625.
    """
    extrapolated = demand_now * (1.0 + demand_growth_per_yr) ** (lead_months / 12.0)
    tilt = max(valuation_premium, 1e-6) ** q_sensitivity
    return extrapolated / target_utilisation * tilt


def whole_firm_premium(market_equity: float, fundamental_equity: float, debt: float) -> float:
    """Tobin's q of the whole firm over the q at fundamentals: (E_m + D) / (E_f + D).

    Tobin's q values the firm's claims, equity and debt, against its capital, so the
    premium compares them at market and at fundamental prices. A ratio of equities alone
    explodes when fundamental equity nears zero: a firm on the verge of insolvency would
    read a price of a few cents against a fundamental of a tenth of a cent as capital
    a thousand times too cheap, and order as if it were.
    Worked examples: E_m = 30, E_f = 10, D = 20: 50 / 30 = 1.6667 (the equity ratio, 3,
    diluted by the debt); nearly insolvent, E_m = 1, E_f = 0.001, D = 50:
    51 / 50.001 = 1.02, where the equity ratio would be 1,000.
    """
    return (market_equity + debt) / max(fundamental_equity + debt, 1e-9)


def credit_limit(
    base: float,
    lo: float,
    hi: float,
    sector_log_return_12m: float,
    procyclicality: float,
    default_loss_share: float,
    loss_sensitivity: float,
) -> float:
    """Lenders' loan-to-asset limit: looser after rising prices, tighter after losses.

    limit = clamp(base * (1 + a * r12) * exp(-b * losses / debt), lo, hi)
    Worked example: base 0.35, a = 0.5, r12 = 0.4, no losses -> 0.35 * 1.2 = 0.42;
    then losses of 5% of debt with b = 20 -> 0.42 * exp(-1) = 0.1545.
    """
    raw = base * (1.0 + procyclicality * sector_log_return_12m)
    raw *= np.exp(-loss_sensitivity * default_loss_share)
    return float(min(hi, max(lo, raw)))


def annuity_factor(months: np.ndarray, rate: float) -> np.ndarray:
    """Present value of 1 a month for each number of months n, at monthly rate r.

    (1 - (1 + r)^-n) / r, or n at r = 0.
    Worked example: 24 months at r = 0.0075: (1 - 1.0075^-24) / 0.0075 = 21.889.
    """
    if rate == 0.0:
        return months.astype(float)
    return (1.0 - (1.0 + rate) ** (-months)) / rate


def value_in_use(
    units: np.ndarray, margin_usd_per_unit_month: np.ndarray, annuity: np.ndarray
) -> np.ndarray:
    """What each vintage of capacity will earn over its remaining life (IAS 36 'value in use').

    Present value of a level monthly margin over the months left: units * m * annuity
    factor of those months (annuity_factor), zero where the margin is negative.
    Worked example: 1,000 units, m = 300 USD/month, 24 months at r = 0.0075 (annuity
    21.889): 1,000 * 300 * 21.889 = 6.567e6 USD.
    """
    return units * np.maximum(margin_usd_per_unit_month, 0.0) * annuity


def switching_probabilities(
    chartist: np.ndarray,
    neighbour_chartist_share: np.ndarray,
    performance_gap: float,
    base_rate_per_month: float,
    intensity: float,
    herding: float,
    predisposition: float,
) -> np.ndarray:
    """Probability each investor switches rule this month (Brock-Hommes with Lux-Marchesi herding).

    Attraction to the chartist rule: U = a0 + beta * (perf_c - perf_f) + h * (2 * s - 1), where
    a0 is a predisposition and s the chartist share of an investor's neighbours. A
    fundamentalist turns chartist with probability nu * exp(U), a chartist turns
    fundamentalist with nu * exp(-U), capped at 1; U saturates at +-2 (U -> 2 tanh(U / 2)),
    so even a stampede takes a few months.
    Worked example: nu = 1/6, a0 = -0.4, beta = 40, gap = 0.01, h = 1.2, s = 0.75:
      U = -0.4 + 0.4 + 0.6 = 0.6 -> 2 tanh(0.3) = 0.58263 ->
      fundamentalist 0.16667 * e^0.58263 = 0.29846; chartist 0.16667 * e^-0.58263 = 0.093072.
    """
    attraction = (
        predisposition
        + intensity * performance_gap
        + herding * (2.0 * neighbour_chartist_share - 1.0)
    )
    attraction = 2.0 * np.tanh(attraction / 2.0)  # opinion pressure saturates
    signed = np.where(chartist, -attraction, attraction)
    return np.minimum(1.0, base_rate_per_month * np.exp(signed))


def fundamentalist_weights(
    fundamental_cap: np.ndarray, market_cap: np.ndarray, total_wealth: float, reversion: float
) -> np.ndarray:
    """Fundamentalists hold each firm at its market share of wealth, tilted toward cheapness.

    w_i = (P_i / W) * (F_i / P_i)^kappa_f, with F_i, P_i the fundamental and market caps:
    they buy what trades below its fundamental value and sell what trades above it.
    Worked example: F = 100, P = 200, W = 1000, kappa_f = 0.5 -> 0.2 * 0.5^0.5 = 0.14142.
    """
    return market_cap / total_wealth * (fundamental_cap / market_cap) ** reversion


def chartist_weights(
    market_cap: np.ndarray,
    trend: np.ndarray,
    total_wealth: float,
    gain: float,
    saturation: float,
) -> np.ndarray:
    """Chartists hold each firm at its market share of wealth, tilted by its recent trend.

    w_i = (P_i / W) * exp(kappa_c * tau_s * tanh(trend_i / tau_s)), trend a monthly log
    return; beyond the saturation tau_s chartists stop extrapolating harder.
    Worked example: P = 200, W = 1000, trend 0.05, kappa_c = 2, tau_s = 0.05:
      tanh(1) = 0.76159 -> 0.2 * exp(2 * 0.05 * 0.76159) = 0.2 * 1.07914 = 0.21583.
    """
    return market_cap / total_wealth * np.exp(gain * saturation * np.tanh(trend / saturation))


def cap_weights(weights: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Scale each investor's risky weights down so they sum to at most its cap (a budget).

    Worked example: weights [0.5, 0.3], cap 0.6 -> sum 0.8 -> scaled by 0.75 -> [0.375, 0.225].
    """
    total = weights.sum(axis=1, keepdims=True)
    scale = np.minimum(1.0, cap[:, None] / np.maximum(total, 1e-300))
    return weights * scale


def smooth_growth(growth: float, level: float, observation: float) -> tuple[float, float]:
    """Update a 12-month moving level and the smoothed monthly log growth of that level.

    Worked example: level 10, growth 0.0, observation 22 -> new level 10 + 12/12 = 11,
    log growth ln(11/10) = 0.09531 -> smoothed growth 0.09531 / 12 = 0.0079425.
    With no level yet, the first observation becomes the level and growth stays 0.
    """
    if level <= 0:
        return 0.0, observation
    new_level = level + (observation - level) / 12.0
    if new_level > 0:
        growth += (math.log(new_level / level) - growth) / 12.0
    return growth, new_level

"""The monthly table: one row per month, real units in every column name."""

from __future__ import annotations

import operator

import mesa
import numpy as np
import pandas as pd

COLUMNS = (
    "date",
    "month_index",
    # valuation
    "market_value_usd_bn",
    "fundamental_value_usd_bn",
    "valuation_to_fundamentals_ratio",
    "lab_market_value_usd_bn",
    "hyperscaler_market_value_usd_bn",
    "chartist_share",
    "investor_wealth_usd_bn",
    # infrastructure
    "capex_usd_bn_per_yr",
    "capacity_h100e_mn",
    "power_gw",
    "energy_twh_per_yr",
    "utilization_share",
    "gpu_rent_usd_per_gpu_hour",
    "h100e_price_usd",
    "writedowns_usd_bn_per_yr",
    "stranded_capital_usd_bn",
    # AI
    "frontier_capability_index",
    "frontier_training_compute_flop",
    "cumulative_effective_compute_flop",
    "algorithmic_efficiency_x",
    "algorithmic_breakthroughs_count",
    "hardware_price_performance_x",
    "token_price_usd_per_mtok",
    "frontier_token_price_usd_per_mtok",
    "tokens_served_tn_per_month",
    "expert_token_price_usd",
    "lab_rd_spend_usd_bn_per_yr",
    "lab_revenue_usd_bn_per_yr",
    "hyperscaler_revenue_usd_bn_per_yr",
    "hyperscaler_earnings_usd_bn_per_yr",
    # adoption
    "adoption_share",
    "productivity_gain_usd_bn_per_yr",
    # finance and state
    "debt_usd_bn",
    "credit_limit_debt_to_assets",
    "default_losses_usd_bn_per_yr",
    "defaults_count",
    "labs_alive_count",
    "hyperscalers_alive_count",
    "subsidies_usd_bn_per_yr",
    "bailouts_usd_bn_per_yr",
    "safe_rate_per_yr",
    "crisis_response_active",
    # books
    "gpu_hours_sold_bn",
    "gpu_hours_bought_bn",
    "ledger_imbalance_usd_bn",
    "ledger_relative_imbalance",
    "claims_relative_gap",
)


COUNT_COLUMNS = frozenset(
    {
        "month_index",
        "algorithmic_breakthroughs_count",
        "defaults_count",
        "labs_alive_count",
        "hyperscalers_alive_count",
        "crisis_response_active",
    }
)


class MonthlyCollector(mesa.DataCollector):
    """Mesa's DataCollector, with the monthly table kept in one preallocated array.

    Mesa's own collect() calls each of the table's ~50 reporters and deep-copies its value
    every step, a noticeable share of a run. Here the model computes the month's row once
    (month_metrics, in model.metrics) and collect() copies it into the next row of an
    array sized for the whole run. model_vars reads the rows filled so far as Mesa's
    collector holds them, column by column, so get_model_vars_dataframe() and
    mesa.batch_run see the same table.
    """

    def __init__(self, dates: pd.DatetimeIndex):
        self.dates = dates
        self.values = np.empty((len(dates), len(COLUMNS) - 1))  # every column but the date
        self.rows = 0
        self.row_of = operator.itemgetter(*COLUMNS[1:])
        super().__init__(model_reporters={name: _reporter(name) for name in COLUMNS})

    def collect(self, model) -> None:
        if hasattr(self, "_collection_steps"):  # Mesa 3.5 records when it collected
            self._collection_steps.append(model.time)
        self.values[self.rows] = self.row_of(model.metrics)
        self.rows += 1

    @property
    def model_vars(self) -> dict[str, object]:
        """The table so far: the dates, then one array per column (counts as integers)."""
        rows = self.values[: self.rows]
        columns: dict[str, object] = {"date": self.dates[: self.rows]}
        for j, name in enumerate(COLUMNS[1:]):
            columns[name] = rows[:, j].astype(np.int64) if name in COUNT_COLUMNS else rows[:, j]
        return columns

    @model_vars.setter
    def model_vars(self, _lists) -> None:
        """Mesa's constructor sets up an empty list per reporter; the array replaces them."""


def _reporter(name: str):
    """What Mesa's collect() would call for a column (kept so the collector declares them)."""

    def report(model):
        return model.metrics[name]

    report.__name__ = name
    return report


def month_metrics(model, flows: dict[str, float]) -> dict[str, object]:
    """Everything the table records for the month just closed (the collector adds the date)."""
    market, pool = model.capital_market, model.adopter_pool
    labs = [lab for lab in model.labs if lab.alive]
    hyps = model.hyperscalers
    fundamentals = model.investor_pool.fundamental_cap * market.listed
    caps = market.market_cap * market.listed
    n_labs = len(model.labs)
    market_value = float(caps.sum())
    fundamental = float(fundamentals.sum())
    tokens = sum(lab.tokens_served for lab in labs)
    lab_revenue = sum(lab.revenue_usd_bn for lab in labs)
    frontier = max(labs, key=lambda lab: lab.capability, default=None)
    hours_sold = sum(h.hours_sold for h in hyps)
    capacity = sum(h.online_units_mn for h in hyps)
    tech = model.technology
    return {
        "month_index": model.month,
        "market_value_usd_bn": market_value,
        "fundamental_value_usd_bn": fundamental,
        "valuation_to_fundamentals_ratio": market_value / max(fundamental, 1e-9),
        "lab_market_value_usd_bn": float(caps[:n_labs].sum()),
        "hyperscaler_market_value_usd_bn": float(caps[n_labs:].sum()),
        "chartist_share": _share(model.investor_pool.chartist),
        # investors hold every listed share and every debt claim (claims_relative_gap checks)
        "investor_wealth_usd_bn": float(model.ledger.cash["investors"].sum())
        + market_value
        + float(market.debt.sum()),
        "capex_usd_bn_per_yr": 12.0 * sum(h.capex_usd_bn for h in hyps),
        "capacity_h100e_mn": capacity,
        "power_gw": sum(h.power_in_use_gw for h in hyps),
        "energy_twh_per_yr": 12.0 * sum(h.energy_mwh for h in hyps) / 1e6,
        "utilization_share": hours_sold / max(capacity * 1e6 * 730.0, 1e-9),
        "gpu_rent_usd_per_gpu_hour": _weighted_mean(
            [h.rent for h in hyps], [h.hours_sold + 1.0 for h in hyps]
        ),
        "h100e_price_usd": tech.h100e_price_usd,
        "writedowns_usd_bn_per_yr": 12.0 * sum(h.writedowns_usd_bn for h in hyps),
        "stranded_capital_usd_bn": model.stranded_capital_usd_bn,
        "frontier_capability_index": frontier.capability if frontier else 0.0,
        "frontier_training_compute_flop": max((lab.last_run_flop for lab in labs), default=0.0),
        "cumulative_effective_compute_flop": sum(
            lab.cumulative_effective_flop for lab in model.labs
        ),
        "algorithmic_efficiency_x": tech.algorithmic_efficiency,
        "algorithmic_breakthroughs_count": tech.breakthroughs,
        "hardware_price_performance_x": float(np.exp(tech.log_hardware)),
        "token_price_usd_per_mtok": lab_revenue * 1e9 / tokens * 1e6
        if tokens > 0
        else (frontier.price_usd_per_mtok if frontier else 0.0),
        "frontier_token_price_usd_per_mtok": frontier.price_usd_per_mtok if frontier else 0.0,
        "tokens_served_tn_per_month": tokens / 1e12,
        "expert_token_price_usd": model.expert_token_price_usd,
        "lab_rd_spend_usd_bn_per_yr": 12.0 * sum(lab.rd_spend_usd_bn for lab in labs),
        "lab_revenue_usd_bn_per_yr": 12.0 * lab_revenue,
        "hyperscaler_revenue_usd_bn_per_yr": 12.0 * sum(h.revenue_usd_bn for h in hyps),
        "hyperscaler_earnings_usd_bn_per_yr": 12.0 * sum(h.earnings_usd_bn for h in hyps),
        "adoption_share": pool.adoption_share(),
        "productivity_gain_usd_bn_per_yr": pool.productivity_gain_usd_bn_per_yr(),
        "debt_usd_bn": float(market.debt.sum()),
        "credit_limit_debt_to_assets": model.credit_limit,
        "default_losses_usd_bn_per_yr": 12.0 * market.default_losses_month,
        "defaults_count": len(market.defaults),
        "labs_alive_count": len(labs),
        "hyperscalers_alive_count": len(hyps),
        "subsidies_usd_bn_per_yr": 12.0 * flows.get("in_subsidies", 0.0),
        "bailouts_usd_bn_per_yr": 12.0 * flows.get("in_bailouts", 0.0),
        "safe_rate_per_yr": model.safe_rate,
        "crisis_response_active": int(model.government.responded),
        "gpu_hours_sold_bn": model.compute_market.hours_sold / 1e9,
        "gpu_hours_bought_bn": model.compute_market.hours_bought / 1e9,
        "ledger_imbalance_usd_bn": model.ledger.last_imbalance,
        "ledger_relative_imbalance": model.ledger.last_relative_imbalance,
        "claims_relative_gap": market.check_stocks(),
    }


def _weighted_mean(values: list[float], weights: list[float]) -> float:
    """np.average(values, weights=weights) for a handful of positive weights."""
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def _share(flags: np.ndarray) -> float:
    """flags.mean() for a boolean array: the count over the size is the same number, and
    counting is much cheaper than summing the flags as floats."""
    return np.count_nonzero(flags) / flags.size

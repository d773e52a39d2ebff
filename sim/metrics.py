"""The monthly table: one row per month, real units in every column name."""

from __future__ import annotations

import numpy as np

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


def month_metrics(model, flows: dict[str, float]) -> dict[str, object]:
    """Everything the table records for the month just closed."""
    market, pool = model.capital_market, model.adopter_pool
    labs = [lab for lab in model.labs if lab.alive]
    hyps = [h for h in model.hyperscalers if h.alive]
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
        "date": model.date,
        "month_index": model.month,
        "market_value_usd_bn": market_value,
        "fundamental_value_usd_bn": fundamental,
        "valuation_to_fundamentals_ratio": market_value / max(fundamental, 1e-9),
        "lab_market_value_usd_bn": float(caps[:n_labs].sum()),
        "hyperscaler_market_value_usd_bn": float(caps[n_labs:].sum()),
        "chartist_share": float(model.investor_pool.chartist.mean()),
        "investor_wealth_usd_bn": float(model.investor_pool.wealth().sum()),
        "capex_usd_bn_per_yr": 12.0 * sum(h.capex_usd_bn for h in hyps),
        "capacity_h100e_mn": capacity,
        "power_gw": sum(h.power_in_use_gw for h in hyps),
        "energy_twh_per_yr": 12.0 * sum(h.energy_mwh for h in hyps) / 1e6,
        "utilization_share": hours_sold / max(capacity * 1e6 * 730.0, 1e-9),
        "gpu_rent_usd_per_gpu_hour": float(
            np.average([h.rent for h in hyps], weights=[h.hours_sold + 1.0 for h in hyps])
        )
        if hyps
        else 0.0,
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

"""Scenario parameters: frozen dataclasses, one per group, loaded from TOML.

Every field carries its unit, meaning and allowed range in its metadata so that
validation, `surge show` and docs read from one place. Field names are unique
across groups, so a single flat name (``chartist_trend_gain``) or a dotted one
(``investors.chartist_trend_gain``) both address a parameter.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """Bad scenario input; the message names file, key, value and what is allowed."""


def p(default, lo=None, hi=None, unit="", doc="", choices=None, sens=None):
    """A parameter field: default, inclusive range [lo, hi] (None = open), unit, meaning.

    ``sens=(low, high)`` is the plausible range a global sensitivity analysis samples
    (``surge sensitivity``), in the field's unit and inside [lo, hi]; checked at import by
    :func:`check_sens_bounds`.
    """
    return field(
        default=default,
        metadata={
            "lo": lo,
            "hi": hi,
            "unit": unit,
            "doc": doc,
            "choices": choices,
            "sens": None if sens is None else tuple(sens),
        },
    )


@dataclass(frozen=True)
class RunParams:
    start_month: str = p("2018-01", unit="YYYY-MM", doc="calendar month of step 0")
    months: int = p(480, 1, 2400, "months", "length of the run")
    n_adopters: int = p(5000, 10, 2_000_000, "agents", "adopter firms (sector segments)")
    n_investors: int = p(500, 10, 200_000, "agents", "investors")


@dataclass(frozen=True)
class TechnologyParams:
    flop_per_usd_doubling_years: float = p(
        2.46,
        0.5,
        20.0,
        "years",
        "hardware price-performance doubling time at the start",
        sens=(1.5, 3.5),
    )
    hardware_plateau_multiple: float = p(
        300.0, 1.0, 1e9, "x start", "price-performance ceiling as a multiple of the start level"
    )
    power_efficiency_elasticity: float = p(
        0.6, 0.0, 1.0, "-", "share of price-performance gains that also cut power per FLOP"
    )
    h100e_price_usd_start: float = p(
        160_000.0, 1e3, 1e7, "USD", "all-in IT cost of one H100-equivalent at the start"
    )
    h100e_power_kw_start: float = p(
        2.4, 0.1, 20.0, "kW", "facility power per H100-equivalent at the start (incl. PUE)"
    )
    algo_efficiency_start: float = p(
        0.016, 1e-6, 1.0, "x (2022 = 1)", "algorithmic efficiency at the start"
    )
    algo_growth_per_yr: float = p(
        3.0, 0.0, 5.0, "log-units/yr", "growth of log algorithmic efficiency at reference effort"
    )
    algo_reference_effort_usd_bn_per_yr: float = p(
        20.0, 1e-3, 1e5, "USD bn/yr", "sector R&D spending at which growth is algo_growth_per_yr"
    )
    algo_effort_elasticity: float = p(
        0.2, 0.0, 2.0, "-", "lambda: research-effort elasticity of algorithmic progress (Jones)"
    )
    algo_diminishing_returns: float = p(
        0.25, 0.0, 5.0, "per log-unit", "phi: ideas get harder to find as log efficiency grows"
    )
    breakthrough_rate_per_yr: float = p(
        0.04, 0.0, 2.0, "1/yr", "Poisson rate of architecture or substrate breakthroughs"
    )
    breakthrough_multiple: float = p(
        4.0, 1.0, 1000.0, "x", "median efficiency jump of one random breakthrough"
    )
    scheduled_breakthrough_month: int = p(
        -1, -1, 2400, "month index", "month of a scheduled breakthrough (-1 = none)"
    )
    scheduled_breakthrough_multiple: float = p(
        30.0, 1.0, 1000.0, "x", "efficiency jump of the scheduled breakthrough"
    )
    sample_efficiency_jump_month: int = p(
        -1,
        -1,
        2400,
        "month index",
        "month a continual-learning advance cuts data needs (-1 = none)",
    )
    sample_efficiency_jump_multiple: float = p(
        10.0, 1.0, 1e4, "x", "rise in the value of each training token at that advance"
    )
    inference_share_of_algo_gains: float = p(
        0.15, 0.0, 1.0, "-", "share of log algorithmic gains that also cut inference FLOP per token"
    )


@dataclass(frozen=True)
class CapabilityParams:
    loss_irreducible: float = p(1.69, 0.0, 10.0, "nats/token", "E of the Chinchilla loss")
    loss_param_coef: float = p(406.4, 0.0, 1e5, "-", "A of the Chinchilla loss")
    loss_data_coef: float = p(410.7, 0.0, 1e5, "-", "B of the Chinchilla loss")
    loss_param_exponent: float = p(0.34, 0.01, 2.0, "-", "alpha of the Chinchilla loss")
    loss_data_exponent: float = p(0.28, 0.01, 2.0, "-", "beta of the Chinchilla loss")
    capability_midpoint_loss: float = p(
        0.08, 1e-4, 10.0, "nats/token", "reducible loss at which the capability index is 50"
    )
    capability_steepness: float = p(
        2.0, 0.1, 20.0, "-", "slope of the capability index against log reducible loss"
    )
    human_data_stock_tokens: float = p(
        3e14, 1e10, 1e18, "tokens", "stock of usable human text (Villalobos et al. 2024)"
    )
    synthetic_data_discount: float = p(
        0.3, 0.0, 1.0, "-", "effective tokens per synthetic token (in-breeding discount)"
    )
    expert_token_value: float = p(
        20.0, 1.0, 1e4, "effective tokens", "training value of one expert-written token"
    )
    expert_token_price_usd: float = p(
        0.1, 1e-6, 100.0, "USD/token", "price of an expert-written token at the pool's base volume"
    )
    expert_tokens_per_month: float = p(
        8e10, 1.0, 1e16, "tokens/month", "expert tokens supplied at the base price (pool size)"
    )
    expert_supply_elasticity: float = p(
        1.0, 0.01, 100.0, "-", "% more expert tokens per % higher price"
    )
    sample_efficiency: float = p(
        1.0, 0.01, 1e4, "x", "data efficiency multiplier (continual-learning breakthroughs)"
    )


@dataclass(frozen=True)
class LabParams:
    n_closed_labs: int = p(3, 0, 50, "labs", "closed frontier labs")
    n_open_labs: int = p(2, 0, 50, "labs", "open-weight labs")
    lab_cash_start_usd_bn: float = p(2.0, 0.0, 1e4, "USD bn", "each lab's cash at the start")
    training_run_months: int = p(6, 1, 60, "months", "length of one training run")
    final_run_share: float = p(
        0.3, 0.01, 1.0, "-", "share of R&D compute that goes into the final training run"
    )
    payout_share: float = p(
        0.5, 0.0, 1.0, "share", "share of cash beyond 1.5x its runway target a lab pays out monthly"
    )
    runway_target_months: float = p(
        18.0, 1.0, 120.0, "months", "cash a lab wants on hand, in months of spending"
    )
    staff_cost_usd_bn_per_yr: float = p(
        0.3, 0.0, 1e3, "USD bn/yr", "each lab's wage bill at the start"
    )
    staff_cost_revenue_share: float = p(
        0.15, 0.0, 1.0, "-", "wage bill grows with revenue at this share"
    )
    closed_markup_base: float = p(1.5, 1.0, 50.0, "x cost", "closed lab's markup with no lead")
    closed_markup_per_lead: float = p(
        0.15, 0.0, 10.0, "x cost per index point", "extra markup per point of capability lead"
    )
    open_markup: float = p(1.1, 1.0, 10.0, "x cost", "open-weight lab's markup")
    distillation_gap: float = p(
        8.0,
        0.0,
        100.0,
        "index points",
        "open-weight labs trail the best closed model by at most this",
    )
    frontier_compute_start_flop: float = p(
        1e22, 1e15, 1e30, "FLOP", "physical compute of a closed lab's model at the start"
    )
    open_lab_compute_share: float = p(
        0.3, 0.0, 1.0, "-", "an open lab's starting model compute, share of a closed lab's"
    )
    rd_spend_start_usd_bn_per_month: float = p(
        0.005, 0.0, 1e3, "USD bn/month", "each lab's R&D spending (compute and data) at the start"
    )
    rd_ambition_growth_per_yr: float = p(
        1.4,
        0.0,
        20.0,
        "1/yr",
        "growth of the R&D spending a lab aims for (training cost growth)",
        sens=(0.8, 2.0),
    )
    rd_share_of_value_per_yr: float = p(
        0.1, 0.0, 10.0, "1/yr", "R&D a lab's fundamentals justify in a year, share of that value"
    )
    rd_valuation_elasticity: float = p(
        1.5,
        0.0,
        5.0,
        "-",
        "R&D rises this % per % of market value above fundamental value",
        sens=(0.5, 2.5),
    )
    min_runway_months: float = p(
        6.0, 1.0, 120.0, "months", "a lab never spends more per month than cash / this"
    )
    rd_depreciation_per_yr: float = p(
        0.4, 0.0, 5.0, "1/yr", "obsolescence of a lab's capitalised R&D (models age fast)"
    )
    subsidised_price_share: float = p(
        0.5, 0.0, 1.0, "share of cost", "lowest price a funded lab charges, share of its cost"
    )
    inference_utilisation: float = p(
        0.15, 0.01, 1.0, "-", "share of peak FLOP achieved when serving tokens"
    )
    training_utilisation: float = p(0.4, 0.01, 1.0, "-", "model FLOP utilisation in training")
    training_flop_gain_per_yr: float = p(
        0.0,
        0.0,
        2.0,
        "1/yr",
        "growth of training FLOP per H100e-hour from lower precision and better kernels",
        sens=(0.0, 0.4),
    )
    expert_data_budget_share: float = p(
        0.15, 0.0, 1.0, "-", "most of a run's budget a lab spends on expert data"
    )


@dataclass(frozen=True)
class HyperscalerParams:
    n_hyperscalers: int = p(4, 1, 50, "firms", "hyperscalers")
    n_regions: int = p(2, 1, 20, "regions", "grid regions hyperscalers are spread over")
    legacy_spend_start_usd_bn_per_yr: float = p(
        100.0, 0.0, 1e5, "USD bn/yr", "non-AI cloud and internal workloads, at normal rents"
    )
    legacy_spend_growth_per_yr: float = p(
        0.05, -0.5, 2.0, "1/yr", "growth of non-AI spending on capacity in the first month"
    )
    legacy_growth_half_life_years: float = p(
        20.0,
        0.5,
        1e4,
        "years",
        "years over which the growth of non-AI spending halves (cloud growth slows as "
        "workloads finish moving to it); a very large value keeps it constant",
        sens=(8.0, 40.0),
    )
    build_lead_months: int = p(
        12, 1, 120, "months", "shipment-to-online time (the fab queue comes on top)", sens=(6, 24)
    )
    accelerator_life_years: float = p(5.5, 1.0, 20.0, "years", "useful life of accelerators")
    building_life_years: float = p(25.0, 1.0, 100.0, "years", "useful life of buildings")
    facility_cost_usd_per_kw: float = p(
        10_000.0, 0.0, 1e6, "USD/kW", "building and power equipment per kW of IT load"
    )
    energy_price_usd_per_mwh: float = p(80.0, 0.0, 1e4, "USD/MWh", "industrial power price")
    operations_cost_usd_per_h100e_hour: float = p(
        0.25, 0.0, 100.0, "USD/h", "staff and maintenance per H100e-hour"
    )
    rent_capital_recovery_per_yr: float = p(
        0.35,
        0.01,
        5.0,
        "1/yr",
        "rent at target utilisation recovers this share of a new unit's cost",
    )
    target_utilisation: float = p(0.8, 0.05, 1.0, "share", "utilisation a hyperscaler plans for")
    rent_utilisation_elasticity: float = p(
        2.0,
        0.0,
        50.0,
        "-",
        "rent rises this many % per 1% of utilisation above target",
        sens=(0.5, 5.0),
    )
    rent_adjustment_per_month: float = p(
        0.15, 0.0, 1.0, "share", "share of the gap to the utilisation-implied rent closed monthly"
    )
    demand_growth_memory_months: float = p(
        12.0, 1.0, 120.0, "months", "window over which hyperscalers measure demand growth"
    )
    max_extrapolated_growth_per_yr: float = p(
        1.0, 0.0, 20.0, "1/yr", "highest demand growth a capacity plan extrapolates"
    )
    tobin_q_sensitivity: float = p(
        1.1,
        0.0,
        10.0,
        "-",
        "elasticity of planned capacity to the whole firm's market over fundamental value",
        sens=(0.25, 2.0),
    )
    order_cancellation_per_month: float = p(
        0.05, 0.0, 1.0, "share", "share of surplus accelerator orders cancelled each month"
    )
    capacity_adjustment_months: float = p(
        3.0, 1.0, 120.0, "months", "months over which a capacity gap is ordered"
    )
    fab_supply_start_h100e_mn_per_month: float = p(
        0.1, 1e-6, 1e4, "mn H100e/month", "accelerators the fabs can deliver at the start"
    )
    fab_expansion_per_yr: float = p(
        1.5,
        0.0,
        10.0,
        "1/yr",
        "fab capacity growth while a half-year backlog of orders waits",
        sens=(0.75, 2.5),
    )
    grid_gw_per_month_per_region: float = p(
        0.6, 0.0, 1e3, "GW/month", "data-centre power that can be connected per month, per region"
    )
    grid_growth_per_yr: float = p(0.08, 0.0, 5.0, "1/yr", "growth of the grid connection rate")
    dividend_payout_share: float = p(
        0.5, 0.0, 1.0, "-", "share of positive cash flow above the buffer paid out monthly"
    )
    cash_buffer_months: float = p(
        6.0, 0.0, 120.0, "months", "cash kept back, in months of operating costs and capex"
    )
    contracts_per_lab: int = p(2, 1, 50, "contracts", "hyperscalers each lab contracts with")


@dataclass(frozen=True)
class AdopterParams:
    n_sectors: int = p(8, 1, 100, "sectors", "economic sectors adopters belong to")
    addressable_value_usd_bn_per_yr: float = p(
        6000.0, 1.0, 1e6, "USD bn/yr", "labour cost of tasks AI could do, summed over adopters"
    )
    value_growth_per_yr: float = p(0.03, -0.2, 1.0, "1/yr", "growth of the task value")
    required_capability_mean: float = p(55.0, 0.0, 100.0, "index", "mean capability tasks need")
    required_capability_sd: float = p(18.0, 0.0, 100.0, "index", "spread of required capability")
    agentic_share: float = p(0.5, 0.0, 1.0, "share", "share of adopters with agentic tasks")
    chat_tokens_per_task: float = p(2e3, 1.0, 1e9, "tokens", "tokens a chat task uses")
    agentic_tokens_per_task: float = p(1e5, 1.0, 1e9, "tokens", "tokens an agentic task uses")
    value_per_task_usd_median: float = p(
        5.0, 0.001, 1e6, "USD", "median labour cost saved per task"
    )
    value_per_task_sigma: float = p(1.0, 0.0, 5.0, "log-units", "log-normal spread of task value")
    budget_share_of_value: float = p(
        0.5, 0.0, 10.0, "-", "token budget as a share of the value of the tasks"
    )
    bass_innovation_per_yr: float = p(
        0.03,
        0.0,
        5.0,
        "1/yr",
        "Bass p: adoption without contact (Sultan et al. 1990)",
        sens=(0.01, 0.06),
    )
    bass_imitation_per_yr: float = p(
        0.38, 0.0, 10.0, "1/yr", "Bass q: adoption by imitating adopted neighbours", sens=(0.2, 0.6)
    )
    social_degree: int = p(8, 2, 200, "links", "mean neighbours on the adopter graph")
    social_rewiring: float = p(0.1, 0.0, 1.0, "-", "small-world rewiring probability")
    preference: str = p(
        "winner_takes_all",
        unit="-",
        doc="provider choice rule",
        choices=("winner_takes_all", "good_enough"),
    )
    provider_review_per_yr: float = p(
        1.0, 0.0, 12.0, "1/yr", "how often an adopter reviews its provider"
    )
    token_demand_elasticity: float = p(
        0.8,
        0.0,
        2.0,
        "-",
        "% more tokens per task per % cheaper tokens (longer reasoning, more agents)",
    )
    reference_price_usd_per_mtok: float = p(
        5.0, 1e-6, 1e6, "USD/Mtok", "price at which tasks use their base number of tokens"
    )
    required_return_multiple: float = p(
        1.2, 1.0, 100.0, "x", "value per task must exceed its token cost by this multiple"
    )


@dataclass(frozen=True)
class InvestorParams:
    investor_wealth_start_usd_bn: float = p(
        20000.0, 1.0, 1e7, "USD bn", "investable wealth of all investors at the start"
    )
    savings_inflow_per_yr: float = p(
        0.04, 0.0, 1.0, "share/yr", "new savings flowing to investors, share of wealth"
    )
    safe_rate_per_yr: float = p(0.03, -0.05, 0.5, "1/yr", "return on the safe asset")
    discount_rate_per_yr: float = p(
        0.09, 0.0, 1.0, "1/yr", "rate fundamentalists discount cash flows at"
    )
    long_run_growth_per_yr: float = p(
        0.04, -0.1, 0.5, "1/yr", "growth fundamentalists assume for a firm's cash flows"
    )
    max_expected_growth_per_yr: float = p(
        0.0, 0.0, 10.0, "1/yr", "highest revenue growth a fundamentalist projects for a hyperscaler"
    )
    growth_fade_years: int = p(
        5, 1, 50, "years", "years over which revenue is projected to reach its target"
    )
    lab_margin: float = p(0.3, 0.0, 1.0, "share", "sustainable operating margin of a lab")
    hyperscaler_margin: float = p(
        0.35, 0.0, 1.0, "share", "sustainable operating margin of a hyperscaler"
    )
    hyperscaler_floor_share: float = p(
        0.8, 0.0, 1.0, "share", "a hyperscaler is never valued below this share of net assets"
    )
    lab_floor_share: float = p(
        0.0,
        0.0,
        1.0,
        "share",
        "a lab is never valued below this share of cash plus R&D capital (0 = no floor)",
    )
    max_equity_share: float = p(
        0.6, 0.01, 0.99, "share", "most of its wealth an investor holds in AI equities"
    )
    fundamentalist_reversion: float = p(
        1.0, 0.0, 10.0, "-", "kappa_f: demand elasticity to log(fundamental/price)", sens=(0.5, 2.0)
    )
    chartist_trend_gain: float = p(
        2.2,
        0.0,
        50.0,
        "-",
        "kappa_c: demand multiplier per unit of monthly log trend",
        sens=(1.0, 4.0),
    )
    trend_memory_months: float = p(4.0, 1.0, 60.0, "months", "EWMA window of the price trend")
    trend_saturation_per_month: float = p(
        0.04,
        0.001,
        1.0,
        "1/month",
        "trend beyond which chartists extrapolate no further",
        sens=(0.02, 0.08),
    )
    chartist_share_start: float = p(0.2, 0.0, 1.0, "share", "investors starting as chartists")
    switching_intensity: float = p(
        150.0,
        0.0,
        1e4,
        "-",
        "Brock-Hommes beta: response to the fitness gap (per unit of monthly return)",
        sens=(50.0, 300.0),
    )
    herding_strength: float = p(
        0.6,
        0.0,
        20.0,
        "-",
        "Lux-Marchesi: response to the chartist share of neighbours",
        sens=(0.0, 1.5),
    )
    chartist_predisposition: float = p(
        -0.3,
        -20.0,
        20.0,
        "-",
        "attraction of the chartist rule when neither performs better",
        sens=(-1.0, 0.5),
    )
    switching_rate_per_yr: float = p(
        0.6, 0.0, 120.0, "1/yr", "base rate at which investors reconsider their rule"
    )
    reversion_horizon_months: float = p(
        12.0, 1.0, 240.0, "months", "months over which fundamentalists expect mispricing to close"
    )
    performance_memory_months: float = p(
        12.0, 1.0, 240.0, "months", "EWMA window of each rule's realised performance"
    )
    investor_degree: int = p(6, 2, 200, "links", "mean neighbours on the investor graph")
    wealth_sigma: float = p(1.0, 0.0, 5.0, "log-units", "log-normal spread of investor wealth")


@dataclass(frozen=True)
class CreditParams:
    leverage_base: float = p(0.35, 0.0, 0.95, "debt/assets", "lenders' normal loan-to-asset limit")
    leverage_max: float = p(0.6, 0.0, 0.99, "debt/assets", "loosest limit in a boom")
    leverage_min: float = p(0.1, 0.0, 0.95, "debt/assets", "tightest limit after losses")
    credit_procyclicality: float = p(
        0.5, 0.0, 10.0, "-", "limit change per unit of sector 12-month log return", sens=(0.0, 1.5)
    )
    credit_loss_sensitivity: float = p(
        20.0, 0.0, 1e4, "-", "limit cut per unit of default losses / sector debt"
    )
    credit_spread_per_yr: float = p(0.03, 0.0, 1.0, "1/yr", "interest over the safe rate")
    max_dilution_per_month: float = p(
        0.04, 0.0, 1.0, "share", "most new shares a firm issues in a month, share of outstanding"
    )
    recovery_rate: float = p(0.4, 0.0, 1.0, "share", "share of defaulted debt recovered")


@dataclass(frozen=True)
class GovernmentParams:
    compute_subsidy_share: float = p(
        0.0, 0.0, 0.9, "share", "share of labs' training compute rent paid by the state"
    )
    adoption_subsidy_share: float = p(
        0.0, 0.0, 0.9, "share", "share of adopters' token bill paid by the state"
    )
    corporate_tax_rate: float = p(0.21, 0.0, 0.9, "share", "tax on firms' positive profits")
    export_limit_share: float = p(
        1.0, 0.0, 1.0, "share", "share of fab output the region can buy (export controls)"
    )
    permitting_multiple: float = p(
        1.0, 0.0, 100.0, "x", "multiplier on grid connections (power and permitting policy)"
    )
    crisis_trigger_drawdown: float = p(
        0.4, 0.01, 1.0, "share", "sector drawdown from its 24-month high that triggers a response"
    )
    crisis_response: str = p(
        "regulate",
        unit="-",
        doc="what the state does when the trigger fires",
        choices=("regulate", "cut_rates", "bail_out", "nothing"),
    )
    regulation_trend_gain_factor: float = p(
        0.4, 0.0, 1.0, "x", "chartists' trend gain after regulation (limits on leveraged momentum)"
    )
    rate_cut_per_yr: float = p(0.02, 0.0, 0.5, "1/yr", "cut to the safe rate in a crisis")


GROUPS: dict[str, type] = {
    "run": RunParams,
    "technology": TechnologyParams,
    "capability": CapabilityParams,
    "labs": LabParams,
    "hyperscalers": HyperscalerParams,
    "adopters": AdopterParams,
    "investors": InvestorParams,
    "credit": CreditParams,
    "government": GovernmentParams,
}

# flat name -> group name; names must be unique across groups
FIELD_GROUP: dict[str, str] = {}
for _group, _cls in GROUPS.items():
    for _f in fields(_cls):
        assert _f.name not in FIELD_GROUP, f"duplicate parameter name {_f.name}"
        FIELD_GROUP[_f.name] = _group


def check_sens_bounds(group: str, f: dataclasses.Field) -> None:
    """Raise ScenarioError unless a field's ``sens`` bounds are numbers lo <= low < high <= hi."""
    sens = f.metadata.get("sens")
    if sens is None:
        return
    name = f"{group}.{f.name}"
    expected = f.type if isinstance(f.type, str) else f.type.__name__
    if expected not in ("int", "float"):
        raise ScenarioError(f"{name}: sens bounds need a numeric parameter, not {expected}")
    ok = (
        len(sens) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in sens)
        and all(math.isfinite(x) for x in sens)
        and sens[0] < sens[1]
    )
    if not ok:
        raise ScenarioError(f"{name}: sens = {sens!r}; expected (low, high) numbers, low < high")
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    if (lo is not None and sens[0] < lo) or (hi is not None and sens[1] > hi):
        raise ScenarioError(
            f"{name}: sens = {sens!r} is outside the parameter's range [{lo}, {hi}]"
        )


for _group, _cls in GROUPS.items():
    for _f in fields(_cls):
        check_sens_bounds(_group, _f)


def sens_fields() -> dict[str, dataclasses.Field]:
    """Every parameter with sensitivity bounds: dotted name -> field, in definition order."""
    return {
        f"{g}.{f.name}": f
        for g, cls in GROUPS.items()
        for f in fields(cls)
        if f.metadata.get("sens") is not None
    }


def _describe_allowed(f: dataclasses.Field) -> str:
    meta = f.metadata
    if meta["choices"]:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    kind = "an integer" if f.type in ("int", int) else "a number"
    lo, hi = meta["lo"], meta["hi"]
    if lo is None and hi is None:
        return kind
    return f"{kind} in [{lo}, {hi}] {meta['unit']}".rstrip()


def check_value(group: str, f: dataclasses.Field, value: Any, where: str) -> Any:
    """Return the value converted to the field's type, or raise ScenarioError naming it."""
    meta, name = f.metadata, f"{group}.{f.name}"
    expected = f.type if isinstance(f.type, str) else f.type.__name__
    allowed = _describe_allowed(f)
    bad = ScenarioError(f"{where}: {name} = {value!r} is not allowed; expected {allowed}")
    if expected == "str":
        if not isinstance(value, str):
            raise bad
        if meta["choices"] and value not in meta["choices"]:
            raise bad
        if f.name == "start_month":
            _check_month(value, bad)
        return value
    if isinstance(value, bool):
        raise bad
    if expected == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise bad
    elif expected == "float":
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise bad
        value = float(value)
    if (meta["lo"] is not None and value < meta["lo"]) or (
        meta["hi"] is not None and value > meta["hi"]
    ):
        raise bad
    return value


def _check_month(value: str, bad: Exception) -> None:
    parts = value.split("-")
    ok = len(parts) == 2 and all(x.isdigit() for x in parts) and 1 <= int(parts[1]) <= 12
    if not ok:
        raise bad


def _validate_group(group: str, obj: Any, where: str) -> None:
    for f in fields(obj):
        check_value(group, f, getattr(obj, f.name), where)


def _post_init_factory(group: str):
    def __post_init__(self):
        _validate_group(group, self, f"{type(self).__name__}")

    return __post_init__


for _group, _cls in GROUPS.items():
    _cls.__post_init__ = _post_init_factory(_group)


@dataclass(frozen=True)
class Params:
    """All parameters of one scenario."""

    name: str = "baseline"
    description: str = ""
    run: RunParams = field(default_factory=RunParams)
    technology: TechnologyParams = field(default_factory=TechnologyParams)
    capability: CapabilityParams = field(default_factory=CapabilityParams)
    labs: LabParams = field(default_factory=LabParams)
    hyperscalers: HyperscalerParams = field(default_factory=HyperscalerParams)
    adopters: AdopterParams = field(default_factory=AdopterParams)
    investors: InvestorParams = field(default_factory=InvestorParams)
    credit: CreditParams = field(default_factory=CreditParams)
    government: GovernmentParams = field(default_factory=GovernmentParams)

    def __post_init__(self):
        c = self.credit
        if not c.leverage_min <= c.leverage_base <= c.leverage_max:
            raise ScenarioError(
                f"credit: leverage_min ({c.leverage_min}) <= leverage_base ({c.leverage_base})"
                f" <= leverage_max ({c.leverage_max}) must hold"
            )
        ip = self.investors
        if ip.discount_rate_per_yr - ip.long_run_growth_per_yr < 0.01:
            raise ScenarioError(
                f"investors: discount_rate_per_yr ({ip.discount_rate_per_yr}) must exceed "
                f"long_run_growth_per_yr ({ip.long_run_growth_per_yr}) by at least 0.01"
            )
        if self.labs.n_closed_labs + self.labs.n_open_labs < 1:
            raise ScenarioError("labs: n_closed_labs + n_open_labs must be at least 1")
        if self.hyperscalers.contracts_per_lab > self.hyperscalers.n_hyperscalers:
            raise ScenarioError(
                f"hyperscalers: contracts_per_lab = {self.hyperscalers.contracts_per_lab} "
                f"exceeds n_hyperscalers = {self.hyperscalers.n_hyperscalers}"
            )

    def with_overrides(self, overrides: dict[str, Any], where: str = "overrides") -> Params:
        """A copy with flat or dotted keys replaced, each checked like a TOML value."""
        by_group: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            group, name = resolve_key(key, where)
            f = next(x for x in fields(GROUPS[group]) if x.name == name)
            by_group.setdefault(group, {})[name] = check_value(group, f, value, where)
        changes = {g: dataclasses.replace(getattr(self, g), **kv) for g, kv in by_group.items()}
        return dataclasses.replace(self, **changes)

    def flat(self) -> dict[str, Any]:
        """Every parameter under its dotted name, for manifests and hashes."""
        return {
            f"{g}.{f.name}": getattr(getattr(self, g), f.name)
            for g in GROUPS
            for f in fields(GROUPS[g])
        }


def resolve_key(key: str, where: str) -> tuple[str, str]:
    """Map 'name' or 'group.name' to (group, name), suggesting the closest on a typo."""
    if "." in key:
        group, name = key.split(".", 1)
        if group not in GROUPS:
            hint = difflib.get_close_matches(group, GROUPS, n=1)
            raise ScenarioError(
                f"{where}: unknown group [{group}]"
                + (f"; did you mean [{hint[0]}]?" if hint else f"; known: {', '.join(GROUPS)}")
            )
        if FIELD_GROUP.get(name) != group:
            if name in FIELD_GROUP:
                raise ScenarioError(
                    f"{where}: {name} is not in [{group}]; it belongs in [{FIELD_GROUP[name]}]"
                )
            names = [f.name for f in fields(GROUPS[group])]
            hint = difflib.get_close_matches(name, names, n=1)
            raise ScenarioError(
                f"{where}: unknown key {group}.{name}"
                + (f"; did you mean {group}.{hint[0]}?" if hint else "")
            )
        return group, name
    if key not in FIELD_GROUP:
        hint = difflib.get_close_matches(key, FIELD_GROUP, n=1)
        raise ScenarioError(
            f"{where}: unknown key {key}" + (f"; did you mean {hint[0]}?" if hint else "")
        )
    return FIELD_GROUP[key], key


def scenario_names() -> list[str]:
    """The named scenarios (files in scenarios/), sorted."""
    return sorted(x.stem for x in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario name in scenarios/ or a path to a TOML file."""
    candidate = Path(name_or_path)
    # a folder that happens to share a scenario's name (say, a run's output) is no scenario
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise ScenarioError(f"{candidate}: scenario file not found")
        return candidate
    path = SCENARIO_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = scenario_names()
        hint = difflib.get_close_matches(str(name_or_path), known, n=1)
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(known)}")
        )
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc


def _collect_overrides(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict[str, Any]]:
    """Resolve `extends` recursively; returns (header, flat overrides from base to leaf)."""
    if path.resolve() in chain:
        cycle = " -> ".join(str(x.name) for x in (*chain, path.resolve()))
        raise ScenarioError(f"{path}: scenario inheritance cycle: {cycle}")
    data = _read_toml(path)
    header = {k: data.pop(k) for k in ("name", "description", "claim", "extends") if k in data}
    overrides: dict[str, Any] = {}
    if "extends" in header:
        parent = str(header["extends"])
        if parent.endswith(".toml") and not Path(parent).is_absolute():
            parent = str(path.parent / parent)  # a file path is relative to this file
        try:
            parent_path = scenario_path(parent)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: extends = {header['extends']!r}: {exc}") from exc
        _, overrides = _collect_overrides(parent_path, (*chain, path.resolve()))
    for group, table in data.items():
        if not isinstance(table, dict):
            resolve_key(group, str(path))  # a flat key at top level is not allowed either way
            raise ScenarioError(f"{path}: key {group} must sit in a [group] table")
        if group not in GROUPS:
            resolve_key(f"{group}.x", str(path))
        for name, value in table.items():
            resolve_key(f"{group}.{name}", str(path))
            f = next(x for x in fields(GROUPS[group]) if x.name == name)
            overrides[f"{group}.{name}"] = check_value(group, f, value, str(path))
    return header, overrides


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Params:
    """Load a named scenario (or TOML file), apply `extends` chains and then overrides."""
    path = scenario_path(name_or_path)
    header, flat = _collect_overrides(path, ())
    base = Params(name=header.get("name", path.stem), description=header.get("description", ""))
    try:
        params = base.with_overrides(flat, str(path))
    except ValueError as exc:
        message = str(exc)
        raise ScenarioError(message if str(path) in message else f"{path}: {message}") from exc
    if overrides:
        params = params.with_overrides(overrides, "--set")
    return params

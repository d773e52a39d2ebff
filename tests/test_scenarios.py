"""The named scenario library in scenarios/: each file loads, says what it tests, changes what
docs/scenarios.md says it changes, runs, and moves the model the way its mechanism must."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.params import SCENARIO_DIR, load_scenario
from sim.run import run_scenario

SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))

# Parameters each scenario changes relative to the scenario it extends, as documented in
# docs/scenarios.md. A value restated at its inherited level (efficiency_shock's 30x jump,
# sample_efficiency_breakthrough's 10x) is written in the file for clarity but is no change.
EXPECTED_CHANGES: dict[str, set[str]] = {
    "no_speculation": {
        "investors.chartist_share_start",
        "investors.switching_intensity",
        "investors.herding_strength",
        "investors.switching_rate_per_yr",
    },
    "us_frontier": {
        "labs.n_closed_labs",
        "labs.n_open_labs",
        "labs.closed_markup_base",
        "labs.closed_markup_per_lead",
        "hyperscalers.n_regions",
        "hyperscalers.grid_gw_per_month_per_region",
        "government.compute_subsidy_share",
    },
    "china_diffusion": {
        "labs.n_closed_labs",
        "labs.n_open_labs",
        "labs.distillation_gap",
        "labs.open_markup",
        "adopters.preference",
        "adopters.bass_innovation_per_yr",
        "hyperscalers.n_regions",
        "hyperscalers.grid_gw_per_month_per_region",
        "credit.leverage_base",
        "credit.credit_procyclicality",
        "credit.credit_loss_sensitivity",
        "government.adoption_subsidy_share",
        "government.export_limit_share",
        "government.permitting_multiple",
    },
    "efficiency_shock": {"technology.scheduled_breakthrough_month"},
    "dotcom_like": {
        "technology.flop_per_usd_doubling_years",
        "hyperscalers.accelerator_life_years",
        "credit.leverage_max",
        "credit.credit_procyclicality",
        "investors.max_expected_growth_per_yr",
    },
    "gpu_plateau": {"technology.hardware_plateau_multiple"},
    "moore_continues": {"technology.hardware_plateau_multiple"},
    "power_constrained": {
        "hyperscalers.grid_gw_per_month_per_region",
        "hyperscalers.grid_growth_per_yr",
    },
    "data_wall": {
        "capability.human_data_stock_tokens",
        "capability.synthetic_data_discount",
        "capability.expert_token_price_usd",
        "capability.expert_tokens_per_month",
        "capability.expert_supply_elasticity",
    },
    "open_weight_wins": {"labs.n_open_labs", "labs.distillation_gap", "adopters.preference"},
    "no_intervention": {"government.crisis_response"},
    "sample_efficiency_breakthrough": {"technology.sample_efficiency_jump_month"},
}
DERIVED = sorted(EXPECTED_CHANGES)

SHORT = {"months": 60, "n_adopters": 300, "n_investors": 60}
# Behavioural checks: 4 seeds of 240 months (2018-2037) with a smaller population.
LONG = {"months": 240, "n_adopters": 1000, "n_investors": 100}
SEEDS = (1, 2, 3, 4)


def header(name: str) -> dict:
    with (SCENARIO_DIR / f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)


def parent_of(name: str) -> str:
    return str(header(name).get("extends", "baseline")).removesuffix(".toml")


def changed_keys(name: str) -> set[str]:
    mine, theirs = load_scenario(name).flat(), load_scenario(parent_of(name)).flat()
    return {key for key in mine if mine[key] != theirs[key]}


# ---- files ------------------------------------------------------------------------------


def test_library_is_complete():
    assert {"baseline", *DERIVED} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_loads_with_description_and_claim(name):
    params = load_scenario(name)
    data = header(name)
    assert params.name == name == data["name"]
    for key in ("description", "claim"):
        assert isinstance(data.get(key), str) and data[key].strip(), f"{name}: empty {key}"
        assert "\n" not in data[key].strip(), f"{name}: {key} must be one line"
    assert params.description == data["description"]


@pytest.mark.parametrize("name", DERIVED)
def test_scenario_changes_exactly_the_documented_parameters(name):
    assert "extends" in header(name)
    changed = changed_keys(name)
    assert changed, f"{name} changes nothing relative to {parent_of(name)}"
    assert changed == EXPECTED_CHANGES[name]


@pytest.mark.parametrize("name", DERIVED)
def test_scenario_is_documented(name):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text()
    assert f"`{name}`" in doc
    assert f"img/scenarios/{name}.png" in doc


def test_key_parameters():
    base = load_scenario("baseline")
    us = load_scenario("us_frontier")
    assert us.labs.n_closed_labs > base.labs.n_closed_labs
    assert us.labs.n_open_labs < base.labs.n_open_labs
    assert us.adopters.preference == "winner_takes_all"
    assert us.labs.closed_markup_base > base.labs.closed_markup_base
    assert us.government.compute_subsidy_share > 0
    assert us.hyperscalers.n_regions < base.hyperscalers.n_regions

    cn = load_scenario("china_diffusion")
    assert cn.adopters.preference == "good_enough"
    assert cn.government.export_limit_share < 1.0
    assert cn.government.adoption_subsidy_share > 0
    assert cn.labs.n_open_labs > cn.labs.n_closed_labs
    assert cn.labs.distillation_gap < base.labs.distillation_gap
    assert cn.hyperscalers.n_regions > base.hyperscalers.n_regions
    assert cn.credit.leverage_base > base.credit.leverage_base
    assert cn.credit.credit_procyclicality < base.credit.credit_procyclicality
    assert cn.adopters.bass_innovation_per_yr > base.adopters.bass_innovation_per_yr

    shock = load_scenario("efficiency_shock").technology
    assert 0 <= shock.scheduled_breakthrough_month < base.run.months
    assert 10.0 <= shock.scheduled_breakthrough_multiple <= 100.0

    plateau = load_scenario("gpu_plateau").technology.hardware_plateau_multiple
    moore = load_scenario("moore_continues").technology.hardware_plateau_multiple
    assert plateau < base.technology.hardware_plateau_multiple < moore

    assert load_scenario("no_intervention").government.crisis_response == "nothing"
    assert (
        load_scenario("power_constrained").hyperscalers.grid_gw_per_month_per_region
        < base.hyperscalers.grid_gw_per_month_per_region
    )
    assert (
        load_scenario("data_wall").capability.human_data_stock_tokens
        < base.capability.human_data_stock_tokens
    )
    ow = load_scenario("open_weight_wins")
    assert ow.adopters.preference == "good_enough"
    assert ow.labs.n_open_labs > base.labs.n_open_labs
    se = load_scenario("sample_efficiency_breakthrough").technology
    assert se.sample_efficiency_jump_month >= 0 and se.sample_efficiency_jump_multiple > 1.0


# ---- runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_short_run_has_no_nan(name):
    table = run_scenario(name, seed=1, overrides=SHORT)
    assert len(table) == SHORT["months"]
    numeric = table.select_dtypes("number")
    bad = [c for c in numeric.columns if not np.isfinite(numeric[c].to_numpy(float)).all()]
    assert not bad, f"{name}: non-finite values in {bad}"


@pytest.fixture(scope="module")
def long_runs():
    names = ("baseline", "gpu_plateau", "moore_continues", "power_constrained", "efficiency_shock")
    return {name: [run_scenario(name, seed, LONG) for seed in SEEDS] for name in names}


def test_hardware_plateau_ends_below_moore(long_runs):
    """Price-performance follows its own ceiling, whatever the market does."""
    for plateau, base, moore in zip(
        long_runs["gpu_plateau"], long_runs["baseline"], long_runs["moore_continues"], strict=True
    ):
        col = "hardware_price_performance_x"
        assert plateau[col].iloc[-1] < base[col].iloc[-1] < moore[col].iloc[-1]
        assert (
            plateau[col].iloc[-1]
            <= load_scenario("gpu_plateau").technology.hardware_plateau_multiple
        )


def test_power_constrained_is_held_by_the_grid(long_runs):
    """Power in use never exceeds the opening buildings plus every grid connection so far,
    and a third of the baseline's connection rate gives a lower peak (seed mean)."""
    hp = load_scenario("power_constrained").hyperscalers
    months = np.arange(LONG["months"])
    per_month = hp.n_regions * hp.grid_gw_per_month_per_region
    connected = np.cumsum(per_month * (1.0 + hp.grid_growth_per_yr) ** (months / 12.0))
    for table in long_runs["power_constrained"]:
        power = table["power_gw"].to_numpy(float)
        # opening buildings: the installed base and its 12-month pipeline at target use,
        # well under twice the power in use at month 0
        assert (power <= 2.0 * power[0] + connected).all()
    peak = np.mean([t["power_gw"].max() for t in long_runs["power_constrained"]])
    assert peak < np.mean([t["power_gw"].max() for t in long_runs["baseline"]])


def test_efficiency_shock_jumps_at_the_scheduled_month(long_runs):
    tech = load_scenario("efficiency_shock").technology
    month, multiple = tech.scheduled_breakthrough_month, tech.scheduled_breakthrough_multiple
    for shock, base in zip(long_runs["efficiency_shock"], long_runs["baseline"], strict=True):
        eff = shock["algorithmic_efficiency_x"].to_numpy(float)
        ref = base["algorithmic_efficiency_x"].to_numpy(float)
        assert eff[month] / eff[month - 1] >= multiple
        assert ref[month] / ref[month - 1] < multiple
        # the same seed runs the same until the shock
        np.testing.assert_allclose(eff[:month], ref[:month])

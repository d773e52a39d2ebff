"""The opening fleet: the steady state the hyperscalers' ordering rules reach before month 0."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

import sim.model
from sim.model import SurgeModel
from sim.opening_fleet import OrderingRules, warm_up_fleet
from sim.technology import HOURS_PER_MONTH

ROOT = Path(__file__).resolve().parents[1]
RULES = OrderingRules(
    lead_months=12,
    adjustment_months=3.0,
    life_months=60,
    target_utilisation=0.8,
    demand_memory_months=12.0,
    max_growth_per_yr=1.0,
    cancellation_per_month=0.05,
)


def growing_hours(month: int) -> float:
    """Hours asked growing 3% a month: 0.8 x 10 mn units x 730 h in month 0."""
    return 0.8 * 10e6 * HOURS_PER_MONTH * 1.03**month


def test_the_warm_up_ends_in_steady_growth():
    fleet = warm_up_fleet(growing_hours, lambda month: 1.2, RULES, 240)
    arrivals = fleet.units_mn[-36:]  # months -24 .. 11
    assert arrivals[1:] / arrivals[:-1] == pytest.approx(1.03, rel=1e-3)
    # demand growth smoothed to the true ln(1.03) a month, and something on order
    assert fleet.demand_growth == pytest.approx(np.log(1.03), rel=1e-9)
    assert fleet.backlog_mn > 0 and (fleet.shells_pipeline_gw > 0).all()
    # buildings under way grow with the arrivals they will house
    pipeline = fleet.shells_pipeline_gw
    assert pipeline[1:] / pipeline[:-1] == pytest.approx(1.03, rel=1e-3)


def test_the_warm_up_forgets_its_start():
    """Three lifetimes are enough: a longer warm-up leaves the same fleet to a small fraction."""
    short = warm_up_fleet(growing_hours, lambda month: 1.2, RULES, 240)
    long = warm_up_fleet(growing_hours, lambda month: 1.2, RULES, 480)
    assert short.units_mn == pytest.approx(long.units_mn, rel=1e-3)
    assert short.backlog_mn == pytest.approx(long.backlog_mn, rel=1e-3)


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "scenarios" / "*.toml"))))
def test_every_named_scenario_opens_in_its_steady_state(path, monkeypatch):
    model = SurgeModel(path, rng=0, months=2)
    fleet = model.opening_fleet()
    monkeypatch.setattr(
        sim.model, "OPENING_WARM_UP_LIFETIMES", 2 * sim.model.OPENING_WARM_UP_LIFETIMES
    )
    longer = model.opening_fleet()
    # every vintage within 0.1% of the fleet online, the order book within 1%
    assert fleet.units_mn == pytest.approx(longer.units_mn, abs=1e-3 * longer.online_mn)
    assert fleet.backlog_mn == pytest.approx(longer.backlog_mn, rel=1e-2)


def test_capex_carries_on_from_the_first_month():
    """With nothing on order at the fabs, capex would open well below its 2018 average and
    climb while the order book fills; from the warm-up's order book it opens near it and
    holds steady for the first half year. (From mid-2018 it rises with the run's own demand
    and valuations: by about 18% to the end of the year.)"""
    table = SurgeModel("baseline", rng=1, months=12).run()
    capex = table["capex_usd_bn_per_yr"]
    assert capex.iloc[0] > 0.9 * capex.mean()
    first_half = capex.iloc[:6]
    assert first_half.min() > 0.95 * first_half.max()


def test_opening_vintages_draw_the_power_of_their_shipping_month():
    """Each opening vintage was shipped a build lead before it came online, on the hardware
    curve extended backwards: between the newest installed vintage (age 0) and the oldest
    (age life - 1), power per unit differs by exp(elasticity * (life - 1) * monthly step).
    Both are booked at today's unit cost, so nothing is written down in the first month."""
    model = SurgeModel("baseline", rng=1)
    tech, firm = model.technology, model.hyperscalers[0]
    newest, oldest = firm.offset, firm.offset - (firm.life_months - 1)
    elasticity = model.params.technology.power_efficiency_elasticity
    expected = np.exp(elasticity * (firm.life_months - 1) * tech.hardware_step())
    assert firm.kw_per_unit[oldest] / firm.kw_per_unit[newest] == pytest.approx(expected)
    unit_cost = tech.h100e_price_usd * 1e6 / 1e9  # USD bn per mn units
    depreciation = firm.monthly_depreciation[[newest, oldest]] / firm.units[[newest, oldest]]
    assert depreciation == pytest.approx(unit_cost / firm.life_months)
    model.step()
    assert model.stranded_capital_usd_bn == 0.0


def test_the_hyperscalers_take_over_the_warm_up_state():
    model = SurgeModel("baseline", rng=1)
    fleet = model.opening_fleet()
    for firm in model.hyperscalers:
        held = slice(0, fleet.units_mn.size)
        assert (firm.units[held] == fleet.units_mn).all()
        assert firm.backlog_units == fleet.backlog_mn
        assert firm.shell_gw == fleet.shells_ready_gw
        under_way = firm.shell_pipeline[firm.offset : firm.offset + fleet.shells_pipeline_gw.size]
        assert (under_way == fleet.shells_pipeline_gw).all()
        # online in month -1 serve the hours asked then at the utilisation the rules settle at
        assert firm.utilisation == pytest.approx(
            fleet.hours_asked / (fleet.online_mn * 1e6 * HOURS_PER_MONTH)
        )

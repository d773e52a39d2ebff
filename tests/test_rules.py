"""Tests of sim.rules: each rule reproduces the worked example in its docstring.

The docstring is the specification. Each test uses the docstring's inputs and asserts its
documented result, with the hand arithmetic copied above the assertion. Where the worked
example states a property (conservation, market clearing, symmetry, bounds), a second test
checks it on a few hundred random inputs drawn with numpy.random.default_rng(0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.model import SurgeModel
from sim.params import CapabilityParams
from sim.rules.adoption import (
    NO_PROVIDER,
    bass_adoption_probability,
    choose_provider,
    feasible_providers,
)
from sim.rules.capability import (
    capability_index,
    chinchilla_loss,
    compute_optimal_split,
    data_mix,
    inference_flop_per_token,
    trained_capability,
    training_flop_per_hour,
)
from sim.rules.capacity import (
    backlog_after_orders,
    buildings_needed_gw,
    housed_units,
    legacy_spend_multiple,
)
from sim.rules.finance import (
    annuity_factor,
    cap_weights,
    chartist_weights,
    credit_limit,
    fundamental_value,
    fundamentalist_weights,
    planned_capacity,
    smooth_growth,
    switching_probabilities,
    value_in_use,
    whole_firm_premium,
)
from sim.rules.markets import (
    adjust_rent,
    allocate_with_spillover,
    clear_equity_market,
    cost_recovering_rent,
    expert_token_price,
    token_markup,
    token_price_usd_per_mtok,
    utilisation_rent,
)
from sim.rules.technology import algorithmic_log_growth, hardware_log_growth
from sim.technology import HOURS_PER_MONTH

N_RANDOM = 300

# Hoffmann et al. (2022) fitted constants, spelled out so the worked examples do not depend
# on whatever the scenario defaults become.
CHINCHILLA = CapabilityParams(
    loss_irreducible=1.69,
    loss_param_coef=406.4,
    loss_data_coef=410.7,
    loss_param_exponent=0.34,
    loss_data_exponent=0.28,
)


# --------------------------------------------------------------------------- capability


def test_chinchilla_loss_worked_example():
    cp = CapabilityParams()
    # N^0.34 = exp(0.34 * ln 7e10) = exp(8.4905) = 4862 -> 406.4 / 4862 = 0.0836
    # D^0.28 = exp(0.28 * ln 1.4e12) = exp(7.8307) = 2518 -> 410.7 / 2518 = 0.1631
    # L = 1.69 + 0.0836 + 0.1631 = 1.937
    assert chinchilla_loss(70e9, 1.4e12, cp) == pytest.approx(1.94, abs=0.01)
    assert chinchilla_loss(70e9, 1.4e12, cp) == pytest.approx(1.937, abs=5e-4)
    # the two reducible terms on their own (drop the other by making its input huge); the
    # docstring's intermediates are rounded loosely (exp(8.4905) is 4868, not 4862, so the
    # first term is 0.08349; the second is 0.16316): compare them to within two units of
    # their last digit
    assert chinchilla_loss(70e9, 1e300, CHINCHILLA) - 1.69 == pytest.approx(0.0836, abs=2e-4)
    assert chinchilla_loss(1e300, 1.4e12, CHINCHILLA) - 1.69 == pytest.approx(0.1631, abs=2e-4)


def test_compute_optimal_split_worked_example_as_documented():
    # G = (0.34*406.4 / (0.28*410.7))^(1/0.62) = 1.2016^1.6129 = 1.3446
    # C/6 = 9.6e22; (9.6e22)^0.45161 = exp(0.45161*52.918) = exp(23.899) = 2.394e10
    # N_opt = 1.3446 * 2.394e10 = 3.22e10; D_opt = 9.6e22 / 3.22e10 = 2.98e12
    split = compute_optimal_split(5.76e23, CHINCHILLA)
    assert split.n_params == pytest.approx(3.22e10, rel=5e-3)
    assert split.n_tokens == pytest.approx(2.98e12, rel=5e-3)


def test_compute_optimal_split_follows_documented_formula():
    # N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))
    # G = (138.18 / 115.00)^(1/0.62) = 1.2016^1.6129 = 1.3446; beta/(alpha+beta) = 0.45161
    g = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    assert g == pytest.approx(1.3446, rel=1e-4)
    split = compute_optimal_split(5.76e23, CHINCHILLA)
    assert split.n_params == pytest.approx(g * 9.6e22 ** (0.28 / 0.62), rel=1e-12)
    # D_opt = (C/6) / N_opt
    assert split.n_tokens == pytest.approx(9.6e22 / split.n_params, rel=1e-12)


@pytest.mark.parametrize("compute_flop", np.logspace(18, 30, 13).tolist())
def test_compute_optimal_split_spends_budget_and_minimises_loss(compute_flop):
    split = compute_optimal_split(compute_flop, CHINCHILLA)
    # the budget constraint C = 6 N D holds exactly
    assert 6.0 * split.n_params * split.n_tokens == pytest.approx(compute_flop, rel=1e-12)
    # first-order optimality: moving N either way along C = 6 N D raises the loss
    best = chinchilla_loss(split.n_params, split.n_tokens, CHINCHILLA)
    for factor in (1.1, 1 / 1.1, 1.01, 1 / 1.01):
        n = split.n_params * factor
        assert chinchilla_loss(n, compute_flop / (6.0 * n), CHINCHILLA) > best
    assert chinchilla_loss(
        *compute_optimal_split(compute_flop, CHINCHILLA), CHINCHILLA
    ) == pytest.approx(best, rel=1e-12)


def test_capability_index_worked_example():
    cp = CapabilityParams(
        loss_irreducible=1.69, capability_midpoint_loss=0.08, capability_steepness=2.0
    )
    # L - E = 0.16 -> 100 / (1 + (0.16/0.08)^2) = 100 / 5 = 20
    assert capability_index(1.69 + 0.16, cp) == pytest.approx(20.0, rel=1e-9)
    # L - E = 0.04 -> 100 / (1 + 0.5^2) = 100 / 1.25 = 80
    assert capability_index(1.69 + 0.04, cp) == pytest.approx(80.0, rel=1e-9)
    # L - E = m -> 100 / (1 + 1) = 50 (the midpoint)
    assert capability_index(1.69 + 0.08, cp) == pytest.approx(50.0, rel=1e-9)


def test_capability_index_decreases_in_loss_within_0_100():
    cp = CapabilityParams()
    losses = cp.loss_irreducible + np.logspace(-3, 1, 400)
    index = np.array([capability_index(x, cp) for x in losses])
    assert np.all(np.diff(index) < 0.0)
    assert np.all((index > 0.0) & (index < 100.0))
    # at or below the irreducible loss it saturates at (not above) 100
    rng = np.random.default_rng(0)
    for loss in rng.uniform(0.0, cp.loss_irreducible + 20.0, N_RANDOM):
        assert 0.0 <= capability_index(loss, cp) <= 100.0


def test_data_mix_worked_example():
    cp = CapabilityParams(
        human_data_stock_tokens=3e14,
        expert_token_value=20.0,
        synthetic_data_discount=0.3,
        sample_efficiency=1.0,
    )
    # need 5e14, can afford 2e12 expert tokens -> human 3e14; expert 2e12 covers
    # 2e12 * 20 = 4e13; gap 5e14 - 3e14 - 4e13 = 1.6e14 synthetic at 0.3
    # effective = 3e14 + 4e13 + 0.3 * 1.6e14 = 3.88e14
    mix = data_mix(5e14, 2e12, cp)
    assert mix.effective_tokens == pytest.approx(3.88e14, rel=1e-3)
    assert mix.expert_tokens == pytest.approx(2e12, rel=1e-12)
    assert mix.synthetic_tokens == pytest.approx(1.6e14, rel=1e-12)


def test_trained_capability_with_ample_data_is_the_reference_run():
    # no worked example in the docstring; with the human stock far above the run's need the
    # run trains on real tokens only, so its loss is the compute-optimal reference loss
    cp = CapabilityParams()
    index, loss, mix = trained_capability(1e22, 0.0, cp)
    assert loss == pytest.approx(chinchilla_loss(*compute_optimal_split(1e22, cp), cp), rel=1e-12)
    assert index == pytest.approx(capability_index(loss, cp), rel=1e-12)
    assert mix.synthetic_tokens == 0.0
    # a run whose need exceeds the human stock trains on discounted synthetic data: worse loss
    _, short_loss, short_mix = trained_capability(1e30, 0.0, cp)
    assert short_mix.synthetic_tokens > 0.0
    assert short_loss > chinchilla_loss(*compute_optimal_split(1e30, cp), cp)


def test_inference_flop_per_token_worked_example():
    # 1e11 parameters, efficiency 4 -> 2 * 1e11 / 4 = 5e10 FLOP per token
    assert inference_flop_per_token(1e11, 4.0) == pytest.approx(5e10, rel=1e-12)


def test_training_flop_per_hour_worked_example():
    # 989e12 * 3600 * 0.4 = 1.42416e18; two years at 20% a year: * 1.44 = 2.0507904e18
    assert training_flop_per_hour(0.4, 0.2, 24) == pytest.approx(2.0507904e18, rel=1e-12)
    assert training_flop_per_hour(0.4, 0.0, 24) == pytest.approx(1.42416e18, rel=1e-12)


# --------------------------------------------------------------------------- technology


def test_hardware_log_growth_worked_example():
    # g0 = ln 2 / 2.46 = 0.28177/yr = 0.023481/month
    assert hardware_log_growth(0.0, 2.46, 100.0) == pytest.approx(0.023481, rel=1e-4)
    # halfway to a 100x plateau (ln P = 2.3026 of 4.6052) -> 0.023481 * 0.5 = 0.011740
    assert hardware_log_growth(math.log(10.0), 2.46, 100.0) == pytest.approx(0.011740, rel=1e-4)


def test_hardware_log_growth_stops_at_plateau():
    # zero at the ceiling ln P = ln M, and never negative beyond it
    assert hardware_log_growth(math.log(100.0), 2.46, 100.0) == pytest.approx(0.0, abs=1e-15)
    assert hardware_log_growth(math.log(500.0), 2.46, 100.0) == 0.0
    # a plateau multiple of 1 means no room to grow at all
    assert hardware_log_growth(0.0, 2.46, 1.0) == 0.0


def test_algorithmic_log_growth_worked_example():
    # g0 = 1.2/yr, R = 8, lambda = 0.3, phi = 0.1, x = 5:
    # 8^0.3 = 1.8661; exp(-0.5) = 0.60653; g = 1.2 * 1.8661 * 0.60653 / 12 = 0.11318/month
    assert algorithmic_log_growth(5.0, 8.0, 1.2, 0.3, 0.1) == pytest.approx(0.11318, rel=1e-4)


# --------------------------------------------------------------------------- markets


def test_utilisation_rent_worked_example():
    # reference 2.5 USD/h, target 0.8, elasticity 3, floor 0.4
    # u = 0.96 -> 2.5 * (0.96/0.8)^3 = 2.5 * 1.2^3 = 4.32
    assert utilisation_rent(0.96, 2.5, 0.8, 3.0, 0.4) == pytest.approx(4.32, rel=1e-4)
    # u = 0.4 -> 2.5 * 0.5^3 = 0.3125 -> floored at 0.40
    assert utilisation_rent(0.4, 2.5, 0.8, 3.0, 0.4) == pytest.approx(0.40, rel=1e-12)


def test_cost_recovering_rent_worked_example():
    # k = 40,000 * 0.35 / 8,760 = 1.5982 USD/h; (1.5982 + 0.25) / 0.8 + 0.112 = 2.4223 USD/h
    recovery = 40_000 * 0.35 / 8_760
    rent = cost_recovering_rent(recovery, 0.25, 0.112, 0.8)
    assert rent == pytest.approx(2.4223, abs=1e-4)
    # busy 80% of its hours, the unit pays energy on hours sold and operations on every hour,
    # and what is left is its capital recovery: 0.8 * (2.4223 - 0.112) - 0.25 = 1.5982
    assert 0.8 * (rent - 0.112) - 0.25 == pytest.approx(recovery)


def test_a_new_unit_at_the_reference_rent_is_worth_what_it_cost_at_any_hardware_level():
    """The rent hyperscalers and non-AI demand treat as normal must pay for a new unit in
    the impairment test's own terms, however cheap hardware gets; otherwise every unit
    bought late in a run is written down on arrival."""
    model = SurgeModel(n_adopters=50, n_investors=20)
    hp, tech = model.params.hyperscalers, model.technology
    monthly_rate = model.params.investors.discount_rate_per_yr / 12.0
    life = round(hp.accelerator_life_years * 12)
    for level in (0.0, 2.0, 4.0, 6.0, 8.0):  # price-performance up to e^8 = 2,981 times today's
        energy = tech.h100e_power_kw_at(level) / 1e3 * hp.energy_price_usd_per_mwh
        margin = (
            hp.target_utilisation * (model.reference_rent(level) - energy)
            - hp.operations_cost_usd_per_h100e_hour
        ) * HOURS_PER_MONTH  # USD a month per unit
        worth = value_in_use(1.0, margin, annuity_factor(np.array([life]), monthly_rate))[0]
        assert worth >= tech.h100e_price_usd_at(level), level


def test_adjust_rent_worked_example():
    # current 2.0, implied 4.0, speed 0.25 -> 2.0 * 2^0.25 = 2.3784
    assert adjust_rent(2.0, 4.0, 0.25) == pytest.approx(2.3784, rel=1e-4)


def test_token_markup_worked_example():
    # capability 70, best rival 64, base 1.5, 0.15 per point -> 1.5 + 0.15 * 6 = 2.4
    assert token_markup(70.0, 64.0, 1.5, 0.15) == pytest.approx(2.4, rel=1e-12)
    # a laggard (no lead) charges the base 1.5
    assert token_markup(64.0, 70.0, 1.5, 0.15) == pytest.approx(1.5, rel=1e-12)


def test_token_price_usd_per_mtok_worked_example():
    # 0.15 of 989 TFLOP/s * 3600 s = 5.34e17 FLOP/h served
    flop_per_hour = 0.15 * 989e12 * 3600.0
    assert flop_per_hour == pytest.approx(5.34e17, rel=1e-3)
    # 5.34e17 / 1e11 = 5.34e6 tokens/h -> 2.5 / 5.34e6 * 1e6 = 0.468 USD/Mtok at cost
    assert token_price_usd_per_mtok(2.5, 1e11, flop_per_hour, 1.0) == pytest.approx(0.468, rel=1e-3)
    # markup 2 -> 0.936
    assert token_price_usd_per_mtok(2.5, 1e11, flop_per_hour, 2.0) == pytest.approx(0.936, rel=1e-3)


def test_expert_token_price_worked_example():
    # p0 = 0.1 USD, Q0 = 8e10 tokens, e = 1: S = 32e9 USD -> S / (p0 Q0) = 4
    # -> p = 0.1 * 4^(1/2) = 0.2 USD/token
    assert expert_token_price(32e9, 0.1, 8e10, 1.0) == pytest.approx(0.2, rel=1e-12)


def test_allocate_with_spillover_worked_example():
    # seller 0 has 8 asked for 4 -> serves 6*4/8 = 3 and 2*4/8 = 1; seller 1 serves 2 of 10
    # (spare 8); unserved 3 + 1 = 4 spill to seller 1 -> served [[3, 3], [1, 3]], loads [4, 6]
    served = allocate_with_spillover(np.array([[6.0, 0.0], [2.0, 2.0]]), np.array([4.0, 10.0]))
    np.testing.assert_allclose(served, [[3.0, 3.0], [1.0, 3.0]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(served.sum(axis=0), [4.0, 6.0], rtol=0, atol=1e-12)


def test_allocate_with_spillover_respects_capacity_and_conserves_hours():
    rng = np.random.default_rng(0)
    for _ in range(N_RANDOM):
        n_buyers, n_sellers = rng.integers(1, 7), rng.integers(1, 6)
        requests = rng.uniform(0.0, 10.0, (n_buyers, n_sellers))
        requests *= rng.random((n_buyers, n_sellers)) < 0.7  # some buyers skip some sellers
        capacity = rng.uniform(0.0, 15.0, n_sellers) * (rng.random(n_sellers) < 0.85)
        served = allocate_with_spillover(requests, capacity)
        tol = 1e-9 * max(1.0, requests.sum(), capacity.sum())
        assert served.shape == requests.shape
        assert np.all(served >= -tol)
        # no seller exceeds capacity
        assert np.all(served.sum(axis=0) <= capacity + tol)
        # nothing is sold that is not bought
        assert np.all(served.sum(axis=1) <= requests.sum(axis=1) + tol)
        # hours are conserved: all demand is served, or all capacity is used
        expected = min(requests.sum(), capacity.sum())
        assert served.sum() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_clear_equity_market_worked_example():
    # one investor, one firm: w = 0.5, cash 100, holds 10 of 10 shares
    # (10 - 0.5*10) p = 0.5 * 100 -> 5 p = 50 -> p = 10
    prices = clear_equity_market(
        np.array([[0.5]]), np.array([100.0]), np.array([[10.0]]), np.array([10.0])
    )
    assert prices[0] == pytest.approx(10.0, rel=1e-12)
    # wealth 100 + 10 * 10 = 200, half of it (100) in the stock = all 10 shares at 10
    wealth = 100.0 + 10.0 * prices[0]
    assert wealth == pytest.approx(200.0, rel=1e-12)
    assert 0.5 * wealth / prices[0] == pytest.approx(10.0, rel=1e-12)


def test_clear_equity_market_desired_holdings_absorb_supply():
    rng = np.random.default_rng(0)
    for _ in range(N_RANDOM):
        n_investors, n_firms = rng.integers(1, 9), rng.integers(1, 6)
        weights = rng.random((n_investors, n_firms))
        row_sums = rng.uniform(0.05, 0.95, n_investors)
        weights *= (row_sums / weights.sum(axis=1))[:, None]  # sum_i w[j, i] < 1
        cash = rng.uniform(0.0, 100.0, n_investors)
        holdings = rng.uniform(0.1, 10.0, (n_investors, n_firms))
        supply = holdings.sum(axis=0)  # every share is held by someone
        prices = clear_equity_market(weights, cash, holdings, supply)
        assert np.all(prices >= 0.0)
        wealth = cash + holdings @ prices  # W_j(p) = c_j + sum_k h[j, k] p_k
        desired = (weights * wealth[:, None]).sum(axis=0) / prices  # sum_j w[j,i] W_j / p_i
        np.testing.assert_allclose(desired, supply, rtol=1e-9, atol=0)


# --------------------------------------------------------------------------- finance


def test_fundamental_value_worked_example():
    # net cash 10, revenue 10/yr, target 40/yr over 2 years, margin 0.3, r = 0.1, g = 0,
    # net assets 40, floor 0.5
    #   year 1: revenue 10 * 2 = 20 -> earnings 6 -> PV 6 / 1.1 = 5.4545
    #   year 2: revenue 40 -> earnings 12 -> PV 12 / 1.21 = 9.9174
    #   terminal: 12 / 0.1 = 120 -> PV 120 / 1.21 = 99.174
    #   value = 10 + 5.4545 + 9.9174 + 99.174 = 124.55 (above the floor of 0.5 * 40 = 20)
    value = fundamental_value(40.0, 10.0, 10.0, 40.0, 0.3, 0.1, 0.0, 2, 0.5)
    assert value == pytest.approx(124.55, abs=0.005)


def test_fundamental_value_floored_by_net_assets():
    # same firm with net assets 400: floor 0.5 * 400 = 200 > 124.55, so the floor is the value
    value = fundamental_value(400.0, 10.0, 10.0, 40.0, 0.3, 0.1, 0.0, 2, 0.5)
    assert value == pytest.approx(200.0, rel=1e-12)


def test_planned_capacity_worked_example():
    # D = 1.0, g = 0.5/yr, lead 24, u* = 0.8, q / q* = 2, psi = 0.3:
    # 1.0 * 1.5^2 / 0.8 * 2^0.3 = 2.8125 * 1.2311 = 3.4625
    assert planned_capacity(1.0, 0.5, 24, 0.8, 2.0, 0.3) == pytest.approx(3.4625, rel=1e-4)


def test_whole_firm_premium_worked_example():
    # E_m = 30, E_f = 10, D = 20: (30 + 20) / (10 + 20) = 1.6667 (equities alone: 3)
    assert whole_firm_premium(30.0, 10.0, 20.0) == pytest.approx(5.0 / 3.0, rel=1e-12)
    # nearly insolvent: E_m = 1, E_f = 0.001, D = 50: 51 / 50.001 = 1.02 (equities: 1,000)
    assert whole_firm_premium(1.0, 0.001, 50.0) == pytest.approx(1.02, abs=1e-4)
    # no debt: the ratio of equities
    assert whole_firm_premium(6.0, 4.0, 0.0) == pytest.approx(1.5, rel=1e-12)


def test_legacy_spend_multiple_worked_example():
    # ln 1.2 = 0.18232; 10 / ln 2 = 14.427; 1 - 2^-1 = 0.5 -> exp(1.3152) = 3.7254
    assert legacy_spend_multiple(10.0, 0.2, 10.0) == pytest.approx(3.7254, abs=1e-4)
    assert legacy_spend_multiple(-2.0, 0.2, 10.0) == pytest.approx(1.2**-2)  # steady before
    assert legacy_spend_multiple(0.0, 0.2, 10.0) == 1.0
    # a very long half-life is constant growth; the multiple levels off at exp(0.18232 * 14.427)
    assert legacy_spend_multiple(10.0, 0.2, 1e6) == pytest.approx(1.2**10, rel=1e-4)
    assert legacy_spend_multiple(500.0, 0.2, 10.0) == pytest.approx(
        math.exp(0.18232 * 14.427), rel=1e-4
    )


def test_backlog_after_orders_worked_example():
    # a gap of 0.3 ordered over 3 months: 0.2 + 0.3 / 3 = 0.3
    assert backlog_after_orders(0.2, 0.3, 3.0, 0.05) == pytest.approx(0.3)
    # a surplus of 0.5 cancels 5% of what is on order: 0.2 - 0.05 * min(0.2, 0.5) = 0.19
    assert backlog_after_orders(0.2, -0.5, 3.0, 0.05) == pytest.approx(0.19)
    # a surplus smaller than the backlog cancels from the surplus: 0.2 - 0.05 * 0.1 = 0.195
    assert backlog_after_orders(0.2, -0.1, 3.0, 0.05) == pytest.approx(0.195)


def test_buildings_needed_gw_worked_example():
    # 0.3 mn units x 1.2 kW = 0.36 GW; 0.1 GW free -> 0.26 GW; 0.5 GW free -> none
    assert buildings_needed_gw(0.3, 1.2, 0.1) == pytest.approx(0.26)
    assert buildings_needed_gw(0.3, 1.2, 0.5) == 0.0


def test_housed_units_worked_example():
    # 0.24 GW free / 1.2 kW = 0.2 mn of the 0.3 offered; 0.5 GW would house all 0.3
    assert housed_units(0.3, 0.24, 1.2) == pytest.approx(0.2)
    assert housed_units(0.3, 0.5, 1.2) == pytest.approx(0.3)
    assert housed_units(0.3, -0.1, 1.2) == 0.0  # overfull buildings house nothing new


def test_credit_limit_worked_example():
    # base 0.35, a = 0.5, r12 = 0.4, no losses -> 0.35 * (1 + 0.5 * 0.4) = 0.35 * 1.2 = 0.42
    assert credit_limit(0.35, 0.1, 0.6, 0.4, 0.5, 0.0, 20.0) == pytest.approx(0.42, abs=5e-5)
    # then losses of 5% of debt with b = 20 -> 0.42 * exp(-20 * 0.05) = 0.42 * exp(-1) = 0.1545
    assert credit_limit(0.35, 0.1, 0.6, 0.4, 0.5, 0.05, 20.0) == pytest.approx(0.1545, abs=5e-5)


def test_credit_limit_clamped_to_lo_hi():
    # boom: 0.35 * (1 + 0.5 * 2.0) = 0.70 > hi 0.6 -> 0.6
    assert credit_limit(0.35, 0.1, 0.6, 2.0, 0.5, 0.0, 20.0) == pytest.approx(0.6, rel=1e-12)
    # bust: 0.42 * exp(-20 * 0.2) = 0.42 * exp(-4) = 0.0077 < lo 0.1 -> 0.1
    assert credit_limit(0.35, 0.1, 0.6, 0.4, 0.5, 0.2, 20.0) == pytest.approx(0.1, rel=1e-12)
    assert isinstance(credit_limit(0.35, 0.1, 0.6, 0.4, 0.5, 0.2, 20.0), float)


def test_value_in_use_worked_example():
    # annuity = (1 - 1.0075^-24) / 0.0075 = 21.889
    annuity = annuity_factor(np.array([24.0]), 0.0075)
    assert annuity[0] == pytest.approx(21.889, rel=1e-4)
    # 1,000 units, m = 300 USD/month, 24 months: 1,000 * 300 * 21.889 = 6.567e6 USD
    worth = value_in_use(np.array([1000.0]), 300.0, annuity)
    assert worth[0] == pytest.approx(6.567e6, rel=1e-3)
    # at a zero rate the factor is the number of months
    assert annuity_factor(np.array([24]), 0.0).tolist() == [24.0]


def test_value_in_use_zero_for_negative_margin():
    annuity = annuity_factor(np.array([24.0, 60.0]), 0.0075)
    worth = value_in_use(np.array([1000.0, 5.0]), -300.0, annuity)
    np.testing.assert_array_equal(worth, [0.0, 0.0])


def test_switching_probabilities_worked_example():
    # nu = 1/6, a0 = -0.4, beta = 40, gap = 0.01, h = 1.2, s = 0.75:
    #   U = -0.4 + 40 * 0.01 + 1.2 * (2 * 0.75 - 1) = -0.4 + 0.4 + 0.6 = 0.6
    #   -> 2 tanh(0.3) = 0.58270 (docstring; 0.58263 to five digits)
    #   fundamentalist 0.16667 * e^0.5827 = 0.29848; chartist 0.16667 * e^-0.5827 = 0.093063
    probs = switching_probabilities(
        np.array([False, True]), np.array([0.75, 0.75]), 0.01, 1.0 / 6.0, 40.0, 1.2, -0.4
    )
    assert probs[0] == pytest.approx(0.29848, rel=1e-4)
    assert probs[1] == pytest.approx(0.093063, rel=1e-4)


def test_switching_probabilities_bounded_and_symmetric():
    rng = np.random.default_rng(0)
    for _ in range(N_RANDOM):
        n = int(rng.integers(1, 20))
        share = rng.uniform(0.0, 1.0, n)
        gap = float(rng.normal(0.0, 0.05))
        base = float(rng.uniform(0.0, 1.0))
        intensity = float(rng.uniform(0.0, 300.0))
        herding = float(rng.uniform(0.0, 3.0))
        predisposition = float(rng.normal(0.0, 2.0))
        chartist = rng.random(n) < 0.5
        probs = switching_probabilities(
            chartist, share, gap, base, intensity, herding, predisposition
        )
        assert np.all((probs >= 0.0) & (probs <= 1.0))
        # fundamentalists facing attraction U switch as often as chartists facing -U;
        # U -> -U by negating the predisposition and the gap and mirroring s -> 1 - s
        as_fundamentalist = switching_probabilities(
            np.zeros(n, bool), share, gap, base, intensity, herding, predisposition
        )
        as_chartist_mirrored = switching_probabilities(
            np.ones(n, bool), 1.0 - share, -gap, base, intensity, herding, -predisposition
        )
        np.testing.assert_allclose(as_fundamentalist, as_chartist_mirrored, rtol=1e-12, atol=0)
        # the saturation |U| <= 2 bounds every probability by nu * e^2
        assert np.all(probs <= base * math.exp(2.0) * (1 + 1e-12))


def test_fundamentalist_weights_worked_example():
    # F = 100, P = 200, W = 1000, kappa_f = 0.5 -> (200/1000) * (100/200)^0.5 = 0.2 * 0.70711
    # = 0.14142
    w = fundamentalist_weights(np.array([100.0]), np.array([200.0]), 1000.0, 0.5)
    assert w[0] == pytest.approx(0.14142, rel=1e-4)


def test_chartist_weights_worked_example():
    # P = 200, W = 1000, trend 0.05, kappa_c = 2, tau_s = 0.05: tanh(0.05/0.05) = tanh(1)
    # = 0.76159 -> 0.2 * exp(2 * 0.05 * 0.76159) = 0.2 * 1.07906 = 0.21581
    # (docstring; exp(0.076159) = 1.07914, so 0.21583 to five digits)
    w = chartist_weights(np.array([200.0]), np.array([0.05]), 1000.0, 2.0, 0.05)
    assert w[0] == pytest.approx(0.21581, rel=1e-4)


def test_cap_weights_worked_example():
    # weights [0.5, 0.3], cap 0.6 -> sum 0.8 -> scaled by 0.6 / 0.8 = 0.75 -> [0.375, 0.225]
    capped = cap_weights(np.array([[0.5, 0.3]]), np.array([0.6]))
    np.testing.assert_allclose(capped, [[0.375, 0.225]], rtol=1e-12)


def test_cap_weights_budget_property():
    rng = np.random.default_rng(0)
    for _ in range(N_RANDOM):
        n_investors, n_firms = rng.integers(1, 9), rng.integers(1, 6)
        weights = rng.uniform(0.0, 0.5, (n_investors, n_firms))
        cap = rng.uniform(0.05, 1.0, n_investors)
        capped = cap_weights(weights, cap)
        totals = weights.sum(axis=1)
        assert np.all(capped.sum(axis=1) <= cap * (1 + 1e-12))
        # rows within budget are untouched; rows over it are scaled to exactly the cap
        under = totals <= cap
        np.testing.assert_array_equal(capped[under], weights[under])
        np.testing.assert_allclose(capped[~under].sum(axis=1), cap[~under], rtol=1e-12)
        # scaling keeps each investor's mix of firms
        ratio = capped[~under] / weights[~under]
        np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-12)


def test_smooth_growth_worked_example():
    # level 10, growth 0.0, observation 22 -> new level 10 + (22 - 10)/12 = 11,
    # log growth ln(11/10) = 0.09531 -> smoothed growth 0.09531 / 12 = 0.0079425
    growth, level = smooth_growth(0.0, 10.0, 22.0)
    assert level == pytest.approx(11.0, rel=1e-12)
    assert growth == pytest.approx(0.0079425, rel=1e-4)
    # with no level yet, the first observation becomes the level and growth stays 0
    assert smooth_growth(0.0, 0.0, 22.0) == (0.0, 22.0)


# --------------------------------------------------------------------------- adoption


def test_bass_adoption_probability_worked_example():
    # p = 0.03, q = 0.38, half the neighbours adopted:
    # hazard = 0.03 + 0.38 * 0.5 = 0.22/yr -> 1 - exp(-0.22/12) = 1 - exp(-0.018333) = 0.018166
    prob = bass_adoption_probability(np.array([0.5]), 0.03, 0.38)
    assert prob[0] == pytest.approx(0.018166, rel=1e-4)


def test_feasible_providers_worked_example():
    # requirement 60, value 20 USD, 1e5 tokens, budget 500 USD/month, 40 tasks, return 1.2
    # lab 0 at 65 charging 2 USD/Mtok: cost 1e5 * 2e-6 = 0.20 USD/task, 40 * 0.2 = 8 USD/month
    #   -> feasible
    # lab 1 at 65 charging 150 USD/Mtok: cost 15 USD/task; 15 * 1.2 = 18 <= 20 pays back, but
    #   the bill 40 * 15 = 600 USD exceeds the 500 budget -> infeasible
    feasible = feasible_providers(
        required_capability=np.array([60.0]),
        value_per_task=np.array([20.0]),
        tokens_per_task=np.array([1e5]),
        budget_per_month=np.array([500.0]),
        tasks_per_month=np.array([40.0]),
        capability=np.array([65.0, 65.0]),
        price_usd_per_token=np.array([2.0, 150.0]) / 1e6,
        required_return=1.2,
    )
    assert feasible.tolist() == [[True], [False]]  # rows are labs, columns adopters
    # with budget for the 600 USD bill the 150 USD/Mtok lab becomes feasible: the budget
    # alone made it infeasible
    feasible_rich = feasible_providers(
        np.array([60.0]),
        np.array([20.0]),
        np.array([1e5]),
        np.array([600.0]),
        np.array([40.0]),
        np.array([65.0, 65.0]),
        np.array([2.0, 150.0]) / 1e6,
        1.2,
    )
    assert feasible_rich.tolist() == [[True], [True]]


def test_choose_provider_worked_example():
    # feasible [T, T, F], capability [80, 70, 90], price [5, 1, 0.5]; a second adopter with
    # no feasible lab (rows are labs, columns adopters)
    feasible = np.array([[True, False], [True, False], [False, False]])
    capability = np.array([80.0, 70.0, 90.0])
    price = np.array([5.0, 1.0, 0.5])
    # winner-takes-all: most capable feasible (lab 2 at 90 is infeasible) -> lab 0
    winner = choose_provider(feasible, capability, price, good_enough=False)
    # good-enough: cheapest feasible (lab 2 at 0.5 is infeasible) -> lab 1
    cheapest = choose_provider(feasible, capability, price, good_enough=True)
    # an adopter with no feasible lab gets NO_PROVIDER
    assert winner.tolist() == [0, NO_PROVIDER]
    assert cheapest.tolist() == [1, NO_PROVIDER]


def test_choose_provider_ties_and_per_token_prices():
    feasible = np.ones((3, 1), bool)  # three labs, one adopter
    # winner-takes-all: labs 0 and 1 tie at 80, lab 1 is cheaper -> lab 1
    tied_capability = np.array([80.0, 80.0, 60.0])
    assert choose_provider(feasible, tied_capability, np.array([3.0, 2.0, 1.0]), False)[0] == 1
    # good-enough: labs 0 and 1 tie at price 1, lab 1 is more capable -> lab 1
    tied_price = np.array([1.0, 1.0, 2.0])
    assert choose_provider(feasible, np.array([70.0, 90.0, 80.0]), tied_price, True)[0] == 1
    # the model passes prices in USD per token (~1e-7): the cheapest must still win however
    # large the capability gap, and the most capable however small the price gap
    capability = np.array([40.0, 100.0])
    price = np.array([1.0e-7, 1.5e-7])
    assert choose_provider(feasible[:2], capability, price, True)[0] == 0
    assert choose_provider(feasible[:2], capability, price[::-1], False)[0] == 1

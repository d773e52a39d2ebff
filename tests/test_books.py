"""Books balance every month: money, shares, debt claims and compute are conserved.

Each run is stepped by hand so that the invariants are checked after every month, not
only in the recorded table. Scenarios cover the paths where money crosses the boundary
in unusual ways: subsidies, bailouts and rate cuts.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import SurgeModel

SMALL = {"n_adopters": 800, "n_investors": 120}

CASES = [
    ("baseline", 1, {}),
    ("baseline", 2, {"crisis_response": "bail_out"}),
    (
        "baseline",
        3,
        {
            "crisis_response": "cut_rates",
            "adoption_subsidy_share": 0.3,
            "compute_subsidy_share": 0.2,
            "preference": "good_enough",
        },
    ),
    ("no_speculation", 4, {}),
]


def _check_month(model: SurgeModel) -> None:
    ledger, market = model.ledger, model.capital_market
    # Money: the change in all balances equals what crossed the boundary, to 1e-9 relative.
    assert model.ledger.last_relative_imbalance < 1e-9
    # Claims: shares held sum to shares outstanding, debt claims to debt, to 1e-9 relative.
    assert market.check_stocks() < 1e-9
    # Compute: every GPU-hour sold was bought.
    sold, bought = model.compute_market.hours_sold, model.compute_market.hours_bought
    assert sold == pytest.approx(bought, rel=1e-9, abs=1e-6)
    # No stock negative without a recorded default.
    defaulted = {record.firm for record in market.defaults}
    assert (ledger.cash["investors"] >= -1e-9).all()
    for firm in model.firms:
        if firm.alive:
            assert firm.cash >= -1e-9, f"{firm.name} has cash {firm.cash} without a default"
        else:
            assert firm.firm in defaulted
    assert (market.holdings >= -1e-12).all()
    assert (market.debt_claims >= -1e-12).all()
    assert (market.debt >= -1e-12).all()
    for h in model.hyperscalers:
        assert (h.units >= -1e-12).all() and (h.book >= -1e-12).all()
        assert h.backlog_units >= -1e-12 and h.shell_gw >= -1e-12
        # the running totals over the vintages agree with the vintages themselves
        online, everything = h.vintages(through=h.now), slice(0, None)
        recounted = {
            "online_units_mn": h.units[online].sum(),
            "power_in_use_gw": h.units[online] @ h.kw_per_unit[online],
            "committed_gw": h.units[everything] @ h.kw_per_unit[everything],
            "online_book_usd_bn": h.book[online].sum(),
            "book_usd_bn": h.book[everything].sum(),
        }
        for name, total in recounted.items():
            assert getattr(h, name) == pytest.approx(total, rel=1e-9, abs=1e-9), name


@pytest.mark.parametrize(("scenario", "seed", "overrides"), CASES)
def test_books_balance_every_month(scenario, seed, overrides):
    model = SurgeModel(scenario, rng=seed, **SMALL, **overrides)
    while model.running:
        model.step()
        _check_month(model)
    table = model.table()
    numeric = table.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()).all(), "NaN or inf in the monthly table"
    assert len(table) == model.params.run.months


def test_a_firm_that_cannot_pay_is_recorded_as_a_default():
    """Drain a lab's cash and stop it raising: it must default, not go negative."""
    model = SurgeModel(rng=5, **SMALL)
    for _ in range(3):
        model.step()
    lab = model.labs[0]
    model.ledger.cash["labs"][lab.index] -= lab.cash + 1.0  # an unpaid bill of USD 1 bn
    model.resolve_defaults()
    assert not lab.alive
    record = model.capital_market.defaults[-1]
    assert record.firm == lab.firm
    assert lab.cash == pytest.approx(0.0, abs=1e-9)
    assert model.capital_market.holdings[:, lab.firm].sum() == 0.0


def test_equity_market_clears_at_prices_below_a_millionth_of_a_cent():
    """Firms that keep issuing shares at falling prices can see them trade far below a
    cent (a dotcom_like run reached 7e-13 USD in 2056). The market must still clear there,
    every trade settled in cash, rather than hold such a price at a floor that leaves the
    trades unbalanced: here every firm has 1e14 times as many shares as in month 12."""
    model = SurgeModel(rng=3, **SMALL)
    for _ in range(12):
        model.step()
    market = model.capital_market
    for claims in (market.shares, market.holdings, market.pending_issue):
        claims *= 1e14
    market.price /= 1e14
    model.investor_pool.last_value /= 1e14
    for _ in range(3):
        model.step()
        _check_month(model)
    assert (market.price[market.listed] < 1e-12).all()

"""The ledger's double entry, the government's crisis rule and the live networks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.ledger import Ledger
from sim.model import SurgeModel
from sim.networks import adjacency, export_graphml, small_world, snapshot

SMALL = {"n_adopters": 300, "n_investors": 60}


# ---- ledger -------------------------------------------------------------------------------


def test_transfers_move_money_without_creating_it():
    ledger = Ledger({"investors": 3, "labs": 2})
    ledger.cash["investors"][:] = [10.0, 20.0, 30.0]
    ledger.open_books()
    # 5 from investor 0 to lab 1; 1, 2, 3 from the three investors to lab 0.
    ledger.transfer("investors", 0, "labs", 1, 5.0, "equity")
    ledger.transfer("investors", np.arange(3), "labs", 0, np.array([1.0, 2.0, 3.0]), "rent")
    assert ledger.cash["investors"].tolist() == [4.0, 18.0, 27.0]
    assert ledger.cash["labs"].tolist() == [6.0, 5.0]
    flows = ledger.close_month()
    assert flows == {}  # nothing crossed the boundary
    assert ledger.last_imbalance == pytest.approx(0.0, abs=1e-12)


def test_boundary_flows_explain_the_change_in_balances():
    ledger = Ledger({"labs": 1})
    ledger.receive("adopter_spending", "labs", 0, 7.0)
    ledger.pay_out("labs", 0, "wages", 2.5)
    flows = ledger.close_month()
    # 0 + 7 - 2.5 = 4.5 held; inflow 7 and outflow 2.5 explain it exactly.
    assert ledger.cash["labs"][0] == pytest.approx(4.5)
    assert flows == {"in_adopter_spending": 7.0, "out_wages": 2.5}
    assert ledger.last_relative_imbalance < 1e-15


def test_money_changed_outside_the_ledger_shows_as_an_imbalance():
    ledger = Ledger({"labs": 1})
    ledger.receive("subsidies", "labs", 0, 1.0)
    ledger.cash["labs"][0] += 0.5  # a bug elsewhere creating money
    ledger.close_month()
    assert ledger.last_imbalance == pytest.approx(0.5)


def test_ledger_rejects_bad_entries():
    ledger = Ledger({"labs": 2})
    with pytest.raises(ValueError, match="non-negative"):
        ledger.transfer("labs", 0, "labs", 1, -1.0, "rent")
    with pytest.raises(ValueError, match="non-negative"):
        ledger.receive("subsidies", "labs", 0, float("nan"))
    with pytest.raises(ValueError, match="unknown boundary"):
        ledger.receive("printing_press", "labs", 0, 1.0)
    with pytest.raises(ValueError, match="net to zero"):
        ledger.settle([("labs", np.array([0]), np.array([1.0]))], "trades")


# ---- government ---------------------------------------------------------------------------


def _model_in_crisis(response: str) -> SurgeModel:
    model = SurgeModel(rng=1, crisis_response=response, **SMALL)
    model.step()
    # Two years of sector value at 100, then 55: a 45% drawdown, beyond the 40% trigger.
    model.government.value_history = [100.0] * 23
    model.capital_market.price[:] *= 55.0 / model.capital_market.market_cap.sum()
    model.government.step()
    return model


def test_regulation_reins_in_chartists_after_a_crash():
    model = _model_in_crisis("regulate")
    assert model.government.responded
    # 2.2 * 0.4 = 0.88: chartists extrapolate trends less than half as hard.
    expected = (
        model.params.investors.chartist_trend_gain
        * model.params.government.regulation_trend_gain_factor
    )
    assert model.chartist_trend_gain == pytest.approx(expected)


def test_rate_cut_after_a_crash():
    model = _model_in_crisis("cut_rates")
    # 0.03 - 0.02 = 0.01 a year.
    expected = model.params.investors.safe_rate_per_yr - model.params.government.rate_cut_per_yr
    assert model.safe_rate == pytest.approx(expected)


def test_bail_out_replaces_a_default_with_public_money():
    model = _model_in_crisis("bail_out")
    lab = model.labs[0]
    before = len(model.capital_market.defaults)
    model.ledger.pay_out("labs", lab.index, "wages", lab.cash + 2.0)  # USD 2 bn short
    model.resolve_defaults()
    assert lab.alive and lab.cash == pytest.approx(0.0, abs=1e-9)
    assert len(model.capital_market.defaults) == before
    assert model.government.bailouts_usd_bn == pytest.approx(2.0)


def test_no_response_without_a_crash():
    model = SurgeModel(rng=1, **SMALL)
    for _ in range(12):
        model.step()
    trigger = model.params.government.crisis_trigger_drawdown  # 0.4: a 40% fall
    # From a 24-month high of 100: 100 * (1 - 0.4) = 60 is the threshold.
    model.government.value_history = [100.0] * 23 + [100.0 * (1 - trigger) + 1.0]
    assert not model.government.crisis()
    model.government.value_history[-1] = 100.0 * (1 - trigger) - 1.0
    assert model.government.crisis()


# ---- networks -----------------------------------------------------------------------------


def test_compute_graph_carries_this_months_contracts():
    model = SurgeModel(rng=2, months=36, **SMALL)
    model.run()
    graph = model.compute_market.graph
    for lab in model.labs:
        served = sum(d["gpu_hours"] for _, target, d in graph.in_edges(lab.name, data=True))
        assert served <= lab.training_hours_served + lab.inference_hours_served + 1e-6
    rents = {h.name: h.rent for h in model.hyperscalers}
    for source, _, data in graph.edges(data=True):
        assert data["usd_per_gpu_hour"] == pytest.approx(rents[source])


def test_social_graphs_are_connected_small_worlds():
    model = SurgeModel(rng=3, **SMALL)
    graph = model.adopter_graph
    assert nx.is_connected(graph)
    mean_degree = 2 * graph.number_of_edges() / graph.number_of_nodes()
    assert mean_degree == pytest.approx(model.params.adopters.social_degree)
    assert nx.is_connected(model.investor_graph)


@pytest.mark.parametrize(("n", "degree", "rewiring"), [(2000, 8, 0.1), (300, 6, 0.5), (40, 4, 1.0)])
def test_small_world_is_the_graph_networkx_draws_from_the_same_seed(n, degree, rewiring):
    matrix = small_world(n, degree, rewiring, np.random.default_rng(n))
    seed = int(np.random.default_rng(n).integers(0, 2**31 - 1))  # the child seed it draws
    expected = adjacency(nx.connected_watts_strogatz_graph(n, degree, rewiring, seed=seed))
    assert (matrix != expected).nnz == 0
    assert matrix.has_sorted_indices


def test_snapshot_exports_compute_and_capital_layers(tmp_path):
    model = SurgeModel(rng=4, months=48, **SMALL)
    model.run()
    graph = snapshot(model)
    layers = {d["layer"] for _, _, d in graph.edges(data=True)}
    assert {"compute", "equity"} <= layers
    # Equity edges into a firm add up to its market value.
    for firm in model.firms:
        held = sum(
            d["value_usd_bn"]
            for _, _, d in graph.in_edges(firm.name, data=True)
            if d["layer"] == "equity"
        )
        assert held == pytest.approx(model.capital_market.market_cap[firm.firm], rel=1e-9)
    path = export_graphml(model, tmp_path / "net" / "snapshot.graphml")
    again = nx.read_graphml(path)
    assert again.number_of_nodes() == graph.number_of_nodes()
    assert again.number_of_edges() == graph.number_of_edges()

"""The compute market: labs and other cloud customers rent accelerator-hours from hyperscalers.

Labs rent mostly from the hyperscalers they hold contracts with (edges of the compute
graph); what a contracted hyperscaler cannot serve spills to the others. When capacity is
short every request is cut in the same proportion. Every hour sold is bought.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from sim.ledger import ALL
from sim.rules.markets import allocate_with_spillover
from sim.technology import HOURS_PER_MONTH


class ComputeMarket:
    def __init__(self, model, graph: nx.DiGraph):
        self.model = model
        self._graph = graph  # hyperscaler -> lab contract edges
        n_labs, n_hyp = len(model.labs), len(model.hyperscalers)
        # Each lab splits its requests over its contracts by their shares. Hyperscalers never
        # leave the market (a failing one is restructured, SurgeModel.fail), so the split
        # is fixed.
        contract_share = np.zeros((n_labs, n_hyp))
        self.edges = []  # each edge's attributes with its (lab, hyperscaler) cell
        for h, lab, data in graph.edges(data=True):
            i, k = model.node_index[lab], model.node_index[h]
            contract_share[i, k] = data["share"]
            self.edges.append((data, i, k))
        self.request_share = contract_share / contract_share.sum(axis=1, keepdims=True)
        self.asked = np.zeros(n_hyp)  # hours asked of each hyperscaler last month
        self.served = np.zeros((n_labs, n_hyp))  # hours each lab was served by each, last month
        self.hours_sold = 0.0
        self.hours_bought = 0.0
        self.legacy_hours = 0.0
        self.rents = np.zeros(n_hyp)
        self.quotes: list[float] = []
        self.post_rents()

    def post_rents(self) -> None:
        """Take the rents hyperscalers ask this month; each lab expects to pay its contracts'
        rents, weighted by their shares."""
        self.rents = np.array([h.rent for h in self.model.hyperscalers])
        self.quotes = (self.request_share @ self.rents).tolist()

    def expected_rent(self, lab: int) -> float:
        return self.quotes[lab]

    def asked_hours(self, hyperscaler: int) -> float:
        return float(self.asked[hyperscaler])

    @property
    def graph(self) -> nx.DiGraph:
        """The contracts, each edge with last month's hours served and rent (written on
        each reading: the model itself uses only the arrays)."""
        served, rents = self.served.tolist(), self.rents.tolist()
        for data, i, k in self.edges:
            data["gpu_hours"] = served[i][k]
            data["usd_per_gpu_hour"] = rents[k]
        return self._graph

    def clear(self) -> None:
        """Serve every request pro rata to capacity, spill the rest, and pay the rents."""
        labs, hyps = self.model.labs, self.model.hyperscalers
        capacity = np.array([h.online_units_mn for h in hyps]) * (1e6 * HOURS_PER_MONTH)
        cap_share = capacity / max(capacity.sum(), 1e-300)
        self.legacy_hours = self.model.legacy_hours_per_month()
        inference = np.array([lab.inference_hours_wanted * lab.alive for lab in labs])
        training = np.array([lab.training_hours_wanted * lab.alive for lab in labs])
        requests = np.concatenate(
            (
                inference[:, None] * self.request_share,
                training[:, None] * self.request_share,
                self.legacy_hours * cap_share[None, :],
            )
        )
        served = allocate_with_spillover(requests, capacity)
        self.asked = requests.sum(axis=0)
        n = len(labs)
        served_inference, served_training = served[:n], served[n : 2 * n]
        self.served = served_inference + served_training
        self._pay(served_inference, served_training, served[-1])
        sold = served.sum(axis=0)
        utilisation = np.divide(sold, capacity, out=np.zeros_like(sold), where=capacity > 0)
        for h, hours, used in zip(hyps, sold.tolist(), utilisation.tolist(), strict=True):
            h.hours_sold = hours
            h.utilisation = used
        self.hours_sold = float(sold.sum())
        self.hours_bought = float(served.sum())

    def _pay(self, inference: np.ndarray, training: np.ndarray, legacy: np.ndarray) -> None:
        """Labs pay their rents (the state pays its subsidy share); cloud customers theirs."""
        model, ledger, rents = self.model, self.model.ledger, self.rents
        bills = self.served * rents / 1e9  # USD bn, lab by hyperscaler
        for lab, inference_hours, training_hours, bill in zip(
            model.labs,
            inference.sum(axis=1).tolist(),
            training.sum(axis=1).tolist(),
            bills.sum(axis=1).tolist(),
            strict=True,
        ):
            lab.inference_hours_served = inference_hours
            lab.training_hours_served = training_hours
            lab.compute_bill_usd_bn = bill
        subsidy_share = model.params.government.compute_subsidy_share
        if subsidy_share > 0:
            subsidies = subsidy_share * (training @ rents) / 1e9
            ledger.receive("subsidies", "labs", ALL, subsidies)
            model.government.compute_subsidies_usd_bn += float(subsidies.sum())
        ledger.transfer_rows("labs", "hyperscalers", bills, "rent")
        legacy_revenue = legacy * rents / 1e9
        ledger.receive("cloud_customers", "hyperscalers", ALL, legacy_revenue)
        revenue = legacy_revenue + bills.sum(axis=0)
        for h, usd_bn in zip(model.hyperscalers, revenue.tolist(), strict=True):
            h.revenue_usd_bn = usd_bn

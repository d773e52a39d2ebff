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
        self.graph = graph  # hyperscaler -> lab contract edges, updated every month
        n_labs, n_hyp = len(model.labs), len(model.hyperscalers)
        self.contract_share = np.zeros((n_labs, n_hyp))
        for h, lab, data in graph.edges(data=True):
            self.contract_share[model.node_index[lab], model.node_index[h]] = data["share"]
        self.asked = np.zeros(n_hyp)  # hours asked of each hyperscaler last month
        self.hours_sold = 0.0
        self.hours_bought = 0.0
        self.legacy_hours = 0.0

    def rents(self) -> np.ndarray:
        return np.array([h.rent for h in self.model.hyperscalers])

    def expected_rent(self, lab: int) -> float:
        """What a lab expects to pay per hour: its contracts' rents, weighted by share."""
        share = self.contract_share[lab] * self.alive_mask()
        if share.sum() == 0:
            return float(self.rents()[self.alive_mask()].mean())
        return float(share @ self.rents() / share.sum())

    def alive_mask(self) -> np.ndarray:
        return np.array([h.alive for h in self.model.hyperscalers])

    def asked_hours(self, hyperscaler: int) -> float:
        return float(self.asked[hyperscaler])

    def clear(self) -> None:
        """Serve every request pro rata to capacity, spill the rest, and pay the rents."""
        labs, hyps = self.model.labs, self.model.hyperscalers
        alive = self.alive_mask()
        capacity = np.array([h.online_units_mn for h in hyps]) * 1e6 * HOURS_PER_MONTH * alive
        shares = self.contract_share * alive[None, :]
        shares = shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-300)
        cap_share = capacity / max(capacity.sum(), 1e-300)
        rents = self.rents()

        self.legacy_hours = self.model.legacy_hours_per_month()
        inference = np.array([lab.inference_hours_wanted * lab.alive for lab in labs])
        training = np.array([lab.training_hours_wanted * lab.alive for lab in labs])
        requests = np.vstack(
            [
                inference[:, None] * shares,
                training[:, None] * shares,
                self.legacy_hours * cap_share[None, :],
            ]
        )
        served = allocate_with_spillover(requests, capacity)
        self.asked = requests.sum(axis=0)
        n = len(labs)
        served_first = np.vstack([served[:n], served[2 * n :]])
        served_training = served[n : 2 * n]

        self._pay(served_first[:-1], served_training, served_first[-1], rents)
        sold = served_first.sum(axis=0) + served_training.sum(axis=0)
        for k, h in enumerate(hyps):
            h.hours_sold = float(sold[k])
            h.utilisation = float(sold[k] / capacity[k]) if capacity[k] > 0 else 0.0
        self.hours_sold = float(sold.sum())
        self.hours_bought = float(served_first.sum() + served_training.sum())
        self._update_graph(served_first[:-1] + served_training, rents)

    def _pay(self, inference, training, legacy, rents) -> None:
        """Labs pay their rents (the state pays its subsidy share); cloud customers theirs."""
        model, ledger = self.model, self.model.ledger
        subsidy_share = model.params.government.compute_subsidy_share
        for lab in model.labs:
            lab.inference_hours_served = float(inference[lab.index].sum())
            lab.training_hours_served = float(training[lab.index].sum())
            bills = (inference[lab.index] + training[lab.index]) * rents / 1e9
            bill = float(bills.sum())
            lab.compute_bill_usd_bn = bill
            if bill <= 0:
                continue
            subsidy = subsidy_share * float(training[lab.index] @ rents) / 1e9
            ledger.receive("subsidies", "labs", lab.index, subsidy)
            model.government.compute_subsidies_usd_bn += subsidy
            ledger.transfer("labs", lab.index, "hyperscalers", ALL, bills, "rent")
        revenue = legacy * rents / 1e9
        ledger.receive("cloud_customers", "hyperscalers", ALL, revenue)
        for k, h in enumerate(model.hyperscalers):
            h.revenue_usd_bn = (
                float(revenue[k])
                + float((inference[:, k] + training[:, k]) @ np.full(len(model.labs), rents[k]))
                / 1e9
            )

    def _update_graph(self, served: np.ndarray, rents: np.ndarray) -> None:
        for h, lab, data in self.graph.edges(data=True):
            k, i = self.model.node_index[h], self.model.node_index[lab]
            data["gpu_hours"] = float(served[i, k])
            data["usd_per_gpu_hour"] = float(rents[k])

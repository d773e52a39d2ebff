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
        # each edge's attributes with its (lab, hyperscaler) cell, for the monthly update
        self.edges = []
        for h, lab, data in graph.edges(data=True):
            i, k = model.node_index[lab], model.node_index[h]
            self.contract_share[i, k] = data["share"]
            self.edges.append((data, i, k))
        self.asked = np.zeros(n_hyp)  # hours asked of each hyperscaler last month
        self.hours_sold = 0.0
        self.hours_bought = 0.0
        self.legacy_hours = 0.0
        self.quoted_at: tuple[list, list] | None = None  # (rents, alive) when last quoted
        self.quotes: list[float] = []

    def rents(self) -> np.ndarray:
        return np.array([h.rent for h in self.model.hyperscalers])

    def expected_rent(self, lab: int) -> float:
        """What a lab expects to pay per hour: its contracts' rents, weighted by share.

        Every lab asks twice a month, before and after hyperscalers reprice, so the
        quotes for all labs are worked out once for each set of rents."""
        hyps = self.model.hyperscalers
        state = ([h.rent for h in hyps], [h.alive for h in hyps])
        if state != self.quoted_at:
            self.quoted_at = state
            self.quotes = self.quote(np.array(state[0]), np.array(state[1]))
        return self.quotes[lab]

    def quote(self, rents: np.ndarray, alive: np.ndarray) -> list[float]:
        shares = self.contract_share * alive
        quotes = []
        for share, total in zip(shares, shares.sum(axis=1).tolist(), strict=True):
            if total == 0:
                quotes.append(float(rents[alive].mean()))
            else:
                quotes.append(float(share @ rents / total))
        return quotes

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
        requests = np.concatenate(
            (
                inference[:, None] * shares,
                training[:, None] * shares,
                self.legacy_hours * cap_share[None, :],
            )
        )
        served = allocate_with_spillover(requests, capacity)
        self.asked = requests.sum(axis=0)
        n = len(labs)
        served_first = np.concatenate((served[:n], served[2 * n :]))
        served_training = served[n : 2 * n]

        self._pay(served_first[:-1], served_training, served_first[-1], rents)
        sold = served_first.sum(axis=0) + served_training.sum(axis=0)
        utilisation = np.divide(sold, capacity, out=np.zeros_like(sold), where=capacity > 0)
        for h, hours, used in zip(hyps, sold.tolist(), utilisation.tolist(), strict=True):
            h.hours_sold = hours
            h.utilisation = used
        self.hours_sold = float(sold.sum())
        self.hours_bought = float(served_first.sum() + served_training.sum())
        self._update_graph(served_first[:-1] + served_training, rents)

    def _pay(self, inference, training, legacy, rents) -> None:
        """Labs pay their rents (the state pays its subsidy share); cloud customers theirs."""
        model, ledger = self.model, self.model.ledger
        subsidy_share = model.params.government.compute_subsidy_share
        lab_hours = inference + training
        bills = lab_hours * rents / 1e9
        rows = zip(
            inference.sum(axis=1).tolist(),
            training.sum(axis=1).tolist(),
            bills.sum(axis=1).tolist(),
            strict=True,
        )
        for lab, (inference_hours, training_hours, bill) in zip(model.labs, rows, strict=True):
            lab.inference_hours_served = inference_hours
            lab.training_hours_served = training_hours
            lab.compute_bill_usd_bn = bill
            if bill <= 0:
                continue
            subsidy = subsidy_share * float(training[lab.index] @ rents) / 1e9
            ledger.receive("subsidies", "labs", lab.index, subsidy)
            model.government.compute_subsidies_usd_bn += subsidy
        # every lab pays its bill (a lab with none pays a row of zeros, which changes nothing)
        ledger.transfer_rows("labs", "hyperscalers", bills, "rent")
        revenue = legacy * rents / 1e9
        ledger.receive("cloud_customers", "hyperscalers", ALL, revenue)
        n_labs = len(model.labs)
        # contiguous rows: a dot product over a strided column may add in another order
        by_hyperscaler = np.ascontiguousarray(lab_hours.T)
        for k, h in enumerate(model.hyperscalers):
            h.revenue_usd_bn = (
                float(revenue[k]) + float(by_hyperscaler[k] @ np.full(n_labs, rents[k])) / 1e9
            )

    def _update_graph(self, served: np.ndarray, rents: np.ndarray) -> None:
        served, rents = served.tolist(), rents.tolist()
        for data, i, k in self.edges:
            data["gpu_hours"] = served[i][k]
            data["usd_per_gpu_hour"] = rents[k]

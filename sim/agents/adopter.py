"""Adopters: firms (sector segments) that use AI for tasks when it is able, cheap and known.

Thousands of adopters follow the same rules, so their state lives in arrays held by an
AdopterPool that steps them all at once; each Adopter is a thin mesa.Agent view onto its
row, so Mesa's AgentSet tools (select, get, agg) still work on them.
"""

from __future__ import annotations

import mesa
import numpy as np
import scipy.sparse as sp

from sim.rules.adoption import (
    NO_PROVIDER,
    bass_adoption_probability,
    choose_provider,
    feasible_providers,
)


class Adopter(mesa.Agent):
    """One adopter's view of the pool's arrays."""

    def __init__(self, model, pool: AdopterPool, row: int):
        super().__init__(model)
        self.pool, self.row = pool, row

    @property
    def adopted(self) -> bool:
        return bool(self.pool.adopted[self.row])

    @property
    def provider(self) -> int:
        return int(self.pool.provider[self.row])

    @property
    def sector(self) -> int:
        return int(self.pool.sector[self.row])

    @property
    def required_capability(self) -> float:
        return float(self.pool.required_capability[self.row])

    @property
    def productivity_gain_usd_per_month(self) -> float:
        return float(self.pool.gain_usd_per_month[self.row])


class AdopterPool:
    def __init__(self, model, social_adjacency: sp.csr_matrix):
        ap = model.params.adopters
        n = model.params.run.n_adopters
        rng = model.rng
        self.model = model
        self.sector = rng.integers(0, ap.n_sectors, n)
        sector_shift = rng.normal(0.0, 8.0, ap.n_sectors)[self.sector]
        agentic = rng.random(n) < ap.agentic_share
        # agentic tasks need more capability than chat tasks; sectors differ in difficulty
        difficulty = np.where(agentic, 10.0, -10.0) + sector_shift
        self.required_capability = np.clip(
            rng.normal(ap.required_capability_mean + difficulty, ap.required_capability_sd),
            1.0,
            99.5,
        )
        self.tokens_per_task = np.where(
            agentic, ap.agentic_tokens_per_task, ap.chat_tokens_per_task
        ) * rng.lognormal(0.0, 0.5, n)
        self.value_per_task = ap.value_per_task_usd_median * rng.lognormal(
            0.0, ap.value_per_task_sigma, n
        )
        size = rng.lognormal(0.0, 1.0, n)
        monthly_value = ap.addressable_value_usd_bn_per_yr * 1e9 / 12.0 * size / size.sum()
        self.tasks_per_month = monthly_value / self.value_per_task
        self.monthly_tokens = self.tasks_per_month * self.tokens_per_task  # base tokens
        self.budget_per_month = ap.budget_share_of_value * monthly_value
        self.adopted = np.zeros(n, dtype=bool)
        self.provider = np.full(n, NO_PROVIDER)  # NO_PROVIDER exactly while not adopted
        self.gain_usd_per_month = np.zeros(n)
        self.spend_usd_per_month = np.zeros(n)
        self.neighbours = NeighbourShares(social_adjacency)
        self.agents = [Adopter(model, self, row) for row in range(n)]

    def step(self) -> None:
        """A month for every adopter at once."""
        capability, price = self.model.offers()
        usage = self.token_usage(price)
        price = price * usage  # USD per base token: what a task costs with this provider
        self.grow_task_values()
        feasible = self.assess_providers(capability, price)
        self.report_addressable_market(feasible, price)
        self.drop_or_switch(feasible, capability, price)
        self.review_providers(feasible, capability, price)
        self.adopt(feasible, capability, price)
        self.order_tokens(price, usage)

    def token_usage(self, price_usd_per_token: np.ndarray) -> np.ndarray:
        """Tokens a task uses per base token, by provider: cheaper tokens buy longer reasoning.

        (p_ref / p)^epsilon, the rebound (Jevons) effect of cheaper compute."""
        ap = self.model.params.adopters
        reference = ap.reference_price_usd_per_mtok / 1e6
        return (reference / np.maximum(price_usd_per_token, 1e-18)) ** ap.token_demand_elasticity

    def grow_task_values(self) -> None:
        factor = (1.0 + self.model.params.adopters.value_growth_per_yr) ** (1.0 / 12.0)
        self.value_per_task *= factor
        self.budget_per_month *= factor

    def assess_providers(self, capability: np.ndarray, price: np.ndarray) -> np.ndarray:
        ap = self.model.params.adopters
        return feasible_providers(
            self.required_capability,
            self.value_per_task,
            self.tokens_per_task,
            self.budget_per_month,
            self.tasks_per_month,
            capability,
            price,
            ap.required_return_multiple,
        )

    def report_addressable_market(self, feasible: np.ndarray, price: np.ndarray) -> None:
        """Token spending each lab's model could win: the market analysts size for investors."""
        tokens = feasible @ self.monthly_tokens
        self.model.set_addressable_markets(tokens * price * 12.0 / 1e9)

    def _choose(self, rows, feasible, capability, price) -> np.ndarray:
        good_enough = self.model.params.adopters.preference == "good_enough"
        return choose_provider(feasible[:, rows], capability, price, good_enough)

    def drop_or_switch(self, feasible, capability, price) -> None:
        """An adopter whose provider no longer does the job at a return moves or quits (churn)."""
        rows = np.flatnonzero(self.adopted)
        still_ok = feasible[self.provider[rows], rows]
        lost = rows[~still_ok]
        if lost.size:
            choice = self._choose(lost, feasible, capability, price)
            self.provider[lost] = choice
            self.adopted[lost] = choice != NO_PROVIDER

    def review_providers(self, feasible, capability, price) -> None:
        rate = self.model.params.adopters.provider_review_per_yr / 12.0
        rows = np.flatnonzero(self.adopted & (self.model.rng.random(self.adopted.size) < rate))
        if rows.size:
            self.provider[rows] = self._choose(rows, feasible, capability, price)

    def adopt(self, feasible, capability, price) -> None:
        """Ready non-adopters adopt with Bass timing: innovation plus imitation of neighbours.

        Every adopter draws, as ever, but only the ready ones' chances are worked out: in
        most months they are a few hundred of the thousands."""
        ap = self.model.params.adopters
        ready = np.flatnonzero(~self.adopted & feasible.any(axis=0))
        neighbours = self.neighbours.share(self.adopted, ready)
        chance = bass_adoption_probability(
            neighbours, ap.bass_innovation_per_yr, ap.bass_imitation_per_yr
        )
        rows = ready[self.model.rng.random(self.adopted.size)[ready] < chance]
        if rows.size:
            self.provider[rows] = self._choose(rows, feasible, capability, price)
            self.adopted[rows] = True

    def order_tokens(self, price: np.ndarray, usage: np.ndarray) -> None:
        """Each lab's token orders; each adopter's saved labour cost net of its token bill.

        Worked out for every adopter at once. A non-adopter's provider is NO_PROVIDER (-1):
        one place up it finds the zero put before the labs' prices, and spends nothing; in
        the count by lab its base tokens fall in a bin of their own."""
        slot = self.provider + 1
        base_tokens = np.bincount(slot, self.monthly_tokens, price.size + 1)[1:]
        self.model.set_token_orders(base_tokens * usage)
        self.spend_usd_per_month = self.monthly_tokens * np.concatenate(([0.0], price))[slot]
        self.gain_usd_per_month = np.where(
            self.adopted, self.tasks_per_month * self.value_per_task - self.spend_usd_per_month, 0.0
        )

    # ---- views for data collection ----------------------------------------------------
    def adoption_share(self) -> float:
        return np.count_nonzero(self.adopted) / self.adopted.size  # the mean, counted

    def productivity_gain_usd_bn_per_yr(self) -> float:
        return float(self.gain_usd_per_month.sum()) * 12.0 / 1e9


class NeighbourShares:
    """The share of each adopter's neighbours that have adopted, kept up to date cheaply.

    Each adopter's count of adopted neighbours changes only as its few neighbours adopt or
    quit, so the counts are updated from those changes rather than taken afresh over the
    whole graph each month. A count k of d neighbours maps to the share as the product with
    the row-normalised adjacency matrix forms it, 1/d added k times in turn, to the last bit.
    """

    def __init__(self, adjacency: sp.csr_matrix):
        adjacency = sp.csr_array(adjacency)  # its entries are ones: who talks to whom
        n = adjacency.shape[0]
        degree = np.diff(adjacency.indptr)
        # each adopter's neighbours in a row, padded with n: a spare count no one reads
        self.padded = np.full((n, max(int(degree.max(initial=0)), 1)), n)
        self.padded[np.repeat(np.arange(n), degree), _ranks_within(degree)] = adjacency.indices
        self.counts = np.zeros(n + 1, dtype=np.int64)
        self.counted = np.zeros(n, dtype=bool)  # the adoption the counts reflect
        # shares[start[a] + k]: adopter a's share with k neighbours adopted
        degrees = np.unique(degree)
        tables = [
            np.concatenate(([0.0], np.cumsum(np.full(d, 1.0 / max(d, 1.0)))))
            for d in degrees.tolist()
        ]
        offsets = np.cumsum([0] + [table.size for table in tables])
        self.start = offsets[np.searchsorted(degrees, degree)]
        self.shares = np.concatenate(tables)

    def share(self, adopted: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The adopted share of neighbours of the adopters in rows, given who has adopted."""
        changed = np.flatnonzero(adopted != self.counted)
        if changed.size:
            now_adopted = adopted[changed]
            bins = self.counts.size
            self.counts += np.bincount(self.padded[changed[now_adopted]].ravel(), minlength=bins)
            quit_rows = changed[~now_adopted]
            if quit_rows.size:
                self.counts -= np.bincount(self.padded[quit_rows].ravel(), minlength=bins)
            self.counted[changed] = now_adopted
        return self.shares[self.start[rows] + self.counts[rows]]


def _ranks_within(sizes: np.ndarray) -> np.ndarray:
    """0, 1, ..., size - 1 for each size in turn, concatenated."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if ends.size else 0) - np.repeat(ends - sizes, sizes)

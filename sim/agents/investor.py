"""Investors: fundamentalists and trend-followers who switch rules and herd, and so set prices.

Each investor holds cash (the safe asset), shares of every listed firm and debt claims.
Like adopters, their state lives in arrays in an InvestorPool; each Investor is a thin
mesa.Agent view onto one row.
"""

from __future__ import annotations

import mesa
import numpy as np
import scipy.sparse as sp

from sim.ledger import ALL
from sim.rules.finance import (
    cap_weights,
    chartist_weights,
    fundamentalist_weights,
    switching_probabilities,
)
from sim.rules.markets import clear_equity_market


class Investor(mesa.Agent):
    def __init__(self, model, pool: InvestorPool, row: int):
        super().__init__(model)
        self.pool, self.row = pool, row

    @property
    def chartist(self) -> bool:
        return bool(self.pool.chartist[self.row])

    @property
    def wealth_usd_bn(self) -> float:
        return float(self.pool.wealth()[self.row])


class InvestorPool:
    def __init__(self, model, investor_adjacency: sp.csr_matrix):
        ip = model.params.investors
        n = model.params.run.n_investors
        self.model = model
        self.chartist = model.rng.random(n) < ip.chartist_share_start
        weights = model.rng.lognormal(0.0, ip.wealth_sigma, n)
        self.initial_share = weights / weights.sum()
        degree = np.asarray(investor_adjacency.sum(axis=1)).ravel()
        self.neighbour_mean = sp.diags(1.0 / np.maximum(degree, 1.0)) @ investor_adjacency
        n_firms = len(model.firms)
        self.trend = np.zeros(n_firms)  # EWMA of monthly log price change
        self.performance = np.zeros(2)  # EWMA of monthly fitness: [fundamentalist, chartist]
        self.last_value = np.ones(n_firms)  # price plus dividends last month, per share
        self.fundamental_cap = np.ones(n_firms)
        self.equity_caps = np.full(2, ip.max_equity_share)  # of each rule's portfolio
        self.agents = [Investor(model, self, row) for row in range(n)]

    def step(self) -> None:
        """A month of the equity market: income, value, trade, learn, switch."""
        self.receive_income()
        self.value_firms()
        self.trade(self.choose_weights())
        self.score_rules()
        self.switch_rules()

    def receive_income(self) -> None:
        """Interest on the safe asset and new savings arrive from outside the sector."""
        ip = self.model.params.investors
        cash = self.model.ledger.cash["investors"]
        interest = np.maximum(cash, 0.0) * self.model.safe_rate / 12.0
        savings = self.wealth() * ip.savings_inflow_per_yr / 12.0
        self.model.ledger.receive("safe_asset_interest", "investors", ALL, interest)
        self.model.ledger.receive("savings_inflow", "investors", ALL, np.maximum(savings, 0.0))

    def value_firms(self) -> None:
        self.fundamental_cap = np.array([f.fundamental_value() for f in self.model.firms])

    def score_rules(self) -> None:
        """Fitness of each rule, as Lux and Marchesi (1999) compare them.

        Chartists look at what the sector just returned over a normal return (the rate
        fundamentalists discount at); fundamentalists at the profit mispricing promises as
        prices return to fundamentals over the reversion horizon, whichever way prices are
        wrong."""
        ip = self.model.params.investors
        market = self.model.capital_market
        listed = self.last_value > 0
        before = float((self.last_value * market.shares)[listed].sum())
        after = float(((market.price + market.dividends_per_share) * market.shares)[listed].sum())
        sector_return = after / before - 1.0 if before > 0 else 0.0
        chartist = sector_return - ip.discount_rate_per_yr / 12.0
        value, fundamental = float(market.market_cap.sum()), float(self.fundamental_cap.sum())
        fundamentalist = abs(np.log(fundamental / value)) / ip.reversion_horizon_months
        fitness = np.array([fundamentalist, chartist])
        self.performance += (fitness - self.performance) / ip.performance_memory_months
        self.last_value = market.price.copy()
        market.dividends_per_share[:] = 0.0

    def switch_rules(self) -> None:
        ip = self.model.params.investors
        neighbours = self.neighbour_mean @ self.chartist.astype(float)
        prob = switching_probabilities(
            self.chartist,
            neighbours,
            self.performance[1] - self.performance[0],
            ip.switching_rate_per_yr / 12.0,
            ip.switching_intensity,
            ip.herding_strength,
            ip.chartist_predisposition,
        )
        flip = self.model.rng.random(self.chartist.size) < prob
        self.chartist = self.chartist ^ flip

    def choose_weights(self) -> np.ndarray:
        """Each investor's desired share of wealth in each firm, by its current rule.

        All investors following a rule want the same portfolio under the same cap, so the two
        portfolios are capped once and each investor is given its rule's row."""
        ip = self.model.params.investors
        market = self.model.capital_market
        total = float(self.liquid_wealth().sum())
        cap = np.where(market.listed, market.market_cap, 1.0)
        fund = fundamentalist_weights(self.fundamental_cap, cap, total, ip.fundamentalist_reversion)
        chart = chartist_weights(
            cap, self.trend, total, self.model.chartist_trend_gain, ip.trend_saturation_per_month
        )
        by_rule = cap_weights(np.stack((fund, chart)) * market.listed, self.equity_caps)
        return by_rule.take(self.chartist.astype(np.intp), axis=0)

    def trade(self, weights: np.ndarray) -> None:
        """Clear the market with any new shares firms issue; settle trades in cash."""
        market, ledger = self.model.capital_market, self.model.ledger
        listed = np.flatnonzero(market.listed)
        cash = ledger.cash["investors"]
        held, weights = market.holdings.take(listed, axis=1), weights.take(listed, axis=1)
        supply = market.shares[listed] + market.pending_issue[listed]
        old_price = market.price.copy()
        # floored only to keep a firm nobody wants from dividing by zero: a tiny price is a price
        prices = np.maximum(clear_equity_market(weights, cash, held, supply), np.finfo(float).tiny)
        wealth = cash + held @ prices
        new_holdings = weights * (wealth[:, None] / prices)
        bought = (new_holdings - held) @ prices
        proceeds = (market.pending_issue[listed] * prices).tolist()
        changes = [("investors", ALL, -bought)]
        for firm, amount in zip(listed.tolist(), proceeds, strict=True):
            group, idx = market.firm_groups[firm]
            changes.append((group, idx, amount))
        ledger.settle(changes, "equity trades")
        market.holdings[:, listed] = new_holdings
        market.shares[listed] = supply
        market.price[listed] = prices
        market.pending_issue[:] = 0.0
        self.record_trend(old_price)

    def record_trend(self, old_price: np.ndarray) -> None:
        market = self.model.capital_market
        ok = market.listed & (old_price > 0)
        change = np.zeros_like(self.trend)
        change[ok] = np.log(market.price[ok] / old_price[ok])
        memory = self.model.params.investors.trend_memory_months
        self.trend += (change - self.trend) / memory

    def liquid_wealth(self) -> np.ndarray:
        """Cash and shares at today's prices: what the weights are shares of in the clearing."""
        market = self.model.capital_market
        return self.model.ledger.cash["investors"] + market.holdings @ market.price

    def wealth(self) -> np.ndarray:
        market = self.model.capital_market
        return (
            self.model.ledger.cash["investors"]
            + market.holdings @ market.price
            + market.claims_by_investor()
        )

"""The capital market: shares and debt of every listed firm, who holds them, and defaults.

Firms (labs first, then hyperscalers) are columns; investors are rows. Holdings and debt
claims are conserved stocks: the column sums always equal shares outstanding and debt.
Cash moves only through the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.ledger import ALL, Ledger


@dataclass
class DefaultRecord:
    month: int
    firm: int
    debt_usd_bn: float
    loss_usd_bn: float


class CapitalMarket:
    def __init__(self, ledger: Ledger, n_investors: int, firm_groups: list[tuple[str, int]]):
        # firm_groups[i] = (ledger group, index in that group) of firm column i
        self.ledger = ledger
        self.firm_groups = firm_groups
        n_firms = len(firm_groups)
        self.shares = np.ones(n_firms)  # bn shares outstanding
        self.price = np.ones(n_firms)  # USD per share
        self.debt = np.zeros(n_firms)  # USD bn owed
        self.holdings = np.zeros((n_investors, n_firms))  # bn shares
        self.debt_claims = np.zeros((n_investors, n_firms))  # USD bn
        self.pending_issue = np.zeros(n_firms)  # bn new shares to sell at next clearing
        self.dividends_per_share = np.zeros(n_firms)  # USD paid since the last clearing
        self.listed = np.ones(n_firms, dtype=bool)
        self.defaults: list[DefaultRecord] = []
        self.default_losses_month = 0.0  # USD bn written off by lenders this month
        # Sums over investors or firms as products with a vector of ones: BLAS adds a few
        # thousand entries in microseconds, where numpy's reductions along an axis take ten.
        self.each_investor = np.ones(n_investors)
        self.each_firm = np.ones(n_firms)

    @property
    def market_cap(self) -> np.ndarray:
        return self.shares * self.price

    def firm_value(self, firm: int) -> float:
        """One firm's market capitalisation (USD bn), without pricing every firm."""
        return float(self.shares[firm] * self.price[firm])

    def _firm_cash(self, firm: int) -> float:
        group, idx = self.firm_groups[firm]
        return float(self.ledger.cash[group][idx])

    def list_firm(self, firm: int, value_usd_bn: float, owners_weight: np.ndarray) -> None:
        """Give investors the firm's initial shares in proportion to owners_weight."""
        self.shares[firm] = value_usd_bn  # price 1 USD per share at listing
        self.price[firm] = 1.0
        self.holdings[:, firm] = value_usd_bn * owners_weight / owners_weight.sum()

    def request_equity(self, firm: int, usd_bn: float, max_dilution: float) -> None:
        """Queue new shares worth usd_bn at today's price, at most max_dilution of the float."""
        if usd_bn <= 0 or not self.listed[firm]:
            return
        new = min(usd_bn / self.price[firm], max_dilution * self.shares[firm])
        self.pending_issue[firm] = max(self.pending_issue[firm], new)

    def claims_by_investor(self) -> np.ndarray:
        """USD bn each investor is owed by all firms."""
        return self.debt_claims @ self.each_firm

    def borrow(self, firm: int, usd_bn: float) -> None:
        """Investors lend pro rata to their cash (a bond issue placed with the market)."""
        if usd_bn <= 0:
            return
        cash = self.ledger.cash["investors"]
        usd_bn = min(usd_bn, 0.5 * float(cash.sum()))
        lenders = np.maximum(cash, 0.0)
        lent = lenders * (usd_bn / lenders.sum())
        group, idx = self.firm_groups[firm]
        self.ledger.transfer("investors", ALL, group, idx, lent, "loans")
        self.debt_claims[:, firm] += lent
        self.debt[firm] += usd_bn

    def repay(self, firm: int, usd_bn: float) -> None:
        usd_bn = min(usd_bn, self.debt[firm])
        if usd_bn <= 0:
            return
        group, idx = self.firm_groups[firm]
        repaid = self.debt_claims[:, firm] * (usd_bn / self.debt[firm])
        self.ledger.transfer(group, idx, "investors", ALL, repaid, "repayments")
        self.debt_claims[:, firm] -= repaid
        self.debt[firm] -= usd_bn

    def pay_interest(self, firm: int, rate_per_month: float) -> float:
        """Interest to debt holders pro rata; returns what was paid."""
        if self.debt[firm] <= 0:
            return 0.0
        group, idx = self.firm_groups[firm]
        amounts = self.debt_claims[:, firm] * rate_per_month
        self.ledger.transfer(group, idx, "investors", ALL, amounts, "interest")
        return float(self.debt[firm] * rate_per_month)

    def pay_dividend(self, firm: int, usd_bn: float) -> None:
        if usd_bn <= 0:
            return
        group, idx = self.firm_groups[firm]
        per_share = usd_bn / self.shares[firm]
        self.ledger.transfer(
            group, idx, "investors", ALL, self.holdings[:, firm] * per_share, "dividends"
        )
        self.dividends_per_share[firm] += per_share

    def default(self, firm: int, month: int, recovery_rate: float, assets_usd_bn: float) -> float:
        """A firm that cannot pay is liquidated; returns the book value it loses.

        Lenders first cover its overdraft (money really moves from them), then its assets
        are sold outside the sector for recovery_rate of book value; the proceeds repay
        lenders, who write off the rest; anything left goes to shareholders and the firm
        is delisted.
        """
        group, idx = self.firm_groups[firm]
        overdraft = max(0.0, -self._firm_cash(firm))
        if overdraft > 0:
            self.borrow(firm, overdraft)
        proceeds = recovery_rate * max(assets_usd_bn, 0.0)
        self.ledger.receive("asset_sales", group, idx, proceeds)
        owed = float(self.debt[firm])
        self.repay(firm, min(owed, self._firm_cash(firm)))
        loss = float(self.debt[firm])
        self.debt_claims[:, firm] = 0.0
        self.debt[firm] = 0.0
        self.default_losses_month += loss
        self.defaults.append(DefaultRecord(month, firm, owed, loss))
        self.pay_dividend(firm, self._firm_cash(firm))
        self.listed[firm] = False
        self.price[firm] = 0.0
        self.holdings[:, firm] = 0.0
        self.pending_issue[firm] = 0.0
        return max(assets_usd_bn, 0.0) - proceeds

    def reorganize(
        self,
        firm: int,
        month: int,
        recovery_rate: float,
        assets_usd_bn: float,
        debt_ceiling_usd_bn: float,
    ) -> None:
        """A firm that cannot pay is restructured and keeps operating (a Chapter 11).

        Lenders first cover its overdraft (money really moves from them); its debt is then
        cut to recovery_rate of its assets (and no more than the ceiling lenders would lend
        against afresh), and lenders swap the rest of their claims for
        all of its shares, pro rata to their claims. Old shareholders lose everything: the
        loss travels along the capital network from the firm to its owners and lenders.
        """
        overdraft = max(0.0, -self._firm_cash(firm))
        if overdraft > 0:
            self.borrow(firm, overdraft)
        owed = float(self.debt[firm])
        if owed <= 0:
            return
        stake = self.debt_claims[:, firm] / owed
        kept = min(owed, recovery_rate * max(assets_usd_bn, 0.0), debt_ceiling_usd_bn)
        self.debt_claims[:, firm] = kept * stake
        self.debt[firm] = kept
        self.default_losses_month += owed - kept
        self.defaults.append(DefaultRecord(month, firm, owed, owed - kept))
        self.holdings[:, firm] = self.shares[firm] * stake
        self.pending_issue[firm] = 0.0
        equity = max(assets_usd_bn - kept, 1e-3)
        self.price[firm] = equity / self.shares[firm]

    def check_stocks(self) -> float:
        """Largest relative gap between claims held and claims outstanding (should be ~0)."""
        outstanding = np.where(self.listed, self.shares, 0.0)
        share_gap = np.abs(self.each_investor @ self.holdings - outstanding).max()
        debt_gap = np.abs(self.each_investor @ self.debt_claims - self.debt).max()
        scale = max(1.0, float(self.shares.max()), float(self.debt.max()))
        return float(max(share_gap, debt_gap) / scale)

"""Double-entry books: every dollar leaves one account and enters another or a named boundary.

Agents never touch cash directly; they ask the ledger to move it. At month end the ledger
checks that the change in all balances equals what crossed the model's boundary, so any
code path that creates or destroys money shows up as an imbalance.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict

import numpy as np

BOUNDARIES = (
    "savings_inflow",  # new savings reaching investors
    "safe_asset_interest",  # return on the safe asset, paid from outside
    "adopter_spending",  # firms outside the AI sector paying for tokens
    "cloud_customers",  # non-AI cloud demand paying for capacity
    "energy",  # electricity bought from utilities
    "operations",  # data-centre staff and maintenance
    "equipment",  # accelerators and servers bought from vendors
    "construction",  # buildings and grid connections
    "wages",  # lab staff
    "expert_data",  # experts paid to write training data
    "taxes",  # corporate tax to the state
    "subsidies",  # state money: compute and adoption subsidies
    "bailouts",  # state money injected into failing firms
    "asset_sales",  # buyers outside the sector paying for a liquidated firm's assets
)


ALL = slice(None)  # index for every account in a group

# Checked on every posting, dozens a month: a set and tuples are quicker to test against
# than the tuple's order or a union type built at each call.
_KNOWN_BOUNDARIES = frozenset(BOUNDARIES)
_SCALAR = (float, int)
_INTEGER = (int, np.integer)


def _post(accounts: np.ndarray, idx, amounts, total: float, op) -> None:
    """Add (op = operator.iadd) or take (operator.isub) amounts at the accounts idx selects.

    One account (an integer index) takes the amounts' total at once; a slice selects each
    account once, so one vectorised update serves; an index array may name an account
    twice, so its entries are added one by one."""
    if isinstance(idx, _INTEGER):
        accounts[idx] = op(accounts[idx], total)
    elif isinstance(idx, slice):
        op(accounts[idx], amounts)  # in place, through the view
    else:
        amounts = np.asarray(amounts, dtype=float)
        np.add.at(accounts, idx, amounts if op is operator.iadd else -amounts)


class Ledger:
    """Cash accounts in groups (investors, labs, hyperscalers), one numpy array per group."""

    def __init__(self, groups: dict[str, int]):
        self.cash = {name: np.zeros(size) for name, size in groups.items()}
        self.inflows: dict[str, float] = defaultdict(float)  # this month, by boundary
        self.outflows: dict[str, float] = defaultdict(float)
        self.flows: dict[str, float] = defaultdict(float)  # internal transfers by purpose
        self._opening = self.total()
        self.last_imbalance = 0.0
        self.last_relative_imbalance = 0.0

    def open_books(self) -> None:
        """Take the opening balances (the endowment set before the first month) as given."""
        self._opening = self.total()

    def total(self) -> float:
        return float(sum(a.sum() for a in self.cash.values()))

    @staticmethod
    def _checked_total(amount) -> float:
        """The amount, or the sum of an array of amounts, once all are finite and non-negative."""
        if isinstance(amount, _SCALAR):
            ok, total = 0.0 <= amount < math.inf, amount  # False for NaN too
        else:
            values = np.asarray(amount)
            total = float(values.sum())
            # with no value negative or NaN, the total is finite only if every value is
            ok = values.size == 0 or bool(values.min() >= 0) and total < math.inf
        if not ok:
            raise ValueError(f"ledger amounts must be finite and non-negative, got {amount}")
        return total

    def transfer(self, src: str, src_idx, dst: str, dst_idx, amount, purpose: str) -> None:
        """Move amount from src[src_idx] to dst[dst_idx] (indices and amounts may be arrays).

        An index may be a slice (``ALL`` for every account in the group): each account it
        selects takes one entry. An integer index with an array of amounts takes their
        total."""
        total = self._checked_total(amount)
        _post(self.cash[src], src_idx, amount, total, operator.isub)
        _post(self.cash[dst], dst_idx, amount, total, operator.iadd)
        self.flows[purpose] += total

    def transfer_rows(self, src: str, dst: str, amounts: np.ndarray, purpose: str) -> None:
        """Account i of src pays amounts[i, k] to account k of dst, for every i and k (e.g.
        each lab's rent to every hyperscaler)."""
        total = self._checked_total(amounts)
        self.cash[src] -= amounts.sum(axis=1)
        self.cash[dst] += amounts.sum(axis=0)
        self.flows[purpose] += total

    def receive(self, boundary: str, dst: str, dst_idx, amount) -> None:
        """Money entering the model from a named boundary."""
        total = self._checked_total(amount)
        _post(self.cash[dst], dst_idx, amount, total, operator.iadd)
        self.inflows[self._boundary(boundary)] += total

    def pay_out(self, src: str, src_idx, boundary: str, amount) -> None:
        """Money leaving the model to a named boundary."""
        total = self._checked_total(amount)
        _post(self.cash[src], src_idx, amount, total, operator.isub)
        self.outflows[self._boundary(boundary)] += total

    def settle(self, changes: list[tuple[str, object, object]], purpose: str) -> None:
        """A multilateral settlement (e.g. a market's trades): signed changes that sum to zero.

        Each change is (group, index, delta): an array of deltas for an index array or slice,
        or one float for one account."""
        totals = [
            (delta, abs(delta))
            if isinstance(delta, float)
            else (float(np.sum(delta)), float(np.abs(delta).sum()))
            for _, _, delta in changes
        ]
        net = sum(change for change, _ in totals)
        gross = sum(size for _, size in totals)
        if abs(net) > 1e-9 * max(gross, 1.0):
            raise ValueError(f"settlement {purpose} does not net to zero: {net}")
        for (group, idx, delta), (change, _) in zip(changes, totals, strict=True):
            _post(self.cash[group], idx, delta, change, operator.iadd)
        self.flows[purpose] += 0.5 * gross

    @staticmethod
    def _boundary(name: str) -> str:
        if name not in _KNOWN_BOUNDARIES:
            raise ValueError(f"unknown boundary {name!r}; known: {', '.join(BOUNDARIES)}")
        return name

    def close_month(self) -> dict[str, float]:
        """Check the books and return the month's boundary flows; reset for the next month."""
        closing = self.total()
        crossed = sum(self.inflows.values()) - sum(self.outflows.values())
        self.last_imbalance = closing - self._opening - crossed
        scale = max(abs(closing), abs(self._opening), 1e-12)
        self.last_relative_imbalance = abs(self.last_imbalance) / scale
        month = {f"in_{k}": v for k, v in self.inflows.items()}
        month.update({f"out_{k}": v for k, v in self.outflows.items()})
        self.inflows.clear()
        self.outflows.clear()
        self.flows.clear()
        self._opening = closing
        return month

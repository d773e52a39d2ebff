"""Double-entry books: every dollar leaves one account and enters another or a named boundary.

Agents never touch cash directly; they ask the ledger to move it. At month end the ledger
checks that the change in all balances equals what crossed the model's boundary, so any
code path that creates or destroys money shows up as an imbalance.
"""

from __future__ import annotations

import math
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


def _post(accounts: np.ndarray, idx, amounts, op: np.ufunc) -> None:
    """``op.at(accounts, idx, amounts)``, with the result of that, bit for bit, but faster.

    A slice selects each account once, so one vectorised update gives the same sums; an
    integer index takes the amounts one after another, which ``op.accumulate`` does in
    the same order without building an index array."""
    if isinstance(idx, slice):
        accounts[idx] = op(accounts[idx], amounts)
    elif isinstance(idx, int | np.integer):
        steps = np.concatenate(([accounts[idx]], np.ravel(amounts)))
        accounts[idx] = op.accumulate(steps)[-1]
    else:
        op.at(accounts, idx, amounts)


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
    def _check(amount) -> None:
        if isinstance(amount, float | int):
            ok = 0.0 <= amount < math.inf  # False for NaN too
        else:
            values = np.asarray(amount)
            # the smallest is NaN or negative, or the largest infinite, if any value is bad
            ok = values.size == 0 or bool(values.min() >= 0 and values.max() < math.inf)
        if not ok:
            raise ValueError(f"ledger amounts must be finite and non-negative, got {amount}")

    def transfer(self, src: str, src_idx, dst: str, dst_idx, amount, purpose: str) -> None:
        """Move amount from src[src_idx] to dst[dst_idx] (indices and amounts may be arrays).

        An index may be a slice (``ALL`` for every account in the group): each account it
        selects takes one entry. An integer index with an array of amounts takes them one
        after another, in order."""
        self._check(amount)
        if (
            isinstance(amount, float | int)
            and isinstance(src_idx, int)
            and isinstance(dst_idx, int)
        ):
            self.cash[src][src_idx] -= amount
            self.cash[dst][dst_idx] += amount
            self.flows[purpose] += amount
            return
        amount = np.asarray(amount, dtype=float)
        _post(self.cash[src], src_idx, amount, np.subtract)
        _post(self.cash[dst], dst_idx, amount, np.add)
        self.flows[purpose] += float(amount.sum())

    def receive(self, boundary: str, dst: str, dst_idx, amount) -> None:
        """Money entering the model from a named boundary."""
        self._check(amount)
        total = amount if isinstance(amount, float | int) else float(np.sum(amount))
        if isinstance(dst_idx, int):
            self.cash[dst][dst_idx] += total
        else:
            _post(self.cash[dst], dst_idx, amount, np.add)
        self.inflows[self._boundary(boundary)] += total

    def pay_out(self, src: str, src_idx, boundary: str, amount) -> None:
        """Money leaving the model to a named boundary."""
        self._check(amount)
        total = amount if isinstance(amount, float | int) else float(np.sum(amount))
        if isinstance(src_idx, int):
            self.cash[src][src_idx] -= total
        else:
            _post(self.cash[src], src_idx, amount, np.subtract)
        self.outflows[self._boundary(boundary)] += total

    def settle(self, changes: list[tuple[str, np.ndarray, np.ndarray]], purpose: str) -> None:
        """A multilateral settlement (e.g. a market's trades): signed changes that sum to zero."""
        net = sum(float(np.sum(delta)) for _, _, delta in changes)
        gross = sum(float(np.abs(delta).sum()) for _, _, delta in changes)
        if abs(net) > 1e-9 * max(gross, 1.0):
            raise ValueError(f"settlement {purpose} does not net to zero: {net}")
        for group, idx, delta in changes:
            _post(self.cash[group], idx, delta, np.add)
        self.flows[purpose] += 0.5 * gross

    @staticmethod
    def _boundary(name: str) -> str:
        if name not in BOUNDARIES:
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

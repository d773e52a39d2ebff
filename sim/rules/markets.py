"""Prices in the compute, token and equity markets."""

from __future__ import annotations

import numpy as np


def utilisation_rent(
    utilisation: float, reference_rent: float, target: float, elasticity: float, floor: float
) -> float:
    """Rent that clears capacity: rises with utilisation above target, floored at marginal cost.

    rent = max(floor, reference * (u / target)^elasticity)
    Worked example: reference 2.5 USD/h, target 0.8, elasticity 3, floor 0.4:
      u = 0.96 -> 2.5 * 1.2^3 = 4.32; u = 0.4 -> 2.5 * 0.5^3 = 0.3125 -> floored at 0.40.
    """
    return max(floor, reference_rent * (max(utilisation, 0.0) / target) ** elasticity)


def cost_recovering_rent(
    capital_recovery: float, operations: float, energy: float, target_utilisation: float
) -> float:
    """The rent per hour sold that pays for a new unit when it is busy at the target
    utilisation: its capital recovery and operations, due for every hour it is online, and
    the energy of each hour sold.

    r_ref = (k + c_ops) / u* + e, so that u* (r_ref - e) - c_ops = k: the margin the
    impairment test counts (value_in_use) is exactly the capital recovery, and a new unit
    renting at r_ref at u* is never worth less than it cost.
    Worked example: a 40,000 USD unit recovering 35% a year, k = 40,000 * 0.35 / 8,760 =
    1.5982 USD/h; c_ops = 0.25, e = 0.112, u* = 0.8:
      (1.5982 + 0.25) / 0.8 + 0.112 = 2.4223 USD/h; 0.8 * (2.4223 - 0.112) - 0.25 = 1.5982.
    """
    return (capital_recovery + operations) / target_utilisation + energy


def adjust_rent(current: float, implied: float, speed: float) -> float:
    """Move rent part of the way (in logs) to the utilisation-implied rent: contracts reprice
    slowly.

    Worked example: current 2.0, implied 4.0, speed 0.25 -> 2.0 * 2^0.25 = 2.3784.
    """
    return current * (implied / current) ** speed


def token_markup(
    capability: float, best_rival_capability: float, base: float, per_point: float
) -> float:
    """Closed-weight markup over inference cost grows with the capability lead.

    Worked example: capability 70, best rival 64, base 1.5, 0.15 per point -> 1.5 + 0.9 = 2.4;
    a laggard (no lead) charges the base 1.5.
    """
    return base + per_point * max(capability - best_rival_capability, 0.0)


def token_price_usd_per_mtok(
    rent_usd_per_hour: float, flop_per_token: float, flop_per_hour: float, markup: float
) -> float:
    """Price per million tokens = rent / tokens per GPU-hour * 1e6 * markup.

    Worked example: rent 2.5 USD/h, 1e11 FLOP/token, 5.34e17 FLOP/h served (0.15 of
    989 TFLOP/s * 3600 s) -> 5.34e6 tokens/h -> cost 0.468 USD/Mtok; markup 2 -> 0.936.
    """
    tokens_per_hour = flop_per_hour / flop_per_token
    return rent_usd_per_hour / tokens_per_hour * 1e6 * markup


def expert_token_price(
    spend_usd: float, base_price: float, base_tokens: float, elasticity: float
) -> float:
    """Price per expert token when labs spend spend_usd on an upward-sloping labour supply.

    Supply Q = Q0 (p / p0)^e and spend S = p Q give p = p0 * (S / (p0 Q0))^(1 / (1 + e)).
    Worked example: p0 = 0.1 USD, Q0 = 8e10 tokens, e = 1: S = 32e9 USD -> S / (p0 Q0) = 4
      -> p = 0.1 * 4^0.5 = 0.2 USD/token (twice the base wage buys twice the base volume).
    """
    return base_price * (max(spend_usd, 1e-9) / (base_price * base_tokens)) ** (
        1.0 / (1.0 + elasticity)
    )


def allocate_with_spillover(requests: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Serve each (buyer, seller) request up to the seller's capacity, then spill the rest.

    requests[b, s] is what buyer b asks of seller s. Sellers short of capacity serve
    requests pro rata; the unserved remainder is offered to sellers with spare capacity,
    pro rata to that spare capacity. Nothing is sold that is not bought, and no seller
    exceeds capacity.
    Worked example: requests [[6, 0], [2, 2]], capacity [4, 10]: seller 0 has 8 asked for
    4 -> serves 3 and 1; seller 1 serves 2 (spare 8); unserved 3 + 1 = 4 spill to seller 1
    -> served [[3, 3], [1, 3]], seller loads [4, 6].
    """
    asked = requests.sum(axis=0)
    cut = np.divide(capacity, asked, out=np.ones(capacity.shape), where=asked > capacity)
    served = requests * cut
    unserved = requests @ (1.0 - cut)  # what each buyer was refused
    spare = np.maximum(capacity - asked * cut, 0.0)
    total_spare, total_unserved = float(spare.sum()), float(unserved.sum())
    if total_spare > 0 and total_unserved > 0:
        fill = min(1.0, total_spare / total_unserved)
        served += np.outer(unserved * fill, spare / total_spare)
    return served


def clear_equity_market(
    weights: np.ndarray, cash: np.ndarray, holdings: np.ndarray, supply: np.ndarray
) -> np.ndarray:
    """Prices at which investors' desired holdings exactly absorb every share.

    Investor j wants weight w[j, i] of its wealth W_j(p) = cash_j + sum_k h[j, k] p_k in
    firm i, so market clearing p_i S_i = sum_j w[j, i] W_j(p) is linear in p:
      (diag(S) - W^T H) p = W^T c.
    With sum_i w[j, i] < 1 every column of W^T H sums to less than S, so the matrix is an
    M-matrix and p >= 0. Worked example (one investor, one firm): w = 0.5, cash 100,
    holds 10 of 10 shares -> (10 - 0.5*10) p = 50 -> p = 10; wealth 200, half in stock.
    """
    matrix = np.diag(supply) - weights.T @ holdings
    return np.linalg.solve(matrix, weights.T @ cash)

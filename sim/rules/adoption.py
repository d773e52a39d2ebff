"""Adoption: Bass timing over a social network and the choice of a provider."""

from __future__ import annotations

import numpy as np

NO_PROVIDER = -1


def bass_adoption_probability(
    neighbour_adopted_share: np.ndarray, innovation_per_yr: float, imitation_per_yr: float
) -> np.ndarray:
    """Monthly probability a ready non-adopter adopts (Bass 1969 on a network).

    hazard = p + q * (adopted share of its neighbours), per year; monthly probability
    1 - exp(-hazard / 12). Worked example: p = 0.03, q = 0.38, half the neighbours adopted:
      hazard = 0.03 + 0.19 = 0.22/yr -> 1 - exp(-0.018333) = 0.018166 per month.
    """
    hazard = innovation_per_yr + imitation_per_yr * neighbour_adopted_share
    return 1.0 - np.exp(-hazard / 12.0)


def feasible_providers(
    required_capability: np.ndarray,
    value_per_task: np.ndarray,
    tokens_per_task: np.ndarray,
    budget_per_month: np.ndarray,
    tasks_per_month: np.ndarray,
    capability: np.ndarray,
    price_usd_per_token: np.ndarray,
    required_return: float,
) -> np.ndarray:
    """feasible[l, a]: lab l's model does adopter a's task, pays back, and fits its budget.

    A task needs capability >= its requirement; its token cost must be below value /
    required return; the month's bill (tasks * cost) must fit the budget. Both cost tests
    are a ceiling on the price per token the adopter can pay:
    min(value / return, budget / tasks) / tokens per task.
    Worked example: requirement 60, value 20 USD, 1e5 tokens, budget 500 USD/month, 40
    tasks, return 1.2: ceiling min(16.67, 12.5) / 1e5 = 125 USD/Mtok. A lab at 65 charging
    2 USD/Mtok (0.20 USD/task, 8 USD/month) is feasible. At 150 USD/Mtok the cost is
    15 USD/task: 15 * 1.2 = 18 <= 20 pays back, but the bill 40 * 15 = 600 USD exceeds the
    500 budget (150 > 125): infeasible.
    """
    ceiling = (
        np.minimum(value_per_task / required_return, budget_per_month / tasks_per_month)
        / tokens_per_task
    )
    # one long row per lab: numpy works along thousands of adopters, not a handful of labs
    feasible = capability[:, None] >= required_capability[None, :]
    feasible &= price_usd_per_token[:, None] <= ceiling[None, :]
    return feasible


def choose_provider(
    feasible: np.ndarray, capability: np.ndarray, price: np.ndarray, good_enough: bool
) -> np.ndarray:
    """Index of each adopter's chosen lab, or NO_PROVIDER if none is feasible.

    feasible[l, a] says whether lab l can serve adopter a.
    Winner-takes-all: the most capable feasible model (ties to the cheaper).
    Good-enough: the cheapest feasible model (ties to the more capable).
    Worked example: feasible [T, T, F], capability [80, 70, 90], price [5, 1, 0.5]:
    winner-takes-all picks lab 0; good-enough picks lab 1.
    """
    # Labs in order of preference (np.lexsort sorts by its last key first).
    keys = (-capability, price) if good_enough else (price, -capability)
    choice = np.full(feasible.shape[1], NO_PROVIDER)
    # from the least preferred lab to the most, each feasible lab takes the adopter over
    for lab in np.lexsort(keys)[::-1].tolist():
        choice[feasible[lab]] = lab
    return choice

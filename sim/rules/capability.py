"""Capability from training compute and data (Hoffmann et al. 2022, 'Chinchilla')."""

from __future__ import annotations

from typing import NamedTuple

from sim.params import CapabilityParams
from sim.technology import H100_PEAK_FLOP_PER_S, SECONDS_PER_HOUR


def chinchilla_loss(n_params: float, n_tokens: float, cp: CapabilityParams) -> float:
    """L(N, D) = E + A / N^alpha + B / D^beta.

    Worked example (default constants): N = 70e9, D = 1.4e12
      N^0.34 = exp(0.34 * ln 7e10) = exp(0.34 * 24.972) = exp(8.4905) = 4868
        -> 406.4 / 4868 = 0.0835
      D^0.28 = exp(0.28 * ln 1.4e12) = exp(0.28 * 27.967) = exp(7.8307) = 2517
        -> 410.7 / 2517 = 0.1632
      L = 1.69 + 0.0835 + 0.1632 = 1.937
    """
    return (
        cp.loss_irreducible
        + cp.loss_param_coef / n_params**cp.loss_param_exponent
        + cp.loss_data_coef / n_tokens**cp.loss_data_exponent
    )


class Split(NamedTuple):
    n_params: float
    n_tokens: float


def compute_optimal_split(compute_flop: float, cp: CapabilityParams) -> Split:
    """Minimise L(N, D) subject to C = 6 N D.

    N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6) / N_opt, with
    G = (alpha A / (beta B))^(1/(alpha+beta)).
    Worked example, C = 5.76e23 (Chinchilla's budget):
      G = (0.34*406.4 / (0.28*410.7))^(1/0.62) = (138.18/115.00)^1.6129 = 1.2016^1.6129 = 1.3446
      C/6 = 9.6e22; exponent 0.28/0.62 = 0.45161; (9.6e22)^0.45161 = exp(0.45161*52.918)
        = exp(23.899) = 2.394e10
      N_opt = 1.3446 * 2.394e10 = 3.22e10; D_opt = 9.6e22 / 3.22e10 = 2.98e12
    (The paper's Table 3 rounds the fitted optimum differently: 67B / 1.5T; our rule is the
    closed-form optimum of the parametric fit, which puts more weight on data.)
    """
    a, b = cp.loss_param_exponent, cp.loss_data_exponent
    g = (a * cp.loss_param_coef / (b * cp.loss_data_coef)) ** (1.0 / (a + b))
    n = g * (compute_flop / 6.0) ** (b / (a + b))
    return Split(n, compute_flop / 6.0 / n)


def capability_index(loss: float, cp: CapabilityParams) -> float:
    """Share of benchmark tasks solved (0-100): a logistic in log reducible loss.

    Benchmark scores rise as sigmoids of log compute; reducible loss is a power law in
    compute, so a logistic in log(L - E) gives that shape and saturates at the
    irreducible loss E (the environment's complexity ceiling).
      index = 100 / (1 + ((L - E) / m)^s)
    Worked example, m = 0.08, s = 2: L - E = 0.16 -> 100 / (1 + 2^2) = 20;
    L - E = 0.04 -> 100 / (1 + 0.5^2) = 80.
    """
    reducible = max(loss - cp.loss_irreducible, 1e-12)
    return 100.0 / (1.0 + (reducible / cp.capability_midpoint_loss) ** cp.capability_steepness)


class DataMix(NamedTuple):
    effective_tokens: float  # tokens as they count in the loss
    expert_tokens: float  # bought from the expert pool
    synthetic_tokens: float  # generated; each counts synthetic_data_discount


def data_mix(
    tokens_needed: float, expert_tokens_affordable: float, cp: CapabilityParams
) -> DataMix:
    """Fill a run's data need: human text first, then expert data, then synthetic data.

    Human text is a finite stock; expert tokens count expert_token_value each (dense,
    verified demonstrations); synthetic tokens fill the rest at a discount. Sample
    efficiency scales the value of every token.
    Worked example (stock 3e14, expert value 20, synthetic 0.3): need 5e14, can afford
    2e12 expert tokens -> human 3e14; expert 2e12 covers 4e13; gap 1.6e14 of synthetic at
    0.3 -> effective = (3e14 + 4e13 + 0.3*1.6e14) = 3.88e14.
    """
    human = min(tokens_needed, cp.human_data_stock_tokens)
    gap = tokens_needed - human
    expert = min(expert_tokens_affordable, gap / cp.expert_token_value)
    synthetic = gap - expert * cp.expert_token_value
    effective = human + expert * cp.expert_token_value + cp.synthetic_data_discount * synthetic
    return DataMix(effective * cp.sample_efficiency, expert, synthetic)


def trained_capability(
    effective_compute_flop: float, expert_tokens_affordable: float, cp: CapabilityParams
) -> tuple[float, float, DataMix]:
    """Capability index and loss of a run, with the data it had.

    The run is split compute-optimally; if data runs short the tokens it trains on count
    less (synthetic discount), which raises the loss above the compute-optimal one.
    """
    split = compute_optimal_split(effective_compute_flop, cp)
    mix = data_mix(split.n_tokens / cp.sample_efficiency, expert_tokens_affordable, cp)
    loss = chinchilla_loss(split.n_params, max(mix.effective_tokens, 1.0), cp)
    return capability_index(loss, cp), loss, mix


def inference_flop_per_token(n_params: float, inference_efficiency: float) -> float:
    """Forward pass costs about 2 FLOP per parameter per token, cut by inference efficiency.

    Worked example: 1e11 parameters, efficiency 4 -> 2e11 / 4 = 5e10 FLOP per token.
    """
    return 2.0 * n_params / inference_efficiency


def training_flop_per_hour(utilisation: float, gain_per_yr: float, month: int) -> float:
    """FLOP one H100e-hour adds to a training run.

    Peak BF16 times model FLOP utilisation, rising over time as training moves to lower
    precision and better kernels: the part of the fall in the cost of a training FLOP
    that cheaper hardware does not explain (Cottier et al. 2024).
    989e12 * 3600 * u * (1 + g)^(month / 12). Worked example: u = 0.4, g = 0.2, month 24:
      989e12 * 3600 = 3.5604e18; * 0.4 = 1.42416e18; * 1.2^2 = 1.44 -> 2.05079e18.
    """
    return (
        H100_PEAK_FLOP_PER_S
        * SECONDS_PER_HOUR
        * utilisation
        * (1.0 + gain_per_yr) ** (month / 12.0)
    )

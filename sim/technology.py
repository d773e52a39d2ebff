"""The state of the art: hardware price-performance and algorithmic efficiency, shared by all.

Ideas spread fast between labs (papers, staff moves, open weights), so algorithmic
efficiency is one sector-wide frontier; labs differ in how much compute they buy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.params import Params
from sim.rules.technology import algorithmic_log_growth, hardware_log_growth

H100_PEAK_FLOP_PER_S = 989e12  # dense BF16, the unit of capacity
SECONDS_PER_HOUR = 3600.0
HOURS_PER_MONTH = 730.0


class Technology:
    def __init__(self, params: Params, rng: np.random.Generator):
        self.tp = params.technology
        self.rng = rng
        self.capability_params = params.capability  # data efficiency can jump over time
        self.log_hardware = 0.0  # ln(price-performance / start)
        self.log_algorithms = math.log(self.tp.algo_efficiency_start)
        self.log_algorithm_gain = 0.0  # ln(efficiency / start): ideas already found
        self.breakthroughs = 0

    def hardware_step(self) -> float:
        """This month's growth of log price-performance."""
        tp = self.tp
        return hardware_log_growth(
            self.log_hardware, tp.flop_per_usd_doubling_years, tp.hardware_plateau_multiple
        )

    def advance(self, month: int, research_spend_usd_bn: float) -> None:
        """Move hardware and algorithms on by one month."""
        tp = self.tp
        self.log_hardware += self.hardware_step()
        step = algorithmic_log_growth(
            self.log_algorithm_gain,
            12.0 * research_spend_usd_bn / tp.algo_reference_effort_usd_bn_per_yr,
            tp.algo_growth_per_yr,
            tp.algo_effort_elasticity,
            tp.algo_diminishing_returns,
        )
        jump = 0.0
        if self.rng.random() < tp.breakthrough_rate_per_yr / 12.0:
            jump += math.log(tp.breakthrough_multiple) * self.rng.lognormal(0.0, 0.5)
        if month == tp.scheduled_breakthrough_month:
            jump += math.log(tp.scheduled_breakthrough_multiple)
        self.breakthroughs += jump > 0
        if month == tp.sample_efficiency_jump_month:
            cp = self.capability_params
            self.capability_params = dataclasses.replace(
                cp, sample_efficiency=cp.sample_efficiency * tp.sample_efficiency_jump_multiple
            )
        self.log_algorithms += step + jump
        self.log_algorithm_gain += step + jump

    @property
    def algorithmic_efficiency(self) -> float:
        """Multiplier on physical FLOP (2022 algorithms = 1)."""
        return math.exp(self.log_algorithms)

    @property
    def inference_efficiency(self) -> float:
        """Multiplier cutting FLOP per token at a given model size (distillation, sparsity)."""
        return math.exp(self.tp.inference_share_of_algo_gains * self.log_algorithm_gain)

    @property
    def h100e_price_usd(self) -> float:
        """IT cost of one H100-equivalent of FLOP/s bought this month."""
        return self.h100e_price_usd_at()

    @property
    def h100e_power_kw(self) -> float:
        return self.h100e_power_kw_at()

    def h100e_price_usd_at(self, log_hardware: float | None = None) -> float:
        x = self.log_hardware if log_hardware is None else log_hardware
        return self.tp.h100e_price_usd_start * math.exp(-x)

    def h100e_power_kw_at(self, log_hardware: float | None = None) -> float:
        x = self.log_hardware if log_hardware is None else log_hardware
        return self.tp.h100e_power_kw_start * math.exp(-self.tp.power_efficiency_elasticity * x)

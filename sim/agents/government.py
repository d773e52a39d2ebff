"""The state: carries a strategy's subsidies and decides what to do when the sector crashes."""

from __future__ import annotations

import mesa


class Government(mesa.Agent):
    """Subsidy shares are read by the markets; this agent watches prices and responds to a crash.

    It reacts to what it can observe, a sector drawdown from its two-year high, never to a
    phase label: the turning point is found afterwards by the analysis, not announced.
    """

    def __init__(self, model):
        super().__init__(model)
        self.responded = False
        self.response_month = -1
        self.value_history: list[float] = []
        self.compute_subsidies_usd_bn = 0.0  # this month
        self.adoption_subsidies_usd_bn = 0.0
        self.bailouts_usd_bn = 0.0

    def step(self) -> None:
        self.watch_market()
        if self.crisis() and not self.responded:
            self.respond()

    def watch_market(self) -> None:
        self.value_history.append(float(self.model.capital_market.market_cap.sum()))
        self.value_history = self.value_history[-24:]

    def crisis(self) -> bool:
        gp = self.model.params.government
        high = max(self.value_history)
        return high > 0 and self.value_history[-1] < (1.0 - gp.crisis_trigger_drawdown) * high

    def respond(self) -> None:
        """One lasting response (Perez's institutional recomposition after the crash)."""
        gp = self.model.params.government
        self.responded, self.response_month = True, self.model.month
        if gp.crisis_response == "regulate":
            self.model.chartist_trend_gain *= gp.regulation_trend_gain_factor
        elif gp.crisis_response == "cut_rates":
            self.model.safe_rate = max(0.0, self.model.safe_rate - gp.rate_cut_per_yr)
        elif gp.crisis_response == "bail_out":
            self.model.bail_out_failing_firms = True

    def reset_month(self) -> None:
        self.compute_subsidies_usd_bn = 0.0
        self.adoption_subsidies_usd_bn = 0.0
        self.bailouts_usd_bn = 0.0

"""An AI lab: trains models on rented compute, sells tokens, raises equity to keep racing."""

from __future__ import annotations

import mesa

from sim.rules.capability import (
    compute_optimal_split,
    inference_flop_per_token,
    trained_capability,
    training_flop_per_hour,
)
from sim.rules.finance import smooth_growth
from sim.rules.markets import token_markup, token_price_usd_per_mtok


class Lab(mesa.Agent):
    """A closed frontier lab or an open-weight lab; the difference is only in parameters."""

    def __init__(self, model, index: int, firm: int, open_weights: bool, start_compute_flop: float):
        super().__init__(model)
        lp = model.params.labs
        self.index, self.firm, self.open_weights = index, firm, open_weights
        self.accounts = model.ledger.cash["labs"]  # its group's cash, kept by the ledger
        self.alive = True
        self.rd_target_usd_bn = lp.rd_spend_start_usd_bn_per_month  # per month
        self.rd_spend_usd_bn = 0.0
        self.expert_spend_usd_bn = 0.0
        self.run_flop = 0.0  # physical FLOP in the current final run
        self.run_month = 0
        self.run_expert_tokens = 0.0
        self.data_limited = False
        self.cumulative_effective_flop = 0.0
        self.trained_capability = 0.0
        self.capability = 0.0
        self.n_params = 1.0
        self.last_run_flop = start_compute_flop
        self._deploy(start_compute_flop * model.technology.algorithmic_efficiency, 0.0)
        self.price_usd_per_mtok = 0.0
        self.flop_per_token = 1.0
        self.tokens_demanded = 0.0  # tokens per month ordered by adopters
        self.tokens_served = 0.0
        self.training_hours_served = 0.0
        self.inference_hours_served = 0.0
        self.compute_bill_usd_bn = 0.0
        self.wages_usd_bn = 0.0
        self.revenue_usd_bn = 0.0
        self.revenue_ema_usd_bn = 0.0  # smoothed monthly revenue
        self.revenue_growth = 0.0  # smoothed monthly log growth of revenue
        self.addressable_usd_bn_per_yr = 0.0  # token spending its model could win
        self.rd_capital_usd_bn = 0.0  # capitalised R&D (knowledge capital)

    # ---- the month, before markets -------------------------------------------------
    def plan(self) -> None:
        if not self.alive:
            return
        self.finish_training_run()
        self.distil_frontier()
        self.set_rd_budget()
        self.set_token_price()

    # ---- the month, after markets ----------------------------------------------------
    def settle(self) -> None:
        if not self.alive:
            return
        self.book_revenue()
        self.train()
        self.pay_staff_and_data()
        self.pay_tax()
        self.seek_funding()

    # ---- sub-actions -----------------------------------------------------------------
    def finish_training_run(self) -> None:
        """A finished run is deployed if it beats the current model."""
        lp = self.model.params.labs
        if self.run_month < lp.training_run_months:
            return
        effective = self.run_flop * self.model.technology.algorithmic_efficiency
        self.cumulative_effective_flop += effective
        if self.run_flop > 0:
            self._deploy(effective, self.run_expert_tokens)
            self.last_run_flop = self.run_flop
        self.run_flop, self.run_month, self.run_expert_tokens = 0.0, 0, 0.0

    def _deploy(self, effective_flop: float, expert_tokens: float) -> None:
        cp = self.model.technology.capability_params
        capability, _, mix = trained_capability(effective_flop, expert_tokens, cp)
        self.data_limited = mix.synthetic_tokens > 0
        if capability > self.trained_capability:
            self.trained_capability = capability
            physical = effective_flop / self.model.technology.algorithmic_efficiency
            self.n_params = compute_optimal_split(physical, cp).n_params
        self.capability = self.trained_capability

    def distil_frontier(self) -> None:
        """Open-weight labs stay within a fixed gap of the best closed model by distillation."""
        if not self.open_weights:
            return
        closed = [lab.capability for lab in self.model.labs if lab.alive and not lab.open_weights]
        gap = self.model.params.labs.distillation_gap
        self.capability = max(self.trained_capability, max(closed, default=0.0) - gap)

    def set_rd_budget(self) -> None:
        """Race at the ambition rate within what fundamentals justify; spend more when capital
        is cheap (Tobin's q for labs: market over fundamental value), never faster than cash
        allows."""
        lp = self.model.params.labs
        fundamental = self.fundamental_value()
        growth = (1.0 + lp.rd_ambition_growth_per_yr) ** (1.0 / 12.0)
        justified = lp.rd_share_of_value_per_yr * fundamental / 12.0
        self.rd_target_usd_bn = min(self.rd_target_usd_bn * growth, max(justified, 1e-6))
        premium = self.model.capital_market.firm_value(self.firm) / fundamental
        wanted = self.rd_target_usd_bn * premium**lp.rd_valuation_elasticity
        self.rd_spend_usd_bn = min(wanted, max(self.cash, 0.0) / lp.min_runway_months)
        share = lp.expert_data_budget_share if self.data_limited else 0.0
        self.expert_spend_usd_bn = share * self.rd_spend_usd_bn

    @property
    def training_hours_wanted(self) -> float:
        compute_usd = (self.rd_spend_usd_bn - self.expert_spend_usd_bn) * 1e9
        return compute_usd / self.model.compute_market.expected_rent(self.index)

    @property
    def inference_hours_wanted(self) -> float:
        return self.tokens_demanded * self.flop_per_token / self.model.inference_flop_per_hour

    def set_token_price(self) -> None:
        """Cost per token times a markup from the capability lead; below cost while cash abounds."""
        lp = self.model.params.labs
        tech = self.model.technology
        self.flop_per_token = inference_flop_per_token(self.n_params, tech.inference_efficiency)
        rivals = [lab.capability for lab in self.model.labs if lab.alive and lab is not self]
        best_rival = max(rivals, default=0.0)
        if self.open_weights:
            markup = lp.open_markup
        else:
            markup = token_markup(
                self.capability, best_rival, lp.closed_markup_base, lp.closed_markup_per_lead
            )
        runway = max(self.cash, 0.0) / max(self.monthly_spending(), 1e-9)
        depth = min(1.0, max(0.0, runway / lp.runway_target_months - 1.0))
        factor = markup * (1.0 - depth) + lp.subsidised_price_share * depth
        self.price_usd_per_mtok = token_price_usd_per_mtok(
            self.model.compute_market.expected_rent(self.index),
            self.flop_per_token,
            self.model.inference_flop_per_hour,
            factor,
        )

    def book_revenue(self) -> None:
        """Adopters pay for the tokens served; the state pays its adoption subsidy share."""
        served_share = 0.0
        if self.tokens_demanded > 0:
            served_share = min(1.0, self.inference_hours_served / self.inference_hours_wanted)
        self.tokens_served = self.tokens_demanded * served_share
        bill = self.tokens_served * self.price_usd_per_mtok / 1e6 / 1e9  # USD bn
        subsidy = self.model.params.government.adoption_subsidy_share * bill
        ledger = self.model.ledger
        ledger.receive("adopter_spending", "labs", self.index, bill - subsidy)
        if subsidy > 0:
            ledger.receive("subsidies", "labs", self.index, subsidy)
        self.revenue_usd_bn = bill
        self.model.government.adoption_subsidies_usd_bn += subsidy

    def train(self) -> None:
        """Training hours served this month add FLOP to the final run."""
        lp = self.model.params.labs
        flop_per_hour = training_flop_per_hour(
            lp.training_utilisation, lp.training_flop_gain_per_yr, self.model.month
        )
        self.run_flop += self.training_hours_served * flop_per_hour * lp.final_run_share
        self.run_month += 1

    def pay_staff_and_data(self) -> None:
        lp = self.model.params.labs
        wages = (
            lp.staff_cost_usd_bn_per_yr / 12.0 + lp.staff_cost_revenue_share * self.revenue_usd_bn
        )
        self.model.ledger.pay_out("labs", self.index, "wages", wages)
        self.wages_usd_bn = wages
        if self.expert_spend_usd_bn > 0:
            self.model.ledger.pay_out("labs", self.index, "expert_data", self.expert_spend_usd_bn)
            self.run_expert_tokens += (
                self.expert_spend_usd_bn * 1e9 / self.model.expert_token_price_usd
            )

    def pay_tax(self) -> None:
        """Tax on operating earnings: revenue less serving compute and wages (R&D is investment)."""
        lp = self.model.params.labs
        inference_cost = self.compute_bill_usd_bn * self.inference_share_of_bill
        earnings = self.revenue_usd_bn - inference_cost - self.wages_usd_bn
        self.rd_capital_usd_bn += self.rd_spend_usd_bn - self.rd_capital_usd_bn * (
            lp.rd_depreciation_per_yr / 12.0
        )
        self.revenue_growth, self.revenue_ema_usd_bn = smooth_growth(
            self.revenue_growth, self.revenue_ema_usd_bn, self.revenue_usd_bn
        )
        tax = self.model.params.government.corporate_tax_rate * max(earnings, 0.0)
        if tax > 0:
            self.model.ledger.pay_out("labs", self.index, "taxes", tax)

    def seek_funding(self) -> None:
        """Keep a runway of planned spending in cash: sell shares to fill a gap, pay out a
        surplus beyond half as much again as dividends."""
        lp = self.model.params.labs
        target = lp.runway_target_months * self.monthly_spending(self.rd_target_usd_bn)
        market = self.model.capital_market
        market.request_equity(
            self.firm, target - self.cash, self.model.params.credit.max_dilution_per_month
        )
        surplus = self.cash - 1.5 * target
        if surplus > 0:
            market.pay_dividend(self.firm, lp.payout_share * surplus)

    # ---- views -----------------------------------------------------------------------
    @property
    def cash(self) -> float:
        return float(self.accounts[self.index])

    def monthly_spending(self, rd_usd_bn: float | None = None) -> float:
        """R&D (training compute and data), wages and the compute that serves customers."""
        rd = self.rd_spend_usd_bn if rd_usd_bn is None else rd_usd_bn
        serving = self.compute_bill_usd_bn * self.inference_share_of_bill
        return rd + self.wages_usd_bn + serving

    @property
    def inference_share_of_bill(self) -> float:
        total = self.training_hours_served + self.inference_hours_served
        return self.inference_hours_served / total if total > 0 else 0.0

    def fundamental_value(self) -> float:
        """Analysts expect revenue to grow into the market the lab's model can address now."""
        ip = self.model.params.investors
        return self.model.valuation(
            max(self.cash, 0.0) + self.rd_capital_usd_bn,
            self.cash,
            12.0 * self.revenue_ema_usd_bn,
            max(12.0 * self.revenue_ema_usd_bn, self.addressable_usd_bn_per_yr),
            ip.lab_margin,
            ip.lab_floor_share,
        )

    def book_assets(self) -> float:
        """Cash and capitalised R&D: what a buyer of the lab (its models, its team) takes on."""
        return max(self.cash, 0.0) + self.rd_capital_usd_bn

    def exit_market(self) -> None:
        """A failed lab stops serving; its customers find other providers next month."""
        self.alive = False
        self.capability = -1.0
        self.tokens_demanded = 0.0
        self.rd_spend_usd_bn = 0.0

"""SurgeModel: the monthly loop that orders the agents' phases and records the books."""

from __future__ import annotations

import functools
import math

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from sim.agents.adopter import AdopterPool
from sim.agents.government import Government
from sim.agents.hyperscaler import Hyperscaler
from sim.agents.investor import InvestorPool
from sim.agents.lab import Lab
from sim.capital import CapitalMarket
from sim.compute_market import ComputeMarket
from sim.ledger import Ledger
from sim.metrics import MonthlyCollector, month_metrics
from sim.networks import contract_graph, graph, small_world
from sim.opening_fleet import OpeningFleet, OrderingRules, warm_up_fleet
from sim.params import Params, load_scenario
from sim.rules.capacity import legacy_spend_multiple
from sim.rules.finance import credit_limit, fundamental_value
from sim.rules.markets import cost_recovering_rent, expert_token_price
from sim.technology import H100_PEAK_FLOP_PER_S, HOURS_PER_MONTH, SECONDS_PER_HOUR, Technology

# Fleet lifetimes (accelerator life plus build lead) of non-AI demand the opening fleet
# is built up over (sim/opening_fleet.py): every vintage alive in the first month comes
# from the warm-up, and the echoes of its starting fleet, which return each lifetime as
# its vintages are replaced, have died out.
OPENING_WARM_UP_LIFETIMES = 3


class SurgeModel(mesa.Model):
    """One scenario, one seed: labs, hyperscalers, investors, adopters and a government.

    Keyword arguments: `scenario` (a name in scenarios/ or a TOML path), or `params` (a
    Params object), plus any parameter by its flat name as an override, e.g.
    ``SurgeModel(scenario="baseline", n_adopters=1000, rng=7)``. That keeps the model usable
    with mesa.batch_run, which passes parameters as keywords.
    """

    def __init__(
        self,
        scenario: str = "baseline",
        *,
        params: Params | None = None,
        rng=None,
        seed=None,
        **overrides,
    ):
        if rng is None and seed is not None:
            rng, seed = seed, None
        super().__init__(rng=rng)
        base = params if params is not None else load_scenario(scenario)
        self.params = base.with_overrides(overrides) if overrides else base
        p = self.params
        self.month = 0
        start = pd.Period(p.run.start_month, freq="M").to_timestamp()
        self.dates = pd.date_range(start, periods=p.run.months, freq="MS")
        self.safe_rate = p.investors.safe_rate_per_yr
        self.chartist_trend_gain = p.investors.chartist_trend_gain
        self.credit_limit = p.credit.leverage_base
        self.recent_default_loss_share = 0.0  # 12-month average of defaulted debt / debt
        self.bail_out_failing_firms = False
        self.technology = Technology(p, self.rng)
        self._hour_costs_level: float | None = None  # see _hour_costs
        self._hour_costs_figures = (0.0, 0.0)
        self.expert_token_price_usd = p.capability.expert_token_price_usd
        self.fab_capacity_mn = p.hyperscalers.fab_supply_start_h100e_mn_per_month
        self.stranded_capital_usd_bn = 0.0
        self._build_population()
        self.datacollector = MonthlyCollector(self.dates)
        self.metrics: dict[str, float] = {}

    # ---- construction ------------------------------------------------------------------
    def _build_population(self) -> None:
        p = self.params
        n_labs = p.labs.n_closed_labs + p.labs.n_open_labs
        n_hyp = p.hyperscalers.n_hyperscalers
        self.ledger = Ledger(
            {"investors": p.run.n_investors, "labs": n_labs, "hyperscalers": n_hyp}
        )
        firm_groups = [("labs", i) for i in range(n_labs)] + [
            ("hyperscalers", k) for k in range(n_hyp)
        ]
        self.capital_market = CapitalMarket(self.ledger, p.run.n_investors, firm_groups)
        self.government = Government(self)
        start_flop = p.labs.frontier_compute_start_flop
        labs = []
        for i in range(n_labs):
            open_weights = i >= p.labs.n_closed_labs
            scale = p.labs.open_lab_compute_share if open_weights else 1.0
            lab = Lab(self, i, i, open_weights, start_flop * scale * self.rng.uniform(0.5, 1.0))
            lab.name = f"{'open' if open_weights else 'closed'}_lab_{i}"
            labs.append(lab)
        fleet = self.opening_fleet()
        hyperscalers = []
        for k in range(n_hyp):
            h = Hyperscaler(self, k, n_labs + k, k % p.hyperscalers.n_regions, fleet)
            h.name = f"hyperscaler_{k}"
            hyperscalers.append(h)
        # Mesa keeps every agent in its AgentSets (model.agents_by_type); the model's own loops
        # use these fixed tuples, in index order, which is faster and never reorders.
        self.labs: tuple[Lab, ...] = tuple(labs)
        self.hyperscalers: tuple[Hyperscaler, ...] = tuple(hyperscalers)
        self.firms = [*self.labs, *self.hyperscalers]
        self.node_index = {f.name: (f.index) for f in self.firms}
        self.compute_market = ComputeMarket(
            self,
            contract_graph(
                [lab.name for lab in self.labs],
                [h.name for h in self.hyperscalers],
                p.hyperscalers.contracts_per_lab,
                self.rng,
            ),
        )
        self.adopter_adjacency = small_world(
            p.run.n_adopters, p.adopters.social_degree, p.adopters.social_rewiring, self.rng
        )
        self.adopter_pool = AdopterPool(self, self.adopter_adjacency)
        self.investor_adjacency = small_world(
            p.run.n_investors, p.investors.investor_degree, 0.1, self.rng
        )
        self.investor_pool = InvestorPool(self, self.investor_adjacency)
        self._endow()

    @functools.cached_property
    def adopter_graph(self) -> nx.Graph:
        """The adopters' social network (the model itself uses only its matrix)."""
        return graph(self.adopter_adjacency)

    @functools.cached_property
    def investor_graph(self) -> nx.Graph:
        """The investors' social network (the model itself uses only its matrix)."""
        return graph(self.investor_adjacency)

    def opening_fleet(self) -> OpeningFleet:
        """Each hyperscaler's share of the fleet and order book that non-AI demand has built
        up by the first month (sim/opening_fleet.py): the run opens in the steady state of
        the hyperscalers' own ordering rules, without a shortage, a glut or an empty order
        book to fill."""
        hp, tech = self.params.hyperscalers, self.technology
        step, n_hyp = tech.hardware_step(), hp.n_hyperscalers
        rules = OrderingRules(
            lead_months=hp.build_lead_months,
            adjustment_months=hp.capacity_adjustment_months,
            life_months=round(hp.accelerator_life_years * 12),
            target_utilisation=hp.target_utilisation,
            demand_memory_months=hp.demand_growth_memory_months,
            max_growth_per_yr=hp.max_extrapolated_growth_per_yr,
            cancellation_per_month=hp.order_cancellation_per_month,
        )

        def level(month: int) -> float:  # hardware advances at the start of each month
            return tech.log_hardware + (month + 1) * step

        def hours_at(month: int) -> float:
            return self.legacy_hours_per_month(month, level(month)) / n_hyp

        def kw_at(month: int) -> float:
            return tech.h100e_power_kw_at(level(month))

        months = OPENING_WARM_UP_LIFETIMES * (rules.life_months + rules.lead_months)
        return warm_up_fleet(hours_at, kw_at, rules, months)

    def _endow(self) -> None:
        """Opening balances: cash for firms and investors; every firm listed at its fundamental
        value, its shares held pro rata to investors' wealth, so the run starts without a
        mispricing to correct."""
        p, market = self.params, self.capital_market
        owners = self.investor_pool.initial_share
        for lab in self.labs:
            self.ledger.cash["labs"][lab.index] = p.labs.lab_cash_start_usd_bn
        for h in self.hyperscalers:  # the buffer they keep, so no windfall is paid out at once
            self.ledger.cash["hyperscalers"][h.index] = h.cash_buffer()
        for firm in self.firms:
            market.list_firm(firm.firm, firm.fundamental_value(), owners)
        equity = float(market.market_cap.sum())
        self.ledger.cash["investors"][:] = (
            p.investors.investor_wealth_start_usd_bn - equity
        ) * owners
        self.ledger.open_books()
        self.investor_pool.last_value = market.price.copy()

    # ---- the month -----------------------------------------------------------------------
    def step(self) -> None:
        self.begin_month()
        for lab in self.labs:
            lab.plan()
        self.price_expert_data()
        for hyperscaler in self.hyperscalers:
            hyperscaler.plan()
        self.compute_market.post_rents()
        self.adopter_pool.step()
        self.compute_market.clear()
        for lab in self.labs:
            lab.settle()
        for hyperscaler in self.hyperscalers:
            hyperscaler.settle()
            hyperscaler.plan_orders()
        self.fill_capacity_orders()
        for hyperscaler in self.hyperscalers:
            hyperscaler.finance()
        self.investor_pool.step()
        self.government.step()
        self.resolve_defaults()
        self.close_books()
        self.datacollector.collect(self)
        self.running = self.month + 1 < self.params.run.months

    def begin_month(self) -> None:
        """Technology advances on last month's research spending; lenders reset their limit."""
        self.month = self.steps - 1
        self.government.reset_month()
        research = sum(lab.rd_spend_usd_bn for lab in self.labs if lab.alive)
        self.technology.advance(self.month, max(research, 1e-6))
        self.update_credit_limit()

    def update_credit_limit(self) -> None:
        cp, market = self.params.credit, self.capital_market
        history = self.government.value_history
        past = history[-13] if len(history) >= 13 else (history[0] if history else 0.0)
        now = history[-1] if history else 0.0
        log_return = math.log(now / past) if past > 0 and now > 0 else 0.0
        debt = max(float(market.debt.sum()), 1e-9)
        self.credit_limit = credit_limit(
            cp.leverage_base,
            cp.leverage_min,
            cp.leverage_max,
            log_return,
            cp.credit_procyclicality,
            self.recent_default_loss_share,
            cp.credit_loss_sensitivity,
        )
        self.recent_default_loss_share += (
            market.default_losses_month / debt - self.recent_default_loss_share
        ) / 12.0
        market.default_losses_month = 0.0

    def fill_capacity_orders(self) -> None:
        """Fabs ship against the order backlog pro rata; grids connect new buildings pro rata.

        Fab capacity expands while a backlog builds up, at full speed once the backlog is a
        half-year of output; orders placed in a boom keep arriving after it."""
        hp, gp = self.params.hyperscalers, self.params.government
        backlog = sum(h.backlog_units for h in self.hyperscalers)
        output = self.fab_capacity_mn * gp.export_limit_share
        shipped_share = min(1.0, output / backlog) if backlog > 0 else 0.0
        grid = (
            hp.grid_gw_per_month_per_region
            * gp.permitting_multiple
            * (1.0 + hp.grid_growth_per_yr) ** (self.month / 12.0)
        )
        for region in range(hp.n_regions):
            members = [h for h in self.hyperscalers if h.region == region]
            wanted = sum(h.order_shell_gw for h in members)
            connected_share = min(1.0, grid / wanted) if wanted > 0 else 1.0
            for h in members:
                h.build_shells(h.order_shell_gw * connected_share)
        for h in self.hyperscalers:
            h.take_delivery(h.backlog_units * shipped_share)
        pressure = min(1.0, backlog / max(6.0 * output, 1e-12))
        self.fab_capacity_mn *= (1.0 + hp.fab_expansion_per_yr) ** (pressure / 12.0)

    def resolve_defaults(self) -> None:
        """Firms left with negative cash are bailed out (if the state does that) or liquidated."""
        for firm in self.firms:
            if not firm.alive or firm.cash >= 0:
                continue
            group, idx = self.capital_market.firm_groups[firm.firm]
            if self.bail_out_failing_firms:
                need = -firm.cash
                self.ledger.receive("bailouts", group, idx, need)
                self.government.bailouts_usd_bn += need
                continue
            self.fail(firm)

    def fail(self, firm) -> None:
        """Hyperscalers are restructured and keep their data centres running; a lab is
        liquidated and its customers move, unless it is the last lab standing."""
        market, recovery = self.capital_market, self.params.credit.recovery_rate
        last_lab = isinstance(firm, Lab) and sum(lab.alive for lab in self.labs) == 1
        if isinstance(firm, Hyperscaler) or last_lab:
            assets = firm.book_assets()
            ceiling = 0.5 * self.credit_limit * assets  # so the firm can borrow again
            market.reorganize(firm.firm, self.month, recovery, assets, ceiling)
            return
        self.stranded_capital_usd_bn += market.default(
            firm.firm, self.month, recovery, firm.book_assets()
        )
        firm.exit_market()

    def close_books(self) -> None:
        flows = self.ledger.close_month()
        self.metrics = month_metrics(self, flows)

    # ---- what agents ask of the model ------------------------------------------------------
    @property
    def date(self) -> pd.Timestamp:
        return self.dates[self.month]

    @property
    def inference_flop_per_hour(self) -> float:
        return H100_PEAK_FLOP_PER_S * SECONDS_PER_HOUR * self.params.labs.inference_utilisation

    def marginal_cost_per_hour(self, log_hardware: float | None = None) -> float:
        """Energy plus operations for one H100e-hour of this month's hardware."""
        return self._hour_costs(log_hardware)[0]

    def reference_rent(self, log_hardware: float | None = None) -> float:
        """Rent that recovers the cost of a new unit at target utilisation."""
        return self._hour_costs(log_hardware)[1]

    def _hour_costs(self, log_hardware: float | None) -> tuple[float, float]:
        """The marginal cost and the reference rent of an H100e-hour at a hardware level.

        Firms and the market ask for this month's figures a score of times a month, and
        they depend on nothing but the level, so those of the last level asked are kept."""
        tech = self.technology
        level = tech.log_hardware if log_hardware is None else log_hardware
        if level != self._hour_costs_level:
            hp = self.params.hyperscalers
            energy = tech.h100e_power_kw_at(level) / 1e3 * hp.energy_price_usd_per_mwh
            operations = hp.operations_cost_usd_per_h100e_hour
            unit_cost = (
                tech.h100e_price_usd_at(level)
                + tech.h100e_power_kw_at(level) * hp.facility_cost_usd_per_kw
            )
            recovery = unit_cost * hp.rent_capital_recovery_per_yr / (HOURS_PER_MONTH * 12.0)
            self._hour_costs_level = level
            self._hour_costs_figures = (
                energy + operations,
                cost_recovering_rent(recovery, operations, energy, hp.target_utilisation),
            )
        return self._hour_costs_figures

    def legacy_hours_per_month(
        self, month: int | None = None, log_hardware: float | None = None
    ) -> float:
        """Non-AI cloud and internal workloads: a budget growing ever more slowly, spent at
        normal rents (this month's, or those of another month and hardware level).

        Cheaper hardware lets the same budget buy more hours, but a glut's low rents do not
        create non-AI demand."""
        hp = self.params.hyperscalers
        month = self.month if month is None else month
        growth = legacy_spend_multiple(
            month / 12.0, hp.legacy_spend_growth_per_yr, hp.legacy_growth_half_life_years
        )
        spend = hp.legacy_spend_start_usd_bn_per_yr * growth * 1e9 / 12.0
        return spend / self.reference_rent(log_hardware)

    def offers(self) -> tuple[np.ndarray, np.ndarray]:
        """Each lab's capability and the price per token an adopter pays (after subsidy)."""
        subsidy = self.params.government.adoption_subsidy_share
        capability = np.array([lab.capability if lab.alive else -1.0 for lab in self.labs])
        price = np.array([lab.price_usd_per_mtok for lab in self.labs]) / 1e6 * (1 - subsidy)
        return capability, price

    def set_addressable_markets(self, usd_bn_per_yr: np.ndarray) -> None:
        alive = sum(lab.alive for lab in self.labs)
        for lab in self.labs:
            lab.addressable_usd_bn_per_yr = float(usd_bn_per_yr[lab.index]) / max(alive, 1)

    def set_token_orders(self, tokens_per_lab: np.ndarray) -> None:
        for lab in self.labs:
            lab.tokens_demanded = float(tokens_per_lab[lab.index])

    def price_expert_data(self) -> None:
        """One wage for expert-written data, set by all labs' spending on the expert pool."""
        cp = self.params.capability
        spend = sum(lab.expert_spend_usd_bn for lab in self.labs if lab.alive)
        self.expert_token_price_usd = expert_token_price(
            spend * 1e9,
            cp.expert_token_price_usd,
            cp.expert_tokens_per_month,
            cp.expert_supply_elasticity,
        )

    def valuation(
        self, net_assets, net_cash, revenue_per_yr, target_revenue_per_yr, margin, floor_share
    ) -> float:
        ip = self.params.investors
        return fundamental_value(
            net_assets,
            net_cash,
            revenue_per_yr,
            target_revenue_per_yr,
            margin,
            ip.discount_rate_per_yr,
            ip.long_run_growth_per_yr,
            ip.growth_fade_years,
            floor_share,
        )

    def run(self, progress=None) -> pd.DataFrame:
        """Run to the horizon and return the monthly table."""
        while self.running:
            self.step()
            if progress is not None:
                progress.update(1)
        return self.table()

    def table(self) -> pd.DataFrame:
        frame = self.datacollector.get_model_vars_dataframe()
        return frame.reset_index(drop=True)

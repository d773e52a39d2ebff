"""A hyperscaler: builds data centres ahead of demand and rents accelerator-hours to labs."""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.opening_fleet import OpeningFleet
from sim.rules.capacity import backlog_after_orders, buildings_needed_gw, housed_units
from sim.rules.finance import (
    annuity_factor,
    planned_capacity,
    smooth_growth,
    value_in_use,
    whole_firm_premium,
)
from sim.rules.markets import adjust_rent, utilisation_rent
from sim.technology import HOURS_PER_MONTH


class Hyperscaler(mesa.Agent):
    """Capacity is held by vintage (arrival month): units, power and book value per vintage."""

    # A failing hyperscaler is restructured, never liquidated (SurgeModel.fail): its data
    # centres keep running, so it stays in the market for the whole run, unlike a lab.
    alive = True

    def __init__(self, model, index: int, firm: int, region: int, fleet: OpeningFleet):
        super().__init__(model)
        hp = model.params.hyperscalers
        self.index, self.firm, self.region = index, firm, region
        self.accounts = model.ledger.cash["hyperscalers"]  # its group's cash, kept by the ledger
        self.life_months = round(hp.accelerator_life_years * 12)
        self.lead_months = hp.build_lead_months
        # months of service left to each vintage in self.vintages(through=now), oldest first
        months_left = np.arange(self.life_months + 1)
        self.spread_months = np.maximum(months_left, 1)  # what the rest of a book spreads over
        monthly_rate = model.params.investors.discount_rate_per_yr / 12.0
        self.annuity = annuity_factor(months_left, monthly_rate)
        self.offset = self.life_months  # vintage index of month 0
        self.now = self.offset  # vintage index of this month, moved on as each month starts
        size = self.offset + model.params.run.months + self.lead_months + 2
        self.units = np.zeros(size)  # mn H100e arriving (or arrived) in each month
        self.kw_per_unit = np.zeros(size)
        self.energy_usd_per_hour = np.zeros(size)  # energy cost of an hour of a vintage's unit
        self.book = np.zeros(size)  # USD bn book value of each vintage's IT
        self.monthly_depreciation = np.zeros(size)
        self.shell_pipeline = np.zeros(size)  # GW of buildings arriving per month
        self._open_books(fleet)
        # Totals over the vintages' power and books, taken once and then kept up to date as
        # units arrive, retire, depreciate, are written down or are bought: decisions read
        # them a score of times a month.
        self.count_fleet()
        online = self.vintages(through=self.now)
        everything = self.vintages(through=self.now + self.lead_months)
        self.committed_gw = float(self.units[everything] @ self.kw_per_unit[everything])
        self.online_book_usd_bn = float(self.book[online].sum())  # IT online
        self.book_usd_bn = float(self.book[everything].sum())  # IT online and on order
        self.rent = model.reference_rent()
        self.hours_asked = fleet.hours_asked
        self.utilisation = min(1.0, fleet.hours_asked / (fleet.online_mn * 1e6 * HOURS_PER_MONTH))
        self.hours_sold = min(fleet.hours_asked, fleet.online_mn * 1e6 * HOURS_PER_MONTH)
        self.expected_rent = self.rent
        self.expected_utilisation = self.utilisation
        self.revenue_usd_bn = self.hours_sold * self.rent / 1e9
        self.revenue_ema_usd_bn = self.revenue_usd_bn
        self.revenue_growth = math.log1p(hp.legacy_spend_growth_per_yr) / 12.0
        self.capex_usd_bn = 0.0
        self.running_costs_usd_bn = sum(self.running_costs())  # what the opening month costs
        self.interest_usd_bn = 0.0
        self.depreciation_usd_bn = 0.0
        self.earnings_usd_bn = 0.0
        self.writedowns_usd_bn = 0.0
        self.order_shell_gw = 0.0

    def _open_books(self, fleet: OpeningFleet) -> None:
        """Take over the fleet, order book and buildings the warm-up left (sim/opening_fleet.py).

        Each vintage keeps the power per H100e of the month it was shipped, so older units
        draw more. Each is booked at today's unit cost, what an H100e is worth now,
        depreciated by age: booked at their higher historical cost, old units would fail
        the first impairment test and strand capital in the first month. Buildings, in
        place and under way, are booked at half their cost."""
        hp, tech = self.model.params.hyperscalers, self.model.technology
        held = slice(0, fleet.units_mn.size)  # arrival months -life .. lead-1
        self.units[held] = fleet.units_mn
        self.kw_per_unit[held] = fleet.kw_per_unit
        self.energy_usd_per_hour[held] = [self.energy_cost_per_hour(kw) for kw in fleet.kw_per_unit]
        cost = fleet.units_mn * 1e6 * tech.h100e_price_usd / 1e9
        age = self.offset - np.arange(fleet.units_mn.size)
        self.monthly_depreciation[held] = cost / self.life_months
        self.book[held] = cost * np.minimum(1.0, 1.0 - age / self.life_months)
        self.backlog_units = fleet.backlog_mn  # mn H100e ordered from the fabs, not yet shipped
        self.shell_gw = fleet.shells_ready_gw
        self.shell_pipeline[self.offset : self.offset + fleet.shells_pipeline_gw.size] = (
            fleet.shells_pipeline_gw
        )
        shells = self.shell_gw + float(fleet.shells_pipeline_gw.sum())
        self.shell_book = shells * hp.facility_cost_usd_per_kw * 1e6 / 1e9 * 0.5
        self.demand_growth = fleet.demand_growth  # smoothed log growth of hours asked, per month

    # ---- the month, before markets -------------------------------------------------
    def plan(self) -> None:
        self.bring_new_vintage_online()
        self.receive_buildings()
        self.retire_worn_out_units()
        self.count_fleet()
        self.set_rent()

    # ---- the month, after markets ----------------------------------------------------
    def settle(self) -> None:
        self.pay_running_costs()
        self.pay_interest()
        self.depreciate()
        self.write_down_impaired_capacity()
        self.pay_tax()

    def plan_orders(self) -> None:
        self.capex_usd_bn = 0.0
        self.update_demand_outlook()
        self.plan_orders_and_buildings()

    def finance(self) -> None:
        self.pay_dividend_or_repay()
        self.raise_funds()

    # ---- sub-actions -----------------------------------------------------------------
    def bring_new_vintage_online(self) -> None:
        """The month index moves on, and the units that arrive this month come online (the
        opening fleet already holds those of the first month)."""
        now = self.offset + self.model.month
        if now != self.now:
            self.now = now
            self.online_book_usd_bn += self.book[now]

    def receive_buildings(self) -> None:
        self.shell_gw += self.shell_pipeline[self.now]

    def retire_worn_out_units(self) -> None:
        """Vintages reaching the end of their life leave the fleet (their book is ~0)."""
        v = self.now - self.life_months
        self.committed_gw -= self.units[v] * self.kw_per_unit[v]
        self.online_book_usd_bn -= self.book[v]
        self.book_usd_bn -= self.book[v]
        self.units[v] = 0.0
        self.book[v] = 0.0
        self.monthly_depreciation[v] = 0.0

    def set_rent(self) -> None:
        """Rent moves toward the level last month's utilisation implies, floored at running cost."""
        hp = self.model.params.hyperscalers
        implied = utilisation_rent(
            self.utilisation,
            self.model.reference_rent(),
            hp.target_utilisation,
            hp.rent_utilisation_elasticity,
            self.model.marginal_cost_per_hour(),
        )
        self.rent = max(
            adjust_rent(self.rent, implied, hp.rent_adjustment_per_month),
            self.model.marginal_cost_per_hour(),
        )

    def pay_running_costs(self) -> None:
        """Energy for the hours sold; staff and maintenance for every unit online."""
        energy, operations = self.running_costs()
        self.model.ledger.pay_out("hyperscalers", self.index, "energy", energy)
        self.model.ledger.pay_out("hyperscalers", self.index, "operations", operations)
        self.running_costs_usd_bn = energy + operations

    def pay_interest(self) -> None:
        ip = self.model.params
        rate = (self.model.safe_rate + ip.credit.credit_spread_per_yr) / 12.0
        self.interest_usd_bn = self.model.capital_market.pay_interest(self.firm, rate)

    def depreciate(self) -> None:
        hp = self.model.params.hyperscalers
        live = self.vintages(through=self.now)
        dep = np.minimum(self.monthly_depreciation[live], self.book[live])
        self.book[live] -= dep
        it_dep = float(dep.sum())
        self.online_book_usd_bn -= it_dep
        self.book_usd_bn -= it_dep
        shell_dep = self.shell_book / (hp.building_life_years * 12.0)
        self.shell_book -= shell_dep
        self.depreciation_usd_bn = it_dep + shell_dep

    def write_down_impaired_capacity(self) -> None:
        """Vintages whose expected earnings no longer cover their book value are written down.

        Expectations are smoothed rent and utilisation (a year's memory), so a short glut
        does not strand capacity but a lasting one does: this is stranded capital.
        """
        hp = self.model.params.hyperscalers
        self.expected_rent += (self.rent - self.expected_rent) / 12.0
        self.expected_utilisation += (self.utilisation - self.expected_utilisation) / 12.0
        live = self.vintages(through=self.now)
        margin = (
            self.expected_utilisation * (self.expected_rent - self.energy_usd_per_hour[live])
            - hp.operations_cost_usd_per_h100e_hour
        ) * (HOURS_PER_MONTH * 1e6 / 1e9)  # USD bn per mn units per month
        worth = value_in_use(self.units[live], margin, self.annuity)
        book = self.book[live]  # a view: what is taken off it is taken off the books
        loss = np.maximum(book - worth, 0.0)
        book -= loss
        self.monthly_depreciation[live] = book / self.spread_months
        self.writedowns_usd_bn = float(loss.sum())
        self.online_book_usd_bn -= self.writedowns_usd_bn
        self.book_usd_bn -= self.writedowns_usd_bn
        self.model.stranded_capital_usd_bn += self.writedowns_usd_bn

    def pay_tax(self) -> None:
        self.earnings_usd_bn = earnings = (
            self.revenue_usd_bn
            - self.running_costs_usd_bn
            - self.depreciation_usd_bn
            - self.interest_usd_bn
        )
        self.revenue_growth, self.revenue_ema_usd_bn = smooth_growth(
            self.revenue_growth, self.revenue_ema_usd_bn, self.revenue_usd_bn
        )
        tax = self.model.params.government.corporate_tax_rate * max(earnings, 0.0)
        if tax > 0:
            self.model.ledger.pay_out("hyperscalers", self.index, "taxes", tax)

    def update_demand_outlook(self) -> None:
        hp = self.model.params.hyperscalers
        growth = math.log(
            max(self.model.compute_market.asked_hours(self.index), 1.0) / max(self.hours_asked, 1.0)
        )
        self.hours_asked = max(self.model.compute_market.asked_hours(self.index), 1.0)
        self.demand_growth += (growth - self.demand_growth) / hp.demand_growth_memory_months

    def plan_orders_and_buildings(self) -> None:
        """Order accelerators for the capacity the plan lacks (or cancel some of the backlog),
        and buildings for the power the fleet on order will draw (Tobin's q tilts the plan)."""
        hp = self.model.params.hyperscalers
        growth = min(math.expm1(12.0 * self.demand_growth), hp.max_extrapolated_growth_per_yr)
        target = planned_capacity(
            self.hours_asked / HOURS_PER_MONTH / 1e6,
            max(growth, -0.5),
            self.lead_months + hp.capacity_adjustment_months,
            hp.target_utilisation,
            self.valuation_premium(),
            hp.tobin_q_sensitivity,
        )
        # units delivered or on order, less those retiring before today's orders arrive
        arriving = self.now + self.lead_months
        staying = self.units[arriving - self.life_months : arriving + 1]
        have = float(staying.sum()) + self.backlog_units
        self.backlog_units = backlog_after_orders(
            self.backlog_units,
            target - have,
            hp.capacity_adjustment_months,
            hp.order_cancellation_per_month,
        )
        free = self.free_power_gw()
        needed = buildings_needed_gw(self.backlog_units, self.model.technology.h100e_power_kw, free)
        cost = needed / hp.capacity_adjustment_months * hp.facility_cost_usd_per_kw / 1e3
        self.order_shell_gw = self.affordable_share(cost) * needed / hp.capacity_adjustment_months

    def affordable_share(self, cost_usd_bn: float) -> float:
        """Share of a purchase that cash, the lenders' limit and a share issue can pay for.

        Firms invest out of internal funds, credit and new equity (Fazzari, Hubbard and
        Petersen 1988): a high market value lets a firm issue more, which is how a frenzy's
        prices reach the building sites."""
        if cost_usd_bn <= 0:
            return 1.0
        room = max(0.0, self.model.credit_limit * self.book_assets() - self.debt)
        issue = self.model.params.credit.max_dilution_per_month * (
            self.model.capital_market.firm_value(self.firm)
        )
        budget = max(0.0, self.cash + room + issue - 0.5 * self.cash_buffer() - self.capex_usd_bn)
        return min(1.0, budget / cost_usd_bn)

    def take_delivery(self, units_offered: float) -> None:
        """Pay for the accelerators the fabs ship that it can house and afford; they come online
        after the build lead time. What it cannot take stays on order."""
        tech = self.model.technology
        kw = tech.h100e_power_kw
        housed = housed_units(units_offered, self.free_power_gw(), kw)
        cost = housed * 1e6 * tech.h100e_price_usd / 1e9
        units = housed * self.affordable_share(cost)
        if units <= 0:
            return
        it_cost = units * 1e6 * tech.h100e_price_usd / 1e9
        arrival = self.now + self.lead_months
        self.kw_per_unit[arrival] = kw
        self.energy_usd_per_hour[arrival] = self.energy_cost_per_hour(kw)
        self.units[arrival] += units
        self.book[arrival] += it_cost
        self.book_usd_bn += it_cost
        self.committed_gw += units * kw
        self.monthly_depreciation[arrival] += it_cost / self.life_months
        self.backlog_units -= units
        self.model.ledger.pay_out("hyperscalers", self.index, "equipment", it_cost)
        self.capex_usd_bn += it_cost

    def build_shells(self, shell_gw: float) -> None:
        """Pay for buildings and grid connections; they are ready after the build lead time."""
        if shell_gw <= 0:
            return
        hp = self.model.params.hyperscalers
        cost = shell_gw * 1e6 * hp.facility_cost_usd_per_kw / 1e9
        self.shell_pipeline[self.now + self.lead_months] += shell_gw
        self.shell_book += cost
        self.model.ledger.pay_out("hyperscalers", self.index, "construction", cost)
        self.capex_usd_bn += cost

    def pay_dividend_or_repay(self) -> None:
        hp = self.model.params.hyperscalers
        surplus = self.cash - self.cash_buffer()
        if surplus <= 0:
            return
        market = self.model.capital_market
        repay = min(surplus, market.debt[self.firm] * 0.02)
        market.repay(self.firm, repay)
        market.pay_dividend(self.firm, hp.dividend_payout_share * (surplus - repay))

    def raise_funds(self) -> None:
        """Borrow up to the lenders' limit, then sell shares for the rest of the gap."""
        gap = self.cash_buffer() - self.cash
        if gap <= 0:
            return
        market = self.model.capital_market
        room = self.model.credit_limit * self.book_assets() - self.debt
        loan = min(gap, max(room, 0.0))
        market.borrow(self.firm, loan)
        market.request_equity(
            self.firm, gap - loan, self.model.params.credit.max_dilution_per_month
        )

    # ---- views -----------------------------------------------------------------------
    @property
    def cash(self) -> float:
        return float(self.accounts[self.index])

    @property
    def debt(self) -> float:
        return float(self.model.capital_market.debt[self.firm])

    def vintages(self, through: int) -> slice:
        """The vintages that may hold units, from the one retiring this month to the one
        arriving in month index `through`: every older vintage has been retired."""
        return slice(self.now - self.life_months, through + 1)

    def count_fleet(self) -> None:
        """Units online and the power they draw, counted afresh (capacity must be exactly
        zero when nothing is left, not a residue of additions and subtractions)."""
        online = self.vintages(through=self.now)
        self.online_units_mn = float(self.units[online].sum())
        self.power_in_use_gw = float(self.units[online] @ self.kw_per_unit[online])  # GW

    def running_costs(self) -> tuple[float, float]:
        """USD bn this month of energy for the hours sold and of operations for every unit
        online (and the MWh drawn, kept in energy_mwh)."""
        hp = self.model.params.hyperscalers
        online = self.online_units_mn
        kw = self.power_in_use_gw * 1e6 / max(online * 1e6, 1e-12)  # fleet-average kW per unit
        self.energy_mwh = self.hours_sold * kw / 1e3
        energy = self.energy_mwh * hp.energy_price_usd_per_mwh / 1e9
        operations = online * 1e6 * HOURS_PER_MONTH * hp.operations_cost_usd_per_h100e_hour / 1e9
        return energy, operations

    def energy_cost_per_hour(self, kw_per_unit: float) -> float:
        """USD of electricity for one unit drawing kw_per_unit for an hour."""
        return kw_per_unit / 1e3 * self.model.params.hyperscalers.energy_price_usd_per_mwh

    def free_power_gw(self) -> float:
        """Power (GW) of the buildings ready or under way that no unit will draw."""
        pipeline = self.shell_pipeline[self.now + 1 : self.now + self.lead_months + 1]
        return self.shell_gw + float(pipeline.sum()) - self.committed_gw

    def cash_buffer(self) -> float:
        """Cash kept back: months of running costs and of the capex it takes to keep the fleet."""
        hp = self.model.params.hyperscalers
        upkeep = self.online_book_usd_bn / self.life_months
        return hp.cash_buffer_months * (self.running_costs_usd_bn + upkeep)

    def book_assets(self) -> float:
        return self.book_usd_bn + self.shell_book + max(self.cash, 0.0)

    def valuation_premium(self) -> float:
        """Tobin's q relative to the q a fundamentalist market would set (see
        :func:`whole_firm_premium`): only the excess of its market value over what its cash
        flows justify tells a firm that capital is cheap *now*."""
        return whole_firm_premium(
            self.model.capital_market.firm_value(self.firm), self.fundamental_value(), self.debt
        )

    def fundamental_value(self) -> float:
        """Revenue is expected to keep its recent growth (capped) for the projection years."""
        ip = self.model.params.investors
        revenue = 12.0 * self.revenue_ema_usd_bn
        growth = min(math.expm1(12.0 * self.revenue_growth), ip.max_expected_growth_per_yr)
        return self.model.valuation(
            self.book_assets() - self.debt,
            self.cash - self.debt,
            revenue,
            revenue * (1.0 + growth) ** ip.growth_fade_years,
            self.model.params.investors.hyperscaler_margin,
            self.model.params.investors.hyperscaler_floor_share,
        )

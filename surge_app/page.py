"""The Surge app page: Mesa's SolaraViz for the controls, Surge's own panels beside it.

SolaraViz supplies step, play, pause and reset, and the parameter sliders. Two things are
arranged around it:

* the scenario picker sits outside it. SolaraViz fixes its sliders when first drawn, but
  each scenario has its own parameter values; picking a scenario therefore draws a fresh
  SolaraViz (keyed by the scenario's name) whose sliders start at that scenario's values.
* the charts, the status and the network are laid out here rather than in SolaraViz's
  grid of equal half-width tiles, so the charts get the width they need. They share the
  model with SolaraViz through a reactive variable, which its Reset replaces, and redraw
  on its update counter after every step.

Serve it with ``surge app`` (or ``solara run surge_app.page``).
"""

from __future__ import annotations

import html

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim.params import load_scenario, scenario_names
from surge_app.live import (
    DEFAULT_SEED,
    LiveModel,
    live_phases,
    network_figure,
    series_figure,
    slider_params,
    status,
)

DEFAULT_SCENARIO = "baseline"
PLAY_INTERVAL_MS = 50
# Months run between redraws while playing: a redraw costs far more than a month of the
# model, so drawing every third month keeps playback quick and still smooth.
RENDER_INTERVAL_MONTHS = 3


@solara.component
def Charts(model: LiveModel):
    update_counter.get()  # redraw after every step
    table = model.table()
    figure = series_figure(table, live_phases(table), model.dates)
    with solara.Div(classes=["surge-charts"]):
        solara.FigureMatplotlib(figure, format="png", dpi=100)


@solara.component
def Status(model: LiveModel):
    update_counter.get()
    table = model.table()
    line, rows = status(table, live_phases(table), model.params.run.months)
    solara.Text(line, classes=["surge-status"], style={"font-weight": "bold"})
    cells = "".join(
        f"<tr><td>{html.escape(label)}</td><td style='text-align:right;padding-left:1em'>"
        f"{html.escape(value)}</td></tr>"
        for label, value in rows
    )
    solara.HTML(tag="table", unsafe_innerHTML=cells)


@solara.component
def Network(model: LiveModel):
    update_counter.get()
    solara.FigureMatplotlib(network_figure(model), format="png", dpi=100)


@solara.component
def Page():
    scenario, set_scenario = solara.use_state(DEFAULT_SCENARIO)
    params = solara.use_memo(lambda: load_scenario(scenario), [scenario])
    first = solara.use_memo(lambda: LiveModel(scenario_name=DEFAULT_SCENARIO, rng=DEFAULT_SEED), [])
    model = solara.use_reactive(first)

    def choose(name: str) -> None:
        model.set(LiveModel(scenario_name=name, rng=DEFAULT_SEED))
        set_scenario(name)

    solara.Title("Surge")
    with solara.Sidebar(), solara.Card("Scenario"):
        solara.Select(
            label="Scenario",
            values=scenario_names(),
            value=scenario,
            on_value=choose,
            classes=["surge-scenario"],
        )
        for line in (params.description, "Move the sliders below, then press Reset."):
            solara.Text(line, style={"display": "block", "margin-top": "8px"})
    SolaraViz(
        model,
        components=[],
        model_params=slider_params(params),
        name="Surge: the AI infrastructure cycle",
        play_interval=PLAY_INTERVAL_MS,
        render_interval=RENDER_INTERVAL_MONTHS,
    ).key(scenario)
    with solara.Columns([3, 2]):
        Charts(model.value)
        with solara.Column():
            Status(model.value)
            Network(model.value)

"""The interactive app: its pure pieces directly, and the whole page in a real browser.

The browser test starts `surge app` on a free port, drives the page with Playwright in
Debian's headless Chromium (/usr/bin/chromium; `playwright install` is not needed) the
way a person would: pick a scenario, step, play, pause, reset. It runs whenever CI=true
and is skipped elsewhere only when Chromium is missing.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.params import load_scenario, scenario_names
from surge_app.live import (
    MAIN_PARAMETERS,
    LiveModel,
    live_phases,
    network_figure,
    series_figure,
    slider_params,
    status,
)

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's services, which
# hangs it on a closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SMALL = {"n_adopters": 200, "n_investors": 40}
TIMEOUT_MS = 60_000


def _sliders(params) -> dict[str, dict]:
    return {k: v for k, v in slider_params(params).items() if isinstance(v, dict)}


# ---- the pieces -------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenario_names())
def test_sliders_start_at_the_scenarios_values_with_units(scenario):
    params = load_scenario(scenario)
    inputs = slider_params(params)
    assert inputs["scenario_name"] == scenario
    assert inputs["rng"]["type"] == "SliderInt"
    for dotted, label in MAIN_PARAMETERS.items():
        group, name = dotted.split(".")
        slider = inputs[name]
        value = getattr(getattr(params, group), name)
        assert slider["value"] == value
        assert slider["min"] <= value <= slider["max"]
        assert slider["label"].startswith(label) and slider["label"].endswith(")")
        assert slider["type"] == ("SliderInt" if isinstance(value, int) else "SliderFloat")
        steps = (value - slider["min"]) / slider["step"]
        assert abs(steps - round(steps)) < 1e-6, f"{name}: {value} is off the slider's steps"


def test_slider_labels_carry_units():
    labels = {name: s["label"] for name, s in _sliders(load_scenario("baseline")).items()}
    assert labels["build_lead_months"] == "Build lead time (months)"
    assert labels["fab_expansion_per_yr"] == "Fab expansion (1/yr)"
    assert labels["herding_strength"] == "Herding strength (-)"


def test_slider_range_is_the_sensitivity_range_widened_to_the_scenario():
    baseline = _sliders(load_scenario("baseline"))["chartist_trend_gain"]
    assert (baseline["min"], baseline["max"]) == (1.0, 4.0)
    bold = load_scenario("baseline", {"chartist_trend_gain": 9.0})
    assert _sliders(bold)["chartist_trend_gain"]["max"] == 9.0


def test_model_built_from_the_sliders_is_the_scenario():
    """What Reset does: build the model from the scenario plus every slider's value."""
    params = load_scenario("no_speculation")
    inputs = {
        k: (v["value"] if isinstance(v, dict) else v) for k, v in slider_params(params).items()
    }
    assert LiveModel(**inputs).params == params
    # Mesa 3.5's Reset also passes its own `scenario` object; Surge's scenario must stay
    assert LiveModel(**inputs, scenario=object()).params == params


def _stepped_model(months: int) -> LiveModel:
    model = LiveModel(scenario_name="baseline", rng=1, **SMALL)
    for _ in range(months):
        model.step()
    return model


def test_series_figure_shades_the_phases_on_the_whole_runs_axis():
    model = _stepped_model(30)
    table = model.table()
    fig = series_figure(table, live_phases(table), model.dates)
    axes = fig.axes[:6]
    assert [ax.get_ylabel().split("\n")[0] for ax in axes][:2] == ["Market value", "Capex"]
    shaded = [p.get_gid() for p in axes[0].patches]
    assert shaded == ["phase:irruption"]
    low, high = axes[0].get_xlim()
    span_days = high - low  # matplotlib dates count days
    assert span_days > 0.95 * 365.25 * model.params.run.months / 12
    assert len(axes[0].get_lines()) == 2  # market and fundamental value


def test_series_figure_before_the_first_step_has_empty_panels():
    model = LiveModel(scenario_name="baseline", rng=1, **SMALL)
    table = model.table()
    fig = series_figure(table, live_phases(table), model.dates)
    assert all(not ax.get_lines() and not ax.patches for ax in fig.axes[:6])


def test_status_names_phase_date_and_headline_numbers():
    fresh = LiveModel(scenario_name="baseline", rng=1, **SMALL)
    line, rows = status(fresh.table(), live_phases(fresh.table()), 480)
    assert line.startswith("Not started") and rows == []
    model = _stepped_model(14)
    table = model.table()
    line, rows = status(table, live_phases(table), model.params.run.months)
    assert line == "Phase: irruption (since 2018-01). Date: 2019-02, month 14 of 480."
    labels = [label for label, _ in rows]
    assert "Market value (USD bn)" in labels and "Stranded capital (USD bn)" in labels


def test_network_pools_investors_and_adopters_and_keeps_every_firm():
    model = _stepped_model(120)
    assert model.adopter_pool.adopted.any()
    fig = network_figure(model)
    ax = fig.axes[0]
    firms = len(model.labs) + len(model.hyperscalers)
    assert len(ax.collections) == firms + 2  # one dot per firm, one per pooled kind
    names = {t.get_text() for t in ax.texts}
    assert {"investors", "adopters"} <= names
    assert "2027-12" in ax.get_title()


def test_solara_assets_hold_the_files_the_installed_solara_page_loads():
    """The pinned solara-assets bundle, not a public CDN, serves the page's JavaScript and
    styles: it must have the versions that the installed Solara's page template names.
    The Vuetify 3 app is left out: with ipyvuetify 1 the page loads the Vuetify 2 one."""
    import solara
    from solara.server.settings import assets

    template = Path(solara.__file__).parent / "server" / "templates" / "solara.html.j2"
    loaded = set(re.findall(r"\{\{cdn\}\}/((?:@[\w-]+/)?[\w.-]+@[\w.-]+)/", template.read_text()))
    loaded = {spec for spec in loaded if "vuetify3" not in spec}
    assert any(spec.startswith("@widgetti/solara-vuetify-app@") for spec in loaded)
    assert any(spec.startswith("requirejs@") for spec in loaded)
    cache = Path(assets.proxy_cache_dir)
    missing = sorted(spec for spec in loaded if not (cache / spec / "package.json").is_file())
    assert not missing, f"solara-assets lacks {missing}; pin the release matching Solara"
    assert (cache / assets.fontawesome_path.lstrip("/")).is_file()


# ---- the page in a browser --------------------------------------------------------------


def _command() -> list[str]:
    """The `surge` console script of this environment, else the module."""
    script = Path(sys.executable).parent / "surge"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "surge_cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _output(log: Path) -> str:
    return log.read_text(errors="replace")[-6000:] if log.exists() else "(no output)"


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`surge app` exited with {proc.returncode}:\n{_output(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"`surge app` did not serve {url} within {seconds:.0f} s:\n{_output(log)}")


@pytest.fixture
def app_url(tmp_path):
    """`surge app` on a free port; the server's whole process group is ended afterwards."""
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*_command(), "app", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_serving(url, proc, log, seconds=90)
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _month(page) -> int:
    """The month the status line reports, 0 before the first step."""
    text = page.locator(".surge-status").inner_text()
    return int(text.split("month ")[1].split(" ")[0]) if "month " in text else 0


def _wait_for_month(page, at_least: int) -> None:
    page.wait_for_function(
        """n => {
            const m = document.querySelector('.surge-status')?.innerText.match(/month (\\d+)/);
            return m && Number(m[1]) >= n;
        }""",
        arg=at_least,
        timeout=TIMEOUT_MS,
    )


def _wait_until_still(page, seconds: float) -> int:
    """The month once it has not changed for ``seconds``: a step under way when Pause is
    pressed still finishes."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    month, since = _month(page), time.monotonic()
    while time.monotonic() - since < seconds:
        assert time.monotonic() < deadline, "the run did not stop after Pause"
        time.sleep(0.2)
        if _month(page) != month:
            month, since = _month(page), time.monotonic()
    return month


STATUS = re.compile(r"Phase: [a-z ]+ \(since \d{4}-\d{2}\)\. Date: \d{4}-\d{2}, month \d+ of 480\.")


def _drive(page, url: str, screenshot: Path) -> None:
    page.goto(url, timeout=TIMEOUT_MS)
    step = page.get_by_role("button", name="Step")
    step.wait_for(timeout=TIMEOUT_MS)
    status = page.locator(".surge-status")
    assert status.inner_text().startswith("Not started")

    page.locator(".surge-scenario .v-select__slot").click()
    page.get_by_role("option", name="no_speculation").click()
    page.get_by_text("every investor is a fundamentalist").wait_for(timeout=TIMEOUT_MS)
    chart = page.locator(".surge-charts img")
    before = chart.get_attribute("src")

    for _ in range(4):
        month = _month(page)
        step.click()
        _wait_for_month(page, month + 1)
    assert status.inner_text().startswith("Phase: irruption (since 2018-01). Date: 2018-")
    assert chart.get_attribute("src") != before, "the charts did not change"

    page.get_by_role("button", name="▶").click()
    _wait_for_month(page, 36)
    page.get_by_role("button", name="❚❚").click()
    stopped = _wait_until_still(page, seconds=2.0)
    assert stopped >= 36
    assert STATUS.fullmatch(status.inner_text()), status.inner_text()
    page.screenshot(path=str(screenshot), full_page=True)

    page.get_by_role("button", name="Reset").click()
    page.wait_for_function(
        "() => document.querySelector('.surge-status').innerText.startsWith('Not started')",
        timeout=TIMEOUT_MS,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_app_in_a_browser(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    url, log = app_url
    screenshot = tmp_path / "app.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _drive(page, url, screenshot)
        except Exception as exc:
            raise AssertionError(f"{exc}\n--- `surge app` output ---\n{_output(log)}") from exc
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000


def test_app_command_rejects_a_bad_port(capsys):
    from surge_cli import main

    assert main(["app", "--port", "70000"]) == 2
    assert "invalid port 70000" in capsys.readouterr().err

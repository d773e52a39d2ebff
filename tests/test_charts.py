"""Tests of analysis.charts: inspect the figure objects (axes, labels, patches), not pixels."""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.charts import overview_figure, save_figure, shade_phases
from analysis.phases import PHASE_COLOURS, PHASES, label_phases

N_MONTHS = 180
UNITS = ("USD", "share", "H100e", "index")


def _bubble_table() -> pd.DataFrame:
    """Same shape as tests/test_phases.py::bubble_table, with every output column.

    Phases by construction: irruption 0-28, frenzy 29-60, turning point 61-90, synergy
    91-144, maturity 145-179 (worked out in test_phases.py).
    """
    t = np.arange(N_MONTHS, dtype=float)
    fundamental = 100.0 * np.exp(0.02 * t)
    ratio = np.ones(N_MONTHS)
    ratio[24:61] = 1.0 + (t[24:61] - 24.0) / 18.0
    market = ratio * fundamental
    market[61:91] = market[60] * (1.0 - 0.6 * (t[61:91] - 60.0) / 30.0)
    r90 = market[90] / fundamental[90]
    market[91:] = fundamental[91:] * (r90 + (1.0 - r90) * np.minimum(1.0, (t[91:] - 90.0) / 24.0))
    adoption = 0.8 / (1.0 + np.exp(-(t - 100.0) / 10.0))
    return pd.DataFrame(
        {
            "date": pd.date_range("2015-01-01", periods=N_MONTHS, freq="MS"),
            "market_value_usd_bn": market,
            "fundamental_value_usd_bn": fundamental,
            "valuation_to_fundamentals_ratio": market / fundamental,
            "capex_usd_bn_per_yr": 50.0 + 2.0 * t,
            "capacity_h100e_mn": 1.0 + 0.1 * t,
            "power_gw": 2.0 + 0.05 * t,
            "utilization_share": 0.6 + 0.2 * np.sin(t / 12.0),
            "gpu_rent_usd_per_gpu_hour": 3.0 * np.exp(-0.01 * t),
            "token_price_usd_per_mtok": 30.0 * np.exp(-0.03 * t),
            "adoption_share": adoption,
            "frontier_capability_index": 100.0 * t / (N_MONTHS - 1),
            "stranded_capital_usd_bn": np.cumsum(np.where((t > 60) & (t <= 90), 5.0, 0.0)),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _bubble_table()


@pytest.fixture(scope="module")
def overview(table):
    labels = label_phases(table)
    fig, axes = overview_figure(table, labels, title="Synthetic bubble")
    return fig, axes, labels


def _phase_patches(ax) -> list:
    return [p for p in ax.patches if str(p.get_gid()).startswith("phase:")]


def _x_extent(patch) -> tuple[float, float]:
    """Data x range of an axvspan (a Rectangle since matplotlib 3.9, a Polygon before)."""
    if hasattr(patch, "get_xy") and not hasattr(patch, "get_width"):
        xs = np.asarray(patch.get_xy())[:, 0]
        return float(xs.min()), float(xs.max())
    return float(patch.get_x()), float(patch.get_x() + patch.get_width())


def test_overview_has_seven_panels_plus_capacity_twin(overview) -> None:
    fig, axes, _ = overview
    assert isinstance(fig, Figure)
    assert len(axes) == 7
    assert len(fig.axes) == 8  # 7 panels + the capacity twin of panel 2
    twin = fig.axes[7]
    assert twin not in list(axes)
    assert twin.get_shared_x_axes().joined(twin, axes[1])
    for ax in axes[1:]:
        assert ax.get_shared_x_axes().joined(ax, axes[0])


def test_every_axis_has_a_y_label_with_a_unit(overview) -> None:
    fig, _, _ = overview
    for ax in fig.axes:
        label = ax.get_ylabel()
        assert "(" in label and ")" in label, label
        assert any(unit in label for unit in UNITS), label
    assert "H100e" in fig.axes[7].get_ylabel()
    assert "USD bn/yr" in fig.axes[1].get_ylabel()
    assert "USD/Mtok" in fig.axes[3].get_ylabel()


def test_log_scales_and_data(overview, table) -> None:
    _, axes, _ = overview
    assert axes[0].get_yscale() == "log"
    assert axes[3].get_yscale() == "log"
    assert axes[2].get_yscale() == "linear"
    assert len(axes[0].get_lines()) == 2  # market and fundamental value
    np.testing.assert_allclose(
        axes[0].get_lines()[0].get_ydata(), table["market_value_usd_bn"].to_numpy()
    )


def test_phases_shaded_on_every_panel(overview, table) -> None:
    fig, axes, _ = overview
    for ax in axes:
        patches = _phase_patches(ax)
        assert len(patches) == 5  # one span per phase block, five blocks
        assert [p.get_gid() for p in patches] == [f"phase:{p}" for p in PHASES]
        for patch, phase in zip(patches, PHASES, strict=True):
            np.testing.assert_allclose(
                patch.get_facecolor()[:3],
                tuple(int(PHASE_COLOURS[phase][i : i + 2], 16) / 255 for i in (1, 3, 5)),
            )
            assert patch.get_alpha() == pytest.approx(0.15)
    assert sum(len(_phase_patches(ax)) for ax in fig.axes) == 35  # none on the twin
    # The frenzy span runs from its first month (2017-06) to the start of the month after
    # its last (2020-01 -> 2020-02).
    x0, x1 = _x_extent(_phase_patches(axes[0])[1])
    assert mdates.num2date(x0).date() == pd.Timestamp("2017-06-01").date()
    assert mdates.num2date(x1).date() == pd.Timestamp("2020-02-01").date()


def test_phase_names_on_top_panel_only_and_legend(overview) -> None:
    fig, axes, _ = overview
    top = [t.get_text() for t in axes[0].texts]
    assert top == ["irruption", "frenzy", "turning point", "synergy", "maturity"]
    for ax in axes[1:]:
        assert len(ax.texts) == 0
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "irruption",
        "frenzy",
        "turning point",
        "synergy",
        "maturity",
    ]
    assert fig.get_suptitle() == "Synthetic bubble"


def test_figure_size_fits_a_page_width(overview) -> None:
    fig, _, _ = overview
    width, height = fig.get_size_inches()
    assert width == pytest.approx(7.0)
    assert 7 * 1.3 <= height <= 7 * 1.3 + 1.5


def test_narrow_phase_name_is_shortened(table) -> None:
    labels = pd.Series(
        ["irruption"] * 80 + ["frenzy"] * 40 + ["turning_point"] * 6 + ["synergy"] * 54
    )
    fig, axes = overview_figure(table, labels)
    names = [t.get_text() for t in axes[0].texts]
    assert "turning point" not in names
    assert "TP" in names
    assert len(_phase_patches(axes[0])) == 4


def test_shade_phases_returns_one_patch_per_block(table) -> None:
    ax = Figure().subplots()
    labels = ["irruption"] * 10 + ["synergy"] * 5 + ["maturity"] * 3
    dates = table["date"].iloc[:18]
    patches = shade_phases(ax, dates, labels)
    assert len(patches) == 3
    # Last month 2016-06 is drawn to the start of the following month, 2016-07.
    assert mdates.num2date(_x_extent(patches[-1])[1]).date() == pd.Timestamp("2016-07-01").date()
    with pytest.raises(ValueError):
        shade_phases(ax, dates, labels[:-1])


def test_save_figure_writes_png_atomically(overview, tmp_path) -> None:
    fig, _, _ = overview
    target = tmp_path / "new" / "folder" / "overview.png"
    returned = save_figure(fig, target)
    assert returned == target
    data = target.read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in target.parent.iterdir()] == ["overview.png"]  # no temp file left


def test_save_figure_failure_leaves_nothing(tmp_path, monkeypatch) -> None:
    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_charts_module_does_not_import_sim() -> None:
    import analysis.charts as charts
    import analysis.phases as phases

    for module in (charts, phases):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "import sim" not in source
        assert "from sim" not in source

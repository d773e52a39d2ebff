"""Tests of sim.params: field metadata, scenario loading, `extends` chains and error messages."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from sim.calibration import FREE_PARAMETERS
from sim.params import (
    GROUPS,
    Params,
    ScenarioError,
    load_scenario,
    resolve_key,
)


def _fields():
    return [(group, f) for group, cls in GROUPS.items() for f in dataclasses.fields(cls)]


def _field(group: str, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(GROUPS[group]) if f.name == name)


def _range_text(group: str, name: str) -> str:
    meta = _field(group, name).metadata
    return f"[{meta['lo']}, {meta['hi']}]"


def _write(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _header(name: str, extends: str | Path | None = None) -> str:
    lines = [f'name = "{name}"', 'description = "test scenario"', 'claim = "none"']
    if extends is not None:
        target = extends.as_posix() if isinstance(extends, Path) else extends
        lines.append(f'extends = "{target}"')
    return "\n".join(lines) + "\n"


def _load_error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(("group", "f"), _fields(), ids=lambda x: getattr(x, "name", x))
def test_field_has_unit_doc_and_default_in_range(group, f):
    meta = f.metadata
    assert isinstance(meta["unit"], str) and meta["unit"].strip(), f"{group}.{f.name}: no unit"
    assert isinstance(meta["doc"], str) and meta["doc"].strip(), f"{group}.{f.name}: no doc"
    default = f.default
    if meta["choices"]:
        assert default in meta["choices"]
        return
    if f.type in ("str", str):
        assert isinstance(default, str)
        return
    assert not isinstance(default, bool)
    if f.type in ("int", int):
        assert isinstance(default, int)
    else:
        assert isinstance(default, int | float)
    assert meta["lo"] is not None or meta["hi"] is not None, f"{group}.{f.name}: no range"
    if meta["lo"] is not None:
        assert default >= meta["lo"]
    if meta["hi"] is not None:
        assert default <= meta["hi"]
    if meta["lo"] is not None and meta["hi"] is not None:
        assert meta["lo"] <= meta["hi"]


def test_field_names_are_unique_across_groups():
    names = [f.name for _, f in _fields()]
    assert len(names) == len(set(names))


def test_default_params_are_valid():
    params = Params()
    assert params.run.months == _field("run", "months").default
    assert re.fullmatch(r"\d{4}-\d{2}", params.run.start_month)


# --------------------------------------------------------------------------- named scenarios


def test_load_baseline():
    params = load_scenario("baseline")
    assert params.name == "baseline"
    assert params.description  # read from the file's header
    # baseline sets the calibration's free parameters (fitted to 2018-2024) and no other
    defaults = Params().flat()
    fitted = {key for key, value in params.flat().items() if value != defaults[key]}
    assert fitted == set(FREE_PARAMETERS)


def test_no_speculation_extends_baseline():
    baseline = load_scenario("baseline")
    ablation = load_scenario("no_speculation")
    assert ablation.name == "no_speculation"
    assert ablation.investors.chartist_share_start == 0.0
    assert ablation.investors.herding_strength == 0.0
    assert ablation.investors.switching_intensity == 0.0
    assert baseline.investors.chartist_share_start > 0.0
    assert baseline.investors.herding_strength > 0.0
    changed = {k for k, v in ablation.flat().items() if baseline.flat()[k] != v}
    assert changed, "no_speculation changes nothing"
    assert all(k.startswith("investors.") for k in changed)
    # everything outside [investors] is inherited from baseline
    for group in GROUPS:
        if group != "investors":
            assert getattr(ablation, group) == getattr(baseline, group)


def test_unknown_scenario_name_suggests_closest():
    with pytest.raises(ScenarioError, match=r"unknown scenario 'baselin'.*did you mean 'baseline'"):
        load_scenario("baselin")
    with pytest.raises(ScenarioError, match=r"did you mean 'no_speculation'"):
        load_scenario("no_speculaton")


def test_missing_scenario_file(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ScenarioError, match=re.escape(str(missing))):
        load_scenario(missing)


def test_load_overrides_argument():
    params = load_scenario("no_speculation", overrides={"run.months": 24})
    assert params.run.months == 24
    assert params.investors.chartist_share_start == 0.0


# --------------------------------------------------------------------------- extends


def test_extends_chain_resolves_with_leaf_winning(tmp_path):
    b = _write(
        tmp_path,
        "b",
        _header("b", "baseline")
        + "[investors]\nchartist_trend_gain = 3.0\nherding_strength = 1.0\n"
        + "[run]\nmonths = 120\n",
    )
    a = _write(
        tmp_path,
        "a",
        _header("a", b) + "[investors]\nchartist_trend_gain = 4.0\n",
    )
    params = load_scenario(a)
    assert params.name == "a"
    assert params.investors.chartist_trend_gain == 4.0  # leaf beats b
    assert params.investors.herding_strength == 1.0  # from b
    assert params.run.months == 120  # from b
    # everything else comes from baseline
    base = load_scenario("baseline").flat()
    changed = {k for k, v in params.flat().items() if base[k] != v}
    assert changed == {
        "investors.chartist_trend_gain",
        "investors.herding_strength",
        "run.months",
    }
    # the middle of the chain loads on its own with its own values
    assert load_scenario(b).investors.chartist_trend_gain == 3.0


def test_extends_cycle_is_reported(tmp_path):
    a_path, b_path = tmp_path / "a.toml", tmp_path / "b.toml"
    _write(tmp_path, "a", _header("a", b_path) + "[run]\nmonths = 24\n")
    _write(tmp_path, "b", _header("b", a_path) + "[run]\nmonths = 36\n")
    message = _load_error(a_path)
    assert "cycle" in message
    # the cycle is named once, as found: a -> b -> back to a
    assert "a.toml -> b.toml -> a.toml" in message
    assert message.count(" -> ") == 2


def test_extends_self_is_a_cycle(tmp_path):
    path = tmp_path / "self.toml"
    _write(tmp_path, "self", _header("self", path))
    assert "cycle" in _load_error(path)


def test_extends_unknown_scenario(tmp_path):
    path = _write(tmp_path, "child", _header("child", "basline"))
    message = _load_error(path)
    assert "basline" in message
    assert "did you mean 'baseline'" in message


# --------------------------------------------------------------------------- bad keys


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = _write(tmp_path, "typo", _header("typo") + "[investors]\nchartist_trend_gian = 3.0\n")
    message = _load_error(path)
    assert str(path) in message
    assert "chartist_trend_gian" in message
    assert "did you mean" in message
    assert "chartist_trend_gain" in message.split("did you mean", 1)[1]


def test_unknown_group_names_file_group_and_suggestion(tmp_path):
    path = _write(tmp_path, "typo", _header("typo") + "[investorz]\nchartist_trend_gain = 3.0\n")
    message = _load_error(path)
    assert str(path) in message
    assert "investorz" in message
    assert "did you mean" in message
    assert "investors" in message.split("did you mean", 1)[1]


def test_key_in_wrong_group_is_rejected(tmp_path):
    path = _write(tmp_path, "wrong", _header("wrong") + "[run]\nchartist_trend_gain = 3.0\n")
    message = _load_error(path)
    assert str(path) in message
    # the key exists, in another table: the message says which one
    assert "chartist_trend_gain is not in [run]" in message
    assert "belongs in [investors]" in message


def test_extends_with_a_relative_file_path_resolves_beside_the_file(tmp_path):
    sub = tmp_path / "studies"
    sub.mkdir()
    (sub / "parent.toml").write_text(
        _header("parent") + 'extends = "baseline"\n[investors]\nherding_strength = 0.1\n'
    )
    child = sub / "child.toml"
    child.write_text(_header("child") + 'extends = "parent.toml"\n')
    assert load_scenario(child).investors.herding_strength == 0.1


def test_a_folder_named_like_a_scenario_does_not_hide_it(tmp_path, monkeypatch):
    """`surge run baseline --out baseline` leaves a folder ./baseline; the next
    `surge run baseline` from there must still find the named scenario."""
    (tmp_path / "baseline").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_scenario("baseline").name == "baseline"


def test_missing_parent_names_the_extending_file(tmp_path):
    child = _write(tmp_path, "orphan", _header("orphan") + 'extends = "nowhere.toml"\n')
    message = _load_error(child)
    assert str(child) in message and "nowhere.toml" in message


def test_cross_field_error_names_the_file(tmp_path):
    path = _write(
        tmp_path, "rates", _header("rates") + "[investors]\ndiscount_rate_per_yr = 0.04\n"
    )
    message = _load_error(path)
    assert str(path) in message and "long_run_growth_per_yr" in message


def test_top_level_parameter_must_sit_in_a_table(tmp_path):
    path = _write(tmp_path, "flat", _header("flat") + "months = 24\n")
    message = _load_error(path)
    assert str(path) in message
    assert "months" in message


def test_invalid_toml_names_file(tmp_path):
    path = _write(tmp_path, "broken", _header("broken") + "[investors\nchartist_trend_gain = \n")
    message = _load_error(path)
    assert str(path) in message
    assert "TOML" in message


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("group", "key", "toml_value", "shown"),
    [
        ("investors", "chartist_trend_gain", '"high"', "'high'"),  # string for a float
        ("run", "months", "1.5", "1.5"),  # non-integral float for an int
        ("investors", "chartist_trend_gain", "true", "True"),  # bool for a float
        ("run", "months", "false", "False"),  # bool for an int
        ("investors", "chartist_trend_gain", "-1.0", "-1.0"),  # below lo
        ("investors", "chartist_trend_gain", "1e9", "1000000000.0"),  # above hi
        ("run", "months", "0", "0"),  # below lo
        ("run", "months", "100000", "100000"),  # above hi
        ("investors", "chartist_trend_gain", "nan", "nan"),  # not a finite number
    ],
)
def test_bad_value_names_file_key_value_and_range(tmp_path, group, key, toml_value, shown):
    path = _write(tmp_path, "bad", _header("bad") + f"[{group}]\n{key} = {toml_value}\n")
    message = _load_error(path)
    assert str(path) in message
    assert f"{group}.{key}" in message
    assert shown in message
    assert _range_text(group, key) in message


def test_bad_choice_lists_choices(tmp_path):
    path = _write(tmp_path, "bad", _header("bad") + '[adopters]\npreference = "best"\n')
    message = _load_error(path)
    assert str(path) in message
    assert "adopters.preference" in message
    assert "'best'" in message
    for choice in _field("adopters", "preference").metadata["choices"]:
        assert repr(choice) in message


def test_in_range_values_load(tmp_path):
    path = _write(
        tmp_path,
        "good",
        _header("good")
        + "[run]\nmonths = 36\n"
        + "[investors]\nchartist_trend_gain = 3\n"  # an int is fine for a float
        + '[adopters]\npreference = "good_enough"\n',
    )
    params = load_scenario(path)
    assert params.run.months == 36
    assert params.investors.chartist_trend_gain == 3.0
    assert isinstance(params.investors.chartist_trend_gain, float)
    assert params.adopters.preference == "good_enough"


def test_cross_field_constraint_raises_scenario_error(tmp_path):
    credit = dataclasses.fields(GROUPS["credit"])
    hi = next(f for f in credit if f.name == "leverage_base").metadata["hi"]
    base_max = Params().credit.leverage_max
    assert hi > base_max  # a value in range for the field yet above leverage_max
    path = _write(tmp_path, "lev", _header("lev") + f"[credit]\nleverage_base = {hi}\n")
    assert "leverage_base" in _load_error(path)


# --------------------------------------------------------------------------- overrides, flat


def test_with_overrides_flat_and_dotted_keys():
    params = Params()
    flat = params.with_overrides({"months": 24})
    dotted = params.with_overrides({"run.months": 24})
    assert flat.run.months == 24
    assert dotted.run.months == 24
    assert flat == dotted
    assert params.run.months == _field("run", "months").default  # original untouched
    # only the overridden field changes
    diff = {k for k, v in flat.flat().items() if params.flat()[k] != v}
    assert diff == {"run.months"}


def test_with_overrides_validates():
    params = Params()
    with pytest.raises(ScenarioError, match=r"run\.months = 0 .*\[1, "):
        params.with_overrides({"months": 0})
    with pytest.raises(ScenarioError, match=r"did you mean chartist_trend_gain"):
        params.with_overrides({"chartist_trend_gian": 1.0})
    with pytest.raises(ScenarioError, match=r"did you mean investors\.chartist_trend_gain"):
        params.with_overrides({"investors.chartist_trend_gian": 1.0})
    with pytest.raises(ScenarioError, match=r"unknown group \[investorz\].*\[investors\]"):
        params.with_overrides({"investorz.chartist_trend_gain": 1.0})


def test_resolve_key():
    assert resolve_key("chartist_trend_gain", "x") == ("investors", "chartist_trend_gain")
    assert resolve_key("investors.chartist_trend_gain", "x") == (
        "investors",
        "chartist_trend_gain",
    )
    assert resolve_key("months", "x") == ("run", "months")
    with pytest.raises(ScenarioError, match=r"^somewhere: .*did you mean chartist_trend_gain"):
        resolve_key("chartist_trend_gian", "somewhere")


def test_params_are_frozen():
    params = Params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.run.months = 24
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.run = params.run
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.investors.chartist_trend_gain = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_scenario("baseline").name = "other"


def test_flat_has_one_dotted_entry_per_field():
    params = load_scenario("no_speculation")
    flat = params.flat()
    expected = {f"{group}.{f.name}" for group, f in _fields()}
    assert len(flat) == len(_fields())
    assert set(flat) == expected
    for key, value in flat.items():
        group, name = key.split(".")
        assert value == getattr(getattr(params, group), name)
    assert flat["investors.chartist_share_start"] == 0.0

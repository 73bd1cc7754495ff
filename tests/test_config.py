"""Configuration: examples parse, round trips, every bad value names its key, and a
property test: >= 1000 generated malformed configs all raise CspError (nothing else)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import make_config

from csp.config import ConfigError, load_config, parse_config, parse_toml
from csp.errors import CspError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_minimal_defaults():
    cfg = parse_config(make_config())
    assert cfg.pressures == (50.0,) and cfg.seed == 7
    assert cfg.composition.formula_units == (1, 2)
    assert [str(c) for c in cfg.composition.cell_compositions()] == ["Sr1 (B12)1", "Sr2 (B12)2"]
    assert cfg.search.population_size == 6 and cfg.search.n_initial == 6
    assert cfg.search.spacegroups == (2, 230) and cfg.search.broken_units == "reject"


def test_resolved_config_round_trips():
    d = make_config(pressures=[0, 50], limits={"dmin": {"B-B": 1.3}, "dmin_factor": 0.6},
                    search={"spacegroups": "any", "stop_after_no_improvement": 9})
    del d["pressure"]
    cfg = parse_config(d)
    again = parse_config(tomllib.loads(_to_toml(cfg.to_dict())))
    assert again == cfg
    assert cfg.limits.to_limits().dmin_override == ((("B", "B"), 1.3),)


def _to_toml(d: dict) -> str:
    """Tiny TOML writer for the resolved config (tables one level deep)."""
    import json

    top, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("relaxer",) or (k == "relaxer" and isinstance(v, dict)):
            body = []
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    inner = ", ".join(f"{json.dumps(a)} = {json.dumps(b)}" for a, b in vv.items())
                    body.append(f"{kk} = {{{inner}}}")
                else:
                    body.append(f"{kk} = {json.dumps(vv)}")
            tables.append(f"[{k}]\n" + "\n".join(body))
        else:
            top.append(f"{k} = {json.dumps(v)}")
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


def test_variable_composition_space():
    d = make_config(composition={"blocks": ["Sr", "B", "(B12)"], "max_atoms": 26,
                                 "min_atoms": 13})
    del d["formula_units"]
    space = parse_config(d).composition
    comps = space.cell_compositions()
    assert all(13 <= c.n_atoms <= 26 for c in comps)
    # (B12)2 Sr2 is one of them; count by hand: nB + 12 nB12 + nSr in [13, 26]
    n = sum(1 for b12 in range(3) for b in range(27) for sr in range(27)
            if 13 <= b + 12 * b12 + sr <= 26)
    assert len(comps) == n
    d["composition"]["charge_neutral"] = True
    neutral = parse_config(d).composition.cell_compositions()
    assert neutral and all(c.charge() == 0 for c in neutral) and len(neutral) < n


@pytest.mark.parametrize("change, key", [
    ({"search": {"population_size": -3}}, "[search] population_size must be a positive integer, got -3"),
    ({"pressure": -5}, "pressure must be >= 0 GPa, got -5"),
    ({"composition": "Sr1 (Xy12)1"}, "Xy12"),
    ({"composition": "Qq2"}, "Qq"),
    ({"relaxer": {"name": "nosuchrelaxer"}}, "nosuchrelaxer"),
    ({"relaxer": {"name": "fake", "sleeep": 1}}, "sleeep"),
    ({"search": {"max_evaluations": 0}}, "max_evaluations must be a positive integer, got 0"),
    ({"formula_units": [3, 1]}, "formula_units"),
    ({"formula_units": [40]}, "atoms"),
    ({"search": {"spacegroups": [0, 300]}}, "spacegroups"),
    ({"search": {"broken_units": "maybe"}}, "broken_units"),
    ({"colour": "red"}, "unknown key 'colour' in top level"),
    ({"search": {"populaton_size": 3}}, "unknown key 'populaton_size' in [search]"),
    ({"operators": {"teleport": 0.5}}, "unknown operator 'teleport'"),
    ({"limits": {"dmin": {"B-Q": 1.0}}}, "dmin key 'B-Q'"),
    ({"parallel": {"workers": 0}}, "[parallel] workers"),
    ({"search": {"symmetry_breaking": -0.1}}, "[search] symmetry_breaking"),
    ({"search": {"symmetry_breaking": 2.0}}, "[search] symmetry_breaking"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"pressures": [0, 50]}, "either 'pressure' or 'pressures'"),
])
def test_bad_values_name_their_key(change, key):
    d = make_config()
    for k, v in change.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) and isinstance(d.get(k), dict) else v
    with pytest.raises(ConfigError) as err:
        parse_config(d)
    assert key in str(err.value) and str(err.value).startswith("config error: ")


def test_missing_composition_and_impossible_space():
    d = make_config()
    del d["composition"]
    with pytest.raises(ConfigError, match="missing key 'composition'"):
        parse_config(d)
    d = make_config(composition={"blocks": ["(B12)"], "max_atoms": 11})
    del d["formula_units"]
    with pytest.raises(ConfigError, match="no composition"):
        parse_config(d)


def test_broken_toml_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_toml('composition = "Sr1 (B12)1\n')
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_parse(path):
    cfg = parse_config(tomllib.loads(path.read_text()), base_dir=path.parent)
    assert cfg.search.max_evaluations >= 40 and cfg.composition.cell_compositions()


def test_readme_example_is_the_srb12_search():
    cfg = tomllib.loads((EXAMPLES / "srb12_50gpa.toml").read_text())
    assert cfg["composition"] == "Sr1 (B12)1" and cfg["pressure"] == 50
    assert cfg["formula_units"] == [1, 2] and cfg["relaxer"]["name"] == "sevennet"
    assert 50 <= cfg["search"]["max_evaluations"] <= 70


# ------------------------------------------------------- malformed-config property
POS_INT = ("population_size", "max_evaluations", "tournament_size")
NONNEG_INT = ("initial_population", "stop_after_no_improvement", "max_per_composition")
SEARCH_FLOAT01 = ("random_fraction",)
not_int = st.one_of(st.text(max_size=5), st.floats(allow_nan=True), st.booleans(),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                        st.integers(), max_size=1))
BAD_COMPOSITIONS = ["", "   ", "Sr1 (B12", "(Nope)1", "Xx2", "Sr-1", "sr1", "()", "Sr1 (B12)1 ?",
                    "(B12)0", "Sr0"]


@st.composite
def malformed(draw):
    d = make_config()
    kind = draw(st.sampled_from(["missing", "unknown", "int", "negative", "float", "type",
                                 "composition", "pressure", "toml", "section", "enum"]))
    if kind == "missing":
        del d["composition"]
    elif kind == "unknown":
        section = draw(st.sampled_from(["", "search", "limits", "duplicates", "parallel"]))
        key = draw(st.text("abcdefghij_", min_size=1, max_size=8).filter(
            lambda k: k not in ("name", "seed", "outdir", "pressure", "pressures", "seeds",
                                "relaxer", "search", "operators", "limits", "duplicates",
                                "parallel", "composition")))
        value = draw(st.one_of(st.integers(), st.text(max_size=3), st.booleans()))
        (d if not section else d.setdefault(section, {}))[key] = value
    elif kind == "int":
        d["search"][draw(st.sampled_from(POS_INT + NONNEG_INT))] = draw(not_int)
    elif kind == "negative":
        key = draw(st.sampled_from(POS_INT))
        d["search"][key] = draw(st.integers(max_value=0))
    elif kind == "float":
        section, key, bad = draw(st.sampled_from([
            ("search", "random_fraction", st.floats(min_value=1.0001, allow_infinity=True)),
            ("search", "max_unit_rmsd", st.floats(max_value=0.0)),
            ("limits", "dmin_factor", st.floats(max_value=0.0)),
            ("limits", "max_angle_deg", st.floats(max_value=89.99)),
            ("duplicates", "energy_window", st.floats(max_value=-1e-9)),
            ("duplicates", "relaxed_distance", st.just(float("nan")))]))
        d.setdefault(section, {})[key] = draw(bad)
    elif kind == "type":
        key = draw(st.sampled_from(["seed", "outdir", "name", "formula_units", "seeds"]))
        d[key] = draw(st.one_of(st.floats(), st.dictionaries(st.just("a"), st.integers(),
                                                             min_size=1)))
    elif kind == "composition":
        d["composition"] = draw(st.one_of(st.sampled_from(BAD_COMPOSITIONS), st.integers(),
                                          st.lists(st.text(max_size=3), max_size=2)))
    elif kind == "pressure":
        d["pressure"] = draw(st.one_of(st.floats(max_value=-1e-6), st.text(max_size=3),
                                       st.just([]), st.floats(min_value=1000.1),
                                       st.just(float("nan")), st.booleans()))
    elif kind == "section":
        d[draw(st.sampled_from(["search", "limits", "duplicates", "parallel"]))] = draw(
            st.one_of(st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2)))
    elif kind == "enum":
        d["search"]["broken_units"] = draw(st.text(max_size=6).filter(
            lambda s: s not in ("reject", "keep")))
    else:  # broken TOML text
        return ("toml", draw(st.sampled_from(['\n= 3\n', '\n[search\n', '\nx = "open\n',
                                              '\n[[\n', '\nseed = = 1\n', '\n"k" 1\n'])),
                draw(st.integers(0, 10)))
    return ("dict", d, None)


VALID_TOML = '''seed = 7
outdir = "x"
composition = "Sr1 (B12)1"
pressure = 50
[relaxer]
name = "fake"
[search]
population_size = 4
'''


@settings(max_examples=1000)
@given(malformed())
def test_malformed_configs_raise_csperror(case):
    kind, payload, where = case
    with pytest.raises(CspError):
        if kind == "toml":
            lines = VALID_TOML.splitlines(keepends=True)
            k = where % (len(lines) + 1)
            parse_toml("".join(lines[:k]) + payload + "".join(lines[k:]))
        else:
            parse_config(copy.deepcopy(payload))


def test_seed_files_in_tables_are_relative_to_the_config(tmp_path, monkeypatch):
    from csp.config import load_config
    from csp.seeds import load_seed_atoms

    d = tmp_path / "project"
    d.mkdir()
    load_seed_atoms("xb12", {"X": "Sr"}).write(d / "srb12.cif")
    (d / "search.toml").write_text(
        'composition = "Sr1 (B12)1"\npressure = 50\n[relaxer]\nname = "fake"\n'
        '[[seeds]]\nfile = "srb12.cif"\n')
    monkeypatch.chdir(tmp_path)  # elsewhere: the file is found next to the config
    cfg = load_config(d / "search.toml")
    assert cfg.seeds[0]["file"] == str((d / "srb12.cif").resolve())

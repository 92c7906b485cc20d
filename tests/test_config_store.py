"""Config overrides and hashing; the results store's atomic, resumable writes."""

import dataclasses
import os
from pathlib import Path

import pandas as pd
import pytest

from implicit_bias import config, store
from implicit_bias.errors import ConfigError


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cfg:
    alpha: float = 0.1
    depth: int = 3
    spectrum: tuple[float, ...] = (1.0, 2.0)
    flag: bool = False
    name: str = "x"
    horizon: float | None = None


def test_overrides_are_parsed_to_the_declared_types():
    cfg = config.apply_overrides(
        Cfg(),
        {"alpha": "1e-3", "depth": "4", "spectrum": "10,7,-5", "flag": "true", "horizon": "none"},
    )
    assert cfg == Cfg(alpha=1e-3, depth=4, spectrum=(10.0, 7.0, -5.0), flag=True, horizon=None)
    assert config.apply_overrides(Cfg(), {"horizon": "2.5", "spectrum": "(1, 2)"}).horizon == 2.5
    assert config.apply_overrides(Cfg(), {"depth": 5, "alpha": 1}).alpha == 1.0
    assert config.apply_overrides(Cfg(), {"spectrum": "[3, 4]"}).spectrum == (3.0, 4.0)
    assert config.apply_overrides(Cfg(), {"spectrum": "(1,)"}).spectrum == (1.0,)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"alpah": "0.1"}, r"unknown config key 'alpah'.*valid keys: alpha, depth"),
        ({"depth": "2.5"}, r"'depth'.*expects int, got '2.5'"),
        ({"alpha": "abc"}, r"'alpha'.*expects float"),
        ({"spectrum": "1,x"}, r"'spectrum'.*expects tuple\[float, \.\.\.\]"),
        # an empty item is an error, not dropped (the fuzz test found '[],0.0' parsed as (0.0,))
        ({"spectrum": "[],0.0"}, r"'spectrum'.*expects tuple\[float, \.\.\.\]"),
        ({"spectrum": "1,,2"}, r"'spectrum'.*expects tuple\[float, \.\.\.\]"),
        ({"flag": "maybe"}, r"'flag'.*expects bool"),
    ],
)
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.apply_overrides(Cfg(), overrides)


def test_assignments_and_hash():
    assert config.parse_assignments(["a=1", "b = x,y"]) == {"a": "1", "b": "x,y"}
    with pytest.raises(ConfigError, match="key=value"):
        config.parse_assignments(["oops"])
    h = config.config_hash("exp", Cfg())
    assert h == config.config_hash("exp", Cfg()) and len(h) == 16
    assert h != config.config_hash("exp", Cfg(alpha=0.2))
    assert h != config.config_hash("other", Cfg())
    assert config.from_dict(Cfg, config.to_dict(Cfg(spectrum=(3.0,)))) == Cfg(spectrum=(3.0,))


def _write(path, value=1.0, force=False):
    return store.write_run(
        path,
        config={
            "experiment": "e",
            "hash": path.name,
            "config": {},
            "status": "ok",
            "created": value,
        },
        rows=pd.DataFrame({"t": [0.0, 1.0], "value": [value, value]}),
        checks=[
            {"name": "c", "predicted": 1.0, "observed": value, "tolerance": None, "passed": True}
        ],
        force=force,
    )


def test_store_writes_atomically_and_keeps_the_first_writer(tmp_path):
    path = tmp_path / "e" / "abc"
    _write(path, 1.0)
    assert store.is_done(path)
    assert sorted(p.name for p in path.iterdir()) == [
        "checks.json",
        "config.json",
        "manifest.json",
        "rows.parquet",
    ]
    _write(path, 2.0)  # a concurrent duplicate: discarded
    assert store.read_rows(path).value.iloc[0] == 1.0
    _write(path, 3.0, force=True)  # --force replaces
    assert store.read_rows(path).value.iloc[0] == 3.0
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["abc"]  # no temporary left behind
    assert store.runs(tmp_path) == [path]


def test_interrupted_writes_leave_nothing_half_written(tmp_path):
    # a writer killed mid-run leaves only a temporary folder named after a dead pid
    dead = tmp_path / "e" / f"{store.TMP_PREFIX}abc-{os.uname().nodename}-999999-deadbeef"
    dead.mkdir(parents=True)
    (dead / "rows.parquet").write_text("partial")
    assert store.runs(tmp_path) == []
    assert not store.is_done(tmp_path / "e" / "abc")
    assert store.clean_stale(tmp_path) == 1
    assert not dead.exists()
    assert isinstance(Path(store.DEFAULT_ROOT), Path)


def test_rows_keep_columns_that_first_appear_in_later_rows(tmp_path):
    path = tmp_path / "e" / "keys"
    rows = [
        {"t": 0.0, "series": "a", "value": 1.0},
        {"t": 1.0, "series": "b", "value": 2.0, "m": 7},
    ]
    store.write_run(path, config={"status": "ok"}, rows=rows, checks=[])
    frame = store.read_rows(path)
    assert list(frame.columns) == ["t", "series", "value", "m"]
    assert frame.m.isna().iloc[0] and frame.m.iloc[1] == 7

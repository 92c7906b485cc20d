"""Smoke tests: every experiment runs at its TINY config, returns tidy rows, passing checks and figures."""

import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from implicit_bias import checks, experiments, runner, store
from implicit_bias.checks import Check
from mutation import clean_result, per_experiment

NAMES = experiments.names()


def test_registry_lists_every_module_with_its_contract():
    assert {"dmf_identical", "dmf_perturbed", "dmf_depth", "dmf_effective_rank"} <= set(NAMES)
    for name in NAMES:
        module = experiments.get(name)
        assert module.SEED in {"000", "001", "002", "003", "004"}
        assert experiments.claim(module), f"{name} has no claim line"
        doc = module.__doc__
        assert f"implicit-bias run {name}" in doc, f"{name}: docstring must give the command"
        assert experiments.run_time(module), f"{name}: docstring must state `# ~N s` after it"
        cfg = module.Config()
        assert dataclasses.is_dataclass(cfg) and "seed" in {f.name for f in dataclasses.fields(cfg)}
        hash(cfg)  # configs are hashable (frozen, tuples not lists)


@pytest.mark.parametrize("name", per_experiment(NAMES))
def test_experiment_runs_at_tiny_size(name):
    module = experiments.get(name)
    cfg = experiments.tiny_config(module)
    result = clean_result(name)  # shared with the contract and mutation tests
    rows = pd.DataFrame(result.rows)
    assert len(rows) > 0 and {"t", "series", "value"} <= set(rows.columns)
    assert result.checks and all(isinstance(c, Check) for c in result.checks)
    found = checks.resolve(result.checks)
    # TINY keeps every claim inside its theorem and converged: each claim's status is "pass"
    not_passing = [
        f"{c.name} ({c.status})" for c in found if c.kind == "claim" and c.status != "pass"
    ]
    assert not not_passing, f"claims not passing at the tiny config: {not_passing}"
    broken = [c.name for c in found if c.kind == "sanity" and not c.passed]
    assert not broken, f"sanity checks failed at the tiny config: {broken}"
    # what the runner stores: the rows, plus its sharpness rows unless a column clashes (then it
    # drops them with a note); Parquet must take both (a clash once failed sgd_one_way's reproduce)
    extra = [{"t": 0.0, "series": "sharpness", "i": 0, "fit": "GD", "value": 1.0}]
    extra = [] if runner._type_clash(result.rows, extra) else extra
    assert store._rows_bytes(runner._with_rows(result.rows, extra))
    figures = module.plot(rows, cfg)
    assert figures
    for fig in figures.values():
        assert fig.axes
        plt.close(fig)

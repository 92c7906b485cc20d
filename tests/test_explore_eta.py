"""``explore --eta a:b:n``: a regime map over the step size for any question (issue 21)."""

import numpy as np
import pytest

from implicit_bias import config as config_mod, store
from implicit_bias.errors import ConfigError
from implicit_bias.explore import etamap, main, question
from implicit_bias.explore.question import EtaMap, Question
from implicit_bias.optim import regimes

SMALL = dict(problem="completion", n=6, rank=1, observed=0.6, method="gd", scale=0.5,
             n_steps=2000)  # fmt: skip


def test_parse_linear_and_log():
    assert etamap.parse_eta_grid("0.5:2:4") == pytest.approx((0.5, 1.0, 1.5, 2.0))
    g = etamap.parse_eta_grid("1e-3:1:4:log")
    assert g == pytest.approx((1e-3, 1e-2, 1e-1, 1.0))
    assert etamap.parse_eta_grid("0.5:2:4:lin") == etamap.parse_eta_grid("0.5:2:4")


@pytest.mark.parametrize("text", ["1:0.5:3", "0.1:1", "0.1:1:x", "0.1:1:1", "0:1:3:log",
                                  "a:1:3", "0.1:1:3:cubic", "0.1:inf:3", "0.1:1:1000", "0.1:1:3:log:2"])  # fmt: skip
def test_bad_grids_one_line_naming_the_flag(text):
    with pytest.raises(ConfigError) as e:
        question(**{**SMALL, "eta": text})
    msg = str(e.value)
    assert "--eta" in msg and "\n" not in msg


def test_grid_needs_gd():
    with pytest.raises(ConfigError, match="--eta a:b:n .*--method gd"):
        question(**{**SMALL, "method": "sgd", "eta": "0.1:1:3"})
    with pytest.raises(ConfigError, match="--baseline does not apply"):
        question(**{**SMALL, "eta": "0.1:1:3", "baselines": ("nuclear",)})


def test_cli_bad_grid_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="--eta"):
        main(["completion", "--method", "gd", "--eta", "0.1:1:zero", "--root", str(tmp_path)])


def test_single_eta_is_unchanged():
    q = question(**{**SMALL, "eta": "0.1"})
    assert type(q) is Question and "etas" not in config_mod.to_dict(q)
    m = question(**{**SMALL, "eta": "0.1:0.3:3"})
    assert isinstance(m, EtaMap) and m.eta == 0.1 and m.etas == pytest.approx((0.1, 0.2, 0.3))
    assert config_mod.config_hash("explore", m) != config_mod.config_hash("explore", q)


def test_map_classes_and_rows(tmp_path):
    """A 6×6 completion at 4 geometric η: 2/λ_max at the start is ≈ 0.24, so η = 3 and 0.86 diverge
    and η = 0.07 converges (measured; the classes are asserted)."""
    lines = []
    code = main(["completion", "--n", "6", "--rank", "1", "--observed", "0.6", "--method", "gd",
                 "--scale", "0.5", "--n-steps", "2000", "--eta", "0.07:3:4:log",
                 "--root", str(tmp_path)], echo=lines.append)  # fmt: skip
    assert code == 0
    text = "\n".join(lines)
    assert "regime map:" in text and "λ_max end" in text
    (path,) = store.runs(tmp_path, "explore")
    rows = store.read_rows(path)
    cells = rows[rows.series == "regime"].sort_values("eta")
    assert len(cells) == 4
    regs = list(cells.regime)
    assert regs[0] in regimes.CONVERGED and regs[0] == "converged"
    assert regs[-1] == "diverged" and regs[-2] == "diverged"
    for series in ("loss_end", "lambda_end", "two_over_eta", "edge_ratio"):
        assert (rows.series == series).sum() == 4, series
    two = rows[rows.series == "two_over_eta"].sort_values("eta")
    assert np.allclose(two.value, 2 / two.eta)
    lam = rows[rows.series == "lambda_end"].sort_values("eta").value.to_numpy()
    assert np.isfinite(lam[0]) and lam[0] < 2 / 0.07 and np.isnan(lam[-1])
    cfg = store.read_config(path)
    assert len(cfg["config"]["etas"]) == 4
    assert (path / "figures").exists() or any(path.rglob("*.png")) or any(path.rglob("*.svg"))


def test_classifier_edges():
    tail = np.linspace(1.0, 0.5, regimes.TAIL + 1)
    common = dict(loss_tol=1e-10, diverged=False, tail_loss=tail)
    assert regimes.classify([1.0, 1e-12], 0.1, 5.0, **common) == "converged"
    assert regimes.classify([1.0, 2.0, 1e-12], 0.1, 5.0, **common) == "catapult"
    assert regimes.classify([1.0, 0.5], 0.1, 5.0, **common) == "slow"
    assert regimes.classify([1.0, 0.5], 0.1, 5.0, **{**common, "diverged": True}) == "diverged"
    osc = np.tile([1.0, 1.1], 9)[: regimes.TAIL + 1]
    lam = np.full(osc.size, 20.0)
    assert regimes.classify([1.0, 1.0], 0.1, 20.0, loss_tol=1e-10, diverged=False,
                            tail_loss=osc, tail_lam=lam) == "EoS"  # fmt: skip
    assert regimes.classify([1.0, 1.0], 0.1, 20.0, loss_tol=1e-10, diverged=False,
                            tail_loss=osc, tail_lam=lam / 2) == "oscillating"  # fmt: skip
    # converged at λ within [0.75, 1]·2/η from a start whose flow limit is unstable: EoS
    assert regimes.classify([1.0, 1e-12], 0.1, 18.0, lam_flow=30.0, **common) == "EoS"

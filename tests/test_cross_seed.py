"""Every experiment at several seeds: ``reproduce --seeds`` stores one run per seed, prints the counts
by kind per run and in total, and the report shows each claim's pass rate across the seeds."""

import re

import pytest
from typer.testing import CliRunner

from implicit_bias import checks, experiments, report, store
from implicit_bias.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _rates(root, names):
    """Each claim's pass rate across the seeds stored for each experiment (one config per seed)."""
    rates = {}
    for name in names:
        by_seed = {}
        for path in store.runs(root, name):
            by_seed[store.read_config(path)["config"]["seed"]] = store.read_checks(path)
        rates[name] = checks.pass_rates(by_seed)
    return rates


def test_reproduce_tiny_at_two_seeds_shows_pass_rates(tmp_path):
    # two cheap experiments (~10 s in one process on a quiet 2-core machine)
    names = ["dmf_identical", "dlr_autoencoder"]
    only = [a for n in names for a in ("--only", n)]
    result = invoke(
        "reproduce", "--root", tmp_path, "--tiny", "--seeds", "0,1", "--workers", 1, *only
    )
    assert result.exit_code == 0, result.stdout
    out = " ".join(result.stdout.split())
    for name in names:
        for seed in (0, 1):
            assert f"{name} (seed {seed}): done in" in out
        assert len(store.runs(tmp_path, name)) == 2  # a stored run per seed
    counts = r"claims \d+/\d+ · certified \d+ · hypotheses met \d+/\d+ · sanity \d+/\d+"
    assert re.search(counts, out)
    assert "2 experiments × 2 seeds = 4 runs: claims" in out
    rates = _rates(tmp_path, names)
    n_claims = sum(len(r) for r in rates.values())
    every = sum(r["passed"] == r["n"] == 2 for rs in rates.values() for r in rs)
    assert f"claims passing at every seed: {every}/{n_claims}" in out
    page = (tmp_path / "report.html").read_text()
    assert page.count('<table class="cross-seed">') == len(names)
    assert page.count("Across 2 seeds (0, 1)") == len(names)
    for name in names:  # one row per claim, its k/n, a status per seed
        for r in rates[name]:
            assert f'<td class="num verdict">{r["passed"]}/2</td>' in page
    n_rows = len(re.findall(r'<tr class="rate (?:pass|fail)">', page))
    assert n_rows == n_claims


def test_seeds_are_parsed_as_in_sweeps(tmp_path):
    bad = runner.invoke(app, ["reproduce", "--root", str(tmp_path), "--seeds", "4-1"])
    assert bad.exit_code == 2 and "seeds: expected" in bad.output and "4-1" in bad.output


# Counterexamples found and documented (docs/checks.md "Across seeds"): (experiment, claim, seed).
# Arora et al.'s comparison is empirical, not a theorem; at seed 2 the converged deep runs lose.
KNOWN_COUNTEREXAMPLES = {
    # the comparison over every tabulated m (issue 23): it breaks near the degrees of freedom (116)
    # where the converged deep runs pick wrong low-rank interpolants (docs/seed002.md)
    *{("sensing_completion_depth", f"depth {N} test error ≤ max(nuclear norm's, 0.01) at m = {m}", k)
      for N, m, k in ((3, 150, 0), (3, 150, 4), (4, 150, 0), (4, 150, 3), (4, 200, 1), (4, 200, 4),
                      (4, 250, 2))},
    ("sensing_completion_depth",
     "depth 3: the smallest init scale has a smaller test error than the largest", 2),
    # Gunasekar's conjecture on every 3×3 problem with m = 4: counterexamples at every seed (seed 0
    # #26: tr X_∞/tr X_NN = 1.0089 at every α down to 1e-17), plus follow-ups at α = 1e-14 still on
    # a plateau at the end of their time budget (seed 4 #27, #139) — docs/seed002.md
    *{("sensing_exhaustive3x3", "every problem: limit within 0.001 of the minimum trace at the "
       "smallest α (α = 1e-06; 1e-14 for those not within at 1e-06): failures", k)
      for k in range(5)},
    # "depth beats / matches the nuclear norm" just above the degrees of freedom r(2n − r) = 76
    *{("sensing_lowrank_depth", f"depth {N} error ≤ max(nuclear norm's, 0.01) at m = 80", k)
      for N in (3, 4) for k in (1, 2, 4)},
    # seed 001's one-way claim as the seed states it: rises from inside B_1, outside the step-size
    # condition (ii) (docs/seed001.md)
    *{("sgd_2x2", "rank rises from inside B_1, every step, every run (one-way: B_1 closed)", k)
      for k in (1, 3)},
    # seed 000's "a negative eigenvalue turns negative only after the positive ones are learned"
    # fails at the default Λ = (10, 7, 5, −5) at every seed (the seed only rotates V): the sign
    # change at t = 1.609 comes before λ = 5 is learned at 2.219 (docs/seed000.md, issue 23)
    *{("dmf_perturbed", "λ=-5: W's eigenvalue turns negative only after every positive "
       "eigenvalue is learned", k) for k in range(5)},
}  # fmt: skip


# claims that may go uncompared ("outside" their theorem or "unconverged") at a seed: (experiment,
# a regular expression for the claim). Anything else not compared fails the test (issue 23 §3).
# The sparse ε claims at α = 0.3: β₁ ≥ Q, or the simplified bound's condition fails (README).
EXPECTED_NOT_COMPARED = {
    ("sparse_positive", r"\bα=0\.3: (Q ≤ ‖x_∞‖₁|\(‖x_∞‖₁ − Q\)/Q)"),
    ("sparse_signed", r"\bα=0\.3: (Q ≤ ‖x_∞‖₁|\(‖x_∞‖₁ − Q\)/Q|‖x̂_∞ − x‖₁ ≤ .*CS corollary)"),
    # the first saddle too slow for its plateau hypothesis (ρ₁·τ·Δt̃ ≥ 3) at seeds 3, 4 (2.5, 2.4)
    ("sensing_glrl", r"closest approach"),
    # saddles() needs a log-speed dip: outside where c_k·log10(1/α) < 1.5 (seeds 3, 4)
    ("sensing_glrl", r"saddles\(\) finds each GLRL saddle"),
    # below the degrees of freedom r(2n − r) = 76 the comparison is outside its hypothesis
    ("sensing_lowrank_depth", r"at m = 40$"),
}


def _expected_not_compared(name: str, claim: str) -> bool:
    return any(n == name and re.search(p, claim) for n, p in EXPECTED_NOT_COMPARED)


@pytest.mark.slow
def test_every_claim_passes_at_seeds_0_to_4(tmp_path):
    """Every reproduced experiment at its default size at seeds 0-4: no claim fails at any seed but
    the documented counterexamples (which must still fail), none is missing, and none goes
    uncompared (outside its theorem or unconverged) unless EXPECTED_NOT_COMPARED lists it.
    ~25 min on 2 cores; run with --runslow."""
    result = invoke("reproduce", "--root", tmp_path, "--seeds", "0-4")
    assert result.exit_code == 0, result.stdout
    rates = _rates(tmp_path, experiments.reproduced())
    assert all(len(rs) for rs in rates.values()), "an experiment stored no claim"
    failing = {
        (name, r["name"], seed)
        for name, rs in rates.items()
        for r in rs
        for seed, status in r["statuses"].items()
        if status == "fail"
    }
    assert failing >= KNOWN_COUNTEREXAMPLES, "a documented counterexample no longer fails"
    short = [
        f"{name}: {r['name']} {r['passed']}/{r['compared']} compared {r['statuses']}"
        for name, rs in rates.items()
        for r in rs
        if r["n"] != 5
        or "missing" in r["statuses"].values()
        or any((name, r["name"], seed) not in KNOWN_COUNTEREXAMPLES
               for seed, status in r["statuses"].items() if status == "fail")
        or any(status in ("outside", "unconverged") and not _expected_not_compared(name, r["name"])
               for status in r["statuses"].values())
    ]  # fmt: skip
    assert not short, "claims that fail or are missing at some seed:\n" + "\n".join(short)
    assert (tmp_path / "report.html").is_file()
    page = report.build(tmp_path).read_text()
    assert page.count('<table class="cross-seed">') == len(experiments.reproduced())

"""Checks counted by kind and status everywhere: checks.json, the SQL views, the report, and runs
stored before checks had a kind (they read as claims). Built on hand-written stores: no simulation,
so these run in about a second."""

import re

from implicit_bias import checks, config as config_mod, experiments, query, report, store

NAME = "dmf_identical"  # any registered experiment: the report needs its module for the headings


def _mixed() -> list[checks.Check]:
    """One check of every status: a passing claim, a claim outside its theorem, an unconverged limit
    claim, a failing claim, an unmet hypothesis, a met hypothesis and a sanity check."""
    return checks.resolve([
        checks.hypothesis("β/(c−1) < α", False, predicted="< 0.1", observed=0.107,
                          source="seed 000, Thm 3.1"),
        checks.hypothesis("η below bound (8)", True, predicted="≤ 6.6e-3", observed=5e-3,
                          source="seed 000, Thm 2.2"),
        checks.sanity("solver status optimal", True, predicted="optimal", observed="optimal"),
        checks.close("eigenvalue λ=10 → 10", 10.0, 10.0, 1e-3, source="seed 000, Thm 2.2",
                     basis="O(η) discretization", loss=1e-12, loss_tol=1e-9,
                     requires=("η below bound (8)",)),
        checks.close("W → Ŵ", 1.0, 1.0, 1e-3, source="seed 000, Thm 3.1",
                     basis="theorem bound", requires=("β/(c−1) < α",)),
        checks.at_most("‖X_∞‖_* / ‖X_NN‖_* ≤ 1 + ε", 1.01, 1.4, source="seed 002",
                       basis="solver tol", loss=1e-3, loss_tol=1e-8),
        checks.at_least("rank falls", 2.0, 1.0, source="seed 001", basis="integer count"),
    ])  # fmt: skip


def test_counts_statuses_labels_and_summary():
    found = _mixed()
    by_name = {c.name: c for c in found}
    assert by_name["W → Ŵ"].status == "outside"
    assert by_name["‖X_∞‖_* / ‖X_NN‖_* ≤ 1 + ε"].status == "unconverged"
    assert by_name["rank falls"].status == "fail"
    assert checks.counts(found) == {
        "claims_passed": 1, "claims_total": 2, "claims_outside": 1, "claims_unconverged": 1,
        "claims_certified": 0, "hypotheses_met": 1, "hypotheses_total": 2, "sanity_passed": 1,
        "sanity_total": 1,
    }  # fmt: skip
    assert checks.summary_line(found) == (
        "claims 1/2 · certified 0 · hypotheses met 1/2 · sanity 1/1 "
        "(1 outside the theorem, 1 unconverged)"
    )
    # the failing claim and the unconverged one count against the run; an unmet hypothesis does not
    assert checks.failures(found) == 2
    # the runner's checks_failed (failures_in of the counts) is the number of checks is_failure
    # names, over every mix of these statuses (a failing sanity check included)
    failing_sanity = checks.sanity("solver status optimal", False, predicted="optimal",
                                   observed="infeasible")  # fmt: skip
    pool = [*found, failing_sanity]
    for mask in range(1, 2 ** len(pool)):
        some = [c for i, c in enumerate(pool) if mask >> i & 1]
        assert checks.failures_in(checks.counts(some)) == sum(map(checks.is_failure, some))
    assert [checks.label(c) for c in found] == [
        "not met", "met", "pass", "pass", "outside the theorem", "unconverged", "FAIL",
    ]  # fmt: skip


def _certified(bound: float) -> checks.Check:
    return checks.certified("x_∞ = argmin Φ (certified)", primal=1.5, dual=1.5 - 1e-12, gap=1e-12,
                            feasibility=1e-10, modulus=0.8, bound=bound, accuracy=1e-6,
                            source="seed 003", basis="duality certificate")  # fmt: skip


def test_certified_claims_store_their_certificate_and_are_counted():
    good, bad = checks.resolve([_certified(3e-8), _certified(2e-5)])
    assert (good.status, bad.status) == ("pass", "fail")
    assert good.predicted == "≤ 1e-06 (certified)" and good.observed == 3e-8
    assert "gap 1.00e-12" in good.detail and "modulus μ = 0.8" in good.detail
    d = good.to_dict()
    assert d["certificate"] == {"primal": 1.5, "dual": 1.5 - 1e-12, "gap": 1e-12,
                                "feasibility": 1e-10, "modulus": 0.8, "bound": 3e-8,
                                "accuracy": 1e-6}  # fmt: skip
    assert checks.Check.from_dict(d) == good  # the round trip keeps the certificate
    assert checks.normalize(d)["certificate"] == d["certificate"]
    found = _mixed() + [good, bad]
    assert checks.counts(found)["claims_certified"] == 1
    assert checks.summary_line(found).startswith("claims 2/4 · certified 1 · hypotheses met 1/2")
    assert checks.failures(found) == 3  # the failing certified claim counts against the run


def test_old_stored_checks_read_as_claims():
    old = {"name": "x", "predicted": 1.0, "observed": 2.0, "tolerance": "0.1", "passed": False}
    d = checks.normalize(old)
    assert (d["kind"], d["status"], d["source"], d["basis"], d["loss"], d["certificate"]) == (
        "claim", "fail", "", "", None, None,
    )  # fmt: skip
    assert checks.counts([old, {**old, "passed": True}])["claims_passed"] == 1
    assert checks.label(old) == "FAIL"


def test_pass_rates_across_seeds_mark_missing_claims():
    a = [checks.close("c1", 1, 1, 0.1), checks.close("c2", 1, 1, 0.1)]
    b = [checks.close("c1", 1, 2, 0.1)]
    rates = checks.pass_rates({0: a, 1: b})
    assert [(r["name"], r["passed"], r["failed"], r["compared"], r["n"]) for r in rates] == [
        ("c1", 1, 1, 2, 2),
        ("c2", 1, 0, 1, 2),
    ]
    assert rates[0]["statuses"] == {0: "pass", 1: "fail"}
    assert rates[1]["statuses"] == {0: "pass", 1: "missing"}


def _store_run(root, cfg, found, *, old_format=False):
    h = config_mod.config_hash(NAME, cfg)
    dicts = [c.to_dict() for c in found]
    record = {"experiment": NAME, "hash": h, "config": config_mod.to_dict(cfg), "status": "ok",
              "created": 0.0, "elapsed_s": 0.1, "notes": []}  # fmt: skip
    if old_format:  # as stored before checks had kinds: no counts, no kind/status/source/basis
        keep = ("name", "predicted", "observed", "tolerance", "passed", "detail")
        dicts = [{k: d[k] for k in keep} for d in dicts]
        record.update(checks_passed=sum(d["passed"] for d in dicts), checks_failed=0)
    else:
        record.update(checks.counts(dicts))
    rows = [{"t": 0.0, "series": "loss", "i": 0, "value": 1.0}]
    return store.write_run(store.run_path(root, NAME, h), config=record, rows=rows, checks=dicts)


def _cross_seed_store(root):
    module = experiments.get(NAME)
    base = experiments.tiny_config(module)
    for seed in (0, 1, 2):
        found = _mixed()
        if seed == 2:  # the passing limit claim fails at one seed: 2/3 across seeds
            found = [
                checks.close(c.name, 10.0, 11.0, 1e-3, source=c.source, basis=c.basis,
                             loss=1e-12, loss_tol=1e-9)
                if c.name == "eigenvalue λ=10 → 10" else c
                for c in found
            ]  # fmt: skip
        _store_run(root, config_mod.apply_overrides(base, {"seed": seed}), found)
    old_cfg = config_mod.apply_overrides(base, {"alpha": 0.05})
    _store_run(root, old_cfg, [checks.close("old claim", 1, 1, 0.1)], old_format=True)


def test_query_views_have_kinds_statuses_and_counts(tmp_path):
    _cross_seed_store(tmp_path)
    df = query.query(
        "SELECT kind, status, source, basis, loss, loss_tol FROM checks "
        "WHERE name = '‖X_∞‖_* / ‖X_NN‖_* ≤ 1 + ε' ORDER BY ALL",
        tmp_path,
    )
    assert len(df) == 3 and set(df["status"]) == {"unconverged"}
    assert df["loss"].iloc[0] == 1e-3 and df["loss_tol"].iloc[0] == 1e-8
    assert df["basis"].iloc[0] == "solver tol" and df["source"].iloc[0] == "seed 002"
    runs = query.query(
        "SELECT seed, alpha, claims_passed, claims_total, claims_outside, claims_unconverged, "
        "hypotheses_met, hypotheses_total, sanity_passed, sanity_total FROM runs ORDER BY alpha, seed",
        tmp_path,
    )
    assert runs.iloc[0][2:].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]  # the old run: one claim
    assert runs.iloc[1][2:].tolist() == [1, 2, 1, 1, 1, 2, 1, 1]
    assert runs.iloc[3]["claims_passed"] == 0  # seed 2
    old = query.query("SELECT kind, status FROM checks WHERE name = 'old claim'", tmp_path)
    assert old.values.tolist() == [["claim", "pass"]]


def test_report_shows_counts_statuses_and_pass_rates_across_seeds(tmp_path):
    _cross_seed_store(tmp_path)
    page = report.build(tmp_path).read_text()
    # header: counts over every shown run (3 seeds + the old run)
    assert (
        "claims 3/7 · certified 0 · hypotheses met 3/6 · sanity 3/3 "
        "(3 outside the theorem, 3 unconverged)" in page
    )
    assert "across seeds: 0 of 4 claims pass at every seed, 2 fail at some seed" in page
    # one run shown in full, the others summarized by seed
    assert page.count('<h4 class="cross-seed">Across 3 seeds (0, 1, 2)') == 1
    assert page.count('<table class="checks">') == 2  # seed 0 of the group + the old-format run
    rate = re.search(r"<tr class=\"rate fail\"><td>eigenvalue λ=10 → 10</td>"
                     r"<td>seed 000, Thm 2.2</td><td class=\"num verdict\">2/3</td>"
                     r"<td class=\"num\">3</td>", page)  # fmt: skip
    assert rate, "the claim that fails at seed 2 shows 2/3 compared, 3 run"
    assert '<span class="st outside">1: outside the theorem</span>' in page
    # statuses are visible and distinct; the loss a limit claim was evaluated at is shown
    assert '<tr class="check outside" data-kind="claim">' in page
    assert '<tr class="check unconverged" data-kind="claim">' in page
    assert '<tr class="check not-met" data-kind="hypothesis">' in page
    assert "outside the theorem" in page and "at loss 0.001 (converged ≤ 1e-08)" in page
    assert "O(η) discretization" in page and "requires: β/(c−1) &lt; α" in page

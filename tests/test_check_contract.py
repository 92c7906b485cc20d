"""The check contract, for every experiment's TINY run (shared with the smoke and mutation tests via
``mutation.clean_result``): every check has a kind; every claim names its source, a seed; every claim
or hypothesis that compares a number with a tolerance or a bound says where that tolerance comes from
(``basis``); a claim about a limit that records its loss also records the loss tolerance; every
hypothesis a claim ``requires`` is among the run's checks."""

import re

import pytest

from implicit_bias import checks, experiments
from mutation import clean_result, per_experiment

NAMES = experiments.names()
SEED_SOURCE = re.compile(r"\bseed 00[0-4]\b")


def _compares_a_number(c: checks.Check) -> bool:
    """close() records a tolerance; at_most()/at_least() record the bound as "≤ b" / "≥ b"."""
    if c.tolerance is not None:
        return True
    return isinstance(c.predicted, str) and c.predicted.startswith(("≤ ", "≥ "))


@pytest.mark.parametrize("name", per_experiment(NAMES))
def test_every_check_keeps_the_contract(name):
    found = clean_result(name).checks
    resolved = checks.resolve(found)  # raises if a claim requires an unknown hypothesis
    problems = []
    for c in resolved:
        if c.kind not in checks.KINDS:
            problems.append(f"{c.name!r}: kind {c.kind!r}")
        if c.kind == "claim" and not SEED_SOURCE.search(c.source or ""):
            problems.append(
                f"claim {c.name!r}: source {c.source!r} names no seed (e.g. 'seed 000, Thm 2.2')"
            )
        if (
            c.kind in ("claim", "hypothesis")
            and _compares_a_number(c)
            and not (c.basis or "").strip()
        ):
            problems.append(
                f"{c.kind} {c.name!r}: compares with a tolerance or bound but has no basis"
            )
        if c.loss is not None and c.loss_tol is None:
            problems.append(f"{c.name!r}: records the loss {c.loss} but no loss_tol")
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)
    assert any(c.kind == "claim" for c in resolved), f"{name} records no claim"

"""Mutants of ``arora2019``: each claim of the TINY run (20×20, rank 2, m = 160, depths 1 and 3)
must be failed by a deliberate defect. Depth 1's test error of exactly 1 is a sanity check since issue
23 (an identity of the flow from 0), so the only claim at TINY is depth 3's. Measured under load:
248 s wall for three TINY runs (each ~16 s of CPU time); two since issue 23."""

import pytest

from mutation import Mutant, check_mutants


def deep_is_depth_one(mp, module):
    """Every depth ≥ 2 replaced by the depth-1 flow from 0 (no factorization at all)."""
    real = module._model
    mp.setattr(module, "_model", lambda cfg, depth: real(cfg, 1))


MUTANTS = {
    "arora2019": [
        Mutant("depth ≥ 2 replaced by depth 1", deep_is_depth_one, kills=(r"^depth 3 test error",)),
    ]
}


@pytest.mark.xdist_group("experiment:arora2019")  # shares clean_result with its smoke test
def test_arora2019_mutants():
    check_mutants("arora2019", MUTANTS["arora2019"])

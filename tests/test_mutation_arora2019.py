"""Mutants of ``arora2019``: each claim of the TINY run (20×20, rank 2, m = 160, depths 1 and 3)
must be failed by a deliberate defect. Measured under load: 248 s wall (three TINY runs, each ~16 s
of CPU time)."""

import pytest

from mutation import Mutant, check_mutants


def deep_is_depth_one(mp, module):
    """Every depth ≥ 2 replaced by the depth-1 flow from 0 (no factorization at all)."""
    real = module._model
    mp.setattr(module, "_model", lambda cfg, depth: real(cfg, 1))


def depth_one_from_noise(mp, module):
    """Depth 1 started from a Gaussian W(0) of scale 0.1 instead of 0: the unobserved entries move."""
    real = module._model

    def patched(cfg, depth):
        if depth == 1:
            return module.DeepMatrix(depth=1, n=cfg.n, init="gaussian", alpha=0.1)
        return real(cfg, depth)

    mp.setattr(module, "_model", patched)


MUTANTS = {
    "arora2019": [
        Mutant("depth ≥ 2 replaced by depth 1", deep_is_depth_one, kills=(r"^depth 3 test error",)),
        Mutant("depth 1 from a random W(0)", depth_one_from_noise, kills=(r"^depth 1 ",)),
    ]
}


@pytest.mark.xdist_group("experiment:arora2019")  # shares clean_result with its smoke test
def test_arora2019_mutants():
    check_mutants("arora2019", MUTANTS["arora2019"])

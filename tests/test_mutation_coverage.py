"""Every experiment has mutants: some ``tests/test_mutation_*.py`` module lists it in its ``MUTANTS``
dict (``{experiment: [Mutant, …]}``, run by a test that calls ``mutation.check_mutants``). Nothing is
skipped: a missing module or entry fails here, naming the experiments without mutants."""

import importlib
from pathlib import Path

from implicit_bias import experiments
from mutation import Mutant

HERE = Path(__file__).parent


def _mutant_modules() -> dict[str, dict]:
    found = {}
    for path in sorted(HERE.glob("test_mutation_*.py")):
        if path.stem == "test_mutation_coverage":
            continue
        module = importlib.import_module(path.stem)
        found[path.name] = getattr(module, "MUTANTS", None)
    return found


def test_every_experiment_has_mutants():
    modules = _mutant_modules()
    problems = [
        f"{f} defines no MUTANTS dict" for f, m in modules.items() if not isinstance(m, dict)
    ]
    covered = {}
    for f, mutants in modules.items():
        for name, listed in (mutants or {}).items():
            if name not in experiments.names():
                problems.append(f"{f}: MUTANTS names no experiment {name!r}")
            elif not listed or not all(isinstance(m, Mutant) for m in listed):
                problems.append(f"{f}: MUTANTS[{name!r}] must be a non-empty list of Mutant")
            else:
                covered.setdefault(name, []).append(f)
    missing = [n for n in experiments.names() if n not in covered]
    if missing:
        problems.append(
            f"{len(missing)} of {len(experiments.names())} experiments have no mutants in any "
            f"tests/test_mutation_*.py: {', '.join(missing)}"
        )
    assert not problems, "\n".join(problems)

"""``implicit-bias explore``: flags or a TOML study (``--spec``, a grid), seeds, the local Dask
cluster for a grid, and the lines printed per stored question."""

import dataclasses
from pathlib import Path

from implicit_bias import checks, store
from implicit_bias.errors import ConfigError
from implicit_bias.explore.question import PROBLEMS, Question, question
from implicit_bias.explore.runs import execute


def parse_seeds(text: str) -> list[int]:
    out = []
    for part in str(text).split(","):
        a, _, b = part.partition("-")
        try:
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
        except ValueError:
            raise ConfigError(f"seeds must look like 0-9 or 0,2,5, got {text!r}") from None
    return out


def read_spec(path: str) -> list[Question]:
    """A study file: ``[question]`` (fixed fields) and ``[grid]`` (lists, their product) as TOML."""
    import itertools
    import tomllib

    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    unknown = set(spec) - {"question", "grid", "seeds"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown sections {sorted(unknown)}; use [question], [grid] and seeds"
        )
    fixed, grid = spec.get("question", {}), spec.get("grid", {})
    fields = {f.name for f in dataclasses.fields(Question)}
    for k in [*fixed, *grid]:
        if k not in fields:
            raise ConfigError(f"{path}: unknown field {k!r}; fields: {', '.join(sorted(fields))}")
    keys = list(grid)
    out = []
    for values in itertools.product(
        *(grid[k] if isinstance(grid[k], list) else [grid[k]] for k in keys)
    ):
        merged = {**fixed, **dict(zip(keys, values))}
        merged = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
        out.append(question(**merged))
    return out


def run_grid(questions: list[Question], *, root=store.DEFAULT_ROOT, n_workers=None, force=False):
    """Every question on the local Dask cluster (one process per core); yields (Question, Outcome)."""
    from distributed import Client, as_completed

    from implicit_bias.cluster import local_cluster

    cluster = local_cluster(n_workers)
    client = Client(cluster)
    try:
        futures = {
            client.submit(execute, q, root=Path(root).resolve(), force=force, pure=False): q
            for q in questions
        }
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        cluster.close()


def summary(outcome) -> list[str]:
    """The lines ``explore`` prints for one stored run."""
    cfg = store.read_config(outcome.path)
    rows = store.read_rows(outcome.path)
    lines = [f"stored: {outcome.path} ({outcome.status}, {cfg.get('elapsed_s', 0):.1f} s)"]
    loss = rows[rows.series == "loss"].sort_values("t").value.to_numpy()
    if loss.size:
        lines.append(f"loss: {loss[0]:.3g} → {loss[-1]:.3g}")
    er = rows[rows.series == "effective_rank"].sort_values("t").value.to_numpy()
    if er.size:
        lines.append(f"effective rank: {er[0]:.3g} → {er[-1]:.3g}")
    for series in sorted(s for s in rows.series.unique() if s.startswith("distance_to_")):
        v = rows[rows.series == series].sort_values("t").value.to_numpy()
        lines.append(
            f"relative distance to {series.removeprefix('distance_to_')}: {v[0]:.3g} → {v[-1]:.3g}"
        )
    lines += [n for n in cfg.get("notes", []) if n.startswith("theory:")]
    fmt = lambda x: f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731
    for c in outcome.checks:
        label = f" [{c['source']}]" if c.get("source") else ""
        status = c.get("status") or ("pass" if c["passed"] else "fail")
        lines.append(
            f"  {status:>11}  {c['name']}{label}: {fmt(c.get('observed'))} (predicted {fmt(c.get('predicted'))})"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# the command


def _parser():
    import argparse

    ap = argparse.ArgumentParser(
        prog="implicit-bias explore",
        description="Ask your own question: a problem, a model, a method and baselines; stored and "
        "reported like an experiment, with the theory checks that apply.",
    )
    ap.add_argument("problem", nargs="?", choices=PROBLEMS)
    defaults = Question()
    for f in dataclasses.fields(Question):
        if f.name in ("problem", "data_sha256", "baselines", "data"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            ap.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=None,
                            help=f"true/false (default {default})")  # fmt: skip
        elif isinstance(default, tuple):
            ap.add_argument(flag, type=lambda v: tuple(float(x) for x in v.split(",")), default=None,
                            help="comma-separated numbers")  # fmt: skip
        else:
            ap.add_argument(flag, type=type(default), default=None, help=f"default {default}")
    ap.add_argument("--alpha", dest="scale", type=float, help="same as --scale")
    ap.add_argument("--data", "--entries", dest="data", help="a data file (.npy .npz .mtx .csv)")
    ap.add_argument(
        "--baseline", action="append", default=None, help="l2, nuclear, l1, rrr (repeat)"
    )
    ap.add_argument("--spec", help="a TOML study file: [question] fields and a [grid] of lists")
    ap.add_argument("--seeds", help="seeds for every question, e.g. 0-9")
    ap.add_argument("--root", default=str(store.DEFAULT_ROOT), help="results store folder")
    ap.add_argument(
        "--workers", type=int, default=None, help="Dask workers for a grid (default: cores)"
    )
    ap.add_argument("--force", action="store_true", help="recompute a stored question")
    return ap


def main(argv: list[str], echo=print) -> int:
    """``implicit-bias explore ...``: returns the exit code (1 if a theory check failed)."""
    args = _parser().parse_args(argv)
    root = Path(args.root)
    fields = {k: v for k, v in vars(args).items()
              if k not in ("spec", "seeds", "root", "workers", "force", "baseline")}  # fmt: skip
    if args.baseline:
        fields["baselines"] = tuple(b for item in args.baseline for b in item.split(","))
    if args.spec:
        questions = read_spec(args.spec)
    else:
        if args.problem is None:
            raise ConfigError(
                "give a problem (full, sensing, completion, sparse, regression) or --spec FILE"
            )
        questions = [question(**fields)]
    if args.seeds:
        seeds = parse_seeds(args.seeds)
        questions = [dataclasses.replace(q, seed=s) for q in questions for s in seeds]
    failed = 0
    if len(questions) == 1:
        outcomes = [(questions[0], execute(questions[0], root=root, force=args.force))]
    else:
        echo(f"{len(questions)} questions on the local Dask cluster")
        outcomes = run_grid(questions, root=root, n_workers=args.workers, force=args.force)
    for q, outcome in outcomes:
        if len(questions) > 1:
            echo(
                f"— {q.problem} model={q.model} depth={q.depth} scale={q.scale:g} method={q.method} seed={q.seed}"
            )
        for line in summary(outcome):
            echo(line)
        failed += checks.failures(outcome.checks) + (outcome.status == "failed")
    return 1 if failed else 0

"""``implicit-bias explore``: flags or a TOML study (``--spec``, a grid), seeds, the local Dask
cluster for a grid, and the lines printed per stored question."""

import dataclasses
import textwrap
from pathlib import Path

from implicit_bias import checks, store
from implicit_bias.errors import ConfigError
from implicit_bias.explore.question import Question, question
from implicit_bias.explore.runs import execute


def parse_seeds(text: str) -> list[int]:
    """'0-9' → [0, …, 9]; '0,2,5' → [0, 2, 5] (the sweeps' parser and limits, and the seed range)."""
    return _seed_list(text)


def read_spec(
    path: str, overrides: dict | None = None, *, seeds=None, max_questions: int | None = None
) -> list[Question]:
    """A study file: ``[question]`` (fixed fields), ``[grid]`` (lists, their product) and ``seeds``
    (e.g. "0-9": every question at each) as TOML; ``overrides`` (flags given with ``--spec``) replace
    fields of every question, ``seeds`` (a list, from ``--seeds``) the file's. More than
    ``max_questions`` questions are refused before any is built."""
    import itertools
    import math
    import tomllib

    try:
        spec = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (a TOML study file is UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {_first_line(e)}") from None
    unknown = set(spec) - {"question", "grid", "seeds"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown sections {sorted(unknown)}; use [question], [grid] and seeds"
        )
    fixed, grid = spec.get("question", {}), spec.get("grid", {})
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise ConfigError(f"{path}: [question] and [grid] must be tables")
    fields = {f.name for f in dataclasses.fields(Question)} - {"data_sha256", "truth_sha256"}
    for k in [*fixed, *grid]:
        if k not in fields:
            raise ConfigError(f"{path}: unknown field {k!r}; fields: {', '.join(sorted(fields))}")
    keys = list(grid)
    empty = [k for k in keys if isinstance(grid[k], list) and not grid[k]]
    if empty:
        raise ConfigError(f"{path}: [grid] {empty[0]} is an empty list (the grid would be empty)")
    if "seeds" in spec and "seed" in {*fixed, *grid}:
        raise ConfigError(f"{path}: give seed or seeds, not both")
    if seeds is None and "seeds" in spec:  # --seeds replaces the file's seeds (and seed)
        if "seed" in (overrides or {}):
            raise ConfigError(f"{path} has seeds: --seed does not apply (use --seeds)")
        try:
            seeds = _seed_list(spec["seeds"])
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    lists = [grid[k] if isinstance(grid[k], list) else [grid[k]] for k in keys]
    size = math.prod(len(v) for v in lists) * (len(seeds) if seeds is not None else 1)
    if max_questions is not None and size > max_questions:
        raise ConfigError(
            f"{size:,} questions (grid × seeds) is more than {max_questions}: pass --yes"
        )
    out = []
    for values in itertools.product(*lists):
        merged = {**fixed, **dict(zip(keys, values)), **(overrides or {})}
        merged = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
        out.append(question(**merged))
    if seeds is not None:
        out = [dataclasses.replace(q, seed=s) for q in out for s in seeds]
    return out


def _first_line(e: Exception) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _seed_list(text) -> list[int]:
    """``parse_seeds``, refusing seeds outside the Question's seed range."""
    from implicit_bias import config as config_mod, sweep as sweep_mod

    seeds = list(sweep_mod.parse_seeds(text))
    top = config_mod.domains(Question)["seed"].le
    bad = [s for s in seeds if s > top]
    if bad:
        raise ConfigError(f"seeds: {bad[0]} is above the largest seed {top}")
    return seeds


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
    """The lines ``explore`` prints for one stored run: the loss, the test error and each baseline's,
    what happened (convergence, diagnostics), the theory and the checks (≤ 80 columns each)."""
    cfg = store.read_config(outcome.path)
    lines = [f"stored: {outcome.path} ({outcome.status}, {cfg.get('elapsed_s', 0):.1f} s)"]
    if outcome.status == "failed":
        err = outcome.error or store.read_error(outcome.path) or {}
        lines.append(f"failed: {err.get('type', 'error')}: {err.get('message', '')}")
        return lines
    rows = store.read_rows(outcome.path)
    series = lambda name: rows[rows.series == name].sort_values("t").value.to_numpy()  # noqa: E731
    loss = series("loss")
    if loss.size:
        lines.append(f"loss: {loss[0]:.3g} → {loss[-1]:.3g}")
    er = series("effective_rank")
    if er.size:
        lines.append(f"effective rank: {er[0]:.3g} → {er[-1]:.3g}")
    for name in sorted(s for s in rows.series.unique() if s.startswith("distance_to_")):
        v = series(name)
        if name.startswith("distance_to_rrr") and len(v):
            continue  # a family: the diagnostics name the nearest member
        lines.append(
            f"relative distance to {name.removeprefix('distance_to_')}: {v[0]:.3g} → {v[-1]:.3g}"
        )
    space = "prediction_distance_to_rrr"  # regression: compare predictions XW, not W
    family = [s for s in rows.series.unique() if s.startswith(space)]
    if family:
        ends = {s.removeprefix("prediction_distance_to_"): series(s)[-1] for s in family}
        k = min(ends, key=ends.get)
        lines.append(f"nearest reduced-rank solution in prediction space: {k} (relative "
                     f"distance ‖X(W − W^k)‖/‖XW^k‖ = {ends[k]:.3g})")  # fmt: skip
    table, after = [], []  # tables (the limit path, the saddles) are printed as they are
    for n in cfg.get("notes", []):
        if n.startswith(("the path:\n", "regime map:\n")):
            table = n.splitlines()
        elif n.startswith("saddles:"):
            after += n.splitlines()
        elif n.startswith(("convergence:", "diagnostic:", "data:", "theory:", "path:", "time scale:")):
            lines.append(n.removeprefix("diagnostic: "))
    fmt = lambda x: f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731
    for c in outcome.checks:
        status = c.get("status") or ("pass" if c["passed"] else "fail")
        lines.append(f"  {status:>11}  {c['name']}: {fmt(c.get('observed'))} "
                     f"(predicted {fmt(c.get('predicted'))})")  # fmt: skip
    filled = [textwrap.fill(ln, 80, subsequent_indent="    ", break_long_words=False) for ln in lines]
    return filled[:1] + table + filled[1:] + after


# ---------------------------------------------------------------------------------------------
# the command: a Typer command whose flags are the Question's fields (one per field, grouped by
# what they configure), every value parsed by the experiments' validator (``question``)

PANELS = {
    "Problem": ("n", "n_cols", "rank", "spectrum", "symmetric", "m", "ensemble", "observed", "s",
                "signed", "p", "d"),
    "Data (your own, or a package's)": ("data", "truth", "holdout"),
    "Model": ("model", "depth", "init", "scale", "width"),
    "Method": ("method", "eta", "n_steps", "t1", "rel_tol", "solver", "lam", "batch_size", "n_saves"),
    "Baselines and seed": ("baselines", "seed"),
}  # fmt: skip
ALIASES = {  # flags people type from other tools → ours (a "did you mean" beyond spelling)
    "--lr": "--eta", "--learning-rate": "--eta", "--step-size": "--eta", "--steps": "--n-steps",
    "--iterations": "--n-steps", "--init-scale": "--scale", "--sigma": "--scale",
    "--layers": "--depth", "--entries-file": "--data", "--file": "--data", "--mask": "--data",
    "--test": "--holdout", "--test-fraction": "--holdout", "--ground-truth": "--truth",
}  # fmt: skip
MAX_QUESTIONS = 100  # a larger grid (questions × seeds) needs --yes: each question is a stored run

EPILOG = (
    "Data formats (--data): an entries table row,col,value (0-based indices; ',', ';', tab or "
    "spaces; an optional header whose names row/col/value may come in any order), a matrix with "
    "NaN (or empty fields) for the missing entries (.csv .npy .npz), Matrix Market .mtx, or an "
    ".npz with named arrays: sensing A (m,a,b) and X; sparse A and y; regression X and Y. "
    "Package sources: skimage:camera (an image to complete), sklearn:digits and sklearn:linnerud "
    "(regression), scipy:dct and sklearn:digits-dictionary (sparse recovery), installed by "
    "pip install 'implicit-bias\\[examples]'. A test error needs --truth FILE, --holdout FRACTION, a "
    "complete matrix with --observed, or a random instance."
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(name: str, default) -> str:
    if default in ("", 0, 0.0, ()) and not isinstance(default, bool):
        return "auto" if name in ("init", "solver", "t1", "n", "n_cols") else "none"
    if isinstance(default, bool):
        return "true" if default else "false"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _metavar(dom) -> str:
    if dom.choices:
        return "|".join(str(c) for c in dom.choices if c != "") if len(dom.choices) <= 5 else "NAME"
    if dom.kind is tuple:
        return "NAME,…" if dom.item is not None and dom.item.choices else "X,Y,…"
    return {int: "INT", float: "FLOAT", bool: "BOOL"}.get(dom.kind, "FILE")


def _signature():
    """The explore command's parameters: the problem, one option per Question field, the study's."""
    import inspect
    from typing import Annotated

    import typer

    from implicit_bias import config as config_mod
    from implicit_bias.explore.question import FIELD_HELP

    P = inspect.Parameter
    params = [P("problem", P.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
        str | None, typer.Argument(help="full | sensing | completion | sparse | regression",
                                   show_default=False)])]  # fmt: skip
    defaults = Question()
    domains = config_mod.domains(Question)
    panel_of = {f: panel for panel, fields in PANELS.items() for f in fields}
    for f in dataclasses.fields(Question):
        if f.name not in panel_of:
            continue
        names = [_flag(f.name)]
        if f.name == "scale":
            names.append("--alpha")
        if f.name == "data":
            names.append("--entries")
        if f.name == "baselines":
            names = ["--baseline", "--baselines"]
        help_ = (
            FIELD_HELP[f.name] + f" (default: {_default_text(f.name, getattr(defaults, f.name))})"
        )
        kind = list[str] | None if f.name == "baselines" else str | None
        option = typer.Option(*names, help=help_, rich_help_panel=panel_of[f.name],
                              show_default=False, metavar=_metavar(domains[f.name]))  # fmt: skip
        params.append(P(f.name, P.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]))
    study = "Study (grid, seeds, store)"
    for name, kind, opt in (
        ("spec", str | None, typer.Option(help="a TOML study: \\[question] fields and a \\[grid] of lists", rich_help_panel=study)),
        ("seeds", str | None, typer.Option(help="every question at these seeds, e.g. 0-9 or 0,2,5", rich_help_panel=study)),
        ("root", str, typer.Option(help="the results store folder", rich_help_panel=study)),
        ("workers", int | None, typer.Option(help="Dask workers for a grid (default: one per core); 1: one question after another in this process, with live progress", rich_help_panel=study)),
        ("force", bool, typer.Option("--force", help="recompute a stored question", rich_help_panel=study)),
        ("yes", bool, typer.Option("--yes", help=f"run a grid of more than {MAX_QUESTIONS} questions", rich_help_panel=study)),
    ):  # fmt: skip
        default = {"root": str(store.DEFAULT_ROOT), "force": False, "yes": False}.get(name)
        params.append(P(name, P.KEYWORD_ONLY, default=default, annotation=Annotated[kind, opt]))
    return inspect.Signature(params)


def register(app, wrap=lambda fn: fn) -> None:
    """Add ``explore`` to the Typer ``app`` (``wrap``: the CLI's one-line error handler)."""
    import typer
    import typer.core

    class Command(typer.core.TyperCommand):
        """Unknown flags get "did you mean" from click, plus the names other tools use."""

        def parse_args(self, ctx, args):
            try:
                return super().parse_args(ctx, args)
            except Exception as e:  # Typer's (vendored) click.NoSuchOption
                hint = ALIASES.get(getattr(e, "option_name", None))
                if hint and hasattr(e, "possibilities"):
                    e.possibilities = [hint]
                raise

    def explore(**kwargs):
        raise typer.Exit(run_command(kwargs))

    explore.__signature__ = _signature()
    explore.__doc__ = (
        "Ask your own question: a problem × model × method × baselines, on a random instance, "
        "your data or a package's; stored and reported like an experiment, with a test error "
        "where a truth is known and the theory checks whose hypotheses it meets."
    )
    app.command("explore", cls=Command, epilog=EPILOG)(wrap(explore))


def main(argv: list[str], echo=print) -> int:
    """``implicit-bias explore ...`` in-process: the exit code (1 if a check failed, 3 if a run
    failed). Bad flags raise ConfigError (the CLI prints it in one line)."""
    import typer

    app = typer.Typer(add_completion=False)
    register(app)
    app.command("_")(lambda: None)  # a second command keeps "explore" a named subcommand
    command = typer.main.get_command(app)
    _ECHO[0] = echo
    try:
        code = command.main(["explore", *argv], standalone_mode=False, prog_name="implicit-bias")
    except typer.Exit as e:
        return e.exit_code
    except ConfigError:
        raise
    except Exception as e:  # Typer's (vendored) click.ClickException: a usage error
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            raise ConfigError(e.format_message()) from None
        raise
    finally:
        _ECHO[0] = print
    return code if isinstance(code, int) else 0


_ECHO = [print]


def run_command(opts: dict, echo=None) -> int:
    """The explore command's work, from its parsed options: the exit code."""
    from implicit_bias import sweep as sweep_mod
    from implicit_bias.explore.build import describe

    echo = echo or _ECHO[0]
    root = Path(opts.pop("root"))
    store.check_output_folder(root, "--root")
    spec, seeds, workers = opts.pop("spec"), opts.pop("seeds"), opts.pop("workers")
    force, yes = opts.pop("force"), opts.pop("yes")
    problem = opts.pop("problem")
    fields = {k: v for k, v in opts.items() if v is not None}
    if "baselines" in fields:
        names = [b.strip() for item in fields["baselines"] for b in item.split(",")]
        if "" in names:
            raise ConfigError(f"--baseline has an empty name: {','.join(fields['baselines'])!r}")
        fields["baselines"] = tuple(names)
    if workers is not None and not 1 <= workers <= sweep_mod.MAX_WORKERS:
        raise ConfigError(
            f"--workers must be an integer from 1 to {sweep_mod.MAX_WORKERS}, got {workers}"
        )
    seed_list = None
    if seeds is not None:
        if "seed" in fields:
            raise ConfigError("give --seed or --seeds, not both")
        seed_list = _seed_list(seeds)
        if len(seed_list) > 10 * MAX_QUESTIONS and not yes:
            raise ConfigError(f"--seeds selects {len(seed_list):,} seeds; pass --yes to run them")
    if spec:
        if problem is not None:
            raise ConfigError(f"--spec takes the problem from the file; drop {problem!r}")
        questions = read_spec(spec, overrides=fields, seeds=seed_list,
                              max_questions=None if yes else MAX_QUESTIONS)  # fmt: skip
    else:
        if problem is None:
            raise ConfigError(
                "give a problem (full, sensing, completion, sparse, regression) or --spec FILE"
            )
        questions = [question(problem=problem, **fields)]
        if seed_list is not None:
            questions = [dataclasses.replace(q, seed=s) for q in questions for s in seed_list]
    questions = list(dict.fromkeys(questions))  # one question twice would run (and store) twice
    if len(questions) > MAX_QUESTIONS and not yes:
        raise ConfigError(
            f"{len(questions):,} questions (grid × seeds) is more than {MAX_QUESTIONS}: pass --yes"
        )
    echo(describe(questions[0]) + (f" ({len(questions)} questions)" if len(questions) > 1 else ""))
    failed = 0
    if len(questions) == 1:
        outcomes = [(questions[0], _execute_live(questions[0], root, force, echo))]
    elif workers == 1:  # one at a time: in this process, with each question's live progress
        echo(f"{len(questions)} questions, one after another (--workers 1)")
        outcomes = ((q, _execute_live(q, root, force, echo)) for q in questions)
    else:
        echo(f"{len(questions)} questions on the local Dask cluster")
        outcomes = run_grid(questions, root=root, n_workers=workers, force=force)
    varying = [f.name for f in dataclasses.fields(Question)
               if len({getattr(q, f.name) for q in questions}) > 1 and not f.name.endswith("sha256")]  # fmt: skip
    for q, outcome in outcomes:
        if len(questions) > 1:
            echo(f"— {q.problem} " + " ".join(f"{k}={getattr(q, k)}" for k in varying))
        for line in summary(outcome):
            echo(line)
        failed += checks.failures(outcome.checks)
        if outcome.status == "failed":
            return 3
    return 1 if failed else 0


def _execute_live(q: Question, root: Path, force: bool, echo):
    """One question with live progress (GD: a bar with its ETA; the flow: time and loss at each
    snapshot) on the terminal."""
    from rich.console import Console

    from implicit_bias import progress

    console = Console(stderr=True)
    with progress.reporting(console, transient=True):
        return execute(q, root=root, force=force)

"""``mtlgroup select``: choose networks from a loss table or task groups from an affinity matrix.

    mtlgroup select VAL.csv --budget 2.5 [--approx hoa|esa [--early EARLY.csv]]
                    [--solver auto|milp|bnb|dp|frontier|brute] [--score-on TEST.csv] [--json]
                    [--objective raw|relative|metric [--higher-is-better a,b]] [--weights a=2]
    mtlgroup select VAL.csv --budgets 1:5:0.5 … [--plot curve.png]
    mtlgroup select --affinity A.csv --max-groups 3 [--transpose] [--allow-singletons] [--json]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mtlgroup.budgets import check_budget, parse_budgets
from mtlgroup.cli.app import UsageError, app, run_command

if TYPE_CHECKING:  # imported by the command: `mtlgroup --help` need not load numpy and scipy
    from mtlgroup.selection import Evaluation, LossTable, Solution


@dataclass(frozen=True)
class _Outcome:
    """One budget's answer: the solution and, with ``--score-on``, its scores there; or, in a
    sweep, why the budget is infeasible."""

    solution: Solution | None
    test: Evaluation | None = None
    budget: float = math.nan
    infeasible: str = ""
    test_objective: Evaluation | None = None  # the test split in the objective's units

    def to_dict(self, extra: dict[str, Any]) -> dict[str, Any]:
        if self.solution is None:
            return {"budget": self.budget, "feasible": False, "error": self.infeasible, **extra}
        out = {**self.solution.to_dict(), "solver": self.solution.solver, **extra}
        if self.test is not None:
            out["test"] = self.test.to_dict()
        if self.test_objective is not None:
            out["test_objective"] = self.test_objective.to_dict()
        return out


@app.command("select")
def select_command(
    table: Path | None = typer.Argument(
        None, metavar="VAL.csv", help="Loss table CSV of the selection split "
        "(network,cost,task,loss).",
        show_default=False),
    budget: float | None = typer.Option(None, "--budget", "-b", help="Largest total cost."),
    budgets: str | None = typer.Option(
        None, "--budgets", help="Several budgets: START:STOP:STEP (STOP included) or a,b,c."),
    approx: str | None = typer.Option(
        None, "--approx", help="hoa: predict ≥3-task networks from pairs; esa: select on the "
        "--early table's losses."),
    early: Path | None = typer.Option(None, "--early", help="Early-stopped loss table (ESA)."),
    solver: str = typer.Option(
        "auto", "--solver", help="auto (default: the fastest exact one for the size; column "
        "generation when subsets are never listed), milp, bnb, dp, frontier, colgen or brute."),
    score_on: Path | None = typer.Option(
        None, "--score-on", help="Loss table of another split (test) to score the choice on."),
    affinity: Path | None = typer.Option(
        None, "--affinity", help="Affinity CSV (source,<task>,…; row = source) to group from."),
    max_groups: int | None = typer.Option(None, "--max-groups", help="Most groups (--affinity)."),
    transpose: bool = typer.Option(False, "--transpose",
                                   help="The affinity file is target-major (row = target)."),
    allow_singletons: bool = typer.Option(False, "--allow-singletons",
                                          help="Let a task be a group alone (--affinity)."),
    singleton_score: float = typer.Option(0.0, "--singleton-score",
                                          help="Score of a task alone (--allow-singletons)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    plot: Path | None = typer.Option(None, "--plot", help="Draw objective vs budget to a file."),
    objective: str = typer.Option(
        "raw", "--objective", help="raw: sum of losses (the paper's); relative: each task's "
        "loss over its single-task network's (t, else t/2); metric: the table holds metrics."),
    weights: str | None = typer.Option(None, "--weights",
                                       help="Per-task weights of the objective: a=2,b=0.5."),
    higher_is_better: str | None = typer.Option(
        None, "--higher-is-better", help="--objective metric: tasks whose metric is better "
        "higher (a rate enters as 1 - M, another value as -M)."),
) -> None:
    """Choose networks under a budget (Standley et al.), or task groups from an affinity (TAG)."""
    from mtlgroup.selection import (
        APPROXIMATIONS,
        InfeasibleError,
        available_solvers,
        evaluate,
        problem_from_affinity,
        problem_from_table,
        read_loss_table,
        selection_table,
        solve,
        solve_budgets,
    )
    from mtlgroup.selection.implicit import IMPLICIT_FROM
    from mtlgroup.selection.objectives import Objective, parse_weights, split_names

    def body() -> None:
        if solver not in available_solvers():
            raise UsageError(f"unknown solver {solver!r}; expected one of "
                             f"{', '.join(available_solvers())}")
        if affinity is not None:
            _select_groups()
        else:
            _select_networks()

    def _select_networks() -> None:
        if table is None:
            raise UsageError("give a loss table (VAL.csv) or --affinity A.csv")
        if max_groups is not None or transpose or allow_singletons:
            raise UsageError("--max-groups, --transpose and --allow-singletons go with --affinity")
        if (budget is None) == (budgets is None):
            raise UsageError("give exactly one of --budget B or --budgets START:STOP:STEP")
        if approx is not None and approx not in APPROXIMATIONS:
            raise UsageError(f"--approx must be one of {', '.join(APPROXIMATIONS)}, got {approx!r}")
        if approx == "esa" and early is None:
            raise UsageError("--approx esa needs --early EARLY.csv")
        if early is not None and approx != "esa":
            raise UsageError("--early goes with --approx esa")
        if plot is not None:  # before solving: a plot that cannot be written is bad input
            from mtlgroup.cli.options import check_writable

            check_writable(plot, "--plot", file=True)
        values = [check_budget(budget)] if budget is not None else parse_budgets(budgets or "")
        goal = Objective(objective, parse_weights(weights) if weights else {},
                         split_names(higher_is_better or ""))
        val = read_loss_table(table)
        references = goal.references(val)  # the same networks divide the test losses
        if approx == "hoa" and len(val.tasks) >= IMPLICIT_FROM:
            # §1.6: the predictions stay implicit (colgen); the objective scales each task's
            # values, which commutes with HOA's mean, so the real table is scaled first
            problem = problem_from_table(goal.transform(val), budget=values[0], approx="hoa")
        else:
            problem = problem_from_table(goal.transform(selection_table(
                val, approx, read_loss_table(early) if early is not None else None)),
                budget=values[0])
        test = read_loss_table(score_on) if score_on is not None else None
        goal_test = (goal.transform(test, references)
                     if test is not None and not goal.is_raw else None)
        # one problem for every budget: a sweep shares the work (solve_budgets)
        found = solve_budgets(problem, values, solver)
        outcomes = [_outcome(result, b, test, goal_test, sweep=budgets is not None)
                    for b, result in zip(values, found, strict=True)]
        if all(o.solution is None for o in outcomes):
            raise UsageError(outcomes[0].infeasible)
        extra = {"approx": approx, "objective_kind": goal.kind,
                 "objective_description": goal.describe(val)}
        if not as_json and not goal.is_raw:
            typer.echo(f"chosen on {goal.describe(val)}")
        if as_json:
            payload = [o.to_dict(extra) for o in outcomes]
            typer.echo(json.dumps(payload[0] if budgets is None else payload, indent=2))
        elif len(outcomes) == 1:
            _print_solution(outcomes[0], score_on)
        else:
            _print_sweep(outcomes)
        if plot is not None:
            _plot(outcomes, plot, approx)

    def _outcome(
        solution: Solution | InfeasibleError, value: float, test: LossTable | None,
        goal_test: LossTable | None, sweep: bool
    ) -> _Outcome:
        if isinstance(solution, InfeasibleError):
            if not sweep:
                raise solution
            # In a sweep, one budget below the cheapest cover is a row, not the end.
            return _Outcome(None, budget=value, infeasible=str(solution))
        return _Outcome(solution, evaluate(solution, test) if test is not None else None,
                        test_objective=evaluate(solution, goal_test) if goal_test else None)

    def _select_groups() -> None:
        if table is not None:
            raise UsageError("give either a loss table or --affinity, not both")
        if max_groups is None:
            raise UsageError("--affinity needs --max-groups K")
        misplaced = [name for name, value in (("--budget", budget), ("--budgets", budgets),
                                              ("--approx", approx), ("--early", early),
                                              ("--score-on", score_on), ("--plot", plot),
                                              ("--weights", weights),
                                              ("--higher-is-better", higher_is_better),
                                              ("--objective", None if objective == "raw"
                                               else objective))
                     if value is not None]
        if misplaced:
            raise UsageError(f"{', '.join(misplaced)} go(es) with a loss table, not --affinity")
        if not allow_singletons and singleton_score != 0.0:
            raise UsageError("--singleton-score goes with --allow-singletons")
        tasks, matrix = _read_affinity(affinity, transpose)  # type: ignore[arg-type]
        problem = problem_from_affinity(tasks, matrix, max_groups=max_groups,
                                        allow_singletons=allow_singletons,
                                        singleton_score=singleton_score)
        outcome = _Outcome(solve(problem, solver))
        if as_json:
            typer.echo(json.dumps(outcome.to_dict({"max_groups": max_groups}), indent=2))
        else:
            _print_solution(outcome, None, groups=True)

    run_command(body)


def _read_affinity(path: Path, transpose: bool) -> tuple[tuple[str, ...], Any]:
    # the affinity package reads and checks the file (square, rows naming the header's tasks)
    from mtlgroup.affinity.matrix import Affinity

    found = Affinity.from_csv(path, transpose=transpose)
    return found.tasks, found.matrix


def _print_solution(outcome: _Outcome, score_on: Path | None, groups: bool = False) -> None:
    solution = outcome.solution
    assert solution is not None  # infeasible budgets are printed by the caller
    limit = f"at most {solution.budget:g} groups" if groups else f"budget {solution.budget:g}"
    typer.echo(f"{limit}: objective {solution.objective:.6g}, cost {solution.cost:g} "
               f"({solution.solver})")
    if solution.gap > 0:
        typer.echo(f"not proven optimal: at most {solution.gap:.3g} from the optimum")
    headers = ["group" if groups else "network", "cost", "serves", "also carries"]
    if outcome.test is not None:
        headers.append("test loss")
    rows = []
    for network in solution.networks:
        serves = solution.serves(network.name)
        cells = [network.name, f"{network.cost:g}", ",".join(serves),
                 ",".join(t for t in network.tasks if t not in serves) or "-"]
        if outcome.test is not None:
            cells.append(f"{sum(outcome.test.per_task[t] for t in serves):.6g}")
        rows.append(cells)
    typer.echo(format_columns(headers, rows, right={"cost", "test loss"}))
    if outcome.test is not None:
        typer.echo(f"on {score_on}: total {outcome.test.total:.6g} (honest rule), "
                   f"{outcome.test.total_min_rule:.6g} (min rule)")
    if outcome.test_objective is not None:
        typer.echo(f"in the objective's units: {outcome.test_objective.total:.6g} (honest "
                   f"rule), {outcome.test_objective.total_min_rule:.6g} (min rule)")


def _print_sweep(outcomes: list[_Outcome]) -> None:
    headers = ["budget", "objective", "cost"]
    tested = any(o.test is not None for o in outcomes)
    if tested:
        headers += ["test", "test (min rule)"]
    in_units = any(o.test_objective is not None for o in outcomes)
    if in_units:
        headers.append("test (objective)")
    headers.append("networks")
    rows = []
    for outcome in outcomes:
        solution = outcome.solution
        if solution is None:
            cells = [f"{outcome.budget:g}", "-", "-"] + (["-", "-"] if tested else [])
            cells += ["-"] if in_units else []
            rows.append([*cells, outcome.infeasible])
            continue
        cells = [f"{solution.budget:g}", f"{solution.objective:.6g}", f"{solution.cost:g}"]
        if outcome.test is not None:
            cells += [f"{outcome.test.total:.6g}", f"{outcome.test.total_min_rule:.6g}"]
        if outcome.test_objective is not None:
            cells.append(f"{outcome.test_objective.total:.6g}")
        gap = f" (gap {solution.gap:.3g})" if solution.gap > 0 else ""
        rows.append([*cells, " ".join(solution.names) + gap])
    solved = next(o.solution for o in outcomes if o.solution is not None)
    typer.echo(f"solver {solved.solver}; test = honest rule")
    typer.echo(format_columns(headers, rows, right=set(headers) - {"networks"}))


def format_columns(headers: list[str], rows: list[list[str]], right: set[str]) -> str:
    """Plain aligned columns (never truncated, whatever the terminal width)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if h in right else c.ljust(w)
                         for c, w, h in zip(cells, widths, headers, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _plot(outcomes: list[_Outcome], path: Path, approx: str | None) -> None:
    from mtlgroup.selection import plot_budget_curve

    outcomes = [o for o in outcomes if o.solution is not None]  # infeasible budgets: no point
    solutions = [o.solution for o in outcomes if o.solution is not None]
    tested = outcomes[0].test is not None
    label = "selection objective" + (f" ({approx}-predicted)" if approx == "hoa" else
                                     " (early-stopped)" if approx == "esa" else "")
    written = plot_budget_curve(
        [s.budget for s in solutions],
        [s.objective for s in solutions],
        path,
        test_totals=[o.test.total for o in outcomes if o.test] if tested else None,
        test_totals_min_rule=[o.test.total_min_rule for o in outcomes if o.test] if tested
        else None,
        objective_label=label,
    )
    typer.echo(f"wrote {written}", err=True)  # stderr: stdout may be JSON

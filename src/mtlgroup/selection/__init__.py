"""Network selection: which networks to train under an inference budget (ALGORITHMS §1, §2.1).

Given what each candidate network achieves (or is predicted to achieve) on each task and what
it costs, choose the networks. No torch here: this part imports quickly and runs anywhere.

Example:
    >>> from mtlgroup.selection import LossTable, evaluate, problem_from_table, solve
    >>> val = LossTable.from_rows([("a", 1, "a", 0.3), ("b", 1, "b", 0.5),
    ...                            ("a+b", 1, "a", 0.35), ("a+b", 1, "b", 0.4)])
    >>> solution = solve(problem_from_table(val, budget=2))
    >>> solution.names, solution.served_by, round(solution.objective, 2)
    (('a', 'a+b'), {'a': 'a', 'b': 'a+b'}, 0.7)
"""

from mtlgroup.selection.affinity import group_scores, problem_from_affinity
from mtlgroup.selection.approx import esa_table, hoa_table
from mtlgroup.selection.build import (
    APPROXIMATIONS,
    problem_from_rows,
    problem_from_table,
    selection_table,
)
from mtlgroup.selection.evaluate import Evaluation, evaluate
from mtlgroup.selection.feasibility import check_feasible, min_cover_cost
from mtlgroup.selection.plot import plot_budget_curve
from mtlgroup.selection.problem import (
    Candidate,
    InfeasibleError,
    SelectionError,
    SelectionProblem,
    Solution,
)
from mtlgroup.selection.solvers import (
    SolverTimeLimit,
    available_solvers,
    get_solver,
    register_solver,
    solve,
    solve_bnb,
    solve_brute_force,
    solve_budgets,
    solve_milp,
    solve_partition_dp,
)
from mtlgroup.selection.table import LossRow, LossTable, TableError, read_loss_table

__all__ = [
    "APPROXIMATIONS",
    "Candidate",
    "Evaluation",
    "InfeasibleError",
    "LossRow",
    "LossTable",
    "SelectionError",
    "SelectionProblem",
    "Solution",
    "SolverTimeLimit",
    "TableError",
    "available_solvers",
    "check_feasible",
    "esa_table",
    "evaluate",
    "get_solver",
    "group_scores",
    "hoa_table",
    "min_cover_cost",
    "plot_budget_curve",
    "problem_from_affinity",
    "problem_from_rows",
    "problem_from_table",
    "read_loss_table",
    "register_solver",
    "selection_table",
    "solve",
    "solve_bnb",
    "solve_brute_force",
    "solve_budgets",
    "solve_milp",
    "solve_partition_dp",
]

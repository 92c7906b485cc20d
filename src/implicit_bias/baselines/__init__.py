"""Convex and closed-form comparisons (NumPy in, NumPy out): one module per kind of program.

cvxpy programs name their solver explicitly (``solver="SCS"``) and check its status and the constraint
residual: a solver failure is a ``SolverError``, never a silently wrong answer.
"""

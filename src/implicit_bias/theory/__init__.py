"""Predictions from the theorems, one module per seed; each function's docstring cites its result."""

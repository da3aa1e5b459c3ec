"""Latency-budget planning: budgets, the optimisation problem, its solvers, and the Plan document."""

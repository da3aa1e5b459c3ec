"""Systolic-array engine: mapping, closed-form (analytic) and cycle-stepped (Numba) models."""

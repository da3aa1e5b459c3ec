"""Lowering of the IR to hwmodel workloads, and simulation of a model on modelled hardware."""

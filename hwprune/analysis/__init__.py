"""Analyses of the IR: channel flow and groups, importance, MAC/parameter counts, structure hash."""

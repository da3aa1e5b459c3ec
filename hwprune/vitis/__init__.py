"""Vitis AI Optimizer style workflows: pruning runners, sensitivity analysis, one-step search, N:M sparsity.

The public entry points are re-exported lazily by :mod:`hwprune` (``hwprune.get_pruning_runner``,
``hwprune.SparsePruner``). Modules, in the order data flows through them:

- ``runner``: ``get_pruning_runner``, ``IterativeRunner`` (``ana``/``prune``) and ``OneStepRunner``
  (``search``/``prune``); ``base``: what they share (files, budgets, specs, slim models);
- ``view``: one model's channel groups, channel ranking, MACs, latency and subnet builders;
- ``sensitivity``: the ``ana`` analysis and the :class:`Sensitivity` curves; ``plots``: their figure;
- ``allocate``: per-group ratios for a MACs target or a threshold; ``sampling``: EagleEye candidates;
- ``search``: evaluating candidates; ``evaluate``: one subnet built, calibrated and scored;
- ``calibrate``: adaptive batch-norm calibration; ``userfn``: calling user functions with clear errors;
- ``parallel``: serial, process-pool and Ray backends; ``store``: resumable, versioned result files;
- ``specfile``: pruning specs; ``iterative``: the prune -> fine-tune loop with checkpoints;
- ``sparse``: ``SparsePruner`` (weight N:M and activation 2:4 sparsity with Vitis AI's rules).
"""

"""Vitis AI Optimizer style workflows: pruning runners, sensitivity analysis, one-step search, N:M sparsity.

The public entry points are re-exported lazily by :mod:`hwprune` (``hwprune.get_pruning_runner``,
``hwprune.SparsePruner``). Modules, in the order data flows through them:

- ``runner``: ``get_pruning_runner``, ``IterativeRunner`` (``ana``/``prune``) and ``OneStepRunner``
  (``search``/``prune``); ``base``: what they share (files, budgets, specs, slim models);
- ``view``: one model's channel groups, channel ranking, MACs, latency and subnet builders;
- ``sensitivity``: the ``ana`` analysis and the :class:`Sensitivity` curves; ``plots``: their figure;
- ``allocate``: per-group ratios for a MACs target or a threshold; ``sampling``: EagleEye candidates;
- ``search``: evaluating candidates; ``evaluate``: one subnet built, calibrated and scored;
- ``specfile``: pruning specs; ``iterative``: the prune -> fine-tune loop with checkpoints;
- ``sparse``: ``SparsePruner`` (weight N:M and activation 2:4 sparsity with Vitis AI's rules).

Shared infrastructure lives below this package: backends, result files and user-function calls in
:mod:`hwprune.runtime`, adaptive batch-norm calibration in :mod:`hwprune.train.calibrate`, N:M masks
and baking them into weights in :mod:`hwprune.transforms.nm`.
"""

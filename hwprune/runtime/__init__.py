"""Running user work reliably, shared by every workflow (Vitis runners, optimize, OFA).

- ``parallel``: serial, process-pool and Ray backends that evaluate many tasks and yield results as
  they finish;
- ``store``: versioned JSON result files that grow as results arrive and resume after a crash;
- ``userfn``: calling a user's eval/calibration function, its failures turned into clear errors.

Nothing here knows about channel groups, plans or hardware.
"""

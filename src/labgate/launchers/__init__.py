"""Launchers decide where a session's app runs: on the resource itself (``direct``) or
as a batch job (``slurm``). See :mod:`labgate.launching.launcher` for the contract."""

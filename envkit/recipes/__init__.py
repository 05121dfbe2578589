"""The recipes in env/: reading pip and conda recipe files, the indexes and
mirrors packages come from, and `invoke lock` (pip_lock with uv, conda_lock
with conda-lock). Imports core and catalog."""

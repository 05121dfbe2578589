"""Making images: `invoke base`, the build plan, the build context,
`invoke build`, `invoke wheelhouse` and `invoke verify-repro`. Imports core,
catalog and recipes."""

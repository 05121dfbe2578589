"""`invoke test`: the test container, the checks run inside it (probes), the
test run and its report, and the manifest. Imports core, catalog, recipes
and images."""

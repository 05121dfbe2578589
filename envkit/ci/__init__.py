"""The kit on more machines than one: the CI matrix read from env/variants.toml,
the `docker buildx bake` file generated from it, and the vulnerability policy
the weekly job applies. Imports catalog, core, images and recipes."""

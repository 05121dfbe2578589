"""envkit: build, test and publish reproducible PyTorch Docker environments.

tasks.py is the command line; the logic is grouped by the stages the data
flows through, each package importing only from the ones above it:

    core      errors, external commands (proc), settings, the Docker engine, GPUs,
              provenance, the one reader and writer of files (files), the
              reports and their files under reports/, and signal handling
    catalog   what can be built: env/variants.toml, env/compat.toml, each
              recipe's facts (recipes), the variant flags (flags) and
              turning them into one variant (selection)
    recipes   the recipe files in env/ and `invoke lock` (pip and conda),
              package indexes and mirrors
    images    `invoke base`, the build plan, the build context, `invoke build`,
              `invoke wheelhouse`, `invoke verify-repro`
    checks    `invoke test`: the test container, the checks run inside it,
              the test run and its manifest
    release   `invoke publish`: tags, the publish gate, the registry, the
              pinned digests (env/published.json)
    workspace `invoke run`, `shell` and `pull`: the team's image as the
              caller, with the checkout mounted and caches kept
    status    `invoke doctor` and `invoke info`
    ci        `invoke bake`, `matrix` and `audit`: what CI builds and checks
    bench     `invoke bench`: the kit's image against a plain pip Dockerfile
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

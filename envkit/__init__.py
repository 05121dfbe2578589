"""envkit: build, test and publish reproducible PyTorch Docker environments.

tasks.py is the command line; each module here holds one concern:
variants and selection (what can be built), settings (where options come
from), engine (the Docker daemon and a BuildKit-capable client), plan and
build (what a build installs, and building it), base (a base image made with
debootstrap), locks, locking and conda_locking (`invoke lock`), indexes
(upstream indexes, mirrors, overrides), wheelhouse (offline builds), repro
(`invoke verify-repro`), container, checks and testing (running the examples
inside an image), manifest, tags, gate, registry and publish (`invoke
publish`), recipes (reading recipe files), provenance, proc and errors.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

"""envkit: build, test and publish reproducible PyTorch Docker environments.

tasks.py is the command line; each module here holds one concern:
variants (what can be built), settings (where options come from), engine
(the Docker daemon and a BuildKit-capable client), build, base (a base image
made with debootstrap), testing and checks (running the examples inside an
image), reports, proc (running commands) and errors.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

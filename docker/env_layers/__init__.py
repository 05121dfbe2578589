"""The Python environment of a pip image in layers that change at different
rates, so that a one-pin change in the lock rebuilds, pushes and pulls only
the layer that holds that package (measured by `invoke bench`).

Run as `python FOLDER COMMAND` (the build mounts the package at
/opt/envkit-build/env_layers; `invoke test` copies it into the test container
for `check`):

    python3 env_layers split LOCK OUT_DIR split|single
        writes OUT_DIR/1.txt .. OUT_DIR/6.txt: the lock's entries by layer
        (every file keeps the lock's index options; `single` puts every
        entry in the last one, the one-layer install `invoke bench` compares)
    python env_layers prefetch LOCK     (the installer venv's python)
        downloads every wheel of the lock at once, hash-checked, into a
        folder on the build's cache mount, so that the install steps, one
        per layer, need no network; a no-op for a wheelhouse build
    python3 env_layers install-dev LOCK
        installs a dev lock the same way (records in /opt/envkit/wheels/dev.txt)
        on top of a runtime image, and fails unless every distribution
        installed before is exactly as it was
    python3 env_layers check
        pip check of /opt/venv; only a wheel NVIDIA tagged `_sbsa` (its
        name for aarch64) is taken as aarch64 there, said in the log
    python3 env_layers install N
        installs /opt/envkit/layers/N.txt into /opt/venv with uv, records
        the wheel each package came from and its sha256 in
        /opt/envkit/wheels/N.txt (what `invoke test`'s SBOM reads), strips
        the DWARF debug sections of the libraries it installed, then
        compiles the bytecode of exactly what it installed

Its modules: layers (the lock's entries, the split), wheels (index pages,
wheel tags), cache (the hash-checked downloads), server (the loopback index),
elf (debug sections), install (an install step, bytecode, the dev layer),
check (pip check), places (where each reads and writes).

Standard library only; runs with the base image's python (prefetch with the
installer venv's, whose pip knows the interpreter's wheel tags). The order
is fixed by the data `invoke bench` measured for cu121 (installed sizes):
  1 cudnn      nvidia-cudnn                        1.02 GB  changes with the CUDA pins
  2 cuda       every other nvidia-* library        1.72 GB  changes with the CUDA pins
  3 triton     triton / pytorch-triton             0.25 GB  changes with torch's minor
                                                            (0.58 GB before its debug sections go)
  4 torch      torch, torchvision, torchaudio      1.66 GB  changes with every torch release
  5 nvjitlink  nvidia-nvjitlink                    0.10 GB  only bounded from below by torch,
                                                            so a lock refresh moves it
  6 rest       everything else (numpy, pillow...)  0.17 GB  changes most often
Slowest-changing first: Docker rebuilds every layer after the first changed
one. cuDNN has a layer of its own because a push compresses each layer on
one core: several layers of similar size keep every core busy where one
5 GB layer kept one.
"""

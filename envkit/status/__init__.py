"""Where things stand: `invoke doctor` (can this machine build, pull and run
the team's images, and with GPUs?) and `invoke info` (each variant's lock,
image, test and published reference). Imports every package above it."""

"""`invoke bench`: the kit's image against a plain pip Dockerfile, measured
side by side in one run. contenders (the two builds), measure (network,
registry and pull bytes), registry (the bench's own registry), run (the
order of measurements), report (medians, ratios, targets, Markdown).
Imports images, checks, recipes and core; nothing imports it but tasks.py."""

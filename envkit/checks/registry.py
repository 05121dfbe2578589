"""Every check `invoke test` runs, in the order it runs them, each named
once here: its rows in the report take these names, and the docs' checks
page (docs/reference/checks.md) is generated from this list."""

from __future__ import annotations

from envkit.checks import notebook, probes
from envkit.checks.check import Check, Context
from envkit.checks.container import ProbeContainer
from envkit.checks.inventory import inventory
from envkit.core.reports import CheckRow

CHECKS: tuple[Check, ...] = (
    Check(
        "verify_install",
        proves=(
            "`examples/verify_install.py`: torch, Python, torchvision, torchaudio versions, CUDA available, "
            "compiled CUDA, the GPU architectures it has kernels for (`torch.cuda.get_arch_list()`), cuDNN, GPU "
            "count and names (and, when CUDA is unavailable, why)"
        ),
        run=probes.verify_install,
    ),
    Check(
        "pins",
        proves=(
            "those measured versions are the variant's pins, and its GPU kernels are the list `env/compat.toml` "
            "records for its build (what doctor and `invoke run` judge GPUs by)"
        ),
        run=probes.pins,
        needs=("verify_install",),
    ),
    Check(
        "first_program",
        proves=(
            "`examples/first_program.py`: a seeded linear model must actually learn (loss falls a hundredfold, "
            "weights near the truth)"
        ),
        run=probes.first_program,
    ),
    Check(
        "concepts",
        proves=(
            "`examples/concepts.py`: tensors, autograd, an `nn.Module`, an Adam step, device selection, each asserted"
        ),
        run=probes.concepts,
    ),
    Check(
        "smoke",
        proves=(
            "`examples/smoke.py`: `torchvision.ops.nms`, a PIL image through `transforms`, "
            "`torch.from_numpy`/`.numpy()`, a torchaudio transform on a synthetic tone, a resnet18 forward, "
            "`torch.compile` on the CPU (the image carries g++ and Python headers for it); with GPUs also "
            "`torch.cuda.is_available()`, a GPU matmul, a cuDNN conv and `torch.compile` on the GPU"
        ),
        run=probes.smoke,
        parts=True,
    ),
    Check(
        "pip_check",
        proves=(
            "`pip check` is clean, judged by the build's own rule (`docker/env_layers check`, run in the test "
            "container): on aarch64 only NVIDIA's `_sbsa`-tagged wheels, which pip calls unsupported, are "
            "accepted"
        ),
        run=probes.pip_check,
    ),
    Check(
        "matches_recipe",
        proves=(
            "no drift: what is installed equals the variant's recipe as it stands in `env/` now (a pip lock or an"
            " explicit conda lock: every package, nothing more; a conda environment file: every exact pin); each "
            "difference is named"
        ),
        run=probes.matches_recipe,
    ),
    Check(
        "environment",
        proves=(
            "measures the recipe file the image holds and its sha256, the Python and Debian package lists (for "
            "tags and the manifest)"
        ),
        run=probes.environment,
    ),
    Check(
        "inventory",
        proves=(
            "every package for the SBOM: each Python package with the sha256 of the exact wheel it was installed "
            "from (recorded by `docker/env_layers` at install, in `/opt/envkit/wheels/`), which must be a hash "
            "the lock allows; conda packages with the digests of their `conda-meta` records; Debian packages with"
            " version and architecture"
        ),
        run=inventory,
    ),
    Check("jupyterlab", proves="`jupyter lab --version` runs", run=notebook.jupyterlab, images="dev"),
    Check(
        "notebook",
        proves=(
            "a notebook made from `examples/first_program.py`, run by nbclient on the image's `python3` kernel, "
            'prints the "learned y = ..." line and `main()` returns 0'
        ),
        run=notebook.notebook,
        images="dev",
    ),
)
BY_NAME = {check.name: check for check in CHECKS}


def run_all(box: ProbeContainer, ctx: Context) -> list[CheckRow]:
    """Every check that applies to the context's variant, in order; a check
    whose needed check failed is one failed row saying so, not run."""
    rows: list[CheckRow] = []
    failed: set[str] = set()
    for check in (check for check in CHECKS if check.applies_to(ctx.variant)):
        if broken := [need for need in check.needs if need in failed]:
            said = [CheckRow(check.name, False, f"not run: {', '.join(broken)} failed")]
        else:
            said = check.rows(box, ctx)
        if not all(row.passed for row in said):
            failed.add(check.name)
        rows += said
    return rows

"""The kit's command line: `invoke --list`, `invoke --help build`.

Each task parses its flags, calls one envkit function and reports; the logic
lives in envkit/. Defaults come from envkit/settings.py, then invoke.yaml,
then INVOKE_ENVKIT_* environment variables; flags win.
"""

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from envkit import base as base_image
from envkit import build as builder
from envkit import publish, selection, testing
from envkit.settings import DEFAULTS, Settings
from envkit.variants import declared

VARIANT_HELP = {
    "cuda": "cpu, 11.8 or 12.1 (any CUDA build env/compat.toml lists for --torch)",
    "recipe": "pip (default) or conda",
    "torch": "torch release (default: the pins in env/variants.toml)",
    "python": "Python MAJOR.MINOR (default: the pins in env/variants.toml)",
}


def _settings(c: Context, **flags: str | None) -> Settings:
    return Settings.from_config(c.config.envkit, **flags)


@task(
    help={
        "rebuild": "make the base again even when one from the same suite and mirror exists",
        "mirror": "Debian mirror (config envkit.base_mirror)",
        "suite": "Debian suite (config envkit.base_suite; bookworm gives Python 3.11)",
    }
)
def base(c, rebuild=False, mirror=None, suite=None):
    """Build a Debian base image with Python from Debian's packages (debootstrap; needs root).

    For machines that reach no container registry; pass the result to
    `invoke build --base-image`.
    """
    settings = _settings(c, base_mirror=mirror, base_suite=suite)
    tag, image_id, seconds = base_image.build_base(settings, rebuild=rebuild)
    print(f"base image {tag}  {image_id[:19]}  ({seconds:.1f} s)")


@task(
    help={
        **VARIANT_HELP,
        "base_image": "base image instead of the recipe's digest-pinned one (e.g. a mirror, or `invoke base`'s)",
        "ca_cert": "CA bundle for TLS-inspecting proxies, passed as a BuildKit secret (never in a layer)",
        "no_cache": "build every layer again",
    }
)
def build(c, cuda=None, recipe="pip", torch=None, python=None, base_image=None, ca_cert=None, no_cache=False):
    """Build one variant's image from its pinned recipe, e.g. `invoke build --cuda 12.1`."""
    settings = _settings(c, base_image=base_image, ca_cert=ca_cert)
    variant = selection.select(cuda, recipe, torch, python)
    result = builder.build(variant, settings, no_cache=no_cache)
    print(result.summary())


@task(help={**VARIANT_HELP, "gpus": "auto (GPUs when the host has a GPU runtime), none or all"})
def test(c, cuda=None, recipe="pip", torch=None, python=None, gpus="auto"):
    """Run the examples and checks inside a built image; print a table, write a JSON report."""
    settings = _settings(c)
    variant = selection.select(cuda, recipe, torch, python)
    report = testing.run_tests(variant, settings, gpus)
    print(testing.table(report))
    if not report.passed:
        raise Exit(code=1)


@task(
    name="publish",
    help={
        **VARIANT_HELP,
        "registry": "HOST[:PORT]/NAMESPACE to push to (config envkit.registry); log in with `docker login` first",
        "all": "publish every variant that passed its test; list the others and exit non-zero if any",
        "dry_run": "print what would be pushed, push nothing",
    },
)
def publish_(c, cuda=None, recipe="pip", torch=None, python=None, registry=None, all_=False, dry_run=False):
    """Push a tested image under the tags measured inside it (refuses untested images)."""
    settings = _settings(c, registry=registry)
    variants = list(declared()) if all_ else [selection.select(cuda, recipe, torch, python)]
    skipped = publish.run(variants, settings, dry_run=dry_run, skip_untested=all_)
    if skipped:
        print("skipped (no passing test for the image under their tag):", *skipped, sep="\n  ")
        raise Exit(code=1)


ns = Collection(base, build, test, publish_)
ns.configure({"envkit": DEFAULTS})

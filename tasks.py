"""The kit's command line: `invoke --list`, `invoke --help build`.

Each task parses its flags, calls one envkit function and reports; the logic
lives in envkit/. The flags that choose a variant are declared once
(envkit/catalog/flags.py): a task names those it takes and gets them as one
VariantFlags, which selects the variant. Defaults come from envkit/core/settings.py, then invoke.yaml,
then INVOKE_ENVKIT_* environment variables; flags win.
"""

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from json import dumps
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from envkit import ROOT
from envkit.bench.report import markdown, report_paths
from envkit.bench.run import run_bench
from envkit.catalog.flags import NO_FLAGS, VariantFlags, variant_flags
from envkit.catalog.variants import cuda_flag, declared, declared_images, default_pins, lines
from envkit.checks.testrun import report_table, run_index_tests, run_tests, variant_of_image
from envkit.ci.audit import audit_variants
from envkit.ci.audit import table as audit_table
from envkit.ci.bake import BAKE_FILE
from envkit.ci.bake import write as write_bake
from envkit.ci.matrix import matrix as variants_matrix
from envkit.core.cli import (
    check_given,
    checked_folder,
    checked_path,
    flag_spellings,
    refuse_repeated_flags,
    words_after_dashes,
)
from envkit.core.engine import connect
from envkit.core.errors import KitError, UsageError
from envkit.core.files import display
from envkit.core.references import reference_problem
from envkit.core.settings import DEFAULTS, Settings, check_config_file, config_files
from envkit.core.signals import interruptible
from envkit.docs.site import SITE, build_site, stale_pages, write_pages
from envkit.images.base import build_base
from envkit.images.build import build_image
from envkit.images.multiplatform import assemble, check_store, member_settings
from envkit.images.repro import compare_rebuilds, repro_summary
from envkit.images.wheelhouse import default_dir, fill_wheelhouse
from envkit.recipes.lock import lock_variants
from envkit.recipes.wheel_facts import check_table
from envkit.release.drift import against_published
from envkit.release.keys import DEFAULT_KEY
from envkit.release.keys import generate as generate_keys
from envkit.release.pins import read_pins
from envkit.release.releases import publish_variants
from envkit.status.doctor import FAIL, diagnose
from envkit.status.doctor import report as doctor_report
from envkit.status.info import states
from envkit.status.info import table as info_table
from envkit.workspace.devcontainer import differences as devcontainer_differences
from envkit.workspace.devcontainer import write as write_devcontainers
from envkit.workspace.image import Chosen
from envkit.workspace.image import for_variant as image_for_variant
from envkit.workspace.image import given as given_image
from envkit.workspace.image import to_use as image_to_use
from envkit.workspace.lab import host_port, start_lab
from envkit.workspace.pull import pull_variants
from envkit.workspace.session import RunOptions, current_checkout, run_in_image, say

CA_HELP = {"ca_cert": "CA bundle for TLS-inspecting proxies (config envkit.ca_cert)"}
INDEX_HELP = {
    "index_url": "use this index instead of the recipe's (a mirror; config envkit.index_url)",
    "extra_index_url": "use these extra indexes instead of the recipe's, space-separated "
    "(config envkit.extra_index_url)",
}


def cuda_help() -> str:
    """--cuda's values, from env/variants.toml: the seed's builds, then each line's."""
    try:
        seed = default_pins()
        seed_builds = sorted({cuda_flag(v.platform) for v in declared() if v.torch == seed.torch})
        groups = [(seed_builds, f"the seed, torch {seed.torch}")]
        groups += [([cuda_flag(p) for p in line.platforms], f"the {name} line") for name, line in lines().items()]
    except UsageError:  # shown as the error itself by any task; --help stays readable
        return "a build env/variants.toml declares (it does not read now: run a task to see why)"
    listed = "; ".join(f"{', '.join(flags)} ({what})" for flags, what in groups)
    return f"{listed}; with `--torch`, any build env/compat.toml lists for it"


VARIANT_HELP = {
    "cuda": cuda_help(),
    "recipe": "pip (default) or conda",
    "torch": "torch release (default: the pins in env/variants.toml)",
    "python": "Python MAJOR.MINOR (default: the pins in env/variants.toml)",
    "arch": "amd64 (default) or arm64 (PyPI's aarch64 wheel: a CPU build for the seed, CUDA for the 13.2 and "
    "13.0 lines): the CPU architecture, built and run under QEMU on a machine of the other",
}
DEV_HELP = "the variant's dev image (<variant>-dev)"
PIP_VARIANT_HELP = {key: text for key, text in VARIANT_HELP.items() if key not in ("recipe", "arch")}


@dataclass(frozen=True)
class SessionFlags:
    """The flags of a session in the image (`run`, `shell`, `lab`), as given."""

    image: str | None
    gpus: str
    workdir: str | None
    env: list[str]
    ports: list[str]
    shm_size: str | None
    ipc: str | None
    cache_volumes: bool


def _settings(c: Context, **flags: str | None) -> Settings:
    return Settings.from_config(c.config.envkit, **flags)


def check_command_line(argv: list[str]) -> None:
    """Before Invoke merges the config files or parses the flags: both would
    end in its own tracebacks or riddles."""
    for path in config_files():
        check_config_file(path, set(Config.global_defaults()), project=path.parent == ROOT)
    refuse_repeated_flags(argv, flag_spellings(ns))


@task(
    help={
        "rebuild": "make the base again even when one from the same suite and mirror exists",
        "mirror": "Debian mirror (config envkit.base_mirror)",
        "suite": "Debian suite (config envkit.base_suite; bookworm gives Python 3.11)",
        "arch": "amd64 (default) or arm64: another than this machine's runs under QEMU (`.ci/setup` registers it)",
    }
)
@interruptible
def base(c, rebuild=False, mirror=None, suite=None, arch=None):
    """Build a Debian base image with Python from Debian's packages (debootstrap; needs root).

    For machines that reach no container registry; pass the result to
    `invoke build --base-image`.
    """
    settings = _settings(c, base_mirror=mirror, base_suite=suite)
    check_given(arch=arch)
    tag, image_id, seconds = build_base(settings, rebuild=rebuild, arch=arch)
    print(f"base image {tag}  {image_id[:19]}  ({seconds:.1f} s)")


@task(
    help={
        **VARIANT_HELP,
        "arch": f"{VARIANT_HELP['arch']}; all: every architecture the variant is declared for, then one local "
        "image index of them, <variant>-multiarch (containerd image store)",
        "base_image": "base image instead of the recipe's digest-pinned one (e.g. a mirror, or `invoke base`'s); "
        "with --arch all the first architecture's, and another's is its tag ending in -<arch>",
        "ca_cert": "CA bundle for TLS-inspecting proxies, passed as a BuildKit secret (never in a layer)",
        "no_cache": "build every layer again",
        "wheelhouse": "install from this folder (`invoke wheelhouse`), with no network at all",
        **INDEX_HELP,
        "build_cache": "buildx only: keep BuildKit's cache in `gha` (GitHub Actions) or in this registry "
        "repository, one tag per variant (config envkit.build_cache)",
        "dev": "the dev image (<variant>-dev): JupyterLab and tools on the variant's tested runtime image",
    }
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
def build(
    c: Context,
    flags: VariantFlags,
    base_image: str | None = None,
    ca_cert: str | None = None,
    no_cache: bool = False,
    wheelhouse: str | None = None,
    index_url: str | None = None,
    extra_index_url: str | None = None,
    build_cache: str | None = None,
) -> None:
    """Build one variant's image from its pinned recipe, e.g. `invoke build --cuda 12.1` (`--dev`: its dev image)."""
    settings = _settings(
        c,
        base_image=base_image,
        ca_cert=ca_cert,
        index_url=index_url,
        extra_index_url=extra_index_url,
        build_cache=build_cache,
    )
    if flags.every_arch:
        group = flags.variants_of_every_arch()
        if wheelhouse is not None:
            raise UsageError("--arch all: a wheelhouse holds one architecture's wheels; leave out --wheelhouse.")
        each = [member_settings(settings, variant) for variant in group]
        check_store(connect(), group)  # before the first build, not after it
        for variant, its_settings in zip(group, each, strict=True):
            print(build_image(variant, its_settings, no_cache=no_cache).summary())
        index = assemble(group, settings)
        print(
            f"{index.tag} ({index.digest[:19]}): one image index of "
            + ", ".join(f"linux/{arch} {digest[:19]}" for arch, digest in index.platforms.items())
        )
        return
    variant = flags.variant()
    if flags.dev and (base_image or wheelhouse):
        raise UsageError("--dev builds on the variant's tested runtime image: leave out --base-image and --wheelhouse.")
    check_given(wheelhouse=wheelhouse)
    folder = checked_path("--wheelhouse", wheelhouse) if wheelhouse is not None else None
    result = build_image(variant, settings, no_cache=no_cache, wheelhouse=folder)
    print(result.summary())


@task(
    help={
        **VARIANT_HELP,
        "cuda": "one platform (default: every declared platform of --torch)",
        "dev": "lock the dev layers (env/pip/dev.in against each runtime lock) instead of the recipes",
        "upgrade": "resolve afresh at the cut-off (pip and dev locks keep their current pins where the inputs "
        "allow unless this is given); every pin that moves is listed",
        **CA_HELP,
        **INDEX_HELP,
    }
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
def lock(
    c: Context,
    flags: VariantFlags,
    ca_cert: str | None = None,
    index_url: str | None = None,
    extra_index_url: str | None = None,
    upgrade: bool = False,
) -> None:
    """Regenerate pinned, hash-locked recipes from their inputs (uv for pip, conda-lock for conda)."""
    settings = _settings(c, ca_cert=ca_cert, index_url=index_url, extra_index_url=extra_index_url)
    lock_variants(flags, settings, upgrade=upgrade)


@task(
    help={
        **PIP_VARIANT_HELP,
        "dir": "the folder to fill (default: wheelhouse/<variant>)",
        "base_image": "the base the build will use (the Debian packages are fetched for it)",
        **CA_HELP,
        **INDEX_HELP,
    }
)
@interruptible
@variant_flags("cuda", "torch", "python")
def wheelhouse(
    c: Context,
    flags: VariantFlags,
    dir: str | None = None,
    base_image: str | None = None,
    ca_cert: str | None = None,
    index_url: str | None = None,
    extra_index_url: str | None = None,
) -> None:
    """Download every locked wheel (hash-checked) and the system packages, for an offline build."""
    settings = _settings(
        c, base_image=base_image, ca_cert=ca_cert, index_url=index_url, extra_index_url=extra_index_url
    )
    variant = flags.variant()
    check_given(dir=dir)
    folder = checked_path("--dir", dir, target=True) if dir is not None else default_dir(variant)
    contents = fill_wheelhouse(variant, settings, folder)
    print(
        f"wheelhouse {folder}: {contents.wheels} wheels, {contents.debs} debs, {contents.bytes / 1e9:.2f} GB; "
        f"build with `invoke build {variant.flags()} --wheelhouse {folder}`"
    )


@task(
    name="verify-repro",
    help={
        **VARIANT_HELP,
        "base_image": "base image instead of the recipe's pinned one",
        **CA_HELP,
    },
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "arch")
def verify_repro(c: Context, flags: VariantFlags, base_image: str | None = None, ca_cert: str | None = None) -> None:
    """Build a variant twice with no cache and compare its Python environments file by file."""
    settings = _settings(c, base_image=base_image, ca_cert=ca_cert)
    result = compare_rebuilds(flags.variant(), settings)
    print(repro_summary(result))
    if not result.identical:
        raise Exit(code=1)


@task(
    help={
        **VARIANT_HELP,
        "arch": f"{VARIANT_HELP['arch']}; all: each platform of the local index `invoke build --arch all` made",
        "gpus": "auto (GPUs when the host has a GPU runtime), none or all",
        "image": "test this image (tag or digest; pulled when not here) instead of the local build; "
        "its variant comes from its labels",
        "dev": "test the dev image: the runtime checks, then a notebook and JupyterLab",
    }
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
def test(c: Context, flags: VariantFlags, gpus: str = "auto", image: str | None = None) -> None:
    """Run the examples and checks inside a built image; print a table, write a JSON report."""
    settings = _settings(c)
    image = _image_flag(image, flags)
    if flags.every_arch:
        group = flags.variants_of_every_arch()
        reports = run_index_tests(group, settings, gpus)
        tables = [
            f"{variant.docker_platform} ({variant.name}):\n{report_table(report)}"
            for variant, report in zip(group, reports, strict=True)
        ]
    else:
        if image:  # a registry image is tested by the digest that verified
            image = image_to_use(connect(), image, settings)[0]
        variant = variant_of_image(image, settings) if image else flags.variant()
        reports = [run_tests(variant, settings, gpus, image or None)]
        tables = [report_table(reports[0])]
    print(*tables, sep="\n\n")
    if not all(report.passed for report in reports):
        raise Exit(code=1)


RUN_HELP = {
    "env": "NAME=VALUE set in the container (repeatable)",
    "port": "publish PORT, or HOST_PORT:CONTAINER_PORT, on 127.0.0.1 (repeatable)",
    **VARIANT_HELP,
    "image": "this image (tag or digest) instead of the variant's; pulled when not here",
    "gpus": "auto (GPUs when the host has them and the NVIDIA container toolkit; else the CPU), none or all",
    "workdir": "the folder mounted at /workspace (default: the git checkout you are in, else this folder)",
    "shm_size": "size of /dev/shm, e.g. 16g (config envkit.shm_size; default: half the engine's memory)",
    "ipc": "host: share the host's IPC namespace and /dev/shm, instead of --shm-size",
    "cache_volumes": "keep pip/uv, Hugging Face, torch hub and inductor caches across runs "
    "(in Docker volumes, or under envkit.cache_dir); --no-cache-volumes: none",
    "dev": "the variant's dev image (JupyterLab, git, an editor) instead of its runtime image",
}


def _image_flag(image: str | None, variant: VariantFlags) -> str:
    """`--image REF`, checked; "" when not given. It names the variant too."""
    if image is None:
        return ""
    check_given(image=image)
    if problem := reference_problem(image):
        raise UsageError(f"--image {image[:80]!r}: {problem}.")
    if variant.any_given():
        raise UsageError(
            "--image names the image, and its labels the variant: leave out --cuda, --recipe, --dev, --arch, ..."
        )
    return image


def _session(
    c: Context, command: list[str], given: VariantFlags, flags: SessionFlags
) -> tuple[Chosen, RunOptions, Settings, Any]:
    """The image, the checked options, the settings and the engine for `run`, `shell` and `lab`."""
    settings = _settings(c)
    check_given(workdir=flags.workdir, ipc=flags.ipc, shm_size=flags.shm_size)
    options = RunOptions.parse(
        command,
        flags.workdir,
        flags.env,
        flags.ports,
        flags.gpus,
        flags.ipc,
        flags.shm_size,
        flags.cache_volumes,
        settings,
    )
    image = _image_flag(flags.image, given)
    variant = None if image else given.variant(on_host=True)
    client = connect()
    chosen = image_for_variant(client, variant, settings) if variant else given_image(client, image, settings)
    say(f"{chosen.reference}: {chosen.origin}{chosen.emulation_note(client)}")
    return chosen, options, settings, client


def _command_after_dashes(c: Context) -> list[str]:
    command = words_after_dashes(c.remainder, sys.argv)
    if not command:
        raise UsageError("no command: give it after `--`, e.g. `invoke run -- python examples/verify_install.py`.")
    return command


def _no_command(c: Context) -> list[str]:
    if c.remainder:
        raise UsageError("`invoke shell` takes no command; use `invoke run -- CMD ARGS` to run one.")
    return ["bash"]


def _in_image_task(name: str, doc: str, command_of: Callable[[Context], list[str]]) -> Task[Any]:
    """`invoke run` and `invoke shell`: the same flags, one running a command, one bash."""

    @variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
    def body(
        c: Context,
        env: list[str] | None = None,
        port: list[str] | None = None,
        flags: VariantFlags = NO_FLAGS,
        image: str | None = None,
        gpus: str = "auto",
        workdir: str | None = None,
        shm_size: str | None = None,
        ipc: str | None = None,
        cache_volumes: bool = True,
    ) -> None:
        session = SessionFlags(image, gpus, workdir, env or [], port or [], shm_size, ipc, cache_volumes)
        code = run_in_image(*_session(c, command_of(c), flags, session))
        if code:
            raise Exit(code=code)

    body.__doc__ = doc
    made: Task[Any] = task(name=name, help=RUN_HELP, iterable=["env", "port"])(interruptible(body))
    return made


run = _in_image_task(
    "run",
    "Run one command in the team's image, as yourself, your checkout at /workspace: `invoke run -- CMD ARGS`.",
    _command_after_dashes,
)
shell = _in_image_task(
    "shell", "An interactive bash in the team's image, as yourself, your checkout at /workspace.", _no_command
)


@task(
    help={
        **{key: text for key, text in RUN_HELP.items() if key not in ("port", "dev", "arch")},
        "port": "the host port, on 127.0.0.1: auto (a free one) or a number",
        "image": "this dev image (tag or digest) instead of the variant's; pulled when not here",
    },
    iterable=["env"],
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python")
def lab(
    c: Context,
    port: str = "auto",
    env: list[str] | None = None,
    flags: VariantFlags = NO_FLAGS,
    image: str | None = None,
    gpus: str = "auto",
    workdir: str | None = None,
    shm_size: str | None = None,
    ipc: str | None = None,
    cache_volumes: bool = True,
) -> None:
    """JupyterLab in the variant's dev image, as yourself, your checkout at /workspace; prints its URL and token."""
    check_given(port=port)
    host = host_port(port)
    given = replace(flags, dev=image is None)  # the variant's dev image, or the one --image names
    session = SessionFlags(image, gpus, workdir, env or [], [], shm_size, ipc, cache_volumes)
    code = start_lab(*_session(c, [], given, session), port=host)
    if code:
        raise Exit(code=code)


@task(
    help={
        "workdir": "the workspace to write .devcontainer/ into (default: the git checkout you are in, "
        "else this folder)",
        "check": "write nothing; exit non-zero when a config is missing or no longer matches env/ (for CI)",
    }
)
@interruptible
def devcontainer(c, workdir=None, check=False):
    """Write .devcontainer/<variant>/devcontainer.json (and -gpu/) for VS Code, Codespaces and the devcontainer CLI."""
    settings = _settings(c)
    check_given(workdir=workdir)
    fix = "give the workspace to write .devcontainer/ into"
    folder = checked_folder("--workdir", workdir, fix) if workdir is not None else current_checkout()
    if check and (differing := devcontainer_differences(folder, settings)):
        shown = ", ".join(f"{display(path)} ({why})" for path, why in differing.items())
        raise KitError(f"not up to date with env/: {shown}; regenerate with `invoke devcontainer` and commit them.")
    stale = [] if check else write_devcontainers(folder, settings)
    print(
        f"wrote {', '.join(display(path) for path in stale)}" if stale else f"{folder / '.devcontainer'} is up to date"
    )


@task(help={"key_file": f"where the private key goes, outside the checkout (default {DEFAULT_KEY})"})
@interruptible
def keygen(c, key_file=None):
    """Make the team's signing key pair: the private half outside the checkout, the public half in env/signing/."""
    settings = _settings(c)
    check_given(key_file=key_file)
    private, public = generate_keys(settings, key_file)
    print(f"wrote the private key {private} (yours to keep secret: never commit it)")
    print(f"wrote the public key {display(public)}: commit it, so that pull, run and test verify the team's images")
    print(f"publish with: INVOKE_ENVKIT_SIGNING_KEY={private} and the password in COSIGN_PASSWORD")


@task(help={**VARIANT_HELP, "all": "every image pinned in envkit.pins_file (dev images too)", "dev": DEV_HELP})
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
def pull(c: Context, flags: VariantFlags, all_: bool = False) -> None:
    """Pull the team's images: exactly the digests pinned in env/published.json."""
    settings = _settings(c)
    if all_ and flags.any_given():
        raise UsageError(
            "--all pulls every pinned image: leave out --cuda, --recipe, --torch, --python, --dev and --arch."
        )
    variants = None if all_ else [flags.variant(on_host=True)]
    for line in pull_variants(variants, settings):
        print(line)


@task(help=CA_HELP)
@interruptible
def doctor(c, ca_cert=None):
    """Check this machine for the team's images: engine, BuildKit, disk, GPU driver and toolkit, login, TLS."""
    findings = diagnose(_settings(c, ca_cert=ca_cert))
    print(doctor_report(findings))
    if failed := [finding.check for finding in findings if finding.state == FAIL]:
        raise KitError(f"blocking: {', '.join(failed)}; each has its fix above.")


@task(help={"json": "print the states as JSON, for scripts"})
@interruptible
def info(c, json=False):
    """Each variant: its recipe file (locked or stale), local image, last test and published reference."""
    rows = states(_settings(c))
    print(dumps([asdict(row) for row in rows], indent=2) if json else info_table(rows))


@task(
    name="publish",
    help={
        **VARIANT_HELP,
        "registry": "HOST[:PORT]/NAMESPACE to push to (config envkit.registry); log in with `docker login` first",
        "all": "publish every variant that passed its test; list the others and exit non-zero if any",
        "dry_run": "print what would be pushed, push nothing",
        "ca_cert": "CA bundle the registry's certificate chains to (config envkit.ca_cert)",
        "dev": "the dev image (tags end in -dev); with --all, every dev image",
    },
)
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
def publish_(
    c: Context,
    flags: VariantFlags,
    registry: str | None = None,
    all_: bool = False,
    dry_run: bool = False,
    ca_cert: str | None = None,
) -> None:
    """Push a tested image under the tags measured inside it (refuses untested images).

    A variant built for several architectures (cpu-pip: amd64 and arm64) is
    published as one multi-arch tag, each architecture's image tested first;
    `--arch` pushes one architecture's image under its own immutable tag only.
    """
    settings = _settings(c, registry=registry, ca_cert=ca_cert)
    if all_ and flags.arch:
        raise UsageError("--all publishes every variant on every architecture: leave out --arch.")
    if flags.every_arch:
        raise UsageError("--arch all: without --arch, `invoke publish` publishes every architecture as one index.")
    every = [variant for variant in declared_images() if variant.dev == flags.dev]
    variants = every if all_ else [flags.variant()]
    one_arch = flags.arch is not None
    skipped = publish_variants(variants, settings, dry_run=dry_run, skip_untested=all_, one_arch=one_arch)
    if skipped:
        print("skipped (no passing test for the image under their tag):", *skipped, sep="\n  ")
        raise Exit(code=1)


@task(
    help={
        **PIP_VARIANT_HELP,
        "runs": "how many times to measure both images, alternating which goes first (default 3)",
        "base_image": "the base both images build on (e.g. `invoke base`'s)",
        **CA_HELP,
        **INDEX_HELP,
        "empty_build_cache": "allow emptying Docker's builder cache before each cold build (all of it; required)",
        "tiny": "one run and no `invoke test` figure: for the test suite's stand-in recipe",
    }
)
@interruptible
@variant_flags("cuda", "torch", "python")
def bench(
    c: Context,
    flags: VariantFlags,
    runs: str = "3",
    base_image: str | None = None,
    ca_cert: str | None = None,
    index_url: str | None = None,
    extra_index_url: str | None = None,
    empty_build_cache: bool = False,
    tiny: bool = False,
) -> None:
    """Measure the kit's image against a plain pip Dockerfile: builds, sizes, pushes, pulls."""
    settings = _settings(
        c, base_image=base_image, ca_cert=ca_cert, index_url=index_url, extra_index_url=extra_index_url
    )
    variant = flags.variant()
    if not str(runs).isdigit():
        raise UsageError(f"--runs {runs!r}: give a number of runs from 1 to 20.")
    report = run_bench(variant, settings, int(runs), empty_build_cache, tiny)
    print(markdown(report))
    print("report:", ", ".join(display(path) for path in report_paths(settings, variant.name)))


@task(
    help={
        "check": "write nothing; exit non-zero when docker-bake.json no longer matches env/ (for CI)",
        **CA_HELP,
    }
)
@interruptible
def bake(c, check=False, ca_cert=None):
    """Write docker-bake.json from env/variants.toml: `docker buildx bake all` builds every variant."""
    settings = _settings(c, ca_cert=ca_cert)
    if write_bake(settings, check=check, path=BAKE_FILE):
        print(f"{display(BAKE_FILE)} is up to date")
    elif check:
        raise KitError(f"{display(BAKE_FILE)} does not match env/: regenerate it with `invoke bake` and commit it.")
    else:
        print(
            f"wrote {display(BAKE_FILE)}: build every variant with `docker buildx bake --file {display(BAKE_FILE)} all`"
        )


@task(
    help={
        **PIP_VARIANT_HELP,
        "cuda": "one pip variant (default: every declared pip variant)",
        "findings": "judge this `pip-audit --format json` output for the variant's lock instead of running pip-audit",
        **CA_HELP,
    }
)
@interruptible
@variant_flags("cuda", "torch", "python")
def audit(c: Context, flags: VariantFlags, findings: str | None = None, ca_cert: str | None = None) -> None:
    """Known vulnerabilities in the pip locks (pip-audit), judged by env/audit-policy.toml."""
    settings = _settings(c, ca_cert=ca_cert)
    check_given(findings=findings)
    path = checked_path("--findings", findings) if findings is not None else None
    if path is not None and not path.is_file():
        raise UsageError(f"--findings {findings!r}: not a file; give the JSON pip-audit wrote.")
    chosen = flags.any_given() or path is not None
    variants = [flags.variant()] if chosen else [v for v in declared() if v.recipe_facts.wheels]
    failing = []
    for name, verdicts in audit_variants(variants, settings, path):
        print(audit_table(name, verdicts))
        failing += [f"{name}: {v.package} {v.advisory or v.state}" for v in verdicts if v.fails]
    if failing:
        raise KitError(f"{len(failing)} finding(s) not accepted by env/audit-policy.toml: {', '.join(failing[:8])}")


@task(help={**VARIANT_HELP, "if_published": "when the variant has no published image yet, say so and succeed"})
@interruptible
@variant_flags("cuda", "recipe", "torch", "python", "arch")
def drift(c: Context, flags: VariantFlags, if_published: bool = False) -> None:
    """Compare the local build's packages with the pinned published image's (their SBOMs); fail on a difference."""
    settings = _settings(c)
    variant = flags.variant()
    if if_published and variant.name not in read_pins(settings.pins_path):
        print(f"{variant.name}: nothing published in {settings.pins_file} yet; no drift to measure")
        return
    result = against_published(variant, settings)
    print(result.summary())
    if not result.none:
        raise Exit(code=1)


@task(
    help={
        "torch": "only this release of env/compat.toml (default: every one)",
        **CA_HELP,
        "index_url": INDEX_HELP["index_url"],
    }
)
@interruptible
def compat(c, torch=None, ca_cert=None, index_url=None):
    """Check env/compat.toml against PyPI's torch wheels: default CUDA build, runtime, cuDNN, aarch64 build, Pythons."""
    settings = _settings(c, ca_cert=ca_cert, index_url=index_url)
    print("\n".join(check_table(settings, torch)))


@task(
    help={
        "check": "write nothing, build nothing; exit non-zero when a generated page of docs/ no longer matches "
        "the code (for CI)"
    }
)
@interruptible
def docs(c: Context, check: bool = False) -> None:
    """Write the docs' generated reference pages, then build the site into site/ with `mkdocs build --strict`."""
    if check:
        if stale := stale_pages(ns):
            raise KitError(f"{', '.join(stale)}: out of date with the code; regenerate with `invoke docs` and commit.")
        print("the generated pages of docs/ and the README are up to date")
        return
    for name in write_pages(ns):
        print(f"wrote {name}")
    build_site()
    print(f"built the site in {display(SITE)}/: open {display(SITE / 'index.html')} in a browser (it works offline)")


@task(
    help={
        "gpu": "only the CUDA variants (the GPU runner's jobs)",
        "releases": "one row per release: a variant with its other architectures (the publish jobs)",
    }
)
@interruptible
def matrix(c, gpu=False, releases=False):
    """The declared variants as a GitHub Actions matrix (JSON): one CI job per variant."""
    print(variants_matrix(gpu_only=gpu, releases=releases))


ns = Collection(
    base,
    build,
    test,
    publish_,
    keygen,
    lock,
    wheelhouse,
    verify_repro,
    run,
    shell,
    lab,
    devcontainer,
    pull,
    doctor,
    info,
    bench,
    bake,
    docs,
    matrix,
    audit,
    drift,
    compat,
)
ns.configure({"envkit": DEFAULTS})
if Path(sys.argv[0]).name in ("invoke", "inv") or Path(sys.argv[0]).parent.name == "invoke":
    check_command_line(sys.argv[1:])

"""`invoke doctor`: one line per check (pass, warn or fail), each with its fix.
Only a check that blocks all work here fails: no engine, no room for a pull."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

import certifi
import docker
import docker.auth
import requests

from envkit.catalog import gpu_fit
from envkit.catalog.advisories import advisory_note
from envkit.catalog.variants import (
    SEED,
    arch_of_machine,
    arches,
    declared,
    default_arch,
    driver_needs,
    host_arch,
    pins_for,
    platform_cuda,
    siblings,
)
from envkit.catalog.variants import indexes as index_urls
from envkit.core import capabilities, engine, gpus
from envkit.core.errors import UsageError, network_reason
from envkit.core.files import display
from envkit.core.reports import HostGpu
from envkit.core.settings import Settings
from envkit.images import emulation
from envkit.recipes import indexes
from envkit.release import cosign, trust
from envkit.release.pins import read_pins

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class Finding:
    check: str
    state: str  # pass, warn or fail
    detail: str
    fix: str = ""

    def line(self, width: int) -> str:
        fix = f"\n  {'':<{width}}      fix: {self.fix}" if self.fix and self.state != PASS else ""
        return f"{self.state:<4}  {self.check:<{width}}  {self.detail}{fix}"


@dataclass(frozen=True)
class Machine:
    """What the checks share: the engine (None when it does not answer), the
    settings, and the host's GPUs (nvidia-smi asked once, for every check)."""

    client: docker.DockerClient | None
    settings: Settings
    engine_error: str = ""
    host_gpus: list[HostGpu] = field(default_factory=lambda: gpus.host_gpus())


def check_engine(machine: Machine) -> Finding:
    if machine.client is None:
        return Finding(
            "docker engine",
            FAIL,
            machine.engine_error.split(".\n", 1)[0].removeprefix("the Docker daemon is "),
            "start it (`sudo systemctl start docker`, or `sudo dockerd &`) or point DOCKER_HOST at one",
        )
    facts = capabilities.engine_facts(machine.client)
    if facts.legacy:
        zstd = machine.settings.publish_compression == "zstd"
        team = " (and envkit.publish_compression is zstd: this host cannot pull the team's images)" if zstd else ""
        return Finding(
            "docker engine",
            WARN,
            f"{facts.describe()}: a legacy engine (end of life): it pulls no zstd images{team} and builds no "
            "identical digests",
            "upgrade to Docker 25 or newer (Debian 13's docker.io, or Docker's own docker-ce)",
        )
    store = "multi-platform images, " if facts.store == capabilities.CONTAINERD else ""
    return Finding("docker engine", PASS, f"{facts.describe()}: {store}zstd pulls")


def check_builder(machine: Machine) -> Finding:
    try:
        builder = engine.find_builder(machine.settings.docker_client)
        if machine.client is not None:
            builder = capabilities.configure(builder, machine.client)
    except UsageError as error:
        return Finding(
            "buildkit client",
            WARN,
            "none: `invoke build` cannot run here (pull, run and test can)",
            str(error).split("). ", 1)[-1] if "). " in str(error) else str(error),
        )
    return Finding("buildkit client", PASS, f"{builder.description}: {_build_traits(builder)}")


def _build_traits(builder: engine.Builder) -> str:
    """What the builder means for the team's images, in words."""
    known = builder.buildkit is not None and builder.buildkit > (0, 0)  # Debian's builds say v0.0.0+unknown
    said = f"BuildKit {'.'.join(map(str, builder.buildkit or ()))}" if known else "BuildKit version unsaid (probed)"
    if builder.reproducible:
        digests = "identical digests from identical inputs (rewrite-timestamp)"
    elif builder.store == capabilities.CONTAINERD:
        digests = "no identical digests on load (the containerd store refuses rewrite-timestamp)"
        if builder.archive_reproducible:
            digests += ", identical through verify-repro's OCI archive"
    elif builder.is_buildx and builder.rewrites_timestamps is False:
        digests = "no identical digests (probed: its exporter takes rewrite-timestamp and leaves file times)"
    else:
        digests = "no identical digests (layers keep file times)"
    attestations = ", attestations off (the kit's decision)" if builder.attestation_flags else ""
    return f"{said}; {digests}{attestations}"


def check_disk(machine: Machine) -> Finding:
    if machine.client is None:
        return Finding("disk", WARN, "not checked: no engine")
    info = machine.client.info()
    root, store = str(info.get("DockerRootDir") or ""), capabilities.store_of(info)
    try:
        free = shutil.disk_usage(root).free / 1e9
    except OSError:
        return Finding("disk", PASS, f"not measured: Docker's root {root or '?'} is not on this machine")
    build = max(variant.disk_gb(store) for variant in declared())
    pull = max(variant.pull_disk_gb(store) for variant in declared())
    room = f"{free:.1f} GB free under {root}"
    fix = "make room: `docker builder prune` (BuildKit's cache), `docker image prune` (untagged images)"
    if free < pull:
        return Finding("disk", FAIL, f"{room}: a pull needs about {pull:g} GB", fix)
    if free < build:
        return Finding("disk", WARN, f"{room}: enough to pull ({pull:g} GB), not to build ({build:g} GB)", fix)
    return Finding("disk", PASS, f"{room}: enough to build ({build:g} GB) and pull ({pull:g} GB)")


def check_driver(machine: Machine) -> Finding:
    on_host = machine.host_gpus
    if not on_host:
        return Finding(
            "nvidia driver",
            WARN,
            "no NVIDIA GPU: the images run on the CPU",
            "GPU work needs a machine with an NVIDIA GPU and its driver",
        )
    driver = on_host[0].driver
    needs = driver_needs()
    released = {cuda for variant in declared() if (cuda := platform_cuda(variant.platform))}
    cudas = sorted(released, key=gpu_fit.version_of)
    runs, compat, too_old, unknown = [], [], [], []
    for cuda in cudas:
        need = needs.get(cuda)
        if need is None:
            unknown.append(cuda)
        elif need.release and gpu_fit.version_of(driver) >= gpu_fit.version_of(need.release):
            runs.append(cuda)
        elif gpu_fit.version_of(driver) >= gpu_fit.version_of(need.minimum):
            compat.append(cuda)
        else:
            too_old.append(f"{cuda} (needs {need.minimum})")
    detail = f"{on_host[0].name} x{len(on_host)}, driver {driver}: runs CUDA {', '.join(runs + compat) or 'none'}"
    if compat:
        detail += f" ({', '.join(compat)} through minor-version compatibility)"
    if unknown:
        detail += f"; no driver data for CUDA {', '.join(unknown)} in env/compat.toml"
    detail += _lines_on(on_host[0])
    if too_old:
        return Finding(
            "nvidia driver",
            WARN,
            f"{detail}; too old for CUDA {', '.join(too_old)}",
            "update the NVIDIA driver, or use an older CUDA variant",
        )
    return Finding("nvidia driver", PASS, detail)


def _lines_on(gpu: HostGpu) -> str:
    """The lines beside the seed (env/variants.toml [lines]), said, not judged:
    a team on the seed need not update its driver for a line it does not use."""
    arch = host_arch() or default_arch()
    said = [
        f"{pins_for(variant.platform).line} line (CUDA {variant.cuda}) "
        + (gpu_fit.problem(gpu, variant.cuda or "", variant.gpu_archs) or "runs")
        for variant in gpu_fit.candidates(arch)
        if pins_for(variant.platform).line != SEED
    ]
    capability = f", compute capability {gpu.compute_cap}" if gpu.compute_cap else ""
    return f"{capability}; {'; '.join(said)}" if said else capability


def check_gpu_kernels(machine: Machine) -> Finding:
    """Each GPU's compute capability against the architectures each image's
    torch has kernels for: a Blackwell GPU gets nothing from torch 2.4.1's
    cu121 build, a Pascal one nothing from a CUDA 13 build."""
    if not machine.host_gpus:
        return Finding("gpu kernels", PASS, "no NVIDIA GPU: no kernels to match")
    arch = host_arch() or default_arch()
    said, fixes = [], []
    for gpu in dict.fromkeys(machine.host_gpus):  # one row per kind of GPU, in nvidia-smi's order
        if not gpu.compute_cap:
            said.append(f"{gpu.name}: compute capability not reported (a driver before R510): not checked")
            continue
        runs, lacks, unmeasured = [], [], []
        for variant in gpu_fit.candidates(arch):
            if variant.gpu_archs is None:
                unmeasured.append(variant.name)
            elif gpu_fit.runs_on(variant.gpu_archs, gpu.compute_cap):
                runs.append(variant.name)
            else:
                lacks.append(variant.name)
        row = f"{gpu.name} ({gpu.compute_cap}): kernels in {', '.join(runs) or 'none of the images'}"
        row += f"; none in {', '.join(lacks)}" if lacks else ""
        row += f"; not measured: {', '.join(unmeasured)}" if unmeasured else ""
        said.append(row)
        # The seed's images are the team's default: one without kernels for a GPU here is a warning;
        # a line's, as in _lines_on, is said and not judged.
        seed_lacks = any(pins_for(v.platform).line == SEED and v.name in lacks for v in gpu_fit.candidates(arch))
        if seed_lacks or (lacks and not runs):
            instead = gpu_fit.alternatives(gpu, arch)
            fixes.append(f"on {gpu.name}, use {' or '.join(instead)}" if instead else f"no image runs on {gpu.name}")
    if fixes:
        return Finding("gpu kernels", WARN, "; ".join(said), "; ".join(fixes))
    return Finding("gpu kernels", PASS, "; ".join(said))


def check_toolkit(machine: Machine) -> Finding:
    if machine.client is None:
        return Finding("gpu runtime", WARN, "not checked: no engine")
    has_runtime = gpus.has_gpu_runtime(machine.client)
    if not machine.host_gpus:
        state = "present" if has_runtime else "absent"
        return Finding("gpu runtime", PASS, f"NVIDIA container toolkit {state}; not needed without a GPU")
    if not has_runtime:
        return Finding(
            "gpu runtime",
            WARN,
            "no NVIDIA container toolkit: containers get no GPU (--gpus auto runs on the CPU)",
            "install nvidia-container-toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`",
        )
    return Finding("gpu runtime", PASS, "NVIDIA container toolkit: containers get the GPUs")


def check_architecture(machine: Machine) -> Finding:
    """Which of the team's images run natively on this engine, and which
    would run emulated (QEMU user emulation: 6-10x slower) or not at all."""
    name = str(machine.client.info().get("Architecture", "")) if machine.client else platform.machine()
    native = arch_of_machine(name)
    if native is None:
        return Finding(
            "architecture",
            WARN,
            f"{name}: no image is built for it (env/variants.toml [arches]: {', '.join(arches())}); "
            "they may not run here",
            "use a linux/amd64 or linux/arm64 machine",
        )
    here = f"{name} (linux/{native})"
    foreign = [v for v in declared() if v.arch != native]
    without_native = [v.name for v in foreign if all(s.arch != native for s in siblings(v))]
    no_qemu = sorted({v.docker_platform for v in foreign if not emulation.qemu_registered(v.arch)})
    if no_qemu and native == host_arch():
        return Finding(
            "architecture",
            WARN,
            f"{here}: {', '.join(v.name for v in foreign)} cannot run here: no QEMU for {', '.join(no_qemu)}",
            "install qemu-user-static and binfmt-support (Debian/Ubuntu) to build and run them emulated; "
            "QEMU 7.2 (Debian 12's) crashes importing torch 2.11 and later, 11.1 was tested (`bash .ci/setup`)",
        )
    if without_native:
        native_ones = ", ".join(v.name for v in declared() if v.arch == native) or "none"
        return Finding(
            "architecture",
            WARN,
            f"{here}: {', '.join(without_native)} have no linux/{native} image and would run emulated under QEMU, "
            f"6-10x slower; native here: {native_ones}",
            "use a linux/amd64 machine for the CUDA variants",
        )
    emulated = ", ".join(f"{v.name} ({v.docker_platform})" for v in foreign)
    note = f"; {emulated} would run emulated under QEMU" if emulated else ""
    return Finding("architecture", PASS, f"{here}: every variant has a native image here{note}")


def _registry_hosts(settings: Settings) -> list[str]:
    hosts = [settings.registry.host] if settings.registry else []
    pins = read_pins(settings.pins_path)
    hosts += [pin.reference.split("/", 1)[0] for pin in pins.values()]
    return sorted(set(hosts))


def check_login(machine: Machine) -> Finding:
    hosts = _registry_hosts(machine.settings)
    if not hosts:
        return Finding("registry login", PASS, "no registry configured (envkit.registry) or pinned")
    config = docker.auth.load_config()
    missing = [
        host
        for host in hosts
        if host not in config.auths and host not in config.cred_helpers and not config.creds_store
    ]
    if missing:
        return Finding(
            "registry login",
            WARN,
            f"no login for {', '.join(missing)} (fine where it allows anonymous pulls)",
            " and ".join(f"`docker login {host}`" for host in missing),
        )
    how = "a credential store" if config.creds_store else "a saved login"
    return Finding("registry login", PASS, f"{', '.join(hosts)}: {how}")


def package_index(settings: Settings) -> str:
    """PyPI's simple index as builds reach it: the override, else its mirror."""
    return settings.index_url or indexes.mirrored(index_urls().pypi, settings.mirrors)


def check_tls(machine: Machine) -> Finding:
    """A container trusts the public roots only: an HTTPS request with those
    (certifi's) that fails on an unknown CA means a proxy re-signs traffic."""
    url = package_index(machine.settings).rstrip("/") + "/"
    if not url.startswith("https://"):
        return Finding("tls", PASS, f"the package index is {url}: no TLS on the way")
    try:
        requests.head(url, timeout=10, allow_redirects=True, verify=certifi.where())
    except requests.exceptions.SSLError:
        pass  # told apart below
    except requests.RequestException as error:
        return Finding(
            "tls",
            WARN,
            f"{url} not reachable ({network_reason(error)})",
            "builds and locks need the index: check the network, or set envkit.index_url to a mirror",
        )
    else:
        return Finding("tls", PASS, f"no TLS interception on the way to {url}")
    if machine.settings.ca_cert:
        return Finding("tls", PASS, f"intercepted; envkit.ca_cert ({machine.settings.ca_cert}) is passed to builds")
    return Finding(
        "tls",
        WARN,
        f"intercepted: a proxy re-signs HTTPS to {url} with a CA the images do not trust, so builds will fail",
        "set envkit.ca_cert (or pass --ca-cert) to your proxy's CA bundle, e.g. /etc/ssl/certs/ca-certificates.crt",
    )


def check_advisories(machine: Machine) -> Finding:
    """Known advisories of the team's variants' torch (env/advisories.toml),
    said offline; `invoke audit` asks the live feed."""
    releases = sorted({variant.torch for variant in declared()})
    notes = [note for torch in releases if (note := advisory_note(torch))]
    if notes:
        return Finding(
            "advisories",
            WARN,
            "; ".join(notes),
            "move to the line that fixes them (docs/guides/variants-and-lines.md); "
            "`invoke audit` checks the live advisory feed",
        )
    return Finding("advisories", PASS, f"none known for torch {', '.join(releases)} (env/advisories.toml)")


def check_signing(machine: Machine) -> Finding:
    """Who the trust policy accepts, whether cosign is here to verify with, and whether unsigned is allowed."""
    settings = machine.settings
    if settings.unsigned == "allow":
        return Finding(
            "signing",
            WARN,
            "envkit.unsigned is allow: registry images are used without verifying who signed them",
            "unset INVOKE_ENVKIT_UNSIGNED (or envkit.unsigned) once the images you use are signed",
        )
    try:
        policy = trust.read_policy(settings)
    except UsageError as error:  # the policy's own message names the file and how to mend it
        problem, _, fix = str(error).partition("\n")
        return Finding(
            "signing", FAIL, problem, fix or f"restore it with `git checkout {display(settings.signing_policy_path)}`"
        )
    try:
        tool = cosign.find()
    except UsageError as error:
        return Finding("signing", FAIL, str(error).splitlines()[0], "install cosign 3 (`bash .ci/setup`)")
    signs = "publish signs with envkit.signing_key" if settings.signing_key else "envkit.signing_key unset"
    if not policy.identities:
        return Finding(
            "signing",
            WARN,
            f"no trust policy in {display(policy.folder)}: every registry image is refused; {signs}",
            "`invoke keygen` makes the team's key pair; commit its cosign.pub",
        )
    return Finding("signing", PASS, f"cosign {tool.version}; registry images signed by {policy.describe()}; {signs}")


CHECKS: tuple[Callable[[Machine], Finding], ...] = (
    check_engine,
    check_builder,
    check_disk,
    check_driver,
    check_gpu_kernels,
    check_toolkit,
    check_architecture,
    check_login,
    check_tls,
    check_advisories,
    check_signing,
)


def diagnose(settings: Settings) -> list[Finding]:
    try:
        machine = Machine(engine.connect(), settings)
    except UsageError as error:
        machine = Machine(None, settings, str(error))
    return [check(machine) for check in CHECKS]


def report(findings: list[Finding]) -> str:
    width = max(len(finding.check) for finding in findings)
    lines = [finding.line(width) for finding in findings]
    failed = sum(finding.state == FAIL for finding in findings)
    warned = sum(finding.state == WARN for finding in findings)
    lines.append(f"{failed} failed, {warned} warned, {len(findings) - failed - warned} passed")
    return "\n".join(lines)

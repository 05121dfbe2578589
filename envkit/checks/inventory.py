"""The `inventory` check: every package in the image, read inside it, for the
SBOM. Python packages come with the sha256 of the exact wheel they were
installed from (recorded by docker/env_layers at install time), conda
packages with the digests in their conda-meta records, Debian packages with
their versions and architectures. For a hash-locked pip recipe the check
fails when an installed wheel's digest is not one the lock allows."""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from envkit.checks.check import Context, Outcome
from envkit.checks.container import ProbeContainer
from envkit.core.errors import UsageError
from envkit.core.validation import STRICT, validate_json
from envkit.images import plan
from envkit.recipes.kinds import kind_of

WHEEL_RECORDS = "/opt/envkit/wheels"  # docker/env_layers writes one file per install step
# Runs with the image's python: the venv's distributions and the wheels they came from, or the conda env's records.
_READ = f"""
import glob, importlib.metadata as m, json, os, sys
wheels = {{}}
for path in sorted(glob.glob("{WHEEL_RECORDS}/*.txt")):
    for line in open(path):
        if line.strip():
            name, version, digest, wheel = line.split()
            wheels[name + "==" + version] = [digest, wheel]
conda = []
for path in glob.glob(os.path.join(sys.prefix, "conda-meta", "*.json")):
    r = json.load(open(path))
    conda.append([r["name"], r["version"], r.get("build", ""), r.get("channel", ""), r.get("sha256") or "",
                  r.get("md5") or ""])
python = [[d.metadata["Name"], d.version] for d in m.distributions()]
print(json.dumps({{"python": python, "wheels": wheels, "conda": conda}}))
"""
_DEBIAN = ["dpkg-query", "--show", "--showformat", "${Package}\\t${Version}\\t${Architecture}\\n"]


@dataclass(frozen=True)
class Package:
    kind: str  # pypi, conda or deb
    name: str
    version: str
    sha256: str = ""
    md5: str = ""
    origin: str = ""  # the wheel file, the conda channel and build, the Debian architecture


@dataclass
class Inventory:
    packages: list[Package] = field(default_factory=list)

    def of(self, kind: str) -> list[Package]:
        return [package for package in self.packages if package.kind == kind]


@dataclass(frozen=True)
class Listed:
    """What the probe prints inside the image."""

    __pydantic_config__ = STRICT
    python: list[tuple[str, str]]
    wheels: dict[str, tuple[str, str]]
    conda: list[tuple[str, str, str, str, str, str]]


def parse(listed: Listed, debian: str) -> Inventory:
    """What the probe printed, as packages (conda packages replace the
    Python distributions of a conda env: they are what was installed)."""
    found: list[Package] = []
    for name, version, build, channel, sha256, md5 in listed.conda:
        found.append(Package("conda", name, version, sha256, md5, f"{channel} {build}".strip()))
    if not listed.conda:
        wheels = listed.wheels
        for name, version in listed.python:
            key = f"{canonicalize_name(name)}=={version}"
            digest, wheel = wheels.get(key, ("", ""))
            found.append(Package("pypi", canonicalize_name(name), version, digest, origin=wheel))
    for row in debian.splitlines():
        name, version, architecture = row.split("\t")
        found.append(Package("deb", name, version, origin=architecture))
    return Inventory(sorted(found, key=lambda p: (p.kind, p.name, p.version)))


def hash_problems(inventory: Inventory, allowed: dict[str, tuple[str, ...]]) -> list[str]:
    """Installed wheels of locked pins whose digest the lock does not list."""
    problems = []
    for package in inventory.of("pypi"):
        hashes = allowed.get(package.name)
        if hashes and f"sha256:{package.sha256}" not in hashes:
            found = package.sha256[:12] or "no recorded wheel"
            problems.append(f"{package.name} {package.version}: {found} is not a hash the lock allows")
    return problems


def inventory(box: ProbeContainer, ctx: Context) -> Outcome:
    listed = box.exec(["python", "-c", _READ])
    debian = box.exec(_DEBIAN)
    seconds = listed.seconds + debian.seconds
    if not (listed.ok and debian.ok):
        failed = listed if not listed.ok else debian
        return Outcome(False, f"exit {failed.code}: {failed.tail()}", seconds)
    try:
        found = parse(validate_json(Listed, listed.stdout, "the inventory probe", ""), debian.stdout.strip())
    except (UsageError, ValueError) as error:
        return Outcome(False, str(error).strip()[:300], seconds)
    ctx.inventory = found
    allowed: dict[str, tuple[str, ...]] = {}
    variant = ctx.variant
    try:
        recipes = plan.installed_locks(variant)
    except UsageError:
        recipes = []  # matches_recipe reports it
    for lock in recipes:
        if lock.hash_locked:
            allowed |= kind_of(variant).hashes(lock)
    problems = hash_problems(found, allowed)
    counts = ", ".join(f"{len(found.of(kind))} {kind}" for kind in ("pypi", "conda", "deb") if found.of(kind))
    hashed_count = sum(1 for package in found.packages if package.sha256 or package.md5)
    detail = "; ".join(problems) or f"{counts} packages, {hashed_count} with the digest of the file installed"
    return Outcome(not problems, detail, seconds)

"""`invoke verify-repro`: build a variant twice from scratch (`--no-cache`)
and compare the Python environments file by file (path, type, mode, sha256)
and package by package. The kit aims for no difference: packages come from
a hash-locked recipe, and bytecode is compiled with hash-based invalidation
(pip's own compilation stamps each .pyc with the time of the install)."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import docker

from envkit.catalog.variants import Variant
from envkit.core import capabilities, engine, provenance
from envkit.core.errors import KitError
from envkit.core.report_files import repro_path, write_report
from envkit.core.settings import Settings
from envkit.images import build

ENV_ROOTS = {"pip": "/opt/venv", "conda": "/opt/env"}
# Runs inside the image: every entry under the root, with what identifies its content. With --whole (the
# root is then /), every entry of the image's file system, with the rest of what a layer's archive holds of
# it: owner, time, hard links, extended attributes. What the engine makes in every container is left out:
# the mounts (/proc, /sys, /dev, /etc/hosts, ...), /.dockerenv, /etc/mtab, and the time of /etc, which
# those change. Run with -B: no bytecode written.
_LISTING = """
import hashlib, json, os, stat, sys
root, whole = sys.argv[1], "--whole" in sys.argv[2:]
device, entries, inodes = os.lstat(root).st_dev, {}, {}
def attributes(path):
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return "{}"
    return json.dumps({n: os.getxattr(path, n, follow_symlinks=False).hex() for n in names})
for folder, dirs, files in os.walk(root):
    dirs.sort()
    if whole:
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(folder, d)).st_dev == device]
    for name in dirs + sorted(files):
        path = os.path.join(folder, name)
        info = os.lstat(path)
        if whole and (info.st_dev != device or path in ("/.dockerenv", "/etc/mtab")):
            continue
        if stat.S_ISLNK(info.st_mode):
            what = "link:" + os.readlink(path)
        elif stat.S_ISDIR(info.st_mode):
            what = "dir"
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                what = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
        else:
            what = "type:" + oct(stat.S_IFMT(info.st_mode))
        entry = [oct(stat.S_IMODE(info.st_mode)), what]
        if whole:
            shared = info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode)
            first = os.path.relpath(inodes.setdefault(info.st_ino, path), root) if shared else ""
            mtime = "" if path == "/etc" else str(info.st_mtime_ns)
            entry += [f"{info.st_uid}:{info.st_gid}", mtime, first, attributes(path)]
        entries[os.path.relpath(path, root)] = entry
print(json.dumps(entries))
"""
# What each field of a listing's entry is, in the order _LISTING writes them.
_FIELDS = ("mode", "content", "owner", "time", "hard link", "extended attributes")
_SHOWN_BOTH = {"mode", "owner", "time", "hard link"}  # short enough to print both builds' values
_PACKAGES = (
    "import json, importlib.metadata as m; "
    "print(json.dumps(sorted(f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions())))"
)


@dataclass
class Comparison:
    variant: str
    root: str
    files: int = 0
    differences: list[str] = field(default_factory=list)
    packages_equal: bool = True
    layers_equal: bool = False
    # Where digests were expected equal and are not: the layers (1 = the lowest) and the files that differ.
    layers_differing: list[int] = field(default_factory=list)
    image_differences: list[str] = field(default_factory=list)
    build_seconds: list[float] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    # The builder rewrites times to SOURCE_DATE_EPOCH: the image digests must then be equal too.
    digests_expected: bool = False
    store: str = ""  # the engine's image store
    buildx: bool = False  # built with buildx (which takes rewrite-timestamp=true), not a legacy client

    @property
    def digests_equal(self) -> bool:
        return len(set(self.image_ids)) == 1

    @property
    def environment_identical(self) -> bool:
        return not self.differences and self.packages_equal

    @property
    def identical(self) -> bool:
        return self.environment_identical and (self.digests_equal or not self.digests_expected)


def _inside(client: docker.DockerClient, image: str, argv: list[str]) -> Any:
    code, output, errors = engine.run_container(client, image, argv, network_mode="none", user="0")
    if code != 0:
        raise KitError(f"listing the environment in {image[:19]} failed (exit {code}): {errors.strip()[-300:]}")
    return json.loads(output)


def compare_listings(first: dict[str, list[str]], second: dict[str, list[str]]) -> list[str]:
    differences = [f"only in the first build: {path}" for path in sorted(first.keys() - second.keys())]
    differences += [f"only in the second build: {path}" for path in sorted(second.keys() - first.keys())]
    for path in sorted(first.keys() & second.keys()):
        for name, value_a, value_b in zip(_FIELDS, first[path], second[path], strict=False):
            if value_a != value_b:
                both = f" ({value_a} / {value_b})" if name in _SHOWN_BOTH else ""
                differences.append(f"{name} differs: {path}{both}")
    return differences


def differing_layers(first: list[str], second: list[str]) -> list[int]:
    """The layers (counted from 1, the lowest) whose content digests differ, or that only one image has."""
    return [n for n in range(1, max(len(first), len(second)) + 1) if first[n - 1 : n] != second[n - 1 : n]]


def compare_rebuilds(variant: Variant, settings: Settings) -> Comparison:
    root = ENV_ROOTS[variant.recipe]
    client = engine.connect()
    builder = capabilities.builder_for(client, settings.docker_client)
    expected = builder.reproducible or builder.archive_reproducible
    result = Comparison(variant.name, root, digests_expected=expected, store=builder.store, buildx=builder.is_buildx)
    # Each build checks for its own room; the second would find the first's layers and cache in it.
    engine.check_free_disk(client, 2 * variant.disk_gb(builder.store), f"two --no-cache builds of {variant.name}")
    # One provenance for both: on a dirty tree it is the time it is read, which SOURCE_DATE_EPOCH becomes.
    origin = provenance.current(settings.source_url)
    images = []
    try:
        for run in ("a", "b"):
            scratch = replace(settings, image_name=f"{settings.image_name}-repro-{run}")
            built = build.build_image(variant, scratch, no_cache=True, reproducible=True, origin=origin)
            images.append(built.image_id)
            result.image_ids.append(built.image_id)
            result.build_seconds.append(built.seconds)
        listings = [_inside(client, image, ["python", "-B", "-c", _LISTING, root]) for image in images]
        result.files = len(listings[0])
        result.differences = compare_listings(*listings)
        packages = [_inside(client, image, ["python", "-c", _PACKAGES]) for image in images]
        result.packages_equal = packages[0] == packages[1]
        layers = [client.images.get(image).attrs["RootFS"]["Layers"] for image in images]
        result.layers_equal = layers[0] == layers[1]
        if result.digests_expected and not result.digests_equal:
            # The digests say only that something differs: find what, over the whole file system.
            result.layers_differing = differing_layers(*layers)
            wholes = [_inside(client, image, ["python", "-B", "-c", _LISTING, "/", "--whole"]) for image in images]
            result.image_differences = compare_listings(*wholes)
    finally:
        for run in ("a", "b"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(f"{settings.image_name}-repro-{run}:{variant.name}", noprune=False)
    write_report(
        settings, repro_path(settings, variant.name), json.dumps({**asdict(result), "at": time.time()}, indent=2)
    )
    return result


def repro_summary(result: Comparison) -> str:
    lines = [f"{result.variant}: two --no-cache builds ({', '.join(f'{s:.0f} s' for s in result.build_seconds)})"]
    # Said whenever it holds: an image digest that differs is a separate finding, reported below.
    if result.environment_identical:
        lines.append(f"  {result.root}: {result.files} entries, identical (path, mode, sha256); package set identical")
    else:
        lines += [f"  {difference}" for difference in result.differences[:50]]
        if len(result.differences) > 50:
            lines.append(f"  ... and {len(result.differences) - 50} more")
        if not result.packages_equal:
            lines.append("  the installed package sets differ")
    lines.append("  BuildKit keeps both builds' layers in its cache: `docker builder prune` reclaims the space")
    lines.append("  image layer digests: " + ("identical" if result.layers_equal else "differ"))
    if result.digests_equal:
        lines.append(f"  image digests: identical ({result.image_ids[0]})")
    elif result.digests_expected:
        lines.append(
            f"  image digests differ ({', '.join(i[:19] for i in result.image_ids)}), though the builder "
            "rewrites times to SOURCE_DATE_EPOCH: something in a layer is not reproducible"
        )
        lines += _what_differs(result)
    elif result.store == capabilities.CONTAINERD:
        lines.append(
            "  image digests differ, as expected on the containerd image store: its docker exporter refuses "
            'rewrite-timestamp=true ("conflicts with unpack", moby/buildkit#4230), so layers keep file times'
        )
    elif result.buildx:
        lines.append(
            "  image digests differ, as expected of this builder: its docker exporter takes "
            "rewrite-timestamp=true and leaves the file times in layers (probed); on the containerd image store "
            "verify-repro builds through an OCI archive, and two builds have one digest"
        )
    else:
        lines.append(
            "  image digests differ, as expected of this builder: it keeps file times in layers; buildx with "
            "BuildKit 0.13+ builds with SOURCE_DATE_EPOCH and rewrite-timestamp=true, and they are then compared"
        )
    return "\n".join(lines)


def _what_differs(result: Comparison) -> list[str]:
    """Where the image digests differ though they should not: which layers, and what in the files."""
    lines = []
    if result.layers_differing:
        lines.append("  layers that differ (1 = the lowest): " + ", ".join(map(str, result.layers_differing)))
    if result.image_differences:
        lines.append(
            "  what differs in the image's files (content, mode, owner, time, hard links, extended attributes):"
        )
        lines += [f"    {difference}" for difference in result.image_differences[:50]]
        if len(result.image_differences) > 50:
            lines.append(f"    ... and {len(result.image_differences) - 50} more")
    else:
        lines.append(
            "  no file of the image differs in content, mode, owner, time, hard links or extended attributes "
            "(the time of /etc aside, which the engine changes): the layers' archives differ in form "
            "(entry order, headers)"
        )
    return lines

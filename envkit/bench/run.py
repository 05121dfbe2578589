"""`invoke bench`: the kit's image against the plain baseline, built and
shipped side by side in one run on one machine, alternating which goes
first, N times. Per contender and run:

 1. cold build: the builder cache emptied first (layers and package caches);
    the bytes the network interface received meanwhile
 2. rebuild after an edit to examples/ only; how many layers it rebuilt
 3. `invoke test` on the cold image (the kit's; the baseline has no checks)
 4. first push to an empty registry of the bench's own; re-push under a new
    tag (re-publish); the bytes each upload added to the registry's storage,
    whose manifest also gives the compressed size
 5. rebuild after a one-pin change (package caches kept), its push
 6. pull into the engine with the contender's images and the builder cache
    gone (only the base image's layers remain), then the one-pin image
 7. the kit's image as `invoke publish` ships it, once per layer compression
    the store can push (gzip; zstd too on the containerd store): the label
    step that compresses it, its push, its compressed size, and its pull into
    an engine without the contender's images. (The first push above sends the
    layers as the build stored them: gzip on the classic store, zstd level 1
    on the containerd store.)
The floor of a cold build is its bytes at the rate the network gives the
locked wheels (measured in the same run) plus its layer export.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import docker
import requests

from envkit import ROOT
from envkit.bench import measure
from envkit.bench.contenders import (
    BENCH_IMAGE,
    Baseline,
    Kit,
    OnePin,
    bench_settings,
    context_copy,
    edited_examples,
)
from envkit.bench.registry import ScratchRegistry, registry_binary
from envkit.bench.report import Report, Sample, machine, write_report
from envkit.catalog.variants import Variant
from envkit.checks.testrun import run_tests
from envkit.core import capabilities, engine
from envkit.core.errors import KitError, UsageError
from envkit.core.report_files import check_writable
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.wheelhouse import platform_tags
from envkit.recipes import indexes
from envkit.recipes.files import read_pip
from envkit.release.publish import release_image

# The layer compressions a publish can push from each image store (see envkit.release.releases.check_compression).
PUSHED_COMPRESSIONS: dict[str, tuple[Literal["gzip", "zstd"], ...]] = {
    capabilities.CONTAINERD: ("gzip", "zstd"),
    capabilities.CLASSIC: ("gzip",),
}
BENCH_RELEASE_LABEL = "io.envkit.bench.release"  # so a user's own release of the same image is never reused
# What --tiny writes before its last kit build (the stand-in images, their releases, the scratch registry's
# copies): CI's free disk fell by about 0.5 GB over it on the containerd store, where a kit build refused.
TINY_WRITES_GB = 2.0

# The package a one-pin change moves, in order of preference: small, pure
# Python, and in every pip lock (torch depends on both).
ONE_PIN_CANDIDATES = ("filelock", "typing-extensions")
Contender = Kit | Baseline


def check_request(variant: Variant, runs: int, empty_build_cache: bool) -> None:
    if not variant.recipe_facts.wheels:
        raise UsageError(
            f"invoke bench compares a pip recipe with a plain pip Dockerfile; {variant.name} is a conda variant."
        )
    if not 1 <= runs <= 20:
        raise UsageError(f"--runs {runs}: give a number of runs from 1 to 20.")
    if not empty_build_cache:
        raise UsageError(
            "invoke bench measures cold builds, so it empties Docker's builder cache before each one "
            "(`docker builder prune --all`: every project's build cache on this engine, not only the kit's). "
            "Pass --empty-build-cache to allow it."
        )


def one_pin_change(variant: Variant, settings: Settings) -> OnePin:
    """The bench's one-pin change: the first candidate the lock pins, moved to
    the newest release before the locked one that has a wheel on the index."""
    lock = read_pip(ROOT / variant.lock_file)
    urls = indexes.effective(variant, settings)
    context = measure.ssl_context(settings.ca_cert)
    tags = measure.wheel_tags(variant.python, platform_tags())
    for name in ONE_PIN_CANDIDATES:
        pin = lock.pins.get(name)
        if pin is None:
            continue
        older = measure.older_release(pin, urls, tags, context)
        if older is not None:
            return OnePin(pin.name, pin.version, *older)
    raise KitError(f"none of {', '.join(ONE_PIN_CANDIDATES)} has an older release with a wheel to change the lock to")


class Bench:
    def __init__(self, variant: Variant, settings: Settings, scratch: Path, tiny: bool) -> None:
        self.variant = variant
        self.settings = bench_settings(settings, scratch)
        self.scratch = scratch
        self.tiny = tiny
        self.client = engine.connect()
        # Emptying gigabytes of builder cache, or a push compressing a large layer, keeps a request
        # open far longer than the SDK's default 60 s.
        self.client.api.timeout = 3600
        self.created: set[str] = set()  # every tag the bench put on the engine

    def tag(self, image_id: str, tag: str) -> str:
        reference = f"{BENCH_IMAGE}:{tag}"
        self.client.images.get(image_id).tag(reference)
        self.created.add(reference)
        return reference

    def untag_all(self) -> None:
        """Remove the bench's tags (and so its images); nothing else."""
        for reference in sorted(self.created):
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.client.images.remove(reference)
        for name in (f"{BENCH_IMAGE}:{self.variant.name}", f"{BENCH_IMAGE}:{self.variant.name}-baseline"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.client.images.remove(name)
        self.created.clear()

    def empty_build_cache(self) -> None:
        self.client.api.prune_builds(all=True)

    def layers(self, image_id: str) -> list[str]:
        return list(self.client.images.get(image_id).attrs["RootFS"]["Layers"])

    def rebuilt(self, before: str, after: str) -> int:
        """How many layers of `after` `before` does not have: what a push or a
        pull of `after` moves where `before` already is."""
        old = set(self.layers(before))
        return sum(1 for layer in self.layers(after) if layer not in old)

    def push(self, registry: ScratchRegistry, image_id: str, repository: str, tag: str) -> tuple[float, int]:
        """Push; return the seconds and the bytes the registry's storage gained."""
        reference = registry.reference(repository, tag)
        self.client.images.get(image_id).tag(reference)
        self.created.add(reference)
        before = registry.blobs()
        started = time.monotonic()
        for event in self.client.images.push(f"{registry.host}/{repository}", tag, stream=True, decode=True):
            if "error" in event:
                raise KitError(f"pushing {reference} failed: {event['error']}")
        seconds = time.monotonic() - started
        after = registry.blobs()
        return seconds, sum(size for digest, size in after.items() if digest not in before)

    def pull(self, registry: ScratchRegistry, repository: str, tag: str) -> tuple[float, int]:
        """Pull; return the seconds and the compressed bytes of the layers it fetched."""
        layers = manifest_layers(registry.host, repository, tag)
        started = time.monotonic()
        events = list(self.client.api.pull(f"{registry.host}/{repository}", tag, stream=True, decode=True))
        seconds = time.monotonic() - started
        if failed := [event["error"] for event in events if "error" in event]:
            raise KitError(f"pulling {registry.reference(repository, tag)} failed: {failed[0]}")
        self.created.add(registry.reference(repository, tag))
        return seconds, measure.pulled_bytes(events, layers)

    def push_releases(
        self, registry: ScratchRegistry, image_id: str, figures: dict[str, float]
    ) -> list[tuple[Literal["gzip", "zstd"], str]]:
        """Push the image as `invoke publish` would, once per compression this
        store can push; record the label step, the push and the compressed size;
        return each compression with the repository it went to (pulled later, one at a time)."""
        store = capabilities.engine_facts(self.client).store
        pushed = []
        for compression in PUSHED_COMPRESSIONS[store]:
            started = time.monotonic()
            release = release_image(
                self.client,
                self.client.images.get(image_id),
                {BENCH_RELEASE_LABEL: compression},
                replace(self.settings, publish_compression=compression),
            )
            figures[f"{compression}_release_s"] = round(time.monotonic() - started, 1)
            self.tag(str(release.id), f"{self.variant.name}-kit-{compression}")
            repository = f"bench/kit-{compression}"
            figures[f"{compression}_push_s"], _ = self.push(registry, str(release.id), repository, "release")
            if (found := layer_compressions(registry.host, repository, "release")) != {compression}:
                raise KitError(f"the {compression} release went out with {', '.join(sorted(found))} layers")
            figures[f"{compression}_bytes"] = sum(manifest_layers(registry.host, repository, "release").values())
            pushed.append((compression, repository))
        return pushed

    def measure(self, contender: Contender, one_pin: OnePin, rate: measure.DownloadRate) -> Sample:
        figures: dict[str, float] = {}
        name = contender.name
        interface = measure.default_interface()

        self.empty_build_cache()
        received = measure.received_bytes(interface)
        cold = contender.build()
        figures["cold_build_s"] = cold.seconds
        figures["cold_download_bytes"] = measure.received_bytes(interface) - received
        figures["export_s"] = cold.export_seconds
        figures["size_bytes"] = engine.unpacked_size(self.client, self.client.images.get(cold.image_id))
        if rate.bytes_per_second:  # what no build on this network could beat
            figures["floor_s"] = figures["cold_download_bytes"] / rate.bytes_per_second + cold.export_seconds
        self.tag(cold.image_id, f"{self.variant.name}-{name}-cold")

        edit_context = context_copy(self.scratch, "edit")
        edited_examples(edit_context)
        edit = contender.build(edit_context)
        figures["edit_rebuild_s"] = edit.seconds
        figures["edit_layers_rebuilt"] = self.rebuilt(cold.image_id, edit.image_id)
        self.tag(edit.image_id, f"{self.variant.name}-{name}-edit")

        if isinstance(contender, Kit) and not self.tiny:
            started = time.monotonic()
            report = run_tests(
                self.variant, self.settings, gpus="none", reference=f"{BENCH_IMAGE}:{self.variant.name}-kit-cold"
            )
            figures["invoke_test_s"] = round(time.monotonic() - started, 1)
            if not report.passed:
                raise KitError("the kit's image failed `invoke test` in the bench; run `invoke test` to see why.")

        with ScratchRegistry(Path(tempfile.mkdtemp(prefix="registry-", dir=self.scratch))) as registry:
            repository = f"bench/{name}"
            figures["first_push_s"], figures["first_push_bytes"] = self.push(
                registry, cold.image_id, repository, "cold"
            )
            figures["compressed_bytes"] = sum(manifest_layers(registry.host, repository, "cold").values())
            figures["republish_s"], figures["republish_bytes"] = self.push(registry, cold.image_id, repository, "again")

            pin_context = context_copy(self.scratch, "one-pin")
            received = measure.received_bytes(interface)
            pinned = contender.build(pin_context, one_pin)
            figures["one_pin_build_s"] = pinned.seconds
            figures["one_pin_download_bytes"] = measure.received_bytes(interface) - received
            figures["one_pin_layers_rebuilt"] = self.rebuilt(cold.image_id, pinned.image_id)
            self.tag(pinned.image_id, f"{self.variant.name}-{name}-one-pin")
            figures["one_pin_push_s"], figures["one_pin_push_bytes"] = self.push(
                registry, pinned.image_id, repository, "one-pin"
            )
            releases = self.push_releases(registry, cold.image_id, figures) if isinstance(contender, Kit) else []

            # An engine without this contender: its images untagged, the builder
            # cache (which keeps their layers) emptied.
            self.untag_all()
            self.empty_build_cache()
            figures["pull_s"], figures["pull_bytes"] = self.pull(registry, repository, "cold")
            figures["one_pin_pull_s"], figures["one_pin_pull_bytes"] = self.pull(registry, repository, "one-pin")
            self.untag_all()
            for compression, release in releases:  # each into an engine without the others
                figures[f"{compression}_pull_s"], _ = self.pull(registry, release, "release")
                self.untag_all()
        return Sample(contender=name, figures=figures)


# A Docker image manifest or an OCI one (the bench imports nothing of envkit.release, whose registry knows both).
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def manifest_layers(host: str, repository: str, tag: str) -> dict[str, int]:
    """The compressed layers (digest -> bytes) and config of an image in the registry: a Docker manifest (the
    classic store pushes those) or an OCI one (the containerd store's)."""
    body = _manifest(host, repository, tag)
    return {
        body["config"]["digest"]: body["config"]["size"],
        **{layer["digest"]: layer["size"] for layer in body["layers"]},
    }


def layer_compressions(host: str, repository: str, tag: str) -> set[str]:
    """How the image's layers are compressed, from their media types
    (`...tar.gzip`, `...tar+gzip`, `...tar+zstd`; "none" for a bare tar)."""
    found = set()
    for layer in _manifest(host, repository, tag)["layers"]:
        media_type = str(layer.get("mediaType", ""))
        found.add(next((name for name in ("gzip", "zstd") if media_type.endswith(name)), "none"))
    return found


def _manifest(host: str, repository: str, tag: str) -> dict[str, Any]:
    where = f"http://{host}/v2/{repository}/manifests/{tag}"
    try:
        response = requests.get(where, headers={"Accept": MANIFEST_TYPES}, timeout=30)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as error:
        raise KitError(f"reading the bench registry's manifest {where} failed: {error}") from None
    return body


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="envkit-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_bench(variant: Variant, settings: Settings, runs: int, empty_build_cache: bool, tiny: bool) -> Report:
    """Measure, alternating the contenders; write reports/bench/<variant>.json and .md."""
    if tiny:
        runs = 1
    check_request(variant, runs, empty_build_cache)
    check_writable(settings)
    plan.make(variant, settings)  # the lock is fresh and intact, the base image chosen
    registry_binary()
    client = engine.connect()
    if taken := sorted(tag for image in client.images.list(BENCH_IMAGE) for tag in image.tags):
        raise UsageError(
            f"{', '.join(taken)} already exist(s): the bench tags and removes its images under "
            f"{BENCH_IMAGE}:* and replaces none it did not make. Remove them with `docker rmi` (an interrupted "
            "bench leaves none, a killed one may), then rerun."
        )
    # Both images, the builder cache of one, the registry and a pulled copy at the peak (measured for
    # cu121 on the classic store: about 25 GB), and the kit's releases, compressed once per layer compression,
    # in the store and the registry. --tiny's stand-in images are small, but each of the kit's builds asks
    # a whole build's room, after what the bench made before it.
    store = capabilities.engine_facts(client).store
    need = variant.disk_gb(store) + TINY_WRITES_GB if tiny else 2 * variant.disk_gb(store) + variant.pull_disk_gb(store)
    engine.check_free_disk(client, need, f"benchmarking {variant.name}")
    one_pin = one_pin_change(variant, settings)
    samples: list[Sample] = []
    rates: list[measure.DownloadRate] = []
    with scratch_folder() as scratch:
        bench = Bench(variant, settings, scratch, tiny)
        contenders: list[Contender] = [Kit(variant, bench.settings), Baseline(variant, bench.settings)]
        try:
            for number in range(runs):
                rate = measure.download_rate(
                    list(read_pip(ROOT / variant.lock_file).pins.values()),
                    indexes.effective(variant, settings),
                    variant.python,
                    settings.ca_cert,
                )
                rates.append(rate)
                for contender in contenders if number % 2 == 0 else contenders[::-1]:
                    print(f"bench run {number + 1}/{runs}: {contender.name}", flush=True)
                    sample = bench.measure(contender, one_pin, rate)
                    samples.append(Sample(sample.contender, sample.figures, run=number + 1))
        finally:
            bench.untag_all()
    report = Report(
        variant=variant.name,
        runs=runs,
        tiny=tiny,
        machine=machine(client),
        one_pin=f"{one_pin.name} {one_pin.locked} -> {one_pin.version}",
        download_rates=[rate.bytes_per_second for rate in rates],
        samples=samples,
    )
    write_report(report, settings)
    return report

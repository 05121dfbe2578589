"""Benchmark: how long a variant takes to build cold and warm, how big it
is, and how long `invoke test` takes. Prints figures; asserts nothing (the
tests check behaviour, this measures it). Not part of CI.

    .venv/bin/python benchmarks/build_and_test.py --cuda 12.1 \
        --base-image torch-env-base:bookworm --ca-cert /etc/ssl/certs/ca-certificates.crt --cold

--cold empties BuildKit's build cache first (`docker builder prune --all`),
cache mounts included, so the cold figure includes every download. It uses
its own image name and leaves other images alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envkit.catalog.selection import select
from envkit.catalog.variants import Variant
from envkit.checks import testrun
from envkit.core import engine
from envkit.core.settings import Settings
from envkit.images import build, wheelhouse
from envkit.images.context import copy_context


def edited_context(folder: Path) -> Path:
    """A copy of the build context with one example edited."""
    copy_context(folder)
    with (folder / "examples" / "concepts.py").open("a") as handle:
        handle.write(f"\n# benchmark edit {time.time()}\n")
    return folder


def compressed_size(image: str) -> int:
    """Bytes of `docker save | gzip -1`, about what a registry push sends."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    gzip = subprocess.run(["gzip", "-1"], stdin=save.stdout, stdout=subprocess.PIPE, check=True)
    save.wait()
    return len(gzip.stdout)


def offline_figures(variant: Variant, settings: Settings) -> list[tuple[str, str]]:
    """Fill a wheelhouse (downloads from the pip cache as found), then build from it with no network."""
    with tempfile.TemporaryDirectory(prefix="envkit-bench-wheelhouse-") as scratch:
        started = time.monotonic()
        contents = wheelhouse.fill_wheelhouse(variant, settings, Path(scratch) / "wheelhouse")
        filled = time.monotonic() - started
        offline = build.build_image(variant, settings, wheelhouse=Path(scratch) / "wheelhouse")
    return [
        (
            "wheelhouse fill",
            f"{filled:.1f} s ({contents.bytes / 1e9:.2f} GB, {contents.wheels} wheels, {contents.debs} debs)",
        ),
        ("offline build from the wheelhouse", f"{offline.seconds:.1f} s"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", default="12.1")
    parser.add_argument("--recipe", default="pip")
    parser.add_argument("--base-image", default="")
    parser.add_argument("--ca-cert", default="")
    parser.add_argument("--cold", action="store_true", help="empty the BuildKit cache first")
    parser.add_argument("--compressed", action="store_true", help="also measure docker save | gzip -1 (slow)")
    parser.add_argument("--offline", action="store_true", help="also fill a wheelhouse and build from it offline")
    args = parser.parse_args()

    variant = select(args.cuda, args.recipe)
    reports = Path(tempfile.mkdtemp(prefix="envkit-bench-"))
    settings = Settings(
        image_name="torch-env-bench", base_image=args.base_image, ca_cert=args.ca_cert, reports_dir=str(reports)
    )
    figures: list[tuple[str, str]] = []
    if args.cold:
        client = engine.find_builder().prefix[0]
        subprocess.run([client, "builder", "prune", "--all", "--force"], check=True, capture_output=True)
    first = build.build_image(variant, settings, no_cache=False)
    figures.append(("cold build" if args.cold else "first build (cache as found)", f"{first.seconds:.1f} s"))
    warm = build.build_image(variant, settings)
    figures.append(("warm rebuild (nothing changed)", f"{warm.seconds:.1f} s"))
    with tempfile.TemporaryDirectory() as scratch:
        edited = build.build_image(variant, settings, context=edited_context(Path(scratch)))
    figures.append(("rebuild after editing examples/", f"{edited.seconds:.1f} s"))
    figures.append(("image size (uncompressed)", f"{first.size_bytes / 1e9:.2f} GB"))
    started = time.monotonic()
    report = testrun.run_tests(variant, settings, "auto")
    figures.append(
        (
            "invoke test",
            f"{time.monotonic() - started:.1f} s ({'passed' if report.passed else 'FAILED'}, "
            f"{len(report.checks)} checks)",
        )
    )
    if args.offline:
        figures += offline_figures(variant, settings)
    if args.compressed:
        figures.append(("docker save | gzip -1", f"{compressed_size(build.image_tag(variant, settings)) / 1e9:.2f} GB"))
    print(f"\n{variant.name} on {args.base_image or variant.base_image}")
    for name, value in figures:
        print(f"  {name:<34} {value}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())

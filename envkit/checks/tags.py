"""Tags computed from what `invoke test` measured inside an image, never from
the flags a build was asked for (official images have shipped tags that
lied). Each tagger is a small function over the measurement that returns one
fragment; the tags are joined from fragments.

    versioned   {torch}-{platform}-py{M.m}-{recipe}       2.4.1-cu121-py3.11-pip
    moving      {platform}-{recipe}                       cu121-pip
    immutable   {torch}-{platform}-cudnn{X}-py{M.m.p}-{recipe}-{arch}-{YYYYMMDD}-{git sha7}-{image id12}
                2.4.1-cu121-cudnn9.1.0-py3.11.2-pip-amd64-20261127-0a1b2c3-1afbe96d5f35

The immutable tag names the tested image's own id and architecture, so it is
unique to the build and can never be reused for other bits; the CPU platform
has no cuDNN fragment. The versioned and moving tags are the same on every
architecture: where a variant is built for several, they name one multi-arch
index of them all (envkit/release/multiarch.py). Docker limits a tag to 128
characters of [A-Za-z0-9_.-].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from envkit.catalog.variants import DEV_SUFFIX, arch_of_machine
from envkit.core.reports import TestReport

TAG_SYNTAX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
KINDS = ("immutable", "versioned", "moving")  # also the push order: the moving tag moves last


@dataclass(frozen=True)
class Measurement:
    torch: str  # torch.__version__, e.g. 2.4.1+cu121
    cuda: str | None  # torch.version.cuda
    cudnn: str | None  # e.g. 9.1.0
    python: str  # e.g. 3.11.2
    recipe: str  # pip or conda: which recipe file the image holds
    built: str  # the image's creation time (ISO 8601)
    revision: str  # the image's org.opencontainers.image.revision label
    image_id: str  # the tested image
    dev: bool = False  # a dev image: every tag ends in -dev, beside its runtime image's
    machine: str = ""  # platform.machine() inside: x86_64, aarch64

    @classmethod
    def from_report(cls, report: TestReport) -> Measurement:
        if report.measured is None:
            raise ValueError(f"{report.variant}: nothing was measured")
        return cls(
            torch=report.measured.torch,
            cuda=report.measured.cuda_compiled,
            cudnn=report.measured.cudnn,
            python=report.measured.python,
            recipe=report.facts.recipe,
            built=report.image_created,
            revision=report.facts.revision,
            image_id=report.image_id,
            dev=report.variant.endswith(DEV_SUFFIX),
            machine=report.measured.machine,
        )


def torch_release(m: Measurement) -> str:
    return m.torch.split("+", 1)[0]


def platform(m: Measurement) -> str:
    if m.cuda is None:
        return "cpu"
    major, minor = m.cuda.split(".")[:2]
    return f"cu{major}{minor}"


def python_minor(m: Measurement) -> str:
    return "py" + ".".join(m.python.split(".")[:2])


def python_patch(m: Measurement) -> str:
    return f"py{m.python}"


def cudnn(m: Measurement) -> str:
    return f"cudnn{m.cudnn}" if m.cudnn else ""


def recipe(m: Measurement) -> str:
    return m.recipe


def arch(m: Measurement) -> str:
    """`aarch64` -> `arm64`: Docker's name for the architecture measured."""
    name = arch_of_machine(m.machine)
    if name is None:
        raise ValueError(f"no architecture of env/variants.toml [arches] runs as {m.machine!r}")
    return name


def build_date(m: Measurement) -> str:
    return m.built[:10].replace("-", "")


def revision(m: Measurement) -> str:
    if m.revision in ("", "unknown"):
        return "norev"
    return m.revision[:7] + ("-dirty" if m.revision.endswith("-dirty") else "")


def image(m: Measurement) -> str:
    return m.image_id.split(":")[-1][:12]


def dev(m: Measurement) -> str:
    return DEV_SUFFIX.lstrip("-") if m.dev else ""


def _joined(m: Measurement, *taggers: Any) -> str:
    tag = "-".join(fragment for tagger in taggers if (fragment := tagger(m)))
    if not TAG_SYNTAX.fullmatch(tag):
        raise ValueError(f"not a valid Docker tag: {tag!r}")
    return tag


def compute(m: Measurement) -> dict[str, str]:
    """Every tag of a tested image, by kind, in push order."""
    return {
        "immutable": _joined(
            m, torch_release, platform, cudnn, python_patch, recipe, arch, build_date, revision, image, dev
        ),
        "versioned": _joined(m, torch_release, platform, python_minor, recipe, dev),
        "moving": _joined(m, platform, recipe, dev),
    }

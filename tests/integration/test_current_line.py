"""The current line in CI: `invoke base --suite trixie`, then `invoke build
--cuda 13.2` on it and `invoke test --cuda 13.2`, cold, as the README says; the
tags, labels and verdict come from what was measured inside. The image goes
at the end of the module: no later test uses it, and its 6 GB (twice that on
the containerd store) are the next cold build's. A machine short of room is
told so by the kit before the build starts, and the tests skip with its words."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from envkit.catalog.selection import select
from envkit.core.reports import TestReport
from tests.integration.session import CI_IMAGE_NAME, Session, invoke_cli, read_test_report

pytestmark = pytest.mark.cold_builds

TRIXIE_BASE = "torch-env-base:trixie"
CURRENT = select("13.2")


@dataclass(frozen=True)
class Tested:
    report: TestReport
    table: str  # what `invoke test` printed


@pytest.fixture(scope="module")
def current(kit_session: Session, docker_client: docker.DockerClient) -> Iterator[Tested]:
    invoke_cli(kit_session, "base", "--suite", "trixie")
    invoke_cli(kit_session, "build", "--cuda", "13.2", "--base-image", TRIXIE_BASE)
    result = invoke_cli(kit_session, "test", "--cuda", "13.2")
    yield Tested(read_test_report(kit_session, CURRENT.name), result.stdout)
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.images.remove(f"{CI_IMAGE_NAME}:{CURRENT.name}")


def test_the_current_line_builds_on_debian_13_and_passes(current):
    current_report = current.report
    failed = [check for check in current_report.checks if not check.passed]
    assert current_report.passed and not failed, failed
    measured = current_report.measured
    versions = (measured.torch, measured.torchvision.split("+")[0], measured.torchaudio)
    assert versions == ("2.15.0+cu132", "0.29.2", None)
    assert (measured.cuda_compiled, measured.cudnn, measured.machine) == ("13.2", "9.26.0", "x86_64")
    assert measured.python.startswith("3.13.") and measured.os == "Debian GNU/Linux 13 (trixie)"
    # what doctor and run judge GPUs by is what the image has: Turing to Blackwell, nothing older
    assert measured.cuda_archs == CURRENT.gpu_archs and measured.cuda_archs[0] == "sm_75"
    assert current_report.tags["versioned"] == "2.15.0-cu132-py3.13-pip"


def test_the_missing_torchaudio_is_reported_not_applicable_with_its_reason(current):
    current_report = current.report
    rows = {check.name: check for check in current_report.checks}
    audio = rows["smoke:torchaudio_transform"]
    assert audio.not_applicable and "torch 2.15.0 has no torchaudio release" in audio.detail
    assert "n/a" in next(line for line in current.table.splitlines() if "torchaudio_transform" in line)
    assert rows["pip_check"].passed and rows["pins"].detail == f"as pinned for {CURRENT.name}"

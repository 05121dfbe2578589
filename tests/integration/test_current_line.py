"""The current line in CI: `invoke base --suite trixie`, then `invoke build
--cuda 13.2` on it and `invoke test --cuda 13.2`, cold, as the README says; the
tags, labels and verdict come from what was measured inside. The image goes
at the end of the module: no later test uses it, and its 6 GB (twice that on
the containerd store) are the next cold build's. A machine short of room is
told so by the kit before the build starts, and the tests skip with its words."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from envkit.catalog.selection import select
from tests.integration.session import CI_IMAGE_NAME, Session, invoke_cli

pytestmark = pytest.mark.cold_builds

TRIXIE_BASE = "torch-env-base:trixie"
CURRENT = select("13.2")


@pytest.fixture(scope="module")
def current_report(kit_session: Session, docker_client: docker.DockerClient) -> Iterator[dict[str, Any]]:
    invoke_cli(kit_session, "base", "--suite", "trixie")
    invoke_cli(kit_session, "build", "--cuda", "13.2", "--base-image", TRIXIE_BASE)
    result = invoke_cli(kit_session, "test", "--cuda", "13.2")
    report: dict[str, Any] = json.loads((kit_session.reports / "tests" / f"{CURRENT.name}.json").read_text())
    report["stdout"] = result.stdout
    yield report
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.images.remove(f"{CI_IMAGE_NAME}:{CURRENT.name}")


def test_the_current_line_builds_on_debian_13_and_passes(current_report):
    failed = [check for check in current_report["checks"] if not check["passed"]]
    assert current_report["passed"] and not failed, failed
    measured = current_report["measured"]
    versions = (measured["torch"], measured["torchvision"].split("+")[0], measured["torchaudio"])
    assert versions == ("2.15.0+cu132", "0.29.2", None)
    assert (measured["cuda_compiled"], measured["cudnn"], measured["machine"]) == ("13.2", "9.26.0", "x86_64")
    assert measured["python"].startswith("3.13.") and measured["os"] == "Debian GNU/Linux 13 (trixie)"
    # what doctor and run judge GPUs by is what the image has: Turing to Blackwell, nothing older
    assert tuple(measured["cuda_archs"]) == CURRENT.gpu_archs and measured["cuda_archs"][0] == "sm_75"
    assert current_report["tags"]["versioned"] == "2.15.0-cu132-py3.13-pip"


def test_the_missing_torchaudio_is_reported_not_applicable_with_its_reason(current_report):
    rows = {check["name"]: check for check in current_report["checks"]}
    audio = rows["smoke:torchaudio_transform"]
    assert audio["not_applicable"] and "torch 2.15.0 has no torchaudio release" in audio["detail"]
    assert "n/a" in next(line for line in current_report["stdout"].splitlines() if "torchaudio_transform" in line)
    assert rows["pip_check"]["passed"] and rows["pins"]["detail"] == f"as pinned for {CURRENT.name}"

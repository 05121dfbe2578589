"""The integration session: its settings and reports, the suite's image name,
the kit's command line run with them, and the arm64 image built beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from envkit import ROOT
from envkit.core import report_files
from envkit.core.reports import BuildRecord, TestReport
from envkit.core.settings import Settings
from envkit.core.validation import read_json
from tests.helpers.checkout import invoke_in
from tests.integration.room import skip_if_refused_for_room

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


CI_IMAGE_NAME = "torch-env-ci"  # the suite's own tag, so a developer's torch-env:* stays untouched


ARM64_BASE = Settings().base_image_tag() + "-arm64"


# A probe container of the session's cu121 image (the arm64 one is tested in the background beside it).
CU121_PROBE = "io.envkit.variant=cu121-pip"


@dataclass(frozen=True)
class Session:
    """What the session's integration fixtures share: where reports go, and the
    environment that points the command line there."""

    reports: Path
    pins: Path  # the session's env/published.json: publishing in a test never edits the checkout's
    env: dict[str, str]
    signing: Path  # the session's trust policy (cosign.pub), its private key beside it as ../key/cosign.key

    def settings(self) -> Settings:
        """The kit's settings as the session's command lines have them (its reports folder)."""
        return Settings(reports_dir=str(self.reports))


SESSION_KEY_PASSWORD = "envkit-tests"  # a key made for the session and thrown away with it


def read_build_record(session: Session, variant: str) -> BuildRecord:
    """The session's build record of VARIANT, read as the kit reads it (checked against its type)."""
    path = report_files.build_record_path(session.settings(), variant)
    return read_json(path, BuildRecord, str(path), "")


def read_test_report(session: Session, variant: str) -> TestReport:
    """The session's test report of VARIANT, read as the kit reads it."""
    path = report_files.test_report_path(session.settings(), variant)
    return read_json(path, TestReport, str(path), "")


def report_json(report: BuildRecord | TestReport) -> str:
    """A report as the kit writes it (for a test that puts one in another reports folder)."""
    return json.dumps(asdict(report), indent=2) + "\n"


def make_key_pair(folder: Path, name: str, password: str = SESSION_KEY_PASSWORD) -> tuple[Path, Path]:
    """A real cosign key pair: FOLDER/NAME-policy/cosign.pub (a trust policy) and FOLDER/NAME-key/cosign.key."""
    policy, keys = folder / f"{name}-policy", folder / f"{name}-key"
    policy.mkdir()
    keys.mkdir()
    subprocess.run(
        ["cosign", "generate-key-pair", "--output-key-prefix", str(keys / "cosign")],
        env={**os.environ, "COSIGN_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    (keys / "cosign.pub").rename(policy / "cosign.pub")
    return policy, keys / "cosign.key"


def start_cli(session: Session, *args: str) -> subprocess.Popen[str]:
    """Start `invoke ARGS` in the background, as run_cli runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **session.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(
    session: Session, *args: str, env: dict[str, str] | None = None, timeout: float = 3600
) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` as a user would, with the session's settings."""
    return invoke_in(ROOT, *args, env={**session.env, **(env or {})}, timeout=timeout)


def invoke_cli(session: Session, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """run_cli, failing the test with the output's tail unless it succeeds
    (or skipping it, where the kit refused the job for room)."""
    result = run_cli(session, *args, timeout=timeout)
    skip_if_refused_for_room(result, f"`invoke {' '.join(args)}`")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(f"`invoke {' '.join(args)}` exited {result.returncode}:\n{tail}", pytrace=False)
    return result


class Arm64Chain:
    """The session's arm64 image, in the background from the session's start:
    `invoke base --arch arm64`, `invoke build --cuda cpu --arch arm64` on it,
    then `invoke test` of it. Under QEMU they take about 16 minutes of mostly
    one core, which the cu121 image's downloads and tests leave partly idle.
    Its test's probe container carries the image's `io.envkit.variant`
    label (cpu-pip-arm64): tests that count probe containers count their own."""

    STEPS: ClassVar[dict[str, tuple[str, ...]]] = {
        "base": ("base", "--arch", "arm64"),
        "build": ("build", "--cuda", "cpu", "--arch", "arm64", "--base-image", ARM64_BASE),
        "test": ("test", "--cuda", "cpu", "--arch", "arm64"),
    }

    def __init__(self, session: Session) -> None:
        self.session = session
        self.done: dict[str, subprocess.CompletedProcess[str]] = {}
        self.process: subprocess.Popen[str] | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="arm64-chain", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for name, step in self.STEPS.items():
            if self.stopping:
                return
            self.process = start_cli(self.session, *step)
            out, err = self.process.communicate()
            self.done[name] = subprocess.CompletedProcess(step, self.process.returncode, out, err)
            if self.process.returncode:
                return

    def wait(self, step: str) -> None:
        """Until the chain is over; then fail with the output of the step, or of one before it, that failed
        (skip, where the kit refused it for room)."""
        self.thread.join()
        for name in list(self.STEPS)[: list(self.STEPS).index(step) + 1]:
            doing = f"`invoke {' '.join(self.STEPS[name])}`"
            result = self.done.get(name, subprocess.CompletedProcess((), -1, "", "not run: the session stopped first"))
            skip_if_refused_for_room(result, doing)
            if result.returncode:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                pytest.fail(f"{doing} exited {result.returncode}:\n{tail}", pytrace=False)

    def stop(self) -> None:
        """The session ended first (interrupted, or no arm64 test ran): the step stops as a user's would."""
        self.stopping = True
        if self.thread.is_alive() and self.process is not None:
            self.process.send_signal(signal.SIGINT)
        self.thread.join(timeout=120)

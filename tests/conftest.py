"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import docker
import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.core import capabilities, engine
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from tests.helpers import invoke_in

pytest_plugins = ("tests.disk_watch",)

InvokeRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_invoke(tmp_path: Path) -> InvokeRunner:
    """Run the real `invoke` command line in the repository, as a user would."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return invoke_in(
            ROOT, *args, env={"INVOKE_ENVKIT_REPORTS_DIR": str(tmp_path / "reports"), **(env or {})}, timeout=timeout
        )

    return run


# Integration tests: a real Docker engine, one real cu121 image per session.

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CI_IMAGE_NAME = "torch-env-ci"  # the suite's own tag, so a developer's torch-env:* stays untouched
ARM64_BASE = Settings().base_image_tag() + "-arm64"
# A probe container of the session's cu121 image (the arm64 one is tested in the background beside it).
CU121_PROBE = "io.envkit.variant=cu121-pip"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)
    # Tests that build a torch layer of their own (cold_builds: --no-cache,
    # another torch, a wheelhouse) run after the warm ones: a --no-cache build
    # leaves newer results for the same steps in BuildKit's cache, which later
    # warm builds would take, and the cache is emptied after each of them
    # (tests/integration/conftest.py) so that the next has the disk. `invoke
    # bench` empties it too: its tests run last of all. The arm64 image is built
    # in the background while the others run (see arm64_chain): its tests come
    # after them.
    items.sort(
        key=lambda item: (
            item.get_closest_marker("empties_build_cache") is not None,
            item.get_closest_marker("cold_builds") is not None,
            item.get_closest_marker("arm64") is not None,
        )
    )


@dataclass(frozen=True)
class Session:
    """What the session's integration fixtures share: where reports go, and the
    environment that points the command line there."""

    reports: Path
    pins: Path  # the session's env/published.json: publishing in a test never edits the checkout's
    env: dict[str, str]
    signing: Path  # the session's trust policy (cosign.pub), its private key beside it as ../key/cosign.key


# Emptying BuildKit's cache of a whole session's builds (tens of GB) took longer than 30 s in CI.
PRUNE_SECONDS = 900
# What the kit says when it refuses a job for room (envkit/core/engine.py, check_free_disk).
ROOM_REFUSED = re.compile(r"only [0-9.]+ GB free under \S+; .* needs about [0-9.]+ GB")


def empty_build_cache(*, keep_layers: bool) -> None:
    """BuildKit's cache and untagged images. `keep_layers`: only the download
    caches (cache mounts), so that a warm rebuild still reuses every step."""
    patient = engine.connect(timeout=PRUNE_SECONDS)  # the session's client gives up after 30 s
    try:
        if keep_layers:
            patient.api.prune_builds(filters={"type": "exec.cachemount"}, all=True)
        else:
            patient.api.prune_builds(all=True)
        patient.images.prune(filters={"dangling": True})
    finally:
        patient.close()


def skip_if_refused_for_room(result: subprocess.CompletedProcess[str], doing: str) -> None:
    """A machine with too little disk for a job is told by the kit before the job
    starts: the test that needs the job is skipped with the kit's words, never failed."""
    if result.returncode == 2 and (short := ROOM_REFUSED.search(result.stderr)):
        pytest.skip(f"{doing}: this machine has too little disk ({short.group(0)})")


@pytest.fixture
def make_room(docker_client: docker.DockerClient) -> Callable[..., None]:
    """`make_room(builds, extra_gb, pulls=0, warm=False)`: room for that many
    cu121 builds and pulls (and what else the test writes to the same disk),
    as the kit counts it, for the tests that build or pull. CI's machines
    start with anything from about 30 to 80 GB free, and on the containerd
    store the session's images (each layer compressed and unpacked) and
    BuildKit's cache of the builds before fill most of it. Short of room,
    BuildKit's cache is emptied: only its download caches for a `warm` test
    (one that reuses the session's cached steps), all of it for the others;
    no tagged image is touched. Still short, the test is skipped and says so."""

    def room(builds: int, extra_gb: float = 0, *, pulls: int = 0, warm: bool = False) -> None:
        store = capabilities.store_of(docker_client.info())
        cu121 = select("12.1")
        need = builds * cu121.disk_gb(store) + pulls * cu121.pull_disk_gb(store) + extra_gb
        doing = ", ".join(
            part
            for part in (
                f"{builds} cu121 build(s)" if builds else "",
                f"{pulls} pull(s)" if pulls else "",
                f"{extra_gb:g} GB of files" if extra_gb else "",
            )
            if part
        )
        try:
            engine.check_free_disk(docker_client, need, doing)
            return
        except UsageError as short:
            print(f"{short}\nemptying BuildKit's {'download caches' if warm else 'cache'} for it", file=sys.stderr)
        empty_build_cache(keep_layers=warm)
        try:
            engine.check_free_disk(docker_client, need, doing)
        except UsageError as short:
            said = ROOM_REFUSED.search(str(short))  # the kit's figures, without its advice to prune
            pytest.skip(
                f"this machine has too little disk, BuildKit's cache emptied: {said.group(0) if said else short}"
            )

    return room


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    """The engine, or a failure that says why: never a silent skip."""
    try:
        return engine.connect()
    except UsageError as error:
        pytest.fail(
            f"integration tests need a Docker engine: {error}\n(deselect them with: pytest -m 'not docker')",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def kit_session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    reports = tmp_path_factory.mktemp("reports")
    pins = tmp_path_factory.mktemp("pins") / "published.json"
    env = {
        "INVOKE_ENVKIT_REPORTS_DIR": str(reports),
        "INVOKE_ENVKIT_IMAGE_NAME": CI_IMAGE_NAME,
        "INVOKE_ENVKIT_PINS_FILE": str(pins),
    }
    if HOST_CA_BUNDLE.is_file():  # behind a TLS-inspecting proxy pip needs it; elsewhere it is harmless
        env["INVOKE_ENVKIT_CA_CERT"] = str(HOST_CA_BUNDLE)
    policy, key = make_key_pair(tmp_path_factory.mktemp("signing"), "team")
    env |= {
        "INVOKE_ENVKIT_SIGNING_POLICY": str(policy),
        "INVOKE_ENVKIT_SIGNING_KEY": str(key),
        "COSIGN_PASSWORD": SESSION_KEY_PASSWORD,
    }
    return Session(reports, pins, env, policy)


SESSION_KEY_PASSWORD = "envkit-tests"  # a key made for the session and thrown away with it


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


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient, kit_session: Session) -> str:
    """`invoke base`: Debian 12 with Python 3.11 from debootstrap (reused when it exists)."""
    invoke_cli(kit_session, "base")
    return Settings().base_image_tag()


@pytest.fixture(scope="session")
def cu121_build(base_image: str, kit_session: Session) -> dict[str, Any]:
    """`invoke build --cuda 12.1` on that base, with the host CA bundle: the
    session's one real image (later tests reuse it). Returns the build record."""
    invoke_cli(kit_session, "build", "--cuda", "12.1", "--base-image", base_image)
    record: dict[str, Any] = json.loads((kit_session.reports / "builds" / "cu121-pip.json").read_text())
    return record


@pytest.fixture(scope="session")
def cu121_report(cu121_build: dict[str, Any], kit_session: Session) -> dict[str, Any]:
    """`invoke test --cuda 12.1` on the session's image; returns its JSON report."""
    invoke_cli(kit_session, "test", "--cuda", "12.1")
    report: dict[str, Any] = json.loads((kit_session.reports / "tests" / "cu121-pip.json").read_text())
    return report


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


@pytest.fixture(scope="session")
def arm64_chain(request: pytest.FixtureRequest, kit_session: Session) -> Iterator[Arm64Chain | None]:
    """Started with the session's first integration test (tests/integration/conftest.py)
    when any test marked arm64 is selected."""
    if not any(item.get_closest_marker("arm64") for item in request.session.items):
        yield None
        return
    chain = Arm64Chain(kit_session)
    yield chain
    chain.stop()


def _chain(arm64_chain: Arm64Chain | None, step: str) -> Arm64Chain:
    if arm64_chain is None:
        pytest.fail("the arm64 image is built only for tests marked arm64", pytrace=False)
    arm64_chain.wait(step)
    return arm64_chain


@pytest.fixture(scope="session")
def arm64_build(arm64_chain: Arm64Chain | None, kit_session: Session) -> dict[str, Any]:
    """The session's arm64 CPU image (`invoke build --cuda cpu --arch arm64`), under
    QEMU on an x86_64 machine; its build record."""
    _chain(arm64_chain, "build")
    record: dict[str, Any] = json.loads((kit_session.reports / "builds" / "cpu-pip-arm64.json").read_text())
    return record


@pytest.fixture(scope="session")
def arm64_report(arm64_build: dict[str, Any], arm64_chain: Arm64Chain | None, kit_session: Session) -> dict[str, Any]:
    """`invoke test --cuda cpu --arch arm64`: every check under QEMU; its JSON report."""
    _chain(arm64_chain, "test")
    report: dict[str, Any] = json.loads((kit_session.reports / "tests" / "cpu-pip-arm64.json").read_text())
    return report


@pytest.fixture(scope="session")
def cu121_dev_build(cu121_report: dict[str, Any], kit_session: Session) -> dict[str, Any]:
    """`invoke build --cuda 12.1 --dev` on the session's tested image; its build record."""
    invoke_cli(kit_session, "build", "--cuda", "12.1", "--dev")
    record: dict[str, Any] = json.loads((kit_session.reports / "builds" / "cu121-pip-dev.json").read_text())
    return record


@pytest.fixture(scope="session")
def cu121_dev_report(cu121_dev_build: dict[str, Any], kit_session: Session) -> dict[str, Any]:
    """`invoke test --cuda 12.1 --dev`; its JSON report."""
    invoke_cli(kit_session, "test", "--cuda", "12.1", "--dev")
    report: dict[str, Any] = json.loads((kit_session.reports / "tests" / "cu121-pip-dev.json").read_text())
    return report

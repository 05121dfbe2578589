"""The integration tests' fixtures: the engine, the session's settings, its
images (cu121, its dev image, the arm64 one built in the background) and
their reports, room on the disk, and a host user the images have never heard
of, for the ways in that run as the caller."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.core import capabilities, engine
from envkit.core.errors import UsageError
from envkit.core.reports import BuildRecord, TestReport
from envkit.core.settings import Settings
from tests.integration.room import ROOM_REFUSED, empty_build_cache
from tests.integration.session import (
    CI_IMAGE_NAME,
    HOST_CA_BUNDLE,
    SESSION_KEY_PASSWORD,
    Arm64Chain,
    Session,
    invoke_cli,
    make_key_pair,
    read_build_record,
    read_test_report,
)

STRANGER = "envkit-stranger"
STRANGER_UID = 42421  # no image of ours has it


@dataclass(frozen=True)
class Stranger:
    """A host user with their own folder (mounted at /workspace) and home."""

    name: str
    uid: int
    home: Path
    folder: Path
    python: str
    env: dict[str, str]

    def command(self, *argv: str, env: dict[str, str] | None = None) -> list[str]:
        """argv run as this user, with their environment."""
        variables = (f"{key}={value}" for key, value in {**self.env, **(env or {})}.items())
        return ["runuser", "-u", self.name, "--", "env", *variables, *argv]

    def invoke_command(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        return self.command(self.python, "-m", "invoke", "--search-root", str(ROOT), *args, env=env)

    def run(self, argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """A command line of this user's (from command()), from their folder."""
        return subprocess.run(
            argv,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def invoke(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """`invoke ARGS` run by this user from their folder, as they would type it."""
        return self.run(self.invoke_command(*args, env=env), timeout)


ROOT_ONLY = {
    "INVOKE_ENVKIT_REPORTS_DIR",
    "INVOKE_ENVKIT_SIGNING_POLICY",
    "INVOKE_ENVKIT_SIGNING_KEY",
    "COSIGN_PASSWORD",
}


def _python_for(user: str, env: dict[str, str]) -> str | None:
    """An interpreter the user may run that imports the kit's dependencies
    (the suite's own may sit under /root, which no one else can enter)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()),
             candidate, "-c", "import invoke, docker, pydantic"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def stranger(cu121_build, kit_session, docker_client):
    if os.geteuid() != 0:
        pytest.skip("making a host user needs root (CI runs as root)")
    socket_group = os.stat("/var/run/docker.sock").st_gid
    subprocess.run(["userdel", STRANGER], capture_output=True, check=False)  # a crashed run's leftover
    subprocess.run(
        ["useradd", "--uid", str(STRANGER_UID), "--user-group", "--no-create-home", "-G", str(socket_group), STRANGER],
        check=True,
    )
    top = Path(tempfile.mkdtemp(prefix="envkit-stranger-"))
    top.chmod(0o755)
    home, folder = top / "home", top / "project"
    for made in (home, folder):
        made.mkdir()
        os.chown(made, STRANGER_UID, STRANGER_UID)
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(sorted(site)),
        # Not the session's reports, nor its signing key and policy (in folders only root may read): a
        # teammate has neither; their registry images would be verified against their own checkout's policy.
        **{key: value for key, value in kit_session.env.items() if key not in ROOT_ONLY},
        "INVOKE_ENVKIT_PINS_FILE": str(home / "published.json"),  # theirs to read: nothing pinned
    }
    python = _python_for(STRANGER, env)
    try:
        if python is None:
            pytest.fail("no Python that the new user may run imports the kit's dependencies", pytrace=False)
        yield Stranger(STRANGER, STRANGER_UID, home, folder, python, env)
    finally:
        for volume in docker_client.volumes.list(filters={"label": f"io.envkit.uid={STRANGER_UID}"}):
            volume.remove(force=True)
        subprocess.run(["userdel", STRANGER], capture_output=True, check=False)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def start_arm64_chain(arm64_chain):
    """The arm64 image's base and build start in the background with the first integration test."""
    return arm64_chain


@pytest.fixture(autouse=True)
def empty_the_cache_after_a_cold_build(request):
    """What a cold_builds test leaves in BuildKit's cache (a torch layer of its
    own, 7 GB or more on the containerd store) no later test reuses: it goes,
    so that the next cold build has the disk (see tests/conftest.py)."""
    yield
    if request.node.get_closest_marker("cold_builds") is not None:
        empty_build_cache(keep_layers=False)


# The session's images and the engine, shared by every integration test.


@pytest.fixture
def make_room(docker_client: docker.DockerClient) -> Callable[..., None]:
    """`make_room(builds, extra_gb, pulls=0, warm=False)`: room for that many
    cu121 builds and pulls (and what else the test writes to the same disk),
    as the kit counts it, for the tests that build or pull. CI's machines
    start with anything from about 30 to 80 GB free, and on the containerd
    store the session's images (each layer compressed and unpacked) and
    BuildKit's cache of the builds before fill most of it. Short of room,
    untagged images go, and BuildKit's whole cache too unless the test is
    `warm` (it reuses the session's cached steps, which even a prune of the
    download caches alone loses: room.py); no tagged image is touched. Still
    short, the test is skipped and says so."""

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
            print(f"{short}\nremoving untagged images{'' if warm else ' and BuildKit cache'} for it", file=sys.stderr)
        empty_build_cache(keep_layers=warm)
        try:
            engine.check_free_disk(docker_client, need, doing)
        except UsageError as short:
            said = ROOM_REFUSED.search(str(short))  # the kit's figures, without its advice to prune
            emptied = "untagged images removed" if warm else "BuildKit's cache emptied"
            pytest.skip(f"this machine has too little disk, {emptied}: {said.group(0) if said else short}")

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


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient, kit_session: Session) -> str:
    """`invoke base`: Debian 12 with Python 3.11 from debootstrap (reused when it exists)."""
    invoke_cli(kit_session, "base")
    return Settings().base_image_tag()


@pytest.fixture(scope="session")
def cu121_build(base_image: str, kit_session: Session) -> BuildRecord:
    """`invoke build --cuda 12.1` on that base, with the host CA bundle: the
    session's one real image (later tests reuse it). Returns the build record."""
    invoke_cli(kit_session, "build", "--cuda", "12.1", "--base-image", base_image)
    return read_build_record(kit_session, "cu121-pip")


@pytest.fixture(scope="session")
def cu121_report(cu121_build: BuildRecord, kit_session: Session) -> TestReport:
    """`invoke test --cuda 12.1` on the session's image; returns its report."""
    invoke_cli(kit_session, "test", "--cuda", "12.1")
    return read_test_report(kit_session, "cu121-pip")


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
def arm64_build(arm64_chain: Arm64Chain | None, kit_session: Session) -> BuildRecord:
    """The session's arm64 CPU image (`invoke build --cuda cpu --arch arm64`), under
    QEMU on an x86_64 machine; its build record."""
    _chain(arm64_chain, "build")
    return read_build_record(kit_session, "cpu-pip-arm64")


@pytest.fixture(scope="session")
def arm64_report(arm64_build: BuildRecord, arm64_chain: Arm64Chain | None, kit_session: Session) -> TestReport:
    """`invoke test --cuda cpu --arch arm64`: every check under QEMU; its report."""
    _chain(arm64_chain, "test")
    return read_test_report(kit_session, "cpu-pip-arm64")


@pytest.fixture(scope="session")
def cu121_dev_build(cu121_report: TestReport, kit_session: Session) -> BuildRecord:
    """`invoke build --cuda 12.1 --dev` on the session's tested image; its build record."""
    invoke_cli(kit_session, "build", "--cuda", "12.1", "--dev")
    return read_build_record(kit_session, "cu121-pip-dev")


@pytest.fixture(scope="session")
def cu121_dev_report(cu121_dev_build: BuildRecord, kit_session: Session) -> TestReport:
    """`invoke test --cuda 12.1 --dev`; its report."""
    invoke_cli(kit_session, "test", "--cuda", "12.1", "--dev")
    return read_test_report(kit_session, "cu121-pip-dev")

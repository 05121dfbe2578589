"""What the integration tests share beyond the session's image: a host user
the images have never heard of, for the ways in that run as the caller."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from envkit import ROOT
from tests.conftest import empty_build_cache

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

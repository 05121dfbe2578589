"""`invoke run`, `invoke shell` and `invoke doctor` against the real engine
and the session's cu121 image, the way a team member uses them: as a host
user the image has never heard of (made here, with a uid of its own), with a
folder of theirs mounted, through a pseudo-terminal for the shell."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from envkit import ROOT
from envkit.core import capabilities, engine, gpus
from envkit.workspace.caches import CACHE_LABEL, volume_name
from envkit.workspace.session import RUN_LABEL
from tests.integration.conftest import STRANGER, STRANGER_UID, Stranger
from tests.integration.session import CI_IMAGE_NAME, run_cli


def run_as(stranger: Stranger, script: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return stranger.invoke(
        "run", "--cuda", "12.1", "--workdir", str(stranger.folder), *flags, "--", "bash", "-c", script
    )


def test_a_user_the_image_does_not_know_works_as_themselves(stranger):
    assert STRANGER not in {entry.pw_name for entry in pwd.getpwall() if entry.pw_uid < 1000}
    result = run_as(
        stranger,
        'whoami; id -u; id -g; echo "home=$HOME"; touch "$HOME/writable" && echo home-writable; pwd; '
        "echo data > made-in-the-container.txt; python -c \"import getpass; print('getuser=' + getpass.getuser())\"",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [STRANGER, str(STRANGER_UID), str(STRANGER_UID)], result.stdout
    assert f"home=/home/{STRANGER}" in lines and "home-writable" in lines
    assert "/workspace" in lines and f"getuser={STRANGER}" in lines
    made = stranger.folder / "made-in-the-container.txt"
    assert (made.stat().st_uid, made.stat().st_gid) == (STRANGER_UID, STRANGER_UID)
    assert "torch-env-ci:cu121-pip: a local build" in result.stderr
    if not gpus.host_gpus():
        assert result.stderr.count("running on the CPU") == 1, result.stderr


TORCH_WORK = textwrap.dedent(
    """
    import os, pathlib, torch
    from torch.utils.data import DataLoader, TensorDataset

    # DataLoader workers pass batches through /dev/shm: Docker's 64 MB is not enough for real ones.
    shm = os.statvfs("/dev/shm")
    print("shm_gb", round(shm.f_frsize * shm.f_blocks / 2**30, 1))
    loader = DataLoader(TensorDataset(torch.randn(512, 3, 64, 64)), batch_size=64, num_workers=2)
    print("batches", sum(1 for _ in loader))

    compiled = torch.compile(lambda x: torch.sin(x) * 2 + x)
    x = torch.randn(64)
    assert torch.allclose(compiled(x), torch.sin(x) * 2 + x)
    cache = pathlib.Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    print("inductor_files", sum(1 for p in cache.rglob("*") if p.is_file()), "owner", cache.stat().st_uid)

    marker = pathlib.Path(os.environ["HF_HOME"]) / "hub" / "marker.txt"
    print("marker_before", marker.read_text() if marker.exists() else "none")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("left by the first run")
    """
)


def test_torch_compile_dataloader_and_caches_that_survive(stranger, docker_client):
    (stranger.folder / "work.py").write_text(TORCH_WORK)
    first = stranger.invoke("run", "--cuda", "12.1", "--workdir", str(stranger.folder), "--", "python", "work.py")
    assert first.returncode == 0, first.stdout + first.stderr
    facts = dict(line.split(" ", 1) for line in first.stdout.splitlines() if " " in line)
    assert float(facts["shm_gb"]) >= 1.0
    assert facts["batches"] == "8"
    files, owner = facts["inductor_files"].split(" owner ")
    assert int(files) > 0 and int(owner) == STRANGER_UID
    assert facts["marker_before"] == "none"
    for kind in ("pip", "huggingface", "torch", "inductor"):
        volume = docker_client.volumes.get(volume_name(kind, STRANGER_UID))
        assert volume.attrs["Labels"][CACHE_LABEL] == kind
    second = stranger.invoke("run", "--cuda", "12.1", "--workdir", str(stranger.folder), "--", "python", "work.py")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "marker_before left by the first run" in second.stdout
    # Without the volumes the container starts empty.
    bare = stranger.invoke(
        "run", "--cuda", "12.1", "--workdir", str(stranger.folder), "--no-cache-volumes", "--",
        "bash", "-c", 'echo "hf=${HF_HOME:-unset}"; ls /cache 2>&1 | head -1',
    )  # fmt: skip
    assert bare.returncode == 0, bare.stdout + bare.stderr
    assert "hf=unset" in bare.stdout and "No such file or directory" in bare.stdout


def test_caches_in_host_folders_by_setting(stranger):
    """envkit.cache_dir: the caches are folders of the user's on the host."""
    caches = stranger.home / "caches"
    result = stranger.invoke(
        "run", "--cuda", "12.1", "--workdir", str(stranger.folder), "--",
        "bash", "-c", 'mkdir -p "$HF_HOME/hub" && echo kept > "$HF_HOME/hub/model.txt"',
        env={"INVOKE_ENVKIT_CACHE_DIR": str(caches)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    kept = caches / "huggingface" / "hub" / "model.txt"
    assert kept.read_text() == "kept\n" and kept.stat().st_uid == STRANGER_UID
    assert (caches / "inductor").stat().st_uid == STRANGER_UID


@pytest.mark.compat
def test_the_exit_code_and_quoted_arguments_come_through(kit_session):
    result = run_cli(
        kit_session, "run", "--cuda", "12.1", "--", "python", "-c", "import sys; print('a  b'); sys.exit(3)"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout == "a  b\n"  # the command's output only: the kit's lines go to stderr
    assert "Traceback" not in result.stderr


def test_flags_reach_the_container(kit_session):
    result = run_cli(
        kit_session, "run", "--cuda", "12.1", "-e", "FIRST=1", "-e", "SECOND=two words", "--shm-size", "256m",
        "--", "bash", "-c", 'echo "$FIRST|$SECOND"; df -m /dev/shm | tail -1',
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "1|two words"
    assert result.stdout.splitlines()[1].split()[1] == "256"


def _running(docker_client) -> list:
    return docker_client.containers.list(all=True, filters={"label": RUN_LABEL})


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_and_removes_the_container(kit_session, docker_client, number):
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--cuda", "12.1", "--", "sleep", "600"],
        cwd=ROOT,
        env={**os.environ, **kit_session.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(c.status == "running" for c in _running(docker_client)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _running(docker_client), "the container never started"
    stopped_at = time.monotonic()
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[number], stderr
    assert time.monotonic() - stopped_at < 20
    assert not _running(docker_client)
    assert "cleaned up" in stderr and "Traceback" not in stderr


def test_the_shell_through_a_pseudo_terminal(kit_session, docker_client):
    """`script` gives `invoke shell` a real terminal, as a person's would be."""
    command = f"{sys.executable} -m invoke shell --cuda 12.1"
    process = subprocess.Popen(
        ["script", "--quiet", "--return", "--command", command, "/dev/null"],
        cwd=ROOT,
        env={**os.environ, **kit_session.env, "TERM": "xterm"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdin is not None
    time.sleep(8)  # bash prints its prompt; typed input before that is still read
    process.stdin.write(b"echo shell-says-$((6*7)); tty; exit 4\n")
    process.stdin.flush()
    output, _ = process.communicate(timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 4, text
    assert "shell-says-42" in text and "/dev/pts/" in text
    assert not _running(docker_client)


def test_bad_requests_start_nothing(kit_session, docker_client):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = {
            ("--port", str(port)): f"port {port} is in use",
            ("--gpus", "all"): "--gpus all: this host has no NVIDIA GPU",
            ("--shm-size", "12q"): "not a size",
            ("-e", "1BAD=x"): "expected NAME=VALUE",
            ("--workdir", "/nonexistent/folder"): "not a folder",
            ("--image", "Bad Name"): "not an image reference",
            ("--ipc", "shareable"): "the one choice is `host`",
        }
        if gpus.host_gpus():
            del cases[("--gpus", "all")]
        for flags, message in cases.items():
            result = run_cli(kit_session, "run", "--cuda", "12.1", *flags, "--", "true")
            assert result.returncode != 0, (flags, result.stdout)
            assert message in result.stderr, (flags, result.stderr)
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    no_command = run_cli(kit_session, "run", "--cuda", "12.1")
    assert no_command.returncode == 2 and "no command" in no_command.stderr
    assert not _running(docker_client)


@pytest.mark.compat
def test_doctor_on_this_machine(kit_session, make_room):
    make_room(0, pulls=1, warm=True)  # doctor fails the disk check, and exits 1, with less than a pull's room
    result = run_cli(kit_session, "doctor")
    lines = {
        line.split()[1] + " " + line.split()[2]: line for line in result.stdout.splitlines() if len(line.split()) > 2
    }
    facts = capabilities.engine_facts(engine.connect())
    store = "containerd image store" if facts.store == "containerd" else "classic store"
    assert f"Docker {facts.version} (API {facts.api}" in lines["docker engine"] and store in lines["docker engine"]
    if facts.legacy:  # Docker 20.10: said plainly, with the upgrade
        assert lines["docker engine"].startswith("warn") and "a legacy engine (end of life)" in lines["docker engine"]
    else:
        assert lines["docker engine"].startswith("pass")
    if not gpus.host_gpus():  # a machine without a GPU: a warning, not a failure
        assert result.returncode == 0, result.stdout + result.stderr
        assert lines["nvidia driver"].startswith("warn") and "no NVIDIA GPU" in lines["nvidia driver"]
    assert "tls" in {line.split()[1] for line in result.stdout.splitlines() if line.split()}
    assert result.stdout.splitlines()[-1].endswith("passed")
    stopped = run_cli(kit_session, "doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert stopped.returncode == 1
    assert stopped.stdout.startswith("fail  docker engine")
    assert "blocking: docker engine" in stopped.stderr


def test_info_lists_every_variant(kit_session, cu121_report, docker_client):
    result = run_cli(kit_session, "info", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["variant"]: row for row in json.loads(result.stdout)}
    # What info says against what is there now (other tests test other images under the same tag).
    report = json.loads((kit_session.reports / "tests" / "cu121-pip.json").read_text())
    assert rows["cu121-pip"]["lock"] == "locked"
    assert rows["cu121-pip"]["tested"] == ("pass" if report["passed"] else "fail")
    assert rows["cu121-pip"]["tested_image"] == report["image_id"]
    assert rows["cu121-pip"]["image_id"] == docker_client.images.get(f"{CI_IMAGE_NAME}:cu121-pip").id
    assert rows["cu121-conda"]["lock"] == "no lock"
    assert rows["cu121-pip-dev"]["lock"] == "locked" and rows["cu121-pip-dev"]["recipe_file"] == "env/pip/cu121.dev.txt"
    assert "cu121-conda-dev" not in rows
    table = run_cli(kit_session, "info")
    assert table.stdout.splitlines()[0].split()[:3] == ["variant", "recipe", "file"]


def _pretend_gpus(folder, smi_rows: str) -> dict[str, str]:
    """A PATH on which this host seems to have these GPUs (nvidia-smi answering
    as the real one does) and the NVIDIA container toolkit (its nvidia-ctk):
    what the kit asks before it hands GPUs to a container."""
    folder.mkdir()
    for name, body in (("nvidia-smi", f"printf '%s' '{smi_rows}'"), ("nvidia-ctk", "exit 0")):
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_gpu_the_image_has_no_kernels_for_starts_nothing_and_names_the_line_to_take(
    kit_session, cu121_report, docker_client, tmp_path
):
    blackwell = _pretend_gpus(tmp_path / "bin", "NVIDIA GeForce RTX 5090, 580.65.06, 12.0\n")
    result = run_cli(kit_session, "run", "--cuda", "12.1", "--", "true", env=blackwell)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot run on NVIDIA GeForce RTX 5090" in result.stderr
    assert "has no kernels for compute capability 12.0 (it has sm_50 to sm_90)" in result.stderr
    assert "pick `--cuda 13.2` (current line, torch 2.15.0)" in result.stderr and "--gpus none" in result.stderr
    assert "Traceback" not in result.stderr and not _running(docker_client)
    on_cpu = run_cli(kit_session, "run", "--cuda", "12.1", "--gpus", "none", "--", "true", env=blackwell)
    assert on_cpu.returncode == 0, on_cpu.stderr  # the way out it names works
    doctor = run_cli(kit_session, "doctor", env=blackwell)
    kernels = next(line for line in doctor.stdout.splitlines() if line.split()[1:3] == ["gpu", "kernels"])
    assert kernels.startswith("warn") and "none in cu121-pip" in kernels, doctor.stdout
    assert "use `--cuda 13.2` (current line, torch 2.15.0)" in doctor.stdout

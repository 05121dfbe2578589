"""The parts of `invoke run`/`shell`, `pull`, `doctor` and `info` that need
no engine: the passwd and group entries a container gets, the flags, the
pins file, the doctor's verdicts on machines this one is not."""

from __future__ import annotations

import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from envkit.catalog.variants import variants_file
from envkit.core import engine, gpus
from envkit.core.cli import refuse_repeated_flags, words_after_dashes
from envkit.core.errors import InvalidValue, UsageError
from envkit.core.reports import HostGpu, TestReport
from envkit.core.settings import Settings, size
from envkit.core.validation import validate
from envkit.release import pins
from envkit.status import doctor, info
from envkit.workspace import identity
from envkit.workspace.session import Port, RunOptions, default_shm
from tests.helpers.reports import report_data
from tests.integration.room import ROOM_REFUSED

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "envkit:x:1000:1000::/home/envkit:/bin/bash\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nenvkit:x:1000:\n"


def test_a_uid_the_image_does_not_know_gets_entries_and_a_home(monkeypatch):
    monkeypatch.setattr(identity, "_own_name", lambda uid, gid: ("ada", "lab"))
    person, passwd, group = identity.plan(4242, 4300, PASSWD, GROUP)
    assert person == identity.Identity(4242, 4300, "ada", "/home/ada")
    assert passwd.startswith(PASSWD) and passwd.endswith("ada:x:4242:4300:envkit workspace user:/home/ada:/bin/bash\n")
    assert group.startswith(GROUP) and group.endswith("lab:x:4300:\n")


def test_known_ids_keep_their_entries():
    person, passwd, group = identity.plan(1000, 1000, PASSWD, GROUP)
    assert person == identity.Identity(1000, 1000, "envkit", "/home/envkit")
    assert (passwd, group) == (PASSWD, GROUP)


def test_a_system_account_gets_a_home_of_its_own():
    """uid 1 has home /usr/sbin in the image: a container must not write there."""
    person, _, _ = identity.plan(1, 1, PASSWD, GROUP)
    assert person.home == "/home/daemon"


@pytest.mark.parametrize("taken", ["envkit", "root:evil", "Name With Spaces", ""])
def test_a_name_taken_or_unusable_becomes_user_uid(monkeypatch, taken):
    monkeypatch.setattr(identity.pwd, "getpwuid", lambda uid: SimpleNamespace(pw_name=taken))
    monkeypatch.setattr(identity.grp, "getgrgid", lambda gid: SimpleNamespace(gr_name=taken))
    person, passwd, group = identity.plan(4242, 4242, PASSWD, GROUP)
    assert person.name == "user4242"
    assert "user4242:x:4242:4242:" in passwd and group.endswith("group4242:x:4242:\n")


def test_root_runs_as_the_images_own_user(monkeypatch):
    monkeypatch.setattr(identity.os, "getuid", lambda: 0)
    monkeypatch.setattr(identity.os, "getgid", lambda: 0)
    assert identity.caller_ids("1000:1000") == (1000, 1000)
    assert identity.caller_ids("envkit") == (0, 0)  # a name: no uid to take
    assert identity.caller_ids("") == (0, 0)


def parse(**overrides):
    values = dict(
        command=["true"],
        workdir=None,
        env=[],
        ports=[],
        gpus_choice="auto",
        ipc=None,
        shm_size=None,
        cache_volumes=True,
        settings=Settings(),
    )
    return RunOptions.parse(**{**values, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": ["NOEQUALS"]}, "expected NAME=VALUE"),
        ({"env": ["=x"]}, "expected NAME=VALUE"),
        ({"env": ["A-B=1"]}, "expected NAME=VALUE"),
        ({"ports": ["0"]}, "each 1-65535"),
        ({"ports": ["8888:99999"]}, "each 1-65535"),
        ({"ports": ["1:2:3"]}, "expected PORT or HOST_PORT:CONTAINER_PORT"),
        ({"gpus_choice": "some"}, "--gpus 'some': choose one of auto, none, all"),
        ({"ipc": "private"}, "the one choice is `host`"),
        ({"ipc": "host", "shm_size": "8g"}, "pick one"),
        ({"shm_size": "8 gigs"}, "not a size"),
        ({"shm_size": "1m"}, "at least 64m"),
        ({"workdir": "/nonexistent/folder"}, "not a folder"),
    ],
)
def test_bad_run_flags(overrides, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse(**overrides)


@pytest.mark.parametrize(
    ("overrides", "subject"),
    [
        ({"env": ["1BAD=x"]}, "-e/--env"),
        ({"ports": ["http"]}, "-p/--port"),
        ({"ipc": "private"}, "--ipc"),
        ({"shm_size": "lots"}, "--shm-size"),
        ({"workdir": "README.md/inside"}, "--workdir"),
    ],
)
def test_a_wrong_run_flag_is_one_invalid_value_naming_its_flag(overrides, subject):
    with pytest.raises(InvalidValue) as refused:
        parse(**overrides)
    assert refused.value.subject == subject
    assert str(refused.value).startswith(f"{subject} {refused.value.value[:80]!r}: ")


def test_a_workdir_below_a_file_says_which_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidValue, match=r"notes.txt is a file, not a folder"):
        parse(workdir=str(tmp_path / "notes.txt" / "inside"))


def test_good_run_flags(tmp_path):
    options = parse(workdir=str(tmp_path), env=["A=1", "B=x=y", "EMPTY="], ports=["8888", "9000:80"], shm_size="2g")
    assert options.workdir == tmp_path and options.env == {"A": "1", "B": "x=y", "EMPTY": ""}
    assert options.ports == (Port(8888, 8888), Port(9000, 80))
    assert options.shm_bytes == 2 * 2**30 and not options.ipc_host
    assert parse(ipc="host").ipc_host
    assert (
        parse(settings=Settings.from_config({"shm_size": "512m"})).shm_bytes == 512 * 2**20
    )  # the setting, when no flag


def test_shared_memory_defaults_to_half_the_engine_memory():
    assert default_shm(64 * 2**30) == 32 * 2**30
    assert default_shm(3 * 2**30 + 5) == 2**30  # whole GiB
    assert default_shm(0) == 2**30  # never below 1 GiB
    assert size("1073741824").bytes == size("1g").bytes == size("1024M").bytes


def test_the_command_after_dashes_keeps_its_words():
    argv = ["invoke", "run", "--cuda", "12.1", "--", "python", "-c", "import sys; sys.exit(3)"]
    assert words_after_dashes("python -c import sys; sys.exit(3)", argv) == ["python", "-c", "import sys; sys.exit(3)"]
    # In-process (no such argv): the joined text, split as a shell would.
    assert words_after_dashes("echo 'a b'", ["pytest"]) == ["echo", "a b"]
    with pytest.raises(UsageError, match="does not parse"):
        words_after_dashes("echo 'open", ["pytest"])


def test_flags_after_dashes_belong_to_the_command_and_repeatable_flags_repeat():
    flags = {"run": {"-c": "--cuda", "--cuda": "--cuda"}}
    refuse_repeated_flags(["run", "--cuda", "12.1", "--", "bash", "-c", "x", "--cuda", "y"], flags)
    with pytest.raises(UsageError, match="--cuda is given twice"):
        refuse_repeated_flags(["run", "-c", "12.1", "--cuda", "11.8", "--", "true"], flags)


def a_report(**changes) -> TestReport:
    data = report_data(**changes)
    return validate(TestReport, data, "report", "")


def test_publish_pins_each_variant_and_keeps_the_others(tmp_path):
    path = tmp_path / "published.json"
    assert pins.read_pins(path) == {}
    report = a_report()
    pins.pin("cu121-pip", "reg.example.com/team/torch-env", "sha256:" + "a" * 64, ["t1", "t2"], report, path)
    pins.pin("cpu-pip", "reg.example.com/team/torch-env", "sha256:" + "b" * 64, ["t3"], report, path)
    pins.pin("cu121-pip", "reg.example.com/team/torch-env", "sha256:" + "c" * 64, ["t4"], report, path)
    read = pins.read_pins(path)
    assert sorted(read) == ["cpu-pip", "cu121-pip"]
    assert read["cu121-pip"].reference == "reg.example.com/team/torch-env@sha256:" + "c" * 64
    assert (
        read["cu121-pip"].tags == ("t4",)
        and read["cpu-pip"].reference == "reg.example.com/team/torch-env@sha256:" + "b" * 64
    )
    assert read["cu121-pip"].torch == report.measured.torch
    assert list(json.loads(path.read_text())) == ["cpu-pip", "cu121-pip"]  # sorted: small diffs in review


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"cu121-pip": {"reference": "x"}}', '"cu121-pip".tags: missing'),
        ('["cu121-pip"]', "the top level: Input should be an object"),
    ],
)
def test_a_broken_pins_file_is_refused_not_overwritten(tmp_path, text, message):
    path = tmp_path / "published.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        pins.pin("cu121-pip", "r.example.com/t/e", "sha256:" + "a" * 64, ["t"], a_report(), path)
    assert path.read_text() == text


def machine(settings=None, client=None):
    return doctor.Machine(client, settings or Settings())


@pytest.mark.parametrize(
    ("driver", "state", "words"),
    [
        ("550.54.14", "pass", "runs CUDA 11.8, 12.1"),
        ("525.85.12", "pass", "(12.1 through minor-version compatibility)"),
        ("470.82.01", "warn", "too old for CUDA 12.1 (needs 525.60.13)"),
        ("440.33.01", "warn", "too old for CUDA 11.8 (needs 450.80.02), 12.1"),
    ],
)
def test_the_driver_against_each_variants_cuda(monkeypatch, driver, state, words):
    monkeypatch.setattr(gpus, "host_gpus", lambda: [HostGpu("NVIDIA H100 80GB HBM3", driver)])
    finding = doctor.check_driver(machine())
    assert finding.state == state and words in finding.detail, finding


def test_no_gpu_warns_and_does_not_fail(monkeypatch):
    monkeypatch.setattr(gpus, "host_gpus", lambda: [])
    assert doctor.check_driver(machine()).state == "warn"
    assert (
        doctor.check_toolkit(machine(client=SimpleNamespace(info=lambda: {"Runtimes": {"runc": {}}}))).state == "pass"
    )


def test_a_gpu_without_the_container_toolkit_warns(monkeypatch):
    monkeypatch.setattr(gpus, "host_gpus", lambda: [HostGpu("H100", "550.54.14")])
    monkeypatch.setattr(gpus.shutil, "which", lambda tool: None)
    finding = doctor.check_toolkit(machine(client=SimpleNamespace(info=lambda: {"Runtimes": {"runc": {}}})))
    assert finding.state == "warn" and "nvidia-ctk runtime configure" in finding.fix


@pytest.mark.parametrize(
    ("arch", "state", "words"),
    [
        ("x86_64", "pass", "x86_64 (linux/amd64): every variant has a native image here; cpu-pip-arm64 (linux/arm64) "
         "would run emulated under QEMU"),
        ("aarch64", "warn", "cu118-pip, cu121-pip, cpu-conda, cu118-conda, cu121-conda have no linux/arm64 image and "
         "would run emulated under QEMU, 6-10x slower; native here: cpu-pip-arm64"),
        ("arm64", "warn", "arm64 (linux/arm64): cu118-pip"),  # macOS says arm64
        ("riscv64", "warn", "riscv64: no image is built for it"),
    ],
)  # fmt: skip
def test_the_architecture_names_what_runs_emulated(monkeypatch, arch, state, words):
    monkeypatch.setattr(doctor.platform, "machine", lambda: arch)
    monkeypatch.setattr(doctor.emulation, "qemu_registered", lambda name: True)
    finding = doctor.check_architecture(machine())
    assert finding.state == state and words in finding.detail


def test_the_architecture_says_when_qemu_is_missing(monkeypatch):
    monkeypatch.setattr(doctor.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(doctor, "host_arch", lambda: "amd64")
    monkeypatch.setattr(doctor.emulation, "qemu_registered", lambda name: False)
    finding = doctor.check_architecture(machine())
    assert finding.state == "warn" and "cpu-pip-arm64 cannot run here: no QEMU for linux/arm64" in finding.detail
    assert "qemu-user-static" in finding.fix


CONTAINERD_INFO = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
# Enough for a CUDA build on the classic store and not on the containerd store, whatever env/variants.toml says.
BETWEEN_STORES = (variants_file().disk.on("classic").cuda + variants_file().disk.on("containerd").cuda) / 2


@pytest.mark.parametrize(
    ("free_gb", "info", "state"),
    [
        (40, {}, "pass"),
        (12, {}, "warn"),
        (5, {}, "fail"),
        (BETWEEN_STORES, {}, "pass"),
        (BETWEEN_STORES, CONTAINERD_INFO, "warn"),
    ],
    ids=["room", "pull-only", "none", "classic", "containerd"],
)
def test_disk_room_for_a_build_and_a_pull(monkeypatch, tmp_path, free_gb, info, state):
    """The containerd store keeps each layer twice: the same free space builds on the classic store only."""
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: SimpleNamespace(free=free_gb * 1e9))
    client = SimpleNamespace(info=lambda: {"DockerRootDir": str(tmp_path), **info})
    assert doctor.check_disk(machine(client=client)).state == state


def test_the_suite_knows_the_kits_refusal_for_room(tmp_path):
    """The integration tests skip (never fail) a job the kit refused for room: by its words, which must match."""
    client = SimpleNamespace(info=lambda: {"DockerRootDir": str(tmp_path)})
    with pytest.raises(UsageError) as refused:
        engine.check_free_disk(client, 100000, "building cu121-pip")
    assert ROOM_REFUSED.search(str(refused.value))
    assert not ROOM_REFUSED.search("only 3 GB of the wheelhouse were written")


def test_a_login_for_each_registry_in_use(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    settings = Settings.from_config({"registry": "reg.example.com/team", "pins_file": str(tmp_path / "none.json")})
    assert doctor.check_login(machine(settings)).state == "warn"
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.example.com": {"auth": "eDp5"}}}))
    assert doctor.check_login(machine(settings)).state == "pass"
    assert doctor.check_login(machine(Settings(pins_file=str(tmp_path / "none.json")))).state == "pass"


def test_an_unreachable_index_is_a_warning(monkeypatch):
    settings = Settings(index_url="https://127.0.0.1:9/simple")
    finding = doctor.check_tls(machine(settings))
    assert finding.state == "warn" and "not reachable (connection refused)" in finding.detail


def test_a_blocking_failure_is_counted():
    findings = [doctor.Finding("a", "pass", "ok"), doctor.Finding("b", "fail", "no", "fix it")]
    text = doctor.report(findings)
    assert "fix: fix it" in text and text.splitlines()[-1] == "1 failed, 0 warned, 1 passed"


def test_lock_states(monkeypatch, tmp_path):
    from envkit.catalog.selection import select

    cu121 = select("12.1", "pip", None, None)
    assert info.lock_state(cu121) == "locked"
    assert info.lock_state(select("12.1", "conda", None, None)) == "no lock"
    copy = tmp_path / "env" / "pip"
    copy.mkdir(parents=True)
    lock = (info.ROOT / cu121.lock_file).read_text()
    (copy / "cu121.txt").write_text(lock.replace("torch==2.4.1", "torch==2.4.0"))
    monkeypatch.setattr(info, "ROOT", tmp_path)
    assert info.lock_state(cu121).startswith("tampered: was edited after `invoke lock`")
    assert os.path.exists(copy / "cu121.txt")


def test_files_the_kit_writes_are_readable_by_the_team(tmp_path):
    """mkstemp's 0600 must not reach a pins file others pull from."""
    from envkit.core.files import write_atomically

    previous = os.umask(0o022)
    try:
        fresh = write_atomically(tmp_path / "published.json", "{}\n")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "private.json"
        kept.write_text("x")
        kept.chmod(0o640)
        write_atomically(kept, "y")
        assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "y"
    finally:
        os.umask(previous)
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_mount_is_the_checkout_you_are_in(tmp_path, monkeypatch):
    from envkit.workspace.session import container_dir, current_checkout

    repo = tmp_path / "project"
    (repo / "src" / "deep").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo / "src" / "deep")
    assert current_checkout() == repo
    assert container_dir(repo) == "/workspace/src/deep"
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    monkeypatch.chdir(plain)
    assert current_checkout() == plain and container_dir(plain) == "/workspace"
    assert container_dir(repo) == "/workspace"  # outside the mount: its top


class FakeVolumes:
    """The SDK's client.volumes, over a dict of name -> labels."""

    def __init__(self, existing):
        self.existing = dict(existing)

    def get(self, name):
        import docker

        if name not in self.existing:
            raise docker.errors.NotFound(name)
        return SimpleNamespace(attrs={"Labels": self.existing[name]})

    def create(self, name, labels):
        self.existing[name] = labels


def test_cache_volumes_are_made_once_and_never_taken_over(tmp_path):
    from envkit.workspace import caches

    client = SimpleNamespace(volumes=FakeVolumes({}))
    made = caches.prepare(client, 4242, None)
    assert {mount["Source"] for mount in made.mounts} == {
        f"envkit-cache-{k}-4242" for k in ("pip", "huggingface", "torch", "inductor")
    }
    assert (
        made.env["HF_HOME"] == "/cache/huggingface"
        and made.env["TORCHINDUCTOR_CACHE_DIR"] == "/cache/inductor/inductor"
    )
    assert client.volumes.existing["envkit-cache-torch-4242"] == {"io.envkit.cache": "torch", "io.envkit.uid": "4242"}
    assert caches.prepare(client, 4242, None).mounts == made.mounts  # found, not made again
    someone_elses = SimpleNamespace(volumes=FakeVolumes({"envkit-cache-pip-4242": {"owner": "ops"}}))
    with pytest.raises(UsageError, match="exists that the kit did not create"):
        caches.prepare(someone_elses, 4242, None)
    in_folders = caches.prepare(client, 4242, tmp_path / "caches")
    assert {mount["Type"] for mount in in_folders.mounts} == {"bind"}
    assert sorted(p.name for p in (tmp_path / "caches").iterdir()) == ["huggingface", "inductor", "pip", "torch"]
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UsageError, match="cannot make"):
        caches.prepare(client, 4242, tmp_path / "a-file")

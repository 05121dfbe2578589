"""Architectures as data: `--arch` read once into a variant, the host's own
picked where an image is run, and one multi-arch index per release."""

from __future__ import annotations

import dataclasses

import pytest

from envkit.catalog import selection, variants
from envkit.catalog.selection import select
from envkit.catalog.variants import compat, siblings
from envkit.core.errors import UsageError
from envkit.images import emulation
from envkit.recipes import pip_lock
from envkit.release import gate, multiarch
from envkit.release.publish import Pushed
from envkit.release.registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, Remote
from envkit.release.releases import kinds_alone, release_groups
from envkit.workspace import pull
from envkit.workspace.image import Chosen


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"arch": "riscv64"},
            "--arch 'riscv64': not an architecture images are built for; choose one of amd64, arm64.",
        ),
        ({"arch": ""}, "--arch '': an empty value"),
        (
            {"cuda": "12.1", "arch": "arm64"},
            "--arch arm64: torch 2.4.1 for arm64 comes from PyPI's wheel only, a cpu build; use --cuda cpu for it.",
        ),
        ({"recipe": "conda", "arch": "arm64"}, "--arch arm64: there is no cpu conda build for arm64"),
        (  # from torch 2.11 PyPI's aarch64 wheel is a CUDA 13 build, and the only one arm64 takes
            {"torch": "2.15.0", "python": "3.13", "arch": "arm64"},
            "--arch arm64: torch 2.15.0 for arm64 comes from PyPI's wheel only, a cu132 build; use --cuda 13.2",
        ),
        ({"cuda": "13.0", "torch": "2.15.0", "arch": "arm64"}, "a cu132 build; use --cuda 13.2 for it."),
    ],
)
def test_a_wrong_arch_is_one_clear_error(flags, message):
    with pytest.raises(UsageError) as refused:
        select(**{"cuda": "cpu", **flags})
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("machine", "cuda", "expected"),
    [
        ("x86_64", "cpu", "cpu-pip"),
        ("aarch64", "cpu", "cpu-pip-arm64"),  # Linux on Arm: Graviton, Grace, Docker Desktop's VM
        ("arm64", "cpu", "cpu-pip-arm64"),  # macOS names it arm64
        ("aarch64", "12.1", "cu121-pip"),  # no arm64 build: the amd64 image, emulated (doctor says so)
        ("riscv64", "cpu", "cpu-pip"),
    ],
)
def test_run_and_shell_pick_the_hosts_own_image(monkeypatch, machine, cuda, expected):
    monkeypatch.setattr(variants.host_platform, "machine", lambda: machine)
    assert select(cuda, on_host=True).name == expected
    assert select(cuda).name == expected.removesuffix("-arm64")  # builds, tests, publishes: the first, unless --arch
    assert select(cuda, arch="amd64", on_host=True).name == expected.removesuffix("-arm64")


def test_an_arm64_variant_carries_its_architecture_everywhere():
    arm64 = select("cpu", arch="arm64")
    assert (arm64.name, arm64.stem, arm64.flags(), arm64.docker_platform) == (
        "cpu-pip-arm64",
        "cpu-arm64",
        "--cuda cpu --arch arm64",
        "linux/arm64",
    )
    assert arm64.arch_data.python_platform == "aarch64-manylinux_2_28"
    assert select("cpu", torch="2.5.1", arch="arm64").name == "cpu-pip-torch2.5.1-arm64"
    assert selection.check_arch("arm64", "cpu", "pip", compat()["2.4.1"]) == "arm64"


def test_the_current_lines_arm64_image_is_pypis_cuda_build_locked_under_the_amd64_shared_file():
    arm64 = select("13.2", arch="arm64")
    assert (arm64.name, arm64.torch, arm64.cuda, arm64.index_url) == (
        "cu132-pip-arm64",
        "2.15.0",
        "13.2",
        "https://pypi.org/simple",
    )
    assert not pip_lock.is_reference(arm64) and pip_lock.is_reference(select("13.2"))
    assert pip_lock.shared_file(arm64) == "env/pip/cu132.shared.txt"
    assert siblings(select("13.2")) == (select("13.2"), arm64)  # the line's `arches`: one multi-arch release


def test_a_multi_arch_variant_is_one_release_unless_one_arch_is_asked_for():
    amd64, arm64 = select("cpu"), select("cpu", arch="arm64")
    assert release_groups([amd64, arm64, select("12.1")], one_arch=False) == [(amd64, arm64), (select("12.1"),)]
    assert release_groups([arm64], one_arch=True) == [(arm64,)]
    assert kinds_alone(arm64) == ("immutable",)  # the shared tags name the index of both
    assert kinds_alone(select("12.1")) == ("immutable", "versioned", "moving")
    assert release_groups([select("cpu", dev=True)], one_arch=False) == [(select("cpu", dev=True),)]


def approved(variant, tag_of):
    report = dataclasses.make_dataclass("Report", ["tags"])(tag_of)
    return gate.Approved(variant, None, report, None)


def test_the_architectures_must_have_measured_the_same_release():
    shared = {"versioned": "2.4.1-cpu-py3.11-pip", "moving": "cpu-pip"}
    amd64 = approved(select("cpu"), {"immutable": "x-amd64", **shared})
    arm64 = approved(select("cpu", arch="arm64"), {"immutable": "x-arm64", **shared})
    assert multiarch.shared_tags([amd64, arm64]) == shared
    other = approved(select("cpu", arch="arm64"), {"immutable": "y", **shared, "versioned": "2.5.1-cpu-py3.11-pip"})
    with pytest.raises(gate.Refused, match=r"measured different versioned tags .*nothing was pushed"):
        multiarch.shared_tags([amd64, other])


def member(arch, media_type, digest):
    remote = Remote(digest, "sha256:" + "c" * 64, 1000, media_type, 529)
    return multiarch.Member(None, Pushed([], None, remote), {"architecture": arch, "os": "linux"})


def test_the_index_lists_each_architectures_exact_manifest():
    members = [
        member("amd64", DOCKER_MANIFEST, "sha256:" + "1" * 64),
        member("arm64", DOCKER_MANIFEST, "sha256:" + "2" * 64),
    ]
    body = multiarch.index_body(members)
    assert body["mediaType"] == DOCKER_MANIFEST_LIST  # what Docker 20.10 pushes: a manifest list of them
    assert body["manifests"] == [
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": f"sha256:{n * 64}",
            "size": 529,
            "platform": {"architecture": a, "os": "linux"},
        }
        for n, a in (("1", "amd64"), ("2", "arm64"))
    ]
    members[1] = member("arm64", OCI_MANIFEST, "sha256:" + "2" * 64)
    assert multiarch.index_body(members)["mediaType"] == OCI_INDEX


class Image:
    def __init__(self, arch):
        self.attrs = {"Architecture": arch, "Config": {}}


class Client:
    def __init__(self, arch):
        self.arch = arch

    def info(self):
        return {"Architecture": self.arch}


def test_running_another_architecture_says_so(monkeypatch):
    monkeypatch.setattr("envkit.images.emulation.qemu_registered", lambda arch: arch == "arm64")
    monkeypatch.setattr("envkit.images.emulation.host_arch", lambda: "amd64")
    assert Chosen("r", Image("amd64"), "").emulation_note(Client("x86_64")) == ""
    assert Chosen("r", Image("arm64"), "").emulation_note(Client("x86_64")) == (
        "; linux/arm64, emulated here under QEMU (6-10x slower)"
    )
    monkeypatch.setattr("envkit.images.emulation.qemu_registered", lambda arch: False)
    assert "no qemu-aarch64 in binfmt_misc" in Chosen("r", Image("arm64"), "").emulation_note(Client("x86_64"))
    assert "builds nothing for" in Chosen("r", Image("s390x"), "").emulation_note(Client("x86_64"))


def test_an_emulated_arm64_container_gets_a_named_cpu_model_and_a_native_one_nothing():
    # QEMU's default model ("max", 512-bit SVE) makes torch.compile's kernels
    # wrong; the probe and run containers name a 128-bit one instead.
    assert emulation.environment("arm64", "amd64") == {"QEMU_CPU": "neoverse-n2"}
    assert emulation.environment("arm64", None) == {"QEMU_CPU": "neoverse-n2"}
    assert emulation.environment("arm64", "arm64") == {}
    assert emulation.environment("amd64", "amd64") == {}
    assert emulation.environment("amd64", "arm64") == {}  # no model named: QEMU's default


@pytest.mark.parametrize(("machine", "cpu"), [("x86_64", "cpu-pip"), ("aarch64", "cpu-pip-arm64")])
def test_pull_all_takes_each_release_in_this_machines_architecture(monkeypatch, machine, cpu):
    monkeypatch.setattr(variants.host_platform, "machine", lambda: machine)
    assert pull.for_this_machine(select("cpu")).name == cpu
    assert pull.for_this_machine(select("cpu", arch="arm64")).name == cpu
    assert pull.for_this_machine(select("12.1")).name == "cu121-pip"  # no arm64 build: the amd64 one

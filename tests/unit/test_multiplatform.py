"""`--arch all`: which variants make one local index, the engines that hold
one, the settings each architecture builds with, and how an index's platforms
are read and compared with the built images (the engine's answers as Docker
28.5's containerd store gives them; tests/integration/test_arm64_image.py
assembles, tests and publishes a real one)."""

from types import SimpleNamespace

import docker
import pytest

from envkit.catalog.selection import select_all_arches
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.images import multiplatform
from envkit.images.multiplatform import LocalIndex
from envkit.release import gate, releases
from tests.unit.test_capabilities import stand_in

AMD64, ARM64, INDEX = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
ATTESTATION = "sha256:" + "d" * 64


def test_all_arches_is_the_variant_on_each_declared_architecture():
    assert [v.name for v in select_all_arches("cpu")] == ["cpu-pip", "cpu-pip-arm64"]
    assert [v.docker_platform for v in select_all_arches("13.2")] == ["linux/amd64", "linux/arm64"]
    with pytest.raises(UsageError, match="cu121-pip is declared for amd64 only"):
        select_all_arches("12.1")


def test_the_index_is_named_after_the_first_architectures_image():
    assert multiplatform.index_tag(select_all_arches("cpu"), Settings()) == "torch-env:cpu-pip-multiarch"


def test_base_image_names_the_first_architectures_base():
    amd64, arm64 = select_all_arches("13.2")
    settings = Settings(base_image="torch-env-base:trixie")
    assert multiplatform.member_settings(settings, amd64) is settings
    assert multiplatform.member_settings(settings, arm64).base_image == "torch-env-base:trixie-arm64"
    assert multiplatform.member_settings(Settings(), arm64).base_image == ""  # each recipe's own pinned base
    with pytest.raises(UsageError, match="a digest names one architecture's image"):
        multiplatform.member_settings(Settings(base_image=f"python@{AMD64}"), arm64)


@pytest.mark.parametrize(
    ("engine_answers", "message"),
    [
        (stand_in(), "only the containerd image store holds; this engine (Docker 28.5.2 (API 1.51), classic store"),
        (stand_in("20.10.24", "1.41", "1.12"), "only the containerd image store holds"),
        (stand_in("27.5.1", "1.47", containerd=True), "cannot show one platform of an index (API 1.49"),
    ],
    ids=["28.5-classic", "20.10", "27.5-containerd"],
)
def test_an_engine_that_holds_no_index_is_refused(engine_answers, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        multiplatform.check_store(engine_answers, select_all_arches("cpu"))
    if "classic" in message:
        assert "`invoke publish --cuda cpu` composes their index in the registry" in str(refused.value)


def test_a_containerd_store_of_api_1_49_holds_one():
    multiplatform.check_store(stand_in("28.1.1", "1.49", containerd=True), select_all_arches("cpu"))


def listing_entry(image_id, manifests):
    return {"Id": image_id, "RepoTags": ["torch-env:cpu-pip-multiarch"], "Manifests": manifests}


def manifest_entry(digest, arch, kind="image"):
    platform = {"architecture": arch, "os": "linux"} if arch else {}
    return {
        "ID": digest,
        "Descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1234}
        | ({"platform": platform} if kind == "image" else {}),
        "Available": True,
        "Kind": kind,
        "ImageData": {"Platform": platform, "Size": {"Unpacked": 1}} if kind == "image" else None,
        "AttestationData": {"For": AMD64} if kind == "attestation" else None,
    }


class FakeEngine:
    """`images.get` and the image list's answer (`GET /images/json?manifests=1`)."""

    def __init__(self, listing, status=200):
        self.listing, self.status, self.asked = listing, status, []
        self.images = SimpleNamespace(get=self.get)
        self.api = SimpleNamespace(base_url="http+docker://localhost", api_version="1.51", get=self.list)

    def get(self, reference):
        return SimpleNamespace(id=INDEX)

    def list(self, url, params):
        self.asked.append((url, params))
        ok = self.status == 200
        return SimpleNamespace(ok=ok, status_code=self.status, text="boom", json=lambda: self.listing)


def test_each_platform_resolves_to_its_manifest_and_attestations_are_left_out():
    listing = [
        listing_entry("sha256:" + "e" * 64, [manifest_entry(AMD64, "amd64")]),  # another image
        listing_entry(
            INDEX,
            [
                manifest_entry(AMD64, "amd64"),
                manifest_entry(ARM64, "arm64"),
                manifest_entry(ATTESTATION, "", "attestation"),
            ],
        ),
    ]
    fake = FakeEngine(listing)
    index = multiplatform.platforms(fake, "torch-env:cpu-pip-multiarch")
    assert index == LocalIndex("torch-env:cpu-pip-multiarch", INDEX, {"amd64": AMD64, "arm64": ARM64})
    [(url, params)] = fake.asked
    assert url.endswith("/v1.51/images/json") and params["manifests"] == "1"
    assert '"reference": ["torch-env:cpu-pip-multiarch"]' in params["filters"]


def test_a_listing_the_engine_refuses_is_one_error():
    with pytest.raises(Exception, match="the engine did not list the platforms of x:y: 500 boom"):
        multiplatform.platforms(FakeEngine([], status=500), "x:y")


def test_differences_name_each_platform_that_is_not_the_built_image():
    index = LocalIndex("t:cpu-pip-multiarch", INDEX, {"amd64": AMD64, "riscv64": ATTESTATION})
    names = {"amd64": "t:cpu-pip", "arm64": "t:cpu-pip-arm64"}
    assert multiplatform.differences(index, {"amd64": AMD64, "arm64": ARM64}, names) == [
        f"linux/arm64: nothing, not t:cpu-pip-arm64 ({ARM64[:19]})",
        f"linux/riscv64: {ATTESTATION[:19]}, an architecture not declared",
    ]
    assert multiplatform.differences(index, {"amd64": ARM64}, names)[0] == (
        f"linux/amd64: {AMD64[:19]}, not t:cpu-pip ({ARM64[:19]})"
    )
    same = LocalIndex("t:cpu-pip-multiarch", INDEX, {"amd64": AMD64, "arm64": ARM64})
    assert multiplatform.differences(same, {"amd64": AMD64, "arm64": ARM64}, names) == []


class FakeContainerdEngine(FakeEngine):
    def __init__(self, listing, containerd=True, has_index=True):
        super().__init__(listing)
        facts = stand_in(containerd=containerd)
        self.version, self.info, self.has_index = facts.version, facts.info, has_index

    def get(self, reference):
        if not self.has_index:
            raise docker.errors.ImageNotFound(reference)
        return super().get(reference)


def approved(ids):
    return [
        SimpleNamespace(variant=v, image=SimpleNamespace(id=i))
        for v, i in zip(select_all_arches("cpu"), ids, strict=True)
    ]


def test_publish_goes_ahead_only_while_the_local_index_holds_the_tested_images():
    listing = [listing_entry(INDEX, [manifest_entry(AMD64, "amd64"), manifest_entry(ARM64, "arm64")])]
    settings = Settings()
    assert releases.local_index(approved([AMD64, ARM64]), settings, FakeContainerdEngine(listing)) == (
        "torch-env:cpu-pip-multiarch"
    )
    assert releases.local_index(approved([AMD64, ARM64]), settings, FakeContainerdEngine([], has_index=False)) == ""
    classic = FakeContainerdEngine(listing, containerd=False)
    assert releases.local_index(approved([ATTESTATION, ARM64]), settings, classic) == "" and not classic.asked
    with pytest.raises(gate.Refused) as refused:
        releases.local_index(approved([ATTESTATION, ARM64]), settings, FakeContainerdEngine(listing))
    said = str(refused.value)
    assert said.startswith("torch-env:cpu-pip-multiarch, the local index of this release, holds other images")
    assert f"linux/amd64: {AMD64[:19]}, not the tested torch-env:cpu-pip ({ATTESTATION[:19]})" in said
    assert "`invoke build --cuda cpu --arch all`" in said and said.endswith("nothing was pushed.")

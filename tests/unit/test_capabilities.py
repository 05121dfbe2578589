"""What the kit decides from the engine's own answers: the image store, the
export and attestation options, which image id a build made, and refusing
a client the engine would refuse. Stand-in engines answer `version` and
`info` as Docker 20.10, 28.5 (classic and containerd stores) and 29 do."""

import dataclasses
import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from envkit.core import capabilities, engine
from envkit.core.errors import UsageError
from envkit.release import publish
from envkit.release.publish import _PUSHED_DIGEST, release_command
from envkit.status import doctor
from tests.helpers.fake_docker import make_fake_docker

CONTAINERD_STATUS = [["driver-type", "io.containerd.snapshotter.v1"]]


def stand_in(version="28.5.2", api="1.51", min_api="1.24", containerd=False):
    info = {
        "Driver": "overlayfs" if containerd else "overlay2",
        "DriverStatus": CONTAINERD_STATUS if containerd else [],
    }
    answers = {"Version": version, "ApiVersion": api, "MinAPIVersion": min_api}
    return SimpleNamespace(version=lambda: answers, info=lambda: info)


BUILDX = engine.Builder(("/usr/bin/docker", "buildx", "build"), {}, "docker buildx", (0, 0))
LEGACY = engine.Builder(("/usr/bin/docker", "build"), {"DOCKER_BUILDKIT": "1"}, "docker (built-in BuildKit)")


@pytest.mark.parametrize(
    ("engine_answers", "store", "legacy", "zstd", "legacy_clients"),
    [
        (stand_in("20.10.24+dfsg1", "1.41", "1.12"), "classic", True, False, True),
        (stand_in(), "classic", False, True, True),
        (stand_in(containerd=True), "containerd", False, True, True),
        (stand_in("29.0.1", "1.52", "1.44", containerd=True), "containerd", False, True, False),
    ],
    ids=["20.10", "28.5-classic", "28.5-containerd", "29-floor-1.44"],
)
def test_engine_facts(engine_answers, store, legacy, zstd, legacy_clients):
    facts = capabilities.engine_facts(engine_answers)
    assert (facts.store, facts.legacy, facts.pulls_zstd, facts.serves_legacy_clients) == (
        store,
        legacy,
        zstd,
        legacy_clients,
    )


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (LEGACY, ["/usr/bin/docker", "build"]),
        (
            engine.Builder(BUILDX.prefix, store="classic", rewrites_timestamps=True, attestation_flags=True),
            [*BUILDX.prefix, "--provenance=false", "--sbom=false", "--output", "type=docker,rewrite-timestamp=true"],
        ),
        (
            engine.Builder(BUILDX.prefix, store="classic", rewrites_timestamps=False, attestation_flags=True),
            [*BUILDX.prefix, "--provenance=false", "--sbom=false", "--load"],
        ),
        (
            engine.Builder(BUILDX.prefix, store="containerd", rewrites_timestamps=True, attestation_flags=True),
            [*BUILDX.prefix, "--provenance=false", "--sbom=false", "--output", engine.CONTAINERD_EXPORT],
        ),
        (engine.Builder(BUILDX.prefix, store="classic", buildkit=(0, 9)), [*BUILDX.prefix, "--load"]),
    ],
    ids=["legacy", "classic-rewrites", "classic-no-rewrite", "containerd", "old-buildx-no-attestation-flags"],
)
def test_build_options_follow_the_engine(builder, expected):
    assert builder.command() == expected
    assert builder.reproducible == ("rewrite-timestamp=true" in " ".join(expected))


def test_the_containerd_store_never_takes_rewrite_timestamp_on_load():
    """It fails there ("conflicts with unpack"), whatever BuildKit says of itself."""
    builder = engine.Builder(BUILDX.prefix, buildkit=(0, 28), store="containerd")
    assert not builder.reproducible and "rewrite-timestamp" not in " ".join(builder.command())


def test_the_built_id_is_the_manifest_on_the_containerd_store_and_the_config_on_the_classic(tmp_path):
    iidfile = tmp_path / "iid"
    iidfile.write_text("sha256:" + "c" * 64)
    metadata = {"containerimage.config.digest": "sha256:" + "c" * 64, "containerimage.digest": "sha256:" + "m" * 64}
    iidfile.with_suffix(".json").write_text(json.dumps(metadata))
    containerd = engine.Builder(BUILDX.prefix, store="containerd")
    classic = engine.Builder(BUILDX.prefix, store="classic")
    assert containerd.built_id(iidfile) == "sha256:" + "m" * 64
    assert classic.built_id(iidfile) == "sha256:" + "c" * 64
    assert containerd.id_args(iidfile) == ["--iidfile", str(iidfile), "--metadata-file", str(tmp_path / "iid.json")]
    assert LEGACY.id_args(iidfile) == ["--iidfile", str(iidfile)]  # 20.10's docker build has no metadata file


def test_a_legacy_client_is_refused_by_name_where_the_engine_would_refuse_it(tmp_path, monkeypatch):
    """Docker 29 serves API 1.44 and newer: Debian 12's 20.10 client (1.41) would get "client version 1.41
    is too old" halfway through a build; the kit says so first, and names the upgrade."""
    monkeypatch.setattr(engine, "FALLBACK_DIRS", ())
    make_fake_docker(tmp_path / "old", "20.10.24+dfsg1")
    monkeypatch.setenv("PATH", str(tmp_path / "old"))
    with pytest.raises(UsageError) as refused:
        capabilities.builder_for(stand_in("29.0.1", "1.52", "1.44", containerd=True))
    message = str(refused.value)
    assert "speaks API 1.41, and this engine (Docker 29.0.1 (API 1.52, serves API 1.44+)" in message
    assert "Install the buildx plugin" in message
    assert capabilities.builder_for(stand_in("26.1.5", "1.45", "1.24")).store == "classic"  # an older floor serves it


def test_the_probe_decides_where_buildkit_does_not_say_its_version(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "FALLBACK_DIRS", ())
    make_fake_docker(tmp_path / "new", "28.5.2", buildx=True, inspect="BuildKit version: v0.0.0+unknown\n")
    monkeypatch.setenv("PATH", str(tmp_path / "new"))
    monkeypatch.setattr(capabilities, "_probe_rewrite_timestamp", lambda client, key: True)
    assert capabilities.builder_for(stand_in()).reproducible
    monkeypatch.setattr(capabilities, "_probe_rewrite_timestamp", lambda client, key: False)
    assert not capabilities.builder_for(stand_in()).reproducible
    # The containerd store refuses it on load whatever the probe says; an OCI archive takes it.
    monkeypatch.setattr(capabilities, "_probe_rewrite_timestamp", lambda client, key: key.endswith("/containerd"))
    on_containerd = capabilities.builder_for(stand_in(containerd=True))
    assert (on_containerd.reproducible, on_containerd.archive_reproducible) == (False, True)
    archive = on_containerd.archive_command(tmp_path / "image.tar")
    assert archive[-2:] == [
        "--output",
        f"type=oci,dest={tmp_path}/image.tar,rewrite-timestamp=true,{engine.CONTAINERD_LAYERS}",
    ]


@pytest.mark.parametrize(
    ("store", "compression", "output"),
    [
        ("containerd", "gzip", "type=docker,compression=gzip,force-compression=true"),
        ("containerd", "zstd", "type=docker,compression=zstd,compression-level=1,force-compression=true"),
    ],
)
def test_the_label_step_compresses_for_the_registry_on_the_containerd_store(store, compression, output):
    builder = engine.Builder(BUILDX.prefix, store=store, attestation_flags=True)
    argv = release_command(builder, SimpleNamespace(publish_compression=compression))
    assert argv[argv.index("--output") + 1] == output
    assert "--provenance=false" in argv


def test_the_label_step_on_the_classic_store_is_the_build_command():
    builder = engine.Builder(BUILDX.prefix, store="classic", attestation_flags=True)
    assert release_command(builder, SimpleNamespace(publish_compression="gzip")) == builder.command()


def test_zstd_publishing_needs_the_containerd_store():
    from envkit.release import releases

    with pytest.raises(UsageError, match="classic store, whose pushes compress with gzip only"):
        releases.check_compression(SimpleNamespace(publish_compression="zstd"), stand_in())
    releases.check_compression(SimpleNamespace(publish_compression="zstd"), stand_in(containerd=True))
    releases.check_compression(SimpleNamespace(publish_compression="gzip"), stand_in())


def test_the_push_digest_is_read_from_the_status_line_the_containerd_store_sends():
    line = "cu121-pip: digest: sha256:" + "a" * 64 + " size: 4097"
    assert _PUSHED_DIGEST.match(line)[1] == "sha256:" + "a" * 64
    pusher = SimpleNamespace(
        api=SimpleNamespace(push=lambda *a, **k: iter([{"status": "Pushed", "id": "x"}, {"status": line}]))
    )
    assert publish._push(pusher, "127.0.0.1:5000/team/torch-env", "cu121-pip") == "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("answers", "compression", "state", "said"),
    [
        (stand_in("20.10.24+dfsg1", "1.41", "1.12"), "gzip", "warn", "a legacy engine (end of life)"),
        (stand_in("20.10.24+dfsg1", "1.41", "1.12"), "zstd", "warn", "this host cannot pull the team's images"),
        (stand_in(containerd=True), "zstd", "pass", "containerd image store: multi-platform images, zstd pulls"),
        (stand_in("29.0.1", "1.52", "1.44"), "gzip", "pass", "(API 1.52, serves API 1.44+), classic store (overlay2)"),
    ],
    ids=["legacy", "legacy-zstd-team", "containerd", "docker-29-classic"],
)
def test_doctor_says_what_the_engine_means(answers, compression, state, said):
    from envkit.core.settings import Settings
    from envkit.status import doctor

    finding = doctor.check_engine(doctor.Machine(answers, Settings(publish_compression=compression), host_gpus=[]))
    assert finding.state == state and said in finding.detail, finding


def _layer(entries: dict[str, int], compress: str = "") -> bytes:
    """A layer tar (gzip'd where asked) holding those files at those times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compress}") as layer:
        for name, mtime in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 7, mtime
            layer.addfile(info, io.BytesIO(b"envkit\n"))
    return buffer.getvalue()


def _archive(path, blobs: dict[str, bytes]):
    with tarfile.open(path, "w") as outer:
        for name, data in blobs.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            outer.addfile(info, io.BytesIO(data))
    return path


def test_the_probe_reads_a_files_time_in_either_archive_format(tmp_path):
    """An OCI layout (gzip'd layers under blobs/) and `docker image save`'s (plain tars beside JSON)."""
    name = capabilities.PROBE_FILE
    oci = _archive(
        tmp_path / "oci.tar",
        {
            "index.json": b'{"manifests": []}',
            "blobs/sha256/" + "a" * 64: _layer({"other": 5}, "gz"),
            "blobs/sha256/" + "b" * 64: _layer({name: capabilities.PROBE_EPOCH}, "gz"),
        },
    )
    saved = _archive(
        tmp_path / "saved.tar", {"manifest.json": b"[]", "blobs/sha256/" + "c" * 64: _layer({f"./{name}": 1764806400})}
    )
    assert capabilities.layer_file_time(oci, name) == capabilities.PROBE_EPOCH
    assert capabilities.layer_file_time(saved, name) == 1764806400  # left as it was: no rewrite
    assert capabilities.layer_file_time(_archive(tmp_path / "none.tar", {"index.json": b"{}"}), name) is None


@pytest.mark.parametrize(("buildkit", "probed"), [((0, 25), True), ((0, 12), False)], ids=["0.25", "0.12"])
def test_a_reported_buildkit_that_takes_the_option_is_probed_for_its_effect(tmp_path, monkeypatch, buildkit, probed):
    """Taking rewrite-timestamp is not applying it (Docker 28.5's classic store): only the probe says."""
    asked = []
    monkeypatch.setattr(capabilities, "_probe_rewrite_timestamp", lambda client, key: asked.append(key) or False)
    monkeypatch.setattr(capabilities, "_help_has", lambda client, flag: True)
    builder = capabilities.configure(engine.Builder(BUILDX.prefix, buildkit=buildkit), stand_in())
    assert not builder.reproducible and "--load" in builder.command()
    assert asked == (["28.5.2/classic"] if probed else [])


@pytest.mark.parametrize(
    ("builder", "said"),
    [
        (engine.Builder(BUILDX.prefix, store="classic", rewrites_timestamps=True), "identical digests from identical"),
        (
            engine.Builder(BUILDX.prefix, store="classic", rewrites_timestamps=False),
            "no identical digests (probed: its exporter takes rewrite-timestamp and leaves file times)",
        ),
        (
            engine.Builder(BUILDX.prefix, store="containerd", rewrites_timestamps=True),
            "refuses rewrite-timestamp), identical through verify-repro's OCI archive",
        ),
        (dataclasses.replace(LEGACY, store="classic"), "no identical digests (layers keep file times)"),
    ],
    ids=["classic-rewrites", "classic-leaves-times", "containerd", "legacy"],
)
def test_doctor_says_what_the_probe_found_of_identical_digests(builder, said):
    assert said in doctor._build_traits(builder)

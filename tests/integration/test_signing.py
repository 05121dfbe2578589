"""Forgeries of the team's images, each refused by `invoke pull` and `invoke
run` before anything of them is used: an unsigned image, one signed by
another key, an image pushed over the team's tag, and an attestation edited
after signing. The images are small (no torch), signed with the real cosign
against a real registry; the genuine one beside them goes through, so each
refusal is the check's doing. The release `invoke publish` signs, verified
by stock cosign: test_publish.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request

import pytest

from envkit.core import engine
from envkit.core.reports import BuildRecord, TestReport
from envkit.core.validation import validate
from envkit.release import attestation
from tests.helpers.registry import LocalRegistry
from tests.helpers.reports import build_record_data, report_data
from tests.integration.session import SESSION_KEY_PASSWORD, make_key_pair, run_cli

REPOSITORY = "team/torch-env-ci"
TAG = "cu121-pip"  # the team's moving tag, as a pin lists it


def provenance(verdict: str = attestation.PASSED) -> dict:
    """A provenance predicate of the kit's kind, as publish writes one (the fields verification reads)."""
    return {
        "buildDefinition": {"buildType": attestation.BUILD_TYPE, "externalParameters": {"variant": "cu121-pip"}},
        "runDetails": {
            "builder": {"id": attestation.BUILDER_ID},
            "byproducts": [
                {
                    "name": attestation.REPORT_NAME,
                    "digest": {"sha256": "0" * 64},
                    "annotations": {"verdict": verdict, "measured": {"torch": "2.4.1+cu121"}},
                }
            ],
        },
    }


class Forger:
    """Pushes small images to the registry and signs them with a key of its choice."""

    def __init__(self, registry: LocalRegistry, folder) -> None:
        self.registry, self.folder = registry, folder

    def push(self, marker: str) -> str:
        """A small image (FROM scratch, one file) pushed as REPOSITORY:marker; its REPOSITORY@DIGEST."""
        context = self.folder / f"image-{marker}"
        context.mkdir()
        (context / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
        (context / "marker").write_text(marker)
        tag = f"{self.registry.host}/{REPOSITORY}:{marker}"
        cli = engine.docker_cli()
        argv = [cli, "buildx", "build", "--provenance=false", "--sbom=false", "--load", "--tag", tag, str(context)]
        subprocess.run(argv, capture_output=True, check=True)
        subprocess.run([cli, "push", "--quiet", tag], capture_output=True, check=True)
        return f"{self.registry.host}/{REPOSITORY}@{self.digest(marker)}"

    def digest(self, tag: str) -> str:
        request = urllib.request.Request(
            f"http://{self.registry.host}/v2/{REPOSITORY}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,"
                     "application/vnd.docker.distribution.manifest.v2+json"},
        )  # fmt: skip
        with urllib.request.urlopen(request) as answer:
            return answer.headers["Docker-Content-Digest"]

    def retag(self, reference: str, tag: str) -> None:
        """Put the manifest REFERENCE names under REPOSITORY:tag (as anyone who may push there can)."""
        accept = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
        request = urllib.request.Request(
            f"http://{self.registry.host}/v2/{REPOSITORY}/manifests/{reference.split('@')[1]}",
            headers={"Accept": accept},
        )
        with urllib.request.urlopen(request) as answer:
            body, media_type = answer.read(), answer.headers["Content-Type"]
        self._put_manifest(body, media_type, tag)

    def sign(self, reference: str, key, verdict: str = attestation.PASSED, password: str = SESSION_KEY_PASSWORD):
        environment = {**os.environ, "COSIGN_PASSWORD": password}
        no_log = ["--key", str(key), "--use-signing-config=false", "--tlog-upload=false", "--yes"]
        subprocess.run(["cosign", "sign", *no_log, reference], env=environment, check=True, capture_output=True)
        predicate = self.folder / "predicate.json"
        predicate.write_text(json.dumps(provenance(verdict)))
        attest = ["cosign", "attest", *no_log, "--type", "slsaprovenance1", "--predicate", str(predicate), reference]
        subprocess.run(attest, env=environment, check=True, capture_output=True)

    def edit_attestation(self, reference: str) -> None:
        """Edit the provenance attestation of REFERENCE in the registry after it was signed: its statement
        says another torch, its signature stays as it was, and the referrers index names the edit only."""
        digest = reference.split("@", 1)[1]
        index_tag = digest.replace(":", "-")
        index = self._get_json(f"manifests/{index_tag}", "application/vnd.oci.image.index.v1+json")
        for entry in index["manifests"]:
            manifest = self._get_json(f"manifests/{entry['digest']}", entry["mediaType"])
            if manifest.get("annotations", {}).get("dev.sigstore.bundle.predicateType") != attestation.PREDICATE_TYPE:
                continue
            layer = manifest["layers"][0]
            bundle = self._get_json(f"blobs/{layer['digest']}", layer["mediaType"])
            statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
            statement["predicate"]["runDetails"]["byproducts"][0]["annotations"]["measured"]["torch"] = "2.4.1+evil"
            bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
            content = json.dumps(bundle).encode()
            layer.update(digest=self._push_blob(content), size=len(content))
            body = json.dumps(manifest).encode()
            entry.update(digest=self._put_manifest(body, entry["mediaType"]), size=len(body))
            break
        else:
            raise AssertionError(f"no provenance attestation of {reference} in {index_tag}")
        self._put_manifest(json.dumps(index).encode(), index["mediaType"], index_tag)

    def _get_json(self, path: str, accept: str) -> dict:
        request = urllib.request.Request(
            f"http://{self.registry.host}/v2/{REPOSITORY}/{path}", headers={"Accept": accept}
        )
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())

    def _push_blob(self, content: bytes) -> str:
        import hashlib

        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        start = urllib.request.Request(f"http://{self.registry.host}/v2/{REPOSITORY}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start) as answer:
            location = answer.headers["Location"]
        joiner = "&" if "?" in location else "?"
        put = urllib.request.Request(
            f"http://{self.registry.host}{location}{joiner}digest={digest}" if location.startswith("/") else
            f"{location}{joiner}digest={digest}",
            data=content, method="PUT", headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        urllib.request.urlopen(put).close()
        return digest

    def _put_manifest(self, body: bytes, media_type: str, tag: str = "") -> str:
        import hashlib

        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        request = urllib.request.Request(
            f"http://{self.registry.host}/v2/{REPOSITORY}/manifests/{tag or digest}",
            data=body, method="PUT", headers={"Content-Type": media_type},
        )  # fmt: skip
        urllib.request.urlopen(request).close()
        return digest


@pytest.fixture(scope="module")
def forgeries(tmp_path_factory, kit_session, docker_client):
    folder = tmp_path_factory.mktemp("forgeries")
    registry = LocalRegistry(folder / "registry").start()
    forger = Forger(registry, folder)
    team_key = kit_session.signing.parent / "team-key" / "cosign.key"
    _, other_key = make_key_pair(folder, "other", password="other")
    genuine = forger.push("genuine")
    forger.sign(genuine, team_key)
    forger.retag(genuine, TAG)  # the team's moving tag names it, as its pin says
    unsigned = forger.push("unsigned")
    other = forger.push("other-key")
    forger.sign(other, other_key, password="other")
    over_tag = forger.push("pushed-over")
    forger.sign(over_tag, team_key)  # signed by the team, even: still not what the pin names
    edited = forger.push("edited")
    forger.sign(edited, team_key)
    forger.edit_attestation(edited)
    failed = forger.push("failed")
    forger.sign(failed, team_key, verdict="failed")
    yield {
        "forger": forger, "genuine": genuine, "unsigned": unsigned, "other": other, "over_tag": over_tag,
        "edited": edited, "failed": failed, "folder": folder,
    }  # fmt: skip
    registry.close()


def pins_naming(forgeries, reference: str, name: str):
    """A pins file whose cu121-pip entry names REFERENCE (as an edited, or merely stale, checkout would)."""
    path = forgeries["folder"] / f"pins-{name}.json"
    path.write_text(json.dumps({
        "cu121-pip": {
            "reference": reference, "tags": [TAG], "torch": "2.4.1+cu121", "cuda": "12.1", "python": "3.11.10",
            "tested_image": "sha256:" + "1" * 64, "kit_revision": "0" * 40, "published_at": "2026-12-07T00:00:00+00:00",
        }
    }))  # fmt: skip
    return {"INVOKE_ENVKIT_PINS_FILE": str(path), "INVOKE_ENVKIT_REPORTS_DIR": str(forgeries["folder"] / name)}


def not_here(docker_client, reference: str) -> bool:
    return engine.local_image(docker_client, reference) is None


def remove(docker_client, reference: str) -> None:
    if engine.local_image(docker_client, reference):
        docker_client.images.remove(reference, force=True)


def test_the_genuine_image_is_pulled_and_verified(kit_session, forgeries, docker_client, make_room):
    """The control: without a forgery, pull and run --image accept it (so each refusal below is the check's)."""
    make_room(0, pulls=1, warm=True)  # the kit asks a cu121 pull's room of every pull of the variant
    genuine = forgeries["genuine"]
    remove(docker_client, genuine)
    pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env=pins_naming(forgeries, genuine, "genuine"))
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "pulled; signed by the key" in pulled.stdout and "attested as tested with a pass" in pulled.stdout
    assert not not_here(docker_client, genuine)


@pytest.mark.parametrize(
    ("forgery", "said"),
    [
        ("unsigned", "is not signed by the team"),
        ("other", "is not signed by the team"),
        ("edited", "its test attestation does not verify"),
        ("failed", "not attested as tested with a pass (failed)"),
    ],
)
def test_a_forged_pin_is_refused_by_pull_and_run(kit_session, forgeries, docker_client, forgery, said):
    reference = forgeries[forgery]
    remove(docker_client, reference)  # pushed from here: as on a machine that never had it
    env = pins_naming(forgeries, reference, forgery)
    pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env=env)
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert said in pulled.stderr and "Nothing of it was used" in pulled.stderr and "Traceback" not in pulled.stderr
    assert not_here(docker_client, reference)
    ran = run_cli(kit_session, "run", "--image", reference, "--", "true", env=env)
    assert ran.returncode == 1 and said in ran.stderr, ran.stderr
    assert not_here(docker_client, reference)


def test_an_image_pushed_over_the_team_tag_is_refused(kit_session, forgeries, docker_client, make_room):
    make_room(0, pulls=1, warm=True)
    forger, genuine, over = forgeries["forger"], forgeries["genuine"], forgeries["over_tag"]
    env = pins_naming(forgeries, genuine, "over-tag")
    by_tag = f"{forger.registry.host}/{REPOSITORY}:{TAG}"
    forger.retag(over, TAG)  # signed by the team, but not the image the pin names
    try:
        ran = run_cli(kit_session, "run", "--image", by_tag, "--", "true", env=env)
        assert ran.returncode == 1, ran.stderr
        assert "not the image the team pinned for cu121-pip" in ran.stderr and "the tag was moved" in ran.stderr
        forger.retag(forgeries["unsigned"], TAG)  # and by anyone else: unsigned
        ran = run_cli(kit_session, "run", "--image", by_tag, "--", "true", env=env)
        assert ran.returncode == 1 and "is not signed by the team" in ran.stderr, ran.stderr
        remove(docker_client, genuine)
        pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env=env)  # the pin's digest, whatever the tag says
        assert pulled.returncode == 0, pulled.stderr
        assert "pulled; signed by the key" in pulled.stdout and not not_here(docker_client, genuine)
        assert forger.digest(TAG) != genuine.split("@")[1]  # while the tag names another image
    finally:
        forger.retag(genuine, TAG)


def test_unsigned_allowed_on_purpose_and_doctor_says_so(kit_session, forgeries, docker_client, make_room):
    make_room(0, pulls=1, warm=True)  # the pull's room, which doctor also judges
    reference = forgeries["unsigned"]
    remove(docker_client, reference)
    env = {**pins_naming(forgeries, reference, "allowed"), "INVOKE_ENVKIT_UNSIGNED": "allow"}
    pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env=env)
    assert pulled.returncode == 0 and "not verified: envkit.unsigned is allow" in pulled.stdout, pulled.stderr
    doctor = run_cli(kit_session, "doctor", env=env)
    assert "envkit.unsigned is allow" in doctor.stdout
    bad = run_cli(kit_session, "pull", "--cuda", "12.1", env={**env, "INVOKE_ENVKIT_UNSIGNED": "yes"})
    assert bad.returncode == 2 and "envkit.unsigned 'yes': choose refuse or allow" in bad.stderr


def test_the_same_inputs_attest_the_same_statement_bytes(forgeries, kit_session):
    """Twice attested from the same report and build record, cosign's statement is the same bytes,
    and it holds the kit's predicate field for field (no field dropped in cosign's SLSA types)."""
    forger = forgeries["forger"]
    reference = forger.push("attested-twice")
    report = validate(TestReport, report_data(), "report", "")
    build = validate(BuildRecord, build_record_data(base_image="base@sha256:" + "b" * 64), "record", "")
    predicate = attestation.provenance(attestation.Tested(report, "d" * 64), build, {"engine": "28.5.2"})
    path = forgeries["folder"] / "same.json"
    path.write_bytes(predicate)
    team_key = kit_session.signing.parent / "team-key" / "cosign.key"
    environment = {**os.environ, "COSIGN_PASSWORD": SESSION_KEY_PASSWORD}
    no_log = ["--key", str(team_key), "--use-signing-config=false", "--tlog-upload=false", "--yes"]
    for _ in range(2):
        argv = ["cosign", "attest", *no_log, "--type", "slsaprovenance1", "--predicate", str(path), reference]
        subprocess.run(argv, env=environment, check=True, capture_output=True)
    key = ["--key", str(kit_session.signing / "cosign.pub"), "--insecure-ignore-tlog=true"]
    verified = subprocess.run(
        ["cosign", "verify-attestation", *key, "--type", "slsaprovenance1", reference], capture_output=True, text=True
    )
    payloads = [json.loads(line)["payload"] for line in verified.stdout.splitlines()]
    assert len(payloads) == 2 and payloads[0] == payloads[1], verified.stderr
    assert json.loads(base64.b64decode(payloads[0]))["predicate"] == json.loads(predicate)

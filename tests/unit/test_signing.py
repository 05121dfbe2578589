"""Signing and verifying, short of a registry: the attestation's bytes, how
its verdict is read, the trust policy files, a tag moved off its pin, the
settings, and the signer's checks before any push (with the real cosign:
a key pair made here). The registry side: tests/integration/test_signing.py."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from envkit import ROOT
from envkit.core.errors import UsageError
from envkit.core.references import registry_host
from envkit.core.reports import BuildRecord, TestReport
from envkit.core.settings import Settings
from envkit.core.validation import validate
from envkit.release import attestation, keys, signing, trust
from envkit.release.pins import PinnedImage
from tests.helpers.reports import build_record_data, report_data

DIGEST = "sha256:" + "c" * 64


def a_tested(**changes):
    report = validate(TestReport, report_data(**changes), "report", "")
    return attestation.Tested(report, "d" * 64)


def build(**changes):
    return validate(BuildRecord, build_record_data(**changes), "record", "")


def statement(predicate: bytes, digest: str = DIGEST) -> dict:
    """The in-toto statement cosign wraps a predicate in."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry/team/torch-env", "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": attestation.PREDICATE_TYPE,
        "predicate": json.loads(predicate),
    }


def test_the_same_inputs_give_the_same_attestation_bytes():
    first = attestation.provenance(a_tested(), build(), {"engine": "28.5.2", "kit": "abc"})
    again = attestation.provenance(a_tested(), build(), {"engine": "28.5.2", "kit": "abc"})
    assert first == again
    other = attestation.provenance(a_tested(), build(finished_at="2026-12-01T00:00:00+00:00"), {"engine": "28.5.2"})
    assert other != first  # the build record's time, and nothing else of the clock


def test_the_provenance_names_what_the_kit_knows():
    facts = {"revision": "0a1b2c3d", "recipe": "pip", "recipe_file": "env/pip/cu121.txt", "recipe_sha256": "f" * 64}
    one = a_tested(facts=facts)
    report = one.report
    base = "torch-env-base@sha256:" + "b" * 64
    predicate = json.loads(attestation.provenance(one, build(base_image=base), {"engine": "28.5.2", "kit": "abc"}))
    definition, run = predicate["buildDefinition"], predicate["runDetails"]
    assert definition["buildType"] == attestation.BUILD_TYPE
    assert definition["externalParameters"]["variant"] == "cu121-pip"
    assert definition["resolvedDependencies"] == [
        {"name": "kit", "digest": {"gitCommit": "0a1b2c3d"}},
        {"name": "env/pip/cu121.txt", "digest": {"sha256": "f" * 64}},
        {"name": "base", "uri": "docker-image://torch-env-base", "digest": {"sha256": "b" * 64}},
    ]
    assert run["builder"]["version"] == {"engine": "28.5.2", "kit": "abc"}
    byproduct = run["byproducts"][0]
    assert byproduct["digest"] == {"sha256": "d" * 64} and byproduct["annotations"]["verdict"] == "passed"
    assert byproduct["annotations"]["measured"]["torch"] == report.measured.torch
    assert run["metadata"]["finishedOn"].endswith("Z")  # RFC 3339, as cosign's SLSA types read it


def test_a_verdict_is_read_only_from_the_kit_statement_about_this_digest():
    predicate = attestation.provenance(a_tested(), build(), {})
    assert attestation.verdicts(statement(predicate), DIGEST) == ["passed"]
    assert attestation.verdicts(statement(predicate, "sha256:" + "e" * 64), DIGEST) == []  # another image's
    foreign = json.loads(predicate)
    foreign["buildDefinition"]["buildType"] = "https://example.org/other-builder"
    assert attestation.verdicts(statement(json.dumps(foreign).encode()), DIGEST) == []
    failed = attestation.provenance(a_tested(passed=False), build(), {})
    assert attestation.verdicts(statement(failed), DIGEST) == ["failed"]
    assert attestation.verdicts("not a statement", DIGEST) == []


def test_an_index_attestation_names_each_member_and_its_report():
    members = [
        (f"registry/team/torch-env@sha256:{'1' * 64}", a_tested()),
        (f"registry/x@sha256:{'2' * 64}", a_tested()),
    ]
    predicate = json.loads(attestation.index_provenance(members, {}))
    assert [d["digest"]["sha256"] for d in predicate["buildDefinition"]["resolvedDependencies"]] == ["1" * 64, "2" * 64]
    assert attestation.verdicts(statement(json.dumps(predicate).encode()), DIGEST) == ["passed", "passed"]


def test_the_policy_files(tmp_path):
    settings = Settings(signing_policy=str(tmp_path))
    assert trust.read_policy(settings).identities == ()
    (tmp_path / "keyless.toml").write_text('repository = "team/kit"\n')
    keyless = trust.read_policy(settings).identities[0]
    assert keyless.subject == "https://github.com/team/kit/.github/workflows/images.yml@refs/heads/main"
    assert keyless.issuer == "https://token.actions.githubusercontent.com"
    (tmp_path / "keyless.toml").write_text('repository = "team/kit"\nbranch = 3\n')
    with pytest.raises(UsageError, match=r"keyless.toml: branch: Input should be a valid string"):
        trust.read_policy(settings)
    (tmp_path / "keyless.toml").write_text("repository = \n")
    with pytest.raises(UsageError, match=r"keyless.toml: not TOML"):
        trust.read_policy(settings)
    (tmp_path / "keyless.toml").unlink()
    (tmp_path / "cosign.pub").write_text("not a key\n")
    with pytest.raises(UsageError, match=r"cosign.pub is not a PEM public key"):
        trust.read_policy(settings)


def test_no_policy_refuses_every_registry_image_unless_allowed(tmp_path):
    settings = Settings(signing_policy=str(tmp_path), reports_dir=str(tmp_path / "reports"))
    with pytest.raises(trust.Untrusted, match=r"no trust policy in .* Make one with `invoke keygen`"):
        trust.verify("registry.example/team/torch-env:cu121-pip", settings)
    allowed = trust.verify("registry.example/team/torch-env:cu121-pip", Settings(unsigned="allow"))
    assert allowed.line() == "not verified: envkit.unsigned is allow"


def pin(reference: str, index: str = "") -> PinnedImage:
    return PinnedImage(
        reference=reference, tags=("2.4.1-cu121-py3.11-pip", "cu121-pip"), torch="2.4.1+cu121", cuda="12.1",
        python="3.11.10", tested_image="sha256:" + "a" * 64, kit_revision="0" * 40, published_at="2026-12-07",
        index=index,
    )  # fmt: skip


def test_a_tag_moved_off_its_pin_is_refused():
    repository = "registry.example/team/torch-env"
    pins = {"cu121-pip": pin(f"{repository}@sha256:{'1' * 64}", index=f"{repository}@sha256:{'2' * 64}")}
    trust.check_pinned_tag(f"{repository}:cu121-pip", f"{repository}@sha256:{'1' * 64}", pins)
    trust.check_pinned_tag(f"{repository}:cu121-pip", f"{repository}@sha256:{'2' * 64}", pins)  # its index
    trust.check_pinned_tag(f"{repository}:another-tag", f"{repository}@sha256:{'3' * 64}", pins)  # not pinned
    trust.check_pinned_tag("registry.example/else:cu121-pip", f"registry.example/else@sha256:{'3' * 64}", pins)
    with pytest.raises(
        trust.Untrusted, match=r"names sha256:333333333333, not the image the team pinned for cu121-pip"
    ):
        trust.check_pinned_tag(f"{repository}:cu121-pip", f"{repository}@sha256:{'3' * 64}", pins)


@pytest.mark.parametrize(
    ("reference", "host"),
    [("127.0.0.1:5000/team/x:tag", "127.0.0.1:5000"), ("ghcr.io/a/b", "ghcr.io"), ("localhost/x", "localhost"),
     ("torch-env:cu121-pip", ""), ("team/torch-env:cu121-pip", "")],
)  # fmt: skip
def test_which_registry_a_reference_names(reference, host):
    assert registry_host(reference) == host


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"unsigned": "yes"}, "envkit.unsigned 'yes': choose refuse or allow."),
        ({"signing_key": "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc"}, "envkit.signing_key (not shown): "),
    ],
)
def test_signing_settings_are_checked_and_a_key_is_never_shown(config, message):
    with pytest.raises(UsageError) as refused:
        Settings.from_config(config)
    assert message in str(refused.value) and "abc" not in str(refused.value)


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    """A real cosign key pair: (its folder, the policy holding its public half)."""
    folder = tmp_path_factory.mktemp("keys")
    env = {**os.environ, "COSIGN_PASSWORD": "pw"}
    subprocess.run(["cosign", "generate-key-pair", "--output-key-prefix", str(folder / "team")], env=env, check=True)
    policy = folder / "policy"
    policy.mkdir()
    (folder / "team.pub").rename(policy / "cosign.pub")
    return folder, policy


def test_the_signer_is_checked_before_any_push(key_pair, tmp_path, monkeypatch):
    folder, policy = key_pair
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    key = str(folder / "team.key")
    assert signing.signer(Settings(signing_key=key, signing_policy=str(policy)), insecure=False).key == key
    monkeypatch.setenv("ENVKIT_TEST_TEAM_KEY", (folder / "team.key").read_text())  # as the workflow's secret
    assert signing.signer(Settings(signing_key="env://ENVKIT_TEST_TEAM_KEY", signing_policy=str(policy)), False)
    with pytest.raises(UsageError, match=r"envkit.signing_key is not set"):
        signing.signer(Settings(signing_policy=str(policy)), insecure=False)
    with pytest.raises(UsageError, match=r"has no cosign.pub: nobody could verify"):
        signing.signer(Settings(signing_key=key, signing_policy=str(tmp_path)), insecure=False)
    with pytest.raises(UsageError, match=r"keyless, but .* has no keyless.toml"):
        signing.signer(Settings(signing_key="keyless", signing_policy=str(policy)), insecure=False)
    other = tmp_path / "other"
    subprocess.run(["cosign", "generate-key-pair", "--output-key-prefix", str(other)], check=True,
                   env={**os.environ, "COSIGN_PASSWORD": "pw"})  # fmt: skip
    with pytest.raises(UsageError, match=r"is not the team's key: its public half is not"):
        signing.signer(Settings(signing_key=f"{other}.key", signing_policy=str(policy)), insecure=False)
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    with pytest.raises(UsageError, match=r"does not read as a cosign key") as refused:
        signing.signer(Settings(signing_key=key, signing_policy=str(policy)), insecure=False)
    assert "wrong" not in str(refused.value)


def test_keygen_writes_a_pair_and_never_overwrites(tmp_path, monkeypatch):
    policy, private = tmp_path / "policy", tmp_path / "home" / "cosign.key"
    settings = Settings(signing_policy=str(policy))
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    with pytest.raises(UsageError, match=r"COSIGN_PASSWORD is not set"):
        keys.generate(settings, str(private))
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    with pytest.raises(UsageError, match=r"inside the checkout, where it could be committed"):
        keys.generate(settings, str(ROOT / "env" / "team.key"))
    assert keys.generate(settings, str(private)) == (private, policy / "cosign.pub")
    assert private.stat().st_mode & 0o777 == 0o600 and b"ENCRYPTED SIGSTORE PRIVATE KEY" in private.read_bytes()
    assert signing.signer(Settings(signing_key=str(private), signing_policy=str(policy)), insecure=False)
    before = (private.read_bytes(), (policy / "cosign.pub").read_bytes())
    with pytest.raises(UsageError, match=r"exists .*A key is never overwritten"):
        keys.generate(settings, str(private))
    with pytest.raises(UsageError, match=r"cosign.pub exists"):
        keys.generate(settings, str(tmp_path / "another.key"))
    assert (private.read_bytes(), (policy / "cosign.pub").read_bytes()) == before
    assert sorted(path.name for path in private.parent.iterdir()) == ["cosign.key"]  # no scratch left

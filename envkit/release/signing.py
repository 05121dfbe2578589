"""What `invoke publish` signs: every digest it pushes (each architecture's
manifest and the multi-arch index), with a signed SLSA provenance and, for
each image, its CycloneDX SBOM as a signed attestation; all with the team's
key (envkit.signing_key) or, in the images workflow, keyless.

The key is checked against the trust policy before the first push, so a
release never goes out signed by a key the team's verifiers refuse.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envkit.core.errors import UsageError
from envkit.core.files import display, read_text
from envkit.core.report_files import build_record_of, test_report_path
from envkit.core.settings import Settings
from envkit.release import attestation, cosign, trust
from envkit.release.gate import Approved


@dataclass(frozen=True)
class Signer:
    tool: cosign.Cosign
    key: str  # a cosign key reference, or cosign.KEYLESS
    insecure: bool  # the registry is reached over plain HTTP

    def describe(self) -> str:
        return "keyless, as the workflow's OIDC identity" if self.key == cosign.KEYLESS else "envkit.signing_key"

    def sign(self, reference: str, predicates: Sequence[tuple[str, bytes]]) -> None:
        """Sign REPOSITORY@DIGEST, then attest each (cosign type, predicate bytes) on it."""
        cosign.sign(self.tool, self.key, reference, self.insecure)
        with tempfile.TemporaryDirectory(prefix="envkit-attest-") as scratch:
            for number, (kind, content) in enumerate(predicates):
                predicate = Path(scratch, f"{number}-{kind}.json")
                predicate.write_bytes(content)
                cosign.attest(self.tool, self.key, reference, kind, predicate, self.insecure)


def signer(settings: Settings, insecure: bool) -> Signer:
    """The team's signer, refused before any push when it is not set or the policy would refuse what it signs."""
    policy = trust.read_policy(settings)
    where = display(policy.folder)
    if not settings.signing_key:
        raise UsageError(
            "envkit.signing_key is not set: `invoke publish` signs every digest it pushes. Set "
            "INVOKE_ENVKIT_SIGNING_KEY to the team's key (a file, env://NAME, a KMS URI; `invoke keygen` makes "
            "one) and its password in COSIGN_PASSWORD."
        )
    tool = cosign.find()
    if settings.signing_key == cosign.KEYLESS:
        if not any(identity.subject for identity in policy.identities):
            raise UsageError(
                f"envkit.signing_key is keyless, but {where} has no {trust.KEYLESS_FILE}: "
                "name the workflow that signs there, or sign with the team's key."
            )
        return Signer(tool, cosign.KEYLESS, insecure)
    keys = [identity.public_key for identity in policy.identities if identity.public_key]
    if not keys:
        raise UsageError(
            f"{where} has no {trust.PUBLIC_KEY}: nobody could verify what this key signs. "
            "Write the team's public key there (`invoke keygen`) and commit it."
        )
    public = cosign.public_key(tool, settings.signing_key)
    if _pem_body(public) != _pem_body(read_text(keys[0])):
        raise UsageError(
            f"envkit.signing_key is not the team's key: its public half is not {display(keys[0])}. "
            "Sign with the key whose public half is committed there; nothing was pushed."
        )
    return Signer(tool, settings.signing_key, insecure)


def _pem_body(text: str) -> str:
    return "".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----"))


def tested(approved: Approved, settings: Settings) -> attestation.Tested:
    report_file = test_report_path(settings, approved.variant.name)
    return attestation.Tested(approved.report, attestation.sha256_of(report_file.read_bytes()))


def builder_version(approved: Approved) -> dict[str, str]:
    return {"engine": approved.report.host.docker, "kit": approved.report.kit_revision}


def image_predicates(approved: Approved, settings: Settings) -> list[tuple[str, bytes]]:
    """The provenance and the SBOM of one architecture's image."""
    build = build_record_of(settings, approved.variant.name, approved.report.image_id)
    provenance = attestation.provenance(tested(approved, settings), build, builder_version(approved))
    return [(cosign.PROVENANCE, provenance), (cosign.SBOM, approved.sbom.read_bytes())]


def index_predicates(members: Sequence[tuple[str, Approved]], settings: Settings) -> list[tuple[str, bytes]]:
    named = [(reference, tested(approved, settings)) for reference, approved in members]
    return [(cosign.PROVENANCE, attestation.index_provenance(named, builder_version(members[0][1])))]

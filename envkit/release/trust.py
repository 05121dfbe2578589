"""Who may sign the team's images (the trust policy in envkit.signing_policy,
env/signing/ by default, committed: moving it is a reviewed commit, like the
pins), and the check every task makes before it uses a registry image:
signed by the team, attested as tested with a pass.

The policy is `cosign.pub` (the team's public key, as `invoke keygen` writes
it) and/or `keyless.toml` (the images workflow's identity: repository,
workflow, branch). A signature by either is the team's.

What verified is remembered per digest (reports/verified/, with the policy
it verified under), so a pinned image pulled once runs offline; a changed
policy verifies again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import docker

from envkit.core import engine
from envkit.core.errors import KitError, UsageError
from envkit.core.files import display, read_text
from envkit.core.references import registry_host, split_reference
from envkit.core.report_files import write_report
from envkit.core.settings import Settings
from envkit.core.validation import STRICT, validate
from envkit.release import attestation, cosign
from envkit.release.pins import PinnedImage, read_pins
from envkit.release.registry import is_insecure

PUBLIC_KEY = "cosign.pub"
KEYLESS_FILE = "keyless.toml"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class Untrusted(KitError):
    """A registry image the policy does not accept: nothing of it was used."""


@dataclass(frozen=True)
class KeylessIdentity:
    """keyless.toml: the workflow whose OIDC identity signs in CI."""

    __pydantic_config__ = STRICT
    repository: str  # OWNER/NAME on GitHub
    workflow: str = ".github/workflows/images.yml"  # the workflow file that publishes
    branch: str = "main"  # the branch it publishes from
    issuer: str = GITHUB_ISSUER  # the OIDC issuer of the workflow's identity

    def subject(self) -> str:
        return f"https://github.com/{self.repository}/{self.workflow}@refs/heads/{self.branch}"


@dataclass(frozen=True)
class Policy:
    folder: Path
    identities: tuple[cosign.Identity, ...]
    fingerprint: str  # of the policy's files: what a remembered verification was made under

    def describe(self) -> str:
        return " or ".join(identity.describe() for identity in self.identities) or "nobody"


def read_policy(settings: Settings) -> Policy:
    folder = settings.signing_policy_path
    where = display(folder)
    identities, seen = [], hashlib.sha256()
    key = folder / PUBLIC_KEY
    if key.is_file():
        content = read_text(key).encode()
        if b"-----BEGIN PUBLIC KEY-----" not in content:
            raise UsageError(f"{display(key)} is not a PEM public key; restore it with `git checkout {where}`.")
        identities.append(cosign.Identity(public_key=key))
        seen.update(content)
    keyless = folder / KEYLESS_FILE
    if keyless.is_file():
        fix = f"It names the workflow that signs keyless: see {where}/README.md."
        text = read_text(keyless, fix=fix.rstrip("."))
        raw = text.encode()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"{display(keyless)}: not TOML ({error}).\n{fix}") from None
        identity = validate(KeylessIdentity, data, display(keyless), fix)
        identities.append(cosign.Identity(issuer=identity.issuer, subject=identity.subject()))
        seen.update(raw)
    return Policy(folder, tuple(identities), seen.hexdigest())


def _allow_hint() -> str:
    return "To use registry images nobody signed, on purpose, set envkit.unsigned to allow (INVOKE_ENVKIT_UNSIGNED)."


@dataclass(frozen=True)
class Verified:
    reference: str  # REPOSITORY@DIGEST: what to pull and use, never the tag that named it
    signer: str  # "" where not verified (envkit.unsigned allow)

    def line(self) -> str:
        if not self.signer:
            return "not verified: envkit.unsigned is allow"
        return f"signed by {self.signer}, attested as tested with a pass"


def verify(reference: str, settings: Settings, insecure: bool = False) -> Verified:
    """REFERENCE (a tag or a digest of a registry image) as the digest the policy accepts, or Untrusted."""
    if settings.unsigned == "allow":
        return Verified(reference, "")
    policy = read_policy(settings)
    if not policy.identities:
        raise Untrusted(
            f"{reference}: no trust policy in {display(policy.folder)} (no {PUBLIC_KEY}, no {KEYLESS_FILE}), "
            f"so no registry image is the team's. Make one with `invoke keygen`.\n{_allow_hint()}"
        )
    repository, _, digest = split_reference(reference)
    if digest and (remembered := _remembered(settings, policy, f"{repository}@{digest}")):
        return remembered
    tool = cosign.find()
    reasons = []
    for identity in policy.identities:
        try:
            digest = cosign.verify(tool, identity, reference, insecure)
        except cosign.SignatureRefused as refused:
            reasons.append(str(refused))
            continue
        pinned = f"{repository}@{digest}"
        _check_attested(tool, identity, pinned, digest, insecure)
        verified = Verified(pinned, identity.describe())
        _remember(settings, policy, verified)
        return verified
    raise Untrusted(
        f"{reference} is not signed by the team ({policy.describe()}, as {display(policy.folder)} says): "
        f"{'; '.join(dict.fromkeys(reasons))}. Nothing of it was used.\n"
        f"Use the team's pinned image (`invoke pull`), or ask who published it to sign it. {_allow_hint()}"
    )


def _check_attested(tool: cosign.Cosign, identity: cosign.Identity, pinned: str, digest: str, insecure: bool) -> None:
    try:
        statements = cosign.attestations(tool, identity, pinned, cosign.PROVENANCE, insecure)
    except cosign.SignatureRefused as refused:
        raise Untrusted(
            f"{pinned} is signed by the team, but its test attestation does not verify ({refused}): "
            "it may have been edited after signing. Nothing of it was used; publish it again with `invoke publish`."
        ) from None
    verdicts = [verdict for statement in statements for verdict in attestation.verdicts(statement, digest)]
    if not verdicts or any(verdict != attestation.PASSED for verdict in verdicts):
        found = ", ".join(verdicts) or "no test verdict of the kit"
        raise Untrusted(
            f"{pinned} is signed by the team, but not attested as tested with a pass ({found}). "
            "Nothing of it was used; test and publish it with `invoke test` and `invoke publish`."
        )


def _record_path(settings: Settings, pinned: str) -> Path:
    return settings.reports_path / "verified" / f"{hashlib.sha256(pinned.encode()).hexdigest()[:32]}.json"


def _remembered(settings: Settings, policy: Policy, pinned: str) -> Verified | None:
    try:
        record = json.loads(_record_path(settings, pinned).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("policy") != policy.fingerprint or record.get("reference") != pinned:
        return None
    return Verified(pinned, str(record.get("signer", "")))


def _remember(settings: Settings, policy: Policy, verified: Verified) -> None:
    record = {"reference": verified.reference, "signer": verified.signer, "policy": policy.fingerprint}
    with contextlib.suppress(OSError):  # a reports folder that cannot be written: verified again next time
        write_report(settings, _record_path(settings, verified.reference), json.dumps(record, indent=2) + "\n")


def check_pinned_tag(reference: str, verified: str, pinned: dict[str, PinnedImage]) -> None:
    """A tag of a pinned repository that the pins give must name the pinned digest (or its index):
    a tag moved to another image after the team pinned it is refused, even when that image is signed."""
    repository, tag, digest = split_reference(reference)
    if not tag or digest:
        return
    found = split_reference(verified)[2]
    for name, pin in pinned.items():
        pin_repository, _, pin_digest = split_reference(pin.reference)
        if pin_repository != repository or tag not in pin.tags:
            continue
        allowed = {pin_digest, split_reference(pin.index)[2] if pin.index else ""}
        if found not in allowed:
            raise Untrusted(
                f"{reference} names {found[:19]}, not the image the team pinned for {name} ({pin_digest[:19]}): "
                "the tag was moved after the pin. Nothing of it was used. Run the pinned image "
                "(`invoke run` without --image), or move the pin with a reviewed commit (`invoke publish`)."
            )


def for_use(client: docker.DockerClient, reference: str, settings: Settings) -> Verified | None:
    """A registry image as the digest to use, verified; None for a local image (a tag of this engine's
    with no registry in its name, as `invoke build` makes them), which needs no signature.
    A tag the pins give for the team's repository must still name the pinned digest."""
    if not registry_host(reference) and "@" not in reference and engine.local_image(client, reference):
        return None
    verified = verify_on(client, reference, settings)
    check_pinned_tag(reference, verified.reference, read_pins(settings.pins_path))
    return verified


def verify_on(client: docker.DockerClient, reference: str, settings: Settings) -> Verified:
    """verify(), over plain HTTP where the engine reaches the reference's registry so."""
    return verify(reference, settings, is_insecure(client, registry_host(reference) or "docker.io"))

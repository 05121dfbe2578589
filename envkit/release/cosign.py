"""The cosign command line, the one tool that signs and verifies the team's
images: what publish signs, stock `cosign verify` accepts, and the kit
verifies with the same program, so there is one reading of a signature.

With a key, nothing goes to a transparency log (a team's registry is often
private, and Rekor may be out of reach): signing is told so, and verifying
with the key accepts a signature no log holds. Keyless (the images
workflow's OIDC identity) goes through the public Sigstore services.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envkit.core import proc
from envkit.core.errors import KitError, UsageError

KEYLESS = "keyless"  # envkit.signing_key's word for the workflow's OIDC identity (Fulcio, Rekor)
PROVENANCE = "slsaprovenance1"  # cosign's names of the predicate types the kit attests
SBOM = "cyclonedx"
MINIMUM = (3, 0)  # signing without a log is `--use-signing-config=false` from cosign 3 on
SECONDS = 300  # one cosign call, against a registry that may be slow
_VERSION = re.compile(r"v?(\d+)\.(\d+)")
_NO_LOG = ("--use-signing-config=false", "--tlog-upload=false")


class SignatureRefused(KitError):
    """cosign found no signature, or none it accepts, on an image."""


@dataclass(frozen=True)
class Cosign:
    program: str
    version: str

    def run(self, argv: Sequence[str], failure: str) -> str:
        return proc.run_or_fail([self.program, *argv], failure, timeout=SECONDS, lines=4).stdout


@functools.cache  # once per task: pull and devcontainer verify one digest after another
def find() -> Cosign:
    """cosign from the kit's environment or PATH, new enough, or one message saying how to get it."""
    try:
        program = proc.tool("cosign")
    except UsageError:
        raise UsageError(
            "cosign is not installed: the team's images are signed and verified with it. Install cosign 3 "
            "(`bash .ci/setup` here; https://docs.sigstore.dev/cosign/system_config/installation/)."
        ) from None
    run = proc.capture([program, "version", "--json"], timeout=30)
    said = _json_field(run.stdout, "gitVersion")
    found = _VERSION.match(said)
    if found and (int(found[1]), int(found[2])) < MINIMUM:
        raise UsageError(f"{program} is cosign {said}; the kit needs cosign 3 or newer.")
    if not found:  # a distribution's build may say `devel`: then what it can do decides
        flags = proc.capture([program, "sign", "--help"], timeout=30)
        if run.returncode != 0 or "--use-signing-config" not in flags.stdout + flags.stderr:
            raise UsageError(f"{program} is not cosign 3 or newer (it signs without `--use-signing-config`).")
    return Cosign(program, said.lstrip("v") or "unknown")


def _json_field(text: str, key: str) -> str:
    try:
        return str(json.loads(text).get(key, ""))
    except (ValueError, AttributeError):
        return ""


def registry_flags(insecure: bool) -> list[str]:
    """A registry the engine reaches over plain HTTP; cosign itself takes localhost and 127.0.0.1 so."""
    return ["--allow-insecure-registry", "--allow-http-registry"] if insecure else []


def key_flags(key: str) -> list[str]:
    return [] if key == KEYLESS else ["--key", key, *_NO_LOG]


def sign(cosign: Cosign, key: str, reference: str, insecure: bool) -> None:
    """Sign REPOSITORY@DIGEST (cosign takes COSIGN_PASSWORD from the environment)."""
    argv = ["sign", "--yes", *key_flags(key), *registry_flags(insecure), reference]
    cosign.run(argv, f"cosign could not sign {reference}")


def attest(cosign: Cosign, key: str, reference: str, kind: str, predicate: Path, insecure: bool) -> None:
    argv = ["attest", "--yes", "--type", kind, "--predicate", str(predicate), *key_flags(key)]
    cosign.run([*argv, *registry_flags(insecure), reference], f"cosign could not attest {reference} ({kind})")


def public_key(cosign: Cosign, key: str) -> str:
    """The public half of a key reference, as PEM: proves the key reads (and its password) before any push."""
    run = proc.capture([cosign.program, "public-key", "--key", key], timeout=SECONDS)
    if run.returncode != 0:
        raise UsageError(
            f"envkit.signing_key {key!r} does not read as a cosign key ({_reason(run.stderr)}): check the "
            "reference, and that COSIGN_PASSWORD is its password; nothing was pushed."
        )
    return run.stdout


@dataclass(frozen=True)
class Identity:
    """Who may sign: a public key file, or a keyless identity (OIDC issuer and subject)."""

    public_key: Path | None = None
    issuer: str = ""
    subject: str = ""

    def flags(self) -> list[str]:
        if self.public_key is not None:
            return ["--key", str(self.public_key), "--insecure-ignore-tlog=true"]
        return ["--certificate-oidc-issuer", self.issuer, "--certificate-identity", self.subject]

    def describe(self) -> str:
        return f"the key {self.public_key}" if self.public_key else f"{self.subject} (issuer {self.issuer})"


def verify(cosign: Cosign, identity: Identity, reference: str, insecure: bool) -> str:
    """The manifest digest that REFERENCE (a tag or a digest) names, once its signature by IDENTITY verifies."""
    run = proc.capture(
        [cosign.program, "verify", *identity.flags(), *registry_flags(insecure), "--output", "json", reference],
        timeout=SECONDS,
    )
    if run.returncode != 0:
        raise SignatureRefused(_reason(run.stderr))
    try:
        claims = json.loads(run.stdout)
        return str(claims[0]["critical"]["image"]["docker-manifest-digest"])
    except (ValueError, LookupError, TypeError):
        raise SignatureRefused(f"cosign verify said something the kit does not read: {run.stdout[:200]!r}") from None


def attestations(cosign: Cosign, identity: Identity, reference: str, kind: str, insecure: bool) -> list[Any]:
    """The in-toto statements of KIND on REFERENCE whose signatures by IDENTITY verify."""
    argv = [cosign.program, "verify-attestation", "--type", kind, *identity.flags(), *registry_flags(insecure)]
    run = proc.capture([*argv, reference], timeout=SECONDS)
    if run.returncode != 0:
        raise SignatureRefused(_reason(run.stderr))
    statements = []
    for line in run.stdout.splitlines():
        try:
            statements.append(json.loads(base64.b64decode(json.loads(line)["payload"])))
        except (ValueError, LookupError, TypeError, binascii.Error):
            raise SignatureRefused("cosign verify-attestation gave an envelope the kit does not read") from None
    return statements


def _reason(stderr: str) -> str:
    """cosign's own words for why it refused: its `Error:` line, without the usage text around it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = next((line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")), "")
    return said or (lines[-1] if lines else "cosign refused it, and said nothing")

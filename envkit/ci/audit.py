"""`invoke audit`: known vulnerabilities in each pip lock, found by pip-audit
(PyPI's advisory feed), judged by env/audit-policy.toml. A finding fails the
audit unless the policy accepts it, with a reason, until a date; an expired
acceptance fails like a new finding. A package pip-audit could not look up
fails too: pip-audit itself reports "No known vulnerabilities found" when
its feed answered nothing at all."""

from __future__ import annotations

import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pydantic

from envkit import ROOT
from envkit.catalog.variants import Variant
from envkit.core import proc
from envkit.core.errors import KitError, UsageError
from envkit.core.files import display, read_text
from envkit.core.settings import Settings
from envkit.core.validation import STRICT, Words, validate, validate_json

POLICY_FILE = ROOT / "env" / "audit-policy.toml"
_POLICY_FIX = "Each [[accept]] needs id, package, reason and expires (a date, e.g. 2027-03-31)."
# pip-audit's JSON may grow fields: read the ones the policy needs, strictly typed.
_PIP_AUDIT_OUTPUT = pydantic.ConfigDict(extra="ignore", strict=True)


@dataclass(frozen=True)
class Acceptance:
    """One finding the team accepts ([[accept]]), for a reason, until a date."""

    __pydantic_config__ = STRICT
    id: Words  # the advisory's id or one of its aliases (GHSA-..., PYSEC-..., CVE-...)
    package: Words  # the package it was found in
    reason: Words  # why it does not matter here, in words a reviewer reads
    expires: str  # YYYY-MM-DD: after it, the finding fails `invoke audit` again

    @property
    def until(self) -> date:
        return date.fromisoformat(self.expires)


@dataclass(frozen=True)
class Policy:
    """env/audit-policy.toml: the findings of `invoke audit` the team accepts, each until a date."""

    __pydantic_config__ = STRICT
    accept: tuple[Acceptance, ...] = ()


@dataclass(frozen=True)
class Vulnerability:
    __pydantic_config__ = _PIP_AUDIT_OUTPUT
    id: str
    fix_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Dependency:
    __pydantic_config__ = _PIP_AUDIT_OUTPUT
    name: str
    version: str = ""
    vulns: tuple[Vulnerability, ...] = ()
    skip_reason: str = ""


@dataclass(frozen=True)
class AuditOutput:
    __pydantic_config__ = _PIP_AUDIT_OUTPUT
    dependencies: tuple[Dependency, ...]


@dataclass(frozen=True)
class Verdict:
    package: str
    version: str
    advisory: str  # the id, or "" for a package that could not be audited
    state: str  # accepted, expired, new or unaudited
    detail: str

    @property
    def fails(self) -> bool:
        return self.state != "accepted"


def read_policy(path: Path = POLICY_FILE) -> Policy:
    shown = display(path)
    if not path.exists() and not path.is_symlink():
        return Policy()
    try:
        data = tomllib.loads(read_text(path, shown))  # not UTF-8: "save it as UTF-8", not the schema
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{shown}: cannot be read as TOML ({error}).\n{_POLICY_FIX}") from None
    policy = validate(Policy, data, shown, _POLICY_FIX)
    for number, acceptance in enumerate(policy.accept):
        try:
            acceptance.until  # noqa: B018 (checked here, once)
        except ValueError:
            raise UsageError(
                f"{shown}: accept[{number}].expires: {acceptance.expires!r} is not a date.\n{_POLICY_FIX}"
            ) from None
    return policy


def judge(output: AuditOutput, policy: Policy, today: date) -> list[Verdict]:
    verdicts = []
    for dependency in output.dependencies:
        if dependency.skip_reason:
            verdicts.append(Verdict(dependency.name, dependency.version, "", "unaudited", dependency.skip_reason))
        for vulnerability in dependency.vulns:
            names = {vulnerability.id, *vulnerability.aliases}
            accepted = next(
                (a for a in policy.accept if a.id in names and a.package == dependency.name),
                None,
            )
            fixed = ", ".join(vulnerability.fix_versions) or "no fixed release"
            if accepted is None:
                state, detail = "new", f"fixed in {fixed}; accept it in {display(POLICY_FILE)} or move the pin"
            elif accepted.until < today:
                state, detail = "expired", f"accepted until {accepted.expires} ({accepted.reason})"
            else:
                state, detail = "accepted", f"until {accepted.expires}: {accepted.reason}"
            verdicts.append(Verdict(dependency.name, dependency.version, vulnerability.id, state, detail))
    return verdicts


def parse_output(text: str | bytes, source: str) -> AuditOutput:
    return validate_json(AuditOutput, text, source, "Give the JSON that `pip-audit --format json` writes.")


_LOCAL_LABEL = re.compile(r"^([A-Za-z0-9._-]+==[^\s+;\\]+)\+[A-Za-z0-9.]+", re.MULTILINE)


def as_released(lock_text: str) -> str:
    """The lock with local version labels dropped (torch==2.4.1+cpu is torch
    2.4.1 to the advisory feed, which knows no `+cpu`: asked as written, PyPI
    answers 404 and the package goes unaudited)."""
    return _LOCAL_LABEL.sub(r"\1", lock_text)


def run_pip_audit(variant: Variant, settings: Settings) -> str:
    """pip-audit over the lock's pins (no resolution, no pip), its JSON."""
    lock = ROOT / variant.lock_file
    if not lock.is_file():
        raise UsageError(
            f"{variant.name} has no lock ({variant.lock_file}): write it with `invoke lock {variant.flags()}`."
        )
    env = {"REQUESTS_CA_BUNDLE": str(ca_cert)} if (ca_cert := settings.ca_cert) else {}
    with tempfile.TemporaryDirectory(prefix="envkit-audit-") as scratch:
        released = Path(scratch) / "requirements.txt"
        released.write_text(as_released(read_text(lock)))
        argv = [sys.executable, "-m", "pip_audit", "--requirement", str(released), "--disable-pip", "--no-deps"]
        argv += ["--format", "json", "--progress-spinner", "off", "--aliases", "on", "--desc", "off"]
        argv += ["--cache-dir", str(Path(scratch) / "cache")]
        done = proc.capture(argv, env=env, timeout=900)
    # pip-audit exits 1 when it found something: the JSON is the answer either way.
    if done.returncode not in (0, 1) or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KitError(
            f"pip-audit could not audit {variant.lock_file}: {tail[:240]}\n"
            "It asks PyPI's JSON API (pypi.org/pypi/NAME/VERSION/json): run it where that is reachable."
        )
    return done.stdout


def audit_variants(
    variants: list[Variant], settings: Settings, findings: Path | None = None, today: date | None = None
) -> list[tuple[str, list[Verdict]]]:
    """Each variant's verdicts: from pip-audit run here, or from the JSON it
    wrote elsewhere (`findings`, for the one variant given)."""
    policy = read_policy()
    judged = []
    for variant in variants:
        if findings is not None:
            output = parse_output(findings.read_bytes(), display(findings))
        else:
            output = parse_output(run_pip_audit(variant, settings), "pip-audit")
        judged.append((variant.name, judge(output, policy, today or date.today())))
    return judged


def table(variant: str, verdicts: list[Verdict]) -> str:
    if not verdicts:
        return f"{variant}: no known vulnerability"
    lines = [f"{variant}:"]
    lines += [
        f"  {v.state:<9} {f'{v.package} {v.version}'.strip()} {v.advisory or '-'}: {v.detail}"
        for v in sorted(verdicts, key=lambda v: (not v.fails, v.package))
    ]
    return "\n".join(lines)

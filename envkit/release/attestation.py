"""What the kit knows of a release, as the predicate of a signed in-toto
attestation: SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance),
with the kit's own facts where the standard leaves room for them (the
external and internal parameters, and the byproducts' annotations).

The same inputs give the same bytes: every field comes from the build record
and the test report, and none is the time it is written. The test verdict is
a byproduct, the test report, with its digest and `verdict` annotation: the
check `invoke pull` and `run` make before they use an image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from envkit.core.reports import BuildRecord, TestReport

BUILD_TYPE = "urn:torch-envkit:build:v1"  # a URI, as SLSA asks: what a build of the kit's recipes means
INDEX_TYPE = "urn:torch-envkit:multi-arch-index:v1"  # one index of tested images, assembled in the registry
BUILDER_ID = "urn:torch-envkit:invoke-publish"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"  # what cosign's `--type slsaprovenance1` names
REPORT_NAME = "envkit-test-report"
PASSED = "passed"


@dataclass(frozen=True)
class Tested:
    """One image's test report, as the attestation names it."""

    report: TestReport
    report_sha256: str  # of the report file's bytes, as `invoke test` wrote them


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _byproduct(tested: Tested) -> dict[str, Any]:
    report = tested.report
    measured = report.measured
    return {
        "name": REPORT_NAME,
        "digest": {"sha256": tested.report_sha256},
        "mediaType": "application/json",
        "annotations": {
            "verdict": PASSED if report.passed else "failed",
            "variant": report.variant,
            "tested_image": report.image_id,
            "tested_at": report.started_at,
            "checks": len(report.checks),
            "failed_checks": report.failed_checks,
            "measured": {**measured.versions(), "machine": measured.machine} if measured else {},
        },
    }


def provenance(tested: Tested, build: BuildRecord | None, builder: dict[str, str]) -> bytes:
    """The predicate of one architecture's image. BUILD is this machine's record of
    the build (None where the image was built elsewhere: then only what the report says)."""
    report, facts = tested.report, tested.report.facts
    dependencies: list[dict[str, Any]] = []
    if facts.revision:
        dependencies.append({"name": "kit", "digest": {"gitCommit": facts.revision}})
    lock = build.recipe if build and build.recipe else facts.recipe_file  # the checkout's path, else the image's
    if lock and facts.recipe_sha256:
        dependencies.append({"name": lock, "digest": {"sha256": facts.recipe_sha256}})
    if build and "@sha256:" in build.base_image:
        name, digest = build.base_image.split("@sha256:", 1)
        dependencies.append({"name": "base", "uri": f"docker-image://{name}", "digest": {"sha256": digest}})
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "variant": report.variant,
                "recipe": facts.recipe,
                "lock": lock,
                "base_image": build.base_image if build else "",
            },
            "internalParameters": {"built_image": build.image_id if build else "", "lock_inputs": _inputs(build)},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": builder},
            "metadata": {"invocationId": report.image_id, **_finished(build)},
            "byproducts": [_byproduct(tested)],
        },
    }
    return _canonical(predicate)


def index_provenance(members: Sequence[tuple[str, Tested]], builder: dict[str, str]) -> bytes:
    """The predicate of a multi-arch index: its members (REPOSITORY@DIGEST) and each one's test report."""
    predicate = {
        "buildDefinition": {
            "buildType": INDEX_TYPE,
            "externalParameters": {"variants": [tested.report.variant for _, tested in members]},
            "resolvedDependencies": [
                {"uri": f"docker-image://{reference}", "digest": {"sha256": reference.split("@sha256:", 1)[1]}}
                for reference, _ in members
            ],
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": builder},
            "byproducts": [_byproduct(tested) for _, tested in members],
        },
    }
    return _canonical(predicate)


def _inputs(build: BuildRecord | None) -> Any:
    if not build or not build.recipe_inputs:
        return ""
    try:
        return json.loads(build.recipe_inputs)
    except ValueError:
        return build.recipe_inputs


def _finished(build: BuildRecord | None) -> dict[str, str]:
    """The build's end, from its record (RFC 3339, as SLSA and cosign read it)."""
    return {"finishedOn": build.finished_at.replace("+00:00", "Z")} if build else {}


def _canonical(predicate: dict[str, Any]) -> bytes:
    return (json.dumps(predicate, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def verdicts(statement: Any, digest: str) -> list[str]:
    """The test verdicts a provenance statement gives for DIGEST (sha256:...): [] where it is not
    the kit's, or not about this digest."""
    if not isinstance(statement, dict) or statement.get("predicateType") != PREDICATE_TYPE:
        return []
    subjects = statement.get("subject") or []
    named = [s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, dict)]
    if digest.removeprefix("sha256:") not in named:
        return []
    predicate = statement.get("predicate") or {}
    if predicate.get("buildDefinition", {}).get("buildType") not in (BUILD_TYPE, INDEX_TYPE):
        return []
    return [
        str(product.get("annotations", {}).get("verdict", ""))
        for product in predicate.get("runDetails", {}).get("byproducts", [])
        if isinstance(product, dict) and product.get("name") == REPORT_NAME
    ]

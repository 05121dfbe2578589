"""The SBOM pushed with each published image: an OCI artifact whose
`subject` is the image, so that registries with the OCI 1.1 referrers API
list it under the image (`oras discover`, `docker buildx imagetools`), and
under a tag of its own, `sha256-<image digest>.sbom`, for every registry
else (the scheme cosign uses for its attachments)."""

from __future__ import annotations

from dataclasses import dataclass

from envkit.checks.sbom import MEDIA_TYPE
from envkit.release.registry import Registry, Remote

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"  # an artifact's config: `{}`


@dataclass(frozen=True)
class Attached:
    reference: str  # REPOSITORY:sha256-<hex>.sbom
    digest: str  # the artifact manifest's
    referrer: bool  # the registry indexed it under the image (OCI 1.1)


def sbom_tag(image_digest: str) -> str:
    return image_digest.replace(":", "-") + ".sbom"


def attach_sbom(registry: Registry, path: str, repository: str, image: Remote, sbom: str, created: str) -> Attached:
    content = sbom.encode()
    config = registry.push_blob(path, b"{}")
    layer = registry.push_blob(path, content)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": {"mediaType": EMPTY_CONFIG, "digest": config, "size": 2},
        "layers": [
            {
                "mediaType": MEDIA_TYPE,
                "digest": layer,
                "size": len(content),
                "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
            }
        ],
        "subject": {"mediaType": image.media_type, "digest": image.digest, "size": image.manifest_size},
        "annotations": {"org.opencontainers.image.created": created},
    }
    tag = sbom_tag(image.digest)
    digest, referrer = registry.push_manifest(path, tag, manifest)
    return Attached(f"{repository}:{tag}", digest, referrer)

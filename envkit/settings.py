"""Options a team or CI sets once: defaults here, then invoke.yaml, then
INVOKE_ENVKIT_* environment variables (Invoke's own config layers), then flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from envkit import ROOT
from envkit.errors import UsageError

# Every key must exist here for Invoke to read its INVOKE_ENVKIT_<KEY> variable.
DEFAULTS: dict[str, Any] = {
    "image_name": "torch-env",  # local images are tagged <image_name>:<variant>
    "base_image": "",  # empty: the recipe's digest-pinned base from env/variants.toml
    "ca_cert": "",  # a CA bundle passed to builds as a BuildKit secret
    "docker_client": "",  # empty: find buildx, else a client with built-in BuildKit
    "reports_dir": "reports",  # build records and test reports (git-ignored)
    "source_url": "",  # the OCI source label; empty: the git remote `origin`
    "registry": "",  # where `invoke publish` pushes: HOST[:PORT]/NAMESPACE
    "index_url": "",  # replaces a pip recipe's index (lock, build, wheelhouse)
    "extra_index_url": "",  # replaces its extra indexes (space-separated)
    "mirrors": "",  # space-separated UPSTREAM=MIRROR URL prefixes, for every index
    "base_mirror": "http://deb.debian.org/debian",
    "base_suite": "bookworm",
    "base_tag": "torch-env-base:{suite}",
}


@dataclass(frozen=True)
class Settings:
    image_name: str = DEFAULTS["image_name"]
    base_image: str = DEFAULTS["base_image"]
    ca_cert: str = DEFAULTS["ca_cert"]
    docker_client: str = DEFAULTS["docker_client"]
    reports_dir: str = DEFAULTS["reports_dir"]
    source_url: str = DEFAULTS["source_url"]
    registry: str = DEFAULTS["registry"]
    index_url: str = DEFAULTS["index_url"]
    extra_index_url: str = DEFAULTS["extra_index_url"]
    mirrors: str = DEFAULTS["mirrors"]
    base_mirror: str = DEFAULTS["base_mirror"]
    base_suite: str = DEFAULTS["base_suite"]
    base_tag: str = DEFAULTS["base_tag"]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **flags: str | None) -> Settings:
        """Config values (already layered by Invoke), overridden by the flags given."""
        known = {field.name for field in fields(cls)}
        values = {key: str(value or "") for key, value in config.items() if key in known}
        values.update({key: value for key, value in flags.items() if value})
        return cls(**values)

    @property
    def reports_path(self) -> Path:
        path = Path(self.reports_dir)
        return path if path.is_absolute() else ROOT / path

    def ca_cert_path(self) -> Path | None:
        """The CA bundle, checked before any docker command starts."""
        if not self.ca_cert:
            return None
        path = Path(self.ca_cert).expanduser()
        if not path.is_file():
            raise UsageError(
                f"--ca-cert {self.ca_cert}: no such file. Pass the PEM bundle your proxy's CA is in "
                "(on Debian: /etc/ssl/certs/ca-certificates.crt)."
            )
        return path.resolve()

    def base_image_tag(self) -> str:
        return self.base_tag.format(suite=self.base_suite)

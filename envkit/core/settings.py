"""Options a team or CI sets once: defaults here, then invoke.yaml, then
INVOKE_ENVKIT_* environment variables (Invoke's own config layers), then flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from envkit import ROOT
from envkit.core.errors import UsageError


@dataclass(frozen=True)
class Settings:
    image_name: str = "torch-env"  # local images are tagged <image_name>:<variant>
    base_image: str = ""  # empty: the recipe's digest-pinned base from env/variants.toml
    ca_cert: str = ""  # a CA bundle passed to builds as a BuildKit secret
    docker_client: str = ""  # empty: find buildx, else a client with built-in BuildKit
    reports_dir: str = "reports"  # build records and test reports (git-ignored)
    source_url: str = ""  # the OCI source label; empty: the git remote `origin`
    registry: str = ""  # where `invoke publish` pushes: HOST[:PORT]/NAMESPACE
    index_url: str = ""  # replaces a pip recipe's index (lock, build, wheelhouse)
    extra_index_url: str = ""  # replaces its extra indexes (space-separated)
    mirrors: str = ""  # space-separated UPSTREAM=MIRROR URL prefixes, for every index
    base_mirror: str = "http://deb.debian.org/debian"
    base_suite: str = "bookworm"
    base_tag: str = "torch-env-base:{suite}"

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


# Invoke reads INVOKE_ENVKIT_<KEY> only for keys its config already has: all of them.
DEFAULTS: dict[str, Any] = asdict(Settings())

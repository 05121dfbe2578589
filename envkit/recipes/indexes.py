"""Where packages come from: the recipe's upstream indexes, or a team's
mirrors of them, or one-off `--index-url`/`--extra-index-url` overrides.
Locks always record the upstream URLs (a mirror serves the same files); only
the transport changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from envkit.catalog.variants import Variant
from envkit.core.errors import KitError, network_reason
from envkit.core.settings import Settings


@dataclass(frozen=True)
class Indexes:
    index_url: str
    extra_index_urls: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (self.index_url, *self.extra_index_urls)


def mirrored(url: str, mirrors: tuple[tuple[str, str], ...]) -> str:
    """The URL with the first of `envkit.mirrors`' UPSTREAM prefixes it starts with replaced by its MIRROR."""
    for upstream, mirror in mirrors:
        if url.rstrip("/") == upstream or url.startswith(upstream + "/"):
            return mirror + url.rstrip("/")[len(upstream) :]
    return url


def upstream(variant: Variant) -> Indexes:
    return Indexes(variant.index_url, variant.extra_index_urls)


def effective(variant: Variant, settings: Settings) -> Indexes:
    """The indexes to use now: overrides, else mirrors of the upstream ones."""
    mirrors = settings.mirrors
    index_url = settings.index_url or mirrored(variant.index_url, mirrors)
    extras = (
        settings.extra_index_url
        if settings.extra_index_url
        else tuple(mirrored(url, mirrors) for url in variant.extra_index_urls)
    )
    return Indexes(index_url, extras)


def check_reachable(urls: tuple[str, ...], settings: Settings, doing: str) -> None:
    """Fail before anything is written when an index cannot be reached."""
    ca_cert = settings.ca_cert
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme == "file":
            if not Path(parsed.path).is_dir():
                raise KitError(f"cannot {doing}: {url} is not a folder; nothing was written.")
            continue
        try:
            requests.head(
                url.rstrip("/") + "/", timeout=20, allow_redirects=True, verify=str(ca_cert) if ca_cert else True
            )
        except requests.RequestException as error:
            raise KitError(
                f"cannot {doing}: {url} is not reachable ({network_reason(error)}); nothing was written."
            ) from None

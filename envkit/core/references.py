"""The grammars of the names users type: Docker image references (as
distribution/reference defines them) and package-index URLs. Checked before
any network call, so a typo is a typo, not "not reachable"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
COMPONENT = re.compile(_COMPONENT)
_HOST = re.compile(rf"(?P<domain>{_DOMAIN})(?::(?P<port>[0-9]+))?")
_REFERENCE = re.compile(
    rf"(?:(?P<host>{_DOMAIN}(?::[0-9]+)?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)


def host_problem(host: str) -> str:
    """Why HOST[:PORT] is not a registry host, or ""."""
    match = _HOST.fullmatch(host)
    if not match:
        return f"{host!r} is not a host name"
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        return f"port {match['port']} is not between 1 and 65535"
    return ""


def reference_problem(reference: str) -> str:
    """Why a string is not a Docker image reference (NAME[:TAG][@DIGEST]), or ""."""
    match = _REFERENCE.fullmatch(reference)
    if not match:
        return "not an image reference (NAME[:TAG][@sha256:DIGEST], lower-case name)"
    if len(match["path"]) + len(match["host"] or "") > 255:
        return "longer than 255 characters"
    first = reference.split("/", 1)[0]
    if match["host"] is None and "/" in reference and ("." in first or ":" in first):
        return "not an image reference"
    return host_problem(match["host"]) if match["host"] else ""


def split_reference(reference: str) -> tuple[str, str, str]:
    """A checked reference as (REPOSITORY, TAG, DIGEST), "" for what it does not name."""
    match = _REFERENCE.fullmatch(reference)
    if not match:
        raise ValueError(f"not an image reference: {reference!r}")
    repository = f"{match['host']}/{match['path']}" if match["host"] else match["path"]
    return repository, match["tag"] or "", match["digest"] or ""


def registry_host(reference: str) -> str:
    """The registry a reference names explicitly (HOST[:PORT]/...), or ""."""
    first, _, rest = reference.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else ""


@dataclass(frozen=True)
class RegistryTarget:
    """`--registry HOST[:PORT]/NAMESPACE`."""

    host: str
    namespace: str

    @classmethod
    def parse(cls, value: str) -> RegistryTarget:
        host, _, namespace = value.partition("/")
        looks_like_host = "." in host or ":" in host or host == "localhost"
        problem = host_problem(host) if looks_like_host else f"{host!r} is not a registry host"
        if not problem and not (namespace and all(COMPONENT.fullmatch(c) for c in namespace.split("/"))):
            problem = f"{namespace!r} is not a namespace (lower-case components separated by /)"
        if problem:
            raise ValueError(
                f"{problem}; expected HOST[:PORT]/NAMESPACE, e.g. registry.example.com/team or 127.0.0.1:5000/team"
            )
        return cls(host, namespace)

    def path(self, image_name: str) -> str:
        return f"{self.namespace}/{image_name}"

    def repository(self, image_name: str) -> str:
        return f"{self.host}/{self.path(image_name)}"


def url_problem(url: str, schemes: tuple[str, ...] = ("https", "http", "file")) -> str:
    """Why a string is not an index or mirror URL, or ""."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"not a URL ({error})"
    if parts.scheme not in schemes:
        return f"not a URL: it must start with {' or '.join(s + '://' for s in schemes)}"
    if parts.scheme != "file" and not parts.hostname:
        return "not a URL: it names no host"
    if parts.scheme == "file" and not parts.path.startswith("/"):
        return "not a file URL: use file:///absolute/path"
    if port == 0 or any(c.isspace() for c in url):
        return "not a URL"
    return ""

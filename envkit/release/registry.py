"""A container registry through its HTTP API (the OCI distribution API), to
check it before pushing and to read tags back after. Credentials come from
Docker's own store (`docker login`) and are only ever sent to the registry."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import docker
import requests
from docker import auth as docker_auth

from envkit.core.errors import KitError, network_reason

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"
INDEX_TYPES = f"{DOCKER_MANIFEST_LIST}, {OCI_INDEX}"
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(KitError):
    """The registry cannot be used (unreachable, refused, unexpected answer); nothing was pushed by this call."""


@dataclass(frozen=True)
class Remote:
    """A tag as the registry holds it."""

    digest: str  # the manifest's digest: what `docker pull NAME@DIGEST` takes
    config_digest: str  # the image id
    size: int  # config plus compressed layers, in bytes
    media_type: str = ""  # the manifest's own
    manifest_size: int = 0  # the manifest's own bytes: what an OCI `subject` names


def is_insecure(client: docker.DockerClient, host: str) -> bool:
    """Plain HTTP where the daemon would use it: loopback, or a registry the
    daemon is configured to treat as insecure."""
    hostname = host[1 : host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if hostname == "localhost":
        return True
    try:
        if ipaddress.ip_address(hostname).is_loopback:
            return True
    except ValueError:
        pass
    configs = (client.info().get("RegistryConfig") or {}).get("IndexConfigs") or {}
    return configs.get(host, {}).get("Secure") is False


def stored_credentials(host: str) -> tuple[str, str] | None:
    """The login `docker login HOST` stored, from its config or credential helper."""
    found = docker_auth.resolve_authconfig(docker_auth.load_config(), host) or {}
    user = found.get("username") or found.get("Username")
    password = found.get("password") or found.get("Password")
    return (user, password) if user and password else None


class Registry:
    def __init__(self, host: str, insecure: bool, ca_cert: Path | None = None, timeout: float = 30) -> None:
        self.host = host
        self.base = f"{'http' if insecure else 'https'}://{host}/v2/"
        self.session = requests.Session()
        if ca_cert:
            self.session.verify = str(ca_cert)
        self.timeout = timeout
        self.credentials = stored_credentials(host)
        self._authorization: str | None = None

    def ping(self) -> None:
        """Fail now, before anything is pushed, if the registry is unreachable or refuses us."""
        self._get("")

    def manifest(self, path: str, tag: str) -> Remote | None:
        response = self._get(f"{path}/manifests/{tag}", scope=path, headers={"Accept": MANIFEST_TYPES}, missing_ok=True)
        if response is None:
            return None
        body = response.json()
        size = body["config"]["size"] + sum(layer["size"] for layer in body["layers"])
        media_type = body.get("mediaType") or response.headers.get("Content-Type", "")
        return Remote(
            response.headers["Docker-Content-Digest"], body["config"]["digest"], size, media_type, len(response.content)
        )

    def index(self, path: str, tag: str) -> tuple[str, dict[str, Any]] | None:
        """A multi-arch tag as the registry holds it: its digest and body; None when there is no such tag."""
        response = self._get(f"{path}/manifests/{tag}", scope=path, headers={"Accept": INDEX_TYPES}, missing_ok=True)
        if response is None:
            return None
        body: dict[str, Any] = response.json()
        return response.headers["Docker-Content-Digest"], body

    def push_blob(self, path: str, content: bytes) -> str:
        """Upload a blob unless the registry has it; its digest."""
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        if self._send("HEAD", f"{path}/blobs/{digest}", path, ok=(200, 404)).status_code == 200:
            return digest
        started = self._send("POST", f"{path}/blobs/uploads/", path, ok=(202,))
        location = urljoin(self.base, started.headers["Location"])
        joiner = "&" if "?" in location else "?"
        self._send(
            "PUT", f"{location}{joiner}digest={digest}", path, ok=(201,), data=content,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        return digest

    def push_manifest(self, path: str, tag: str, manifest: dict[str, Any]) -> tuple[str, bool]:
        """Put an OCI manifest under a tag; its digest, and whether the registry
        took its `subject` (OCI 1.1 referrers: it answers with OCI-Subject)."""
        body = json.dumps(manifest, separators=(",", ":")).encode()
        headers = {"Content-Type": manifest["mediaType"]}
        answer = self._send("PUT", f"{path}/manifests/{tag}", path, ok=(201,), data=body, headers=headers)
        digest = answer.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        return digest, "OCI-Subject" in answer.headers

    def image_config(self, path: str, digest: str) -> dict[str, Any]:
        response = self._get(f"{path}/blobs/{digest}", scope=path)
        assert response is not None
        config: dict[str, Any] = response.json()
        return config

    def _get(
        self, url: str, scope: str = "", headers: dict[str, str] | None = None, missing_ok: bool = False
    ) -> requests.Response | None:
        response = self._request("GET", url, scope, headers=headers)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise RegistryError(f"registry {self.host} answered HTTP {response.status_code} to GET /v2/{url}.")
        return response

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        ok: tuple[int, ...],
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One write (or HEAD) to the registry, with a push-scoped login."""
        response = self._request(method, url, scope, data, headers, actions="pull,push")
        if response.status_code not in ok:
            raise RegistryError(
                f"registry {self.host} answered HTTP {response.status_code} to {method} {url.split('?')[0]}: "
                f"{response.text.strip()[:200]}"
            )
        return response

    def _request(
        self,
        method: str,
        url: str,
        scope: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        actions: str = "pull",
    ) -> requests.Response:
        """One request, logged in on the registry's first 401 (once); a login
        it refuses, or none where one is needed, is a RegistryError."""
        target = url if url.startswith(("http://", "https://")) else self.base + url
        for attempt in range(2):
            try:
                response = self.session.request(
                    method, target, data=data, headers={**(headers or {}), **self._auth_header()}, timeout=self.timeout
                )
            except requests.RequestException as error:
                raise RegistryError(f"registry {self.host} is not reachable ({network_reason(error)}).") from None
            if response.status_code == 401 and attempt == 0:
                self._authenticate(response.headers.get("WWW-Authenticate", ""), scope, actions)
                continue
            break
        if response.status_code == 401:
            if self.credentials is None:
                raise RegistryError(f"registry {self.host} needs a login: run `docker login {self.host}`.")
            raise RegistryError(
                f"registry {self.host} refused the credentials Docker has stored for it (HTTP 401): "
                f"run `docker login {self.host}` again."
            )
        return response

    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": self._authorization} if self._authorization else {}

    def _authenticate(self, challenge: str, scope: str, actions: str = "pull") -> None:
        """Answer a Basic challenge with the stored login, or fetch a Bearer token with it."""
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self.credentials:
            user_password = ":".join(self.credentials).encode()
            self._authorization = "Basic " + base64.b64encode(user_password).decode()
        elif scheme == "bearer":
            params = dict(_CHALLENGE.findall(challenge))
            realm = params.pop("realm", "")
            if scope:
                params["scope"] = f"repository:{scope}:{actions}"
            try:
                answer = self.session.get(realm, params=params, auth=self.credentials, timeout=self.timeout)
            except requests.RequestException as error:
                raise RegistryError(
                    f"registry {self.host}: its token service is not reachable ({network_reason(error)})."
                ) from None
            if answer.status_code != 200:
                raise RegistryError(
                    f"registry {self.host} refused a token (HTTP {answer.status_code}): run `docker login {self.host}`."
                )
            token = answer.json().get("token") or answer.json().get("access_token")
            self._authorization = f"Bearer {token}"

"""Options a team or CI sets once: defaults here, then invoke.yaml, then
INVOKE_ENVKIT_* environment variables (Invoke's own config layers), then flags.

Every value is parsed once, in `Settings.from_config`, where the layers and
the flags meet, into its type (a registry target, a size, mirror pairs, a CA
bundle's path): a bad one stops the task before anything starts with an
InvalidValue naming the flag or setting it came from, the problem and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import reprlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from envkit import ROOT
from envkit.core import files
from envkit.core.cli import check_given, path_problem
from envkit.core.errors import Invalid, InvalidValue, UsageError
from envkit.core.references import RegistryTarget, reference_problem, url_problem

SECTION = "envkit"
PEM_MARKER = b"-----BEGIN CERTIFICATE-----"
_SUITE = re.compile(r"[a-z0-9][a-z0-9.+-]*")


@dataclass(frozen=True)
class Size:
    """A size as Docker writes it (`8g`), kept as given and in bytes."""

    text: str
    bytes: int


@dataclass(frozen=True)
class Settings:
    """Every setting, parsed: a structured value holds its type (a registry
    target, a size, the mirror pairs), so no task parses one again."""

    image_name: str = "torch-env"  # local images are tagged <image_name>:<variant>
    base_image: str = ""  # empty: the recipe's digest-pinned base from env/variants.toml
    ca_cert: Path | None = None  # a CA bundle passed to builds as a BuildKit secret (resolved)
    docker_client: str = ""  # empty: find buildx, else a client with built-in BuildKit
    reports_dir: str = "reports"  # build records and test reports (git-ignored)
    source_url: str = ""  # the OCI source label; empty: the git remote `origin`
    registry: RegistryTarget | None = None  # where `invoke publish` pushes: HOST[:PORT]/NAMESPACE
    index_url: str = ""  # replaces a pip recipe's index (lock, build, wheelhouse)
    extra_index_url: tuple[str, ...] = ()  # replaces its extra indexes (given space-separated)
    mirrors: tuple[tuple[str, str], ...] = ()  # UPSTREAM=MIRROR URL prefixes (given space-separated), every index
    base_mirror: str = "http://deb.debian.org/debian"  # the Debian mirror `invoke base` bootstraps from
    base_suite: str = "bookworm"  # the Debian suite `invoke base` bootstraps
    base_tag: str = "torch-env-base:{suite}"  # how `invoke base` tags its image
    pins_file: str = "env/published.json"  # the team's published images by digest (committed)
    cache_dir: str = ""  # empty: caches of `invoke run`/`shell` in named Docker volumes; else host folders here
    shm_size: Size | None = None  # /dev/shm of `invoke run`/`shell` (e.g. 8g); None: half the engine's memory
    build_cache: str = ""  # buildx only: `gha` (the Actions cache) or a registry repository for BuildKit's cache
    # How `invoke publish` compresses layers: gzip pulls on every engine, zstd (the build's own layers, faster
    # to unpack) only on Docker 23 and newer; zstd needs the containerd image store to push from.
    publish_compression: Literal["gzip", "zstd"] = "gzip"
    # The key `invoke publish` signs with, in cosign's forms (a file, env://NAME, a KMS URI; its password in
    # COSIGN_PASSWORD), or `keyless` (the workflow's OIDC identity). Never committed: the environment sets it.
    signing_key: str = ""
    signing_policy: str = "env/signing"  # who may sign the team's images (committed, like the pins)
    unsigned: Literal["refuse", "allow"] = "refuse"  # `allow`: use registry images nobody signed, on purpose

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **flags: str | None) -> Settings:
        """Config values (already layered by Invoke), overridden by the flags
        given, each parsed once into its type; an InvalidValue names the first
        wrong one, the flag or setting it came from, and what would be valid."""
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in config.items() if key in known}
        for key, value in values.items():
            if not isinstance(value, str):
                abbreviated = reprlib.repr(value)  # a long list or mapping, as other values are cut
                raise InvalidValue(f"envkit.{key}", "", "not a string", "set it to one in invoke.yaml", abbreviated)
        check_given(**{_flag(key): value for key, value in flags.items()})
        values.update({key: value for key, value in flags.items() if value is not None})
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if not value:
                continue  # the default
            try:
                parsed[key] = _PARSERS.get(key, str)(value)
            except Invalid as error:
                shown = "(not shown)" if key == "signing_key" else None  # it may hold a secret
                raise InvalidValue(_named(key), value, error.problem, error.fix, shown) from None
        return cls(**parsed)

    @property
    def reports_path(self) -> Path:
        return _in_checkout(self.reports_dir)

    @property
    def pins_path(self) -> Path:
        return _in_checkout(self.pins_file)

    @property
    def signing_policy_path(self) -> Path:
        return _in_checkout(self.signing_policy)

    def base_image_tag(self) -> str:
        return self.base_tag.format(suite=self.base_suite)


def _in_checkout(value: str) -> Path:
    """A configured path: absolute as given, else relative to the kit's checkout."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def _flag(key: str) -> str:
    """The flag that sets a key, as check_given names it: `base_mirror` is --mirror."""
    return {"base_mirror": "mirror", "base_suite": "suite"}.get(key, key)


def flag_for(key: str) -> str:
    """The flag that also sets a setting (`--mirror` for base_mirror), or "" where only config does."""
    return "--" + _flag(key).replace("_", "-") if key in _FLAGS else ""


def _named(key: str) -> str:
    """A setting as the user may have given it: the flag, or the config key."""
    flag = flag_for(key)
    return f"{flag} (or envkit.{key})" if flag else f"envkit.{key}"


# The settings a task's flag can also set (tasks.py); the others are set in config only.
_FLAGS = {"base_image", "ca_cert", "registry", "index_url", "extra_index_url", "base_mirror", "base_suite"}
_FLAGS |= {"shm_size", "build_cache"}


def _checked(problem_of: Callable[[str], str]) -> Callable[[str], str]:
    """A parser of a plain string from a function that says what is wrong with one, or ""."""

    def parse(value: str) -> str:
        if problem := problem_of(value):
            raise Invalid(problem)
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise Invalid(f"choose {' or '.join(choices)}")
        return value

    return parse


_CA_FIX = "pass the PEM bundle your proxy's CA is in (on Debian: /etc/ssl/certs/ca-certificates.crt)"


def ca_cert_path(value: str) -> Path:
    """A readable PEM bundle, resolved."""
    path = Path(value).expanduser()
    if problem := path_problem(value):
        raise Invalid(problem, _CA_FIX)
    if path.is_dir():
        raise Invalid("a folder, not a file", _CA_FIX)
    if not path.is_file():
        raise Invalid("no such file", _CA_FIX)
    try:
        head = path.read_bytes()
    except OSError as error:
        raise Invalid(f"cannot be read ({error.strerror})", _CA_FIX) from None
    if PEM_MARKER not in head:
        raise Invalid("empty" if not head.strip() else "not a PEM certificate bundle", _CA_FIX)
    return path.resolve()


def registry_target(value: str) -> RegistryTarget:
    try:
        return RegistryTarget.parse(value)
    except ValueError as error:
        raise Invalid(str(error)) from None


def _urls(value: str) -> tuple[str, ...]:
    for url in value.split():
        if problem := url_problem(url):
            raise Invalid(f"{url}: {problem}")
    return tuple(value.split())


def mirror_pairs(value: str) -> tuple[tuple[str, str], ...]:
    """`envkit.mirrors` (space-separated UPSTREAM=MIRROR URL prefixes), each a URL."""
    pairs = {}
    for item in value.split():
        upstream, sep, mirror = item.partition("=")
        if not (sep and upstream and mirror):
            raise Invalid(
                f"{item!r} is not UPSTREAM=MIRROR (e.g. https://pypi.org/simple=https://pypi.example.com/simple)"
            )
        _urls(f"{upstream} {mirror}")
        pairs[upstream.rstrip("/")] = mirror.rstrip("/")
    return tuple(pairs.items())


def _base_tag_problem(value: str) -> str:
    try:
        fields_used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        return f"not a template ({error})"
    if fields_used - {"suite"}:
        return f"unknown field {{{sorted(fields_used - {'suite'})[0]}}}: the only field is {{suite}}"
    return reference_problem(value.replace("{suite}", "bookworm"))


_SIZE = re.compile(r"(\d+)([bkmg]?)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def size(value: str) -> Size:
    """A size as Docker writes it: 512m, 8g, 1073741824 (bytes); at least 64 MB (Docker's default)."""
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise Invalid("not a size: a number with an optional unit b, k, m or g (e.g. 8g)")
    count = int(match[1]) * _UNITS[match[2].lower()]
    if count < 64 * 2**20:
        raise Invalid("smaller than Docker's own 64m default", "give at least 64m")
    return Size(value.strip(), count)


def _build_cache_problem(value: str) -> str:
    """`gha`, or a repository to keep the cache in (one tag per variant)."""
    if value == "gha":
        return ""
    if ":" in value.rsplit("/", 1)[-1] or "@" in value:
        return "give `gha` or a repository without tag (the kit tags the cache by variant)"
    return reference_problem(value)


def _image_name_problem(value: str) -> str:
    return reference_problem(value) if ":" not in value and "@" not in value else "a name without tag or digest"


def _signing_key_problem(value: str) -> str:
    """A key reference, never a key: its contents would end up in a log."""
    if "-----BEGIN" in value or "\n" in value:
        return "a key's contents, not a reference to it; give its file, env://NAME (cosign reads it) or a KMS URI"
    return ""


# How each setting is read from its string; one not listed is any string.
_PARSERS: dict[str, Callable[[str], object]] = {
    "image_name": _checked(_image_name_problem),
    "build_cache": _checked(_build_cache_problem),
    "base_image": _checked(reference_problem),
    "ca_cert": ca_cert_path,
    "reports_dir": _checked(path_problem),
    "docker_client": _checked(path_problem),
    "registry": registry_target,
    "index_url": _checked(url_problem),
    "extra_index_url": _urls,
    "mirrors": mirror_pairs,
    "base_mirror": _checked(lambda value: url_problem(value, ("http", "https", "file"))),
    "base_suite": _checked(lambda value: "" if _SUITE.fullmatch(value) else "not a Debian suite name (e.g. bookworm)"),
    "base_tag": _checked(_base_tag_problem),
    "pins_file": _checked(path_problem),
    "cache_dir": _checked(path_problem),
    "shm_size": size,
    "publish_compression": _choice("gzip", "zstd"),
    "signing_key": _checked(_signing_key_problem),
    "signing_policy": _checked(path_problem),
    "unsigned": _choice("refuse", "allow"),
}


# Invoke reads INVOKE_ENVKIT_<KEY> only for keys its config already has: all of them, as strings
# (Invoke casts an environment variable to its default's type); "" is the parsed default.
DEFAULTS: dict[str, str] = {
    field.name: field.default if isinstance(field.default, str) else "" for field in fields(Settings)
}


def config_files() -> list[Path]:
    """The configuration files Invoke reads, system to project (invoke.py files are code: not checked)."""
    places = [Path("/etc/invoke"), Path.home() / ".invoke", ROOT / "invoke"]
    found = [Path(f"{place}.{ext}") for place in places for ext in ("yaml", "yml", "json")]
    runtime = os.environ.get("INVOKE_RUNTIME_CONFIG")
    return [path for path in [*found, *([Path(runtime)] if runtime else [])] if path.is_file()]


def _one_line(name: object) -> str:
    """A name read from the file as it fits in a one-line message: control characters escaped."""
    text = str(name)
    return text if text.isprintable() else repr(text)[1:-1]


def check_config_file(path: Path, invoke_sections: set[str], project: bool) -> None:
    """A config file Invoke will read: parseable, a mapping, its envkit section
    made of known keys with string values; a section of this project's own
    invoke.yaml that neither Invoke nor the kit knows is reported."""
    text = files.read_text(path, str(path), fix="fix or remove it")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{path}: not valid {path.suffix[1:].upper()} ({first}); fix or remove it.") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of sections (e.g. `{SECTION}:`), found {type(data).__name__}.")
    for section in data:
        close = difflib.get_close_matches(str(section), [SECTION], n=1, cutoff=0.7)
        if section != SECTION and section not in invoke_sections and (project or close):
            hint = f" (did you mean `{SECTION}:`?)" if close else f"; the kit's settings go under `{SECTION}:`"
            raise UsageError(f"{path}: unknown section `{_one_line(section)}`{hint}.")
    section = data.get(SECTION)
    if section is None:
        return
    if not isinstance(section, dict):
        raise UsageError(f"{path}: `{SECTION}:` must be a mapping of settings, not {section!r}.")
    known = [field.name for field in fields(Settings)]
    for key, value in section.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
            raise UsageError(f"{path}: unknown setting `{SECTION}.{_one_line(key)}`; {hint}")
        if not isinstance(value, str):
            raise UsageError(f"{path}: `{SECTION}.{_one_line(key)}` must be a string, not {value!r}.")

"""What can be built: the variants in env/variants.toml and the torch
compatibility table in env/compat.toml. Code reads this data; it repeats none
of its versions.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from envkit import ROOT

ENV_DIR = ROOT / "env"
RECIPES = ("pip", "conda")
_CUDA_FLAG = re.compile(r"(\d{2})\.(\d)")


@dataclass(frozen=True)
class Release:
    """One torch release of the compatibility table."""

    torch: str
    torchvision: str
    torchaudio: str | None
    pypi_default: str
    platforms: tuple[str, ...]
    pythons: tuple[str, ...]
    conda_cuda: tuple[str, ...]
    cudnn: tuple[tuple[str, str], ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Variant:
    """One buildable image: a platform (cpu, cu118, ...) and a recipe kind."""

    platform: str
    recipe: str
    torch: str
    torchvision: str
    torchaudio: str
    python: str
    dockerfile: str
    base_image: str
    file: str
    hash_locked: bool
    index_url: str = ""
    channels: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.recipe}"

    @property
    def cuda(self) -> str | None:
        return platform_cuda(self.platform)

    @property
    def cuda_flag(self) -> str:
        return self.cuda or "cpu"

    def path(self) -> Path:
        return ROOT / self.file


def platform_cuda(platform: str) -> str | None:
    """`cu121` -> `12.1`, `cu118` -> `11.8`, `cpu` -> None."""
    if platform == "cpu":
        return None
    digits = platform.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"


def cuda_platform(flag: str) -> str | None:
    """`--cuda 12.1` -> `cu121`, `--cuda cpu` -> `cpu`; None when malformed."""
    if flag == "cpu":
        return "cpu"
    match = _CUDA_FLAG.fullmatch(flag)
    return f"cu{match[1]}{match[2]}" if match else None


def _load(name: str) -> dict[str, Any]:
    with (ENV_DIR / name).open("rb") as handle:
        return tomllib.load(handle)


@cache
def compat() -> dict[str, Release]:
    table = _load("compat.toml")["torch"]
    return {
        torch: Release(
            torch=torch,
            torchvision=row["torchvision"],
            torchaudio=row.get("torchaudio"),
            pypi_default=row["pypi_default"],
            platforms=tuple(row["platforms"]),
            pythons=tuple(row["pythons"]),
            conda_cuda=tuple(row["conda_cuda"]),
            cudnn=tuple(sorted(row.get("cudnn", {}).items())),
            notes=row.get("notes", ""),
        )
        for torch, row in table.items()
    }


@cache
def declared() -> tuple[Variant, ...]:
    """The variants env/variants.toml declares, each with the default pins
    unless its entry names its own."""
    data = _load("variants.toml")
    variants = []
    for entry in data["variants"]:
        recipe = data["recipes"][entry["recipe"]]
        pins = {key: entry.get(key, value) for key, value in data["pins"].items()}
        variants.append(
            Variant(
                platform=entry["platform"],
                recipe=entry["recipe"],
                dockerfile=recipe["dockerfile"],
                base_image=entry.get("base_image", recipe["base_image"]),
                file=entry["file"],
                hash_locked=entry["hash_locked"],
                index_url=entry.get("index_url", ""),
                channels=tuple(entry.get("channels", recipe.get("channels", ()))),
                **pins,
            )
        )
    return tuple(variants)


def default_pins() -> dict[str, str]:
    return dict(_load("variants.toml")["pins"])

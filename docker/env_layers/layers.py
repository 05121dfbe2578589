"""The lock read as entries and split into the six layers (the order and its
reasons: the package's docstring)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

LAYER_COUNT = 6
# (pattern, layer): the first pattern that matches a normalized name wins.
RULES = (
    ("nvidia-nvjitlink-*", 5),
    ("nvidia-cudnn-*", 1),
    ("nvidia-*", 2),
    ("triton", 3),
    ("pytorch-triton*", 3),
    ("torch", 4),
    ("torchvision", 4),
    ("torchaudio", 4),
    ("*", 6),
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_of(name: str) -> int:
    return next(layer for pattern, layer in RULES if fnmatch.fnmatchcase(normalized(name), pattern))


def entries(lock_text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The lock's option lines (indexes) and its entries: (name, the entry's
    text, continuation lines and `# via` comments included)."""
    options: list[str] = []
    found: list[tuple[str, list[str]]] = []
    for line in lock_text.splitlines(keepends=True):
        stripped = line.strip()
        if found and (line[:1].isspace() or not stripped):
            found[-1][1].append(line)
        elif stripped.startswith("-"):
            options.append(line)
        elif stripped and not stripped.startswith("#"):
            found.append((re.split(r"[\s=<>!~;\[@\\]", stripped, maxsplit=1)[0], [line]))
    return options, [(name, "".join(lines)) for name, lines in found]


def pin_of(text: str) -> tuple[str, set[str]]:
    """An entry's pinned version and the sha256 digests the lock lists for it."""
    version = re.search(r"==\s*([^\s;\\]+)", text)
    if version is None:
        raise SystemExit(f"env_layers: not an exact pin: {text.splitlines()[0]}")
    return version[1], set(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))


def split(lock: Path, out_dir: Path, single: bool) -> None:
    options, listed = entries(lock.read_text())
    by_layer: dict[int, list[str]] = {n: [] for n in range(1, LAYER_COUNT + 1)}
    for name, text in listed:
        by_layer[LAYER_COUNT if single else layer_of(name)].append(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, texts in by_layer.items():
        (out_dir / f"{number}.txt").write_text("".join(options + texts) if texts else "")

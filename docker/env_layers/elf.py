"""DWARF debug sections of shared libraries: measured by reading the ELF
section table, stripped with binutils' strip."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path


def debug_section_bytes(path: Path) -> int:
    """Bytes of DWARF debug sections (.debug_*) in a 64-bit little-endian ELF
    file; 0 for anything else. Nothing reads them at run time: no section of
    theirs is loaded."""
    try:
        with path.open("rb") as elf:
            header = elf.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4:6] != b"\x02\x01":
                return 0
            (table,) = struct.unpack_from("<Q", header, 0x28)
            entry_size, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
            elf.seek(table)
            raw = elf.read(entry_size * count)
            sections = [struct.unpack_from("<IIQQQQ", raw, i * entry_size) for i in range(count)]
            elf.seek(sections[names_index][4])
            names = elf.read(sections[names_index][5])
    except (OSError, struct.error, IndexError):
        return 0
    return sum(
        section[5] for section in sections if names[section[0] : names.find(b"\0", section[0])].startswith(b".debug")
    )


def strip_debug_sections(files: list[Path]) -> int:
    """`strip --strip-debug` the shared libraries that ship DWARF debug info
    (triton 3.0's libtriton.so: 326 of its 473 MB). The symbol table stays,
    so backtraces still name functions; the code and data the loader maps
    are unchanged. strip is deterministic: rebuilds stay byte-identical."""
    saved = 0
    for path in files:
        if ".so" in path.name and not path.is_symlink() and (size := debug_section_bytes(path)):
            subprocess.run(["strip", "--strip-debug", str(path)], check=True)
            saved += size
    return saved

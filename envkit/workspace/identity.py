"""Who a workspace container runs as: the caller's own uid and gid, so files
it makes in the mounted checkout are theirs. The image does not know that uid,
so the container gets a passwd and a group entry for it and a home folder it
owns, written into the created container before it starts (no root process
runs in it): `whoami`, `getpass.getuser()` and torch.compile, whose cache
path uses the user name, then work."""

from __future__ import annotations

import grp
import io
import os
import pwd
import re
import tarfile
import time
from dataclasses import dataclass

from docker.models.containers import Container

from envkit.core.errors import KitError

_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    name: str
    home: str


@dataclass(frozen=True)
class Entry:
    """One line of /etc/passwd or /etc/group: name, id, home (passwd only)."""

    name: str
    id: int
    home: str = ""


def entries(text: str, home_field: bool) -> list[Entry]:
    found = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            found.append(Entry(fields[0], int(fields[2]), fields[5] if home_field and len(fields) > 5 else ""))
    return found


def caller_ids(image_user: str) -> tuple[int, int]:
    """The caller's uid and gid; for root, the image's own user (numeric
    `UID:GID`, as the kit's images set it), since files owned by root in the
    checkout are what this avoids. An image with no numeric user runs as root."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return uid, gid
    user, _, group = image_user.partition(":")
    if user.isdigit():
        return int(user), int(group) if group.isdigit() else int(user)
    return 0, 0


def _own_name(uid: int, gid: int) -> tuple[str, str]:
    """The caller's user and group names, when they make valid names in an image."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = ""
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = ""
    return (user if _NAME.fullmatch(user) else ""), (group if _NAME.fullmatch(group) else "")


def plan(uid: int, gid: int, passwd: str, group: str) -> tuple[Identity, str, str]:
    """The identity, and the passwd and group files with the entries it needs
    added (the image's entries kept as they are)."""
    users, groups = entries(passwd, home_field=True), entries(group, home_field=False)
    wanted_user, wanted_group = _own_name(uid, gid)
    known = next((user for user in users if user.id == uid), None)
    if known:
        name = known.name
        # A system account's home (/, /usr/sbin, /nonexistent) is no place to write.
        home = known.home if known.home.startswith("/home/") else f"/home/{name}"
    else:
        taken = {user.name for user in users}
        name = wanted_user if wanted_user and wanted_user not in taken else f"user{uid}"
        home = f"/home/{name}"
        passwd = passwd.rstrip("\n") + f"\n{name}:x:{uid}:{gid}:envkit workspace user:{home}:/bin/bash\n"
    if not any(entry.id == gid for entry in groups):
        taken = {entry.name for entry in groups}
        group_name = wanted_group if wanted_group and wanted_group not in taken else f"group{gid}"
        group = group.rstrip("\n") + f"\n{group_name}:x:{gid}:\n"
    return Identity(uid, gid, name, home), passwd, group


def _read(container: Container, path: str) -> str:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        return member.read().decode() if member else ""


def _file(archive: tarfile.TarFile, path: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _folder(archive: tarfile.TarFile, path: str, identity: Identity) -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
    info.uid, info.gid = identity.uid, identity.gid
    archive.addfile(info)


def settle(container: Container, uid: int, gid: int, owned_folders: tuple[str, ...] = ()) -> Identity:
    """Give the created (not yet started) container the caller's entries and
    home, and make `owned_folders` (cache mounts: a fresh volume is root's) theirs.
    The daemon writes these through the container's mounts as well."""
    if uid == 0:
        return Identity(0, 0, "root", "/root")
    try:
        identity, passwd, group = plan(uid, gid, _read(container, "/etc/passwd"), _read(container, "/etc/group"))
    except Exception as error:  # the SDK's NotFound/APIError, a broken archive
        raise KitError(f"could not read the image's /etc/passwd and /etc/group: {error}") from None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _file(archive, "/etc/passwd", passwd)
        _file(archive, "/etc/group", group)
        for folder in (identity.home, *owned_folders):
            _folder(archive, folder, identity)
    container.put_archive("/", buffer.getvalue())
    return identity

"""`invoke keygen`: the team's signing key pair, made by cosign. The private
half goes outside the checkout (it is never committed), readable by its owner
only; the public half goes into the trust policy, to be committed. Neither
file is ever overwritten: a key is rotated by a reviewed commit that removes
the old cosign.pub first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from envkit import ROOT
from envkit.core.errors import UsageError
from envkit.core.files import display
from envkit.core.settings import Settings
from envkit.release import cosign, trust

DEFAULT_KEY = Path("~/.config/torch-envkit/cosign.key")


def generate(settings: Settings, key_file: str | None) -> tuple[Path, Path]:
    """Make the pair; return (private key, public key) as written."""
    private = Path(key_file or DEFAULT_KEY).expanduser().absolute()
    public = settings.signing_policy_path / trust.PUBLIC_KEY
    if private.is_relative_to(ROOT):
        raise UsageError(f"--key-file {private}: inside the checkout, where it could be committed; put it elsewhere.")
    for path, what in ((private, "--key-file"), (public, "the trust policy's public key")):
        if path.exists():
            raise UsageError(
                f"{display(path)} exists ({what}); nothing was written. A key is never overwritten: to rotate the "
                f"team's, remove {display(public)} in a reviewed commit, then run `invoke keygen` again."
            )
    if "COSIGN_PASSWORD" not in os.environ:
        raise UsageError(
            "COSIGN_PASSWORD is not set: cosign encrypts the private key with it. Set it (and keep it where the "
            "team keeps secrets), then run `invoke keygen` again; nothing was written."
        )
    tool = cosign.find()
    private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    public.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".envkit-keygen-", dir=private.parent) as scratch:
        tool.run(["generate-key-pair", "--output-key-prefix", str(Path(scratch, "cosign"))], "cosign made no key")
        Path(scratch, "cosign.key").chmod(0o600)
        os.link(Path(scratch, "cosign.key"), private)  # fails rather than replace one made meanwhile
        try:
            staged = public.with_name(f".{public.name}.new")
            staged.write_bytes(Path(scratch, "cosign.pub").read_bytes())
            os.link(staged, public)
            staged.unlink()
        except BaseException:
            private.unlink()  # ours, made a moment ago: no half of a pair is left behind
            staged.unlink(missing_ok=True)
            raise
    return private, public

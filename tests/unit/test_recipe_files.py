"""Recipes and locks edited by hand, cut short, or not text at all: refused
before any build with the file, what is wrong, and `invoke lock` as the fix
(the real command line in a copy of the kit; a stand-in docker client proves
no build starts)."""

import pytest

from tests.helpers.checkout import copy_repo, invoke_in
from tests.helpers.fake_docker import make_fake_docker
from tests.unit.test_cli import assert_clean_failure

TAMPERED = "is refused as tampered. Regenerate it with `invoke lock --cuda 12.1`"


def edit_lock(change):
    def edit(text):
        changed = change(text)
        assert changed != text
        return changed

    return edit


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("env/pip/cu121.txt", edit_lock(lambda t: t.split("\n", 1)[1]), "has no `# envkit-lock:` first line"),
        ("env/pip/cu121.txt", edit_lock(lambda t: t.replace("torch==2.4.1", "torch==2.4.0")), TAMPERED),
        ("env/pip/cu121.txt", edit_lock(lambda t: t + "rogue-package==1.0\n"), TAMPERED),
        ("env/pip/cu121.txt", edit_lock(lambda t: t[: len(t) // 2]), TAMPERED),
        ("env/pip/cu121.txt", edit_lock(lambda t: t.replace("\n", "\r\n")), TAMPERED),
        (
            "env/pip/cu121.txt",
            edit_lock(lambda t: "\x89PNG\x00\xff" + t),
            "env/pip/cu121.txt: not UTF-8 text (byte 0x89 at line 1, column 1)",
        ),
        (
            "env/pip/cpu.txt",
            edit_lock(lambda t: t + "this is not a requirement!\n"),
            "env/pip/cpu.txt: 'this is not a requirement!' is not a requirement",
        ),
    ],
    ids=["header-removed", "body-edited", "line-appended", "truncated", "crlf", "binary", "not-a-requirement"],
)
def test_an_edited_recipe_never_reaches_docker(tmp_path, file, edit, message):
    repo = copy_repo(tmp_path / "kit")
    path = repo / file
    path.write_bytes(edit(path.read_bytes().decode("latin-1")).encode("latin-1"))
    client = make_fake_docker(tmp_path / "bin", "20.10.24+dfsg1")
    cuda = "cpu" if "cpu" in file else "12.1"
    env = {"INVOKE_ENVKIT_DOCKER_CLIENT": str(client), "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    for task in (["build"], ["test"], ["wheelhouse"]):
        result = invoke_in(repo, *task, "--cuda", cuda, env=env)
        assert_clean_failure(result, message)
    assert not (tmp_path / "bin" / "calls.log").exists()


def test_the_committed_hand_pinned_recipes_are_not_hash_locked_whatever_their_lines():
    from envkit import ROOT
    from envkit.recipes.files import is_hash_locked, tamper_reason

    for name in ("cpu", "cu118"):
        path = ROOT / "env" / "pip" / f"{name}.txt"
        assert tamper_reason(path) == "" and not is_hash_locked(path)
    assert is_hash_locked(ROOT / "env" / "pip" / "cu121.txt")

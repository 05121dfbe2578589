"""Every file the kit reads is UTF-8 or refused in one line naming it; every
file it writes is written whole into a folder it owns, never through a link
it did not make, never over a link, never below a file. Each property is
checked through the command line a user types, on a copy of the kit."""

from __future__ import annotations

import codecs
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envkit import ROOT
from envkit.core.errors import UsageError
from envkit.core.files import decode, encoding_problem, read_text, write_atomically
from envkit.core.report_files import write_report
from envkit.core.settings import Settings
from envkit.images.wheelhouse import _refuse_foreign
from tests.helpers.checkout import copy_repo, invoke_in

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLOSED = "http://127.0.0.1:9"

# A file the kit reads, and a command that reads it before it needs an engine or the network.
READERS = {
    "env/variants.toml": ("build", "--cuda", "12.1"),
    "env/compat.toml": ("build", "--cuda", "12.1"),
    "env/advisories.toml": ("doctor",),
    "env/audit-policy.toml": ("audit", "--cuda", "12.1"),
    "env/pip/cu121.txt": ("build", "--cuda", "12.1"),
    "env/pip/cu121.in": ("build", "--cuda", "12.1"),
    "env/pip/common.in": ("build", "--cuda", "12.1"),
    "env/pip/dev.in": ("build", "--cuda", "12.1", "--dev"),
    "env/pip/cu121.dev.txt": ("build", "--cuda", "12.1", "--dev"),
    "env/pip/cu121.shared.txt": ("bake", "--check"),
    "invoke.yaml": ("info",),
    "env/published.json": ("info",),
    "docker-bake.json": ("bake",),
    ".devcontainer/cu121-pip/devcontainer.json": ("devcontainer",),
}
GUARDED = {".devcontainer/cu121-pip/devcontainer.json": "devcontainer", "docker-bake.json": "bake"}
STAND_INS = {"invoke.yaml": "envkit:\n  image_name: torch-env\n", "env/published.json": "{}\n"}
# How a user's editor or shell saves text that is not UTF-8.
ENCODINGS = [
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-8-sig",
    "latin-1",
    "cp1252",
    "cp437",
]  # each writes é as bytes UTF-8 refuses


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return _copy(tmp_path_factory)


def _copy(tmp_path_factory) -> Path:
    """A copy of the kit with its devcontainer configs and bake file (which copy_repo leaves out)."""
    repo = copy_repo(tmp_path_factory.mktemp("kit") / "kit")
    shutil.copytree(ROOT / ".devcontainer", repo / ".devcontainer")
    shutil.copy(ROOT / "docker-bake.json", repo / "docker-bake.json")
    return repo


def _env(repo: Path) -> dict[str, str]:
    return {
        "DOCKER_HOST": f"unix://{repo}/no-daemon.sock",
        "INVOKE_ENVKIT_REPORTS_DIR": str(repo / "reports"),
        "HTTPS_PROXY": CLOSED,
        "HTTP_PROXY": CLOSED,
    }


def _refusal(repo: Path, argv: tuple[str, ...]) -> tuple[int, str]:
    result = invoke_in(repo, *argv, env=_env(repo), timeout=120)
    return result.returncode, result.stderr.strip()


@SLOW
@given(name=st.sampled_from(sorted(READERS)), encoding=st.sampled_from(ENCODINGS))
def test_a_file_in_another_encoding_is_refused_naming_it(kit, name, encoding):
    path = kit / name
    original = path.read_bytes() if path.exists() else None
    text = (original.decode() if original is not None else STAND_INS[name]) + "# café, naïve: ü\n"
    try:
        path.write_bytes(text.encode(encoding, errors="replace"))
        code, stderr = _refusal(kit, READERS[name])
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)
    assert code != 0 and "Traceback" not in stderr, (name, encoding, stderr)
    assert len(stderr.splitlines()) <= 3, stderr
    if name in GUARDED:  # not UTF-8, so not the kit's: not replaced
        assert f"{name} exists and was not written by `invoke {GUARDED[name]}`" in stderr
    else:  # and what to do about the encoding: not the file's schema, which is not what is wrong
        assert re.search(
            rf"{re.escape(name)}: not UTF-8 text \(.*\); (save it as UTF-8|restore it|fix or remove it)", stderr
        ), stderr


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            codecs.BOM_UTF16_LE + "x = 1\n".encode("utf-16-le"),
            "it starts with a UTF-16 byte-order mark: saved as UTF-16, as PowerShell's `>` does",
        ),
        (codecs.BOM_UTF32_LE + "x\n".encode("utf-32-le"), "it starts with a UTF-32 byte-order mark"),
        (codecs.BOM_UTF8 + b"x = 1\n", "it starts with a UTF-8 byte-order mark"),
        (b"a = 1\n# caf\xe9\n", "byte 0xe9 at line 2, column 6"),
    ],
)
def test_the_reader_says_what_it_found(tmp_path, raw, words):
    assert encoding_problem(raw) == words
    with pytest.raises(UsageError, match=rf"^x\.toml: not UTF-8 text \({re.escape(words)}\); save it as UTF-8"):
        decode(raw, "x.toml")
    assert encoding_problem("é ü — 日本\n".encode()) == ""


def test_a_missing_or_folder_input_is_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"^gone.txt is missing; run `invoke lock`\.$"):
        read_text(tmp_path / "gone.txt", "gone.txt", missing="run `invoke lock`")
    with pytest.raises(UsageError, match=r"is a folder, not a file"):
        read_text(tmp_path)


@pytest.mark.parametrize("name", ["env/pip/cu121.in", "env/pip/dev.in", "env/pip/common.in"])
def test_a_missing_lock_input_makes_the_lock_stale_not_a_traceback(kit, name):
    path = kit / name
    original = path.read_bytes()
    path.unlink()
    try:
        code, stderr = _refusal(kit, READERS[name])
    finally:
        path.write_bytes(original)
    assert code == 2 and "Traceback" not in stderr
    assert f"is stale: {name} is missing" in stderr, stderr


# What the kit writes from the command line, the folder it owns, and the command.
WRITERS = {
    "docker-bake.json": ("bake",),
    ".devcontainer/cu121-pip/devcontainer.json": ("devcontainer",),
}


def _plant(repo: Path, name: str, kind: str, outside: Path) -> Path:
    """Put what a user might have left at NAME: a link out, a dangling link, a file as its folder, or its
    folder as a link out. What is outside is what must not change."""
    path = repo / name
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "link to a file outside":
        (outside / "theirs.json").write_text("the user's own file\n")
        path.symlink_to(outside / "theirs.json")
    elif kind == "dangling link":
        path.symlink_to(outside / "nothing-here.json")
    elif kind == "its folder is a file":
        shutil.rmtree(path.parent)
        path.parent.write_text("a file where a folder goes\n")
    elif kind == "its folder is a link outside":
        shutil.move(path.parent, outside / "folder")
        path.parent.symlink_to(outside / "folder")
    return path


@SLOW
@given(
    name=st.sampled_from(sorted(WRITERS)),
    kind=st.sampled_from(
        ["link to a file outside", "dangling link", "its folder is a file", "its folder is a link outside"]
    ),
)
def test_a_writer_never_replaces_or_follows_a_link_and_never_writes_below_a_file(tmp_path_factory, name, kind):
    if name == "docker-bake.json" and kind.startswith("its folder"):
        return  # its folder is the checkout's top level, which the user chose
    repo = _copy(tmp_path_factory)
    outside = tmp_path_factory.mktemp("outside")
    _plant(repo, name, kind, outside)
    before = {path: path.read_bytes() for path in outside.rglob("*") if path.is_file()}
    code, stderr = _refusal(repo, WRITERS[name])
    assert code == 2 and "Traceback" not in stderr and len(stderr.splitlines()) <= 2, (kind, stderr)
    assert "symbolic link" in stderr or "is a file, not a folder" in stderr, stderr
    after = {path: path.read_bytes() for path in outside.rglob("*") if path.is_file()}
    assert after == before  # nothing written through
    assert not list(outside.glob("nothing-here.json"))


def test_reports_are_written_only_inside_the_reports_folder(tmp_path):
    reports = tmp_path / "reports"
    settings_ = Settings(reports_dir=str(reports))
    (tmp_path / "elsewhere").mkdir()
    reports.mkdir()
    (reports / "tests").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match=r"reports/tests is a symbolic link: the kit does not write through links"):
        write_report(settings_, reports / "tests" / "cu121-pip.json", "{}")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    (reports / "builds").write_text("a file\n")
    with pytest.raises(UsageError, match=r"reports/builds is a file, not a folder"):
        write_report(settings_, reports / "builds" / "cu121-pip.json", "{}")
    linked = tmp_path / "linked-reports"
    linked.symlink_to(reports)  # the folder the user chose may itself be a link
    write_report(Settings(reports_dir=str(linked)), linked / "repro" / "cu121-pip.json", "{}")
    assert (reports / "repro" / "cu121-pip.json").read_text() == "{}"


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "pins.json"
    target.write_text("old\n")

    class Interrupted(str):
        def encode(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, Interrupted("new"))
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["pins.json"]


def test_a_wheelhouse_folder_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UsageError, match="a symbolic link; the kit replaces only a folder it wrote"):
        _refuse_foreign(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        _refuse_foreign(tmp_path / "file" / "wheelhouse")


def test_doctor_names_an_unreadable_trust_policy_not_a_missing_cosign(tmp_path):
    from envkit.status.doctor import FAIL, Machine, check_signing

    (tmp_path / "keyless.toml").write_bytes(codecs.BOM_UTF16_LE + 'repository = "a/b"\n'.encode("utf-16-le"))
    finding = check_signing(Machine(None, Settings(signing_policy=str(tmp_path))))
    assert finding.state == FAIL and finding.detail.startswith(f"{tmp_path}/keyless.toml: not UTF-8 text (")
    assert "cosign" not in finding.fix, finding.fix


def test_a_wheelhouse_dir_given_as_a_link_is_refused_from_the_command_line(kit, tmp_path):
    """The flag's path keeps its last part as typed: the link is refused, not followed to where it points."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    code, stderr = _refusal(kit, ("wheelhouse", "--cuda", "12.1", "--dir", str(tmp_path / "dangling")))
    assert code == 2 and "Traceback" not in stderr, stderr
    assert stderr == f"--dir {tmp_path / 'dangling'}: a symbolic link; the kit replaces only a folder it wrote. " + (
        "Give the folder itself."
    )
    assert not (tmp_path / "nowhere").exists()

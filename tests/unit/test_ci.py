"""What CI and other machines run: the bake file against `invoke build`'s own
arguments, the vulnerability policy against pip-audit's own output, the SBOM
against the CycloneDX schema, and the pieces the weekly job compares."""

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.catalog.variants import declared
from envkit.checks import sbom
from envkit.checks.inventory import Inventory, Listed, Package, hash_problems, parse
from envkit.ci import audit, bake
from envkit.core.engine import Builder
from envkit.core.errors import KitError, UsageError
from envkit.core.provenance import Provenance
from envkit.core.reports import Host, TestReport
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.build import build_command
from envkit.images.repro import Comparison, repro_summary
from envkit.release.attach import sbom_tag
from envkit.release.drift import compare
from tests.helpers.checkout import env_layers

CA = "/etc/ssl/certs/ca-certificates.crt"
ORIGIN = Provenance(revision="abc123", created="2026-11-27T00:00:00+00:00", source="https://example.org/kit.git")
BUILDX = Builder(("docker", "buildx", "build"))


# The bake file


def test_the_committed_bake_file_matches_env():
    assert (ROOT / "docker-bake.json").read_text() == bake.generate(Settings())


def substituted(value: str, settings: Settings) -> str:
    """A bake value with its variables set as `invoke build` would set them."""
    given = {"REVISION": ORIGIN.revision, "CREATED": ORIGIN.created, "SOURCE": ORIGIN.source}
    for name, text in {**given, "IMAGE_NAME": settings.image_name}.items():
        value = value.replace("${" + name + "}", text)
    return value


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
@pytest.mark.parametrize(
    "settings", [Settings(), Settings(ca_cert=Path(CA), image_name="team/torch")], ids=["plain", "ca"]
)
def test_each_bake_target_is_what_invoke_build_runs(variant, settings):
    target = json.loads(bake.generate(settings))["target"][variant.name]
    argv = build_command(BUILDX, plan.make(variant, settings), settings, ORIGIN, Path("/tmp/iid"))
    build_args = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "--build-arg")
    assert {key: substituted(value, settings) for key, value in target["args"].items()} == build_args
    assert [substituted(tag, settings) for tag in target["tags"]] == [argv[argv.index("--tag") + 1]]
    assert str(ROOT / target["dockerfile"]) == argv[argv.index("--file") + 1]
    secrets = [argv[i + 1] for i, word in enumerate(argv) if word == "--secret"]
    assert target.get("secret", []) == secrets


def test_bake_groups():
    groups = {name: group["targets"] for name, group in json.loads(bake.generate(Settings()))["group"].items()}
    assert groups["all"] == [variant.name for variant in declared()]
    assert sorted(groups["pip"] + groups["conda"]) == sorted(groups["all"]) == sorted(groups["cuda"] + groups["cpu"])
    assert all(name.startswith("cu1") for name in groups["cuda"])


def test_bake_writes_its_own_file_and_leaves_a_foreign_one(tmp_path):
    path = tmp_path / "docker-bake.json"
    assert not bake.write(Settings(), check=True, path=path) and not path.exists()  # --check writes nothing
    assert not bake.write(Settings(), path=path)
    assert bake.write(Settings(), path=path)  # now up to date
    path.write_text('{"target": {"mine": {}}}')
    with pytest.raises(UsageError, match="was not written by `invoke bake`"):
        bake.write(Settings(), path=path)
    assert path.read_text() == '{"target": {"mine": {}}}'


def test_invoke_bake_check_fails_when_the_file_is_stale(run_invoke):
    result = run_invoke("bake", "--check", env={"INVOKE_ENVKIT_IMAGE_NAME": "another/name"})
    assert result.returncode == 1 and "does not match env/" in result.stderr
    assert "Traceback" not in result.stderr


# Identical digests where BuildKit allows


def comparison(ids, expected, differences=()):
    return Comparison("cpu-pip", "/opt/venv", 10, list(differences), image_ids=list(ids), digests_expected=expected)


def test_digests_must_be_equal_only_where_the_builder_can_make_them_so():
    assert comparison(["sha256:a", "sha256:a"], expected=True).identical
    assert not comparison(["sha256:a", "sha256:b"], expected=True).identical
    assert comparison(["sha256:a", "sha256:b"], expected=False).identical
    assert not comparison(["sha256:a", "sha256:a"], expected=True, differences=["content differs: x"]).identical
    assert "image digests: identical (sha256:a)" in repro_summary(comparison(["sha256:a"] * 2, True))
    assert "something in a layer is not reproducible" in repro_summary(comparison(["sha256:a", "sha256:b"], True))
    assert "it keeps file times in layers" in repro_summary(comparison(["sha256:a", "sha256:b"], False))
    classic_buildx = dataclasses.replace(comparison(["sha256:a", "sha256:b"], False), store="classic", buildx=True)
    assert "takes rewrite-timestamp=true and leaves the file times in layers" in repro_summary(classic_buildx)


def test_an_identical_environment_is_reported_even_when_the_image_digests_differ():
    differing_digests = repro_summary(comparison(["sha256:a", "sha256:b"], True))
    assert "10 entries, identical (path, mode, sha256); package set identical" in differing_digests
    differing_files = repro_summary(comparison(["sha256:a", "sha256:a"], True, differences=["content differs: x"]))
    assert "package set identical" not in differing_files and "content differs: x" in differing_files


# The vulnerability policy, against pip-audit's own JSON

JINJA_ADVISORY = {
    "jinja2==3.1.4": [
        {
            "id": "GHSA-q2x7-8rv6-6q7h",
            "aliases": ["CVE-2024-56201"],
            "summary": "Jinja has a sandbox breakout through malicious filenames",
            "fixed_in": ["3.1.5"],
            "withdrawn": None,
        }
    ]
}
LOCK = (
    "jinja2==3.1.4 \\\n    --hash=sha256:4a3aee7acbbe7303aede8e9648d13b8bf88a429282aa6122a993f0ac800cb369\n"
    "markupsafe==3.0.2 \\\n    --hash=sha256:ee55d3edf80167e48ea11a923c7386f4669df67d7994554387f84e7d8b0a2bf0\n"
)


@pytest.fixture(scope="module")
def pip_audit_output(tmp_path_factory):
    """What pip-audit prints for a lock with a known finding: the real program,
    its PyPI feed answered from JINJA_ADVISORY."""
    folder = tmp_path_factory.mktemp("pip-audit")
    (folder / "advisories.json").write_text(json.dumps(JINJA_ADVISORY))
    (folder / "lock.txt").write_text(LOCK)
    argv = [sys.executable, str(ROOT / "tests" / "pip_audit_standin.py"), str(folder / "advisories.json")]
    argv += ["-r", str(folder / "lock.txt"), "--disable-pip", "--no-deps", "--format", "json"]
    argv += ["--progress-spinner", "off", "--aliases", "on", "--cache-dir", str(folder / "cache")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # pip-audit's own "found something"
    path = folder / "findings.json"
    path.write_text(done.stdout)
    return path


def policy(*entries):
    return audit.Policy(tuple(audit.Acceptance(*entry) for entry in entries))


TODAY = date(2026, 11, 28)


def test_a_finding_fails_unless_accepted(pip_audit_output):
    output = audit.parse_output(pip_audit_output.read_text(), "pip-audit")
    [verdict] = audit.judge(output, policy(), TODAY)
    assert (verdict.package, verdict.version, verdict.state, verdict.fails) == ("jinja2", "3.1.4", "new", True)
    assert "fixed in 3.1.5" in verdict.detail
    for accepted_as in ("GHSA-q2x7-8rv6-6q7h", "CVE-2024-56201"):  # by id or by alias
        [verdict] = audit.judge(output, policy((accepted_as, "jinja2", "no sandboxed templates", "2027-01-31")), TODAY)
        assert (verdict.state, verdict.fails) == ("accepted", False)
    [verdict] = audit.judge(output, policy(("CVE-2024-56201", "jinja2", "was fine", "2026-11-27")), TODAY)
    assert (verdict.state, verdict.fails) == ("expired", True) and "accepted until 2026-11-27" in verdict.detail
    [verdict] = audit.judge(output, policy(("CVE-2024-56201", "markupsafe", "other package", "2027-01-31")), TODAY)
    assert verdict.state == "new"


def test_a_package_pip_audit_could_not_look_up_fails():
    """What pip-audit printed here, where PyPI's JSON API answers 404: every
    package skipped, and "No known vulnerabilities found" with exit code 0."""
    output = audit.parse_output(
        '{"dependencies": [{"name": "filelock", "skip_reason": "Dependency not found on PyPI and could not be '
        'audited: filelock (4.3.1)"}], "fixes": []}',
        "pip-audit",
    )
    [verdict] = audit.judge(output, policy(), TODAY)
    assert (verdict.state, verdict.fails) == ("unaudited", True)


def test_invoke_audit_fails_on_an_unaccepted_finding(run_invoke, pip_audit_output):
    result = run_invoke("audit", "--cuda", "12.1", "--findings", str(pip_audit_output))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "new       jinja2 3.1.4 CVE-2024-56201: fixed in 3.1.5" in result.stdout
    assert "1 finding(s) not accepted by env/audit-policy.toml: cu121-pip: jinja2 CVE-2024-56201" in result.stderr
    missing = run_invoke("audit", "--cuda", "12.1", "--findings", "/nonexistent/findings.json")
    assert missing.returncode == 2 and "not a file" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[accept]]\nid = "X"\npackage = "torch"\nreason = "r"\nexpires = "soon"\n', "is not a date"),
        ('[[accept]]\nid = "X"\npackage = "torch"\nexpires = "2027-01-01"\n', "accept[0].reason: missing"),
        ("[[accept]\n", "cannot be read as TOML"),
    ],
    ids=["bad-date", "no-reason", "not-toml"],
)
def test_a_broken_policy_is_one_clear_error(tmp_path, text, problem):
    path = tmp_path / "audit-policy.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=re.escape(problem)):
        audit.read_policy(path)


def test_local_version_labels_are_audited_as_the_release():
    lock = "torch==2.4.1+cpu \\\n    --hash=sha256:abc\nnumpy==2.1.0\nnvidia-cudnn-cu11==9.1.0.70\n# torch==9+x\n"
    assert audit.as_released(lock) == (
        "torch==2.4.1 \\\n    --hash=sha256:abc\nnumpy==2.1.0\nnvidia-cudnn-cu11==9.1.0.70\n# torch==9+x\n"
    )
    cpu = audit.as_released((ROOT / "env" / "pip" / "cpu.txt").read_text())
    assert "torch==2.4.1\n" in cpu.replace(" \\", "") and "+cpu" not in cpu.split("# ", 1)[0]


def test_the_policy_file_reads():
    assert all(entry.until >= TODAY for entry in audit.read_policy().accept)


# The inventory and the SBOM

LISTED = Listed(
    python=[("torch", "2.4.1"), ("Jinja2", "3.1.6")],
    wheels={"torch==2.4.1": ("a" * 64, "torch-2.4.1-cp311-cp311-manylinux1_x86_64.whl")},
    conda=[],
)
DEBIAN = "bash\t5.2.15-2+b7\tamd64\nlibc6\t2.36-9+deb12u9\tamd64"


def report(**changes):
    base = TestReport(
        variant="cu121-pip",
        image="torch-env:cu121-pip",
        image_id="sha256:" + "b" * 64,
        image_created="2026-11-28T00:00:00Z",
        gpus="none",
        host=Host((), "20.10"),
        started_at="2026-11-28T07:00:00.000001+00:00",
    )
    return dataclasses.replace(base, **changes)


def test_the_inventory_reads_every_package_with_the_digest_of_its_wheel():
    inventory = parse(LISTED, DEBIAN)
    assert [(p.kind, p.name, p.version, p.sha256) for p in inventory.packages] == [
        ("deb", "bash", "5.2.15-2+b7", ""),
        ("deb", "libc6", "2.36-9+deb12u9", ""),
        ("pypi", "jinja2", "3.1.6", ""),
        ("pypi", "torch", "2.4.1", "a" * 64),
    ]
    assert hash_problems(inventory, {"torch": ("sha256:" + "a" * 64,)}) == []
    assert hash_problems(inventory, {"torch": ("sha256:" + "c" * 64,), "jinja2": ("sha256:" + "d" * 64,)}) == [
        "jinja2 3.1.6: no recorded wheel is not a hash the lock allows",
        "torch 2.4.1: aaaaaaaaaaaa is not a hash the lock allows",
    ]


def test_the_sbom_is_valid_cyclonedx_with_every_package():
    text = sbom.render(report(), parse(LISTED, DEBIAN))
    document = json.loads(text)
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    purls = sorted(component["purl"] for component in document["components"])
    assert purls == [
        "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
        "pkg:pypi/jinja2@3.1.6",
        "pkg:pypi/torch@2.4.1",
    ]
    [torch] = [component for component in document["components"] if component["name"] == "torch"]
    assert torch["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    assert document["metadata"]["component"]["version"] == "sha256:" + "b" * 64
    assert sbom.render(report(), parse(LISTED, DEBIAN)) == text  # the same image, the same document
    assert sbom.packages_of(text)["pkg:pypi/torch"] == "2.4.1"


def test_conda_packages_carry_their_channel_build_and_digests():
    listed = Listed(
        python=[("torch", "2.4.1")],
        wheels={},
        conda=[("pytorch", "2.4.1", "py3.11_cpu_0", "pytorch", "e" * 64, "f" * 32)],
    )
    inventory = parse(listed, "")
    assert inventory.packages == [Package("conda", "pytorch", "2.4.1", "e" * 64, "f" * 32, "pytorch py3.11_cpu_0")]
    [component] = json.loads(sbom.render(report(), inventory))["components"]
    assert component["purl"] == "pkg:conda/pytorch@2.4.1?build=py3.11_cpu_0&channel=pytorch"
    assert {h["alg"]: h["content"] for h in component["hashes"]} == {"SHA-256": "e" * 64, "MD5": "f" * 32}


def test_an_sbom_that_does_not_validate_is_not_written():
    broken = Inventory([Package("pypi", "torch", "2.4.1", sha256="not-hex")])
    with pytest.raises(KitError, match="does not validate as CycloneDX"):
        sbom.render(report(), broken)


def test_the_sbom_tag_names_the_image_digest():
    assert sbom_tag("sha256:" + "0" * 64) == "sha256-" + "0" * 64 + ".sbom"


def test_drift_lists_what_was_added_removed_and_changed():
    local = {"pkg:pypi/torch": "2.4.1", "pkg:pypi/numpy": "2.1.0", "pkg:deb/debian/bash": "5.2"}
    published = {"pkg:pypi/torch": "2.4.1", "pkg:pypi/numpy": "2.0.0", "pkg:pypi/filelock": "3.0"}
    assert compare(local, published) == (
        ("pkg:deb/debian/bash@5.2",),
        ("pkg:pypi/filelock@3.0",),
        ("pkg:pypi/numpy: 2.0.0 -> 2.1.0",),
    )
    assert compare(local, dict(local)) == ((), (), ())


# docker/env_layers records the wheel of each package it installs


def test_each_install_step_records_its_wheels_and_their_digests(tmp_path):
    module = env_layers("install")
    served = tmp_path / "served"
    served.mkdir()
    (served / "filelock-3.16.1-py3-none-any.whl").write_bytes(b"wheel bytes")
    (served / "torch-2.4.1+cpu-cp311-cp311-linux_x86_64.whl").write_bytes(b"torch")
    site = tmp_path / "site"
    new = {site / "filelock-3.16.1.dist-info", site / "torch-2.4.1+cpu.dist-info"}
    record = tmp_path / "wheels" / "6.txt"
    module.record_wheels(new, served, record)
    assert record.read_text() == (
        f"filelock 3.16.1 {hashlib.sha256(b'wheel bytes').hexdigest()} filelock-3.16.1-py3-none-any.whl\n"
        f"torch 2.4.1+cpu {hashlib.sha256(b'torch').hexdigest()} torch-2.4.1+cpu-cp311-cp311-linux_x86_64.whl\n"
    )
    with pytest.raises(SystemExit, match=re.escape("numpy==2.1.0 was installed from no wheel")):
        module.record_wheels({site / "numpy-2.1.0.dist-info"}, served, record)


def _installed(venv, name, version, tag):
    dist_info = venv / "lib" / "python3.13" / "site-packages" / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n")


def test_pip_check_takes_nvidias_sbsa_tag_as_aarch64_and_nothing_else(monkeypatch, tmp_path):
    """nvidia-cusparselt-cu13 0.8.1 (pinned exactly by torch 2.15.0) has an
    aarch64 file name but `Tag: py3-none-manylinux2014_sbsa` in its WHEEL,
    which pip check calls unsupported: the arm64 build of the current line
    failed on it under QEMU."""
    layers = env_layers("check")
    monkeypatch.setattr(env_layers("places"), "VENV", tmp_path)
    _installed(tmp_path, "nvidia_cusparselt_cu13", "0.8.1", "py3-none-manylinux2014_sbsa")
    _installed(tmp_path, "other", "1.0", "py3-none-manylinux2014_x86_64")
    sbsa = "nvidia-cusparselt-cu13 0.8.1 is not supported on this platform"
    accepted, failing = layers.judged_check(f"{sbsa}\n", "aarch64")
    assert failing == [] and accepted[0].startswith(sbsa) and "manylinux2014_sbsa" in accepted[0]
    assert layers.judged_check(sbsa, "x86_64") == ([], [sbsa])  # an x86_64 machine takes no sbsa wheel
    foreign = "other 1.0 is not supported on this platform"
    conflict = "torch 2.15.0 has requirement sympy>=1.13.3, but you have sympy 1.12."
    assert layers.judged_check(f"{foreign}\n{conflict}", "aarch64") == ([], [foreign, conflict])
    assert layers.judged_check("No broken requirements found.", "aarch64") == ([], [])


@pytest.mark.parametrize(("machine", "kept"), [("x86_64", "a" * 64), ("aarch64", None)])
def test_a_kept_wheel_of_another_architecture_is_not_this_builds(monkeypatch, tmp_path, machine, kept):
    """The lock lists every platform's hash of torch, and the cache mount is
    shared by an amd64 build and an arm64 one under QEMU: an aarch64 build
    that finds only the x86_64 wheel kept must download its own."""
    layers = env_layers("cache")
    monkeypatch.setattr(env_layers("places"), "WHEELS", tmp_path)
    monkeypatch.setattr(layers.platform, "machine", lambda: machine)
    (tmp_path / ("a" * 64)).mkdir()
    (tmp_path / ("a" * 64) / "torch-2.4.1-cp311-cp311-manylinux1_x86_64.whl").write_bytes(b"x")
    found = layers.kept_folder("torch", "2.4.1", {"a" * 64, "b" * 64})
    assert (found.name if found else None) == kept
    (tmp_path / ("b" * 64)).mkdir()
    (tmp_path / ("b" * 64) / "torch-2.4.1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl").write_bytes(
        b"y"
    )
    assert layers.kept_folder("torch", "2.4.1", {"a" * 64, "b" * 64}).name == ("a" if machine == "x86_64" else "b") * 64
    assert env_layers("wheels").fits_this_machine(Path("filelock-4.3.1-py3-none-any.whl"))


@pytest.mark.parametrize(
    ("python", "wheel", "fits"),
    [
        ((3, 11), "markupsafe-3.0.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        # the cache mount is shared with a 3.13 line's builds: its kept cp311 wheel is not one for 3.13
        ((3, 13), "markupsafe-3.0.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False),
        ((3, 13), "markupsafe-3.0.4-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ((3, 13), "cuda_bindings-13.5.0-cp39-abi3-manylinux_2_28_x86_64.whl", True),  # the stable ABI of 3.9 and up
        ((3, 11), "thing-1.0-cp312-abi3-manylinux_2_28_x86_64.whl", False),
        ((3, 13), "filelock-4.3.1-py3-none-any.whl", True),
        ((3, 13), "numpy-2.5.5-cp313-cp313t-manylinux_2_28_x86_64.whl", False),  # the free-threaded build
    ],
)
def test_a_kept_wheel_fits_only_the_python_it_was_built_for(monkeypatch, python, wheel, fits):
    layers = env_layers("wheels")
    monkeypatch.setattr(layers.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(layers, "PYTHON", python)
    assert layers.fits_this_machine(Path(wheel)) is fits


@dataclasses.dataclass
class Done:
    returncode: int


def test_an_install_step_fetches_again_the_wheels_buildkit_emptied_from_its_cache(monkeypatch, tmp_path, capsys):
    """BuildKit's garbage collection empties the cache mount and keeps the
    cached layers step that downloaded into it: CI's build of the current
    line failed on it with `no prefetched wheel for torch==2.15.0`. The
    step prefetches its own part again; a part whose wheels are all kept
    fetches nothing."""
    layers = env_layers("cache")
    monkeypatch.setattr(env_layers("places"), "WHEELS", tmp_path)
    monkeypatch.setattr(layers.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(env_layers("wheels"), "PYTHON", (3, 13))
    (tmp_path / ("a" * 64)).mkdir()
    (tmp_path / ("a" * 64) / "filelock-4.3.1-py3-none-any.whl").write_bytes(b"x")
    part = tmp_path / "4.txt"
    part.write_text(
        "--index-url https://pypi.org/simple\n"
        f"filelock==4.3.1 \\\n    --hash=sha256:{'a' * 64}\n"
        f"torch==2.15.0 \\\n    --hash=sha256:{'b' * 64}\n    --hash=sha256:{'c' * 64}\n"
    )
    calls = []
    monkeypatch.setattr(layers.subprocess, "run", lambda argv, check: calls.append(argv) or Done(0))
    layers.fetch_missing(part, "layer 4")
    assert calls == [["/opt/installer/bin/python", str(Path(layers.__file__).parent), "prefetch", str(part)]]
    assert "layer 4: torch==2.15.0 no longer in BuildKit's cache" in capsys.readouterr().out
    (tmp_path / ("c" * 64)).mkdir()
    (tmp_path / ("c" * 64) / "torch-2.15.0-cp313-cp313-manylinux_2_28_x86_64.whl").write_bytes(b"y")
    layers.fetch_missing(part, "layer 4")
    assert len(calls) == 1 and capsys.readouterr().out == ""
    (tmp_path / ("c" * 64) / "torch-2.15.0-cp313-cp313-manylinux_2_28_x86_64.whl").unlink()
    monkeypatch.setattr(layers.subprocess, "run", lambda argv, check: Done(1))  # the index out of reach
    with pytest.raises(SystemExit, match=r"layer 4: fetching the lost wheels again .* `invoke build --no-cache`"):
        layers.fetch_missing(part, "layer 4")

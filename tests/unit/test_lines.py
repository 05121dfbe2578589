"""The lines beside the seed's pins (env/variants.toml [lines]): `--cuda` of a
line's build selects its torch and Python, a line without torchaudio installs
none and says so, and a broken [lines] entry is refused where it is read."""

from __future__ import annotations

import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.catalog.variants import SEED, default_pins, pins_for, siblings
from envkit.checks.check import Context
from envkit.checks.container import Exec
from envkit.checks.registry import BY_NAME
from envkit.recipes import pip_lock
from tests.helpers.checkout import refusal_of_edit


@pytest.mark.parametrize(
    ("cuda", "name", "line", "torch", "torchaudio", "python"),
    [
        ("13.2", "cu132-pip", "current", "2.15.0", "", "3.13"),
        ("13.0", "cu130-pip", "audio", "2.11.0", "2.11.0", "3.13"),
        ("12.1", "cu121-pip", SEED, "2.4.1", "2.4.1", "3.11"),  # the seed stays the default
    ],
)
def test_cuda_alone_selects_the_line_that_has_the_build(cuda, name, line, torch, torchaudio, python):
    variant = select(cuda)
    assert (variant.name, variant.torch, variant.torchaudio, variant.python) == (name, torch, torchaudio, python)
    assert pins_for(variant.platform).line == line
    assert variant.flags() == f"--cuda {cuda}"  # its own line's pins: nothing more to type
    assert variant.index_url == "https://pypi.org/simple"


def test_another_torch_on_a_lines_build_is_named_against_that_line():
    variant = select("13.2", torch="2.14.1")
    assert (variant.name, variant.python) == ("cu132-pip-torch2.14.1", "3.13")
    assert variant.index_url == "https://download.pytorch.org/whl/cu132"  # 2.14.1's PyPI wheel is cu130
    assert select(variant.cuda_flag, torch="2.14.1") == variant


def test_a_line_without_torchaudio_locks_and_checks_none():
    current = select("13.2")
    assert "torchaudio" not in pip_lock.render_input(current)
    assert "torchaudio==" not in (ROOT / current.lock_file).read_text()
    assert "torchaudio==2.11.0" in (ROOT / select("13.0").lock_file).read_text()


class _Box:
    """A test container that answers smoke.py as the image would."""

    def __init__(self):
        self.argv: list[str] = []

    def exec(self, argv):
        self.argv = argv
        return Exec(0, '[{"name": "nms", "passed": true, "detail": "ok", "seconds": 0.1}]', "", 0.1)


def test_the_torchaudio_check_is_reported_not_applicable_with_its_reason():
    box = _Box()
    rows = BY_NAME["smoke"].rows(box, Context(select("13.2"), gpus=False))
    assert "--skip=torchaudio_transform" in box.argv
    skipped = rows[-1]
    assert (skipped.name, skipped.passed, skipped.not_applicable, skipped.verdict) == (
        "smoke:torchaudio_transform",
        True,
        True,
        "n/a",
    )
    assert "torch 2.15.0 has no torchaudio release" in skipped.detail
    seed_rows = BY_NAME["smoke"].rows(box, Context(select("12.1"), gpus=False))
    assert "--skip=torchaudio_transform" not in box.argv and not any(r.not_applicable for r in seed_rows)


CURRENT_ABOUT = 'about = "the newest torch on PyPI, CUDA 13.2 (Blackwell-ready; Turing or newer, driver 580+)"'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'platforms = ["cu132"]',
            'platforms = ["cpu"]',
            "lines.current.platforms: cpu is already selected by [pins]",
        ),
        (
            'platforms = ["cu132"]',
            'platforms = ["cu132", "cu130"]',
            "lines.audio.platforms: cu130 is already selected by lines.current",
        ),
        (
            'torchvision = "0.29.2"',
            'torchvision = "0.28.0"',
            "lines.current.torchvision = '0.28.0', but torch 2.15.0 pairs 0.29.2",
        ),
        (
            'torchaudio = "2.11.0"',
            'torchaudio = "2.11.1"',  # on PyPI with no torch pin, but it does not load with torch 2.11.0
            "lines.audio.torchaudio = '2.11.1', but torch 2.11.0 pairs 2.11.0",
        ),
        ('python = "3.13"', 'python = "3.10"', "lines.current.python = '3.10': torch 2.15.0 has no wheels for it"),
        (CURRENT_ABOUT, 'about = "  "', "lines.current.about: is blank: say it in words"),
        ('torch = "2.15.0"', 'torch = "2.99.0"', "lines.current.torch = '2.99.0' is not a release"),
        ('platforms = ["cu132"]', "platforms = []", "lines.current.platforms: name the builds"),
        ('arches = ["amd64", "arm64"]', 'arches = ["amd64", "riscv64"]', "lines.current.arches: 'riscv64' is not one"),
        (
            'platforms = ["cu130"]',
            'platforms = ["cu130"]\narches = ["arm64"]\n[lines.x]\nabout = "x"\ntorch = "2.10.0"\n'
            'torchvision = "0.25.0"\ntorchaudio = "2.10.0"\npython = "3.13"\nplatforms = ["cu128"]\n'
            'arches = ["arm64"]',
            "lines.x.arches: arm64 has no cu128 build of torch 2.10.0",  # its aarch64 wheel is a CPU one
        ),
    ],
)
def test_a_broken_line_is_refused_where_it_is_read(env_copy, old, new, message):
    assert message in refusal_of_edit(env_copy, "variants.toml", old, new)


def test_the_seed_pins_are_unchanged():
    assert (default_pins().torch, select("12.1").name, select("cpu").torch) == ("2.4.1", "cu121-pip", "2.4.1")


def test_a_wheel_reading_names_each_fact_of_the_row_it_contradicts():
    from envkit.catalog.data_files import compat_file
    from envkit.recipes.wheel_facts import NO_WHEEL, Reading, WheelBuild, build_of

    row = compat_file().torch["2.15.0"]
    pins = {"nvidia-cuda-runtime": "13.2.86", "nvidia-cudnn-cu13": "9.26.0.51", "torch": "2.15.0"}
    assert build_of(pins) == WheelBuild("cu132", "13.2.86", "9.26.0.51")
    assert build_of({"nvidia-cuda-runtime-cu12": "12.4.127"}).platform == "cu124"
    assert build_of({"torch": "2.6.0"}) == WheelBuild("cpu")
    agreeing = Reading("2.15.0", {"amd64": build_of(pins), "arm64": build_of(pins)}, row.pythons)
    assert agreeing.disagreements(row) == []
    assert Reading("2.15.0", {"amd64": build_of(pins), "arm64": NO_WHEEL}, row.pythons).disagreements(row) == []
    cpu_arm = Reading("2.15.0", {"amd64": WheelBuild("cu130", "13.0.96", "9.20.0.48"), "arm64": WheelBuild("cpu")}, ())
    assert cpu_arm.disagreements(row) == [
        "pypi_default is cu132, the wheel is cu130",
        "cuda_runtime.cu132 is 13.2.86, the wheel requires 13.0.96",
        "cudnn.cu132 is 9.26.0.51, the wheel requires 9.20.0.48",
        "pypi_arch_builds.arm64 is cu132, the arm64 wheel is cpu",
        "pythons are 3.11, 3.12, 3.13, 3.14, 3.14t, 3.15, 3.15t; PyPI has wheels for ",
    ]


def test_the_current_line_is_one_release_on_both_architectures():
    assert [v.name for v in siblings(select("13.2"))] == ["cu132-pip", "cu132-pip-arm64"]
    assert [v.name for v in siblings(select("13.0"))] == ["cu130-pip"]  # the audio line: amd64 only
    assert [v.name for v in siblings(select("13.2", torch="2.14.0"))] == ["cu132-pip-torch2.14.0"]

"""env/variants.toml and env/compat.toml edited into every kind of wrong:
the real command line, in a copy of the kit, answers with the file, the key
and the fix, exit 2, no traceback, and no docker command."""

import pytest

from tests.helpers.checkout import copy_repo, invoke_in
from tests.unit.test_cli import assert_clean_failure


def replace(old, new):
    def edit(text):
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "variants.toml",
            lambda text: text + "\n[pins]\n",
            "env/variants.toml: not valid TOML (Cannot declare ('pins',) twice",
        ),
        (
            "variants.toml",
            lambda text: "\x00\xff" + text,
            "env/variants.toml: not UTF-8 text (byte 0xff at line 1, column 2)",
        ),
        ("variants.toml", replace("[lock]", "[locks]"), "env/variants.toml: lock: missing; locks: unknown key"),
        ("variants.toml", replace('python = "3.11"', ""), "env/variants.toml: pins.python: missing"),
        ("variants.toml", replace('python = "3.11"', "python = 3.11"), "pins.python: Input should be a valid string"),
        (
            "variants.toml",
            replace('torch = "2.4.1"', 'torch = "9.9.9"'),
            "env/variants.toml: pins.torch = '9.9.9' is not a release in env/compat.toml",
        ),
        (
            "variants.toml",
            replace('platform = "cu118"', 'platform = "cu117"'),
            "variants[1].platform = 'cu117': torch 2.4.1 has no such build",
        ),
        ("variants.toml", replace('recipe = "conda"', 'recipe = "poetry"'), "variants[4].recipe = 'poetry'"),
        (
            "variants.toml",
            replace('arch = "arm64"', 'arch = "riscv64"'),
            "variants[3].arch = 'riscv64': choose one of amd64, arm64",
        ),
        (
            "variants.toml",
            replace('platform = "cpu"\nrecipe = "pip"\narch', 'platform = "cu121"\nrecipe = "pip"\narch'),
            "variants[3]: arches.arm64 has no cu121-pip build",
        ),
        (
            "variants.toml",
            replace('docker_platform = "linux/arm64"', 'docker_platform = "linux/aarch64"'),
            "arches.arm64: docker_platform must be linux/arm64",
        ),
        (
            "variants.toml",
            replace('python_platform = "aarch64-manylinux_2_28"', 'python_platform = "x86_64-manylinux_2_28"'),
            "arches.arm64: machine 'aarch64' and python_platform 'x86_64-manylinux_2_28' disagree",
        ),
        (
            "compat.toml",
            replace('platforms = ["cpu", "cu118", "cu121", "cu124"]', 'platforms = "cu121"'),
            'env/compat.toml: torch."2.4.0".platforms: Input should be a valid array',
        ),
        ("compat.toml", replace("[torch.", "[torchs."), "env/compat.toml: torchs: unknown key"),
        ("compat.toml", replace('pypi_default = "cu121"', 'pypi_default = "cu999"'), ".pypi_default: 'cu999' is not"),
        ("compat.toml", replace('"12.1" = { minimum', '"twelve" = { minimum'), 'drivers."twelve": not a CUDA release'),
        (
            "compat.toml",
            replace('minimum = "525.60.13", release = "530', 'minimum = "new", release = "530'),
            "'new' is not",
        ),
        (
            "compat.toml",
            replace('"11.8" = { minimum = "450.80.02", ', '"11.8" = { '),
            'drivers."11.8".minimum: missing',
        ),
        (
            "compat.toml",
            replace('unverified = ["platforms"]', 'unverified = ["pypi_default"]'),
            "torch.\"2.13.0\".unverified: 'pypi_default' is not one of platforms",
        ),
        ("variants.toml", replace("pull_cuda = 9", ""), "env/variants.toml: disk.pull_cuda: missing"),
        # a figure is refused as the file writes it: 0, not 0.0
        ("variants.toml", replace("cpu = 6", "cpu = 0"), "disk.cpu: 0 is not a size: give a number above 0."),
        ("variants.toml", replace("cuda = 15", "cuda = -1.5"), "disk.cuda: -1.5 is not a size: give a number above 0."),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_broken_data_file(tmp_path, name, edit, message):
    repo = copy_repo(tmp_path / "kit")
    path = repo / "env" / name
    path.write_bytes(edit(path.read_bytes().decode("latin-1")).encode("latin-1"))
    result = invoke_in(repo, "build", "--cuda", "12.1", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert_clean_failure(result, message)
    assert (
        "Fix it (`git diff" in result.stderr or "not valid TOML" in result.stderr or "not UTF-8 text" in result.stderr
    )

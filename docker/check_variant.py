"""Build-time guard: fail the image build unless the installed packages are
the variant the build asked for (the build args arrive as environment
variables). The official images check `torch.cuda._is_compiled()` for the same
reason: a wrong wheel from the wrong index must never get a variant's tag.
"""

import os
import platform
import sys

import torch
import torchvision

try:
    import torchaudio
except ImportError:  # a line with no torchaudio release (TORCHAUDIO_VERSION="") installs none
    torchaudio = None


def release(version: str) -> str:
    """`2.4.1+cu121` -> `2.4.1`: pins name releases, wheels add a local part."""
    return version.split("+", 1)[0]


def mismatches() -> list[str]:
    expected_cuda = os.environ.get("CUDA_VERSION") or None
    found = {
        "torch": release(torch.__version__),
        "torchvision": release(torchvision.__version__),
        "torchaudio": release(torchaudio.__version__) if torchaudio else "",
        "python": "{}.{}".format(*sys.version_info[:2]),
        "cuda": torch.version.cuda,
        "machine": platform.machine(),
    }
    wanted = {
        "torch": os.environ["TORCH_VERSION"],
        "torchvision": os.environ["TORCHVISION_VERSION"],
        "torchaudio": os.environ["TORCHAUDIO_VERSION"],
        "python": os.environ["PYTHON_VERSION"],
        "cuda": expected_cuda,
        "machine": os.environ.get("MACHINE", platform.machine()),  # x86_64, aarch64
    }
    nothing = {"cuda": "none (CPU build)", "torchaudio": "none (not installed)"}
    return [
        f"{name}: wanted {wanted[name] or nothing.get(name)}, found {found[name] or nothing.get(name)}"
        for name in wanted
        if wanted[name] != found[name]
    ]


if __name__ == "__main__":
    problems = mismatches()
    if problems:
        print("variant check FAILED: the image does not hold the variant asked for", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)
    print(
        f"variant check passed: torch {torch.__version__}, CUDA {torch.version.cuda or 'none (CPU)'}, "
        f"{platform.machine()}"
    )

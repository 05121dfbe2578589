"""Verify a PyTorch installation: versions, CUDA, cuDNN, the OS and the GPUs in view.

    python verify_install.py          # a readable summary
    python verify_install.py --json   # the same facts as one JSON object

Exits non-zero when torch cannot be imported. A CUDA build that sees no GPU
is not an error here (the CPU-only test hosts run this too); the summary says
why CUDA is unavailable so that the fix is obvious.
"""

import argparse
import glob
import json
import platform
import sys


def cudnn_version(raw):
    """cuDNN encodes its version as one integer: 90100 is 9.1.0, 8902 is 8.9.2."""
    if raw is None:
        return None
    if raw >= 90000:  # cuDNN 9 moved to MAJOR*10000 + MINOR*100 + PATCH
        return f"{raw // 10000}.{raw % 10000 // 100}.{raw % 100}"
    return f"{raw // 1000}.{raw % 1000 // 100}.{raw % 100}"


def cuda_unavailable_reason(torch):
    """Why torch.cuda.is_available() is False, in words a user can act on."""
    if torch.version.cuda is None:
        return "this is a CPU-only build of torch"
    if not glob.glob("/dev/nvidia[0-9]*"):
        return (
            "no GPU device in this container: run it with --gpus all "
            "(the host needs an NVIDIA driver and the NVIDIA container toolkit)"
        )
    try:
        torch.cuda.init()
    except Exception as error:  # the driver's own words, e.g. "driver ... too old"
        return f"CUDA failed to initialise: {error}"
    return "unknown: a GPU device is present but CUDA reports none"


def gpu_archs(torch):
    """The GPU architectures this build has kernels for: sm_90 (compiled for
    compute capability 9.0), compute_90 (PTX the driver compiles for 9.0 and
    newer). torch.cuda.get_arch_list() answers [] where no GPU is visible (it
    asks is_available() first); the build's own list is the compile-time flags
    it reads, asked for directly, so a CPU-only host measures it too."""
    if torch.version.cuda is None:
        return []
    archs = torch.cuda.get_arch_list()
    if not archs and hasattr(torch._C, "_cuda_getArchFlags"):
        archs = (torch._C._cuda_getArchFlags() or "").split()
    return list(archs)


def os_name():
    """The distribution, e.g. "Debian GNU/Linux 12 (bookworm)"."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:
        return platform.platform()


def collect():
    import torch
    import torchvision

    try:
        import torchaudio
    except ImportError:  # torch 2.12 and later: no torchaudio release pairs with them
        torchaudio = None

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    cudnn_raw = torch.backends.cudnn.version() if torch.version.cuda else None
    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchaudio": torchaudio.__version__ if torchaudio else None,
        "python": platform.python_version(),
        "os": os_name(),
        "machine": platform.machine(),
        "cuda_compiled": torch.version.cuda,
        "cuda_archs": gpu_archs(torch),
        "cuda_available": available,
        "cuda_unavailable_reason": None if available else cuda_unavailable_reason(torch),
        "cudnn": cudnn_version(cudnn_raw),
        "cudnn_raw": cudnn_raw,
        "gpu_count": count,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(count)],
    }


def print_summary(facts):
    rows = [
        ("PyTorch", facts["torch"]),
        ("Python", facts["python"]),
        ("OS", facts["os"]),
        ("Machine", facts["machine"]),
        ("torchvision", facts["torchvision"]),
        ("torchaudio", facts["torchaudio"] or "none (not installed)"),
        ("CUDA available", facts["cuda_available"]),
        ("CUDA (compiled)", facts["cuda_compiled"] or "none (CPU build)"),
        ("GPU kernels", " ".join(facts["cuda_archs"]) or "none"),
        ("cuDNN", facts["cudnn"] or "none"),
        ("GPU count", facts["gpu_count"]),
    ]
    rows += [(f"GPU {i}", name) for i, name in enumerate(facts["gpu_names"])]
    if facts["cuda_unavailable_reason"]:
        rows.append(("CUDA unavailable", facts["cuda_unavailable_reason"]))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args(argv)
    try:
        facts = collect()
    except ImportError as error:
        print(f"PyTorch is not installed correctly: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print_summary(facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())

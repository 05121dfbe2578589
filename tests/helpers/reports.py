"""Reports and build records as the kit writes them, for tests of what reads them."""

from __future__ import annotations

from typing import Any

MEASURED_CU121 = {
    "torch": "2.4.1+cu121",
    "torchvision": "0.19.1+cu121",
    "torchaudio": "2.4.1+cu121",
    "python": "3.11.2",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "cuda_compiled": "12.1",
    "cuda_available": False,
    "cuda_unavailable_reason": "no GPU",
    "cudnn": "9.1.0",
    "cudnn_raw": 90100,
    "gpu_count": 0,
    "gpu_names": [],
    "machine": "x86_64",
    "cuda_archs": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
}


def report_data(**changes: Any) -> dict[str, Any]:
    """A passing cu121-pip test report as `invoke test` writes it, with changes."""
    body = {
        "variant": "cu121-pip",
        "image": "torch-env:cu121-pip",
        "image_id": "sha256:" + "a" * 64,
        "image_created": "2026-11-27T10:00:00.123456789Z",
        "gpus": "none",
        "host": {"gpus": [], "docker": "20.10.24+dfsg1"},
        "started_at": "2026-11-27T10:05:00.000001+00:00",
        "image_size": 5_800_000_000,
        "seconds": 31.0,
        "measured": MEASURED_CU121,
        "facts": {"revision": "0a1b2c3d", "recipe": "pip", "recipe_file": "/opt/envkit/requirements.txt"},
        "checks": [{"name": "pins", "passed": True, "detail": "as pinned", "seconds": 0.0}],
        "tags": {"immutable": "2.4.1-cu121-x", "versioned": "2.4.1-cu121-py3.11-pip", "moving": "cu121-pip"},
        "kit_revision": "0a1b2c3d",
        "passed": True,
    }
    return {**body, **changes}


def build_record_data(**changes: Any) -> dict[str, Any]:
    """A build record as `invoke build` writes it, with changes."""
    body = {
        "variant": "cu121-pip",
        "tag": "torch-env:cu121-pip",
        "image_id": "sha256:" + "a" * 64,
        "size_bytes": 5_800_000_000,
        "seconds": 118.0,
        "finished_at": "2026-11-27T10:00:01+00:00",
        "base_image": "torch-env-base:bookworm",
        "revision": "0a1b2c3d",
    }
    return {**body, **changes}

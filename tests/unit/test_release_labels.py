"""The labels a published image gets: every one from the test report."""

from envkit.core.reports import TestReport
from envkit.core.validation import validate
from envkit.release.publish import TESTED_LABEL, release_labels
from tests.helpers.reports import MEASURED_CU121, report_data

REPORT = validate(
    TestReport,
    report_data(
        variant="cpu-pip",
        image_id="sha256:" + "c" * 64,
        started_at="2026-11-27T10:05:00+00:00",
        measured={
            **MEASURED_CU121,
            "torch": "2.4.1+cpu",
            "torchvision": "0.19.1+cpu",
            "torchaudio": "2.4.1+cpu",
            "cuda_compiled": None,
            "cudnn": None,
            "cudnn_raw": None,
            "cuda_archs": [],
        },
        facts={"recipe": "pip", "recipe_sha256": "d" * 64, "revision": "0a1b2c3"},
    ),
    "test",
    "",
)


def test_cpu_image_labels():
    assert release_labels(REPORT) == {
        "io.envkit.torch": "2.4.1+cpu",
        "io.envkit.torchvision": "0.19.1+cpu",
        "io.envkit.torchaudio": "2.4.1+cpu",
        "io.envkit.cuda": "none",
        "io.envkit.cudnn": "none",
        "io.envkit.python": "3.11.2",
        "io.envkit.os": "Debian GNU/Linux 12 (bookworm)",
        "io.envkit.arch": "amd64",
        "io.envkit.variant": "cpu-pip",
        "io.envkit.recipe": "pip",
        "io.envkit.recipe.sha256": "d" * 64,
        "org.opencontainers.image.revision": "0a1b2c3",
        TESTED_LABEL: "sha256:" + "c" * 64,
        "io.envkit.tested.at": "2026-11-27T10:05:00+00:00",
    }


def test_a_cuda_image_carries_the_gpu_kernels_it_was_measured_to_have():
    cuda = validate(TestReport, report_data(), "test", "")
    assert release_labels(cuda)["io.envkit.cuda.archs"] == "sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90"
    # a report from before the kit measured them: no label, not an empty one
    older = report_data(measured={key: value for key, value in MEASURED_CU121.items() if key != "cuda_archs"})
    assert "io.envkit.cuda.archs" not in release_labels(validate(TestReport, older, "test", ""))

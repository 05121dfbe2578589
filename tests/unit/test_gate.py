"""The publish gate's decisions, with reports on disk and a stand-in engine
that knows one image."""

import json
from types import SimpleNamespace

import docker
import pytest

from envkit.catalog.selection import select
from envkit.core.report_files import sbom_path
from envkit.core.settings import Settings
from envkit.release import gate
from tests.helpers.reports import build_record_data, report_data

IMAGE_ID = "sha256:" + "a" * 64
OTHER_ID = "sha256:" + "b" * 64
BUILT = "2026-11-27T10:00:00.123456789Z"


class Images:
    def __init__(self, known):
        self.known = known

    def get(self, name):
        if name not in self.known:
            raise docker.errors.ImageNotFound(name)
        return self.known[name]


def engine_with(image_id=IMAGE_ID, created=BUILT):
    image = SimpleNamespace(id=image_id, attrs={"Created": created}, tags=["torch-env:cu121-pip"])
    return SimpleNamespace(images=Images({"torch-env:cu121-pip": image}))


@pytest.fixture
def settings(tmp_path):
    """A reports folder holding the SBOM `invoke test` writes for IMAGE_ID."""
    settings = Settings(reports_dir=str(tmp_path))
    sbom = sbom_path(settings, "cu121-pip", IMAGE_ID)
    sbom.parent.mkdir(parents=True)
    sbom.write_text("{}")
    return settings


def write(settings, kind, body):
    path = settings.reports_path / kind / "cu121-pip.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def report(**changes):
    return report_data(**{"image_id": IMAGE_ID, **changes})


def test_a_tested_image_is_approved(settings):
    write(settings, "tests", report())
    approved = gate.check(select("12.1"), settings, engine_with())
    assert approved.report.image_id == IMAGE_ID and approved.variant.name == "cu121-pip"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda s: None,
            "torch-env:cu121-pip (sha256:aaaaaaaaaaaa) has never been tested: run `invoke test "
            "--cuda 12.1`; nothing was pushed.",
        ),
        (
            lambda s: write(s, "tests", report(image_id=OTHER_ID)),
            "is not the image that was tested (sha256:bbbbbbbbbbbb): it was built after its last test",
        ),
        (
            lambda s: write(
                s,
                "tests",
                report(passed=False, checks=[{"name": "smoke:nms", "passed": False, "detail": "", "seconds": 0.1}]),
            ),
            "failed its last test (smoke:nms); nothing was pushed.",
        ),
        (lambda s: write(s, "tests", report(tags={})), "its report has no measured tags"),
        (
            lambda s: (write(s, "tests", report()), sbom_path(s, "cu121-pip", IMAGE_ID).unlink()),
            "its test wrote no SBOM (",
        ),
    ],
    ids=["never-tested", "other-image", "failed", "no-tags", "no-sbom"],
)
def test_refusals(settings, setup, message):
    setup(settings)
    with pytest.raises(gate.Refused) as refused:
        gate.check(select("12.1"), settings, engine_with())
    assert message in str(refused.value)
    assert refused.value.code == 1


def test_a_rebuild_to_the_same_content_keeps_its_test(settings):
    """The id is the content: a later build record of the same id (a no-op rebuild) leaves the test valid."""
    write(settings, "tests", report())
    write(settings, "builds", build_record_data(image_id=IMAGE_ID, finished_at="2099-01-01T00:00:00+00:00"))
    assert gate.check(select("12.1"), settings, engine_with()).report.image_id == IMAGE_ID


def test_a_build_record_of_another_image_is_ignored(settings):
    write(settings, "tests", report())
    write(settings, "builds", build_record_data(image_id=OTHER_ID, finished_at="2026-11-27T11:00:00+00:00"))
    assert gate.check(select("12.1"), settings, engine_with())


def test_no_image_under_the_tag(settings):
    with pytest.raises(gate.Refused, match="torch-env:cu118-pip: no such image; build and test it first"):
        gate.check(select("11.8"), settings, engine_with())

"""The registry of `invoke test`'s checks: each named once, run in order,
dev checks on dev images only, a check that needs a failed one not run (the
docs' checks page is held to it in tests/unit/test_docs.py)."""

from envkit.catalog.selection import select
from envkit.checks.check import Context
from envkit.checks.container import Exec
from envkit.checks.registry import BY_NAME, CHECKS, run_all
from envkit.core.reports import Facts


class FailingBox:
    """A container in which every command fails, as a broken image's would."""

    def __init__(self):
        self.calls = []

    def exec(self, argv, timeout=600):
        self.calls.append(argv)
        return Exec(1, "", "boom", 0.1)

    def put_file(self, folder, name, data):
        return f"/{folder}/{name}"


def test_a_runtime_image_gets_every_check_but_the_dev_ones_in_order_each_reported():
    rows = run_all(FailingBox(), Context(select("12.1"), gpus=False))
    names = [check.name for check in CHECKS if check.images == "every"]
    assert [row.name for row in rows] == names
    assert not any(row.passed for row in rows)


def test_a_dev_image_adds_jupyterlab_and_the_notebook_last():
    rows = run_all(FailingBox(), Context(select("12.1", dev=True), gpus=False))
    assert [row.name for row in rows][-2:] == ["jupyterlab", "notebook"]
    assert len(rows) == len(CHECKS)


def test_a_check_whose_needed_check_failed_is_not_run_and_says_which():
    box = FailingBox()
    rows = {row.name: row for row in run_all(box, Context(select("12.1"), gpus=False))}
    assert BY_NAME["pins"].needs == ("verify_install",)
    assert (rows["pins"].passed, rows["pins"].detail) == (False, "not run: verify_install failed")


def test_the_environment_check_fills_typed_facts_with_the_image_revision():
    answers = iter(
        [
            Exec(0, "ab12  /opt/envkit/requirements.txt\n", "", 0.1),
            Exec(1, "", "no such file", 0.1),
            Exec(0, "torch==2.4.1\nnumpy==1.26.4\n", "", 0.2),
            Exec(0, "bash=5.2\n", "", 0.3),
        ]
    )

    class Box:
        def exec(self, argv, timeout=600):
            return next(answers)

    ctx = Context(select("12.1"), gpus=False, revision="abc123")
    [row] = BY_NAME["environment"].rows(Box(), ctx)
    assert row.passed and row.detail == "pip recipe, 2 Python and 1 Debian packages"
    assert ctx.environment == Facts(
        "abc123", "pip", "/opt/envkit/requirements.txt", "ab12", ("torch==2.4.1", "numpy==1.26.4"), ("bash=5.2",)
    )

"""The build record's one-line summary, as `invoke build` prints it."""

from envkit.core.reports import BuildRecord


def _record(size_bytes: int) -> BuildRecord:
    return BuildRecord(
        variant="cu132-pip-arm64",
        tag="torch-env:cu132-pip-arm64",
        image_id="sha256:3f85574fc644" + "0" * 52,
        size_bytes=size_bytes,
        seconds=314.5,
        finished_at="2026-12-05T18:10:00Z",
        base_image="torch-env-base:trixie-arm64",
        revision="642e8f1",
    )


def test_summary_gives_the_measured_size() -> None:
    assert _record(5_870_000_000).summary() == (
        "built torch-env:cu132-pip-arm64  sha256:3f85574fc644  5.87 GB  in 314.5 s"
    )


def test_summary_says_an_unknown_size_is_unknown_not_zero() -> None:
    # The containerd store reports 0 for another architecture's image until a container runs it.
    summary = _record(0).summary()
    assert "size known at its first run" in summary
    assert "0.00 GB" not in summary

"""`invoke bench`'s parts that need no engine: how the lock is split into
layers (docker/env_layers), the one-pin change, what counts as bytes
pushed and pulled, the download rate against a served index, and the
report's medians, ratios and targets."""

import hashlib
import http.server
import json
import re
import threading
from dataclasses import asdict
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envkit import ROOT
from envkit.bench import measure
from envkit.bench.contenders import OnePin
from envkit.bench.report import Report, Sample, markdown, report_paths, write_report
from envkit.bench.run import check_request, layer_compressions, manifest_layers
from envkit.catalog.selection import select
from envkit.core.errors import KitError, UsageError
from envkit.core.settings import Settings
from envkit.images.build import export_seconds
from envkit.recipes.files import parse_pip, read_pip
from envkit.recipes.indexes import Indexes
from tests.helpers.checkout import env_layers
from tests.helpers.index import LocalIndex

LAYERS = env_layers("layers")
INSTALL = env_layers("install")
WHEELS = env_layers("wheels")
CLI = env_layers("__main__")


@pytest.mark.parametrize("lock", ["env/pip/cu121.txt", "env/pip/cu118.txt", "env/pip/cpu.txt"])
def test_the_split_puts_every_entry_of_the_lock_in_exactly_one_layer(tmp_path, lock):
    LAYERS.split(ROOT / lock, tmp_path, single=False)
    whole = read_pip(ROOT / lock)
    parts = {n: parse_pip((tmp_path / f"{n}.txt").read_text()) for n in range(1, LAYERS.LAYER_COUNT + 1)}
    pins = [pin for part in parts.values() for pin in part.pins.values()]
    assert sorted(pins, key=lambda pin: pin.name) == sorted(whole.pins.values(), key=lambda pin: pin.name)
    for part in parts.values():
        assert part.options == (whole.options if part.pins else [])  # the indexes travel with every part
    assert all(LAYERS.layer_of(name) == n for n, part in parts.items() for name in part.pins)


def test_cu121_layers_follow_the_measured_order():
    expected = {
        "nvidia-cudnn-cu12": 1,
        "nvidia-cublas-cu12": 2,
        "nvidia-nccl-cu12": 2,
        "triton": 3,
        "torch": 4,
        "torchvision": 4,
        "torchaudio": 4,
        "nvidia-nvjitlink-cu12": 5,
        "pillow": 6,
        "filelock": 6,
        "Typing_Extensions": 6,
    }
    assert {name: LAYERS.layer_of(name) for name in expected} == expected


def test_single_puts_the_whole_lock_in_the_last_layer(tmp_path):
    LAYERS.split(ROOT / "env/pip/cu121.txt", tmp_path, single=True)
    assert all((tmp_path / f"{n}.txt").read_text() == "" for n in range(1, LAYERS.LAYER_COUNT))
    last = parse_pip((tmp_path / f"{LAYERS.LAYER_COUNT}.txt").read_text())
    assert last.pins == read_pip(ROOT / "env/pip/cu121.txt").pins


def test_each_step_compiles_only_what_it_installed_and_no_test_suite(tmp_path):
    site = tmp_path / "site-packages"
    record = "pkg/__init__.py,sha256=x,1\npkg/tests/test_a.py,,\npkg/data.json,,\npkg/core/tests_helper.py,,\n"
    (site / "pkg-1.0.dist-info").mkdir(parents=True)
    (site / "pkg-1.0.dist-info" / "RECORD").write_text(record)
    sources = INSTALL.installed_sources({site / "pkg-1.0.dist-info"})
    assert sources == [(site / "pkg/__init__.py").resolve(), (site / "pkg/core/tests_helper.py").resolve()]


def test_prefetch_reads_the_indexes_of_the_lock_unless_mirrors_replace_them(monkeypatch):
    monkeypatch.delenv("INDEX_URL", raising=False)
    monkeypatch.delenv("EXTRA_INDEX_URL", raising=False)
    options = ["--index-url https://download.pytorch.org/whl/cu118\n", "--extra-index-url=https://pypi.org/simple\n"]
    assert WHEELS.index_urls(options) == ["https://download.pytorch.org/whl/cu118", "https://pypi.org/simple"]
    assert WHEELS.index_urls([]) == ["https://pypi.org/simple"]
    monkeypatch.setenv("INDEX_URL", "http://mirror/simple")
    monkeypatch.setenv("EXTRA_INDEX_URL", "http://a/x http://b/y")
    assert WHEELS.index_urls(options) == ["http://mirror/simple", "http://a/x", "http://b/y"]


def test_prefetch_knows_every_tag_of_a_wheel_name():
    name = "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert WHEELS.wheel_tags(name) == [
        "cp311-cp311-manylinux_2_27_x86_64",
        "cp311-cp311-manylinux_2_28_x86_64",
    ]
    assert WHEELS.wheel_tags("filelock-4.3.1-py3-none-any.whl") == ["py3-none-any"]


def test_env_layers_refuses_a_wrong_command_line(capsys):
    assert CLI.main(["split", "lock.txt", "out"]) == 2
    assert CLI.main(["install", "seven"]) == 2
    said = capsys.readouterr().err
    assert "env_layers split: error: the following arguments are required: how" in said
    assert "argument N: invalid int value: 'seven'" in said
    assert (
        CLI.main(["install", "7"]) == 2
        and "invalid choice: 7 (choose from 1, 2, 3, 4, 5, 6)" in capsys.readouterr().err
    )


LOCK = """--index-url https://pypi.org/simple
filelock==4.3.1 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via torch
numpy==2.4.6 \\
    --hash=sha256:cccc
"""


def test_a_one_pin_change_replaces_only_that_entry():
    changed = OnePin("filelock", "4.3.1", "4.2.12", "dddd").applied_to(LOCK)
    before, after = parse_pip(LOCK), parse_pip(changed)
    assert after.pins["filelock"].version == "4.2.12" and after.pins["filelock"].hashes == ("sha256:dddd",)
    assert after.pins["numpy"] == before.pins["numpy"] and after.options == before.options
    assert "    # via torch" in changed


def test_a_one_pin_change_of_an_absent_entry_is_an_error():
    with pytest.raises(KitError, match=re.escape("no entry pillow==1.0")):
        OnePin("pillow", "1.0", "0.9", "dddd").applied_to(LOCK)


def test_pulled_bytes_count_only_the_layers_the_pull_fetched():
    layers = {"sha256:" + "a" * 64: 100, "sha256:" + "b" * 64: 20, "sha256:" + "c" * 64: 3}
    events = [
        {"status": "Already exists", "id": "a" * 12},
        {"status": "Downloading", "id": "b" * 12},
        {"status": "Pull complete", "id": "b" * 12},
        {"status": "Digest: sha256:..."},
    ]
    assert measure.pulled_bytes(events, layers) == 20


def test_stored_bytes_are_the_registry_blobs(tmp_path):
    for digest, size in (("ab" + "0" * 62, 5), ("cd" + "1" * 62, 7)):
        blob = tmp_path / "docker/registry/v2/blobs/sha256" / digest[:2] / digest
        blob.mkdir(parents=True)
        (blob / "data").write_bytes(b"x" * size)
    assert measure.stored_bytes(tmp_path) == {"ab" + "0" * 62: 5, "cd" + "1" * 62: 7}


def test_export_seconds_come_from_buildkits_plain_progress():
    output = "#30 exporting to image\n#30 exporting layers\n#30 exporting layers 16.2s done\n#30 DONE 16.2s\n"
    assert export_seconds(output) == 16.2
    assert export_seconds("#31 exporting layers 0.0s done\n#31 writing image sha256:1 done") == 0.0
    # The containerd store unpacks after compressing: the whole step counts.
    containerd = (
        "#30 exporting to image\n#30 exporting layers\n#30 exporting layers 38.8s done\n"
        "#30 exporting manifest sha256:a done\n#30 unpacking to docker.io/library/torch-env:cu121-pip\n"
        "#30 unpacking to docker.io/library/torch-env:cu121-pip 37.0s done\n#30 DONE 75.8s\n#31 DONE 0.1s\n"
    )
    assert export_seconds(containerd) == 75.8


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    served = LocalIndex(tmp_path_factory.mktemp("index"))
    wheels = {version: served.add("pypi", "filelock", version) for version in ("3.9", "4.0", "4.1")}
    served.add("pypi", "numpy", "2.0.0")
    yield served.start(), wheels
    served.stop()


def test_the_download_rate_fetches_exactly_the_locked_wheels(index):
    served, wheels = index
    digest = hashlib.sha256(wheels["4.1"].read_bytes()).hexdigest()
    pins = parse_pip(f"filelock==4.1 --hash=sha256:{digest}\n").pins
    rate = measure.download_rate(list(pins.values()), Indexes(served.url("pypi"), ()), "3.11", None)
    assert (rate.bytes, rate.wheels) == (wheels["4.1"].stat().st_size, 1) and rate.bytes_per_second > 0


def test_the_one_pin_change_takes_the_newest_older_release(index):
    served, wheels = index
    pin = parse_pip("filelock==4.1 --hash=sha256:00\n").pins["filelock"]
    tags = measure.wheel_tags("3.11", ["manylinux_2_28_x86_64"])
    context = measure.ssl_context(None)
    older = measure.older_release(pin, Indexes(served.url("pypi"), ()), tags, context)
    assert older == ("4.0", hashlib.sha256(wheels["4.0"].read_bytes()).hexdigest())
    oldest = parse_pip("filelock==3.9 --hash=sha256:00\n").pins["filelock"]
    assert measure.older_release(oldest, Indexes(served.url("pypi"), ()), tags, context) is None
    with pytest.raises(KitError, match=re.escape("no wheel of filelock==4.1 with a locked hash")):
        measure.wheel_of(pin, Indexes(served.url("pypi"), ()), tags, context)


@pytest.mark.parametrize(
    ("variant", "runs", "allowed", "message"),
    [
        (("12.1", "conda"), 1, True, "is a conda variant"),
        (("12.1", "pip"), 0, True, "--runs 0: give a number of runs from 1 to 20."),
        (("12.1", "pip"), 21, True, "--runs 21"),
        (("12.1", "pip"), 3, False, "Pass --empty-build-cache to allow it."),
    ],
)
def test_bad_requests_are_refused_before_anything_runs(variant, runs, allowed, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        check_request(select(variant[0], variant[1], None, None), runs, allowed)


def sample(contender, run, **figures):
    return Sample(contender, figures, run)


MACHINE = {"summary": "2 cores (test CPU), 23 GiB RAM, x86_64, Docker 20.10.24"}


def make_report(kit_figures, baseline_figures):
    samples = [sample("kit", n + 1, **f) for n, f in enumerate(kit_figures)]
    samples += [sample("baseline", n + 1, **f) for n, f in enumerate(baseline_figures)]
    return Report("cu121-pip", len(kit_figures), False, MACHINE, "filelock 4.3.1 -> 4.2.12", [4e8], samples)


def test_rows_are_medians_with_min_max_and_the_ratio_to_the_baseline():
    report = make_report(
        [{"cold_build_s": 50.0}, {"cold_build_s": 70.0}, {"cold_build_s": 60.0}],
        [{"cold_build_s": 100.0}, {"cold_build_s": 90.0}, {"cold_build_s": 120.0}],
    )
    (row,) = report.rows
    assert (row.kit.median, row.kit.low, row.kit.high) == (60.0, 50.0, 70.0)
    assert (row.baseline.median, row.ratio) == (100.0, 0.6)
    assert "| cold build | 60.0 s (50.0 s-70.0 s) | 100.0 s (90.0 s-120.0 s) | 0.60x |" in markdown(report)


def test_targets_hold_or_fail_by_the_medians_and_say_by_how_much():
    kit = {
        "cold_build_s": 70.0,
        "floor_s": 40.0,
        "edit_rebuild_s": 2.0,
        "edit_layers_rebuilt": 1,
        "compressed_bytes": 3e9,
        "one_pin_push_bytes": 6e7,
        "one_pin_pull_bytes": 2e8,
        "first_push_s": 100.0,
        "pull_s": 100.0,
        "republish_bytes": 0,
    }
    baseline = {"cold_build_s": 100.0, "compressed_bytes": 3.1e9, "first_push_s": 250.0, "pull_s": 110.0}
    report = make_report([kit], [baseline])
    verdicts = {target.goal: (target.holds, target.measured) for target in report.targets}
    assert verdicts["cold build <= 0.6x the baseline"] == (False, "0.70x (70.0 s vs 100.0 s)")
    assert verdicts["cold build <= 1.5x its floor"] == (False, "1.75x the floor")
    assert verdicts["push after a one-pin change moves < 5% of the compressed image"] == (True, "2.0% (60.0 MB)")
    assert verdicts["pull after a one-pin change moves < 5% of the compressed image"][0] is False
    assert verdicts["first push <= 0.6x the one-layer baseline's"] == (True, "0.40x (100.0 s vs 250.0 s)")
    assert verdicts["pull <= 0.6x the one-layer baseline's"][0] is False
    assert verdicts["compressed size <= the baseline's"][0] is True
    assert verdicts["re-publish with only new tags uploads no layer bytes"] == (True, "0.0 MB")
    assert "| pull <= 0.6x the one-layer baseline's | **no** |" in markdown(report)


def test_a_tiny_report_leaves_out_the_targets_it_did_not_measure():
    report = make_report([{"cold_build_s": 5.0}], [{"cold_build_s": 4.0}])
    assert [target.goal for target in report.targets] == ["cold build <= 0.6x the baseline"]
    assert "invoke_test_s" not in [row.figure for row in report.rows]


@given(st.lists(st.floats(min_value=0, max_value=1e12, allow_nan=False), min_size=1, max_size=7))
def test_a_median_lies_between_min_and_max(values):
    report = make_report([{"size_bytes": v} for v in values], [])
    (row,) = report.rows
    assert row.kit.low <= row.kit.median <= row.kit.high and row.ratio is None


def test_the_report_is_json_and_markdown_beside_each_other(tmp_path):
    report = make_report([{"cold_build_s": 5.0}], [{"cold_build_s": 4.0}])
    json_path, markdown_path, chart_path = report_paths(Settings(reports_dir=str(tmp_path)), "cu121-pip")
    assert markdown_path == tmp_path / "bench/cu121-pip.md"
    write_report(report, Settings(reports_dir=str(tmp_path)))
    assert json.loads(json_path.read_text())["rows"] == json.loads(json.dumps(asdict(report)))["rows"]
    assert markdown_path.read_text() == markdown(report)
    svg = ElementTree.fromstring(chart_path.read_text())  # well-formed, one bar per shared figure
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 1 and "1.25x" in chart_path.read_text()


MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c", "size": 7},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": "sha256:a", "size": 100},
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "sha256:b", "size": 50},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:d", "size": 20},
    ],
}


@pytest.fixture
def registry_host():
    """A stand-in for the bench's registry: one manifest at bench/kit:release, 404 elsewhere."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server calls it by this name
            found = self.path == "/v2/bench/kit/manifests/release"
            body = json.dumps(MANIFEST).encode() if found else b"{}"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_pushed_image_is_read_back_by_its_layers_and_their_compression(registry_host):
    assert manifest_layers(registry_host, "bench/kit", "release") == {
        "sha256:c": 7,
        "sha256:a": 100,
        "sha256:b": 50,
        "sha256:d": 20,
    }
    assert layer_compressions(registry_host, "bench/kit", "release") == {"zstd", "gzip", "none"}
    with pytest.raises(KitError, match=r"reading the bench registry.s manifest .* failed: 404"):
        manifest_layers(registry_host, "bench/kit", "absent")


def test_the_published_compressions_are_rows_of_the_kit_only():
    kit = {"gzip_bytes": 3.11e9, "gzip_pull_s": 80.0, "zstd_bytes": 2.42e9, "zstd_pull_s": 50.0}
    report = make_report([kit], [{"cold_build_s": 4.0}])
    text = markdown(report)
    assert "| published size, gzip layers | 3.11 GB | - | - |" in text
    assert "| pull, zstd layers | 50.0 s | - | - |" in text
    assert text.index("gzip layers") < text.index("zstd layers")

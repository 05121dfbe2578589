"""`invoke bench` in its tiny mode, from a copy of the kit whose cu121 lock
is a stand-in: small wheels built here (torch, its CUDA libraries, triton)
plus the real pip, setuptools and uv, served on the Docker bridge where the
builds reach them. Everything else is real: both Dockerfiles, BuildKit,
the bench's registry, pushes and pulls. The same stand-in proves that the
layered install equals a one-layer install file for file."""

import json
import os

import pytest

from envkit import ROOT
from envkit.bench import measure
from envkit.bench.run import TINY_WRITES_GB
from envkit.catalog.selection import select
from envkit.core import capabilities, proc, provenance
from envkit.core.settings import Settings
from envkit.images import build, plan
from envkit.images.repro import _LISTING
from envkit.images.wheelhouse import platform_tags
from envkit.recipes.files import read_pip
from envkit.recipes.indexes import Indexes
from tests.helpers.checkout import copy_repo, invoke_in
from tests.helpers.index import LocalIndex
from tests.integration.session import HOST_CA_BUNDLE

pytestmark = pytest.mark.empties_build_cache
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"  # an empty tar's diff id


@pytest.fixture(autouse=True)
def room(make_room):
    """Each test builds a (stand-in) cu121 image; the bench asks a cu121 build's room and what --tiny writes."""
    make_room(1, extra_gb=TINY_WRITES_GB)


STAND_INS = [
    ("torch", "2.4.1", ("filelock", "nvidia-cudnn-cu12", "nvidia-cublas-cu12", "triton==3.0.0")),
    ("torchvision", "0.19.1", ("torch==2.4.1", "numpy")),
    ("torchaudio", "2.4.1", ("torch==2.4.1",)),
    ("nvidia-cudnn-cu12", "9.1.0.70", ("nvidia-cublas-cu12",)),
    ("nvidia-cublas-cu12", "12.1.3.1", ("nvidia-nvjitlink-cu12",)),
    ("nvidia-nvjitlink-cu12", "12.9.86", ()),
    ("triton", "3.0.0", ("filelock",)),
    ("filelock", "3.0", ()),
    ("filelock", "4.0", ()),
    ("numpy", "2.0.0", ()),
]
# torch.version.cuda is what the build's guard (docker/check_variant.py) reads.
TORCH_FILES = {
    "torch/__init__.py": "__version__ = '2.4.1'\nfrom torch import version\n",
    "torch/version.py": "cuda = '12.1'\n",
}


def bridge_gateway(client):
    """The host's address on Docker's default bridge: BuildKit's RUN steps reach it."""
    return client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]


def real_wheels(tmp_path):
    """pip, setuptools and uv as the checkout locks them, fetched from PyPI:
    the image runs `pip check`, and its installer stage installs uv."""
    context = measure.ssl_context(HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None)
    tags = measure.wheel_tags("3.11", platform_tags())
    pins = {**read_pip(ROOT / "env/pip/cu121.txt").pins, **read_pip(ROOT / "env/pip/installer.txt").pins}
    fetched = {}
    for name in ("pip", "setuptools", "uv"):
        wheel = measure.wheel_of(pins[name], Indexes("https://pypi.org/simple", ()), tags, context)
        path = tmp_path / wheel.filename
        with measure._open(wheel.url, context) as response:
            path.write_bytes(response.read())
        fetched[name] = path
    return fetched


@pytest.fixture(scope="module")
def stand_in_kit(tmp_path_factory, docker_client, base_image):
    """A kit copy locked against the stand-in index, and the environment that points it there."""
    served = LocalIndex(tmp_path_factory.mktemp("index"), host=bridge_gateway(docker_client))
    for name, version, requires in STAND_INS:
        served.add("pypi", name, version, *requires, files=TORCH_FILES if name == "torch" else None)
    for name, wheel in real_wheels(tmp_path_factory.mktemp("real-wheels")).items():
        served.add_file("pypi", name, wheel)
    served.start()
    repo = copy_repo(tmp_path_factory.mktemp("kit"))
    env = {
        "INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={served.url('pypi')}",
        "INVOKE_ENVKIT_BASE_IMAGE": base_image,
        "INVOKE_ENVKIT_IMAGE_NAME": "torch-env-ci-standin",
    }
    if HOST_CA_BUNDLE.is_file():
        env["INVOKE_ENVKIT_CA_CERT"] = str(HOST_CA_BUNDLE)
    locked = invoke_in(repo, "lock", "--cuda", "12.1", env=env)
    assert locked.returncode == 0, locked.stderr
    yield repo, env, served
    served.stop()
    for image in docker_client.images.list("torch-env-ci-standin"):
        for tag in image.tags:
            docker_client.images.remove(tag)


def listing(client, image):
    output = client.containers.run(image, ["python", "-c", _LISTING, "/opt/venv"], remove=True, network_mode="none")
    return json.loads(output)


def test_the_layered_install_equals_a_one_layer_install(stand_in_kit, docker_client, tmp_path):
    repo, env, _ = stand_in_kit
    built = invoke_in(repo, "build", "--cuda", "12.1", env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    layered = "torch-env-ci-standin:cu121-pip"

    # The same build with ENV_LAYERS=single: every package in the last install step.
    settings = Settings.from_config(
        {
            "image_name": "torch-env-ci-standin-single",
            "base_image": env["INVOKE_ENVKIT_BASE_IMAGE"],
            "ca_cert": env.get("INVOKE_ENVKIT_CA_CERT", ""),
            "mirrors": env["INVOKE_ENVKIT_MIRRORS"],
        }
    )
    builder = capabilities.builder_for(docker_client)
    origin = provenance.Provenance("test", "test", "2026-01-01T00:00:00Z")
    argv = build.build_command(
        builder, plan.make(select("12.1"), settings), settings, origin, tmp_path / "iid", context=repo
    )
    single = "torch-env-ci-standin:single"
    argv[argv.index("--tag") + 1] = single
    result = proc.capture([*argv[:-1], "--build-arg", "ENV_LAYERS=single", argv[-1]], env=builder.env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    files = listing(docker_client, layered)
    assert files == listing(docker_client, single)
    assert "lib/python3.11/site-packages/torch/version.py" in files
    assert any(path.endswith(".pyc") for path in files)  # compiled, by each step, hash-based
    # Filesystem layers as every store lists them (history sizes differ between the classic and containerd
    # stores), less the empty ones: the containerd store keeps a RUN that wrote nothing as an empty tar.
    layers = lambda image: [  # noqa: E731
        layer for layer in docker_client.images.get(image).attrs["RootFS"]["Layers"] if layer != EMPTY_LAYER
    ]
    assert len(layers(layered)) > len(layers(single)), (layers(layered), layers(single))


def test_tiny_bench_measures_both_images_and_leaves_nothing_behind(stand_in_kit, docker_client):
    repo, env, _ = stand_in_kit
    before = {image.id for image in docker_client.images.list()}
    result = invoke_in(repo, "bench", "--cuda", "12.1", "--tiny", "--empty-build-cache", env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    report = json.loads((repo / "reports" / "bench" / "cu121-pip.json").read_text())
    assert (report["runs"], report["tiny"], report["one_pin"]) == (1, True, "filelock 4.0 -> 3.0")
    figures = {sample["contender"]: sample["figures"] for sample in report["samples"]}
    for contender in ("kit", "baseline"):
        got = figures[contender]
        assert got["edit_layers_rebuilt"] == 1, contender  # the examples layer, nothing else
        assert got["republish_bytes"] == 0, contender  # a new tag uploads no blob
        assert got["compressed_bytes"] <= got["first_push_bytes"] <= got["compressed_bytes"] + 20_000, contender
        assert got["one_pin_pull_bytes"] > 0 and got["pull_bytes"] > 0, contender
        assert "invoke_test_s" not in got  # tiny: the stand-in torch cannot run the examples
    kit = figures["kit"]
    # The kit's image as `invoke publish` ships it, once per compression its store can push (the bench
    # refuses a release whose layers went out otherwise); the baseline is not published.
    store = capabilities.store_of(docker_client.info())
    compressions = ("gzip", "zstd") if store == capabilities.CONTAINERD else ("gzip",)
    for compression in ("gzip", "zstd"):
        keys = {f"{compression}_{figure}" for figure in ("release_s", "push_s", "bytes", "pull_s")}
        if compression in compressions:
            assert keys <= kit.keys() and kit[f"{compression}_bytes"] > 0, kit
        else:
            assert not keys & kit.keys(), kit
    assert not [key for key in figures["baseline"] if key.startswith(("gzip_", "zstd_"))]
    # The one-pin change made new layers from the last part's COPY on (that part, its install step, the
    # recipe and the small COPYs after it, 7 at most), none of the five install layers before them.
    assert 2 <= kit["one_pin_layers_rebuilt"] <= 7
    assert kit["one_pin_push_bytes"] < 0.05 * kit["compressed_bytes"]
    assert kit["one_pin_pull_bytes"] < 0.05 * kit["compressed_bytes"]
    # The baseline's one RUN layer comes again whole: all that a pull of it fetches beside the base.
    assert figures["baseline"]["one_pin_pull_bytes"] > 0.9 * figures["baseline"]["pull_bytes"]
    assert report["download_rates"][0] > 0
    markdown = (repo / "reports" / "bench" / "cu121-pip.md").read_text()
    assert "| figure | kit | baseline | kit / baseline |" in markdown and "| target | holds | measured |" in markdown
    assert markdown in result.stdout
    # Nothing of the bench's is left: no image, tag, container or scratch folder.
    assert not docker_client.images.list("torch-env-bench")
    # by the name each was created from (a container whose image is gone has no c.image to ask)
    assert not [c for c in docker_client.containers.list(all=True) if "torch-env-bench" in c.attrs["Config"]["Image"]]
    assert {image.id for image in docker_client.images.list()} - before <= set()
    assert not [p for p in os.listdir("/tmp") if p.startswith("envkit-bench-")]


def test_bench_stops_cleanly_on_bad_input_before_it_empties_anything(stand_in_kit, docker_client, base_image):
    repo, env, _ = stand_in_kit
    result = invoke_in(repo, "bench", "--cuda", "12.1", "--runs", "0", "--empty-build-cache", env=env)
    assert result.returncode == 2 and "--runs 0: give a number of runs from 1 to 20." in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # An image under the bench's name that the bench did not make is refused, and left alone.
    docker_client.images.get(base_image).tag("torch-env-bench", "someone-elses")
    try:
        result = invoke_in(repo, "bench", "--cuda", "12.1", "--tiny", "--empty-build-cache", env=env)
        assert result.returncode == 2, result.stdout[-2000:] + result.stderr
        assert "torch-env-bench:someone-elses already exist(s)" in result.stderr
        assert docker_client.images.get("torch-env-bench:someone-elses")
    finally:
        docker_client.images.remove("torch-env-bench:someone-elses")

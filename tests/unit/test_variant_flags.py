"""The variant flags, declared once (envkit/catalog/flags.py): what Invoke sees
of each task, what the task's body receives, and the short flags users type."""

import contextlib
import copy
import inspect
import io
import re

import pytest
from invoke import Program

import tasks
from envkit.catalog.flags import NO_FLAGS, VariantFlags, variant_flags


def short_flags(name: str) -> dict[str, str]:
    """`invoke --help NAME`, in-process: each short flag and the long one it stands for."""
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit):
        Program(namespace=copy.deepcopy(tasks.ns), version="0").run(["invoke", "--help", name])
    return dict(re.findall(r"^  -([a-zA-Z])(?: [A-Z]+)?, --([a-z-]+)", shown.getvalue(), re.M))


def test_the_body_gets_one_variant_flags_and_its_own_arguments():
    seen = {}

    @variant_flags("cuda", "torch", "dev")
    def body(c, flags: VariantFlags, registry=None, dry_run=False):
        seen.update(c=c, flags=flags, registry=registry, dry_run=dry_run)

    assert list(inspect.signature(body).parameters) == ["c", "cuda", "torch", "registry", "dry_run", "dev"]
    body("context", cuda="12.1", dev=True, registry="reg.example.com/team")
    assert seen == {
        "c": "context",
        "flags": VariantFlags(cuda="12.1", dev=True),
        "registry": "reg.example.com/team",
        "dry_run": False,
    }
    body("context", "11.8")  # positionally, as Invoke may pass a positional flag
    assert seen["flags"] == VariantFlags(cuda="11.8") and seen["registry"] is None


def test_the_flags_stand_where_the_body_says_and_dev_and_arch_last():
    @variant_flags("cuda", "recipe", "torch", "python", "dev", "arch")
    def body(c, env=None, port=None, flags: VariantFlags = NO_FLAGS, image=None):
        return flags, env, image

    names = list(inspect.signature(body).parameters)
    assert names == ["c", "env", "port", "cuda", "recipe", "torch", "python", "image", "dev", "arch"]
    assert body("c", ["A=1"], arch="arm64", image="x") == (VariantFlags(arch="arm64"), ["A=1"], "x")
    defaults = {name: p.default for name, p in inspect.signature(body).parameters.items()}
    assert (defaults["recipe"], defaults["dev"], defaults["cuda"]) == ("pip", False, None)


def test_a_flag_that_is_no_variant_flag_or_a_body_without_flags_is_a_programming_error():
    with pytest.raises(TypeError, match="no flag gpu; the variant flags are cuda, recipe"):
        variant_flags("cuda", "gpu")
    with pytest.raises(TypeError, match="takes them as `flags`"):
        variant_flags("cuda")(lambda c, cuda=None: None)


@pytest.mark.parametrize(
    ("task", "declared"),
    [
        ("build", {"cuda", "recipe", "torch", "python", "dev", "arch"}),
        ("lab", {"cuda", "recipe", "torch", "python"}),
        ("bench", {"cuda", "torch", "python"}),
        ("drift", {"cuda", "recipe", "torch", "python", "arch"}),
    ],
)
def test_each_task_takes_the_variant_flags_it_declares(task, declared):
    parameters = set(inspect.signature(tasks.ns[task].body).parameters)
    variant = {field for field in VariantFlags.__dataclass_fields__ if field in parameters}
    assert variant == declared
    assert "flags" not in parameters


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        # What people type: a change here is a change of the command line.
        ("publish", {"d": "dry-run", "v": "dev", "a": "all", "h": "arch", "c": "cuda", "e": "registry", "r": "recipe"}),
        ("run", {"p": "port", "e": "env", "y": "python", "d": "dev", "c": "cuda", "i": "image"}),
        ("build", {"d": "dev", "n": "no-cache", "h": "arch", "a": "ca-cert", "c": "cuda", "p": "python"}),
        ("lock", {"d": "dev", "u": "upgrade", "h": "arch", "a": "ca-cert"}),
        ("lab", {"p": "port", "y": "python", "e": "env"}),
        ("pull", {"a": "all", "d": "dev", "h": "arch"}),
        ("bench", {"n": "tiny", "r": "runs", "c": "cuda"}),
    ],
)
def test_the_short_flags_stay_as_they_were(task, expected):
    shown = short_flags(task)
    assert {short: shown.get(short) for short in expected} == expected


def test_any_given():
    assert not VariantFlags().any_given()
    assert VariantFlags(recipe="conda").any_given() and VariantFlags(dev=True).any_given()
    assert VariantFlags(arch="all").every_arch and not VariantFlags(arch="arm64").every_arch

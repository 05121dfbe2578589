"""The parts of the examples that need no torch (the rest runs in every image)."""

import importlib.util

import pytest

from envkit import ROOT


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("raw", "text"), [(90100, "9.1.0"), (90501, "9.5.1"), (8902, "8.9.2"), (8700, "8.7.0"), (None, None)]
)
def test_cudnn_version_decoding(raw, text):
    assert load("verify_install").cudnn_version(raw) == text


def test_verify_install_reports_a_missing_torch_instead_of_a_traceback(capsys, monkeypatch):
    module = load("verify_install")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # import torch -> ImportError
    assert module.main([]) == 1
    assert "PyTorch is not installed correctly" in capsys.readouterr().err

"""A failed push takes back the tag it made, even when that tag is gone already."""

from types import SimpleNamespace

import docker
import pytest

from envkit.release.publish import _untag


def client_whose_remove_raises(error):
    calls = []

    def remove(reference, noprune):
        calls.append((reference, noprune))
        if error:
            raise error

    return SimpleNamespace(images=SimpleNamespace(remove=remove)), calls


def test_untag_removes_only_the_tag():
    client, calls = client_whose_remove_raises(None)
    _untag(client, "127.0.0.1:5000/team/torch-env:cu121-pip")
    assert calls == [("127.0.0.1:5000/team/torch-env:cu121-pip", True)]


def test_a_tag_removed_meanwhile_is_no_error():
    client, calls = client_whose_remove_raises(docker.errors.ImageNotFound("No such image"))
    _untag(client, "127.0.0.1:5000/team/torch-env:cu121-pip")
    assert len(calls) == 1


def test_other_engine_errors_still_surface():
    client, _ = client_whose_remove_raises(docker.errors.APIError("conflict: image is in use"))
    with pytest.raises(docker.errors.APIError):
        _untag(client, "127.0.0.1:5000/team/torch-env:cu121-pip")

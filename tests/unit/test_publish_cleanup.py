"""A failed push takes back the tag it made, even when that tag is gone
already; a push the daemon stops reporting on ends in one message."""

import contextlib
import http.server
import json
import socketserver
import threading
import time
from types import SimpleNamespace

import docker
import pytest

from envkit.core import engine
from envkit.release import publish
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


class _SilentPushDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers the Docker API on a unix socket as far as a push: the ping, the
    version, then one progress line of the push and silence, as a daemon
    whose layer waits on another push of it."""

    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):  # a unix socket has no client address
        return "stand-in"

    def log_message(self, *args):
        pass

    def _answer(self, body: bytes, kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/_ping"):
            self._answer(b"OK", "text/plain")
        else:
            self._answer(json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode())

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = b'{"status":"Waiting","id":"0123456789ab"}\r\n'
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()
        time.sleep(5)  # then nothing, longer than the push may stay quiet


def test_a_push_the_daemon_stops_reporting_fails_in_one_message(tmp_path, monkeypatch):
    socket_path = tmp_path / "docker.sock"
    server = _SilentPushDaemon(str(socket_path), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    monkeypatch.setattr(publish, "PUSH_QUIET_SECONDS", 1)
    try:
        pusher = engine.connect(timeout=publish.PUSH_QUIET_SECONDS)
        with (
            contextlib.closing(pusher),
            pytest.raises(publish.PublishFailed, match=r"the daemon stopped reporting the push \(.*nothing for 1 s"),
        ):
            publish._push(pusher, "127.0.0.1:5000/team/torch-env", "cu121-pip")
    finally:
        server.shutdown()
        server.server_close()

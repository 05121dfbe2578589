"""SIGINT or SIGTERM to `invoke lock`, while it checks the index and while uv
resolves: the task exits 130/143, uv is stopped, and neither the new
variant's input, nor a lock, nor a scratch folder is left in env/pip."""

import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers.checkout import copy_repo

HANG_SECONDS = 60


class HangingIndex(http.server.ThreadingHTTPServer):
    """Answers HEAD (the kit's reachability check) or GET (uv's requests)
    only after a long pause, so a signal can arrive in the middle."""

    daemon_threads = True

    def __init__(self, hang_on):
        index = self
        self.released = threading.Event()  # set on shutdown: no handler outlives the test

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, method):
                index.requests.append(method)
                if method == hang_on:
                    index.released.wait(HANG_SECONDS)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                if method == "GET":
                    self.wfile.write(b"<html><body></body></html>")

            def do_HEAD(self):
                self._answer("HEAD")

            def do_GET(self):
                self._answer("GET")

            def log_message(self, *args):
                pass

        self.requests = []
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        """The kit hangs up on us mid-answer: that is the point, not an error to print."""

    def close(self):
        self.released.set()
        self.shutdown()
        self.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/simple"


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("hang_on", ["HEAD", "GET"], ids=["while-checking-the-index", "while-uv-resolves"])
def test_an_interrupted_lock_leaves_nothing(tmp_path, hang_on, number):
    repo = copy_repo(tmp_path / "kit")
    before = sorted(os.listdir(repo / "env" / "pip"))
    index = HangingIndex(hang_on)
    env = {**os.environ, "INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={index.url}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "lock", "--torch", "2.5.1", "--cuda", "12.4"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: hang_on in index.requests)
        if hang_on == "GET":  # uv is running: the new input is written, the scratch folder made
            assert (repo / "env" / "pip" / "cu124-torch2.5.1.in").exists()
        process.send_signal(number)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        index.close()
    assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[number], stderr
    assert "stopped, and cleaned up what this task had started" in stderr and "Traceback" not in stderr
    assert sorted(os.listdir(repo / "env" / "pip")) == before
    uv_left = subprocess.run(["pgrep", "-f", f"uv pip compile.*{repo}"], capture_output=True, text=True)
    assert uv_left.stdout == "", "uv still runs"

"""A folder of wheels served on the loopback, for uv to install from."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """The folder's wheels over HTTP on the loopback (which a build with no
    network still has). uv records a wheel installed from a local path with
    its file's time (dist-info/uv_cache.json, listed in RECORD): served, it
    installs exactly as from an index, and rebuilds stay byte-identical."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()

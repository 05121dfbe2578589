"""A kernel on a running Jupyter server, driven as JupyterLab in a browser
drives it: started and shut down through the REST API, its messages built by
jupyter_client's Session and carried over the kernel's websocket. Every
request carries the server's token."""

from __future__ import annotations

import json
import time
from types import TracebackType

import requests
import websocket
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session


class RemoteKernel:
    """`with RemoteKernel(url, token) as kernel: kernel.run("print(1)")`"""

    def __init__(self, url: str, token: str, name: str = "python3") -> None:
        self.url = url.rstrip("/")
        self.auth = {"Authorization": f"token {token}"}
        self.name = name
        self.session = Session(key=b"")  # the server signs what it forwards to the kernel
        self.kernel_id = ""
        self.socket: websocket.WebSocket | None = None

    def __enter__(self) -> RemoteKernel:
        started = requests.post(f"{self.url}/api/kernels", json={"name": self.name}, headers=self.auth, timeout=60)
        started.raise_for_status()
        self.kernel_id = started.json()["id"]
        channels = f"{self.url.replace('http', 'ws', 1)}/api/kernels/{self.kernel_id}/channels"
        self.socket = websocket.create_connection(
            channels, header=[f"{key}: {value}" for key, value in self.auth.items()], timeout=120
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.kernel_id:
            requests.delete(f"{self.url}/api/kernels/{self.kernel_id}", headers=self.auth, timeout=60)

    def run(self, code: str, timeout: float = 120) -> tuple[str, str]:
        """Execute `code`; (its execute_reply status, what it printed)."""
        assert self.socket is not None, "use RemoteKernel as a context manager"
        content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
        request = self.session.msg("execute_request", content)
        request["channel"] = "shell"
        self.socket.send(json.dumps(request, default=json_default))
        printed, status, idle = [], "", False
        deadline = time.monotonic() + timeout
        while not (status and idle):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to {code!r} within {timeout} s")
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                printed.append(message["content"]["text"])
            elif kind == "error":
                printed.append("\n".join(message["content"]["traceback"]))
            elif kind == "execute_reply":
                status = message["content"]["status"]
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
        return status, "".join(printed)

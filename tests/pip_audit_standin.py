"""pip-audit, the real program, with only its connection to PyPI replaced:
the JSON API (out of reach here) is answered from a file of advisories, in
the shape PyPI serves them. So the tests judge pip-audit's own output.

    python tests/pip_audit_standin.py ADVISORIES.json PIP-AUDIT-ARGS...

ADVISORIES.json maps "name==version" to PyPI's `vulnerabilities` list; any
other package is answered with no vulnerabilities.
"""

import json
import sys

import requests
from requests.adapters import BaseAdapter


class AdvisoryFeed(BaseAdapter):
    def __init__(self, advisories: dict) -> None:
        super().__init__()
        self.advisories = advisories

    def send(self, request, **kwargs):
        # https://pypi.org/pypi/NAME/VERSION/json
        name, version = request.url.split("/pypi/", 1)[1].split("/")[:2]
        body = {"info": {"name": name, "version": version}, "urls": []}
        if found := self.advisories.get(f"{name}=={version}"):
            body["vulnerabilities"] = found
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def main() -> None:
    with open(sys.argv[1]) as handle:
        advisories = json.load(handle)
    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.mount("https://pypi.org/", AdvisoryFeed(advisories))

    requests.Session.__init__ = init
    from pip_audit._cli import audit

    sys.argv = ["pip-audit", *sys.argv[2:]]
    audit()


if __name__ == "__main__":
    main()

"""A JSON API on loopback for the SaaS source tests: subclasses answer `route()`; this class
serves it on a free port, logs every request, and injects faults (scripted answers, or a fault
cycle of 429s and 5xx before every ``fault_every``-th request)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Answer = tuple[int, dict[str, str], Any]  # status, headers, body (a JSON value, or bytes/str sent as is)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    at: float
    status: int = 0


class JsonApi:
    def __init__(self, fault_every: int = 0) -> None:
        self.fault_every = fault_every
        self.faults: list[tuple[int, dict[str, str]]] = [(429, {"Retry-After": "0"}), (503, {})]
        self.scripted: list[Answer] = []  # answered first, in order, whatever the request
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.served: Counter[int] = Counter()
        self._counted = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = api.handle(self.command, self.path, raw, dict(self.headers.items()))
                if isinstance(body, bytes | str):
                    data = body.encode() if isinstance(body, str) else body
                    headers = {"Content-Type": "text/html", **headers}
                else:
                    data = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def handle(self, method: str, raw_path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        url = urlparse(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        request = Request(method, url.path, query, body, {k.lower(): v for k, v in headers.items()}, time.time())
        with self.lock:
            self.requests.append(request)
            answer = self._answer(request)
            request.status = answer[0]
            self.served[answer[0]] += 1
        return answer

    def _answer(self, request: Request) -> Answer:
        if self.scripted:
            return self.scripted.pop(0)
        if self.fault_every and not self.exempt(request):
            self._counted += 1
            cycle = len(self.faults) + 1
            slot = (self._counted - 1) % (cycle * self.fault_every)
            if slot < len(self.faults):
                status, headers = self.faults[slot]
                return status, headers, {"error": "injected fault"}
        return self.route(request)

    def exempt(self, request: Request) -> bool:
        """Requests the fault cycle leaves alone (e.g. a token endpoint)."""
        return False

    def route(self, request: Request) -> Answer:
        raise NotImplementedError

    def count(self, path_prefix: str, status: int | None = None) -> int:
        return sum(
            1 for r in self.requests if r.path.startswith(path_prefix) and (status is None or r.status == status)
        )

    def __enter__(self) -> JsonApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

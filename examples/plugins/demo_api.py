"""A small paginated JSON API to try `http_api_reader.py` against: `python demo_api.py --port 8765`.

GET /orders?limit=N&region=R&cursor=C -> {"data": [...], "next": "/orders?...cursor=..."}
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGIONS = ("eu", "us", "apac")
ORDERS = [
    {
        "id": i,
        "region": REGIONS[i % len(REGIONS)],
        "customer": f"customer-{i % 17:02d}",
        "amount": round(10 + (i * 7.31) % 490, 2),
        "paid": i % 4 != 0,
        "created_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
    }
    for i in range(1, 301)
]


class OrdersApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path != "/orders":
            self._send(404, {"error": "not found"})
            return
        limit = int(query.get("limit", 25))
        cursor = int(query.get("cursor", 0))
        rows = [o for o in ORDERS if query.get("region") in (None, o["region"])]
        page = rows[cursor : cursor + limit]
        following = None
        if cursor + limit < len(rows):
            following = "/orders?" + urllib.parse.urlencode({**query, "cursor": cursor + limit})
        self._send(200, {"data": page, "next": following})

    def _send(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), OrdersApi)
    print(f"serving http://127.0.0.1:{server.server_port}/orders", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

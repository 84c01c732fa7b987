"""Re-run the certification of every entry of a plugin index and record it in the index.

    python scripts/certify_index.py [plugins/index.yaml] [--only NAME ...]

For each entry with a `certify:` list, each run (`plugin`, `config` relative to the index, `kind`)
goes through `dativo plugins certify`; the reports are written beside the index under
`reports/<entry>.json` (a list, one report per run), and the latest version's `certification`
becomes {date, passed, dativo_version, failed, report}. The examples' HTTP reader needs its demo
API: it is started on a free loopback port for the run (DEMO_API_URL).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
HEADER = """\
# The plugin index of the repository: Dativo's built-in connectors and the examples of
# examples/plugins, with their certification (`dativo plugins certify`). Point a runner at it with
# `runner.plugin_index: plugins/index.yaml` (or DATIVO_PLUGIN_INDEX). Regenerate the
# certifications with `python scripts/certify_index.py` (docs/plugins.md, Plugin index).
"""


@contextlib.contextmanager
def demo_api() -> Iterator[None]:
    sys.path.insert(0, str(REPO / "examples" / "plugins"))
    from demo_api import OrdersApi  # type: ignore[import-not-found]

    server = ThreadingHTTPServer(("127.0.0.1", 0), OrdersApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["DEMO_API_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield
    finally:
        server.shutdown()


def setup_services() -> None:
    """The table the postgres and mysql sample configs certify against: 3000 orders."""
    import psycopg
    import pymysql

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as pg:
        pg.execute("DROP SCHEMA IF EXISTS dativo_certify CASCADE")
        pg.execute("CREATE SCHEMA dativo_certify")
        pg.execute(
            "CREATE TABLE dativo_certify.orders "
            "(id bigint PRIMARY KEY, amount numeric(12,2), note text, at timestamptz)"
        )
        pg.execute(
            "INSERT INTO dativo_certify.orders SELECT g, g * 1.25, 'n' || g, "
            "timestamptz '2024-01-01' + g * interval '1 min' FROM generate_series(1, 3000) g"
        )
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with my.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS dativo_certify")
        cur.execute("CREATE DATABASE dativo_certify")
        cur.execute(
            "CREATE TABLE dativo_certify.orders "
            "(id bigint PRIMARY KEY, amount decimal(12,2), note text, at datetime(6))"
        )
        rows = [(n, n * 1.25, f"n{n}", f"2024-01-01 {n % 24:02d}:00:00") for n in range(1, 3001)]
        cur.executemany("INSERT INTO dativo_certify.orders VALUES (%s, %s, %s, %s)", rows)
    my.close()


def main() -> int:
    from dativo_workers.certify import certify, load_subject
    from dativo_workers.plugin_index import load_index

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("index", nargs="?", default=str(REPO / "plugins" / "index.yaml"))
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--setup-services",
        action="store_true",
        help="first (re)create dativo_certify.orders in the local PostgreSQL (db test) and MariaDB",
    )
    args = parser.parse_args()
    if args.setup_services:
        setup_services()
    path = Path(args.index).resolve()
    index = load_index(str(path))  # validates it first
    data = yaml.safe_load(path.read_text())
    reports_dir = path.parent / "reports"
    reports_dir.mkdir(exist_ok=True)
    failed_any = False
    with demo_api():
        for entry, raw in zip(index.plugins, data["plugins"], strict=True):
            if not entry.certify or (args.only and entry.name not in args.only):
                continue
            reports = []
            for run in entry.certify:
                with contextlib.ExitStack() as stack:
                    if run.loopback:  # the connector's service, played by its tests' loopback API
                        sys.path.insert(0, str(REPO))
                        from tests.integration.certify_cases import CASES

                        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dativo-certify-")))
                        config = stack.enter_context(CASES[run.loopback](tmp))
                    else:
                        config = (path.parent / run.config).resolve() if run.config else None
                    report = certify(load_subject(run.plugin, config, run.kind))
                data_report = report.to_dict()
                if run.loopback:
                    data_report["config"] = f"tests/integration/certify_cases.py:{run.loopback} (loopback API)"
                reports.append(data_report)
                verdict = "passed" if report.passed else f"FAILED {report.failed()}"
                print(f"{entry.name}: {report.kind} {report.plugin} {verdict} ({report.duration_s}s)", flush=True)
            report_path = reports_dir / f"{entry.name}.json"
            report_path.write_text(json.dumps(reports, indent=1) + "\n")
            passed = all(r["passed"] for r in reports)
            failed_any |= not passed
            latest = max(raw["versions"], key=lambda v: [int(p) if p.isdigit() else 0 for p in v["version"].split(".")])
            latest["certification"] = {
                "date": min(r["date"] for r in reports),
                "passed": passed,
                "dativo_version": reports[0]["dativo_version"],
                "failed": sorted(
                    {f"{r['plugin']}:{c['id']}" for r in reports for c in r["checks"] if c["status"] == "fail"}
                ),
                "report": str(report_path.relative_to(path.parent)),
            }
    path.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())

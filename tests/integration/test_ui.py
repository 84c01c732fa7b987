"""`dativo ui`: the runs dashboard of real runs, loaded in a real headless browser (Debian's
chromium driven by selenium through the system chromedriver), with its token auth over HTTP."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.integration.services import service_unavailable

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "ui-test-token-0123456789abcdef"

JOB = """
tenant_id: acme
name: evo
source:
  connector: csv
  files: [{path: data/*.csv}]
target:
  namespace: acme
  table: evo
"""


def _get(url: str, token: str | None = None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server(workspace: Workspace) -> Iterator[tuple[str, dict[str, str]]]:
    """Two real runs (three partitions, one failing; then two, committed) and `dativo ui` serving
    them in a process of its own, bound beyond loopback so its token is required."""
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,1.5\n2,2.5\n")
    ws.write("data/b.csv", "id,v\n3,3.5\n")
    ws.write("data/c.csv", "id,v\n4,x\n")
    job = ws.job("job.yaml", JOB)
    failed = ws.run(job)
    assert failed["state"] == "failed" and failed["partitions_total"] == 3
    (ws.root / "data/c.csv").unlink()
    committed = ws.run(job)
    assert committed["state"] == "committed"
    env = {
        **os.environ,
        "DATIVO_RUNNER_CONFIG": str(ws.runner_file),
        "DATIVO_SECRET__GLOBAL__DATIVO_UI_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dativo_workers.cli", "ui", "--host", "0.0.0.0", "--port", "0"],
        cwd=ws.root,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://0\.0\.0\.0:(\d+)/ \(read-only, token required\)", line)
        assert found, line
        yield f"http://127.0.0.1:{found.group(1)}", {"failed": failed["run_id"], "committed": committed["run_id"]}
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit 0
        assert proc.wait(timeout=20) == 0
        rest = proc.stderr.read() if proc.stderr else ""
        assert TOKEN not in rest and "Traceback" not in rest, rest


def test_dashboard_in_a_headless_browser(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    if not (CHROMIUM and CHROMEDRIVER):  # a failure like a missing service, a skip only when allowed
        service_unavailable("chromium + chromedriver", "PATH", "scripts/test.sh installs them as root (apt-get)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    base, run_ids = server
    # the token over HTTP: none or a wrong one is refused, the right one accepted; read-only
    assert _get(f"{base}/")[0] == 401
    assert _get(f"{base}/api/runs", token="x" * len(TOKEN))[0] == 401
    status, body = _get(f"{base}/api/runs", token=TOKEN)
    assert status == 200 and run_ids["failed"] in body
    assert _get(f"{base}/", token=TOKEN, method="POST")[0] == 405

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        browser.set_page_load_timeout(30)
        browser.get(f"{base}/")
        assert "401" in browser.find_element(By.TAG_NAME, "body").text  # no token, no page
        browser.get(f"{base}/?token={TOKEN}")  # sets the cookie, redirects to the page without it
        assert "token=" not in browser.current_url
        rows = {
            r.get_attribute("data-run-id"): r.get_attribute("data-state")
            for r in browser.find_elements(By.CSS_SELECTOR, "#runs tr.run")
        }
        assert rows == {run_ids["failed"]: "failed", run_ids["committed"]: "committed"}

        browser.find_element(By.LINK_TEXT, run_ids["failed"]).click()
        bars = browser.find_elements(By.CSS_SELECTOR, "svg.timeline rect.partition-bar")
        assert len(bars) == 3  # one bar per partition
        assert sorted(b.get_attribute("class").split()[-1] for b in bars) == [
            "state-done",
            "state-done",
            "state-failed",
        ]
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "cannot convert 'x'" in page and "c.csv" in page
        assert all(b.size["width"] >= 3 for b in bars)
        shot = tmp_path / "ui-run.png"  # the failed run: its timeline, the failing partition's error
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"dashboard screenshot: {shot}")

        browser.get(f"{base}/runs/{run_ids['committed']}")
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.timeline rect.partition-bar")) == 2
        mine = browser.find_elements(By.CSS_SELECTOR, "#snapshots tr.snapshot.this-run")
        assert len(mine) == 1 and run_ids["committed"] in mine[0].text  # the snapshot's run tag
        columns = [c.text.split()[0] for c in browser.find_elements(By.CSS_SELECTOR, "#columns tr")[1:]]
        assert columns == ["id", "v"]
        assert "creates the table" in browser.find_element(By.TAG_NAME, "body").text  # schema changes

        browser.get(f"{base}/jobs/acme/evo")
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.series")) == 2
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.series[data-key=duration_s] circle.point")) == 2
        browser.save_screenshot(str(tmp_path / "ui-job.png"))
    finally:
        browser.quit()


def test_beyond_loopback_without_a_token_it_refuses_to_start(workspace: Workspace) -> None:
    refused = workspace.cli("ui", "--host", "0.0.0.0", "--port", "0")
    assert refused.code == 2
    assert "refusing to start the dashboard: --host 0.0.0.0 is not loopback" in refused.stderr
    assert "dativo_ui_token" in refused.stderr
    short = workspace.cli("ui", "--host", "0.0.0.0", "--port", "0", env={"DATIVO_SECRET__GLOBAL__DATIVO_UI_TOKEN": "x"})
    assert short.code == 2 and "under 16 characters" in short.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = workspace.cli("ui", "--port", str(port))
    assert busy.code == 2 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_an_active_run_shows_its_progress_and_the_page_refreshes(workspace: Workspace) -> None:
    """The live view of a real active run: submitted to a queue no worker consumes, it stays
    running with its partitions pending; the page reloads itself while it does. An unknown run is
    a 404 page; `--tenant` hides other tenants' runs (in process: Starlette's test client)."""
    import redis
    from starlette.testclient import TestClient

    from dativo_workers.config import load_runner
    from dativo_workers.ui.app import create_app
    from dativo_workers.ui.data import Dashboard

    ws = workspace
    ledger = ws.ledger()
    runner = load_runner(ws.runner_file)
    empty = TestClient(create_app(Dashboard(runner, ledger))).get("/")
    assert empty.status_code == 200 and "No runs in the ledger" in empty.text
    ws.write("data/a.csv", "id,v\n1,1.5\n")
    ws.write("data/b.csv", "id,v\n2,2.5\n")
    queue = f"dativo-ui-test-{os.getpid()}"  # no worker consumes it
    submitted = ws.cli("submit", str(ws.job("job.yaml", JOB)), "--queue", queue, "--json")
    redis.Redis.from_url(os.environ["DATIVO_BROKER_URL"]).delete(queue)  # the messages no one will take
    assert submitted.code == 0, submitted.stderr
    run_id = submitted.json["run_id"]
    client = TestClient(create_app(Dashboard(runner, ledger)))
    listing = client.get("/")
    assert listing.status_code == 200 and '<meta http-equiv="refresh"' in listing.text
    assert 'data-state="running"' in listing.text or 'data-state="pending"' in listing.text
    assert "0/2" in listing.text
    (listed,) = client.get("/api/runs").json()["runs"]
    assert listed["active"] is True and listed["progress"] == 0.0
    run = client.get(f"/runs/{run_id}")
    assert run.status_code == 200 and '<meta http-equiv="refresh"' in run.text
    assert run.text.count('class="partition-bar state-pending"') == 2  # not started: grey marks
    assert "the table does not exist (yet)" in run.text
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404
    assert client.delete("/").status_code == 405
    other = TestClient(create_app(Dashboard(runner, ledger, tenant="globex")))  # dativo ui --tenant globex
    assert 'class="run"' not in other.get("/").text and 'class="run"' not in other.get("/?tenant=acme").text
    assert other.get(f"/runs/{run_id}").status_code == 404
    assert other.get("/api/runs").json() == {"runs": []}

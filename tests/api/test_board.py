"""The live board in headless Chromium against a running pipeline (api, ingest, streams, sinks).

What an on-call person sees: the open incident listed, a new one appearing without a reload, and
Acknowledge turning the row's status to ACKNOWLEDGED through the real path (API → commands topic →
streams worker → incidents topic → sinks → Postgres, and the API's live stream → the page).
The browser is Debian's `chromium` driven by selenium through Debian's `chromedriver` (no download).
"""

from __future__ import annotations

import struct
import threading
import time
import zlib

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from tests.harness import api_client, create_key, free_port, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 800)
HOSTILE_HOST = "a<img>b"  # markup in a label: the page must show it as text
ACTOR = "alice <on-call>"

RULES = """
rules:
  - {id: cpu, alert: HighCPU, metric: cpu_usage, op: ">", threshold: 90, labels: {severity: critical}}
"""
ALERTING = """
route:
  receiver: ops
  group_by: [alertname, host]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - {name: ops, slack_configs: [{api_url: "http://127.0.0.1:9/unused"}]}
"""


def start_browser() -> webdriver.Chrome:
    """Headless Chromium at a fixed window size (root needs --no-sandbox)."""
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser():
    """Chromium starts while the pipeline does (it takes ~1-2 s); quit before the API stops."""
    started: dict = {}

    def launch() -> None:
        try:
            started["driver"] = start_browser()
        except Exception as exc:  # reported by the test, with its cause
            started["error"] = exc

    thread = threading.Thread(target=launch, daemon=True)
    thread.start()

    def get() -> webdriver.Chrome:
        thread.join(60)
        if "error" in started:
            raise started["error"]
        return started["driver"]

    yield get
    thread.join(60)
    if "driver" in started:
        started["driver"].quit()


@pytest.fixture
def pipeline(vigil_env, tmp_path):
    """api, ingest, streams and sinks with one threshold rule grouped by host; the API's base URL."""
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "alerting.yaml").write_text(ALERTING)
    ports = {name: free_port() for name in ("ingest", "streams", "sinks", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
           "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]), "VIGIL_API_PORT": str(ports["api"]),
           "VIGIL_DATA_DIR": str(tmp_path / "faust"), "VIGIL_RULES_FILE": str(tmp_path / "rules.yaml"),
           "VIGIL_ALERTING_CONFIG": str(tmp_path / "alerting.yaml")}
    for name in ("api", "ingest", "streams", "sinks"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    api = api_client(vigil_env, ports["api"])
    ingest = httpx.Client(base_url=f"http://127.0.0.1:{ports['ingest']}", timeout=20)
    yield api, ingest, create_key(vigil_env.dsn, "operator", "board-operator")
    api.close()
    ingest.close()


def write(ingest: httpx.Client, host: str) -> None:
    """A CPU sample over the threshold for `host`, stamped now, through ingest's line protocol."""
    answer = ingest.post("/write?precision=ms", content=f"cpu,host={host} usage=99 {int(time.time() * 1000)}")
    assert answer.status_code == 204, answer.text


def incident_of(api: httpx.Client, host: str) -> dict | None:
    items = api.get("/api/v1/incidents", params={"label": f"host={host}"}).json()["items"]
    return items[0] if items else None


def png_chunks(png: bytes) -> tuple[tuple, bytes]:
    """A PNG's header fields (width, height, depth, colour type, …) and its image data, still compressed."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, header = 8, [], None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data.append(body)
        pos += 12 + length
    return header, b"".join(data)


def png_colours(png: bytes) -> int:
    """How many distinct colours an 8-bit, non-interlaced RGB(A) PNG holds (as Chromium writes them)."""
    (width, height, depth, colour, _, _, interlace), data = png_chunks(png)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 4 if colour == 6 else 3
    stride = width * bpp
    raw = zlib.decompress(data)
    previous, colours = bytearray(stride), set()
    for y in range(height):  # undo each row's filter (PNG specification, section 9)
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        row = bytearray(stride)
        for x in range(stride):
            a = row[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = a
            elif kind == 2:
                predictor = b
            elif kind == 3:
                predictor = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            row[x] = (line[x] + predictor) & 0xFF
        colours.update(bytes(row[i:i + bpp]) for i in range(0, stride, bpp))
        previous = row
    return len(colours)


def unstale(action, attempts: int = 5):
    """Run a step on freshly found elements, again if the board re-rendered them meanwhile."""
    for attempt in range(attempts):
        try:
            return action()
        except StaleElementReferenceException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def test_board_lists_updates_live_and_acknowledges(pipeline, browser, tmp_path):
    api, ingest, operator_key = pipeline
    base = str(api.base_url).rstrip("/")
    write(ingest, HOSTILE_HOST)
    first = wait_until(lambda: incident_of(api, HOSTILE_HOST), timeout=30, message="the first incident in the API")

    driver = browser()
    driver.get(f"{base}/board")
    driver.find_element(By.ID, "key").send_keys(operator_key)
    driver.find_element(By.ID, "actor").send_keys(ACTOR)
    driver.find_element(By.ID, "connect").click()
    row_of = lambda key: driver.find_elements(By.CSS_SELECTOR, f'tr[data-key="{key}"]')  # noqa: E731
    wait_until(lambda: row_of(first["incident_key"]), timeout=10, message="the open incident on the board")
    wait_until(lambda: driver.find_element(By.ID, "state").text == "live", timeout=10, message="the board live")
    row = row_of(first["incident_key"])[0]
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "OPEN"
    assert f"host={HOSTILE_HOST}" in row.find_element(By.CSS_SELECTOR, ".labels").text  # shown as text…
    assert driver.find_elements(By.CSS_SELECTOR, "#incidents img") == []  # …never as markup

    # A new incident appears without a reload (the marker would vanish with one).
    driver.execute_script("window.vigilTestNoReload = true;")
    write(ingest, "b")
    second = wait_until(lambda: incident_of(api, "b"), timeout=30, message="the second incident in the API")
    wait_until(lambda: row_of(second["incident_key"]), timeout=10, message="the new incident on the board, live")
    assert driver.execute_script("return window.vigilTestNoReload === true;"), "the board reloaded"

    # Acknowledge: the status changes once the worker's transition came back through the stream.
    unstale(lambda: row_of(first["incident_key"])[0].find_element(By.CSS_SELECTOR, "button.ack").click())
    # The board re-renders a row on each change: read it in one script, so no element goes stale between steps.
    status_of = lambda key: driver.execute_script(  # noqa: E731
        "const r = document.querySelector(`tr[data-key=\"${arguments[0]}\"]`);"
        "return r && [r.dataset.status, r.querySelector('.status').textContent];", key)
    wait_until(lambda: status_of(first["incident_key"]) == ["ACKNOWLEDGED", "ACKNOWLEDGED"], timeout=20,
               message="the row acknowledged")
    assert driver.execute_script("return window.vigilTestNoReload === true;"), "the board reloaded"
    stored = api.get(f"/api/v1/incidents/{first['incident_key']}").json()
    assert (stored["status"], stored["acknowledged_by"]) == ("ACKNOWLEDGED", ACTOR)

    # The timeline of the clicked incident, with who acknowledged it (as text).
    unstale(lambda: row_of(first["incident_key"])[0].find_element(By.CSS_SELECTOR, ".title").click())
    wait_until(lambda: "ACKNOWLEDGED" in driver.find_element(By.ID, "timeline").text, timeout=10,
               message="the timeline with the acknowledgement")
    assert f"by {ACTOR}" in driver.find_element(By.ID, "timeline").text

    shot = tmp_path / "board.png"
    assert driver.save_screenshot(str(shot)), "no screenshot"
    (width, height, *_), _ = png_chunks(shot.read_bytes())
    viewport = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    assert [width, height] == viewport and width == WINDOW[0], (
        f"screenshot {shot} is {width}x{height}, the viewport {viewport}")
    row_png = unstale(lambda: row_of(first["incident_key"])[0].screenshot_as_png)
    (_, row_height, *_), _ = png_chunks(row_png)
    colours = png_colours(row_png)
    assert row_height >= 20 and colours > 20, f"the incident's row looks blank ({colours} colours); see {shot}"

    # Resolve: the incident leaves the list once its RESOLVED transition arrives.
    unstale(lambda: row_of(second["incident_key"])[0].find_element(By.CSS_SELECTOR, "button.resolve").click())
    wait_until(lambda: not row_of(second["incident_key"]), timeout=20, message="the resolved incident gone")
    assert row_of(first["incident_key"]), "the acknowledged incident left the board too"
    assert driver.execute_script("return window.vigilTestNoReload === true;"), "the board reloaded"

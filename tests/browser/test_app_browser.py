"""The app in a real browser: `streamlit run app.py` on the shipped model, driven with Playwright and Debian's Chromium.

Picks a sample, checks in screenshots that the 3-D skeleton's canvas and the focus heatmap hold painted pixels,
reports the time to the first painted plot, and saves a screenshot of every page (to $STF_SCREENSHOT_DIR, e.g. docs/screenshots, else a temporary folder).
Runs under CI=true (and fails there without /usr/bin/chromium); elsewhere it skips without Chromium.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--enable-unsafe-swiftshader"]
# Screenshots go to a temporary folder; `STF_SCREENSHOT_DIR=docs/screenshots` regenerates the README's.
SHOTS_ENV = "STF_SCREENSHOT_DIR"
VIEWPORT = {"width": 1440, "height": 1700}
# share of a canvas's pixels that must be colour-mapped focus markers: a few joints' worth (a trained model's
# focus can sit on one joint, leaving the others small and dark)
MIN_COLOURED = 0.0003
# sums the duration (ms) of the page's long tasks (main-thread work of 50 ms or more) into window.__stfLongTasks
LONG_TASKS_JS = ("window.__stfLongTasks = 0; new PerformanceObserver(l => l.getEntries().forEach("
                 "e => { window.__stfLongTasks += e.duration; })).observe({entryTypes: ['longtask']});")


def _need_browser():
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} not found (install it: apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the playwright package is missing: {e}")
        pytest.skip(f"the playwright package is missing: {e}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(shipped_env, tmp_path_factory):
    """`streamlit run app.py` on a free port, with its own runs folder and a worker that may start."""
    _need_browser()
    runs_dir = tmp_path_factory.mktemp("browser-runs")
    port = _free_port()
    env = dict(os.environ, **{k: v for k, v in shipped_env.items() if k not in ("SMALL_STORE", "BUNDLE")})
    env.update(STF_RUNS_DIR=str(runs_dir), STF_APP_START_WORKER="1", STF_WORKER_IDLE_EXIT="5")
    log = open(runs_dir / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError("streamlit did not start:\n" + (runs_dir / "streamlit.log").read_text()[-3000:])
        time.sleep(0.3)
    yield {"url": url, "runs_dir": runs_dir, "small": shipped_env["SMALL_STORE"],
           "bundle": Path(shipped_env["BUNDLE"])}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    _stop_workers(runs_dir)


def _stop_workers(runs_dir: Path) -> None:
    """End the workers the app started (their pids are in the registry's rows), if still alive."""
    from stf import runs

    db = runs_dir / "runs.sqlite"
    if not db.exists():
        return
    with runs.Registry(db) as reg:
        pids = {r.worker_pid for r in reg.list() if r.worker_pid}
    for pid in pids:
        try:
            os.kill(pid, 15)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# -- pixel checks ---------------------------------------------------------------------------------------
def _image(png: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.size, "empty screenshot"
    return img


def painted(png: bytes) -> dict[str, float]:
    """Share of pixels that differ from the background (the most common colour) and of coloured pixels."""
    import cv2

    img = _image(png)
    flat = img.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    bg = colours[counts.argmax()].astype(int)
    differ = (np.abs(flat.astype(int) - bg).sum(1) > 40).mean()
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    coloured = ((hsv[:, 1] > 80) & (hsv[:, 2] > 50)).mean()
    return {"differ": float(differ), "coloured": float(coloured), "pixels": int(len(flat))}


def _idle(page, timeout=90_000):
    """Wait until Streamlit's script run is over (its status widget gone)."""
    page.wait_for_timeout(250)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)


def _combo(page, label: str):
    return page.get_by_role("combobox", name=re.compile("^" + re.escape(label))).first


def _shot(page, selector: str, timeout: float = 60.0) -> bytes:
    """Screenshot of the first element matching ``selector``, looked up again while Plotly replaces it.

    A Streamlit rerun redraws a figure by replacing its canvas / image nodes; an element located just
    before that is "not attached to the DOM" by the time the screenshot is taken.
    """
    from playwright.sync_api import Error as PlaywrightError

    t0 = time.perf_counter()
    while True:
        try:
            return page.locator(selector).first.screenshot(timeout=int(timeout * 1000))
        except PlaywrightError as e:
            if "not attached" not in str(e) or time.perf_counter() - t0 > timeout:
                raise
        page.wait_for_timeout(100)


def _wait_painted(page, selector: str, min_coloured: float, timeout: float = 60.0) -> tuple[float, dict]:
    """Seconds until the element's screenshot holds at least ``min_coloured`` coloured pixels."""
    t0 = time.perf_counter()
    page.locator(selector).first.wait_for(state="visible", timeout=int(timeout * 1000))
    while True:
        stats = painted(_shot(page, selector, timeout))
        if stats["coloured"] >= min_coloured or time.perf_counter() - t0 > timeout:
            return time.perf_counter() - t0, stats
        page.wait_for_timeout(100)


def test_app_in_chromium(server, browser, capsys, tmp_path):
    SHOTS = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(LONG_TASKS_JS)
    report = {}

    # first load: time to the first painted plot (the 3-D skeleton's WebGL canvas)
    frames: list[float] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(time.perf_counter())))
    t0 = time.perf_counter()
    page.goto(server["url"])
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    report["first_plot_attached_s"] = time.perf_counter() - t0
    _, stats = _wait_painted(page, ".st-key-fig_skeleton canvas", MIN_COLOURED, timeout=120)
    report["first_painted_plot_s"] = time.perf_counter() - t0
    report["first_last_server_message_s"] = (frames[-1] - t0) if frames else float("nan")
    report["first_browser_busy_s"] = page.evaluate("window.__stfLongTasks") / 1000
    _idle(page)
    report["first_page_complete_s"] = time.perf_counter() - t0

    # pick a sample in the sidebar (the third of the list)
    before = _combo(page, "Sample").input_value()
    _combo(page, "Sample").click()
    page.get_by_role("option").nth(2).click()
    t1 = time.perf_counter()
    _idle(page)
    chosen = _combo(page, "Sample").input_value()
    assert chosen != before
    sid = chosen.split(" ")[0]
    page.wait_for_selector(".st-key-fig_skeleton canvas", timeout=60_000)
    dt, sk = _wait_painted(page, ".st-key-fig_skeleton canvas", MIN_COLOURED)
    report["pick_to_painted_s"] = time.perf_counter() - t1
    page.wait_for_timeout(500)  # let the heatmap image settle
    hm = painted(_shot(page, ".st-key-fig_heatmap .heatmaplayer image, .st-key-fig_heatmap .heatmaplayer"))
    sk = painted(_shot(page, ".st-key-fig_skeleton canvas"))
    report["skeleton_canvas"], report["heatmap"] = sk, hm
    page.screenshot(path=str(SHOTS / "explorer.png"))  # before the checks, so a failure can be looked at
    # the 3-D scene: bones and focus-coloured joints drawn by WebGL (not an empty canvas)
    assert sk["differ"] > 0.005 and sk["coloured"] > MIN_COLOURED, sk
    # the heatmap: a frames x joints image in the Plasma colours covers most of its area
    assert hm["coloured"] > 0.5, hm
    # the prediction shown is the bundle's for that sample
    from stf.evaluate import load_bundle

    b = load_bundle(server["bundle"])
    value = page.locator('[data-testid="stMetricValue"]').first.inner_text().strip()
    i = [str(x) for x in b.ids].index(sid)
    assert value == b.class_names[int(b.preds[i])]

    # every other page, with a screenshot
    for name, link, ready in [("adjacency", "Adjacency", ".st-key-fig_adj_A .main-svg"),
                              ("confusion", "Confusion explorer", ".st-key-cm_fig .main-svg")]:
        t2 = time.perf_counter()
        page.get_by_role("link", name=link).click()
        page.wait_for_selector(ready, timeout=90_000)
        _idle(page)
        report[f"{name}_s"] = time.perf_counter() - t2
        if name == "adjacency":  # the sidebar's choice follows the user from page to page
            assert _combo(page, "Sample").input_value() == chosen
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / f"{name}.png"))

    # the confusion explorer compares the shipped STF model with the shipped backbone, sample by sample
    from stf.compare import compare_bundles

    baseline = sorted((REPO / "assets" / "baselines").glob("*.eval"))
    assert baseline, "no shipped backbone bundle in assets/baselines"
    expected = compare_bundles(b, load_bundle(baseline[0]))
    t2 = time.perf_counter()
    _combo(page, "Compare with").click()
    page.get_by_role("option", name=re.compile(re.escape(baseline[0].name))).click()
    page.wait_for_selector(".st-key-cm_cmp_fig .main-svg", timeout=90_000)
    _idle(page)
    report["compare_s"] = time.perf_counter() - t2
    shown = {m.locator('[data-testid="stMetricLabel"]').inner_text().strip():
             m.locator('[data-testid="stMetricValue"]').inner_text().strip()
             for m in page.locator('[data-testid="stMetric"]').all()}
    assert shown.get("Right only here") == str(int(expected.only_a.sum())), shown
    assert shown.get("Right only there") == str(int(expected.only_b.sum())), shown
    page.wait_for_timeout(500)
    page.locator(".st-key-cm_cmp_fig").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "compare.png"))

    # the training curves of the two shipped models (from their checkpoints), drawn as SVG lines
    page.get_by_role("link", name="Training curves").click()
    t2 = time.perf_counter()
    page.wait_for_selector(".st-key-train_curves .main-svg", timeout=90_000)
    _idle(page)
    report["training_s"] = time.perf_counter() - t2
    legend = {t.text_content().strip() for t in page.locator(".st-key-train_curves .legendtext").all()}
    assert {"stf_ucla_xview_joint_cpu seed 0", "backbone_ucla_xview_joint_cpu seed 3", "L_e"} <= legend, legend
    lines = page.locator(".st-key-train_curves .scatterlayer .js-line").count()
    assert lines >= 12, lines  # 5 + 1 loss terms, 2 top-1, 2 lr, 2 cosine curves
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "training.png"))

    # a video under the data root: MediaPipe's skeleton in the pose environment, the focus drawn on its frames
    page.get_by_role("link", name="Video").click()
    _idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("data root", exact=True).click()
    _idle(page, timeout=180_000)
    _combo(page, "Video (").click()
    t2 = time.perf_counter()
    page.get_by_role("option", name=re.compile("S004C003P003R001A007_rgb")).click()
    page.get_by_text("S004C003P003R001A007_rgb.avi · model").wait_for(timeout=180_000)  # this video's results
    _idle(page, timeout=180_000)
    page.wait_for_selector('[data-testid="stImage"] img', timeout=120_000)
    report["video_s"] = time.perf_counter() - t2
    frame = painted(_shot(page, '[data-testid="stImage"] img'))
    report["video_frame"] = frame
    page.wait_for_timeout(500)
    # a frame of an NTU clip (research-only licence): never written to STF_SCREENSHOT_DIR (the README's folder)
    page.screenshot(path=str(tmp_path / "video.png"))
    assert frame["differ"] > 0.3 and frame["coloured"] > MIN_COLOURED, frame  # a video frame, joints in colour
    value = page.locator('[data-testid="stMetricValue"]').first.inner_text().strip()
    assert value == "throw", value  # the shipped model on NTU's throw clip (README: 83.3 %)

    page.get_by_role("link", name="Attributions").click()
    _idle(page)
    t2 = time.perf_counter()
    page.get_by_role("button", name=re.compile("Compute")).click()
    page.wait_for_selector(".st-key-fig_curves .main-svg", timeout=120_000)
    _idle(page)
    report["attributions_s"] = time.perf_counter() - t2
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "attributions.png"))

    # queue an evaluation from the runs page; the app starts a worker; wait for it to finish
    page.get_by_role("link", name="Evaluation runs").click()
    _idle(page)
    _combo(page, "Data set").click()
    page.get_by_role("option", name=re.compile("converted: .*small")).first.click()
    split = page.get_by_role("textbox", name="Split")
    split.fill("xview/test")
    t2 = time.perf_counter()
    page.get_by_role("button", name=re.compile("Queue evaluation")).click()
    page.get_by_text("Finished runs").wait_for(timeout=180_000)
    _idle(page)
    report["run_queue_to_done_s"] = time.perf_counter() - t2
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "runs.png"))
    from stf import runs

    with runs.Registry(server["runs_dir"] / "runs.sqlite") as reg:
        done = reg.list()
    assert [r.status for r in done] == ["done"] and (done[0].done, done[0].total) == (16, 16)

    # a second visitor on the warm server (models, data and explanations cached): when the server's last
    # message arrived, and how long the browser's main thread was busy (JavaScript tasks over 50 ms)
    page2 = browser.new_page(viewport=VIEWPORT)
    page2.add_init_script(LONG_TASKS_JS)
    frames = []
    page2.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(time.perf_counter())))
    t0 = time.perf_counter()
    page2.goto(server["url"])
    _wait_painted(page2, ".st-key-fig_skeleton canvas", MIN_COLOURED, timeout=120)
    report["warm_first_painted_plot_s"] = time.perf_counter() - t0
    report["warm_last_server_message_s"] = (frames[-1] - t0) if frames else float("nan")
    report["warm_browser_busy_s"] = page2.evaluate("window.__stfLongTasks") / 1000
    page2.close()

    with capsys.disabled():
        print("\nbrowser timings: " + ", ".join(f"{k} {v:.2f}" for k, v in report.items()
                                                if isinstance(v, float)))
        print(f"skeleton canvas pixels: {sk}; heatmap pixels: {hm}")
    page.close()

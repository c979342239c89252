"""A real browser on the real server: upload a rendered clip, press Classify, read the answer off the page.

The app runs as ``python -m rudiment_demo`` in a subprocess on a free port of 127.0.0.1; headless
Debian Chromium is driven through Playwright with the flags a closed network needs (without them
Chromium waits on background services it cannot reach).
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, wait_until_serving

STARTUP_TIMEOUT_S = 150  # imports, model load and warm-up; about 25 s on two idle cores
PREDICTION_TIMEOUT_S = 60


def _write_silence(path: Path, seconds: float = 3.0, sample_rate: int = 44_100) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(b"\x00\x00" * int(seconds * sample_rate))
    return path


def _upload(page, path: Path) -> None:
    """Put ``path`` into the recording input and wait until the server holds the uploaded file."""
    from playwright.sync_api import expect

    page.locator("#recording input[type=file]").set_input_files(str(path))
    # the upload has reached the server once the player links to the stored file
    expect(page.locator(f"#recording a[href*='{path.name}']")).to_have_count(1, timeout=30_000)


@pytest.fixture()
def server(tmp_path) -> Iterator[tuple[str, Path]]:
    """The demo on a free port (the shipped model), stopped after the test; yields (url, log file)."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    env.pop("RUDIMENT_DEMO_MODEL", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rudiment_demo", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log, "rudiment-demo", STARTUP_TIMEOUT_S)
        yield url, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_upload_classify_and_see_the_answer_and_plots(server, examples, tmp_path):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, log = server
    example = next(e for e in examples if e.rudiment == "single-paradiddle")
    screenshot = tmp_path / "rudiment-demo.png"
    error_screenshot = tmp_path / "rudiment-demo-silence.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url, wait_until="domcontentloaded")
            # every rendered example is offered under its caption
            for other in examples:
                expect(page.get_by_text(other.caption[:40])).to_be_visible(timeout=30_000)

            _upload(page, example.path)
            page.locator("#classify").click()

            label = page.locator("#top5")
            expect(label).to_contain_text(example.name, timeout=PREDICTION_TIMEOUT_S * 1000)
            expect(label.locator("[data-testid='label-output-value']")).to_have_text(example.name)
            expect(page.locator("#top5-table")).to_contain_text("Single Paradiddle")
            expect(page.locator("#sticking")).to_contain_text(">R L RR | >L R LL")
            for plot in ("#onset-timeline", "#stroke-features", "#sticking-plot"):
                image = page.locator(f"{plot} img, {plot} canvas").first
                expect(image).to_be_visible(timeout=30_000)
                box = image.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100, (plot, box)
                natural = image.evaluate("e => e.naturalWidth ?? e.width")
                assert natural > 100, (plot, natural)  # the image decoded, not a broken placeholder
            page.screenshot(path=str(screenshot), full_page=True)

            # bad audio: the library's message where the answer was, the old answer gone, no traceback
            page.locator("#recording button[aria-label='Clear']").click()
            _upload(page, _write_silence(tmp_path / "silence.wav"))
            page.locator("#classify").click()
            summary = page.locator("#summary")
            expect(summary).to_contain_text(
                "Cannot analyse this recording", timeout=PREDICTION_TIMEOUT_S * 1000
            )
            expect(summary).to_contain_text("The recording is silent (peak below -100 dBFS).")
            expect(page.locator("#top5")).not_to_contain_text(example.name)
            expect(page.locator("#onset-timeline img")).to_have_count(0)
            expect(page.get_by_text("Traceback")).to_have_count(0)
            page.screenshot(path=str(error_screenshot))

            # an example is classified on click
            drag = next(e for e in examples if e.rudiment == "drag")
            page.get_by_text(drag.caption[:40]).click()
            expect(label.locator("[data-testid='label-output-value']")).to_have_text(
                drag.name, timeout=PREDICTION_TIMEOUT_S * 1000
            )
            expect(page.locator("#onset-timeline img")).to_have_count(1)
        finally:
            browser.close()
    print(f"screenshot: {screenshot}\nscreenshot of the bad-audio notice: {error_screenshot}")
    assert screenshot.stat().st_size > 20_000
    assert "Traceback" not in log.read_text(), log.read_text()

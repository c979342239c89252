"""A real browser on the real server: label two segments, reload, restart the server, find the labels again.

The app runs as ``python -m piano_labeler`` in a subprocess on a free port of 127.0.0.1, over a small
synthetic benchmark; headless Debian Chromium is driven through Playwright with the flags a closed
network needs (without them Chromium waits on background services it cannot reach).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import soundfile as sf
from _servers import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, wait_until_serving

STARTUP_TIMEOUT_S = 90  # gradio's import and the page build; about 8 s on two busy cores
STEP_TIMEOUT_MS = 30_000
SEGMENT_SECONDS = "2"  # the ~5 s renderings give 2–3 segments each


@pytest.fixture()
def start_server(tmp_path) -> Iterator[Callable[[Path, Path, int], str]]:
    """``start(data, out, port) -> url``; one server at a time, each stopped before the next starts."""
    running: list[subprocess.Popen] = []
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}

    def stop() -> None:
        while running:
            process = running.pop()
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def start(data: Path, out: Path, port: int) -> str:
        stop()
        log = tmp_path / f"server-{len(list(tmp_path.glob('server-*.log')))}.log"
        with log.open("w") as handle:
            command = [sys.executable, "-m", "piano_labeler", str(data), "--out", str(out)]
            command += ["--port", str(port), "--labeller", "tester", "--segment-seconds", SEGMENT_SECONDS]
            running.append(subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env))
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, running[-1], log, "piano-labeler", STARTUP_TIMEOUT_S)
        return url

    try:
        yield start
    finally:
        stop()
        for log in tmp_path.glob("server-*.log"):
            assert "Traceback" not in log.read_text(), log.read_text()


def _records(out: Path) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, out.read_text().splitlines())} if out.exists() else {}


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_label_reload_restart_and_resume(start_server, benchmark, tmp_path):
    require_chromium()
    from piano_labeler.config import DEFAULT_DIMENSIONS
    from piano_labeler.segments import load_segments
    from playwright.sync_api import expect, sync_playwright

    segments = load_segments(benchmark, segment_seconds=float(SEGMENT_SECONDS))
    total = len(segments)
    first, second = segments[0], segments[1]
    out = tmp_path / "labels" / "labels.jsonl"
    port = free_port()
    url = start_server(benchmark, out, port)
    screenshot = tmp_path / "piano-labeler.png"

    def number(page, dim: str):
        return page.locator(f"#slider-{dim} input[type=number]")

    def uncertain(page, dim: str):
        return page.locator(f"#uncertain-{dim} input[type=checkbox]")

    def at_segment(page, n: int) -> None:
        expect(page.locator("#segment-info")).to_contain_text(
            f"Segment {n} / {total}", timeout=STEP_TIMEOUT_MS
        )

    def shows_second_labels(page) -> None:
        at_segment(page, 2)
        expect(number(page, "musicality")).to_have_value("88")
        expect(number(page, "note_accuracy")).to_have_value("50")
        expect(uncertain(page, "tone_quality")).to_be_checked()
        expect(uncertain(page, "pedaling_technique")).not_to_be_checked()
        expect(page.locator("#comment textarea")).to_have_value("pasted note")
        expect(page.locator("#save-status")).to_contain_text("✓ Labelled (last saved ")

    def shows_first_labels(page) -> None:
        at_segment(page, 1)
        expect(number(page, "note_accuracy")).to_have_value("73")
        expect(number(page, "phrasing")).to_have_value("12")
        expect(number(page, "dynamics_control")).to_have_value("62")
        expect(uncertain(page, "pedaling_technique")).to_be_checked()
        expect(page.locator("#comment textarea")).to_have_value("wrong notes in bar 2")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            at_segment(page, 1)
            expect(page.locator("#progress")).to_have_text(f"0 / {total} labelled")
            expect(page.locator("#save-status")).to_have_text(
                "Not labelled yet: any change labels this segment."
            )
            for plot in ("#waveform img", "#piano-roll img"):
                expect(page.locator(plot)).to_be_visible(timeout=STEP_TIMEOUT_MS)
                assert page.locator(plot).evaluate("e => e.naturalWidth") > 300, plot
            # the player holds only the segment's slice of the rendering
            href = page.locator("#segment-audio a[download]").get_attribute("href")
            with urllib.request.urlopen(href, timeout=10) as response:
                played = sf.info(io.BytesIO(response.read()))
            assert played.duration == pytest.approx(first.duration, abs=1e-3)
            assert sf.info(str(first.audio_path)).duration > first.duration + 1

            # segment 1: type a number, drag-equivalent on a range, tick a box, type a comment
            number(page, "note_accuracy").fill("73")
            page.locator("#slider-phrasing input[type=range]").fill("12")
            uncertain(page, "pedaling_technique").check()
            page.locator("#comment textarea").press_sequentially("wrong notes in bar 2")
            # a burst of changes (arrow keys on a slider): the last one is what stays saved, even if
            # the server receives them out of order
            page.locator("#slider-dynamics_control input[type=range]").focus()
            for _ in range(12):
                page.keyboard.press("ArrowRight")
            expect(number(page, "dynamics_control")).to_have_value("62")
            expect(page.locator("#progress")).to_have_text(f"1 / {total} labelled", timeout=STEP_TIMEOUT_MS)
            expect(page.locator("#save-status")).to_contain_text("Saved segment 1")
            _wait_for(
                lambda: _records(out).get(first.key, {}).get("comment") == "wrong notes in bar 2", "comment"
            )
            _wait_for(lambda: _records(out)[first.key]["labels"]["dynamics_control"] == 62, "the last change")

            # segment 2: a pasted comment (no keystrokes) is saved when "Next" takes the focus
            page.locator("#pl-next").click()
            at_segment(page, 2)
            expect(number(page, "note_accuracy")).to_have_value("50")  # a fresh segment shows defaults
            expect(uncertain(page, "pedaling_technique")).not_to_be_checked()
            number(page, "musicality").fill("88")
            uncertain(page, "tone_quality").check()
            page.locator("#comment textarea").fill("pasted note")
            page.locator("#pl-next").click()
            at_segment(page, 3)
            expect(page.locator("#progress")).to_have_text(f"2 / {total} labelled", timeout=STEP_TIMEOUT_MS)

            # keyboard shortcuts: p / n outside fields, Alt+arrows anywhere
            page.locator("#progress").click()
            page.keyboard.press("p")
            at_segment(page, 2)
            page.keyboard.press("Alt+ArrowRight")
            at_segment(page, 3)
            page.locator("#comment textarea").focus()
            page.keyboard.press("Alt+ArrowLeft")  # works while the cursor is in the comment box
            at_segment(page, 2)
            assert page.url.rstrip("/") == url.rstrip("/")  # Alt+← did not go back in history
            page.locator("#progress").click()
            page.keyboard.press("u")  # next unlabelled
            at_segment(page, 3)

            # the file holds the two segments, exactly
            _wait_for(lambda: _records(out).get(second.key, {}).get("comment") == "pasted note", "2nd save")
            records = _records(out)
            assert list(records) == [first.key, second.key]
            one, two = records[first.key], records[second.key]
            changed = {"note_accuracy": 73, "phrasing": 12, "dynamics_control": 62}
            assert one["labels"] == {d: changed.get(d, 50) for d in DEFAULT_DIMENSIONS}
            assert [d for d, u in one["uncertain"].items() if u] == ["pedaling_technique"]
            assert (one["comment"], one["labeller"], one["pass"]) == (
                "wrong notes in bar 2",
                "tester",
                "main",
            )
            assert (one["start_time"], one["end_time"]) == (first.start_time, first.end_time)
            assert Path(one["audio_path"]) == first.audio_path.resolve()  # outside the labels folder
            assert two["labels"]["musicality"] == 88 and [d for d, u in two["uncertain"].items() if u] == [
                "tone_quality"
            ]
            assert two["comment"] == "pasted note"

            # reload: resume at the first unlabelled segment, the labels shown where they were left
            page.reload(wait_until="domcontentloaded")
            at_segment(page, 3)
            expect(page.locator("#progress")).to_have_text(f"2 / {total} labelled")
            page.locator("#pl-prev").click()
            shows_second_labels(page)
            page.locator("#pl-prev").click()
            shows_first_labels(page)
            page.screenshot(path=str(screenshot), full_page=True)
            saved = _records(out)

            # restart the server on the same labels file: the session resumes with the labels intact
            start_server(benchmark, out, port)
            page.goto(url, wait_until="domcontentloaded")
            at_segment(page, 3)
            expect(page.locator("#progress")).to_have_text(f"2 / {total} labelled")
            page.locator("#pl-prev").click()
            shows_second_labels(page)
            page.locator("#pl-prev").click()
            shows_first_labels(page)
            page.locator("#pl-next-unlabelled").click()
            at_segment(page, 3)
            number(page, "overall_quality").fill("64")
            expect(page.locator("#progress")).to_have_text(f"3 / {total} labelled", timeout=STEP_TIMEOUT_MS)
            _wait_for(lambda: len(_records(out)) == 3, "the third record")
        finally:
            browser.close()
    records = _records(out)
    assert records[first.key] == saved[first.key] and records[second.key] == saved[second.key]
    assert records[segments[2].key]["labels"]["overall_quality"] == 64
    print(f"screenshot: {screenshot}")

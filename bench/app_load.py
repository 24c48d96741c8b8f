"""Load test (not in CI): N browser sessions at once against one real app server, each
generating faces from its own seed and scoring its own upload, then checking that it got its
own, correct results: the ZIP's faces equal gan.sampling.generate for that seed, and the CSV's
score equals the library's score for that upload. Prints per-session timings and any error.
Usage: python bench/app_load.py [--sessions 8] [--model models/default] [--url http://...]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import statistics
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED_IMAGES = REPO.parent / "shared" / "data" / "celeba-5k" / "img"
IMAGES = '[data-testid="stMain"] [data-testid="stImage"] img'


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(proc) -> float:
    """User + system CPU seconds of the server process (0 when not started here)."""
    if proc is None:
        return 0.0
    fields = _stat(proc.pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu_seconds() -> float:
    """CPU seconds used so far by this script's descendants other than the server (the
    Playwright driver and Chromium), to tell browser load from server load."""
    parent, cpu = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = _stat(int(d.name))
            except OSError:
                continue
            parent[int(d.name)], cpu[int(d.name)] = int(f[1]), int(f[11]) + int(f[12])
    mine, total = {os.getpid()}, 0
    for pid in sorted(parent):          # parents have smaller pids on this kernel, mostly
        if parent[pid] in mine:
            mine.add(pid)
    for pid in mine - {os.getpid()}:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}/cmdline").exists() else b""
        if b"streamlit" not in cmd:
            total += cpu.get(pid, 0)
    return total / os.sysconf("SC_CLK_TCK")


def uploads(n: int) -> list[tuple[str, bytes]]:
    """One distinct face photo per session (CelebA from ../shared/data, else drawn faces)."""
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*.jpg"))[:n]
        return [(f"session{i}_{p.name}", p.read_bytes()) for i, p in enumerate(paths)]
    from tests.app_fixtures import drawn_face, encode

    return [(f"session{i}_face.png", encode(drawn_face(200, skin=(215 - 9 * i, 170, 140))))
            for i in range(n)]


async def session(browser, url: str, i: int, seed: int, upload: tuple[str, bytes],
                  want_faces: np.ndarray, want_p: float, timeout_ms: int) -> dict:
    from playwright.async_api import expect

    out = {"session": i, "seed": seed, "ok": False, "error": ""}
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        t0 = time.perf_counter()
        await page.goto(f"{url}/generate")
        await expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        out["open_s"] = time.perf_counter() - t0

        t = time.perf_counter()
        await page.get_by_label("Seed").fill(str(seed))
        await page.get_by_label("Seed").press("Enter")
        await expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        await page.get_by_role("slider").first.focus()
        for _ in range(4):
            await page.keyboard.press("ArrowRight")
        await expect(page.get_by_text("Download all 20 as ZIP")).to_be_visible()
        await expect(page.locator(IMAGES)).to_have_count(20)
        async with page.expect_download() as dl:
            await page.get_by_text("Download all 20 as ZIP").click()
        zpath = await (await dl.value).path()
        out["generate_s"] = time.perf_counter() - t
        with zipfile.ZipFile(zpath) as z:
            names = sorted(n for n in z.namelist() if n.endswith(".png"))
            got = np.stack([np.asarray(Image.open(io.BytesIO(z.read(n)))) for n in names])
        if names != [f"default_seed{seed}_{k:02d}.png" for k in range(1, 21)]:
            raise AssertionError(f"ZIP holds {names[:2]}... not seed {seed}'s faces")
        diff = int(np.abs(got.astype(int) - want_faces).max())
        if diff > 1:
            raise AssertionError(f"faces differ from seed {seed}'s by up to {diff} levels")

        t = time.perf_counter()
        await page.get_by_role("link", name="Detect generated faces").first.click()
        name, data = upload
        await page.locator('input[type="file"]').set_input_files(
            [{"name": name, "mimeType": "image/jpeg", "buffer": data}])
        await expect(page.get_by_text("Download the table (CSV)")).to_be_visible()
        async with page.expect_download() as dl:
            await page.get_by_text("Download the table (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(await (await dl.value).path()).read_text())))
        out["detect_s"] = time.perf_counter() - t
        if [r["file"] for r in rows] != [name]:
            raise AssertionError(f"table lists {[r['file'] for r in rows]}, not {name}")
        if rows[0]["status"] != "scored" or abs(float(rows[0]["p_generated"]) - want_p) > 1e-3:
            raise AssertionError(f"score {rows[0]['p_generated']} ({rows[0]['status']}), "
                                 f"expected {want_p:.4f}")
        problems = await page.locator('[data-testid="stException"], [data-testid="stAlert"]'
                                      ).filter(has_text="went wrong").count()
        if problems:
            raise AssertionError("the page shows an error")
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - report every session's failure, keep the others
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(REPO / "test-artifacts" / f"load-session{i}.png"))
    finally:
        out["total_s"] = time.perf_counter() - t0
        await context.close()
    return out


async def run_all(url: str, n: int, expected, files, timeout_s: float) -> list[dict]:
    from playwright.async_api import async_playwright, expect

    from app_support.serve import CHROMIUM, CHROMIUM_ARGS

    expect.set_options(timeout=int(timeout_s * 1000))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = await browser.new_page()       # load the model first: measure sessions, not start-up
            await warm.goto(url)
            await expect(warm.get_by_text("Sample faces")).to_be_visible()
            await warm.close()
            jobs = [session(browser, url, i, seed, files[i], faces, p_, int(timeout_s * 1000))
                    for i, (seed, faces, p_) in enumerate(expected)]
            results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=timeout_s * 3)
            results[0]["browser_cpu_s"] = browser_cpu_seconds()
            return results
        finally:
            await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default",
                    help="the bundle the server serves (its folder must be called 'default')")
    ap.add_argument("--url", default=None, help="use a running server instead of starting one")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    args = ap.parse_args()

    from app_support import detection
    from app_support.serve import running_app
    from gan import sampling
    from gan.bundle import load_bundle

    bundle = load_bundle(args.model)
    det = detection.detectors_for(bundle)[0]
    files = uploads(args.sessions)
    seeds = [9000 + 17 * i for i in range(args.sessions)]
    expected = [(s, sampling.generate(bundle, 20, seed=s),
                 detection.score_uploads([f], bundle, det)[0].p_generated)
                for s, f in zip(seeds, files)]
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    log = REPO / "test-artifacts" / "load-server.log"
    server = (contextlib.nullcontext((args.url, None)) if args.url else
              running_app(args.model.resolve().parent, log_path=log, timeout=180))
    with server as (url, proc):
        cpu0 = cpu_seconds(proc)
        t = time.perf_counter()
        results = asyncio.run(run_all(url, args.sessions, expected, files, args.timeout))
        wall = time.perf_counter() - t
        server_cpu = cpu_seconds(proc) - cpu0
    for r in results:
        timing = "  ".join(f"{k[:-2]} {r[k]:5.1f}s" for k in ("open_s", "generate_s", "detect_s",
                                                              "total_s") if k in r)
        print(f"session {r['session']} seed {r['seed']}: {'OK ' if r['ok'] else 'FAIL'} {timing}"
              + (f"  {r['error']}" if r["error"] else ""))
    ok = sum(r["ok"] for r in results)
    print(f"{ok}/{len(results)} sessions correct; wall time {wall:.1f} s (model warm-up "
          f"included); median session {statistics.median(r['total_s'] for r in results):.1f} s")
    if proc is not None:
        print(f"server CPU time during the run: {server_cpu:.1f} s; browser (Chromium + driver) "
              f"CPU time: {results[0].get('browser_cpu_s', 0):.1f} s; machine load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.url and "Traceback" in log.read_text(errors="replace"):
        print(f"the server log has a traceback: see {log}")
        ok = -1
    sys.exit(0 if ok == len(results) else 1)


if __name__ == "__main__":
    main()

"""Load test (not in CI): N browser sessions at once against one real app server, each
generating faces from its own seed and scoring its own uploads, then checking that it got its
own, correct results: the ZIP's faces equal gan.sampling.generate for that seed, and the CSV's
scores equal the library's scores for those uploads. Prints per-session timings, any error,
and the server's peak memory (its resident set, with any children, sampled every 0.1 s, and
the kernel's high-water mark VmHWM, reset after warm-up).

By default each session uploads --photos 10 large JPEGs (24 to 49 megapixels, phone-photo
sized files, made once by this script into test-artifacts/load-photos/): the case of visitors
uploading big batches of big photos at once. --photos 0 uploads one small face per session.
Usage: python bench/app_load.py [--sessions 8] [--photos 10] [--model models/default]
                                [--url http://...] [--timeout 180]
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
import threading
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


def _kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (a decode pool, if the server ever starts one)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent[int(d.name)] = int(_stat(int(d.name))[1])
    tree, grew = {pid}, True
    while grew:
        kids = {p for p, pp in parent.items() if pp in tree} - tree
        tree |= kids
        grew = bool(kids)
    return sorted(tree)


class MemorySampler:
    """Resident memory of a process and its children, sampled in a thread: the peak of the sum,
    and the kernel's own peak (VmHWM) of the process, counted from start()."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every, self.peak_kb, self.samples = pid, every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_kb(self) -> int:
        total = 0
        for p in process_tree(self.pid):
            with contextlib.suppress(OSError):
                total += _kb(p, "VmRSS")
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.rss_kb())
            self.samples += 1
            self._stop.wait(self.every)

    def start(self):
        self.start_kb = self.rss_kb()
        with contextlib.suppress(OSError):       # VmHWM := now (Linux; needs the same user)
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.end_kb = self.rss_kb()
        self.hwm_kb = _kb(self.pid, "VmHWM")


def large_photos(n: int) -> list[Path]:
    """n JPEGs from 24 to 49 megapixels (3:2), each a CelebA face (or a drawn one) large in the
    frame, with sensor-like noise so that the files are phone-photo sized (below the 20 MB
    upload limit). Made once, then reused."""
    folder = REPO / "test-artifacts" / "load-photos"
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(SHARED_IMAGES.glob("*.jpg"))[:n] if SHARED_IMAGES.is_dir() else []
    out = []
    for i, mp in enumerate(np.linspace(24, 49, n)):
        w = int(round((mp * 1e6 * 1.5) ** 0.5 / 8)) * 8
        h = int(round(w / 1.5 / 8)) * 8
        path = folder / f"large_{i + 1:02d}_{w}x{h}.jpg"
        out.append(path)
        if path.exists():
            continue
        if sources:
            src = Image.open(sources[i % len(sources)]).convert("RGB")
        else:
            from tests.app_fixtures import drawn_face

            src = Image.fromarray(drawn_face(256, skin=(215 - 9 * i, 170, 140)))
        img = src.resize((w, h), Image.Resampling.BILINEAR, box=(0, 0, src.width, src.height // 2))
        fh = int(h * 0.8)
        fw = int(fh * src.width / src.height)
        img.paste(src.resize((fw, fh), Image.Resampling.BILINEAR), ((w - fw) // 2, (h - fh) // 2))
        noise = np.random.default_rng(i).integers(-6, 7, size=(h, w, 1), dtype=np.int16)
        Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8)).save(
            path, "JPEG", quality=90)
    return out


def uploads(n: int) -> list[tuple[str, bytes]]:
    """One distinct face photo per session (CelebA from ../shared/data, else drawn faces)."""
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*.jpg"))[:n]
        return [(f"session{i}_{p.name}", p.read_bytes()) for i, p in enumerate(paths)]
    from tests.app_fixtures import drawn_face, encode

    return [(f"session{i}_face.png", encode(drawn_face(200, skin=(215 - 9 * i, 170, 140))))
            for i in range(n)]


async def session(browser, url: str, i: int, seed: int, upload, want_faces: np.ndarray,
                  want_p: dict[str, float], timeout_ms: int) -> dict:
    """One visitor. `upload`: (name, bytes) of one small photo, or a list of photo paths."""
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
        if isinstance(upload, tuple):
            name, data = upload
            await page.locator('input[type="file"]').set_input_files(
                [{"name": name, "mimeType": "image/jpeg", "buffer": data}])
        else:                               # big files go by path (Playwright's buffer limit)
            await page.locator('input[type="file"]').set_input_files([str(p) for p in upload])
        await expect(page.get_by_text("Download the table (CSV)")).to_be_visible()
        await expect(page.get_by_text("P(generated) =")).to_have_count(len(want_p))
        async with page.expect_download() as dl:
            await page.get_by_text("Download the table (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(await (await dl.value).path()).read_text())))
        out["detect_s"] = time.perf_counter() - t
        if [r["file"] for r in rows] != list(want_p):
            raise AssertionError(f"table lists {[r['file'] for r in rows]}, not {list(want_p)}")
        for r in rows:
            want = want_p[r["file"]]
            if r["status"] != "scored" or abs(float(r["p_generated"]) - want) > 1e-3:
                raise AssertionError(f"{r['file']}: score {r['p_generated']} ({r['status']}), "
                                     f"expected {want:.4f}")
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


async def run_all(url: str, n: int, expected, files, timeout_s: float, proc=None) -> list[dict]:
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
            memory = MemorySampler(proc.pid).start() if proc is not None else None
            jobs = [session(browser, url, i, seed, files[i], faces, p_, int(timeout_s * 1000))
                    for i, (seed, faces, p_) in enumerate(expected)]
            try:
                results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=timeout_s * 3)
            finally:
                if memory is not None:
                    memory.stop()
            results[0]["browser_cpu_s"] = browser_cpu_seconds()
            results[0]["memory"] = memory
            return results
        finally:
            await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--photos", type=int, default=10,
                    help="large photos each session uploads (0: one small face photo)")
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
    seeds = [9000 + 17 * i for i in range(args.sessions)]
    if args.photos:
        t = time.perf_counter()
        photos = large_photos(args.photos)
        print(f"{len(photos)} large photos ({photos[0].stem.split('_')[-1]} to "
              f"{photos[-1].stem.split('_')[-1]}, {min(p.stat().st_size for p in photos) / 1e6:.1f}"
              f"-{max(p.stat().st_size for p in photos) / 1e6:.1f} MB) ready in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        scores = {r.name: r.p_generated for r in detection.score_uploads(
            [(p.name, p.read_bytes()) for p in photos], bundle, det)}
        if None in scores.values():
            sys.exit(f"the library does not score every large photo: {scores}")
        files = [photos] * args.sessions
        want = [scores] * args.sessions
    else:
        files = uploads(args.sessions)
        want = [{f[0]: detection.score_uploads([f], bundle, det)[0].p_generated} for f in files]
    expected = [(s, sampling.generate(bundle, 20, seed=s), w) for s, w in zip(seeds, want)]
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    log = REPO / "test-artifacts" / "load-server.log"
    server = (contextlib.nullcontext((args.url, None)) if args.url else
              running_app(args.model.resolve().parent, log_path=log, timeout=180))
    with server as (url, proc):
        cpu0 = cpu_seconds(proc)
        t = time.perf_counter()
        results = asyncio.run(run_all(url, args.sessions, expected, files, args.timeout, proc))
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
        m = results[0].get("memory")
        if m is not None:
            n_up = args.sessions * max(args.photos, 1)
            print(f"server memory (RSS, with children): {m.start_kb / 1024:.0f} MB after warm-up, "
                  f"peak {m.peak_kb / 1024:.0f} MB while {args.sessions} sessions uploaded {n_up} "
                  f"photo(s) ({m.samples} samples), {m.end_kb / 1024:.0f} MB at the end; kernel "
                  f"high-water mark (VmHWM) of the server process {m.hwm_kb / 1024:.0f} MB")
    if not args.url and "Traceback" in log.read_text(errors="replace"):
        print(f"the server log has a traceback: see {log}")
        ok = -1
    sys.exit(0 if ok == len(results) else 1)


if __name__ == "__main__":
    main()

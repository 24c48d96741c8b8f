"""Load test of the app (a benchmark, not a test; not in CI): N visitors at once, in real
browsers, against one freshly started `streamlit run app.py`.

For each N (default 1, 8, 16 and 32) the script starts a new, cold server (no page visited, no
model loaded), opens N browser contexts in one headless Chromium (each context is its own
visitor: its own cookies, its own Streamlit session over its own websocket), and starts them
all at the same instant on a visitor's path:

  1. open the Generate page and wait until its 16 faces are on screen      -> time to faces
  2. type the visitor's own seed and wait for its 16 new faces               -> time to new faces
  3. open the Detect page (the menu link)                                   -> (detect page)
  4. upload one face photo and wait until its answer, score and face are shown -> time to scores

then checks what it got (unless --no-check): the ZIP of its 16 faces equals
gan.sampling.generate for its seed, and the CSV's score equals the library's score of its photo,
so a session served another's results counts as an error. A second round (--rounds 2, the
default) sends N new visitors (new seeds, new photos) to the same server, now warm.

Reported per N and round: p50 and p95 of each time, errors (timeouts included), the server's
resident memory (its process and any children, sampled every 0.25 s: at start, peak, end), its
CPU seconds, the browsers' CPU seconds (Chromium and Playwright's driver), how busy the machine's
CPUs were and the load average; then a table with each figure's ratio against the N = 1 run.
The photos are distinct CelebA photos from ../shared/data/celeba-5k when present, otherwise
faces from the bundle's generator saved as 178x218 JPEGs. --photos K makes every visitor upload
the same K large photos (24-49 MP, made once into test-artifacts/load-photos/) instead.

Everything runs on this machine: the browsers take CPU from the server (often more than it
uses), so the times are those of a server sharing its CPUs with N browsers; the server's CPU
seconds per visitor and its memory are what carry over to a real deployment.

Usage: python bench/app_load.py [--sessions 1,8,16,32] [--rounds 2] [--no-check]
                                [--photos 0] [--model models/default] [--json FILE]
Pause other jobs on the machine for the run (docs/scaling.md has the command used).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import re
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
ARTIFACTS = REPO / "test-artifacts"
MAIN = '[data-testid="stMain"]'
FACES = f'{MAIN} [data-testid="stImage"] img'
N_FACES = 16                      # the Generate page's default
# The face images on screen: loaded and laid out, not just in the page. With `old`, none of
# them may be one of those (new faces have new media URLs: Streamlit names them by content).
FACES_SHOWN = """([n, old]) => {
  const imgs = [...document.querySelectorAll('%s')];
  const shown = imgs.filter(i => i.complete && i.naturalWidth > 0
                                 && i.getBoundingClientRect().height > 0);
  return shown.length >= n && !(old || []).some(s => imgs.some(i => i.src === s));
}""" % FACES
CLK = os.sysconf("SC_CLK_TCK")


# ---- the server's and the browsers' share of the machine, from /proc ----------------------

def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _processes() -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, CPU seconds)} of every process readable now."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                f = _stat(int(d.name))
                out[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / CLK)
    return out


def _tree(procs: dict, root: int) -> set[int]:
    tree, grew = {root}, True
    while grew:
        kids = {p for p, (pp, _) in procs.items() if pp in tree} - tree
        tree |= kids
        grew = bool(kids)
    return tree


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (with any children) and of the browsers: every other
    descendant of this script (Playwright's driver, Chromium and its renderers)."""
    procs = _processes()
    server = _tree(procs, server_pid)
    mine = _tree(procs, os.getpid()) - server - {os.getpid()}
    return {"server": sum(procs[p][1] for p in server if p in procs),
            "browsers": sum(procs[p][1] for p in mine if p in procs)}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + v[4]                        # idle + iowait
    return (sum(v[:8]) - idle) / CLK, sum(v[:8]) / CLK


def _kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class MemorySampler:
    """Resident memory (MB) of a process and its children, sampled in a thread: now, and the
    peak since the last `mark()`."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every = pid, every
        self.peak = self.now = 0.0
        self._tree, self._tree_at = {pid}, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_mb(self) -> float:
        if time.monotonic() - self._tree_at > 2:          # look for new children now and then
            self._tree, self._tree_at = _tree(_processes(), self.pid), time.monotonic()
        return sum(_kb(p, "VmRSS") for p in self._tree) / 1024

    def _run(self):
        while not self._stop.is_set():
            self.now = self.rss_mb()
            self.peak = max(self.peak, self.now)
            self._stop.wait(self.every)

    def start(self):
        self.now = self.peak = self.rss_mb()
        self._thread.start()
        return self

    def mark(self) -> float:
        """Start a new peak from now; returns the memory now."""
        self.now = self.peak = self.rss_mb()
        return self.now

    def stop(self):
        self._stop.set()
        self._thread.join()


# ---- what the visitors upload ---------------------------------------------------------------

def visitor_photos(n: int, bundle) -> list[tuple[str, bytes]]:
    """n distinct face photos (the caller keeps those in which the detector finds a face):
    CelebA photos from ../shared/data when present (real photos, 178x218 JPEGs as the
    collection has them), else faces from the bundle's generator, saved as JPEGs of that size."""
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))[:n]
        if len(paths) == n:
            return [(p.name, p.read_bytes()) for p in paths]
    from gan import sampling

    out = []
    for i, face in enumerate(sampling.generate(bundle, n, seed=777)):
        img = Image.fromarray(face).resize((178, 178), Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (178, 218), tuple(int(c) for c in face[0, 0]))
        canvas.paste(img, (0, 20))
        buf = io.BytesIO()
        canvas.save(buf, "JPEG", quality=90)
        out.append((f"generated_{i:03d}.jpg", buf.getvalue()))
    return out


def large_photos(n: int) -> list[Path]:
    """n JPEGs from 24 to 49 megapixels (3:2), each a CelebA face (or a drawn one) large in the
    frame, with sensor-like noise so that the files are phone-photo sized (below the 20 MB
    upload limit). Made once, then reused."""
    folder = ARTIFACTS / "load-photos"
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


# ---- one visitor ------------------------------------------------------------------------------

async def faces_shown(page, old=None, timeout_ms: int = 120_000) -> list[str]:
    await page.wait_for_function(FACES_SHOWN, arg=[N_FACES, old or []], polling=50,
                                 timeout=timeout_ms)
    return await page.eval_on_selector_all(FACES, "imgs => imgs.map(i => i.src)")


async def visitor(page, url: str, v: dict, timeout_ms: int, start: asyncio.Event) -> dict:
    """One visitor's path on its own page (own context); v: seed, upload, want_faces, want_p
    (the last two None without --check)."""
    from playwright.async_api import expect

    out = {"seed": v["seed"], "ok": False, "error": "", "step": "start"}
    page.set_default_timeout(timeout_ms)
    await start.wait()
    t0 = time.perf_counter()
    try:
        out["step"] = "open Generate"
        await page.goto(f"{url}/generate", wait_until="commit")
        old = await faces_shown(page, timeout_ms=timeout_ms)
        out["faces_s"] = time.perf_counter() - t0

        out["step"] = "new faces"
        t = time.perf_counter()
        seed_box = page.get_by_label("Seed")
        await seed_box.fill(str(v["seed"]))
        await seed_box.press("Enter")
        await faces_shown(page, old, timeout_ms)
        out["new_faces_s"] = time.perf_counter() - t
        if v["want_faces"] is not None:
            out["step"] = "check faces"
            async with page.expect_download() as dl:
                await page.get_by_text(f"Download all {N_FACES} as ZIP").click()
            with zipfile.ZipFile(await (await dl.value).path()) as z:
                names = sorted(n for n in z.namelist() if n.endswith(".png"))
                got = np.stack([np.asarray(Image.open(io.BytesIO(z.read(n)))) for n in names])
            want = [f"{v['stem']}_seed{v['seed']}_{k:02d}.png" for k in range(1, N_FACES + 1)]
            if names != want:
                raise AssertionError(f"the ZIP holds {names[:2]}..., not seed {v['seed']}'s faces")
            diff = int(np.abs(got.astype(int) - v["want_faces"]).max())
            if diff > 1:
                raise AssertionError(f"faces differ from seed {v['seed']}'s by up to {diff} levels")

        out["step"] = "open Detect"
        t = time.perf_counter()
        await page.get_by_role("link", name="Detect generated faces").first.click()
        await expect(page.get_by_role("heading", name="Is this face generated?")).to_be_visible()
        uploader = page.locator('input[type="file"]')
        await expect(uploader).to_be_attached()
        out["detect_open_s"] = time.perf_counter() - t

        out["step"] = "scores"
        t = time.perf_counter()
        if isinstance(v["upload"], tuple):
            name, data = v["upload"]
            await uploader.set_input_files([{"name": name, "mimeType": "image/jpeg",
                                             "buffer": data}])
            n_files = 1
        else:                               # big files go by path (Playwright's buffer limit)
            await uploader.set_input_files([str(p) for p in v["upload"]])
            n_files = len(v["upload"])
        scores = page.locator(f'{MAIN} [data-testid="stCaptionContainer"]').filter(
            has_text=re.compile(r"^Score \d"))     # "Score 0.12: ..." under each face
        await expect(scores).to_have_count(n_files)
        await page.wait_for_function(FACES_SHOWN, arg=[n_files, []], polling=50)  # and faces
        out["scores_s"] = time.perf_counter() - t
        if v["want_p"] is not None:
            out["step"] = "check scores"
            async with page.expect_download() as dl:
                await page.get_by_text("Download the table (CSV)").click()
            rows = list(csv.DictReader(io.StringIO(
                Path(await (await dl.value).path()).read_text())))
            if [r["file"] for r in rows] != list(v["want_p"]):
                raise AssertionError(f"the table lists {[r['file'] for r in rows]}, "
                                     f"not {list(v['want_p'])}")
            for r in rows:
                want = v["want_p"][r["file"]]
                if r["status"] != "scored" or abs(float(r["p_generated"]) - want) > 1e-3:
                    raise AssertionError(f"{r['file']}: score {r['p_generated']} "
                                         f"({r['status']}), expected {want:.4f}")
        out["step"] = "page errors"
        if await page.locator('[data-testid="stException"]').count() or await page.locator(
                '[data-testid="stAlert"]').filter(has_text="went wrong").count():
            raise AssertionError("the page shows an error")
        out["ok"], out["step"] = True, ""
    except Exception as e:  # noqa: BLE001 - report every session's failure, keep the others
        kind = "timeout" if "Timeout" in type(e).__name__ else type(e).__name__
        out["error"] = f"{kind} at '{out['step']}': {str(e).splitlines()[0][:160]}"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(ARTIFACTS / f"load-fail-seed{v['seed']}.png"))
    out["total_s"] = time.perf_counter() - t0
    return out


# ---- one round: N visitors at once ---------------------------------------------------------------

async def one_round(browser, url: str, visitors: list[dict], timeout_s: float, proc,
                    memory: MemorySampler) -> dict:
    """All visitors at once, each in a new browser context; the contexts and pages are made
    before the clock starts. The CPU figures are read before the contexts close (a closed
    renderer's CPU time is gone)."""
    contexts = [await browser.new_context(viewport={"width": 1280, "height": 900},
                                          accept_downloads=True) for _ in visitors]
    pages = [await c.new_page() for c in contexts]
    start = asyncio.Event()
    jobs = [asyncio.create_task(visitor(p, url, v, int(timeout_s * 1000), start))
            for p, v in zip(pages, visitors)]
    await asyncio.sleep(0.5)
    rss0 = memory.mark()
    cpu0, mach0, load0 = cpu_split(proc.pid), machine_cpu(), os.getloadavg()[0]
    t0 = time.perf_counter()
    start.set()
    try:
        done, pending = await asyncio.wait(jobs, timeout=timeout_s * 5)
        for j in pending:
            j.cancel()
        wall = time.perf_counter() - t0
        cpu1, mach1 = cpu_split(proc.pid), machine_cpu()
        results = [j.result() if j in done else
                   {"seed": v["seed"], "ok": False, "error": "hung: cancelled after "
                    f"{timeout_s * 5:.0f} s", "total_s": wall} for j, v in zip(jobs, visitors)]
    finally:
        for c in contexts:
            with contextlib.suppress(Exception):
                await c.close()
    busy = mach1[0] - mach0[0]
    return {"sessions": results, "wall_s": wall, "rss_start_mb": rss0, "rss_peak_mb": memory.peak,
            "rss_end_mb": memory.rss_mb(), "server_cpu_s": cpu1["server"] - cpu0["server"],
            "browser_cpu_s": cpu1["browsers"] - cpu0["browsers"], "machine_busy_s": busy,
            "machine_busy": busy / max(1e-9, mach1[1] - mach0[1]),
            "load_start": load0, "load_end": os.getloadavg()[0]}


async def one_server(n: int, rounds: list[list[dict]], model: Path, timeout_s: float) -> dict:
    """A cold server for N visitors: its rounds, its memory before any visitor, its log."""
    from playwright.async_api import async_playwright, expect

    from app_support.serve import CHROMIUM, CHROMIUM_ARGS, running_app

    expect.set_options(timeout=int(timeout_s * 1000))
    log = ARTIFACTS / f"load-server-{n}.log"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            t = time.perf_counter()
            with running_app(model.resolve().parent, log_path=log, timeout=180) as (url, proc):
                up = time.perf_counter() - t
                memory = MemorySampler(proc.pid).start()
                idle = memory.now
                try:
                    got = [await one_round(browser, f"{url}", r, timeout_s, proc, memory)
                           for r in rounds]
                    end_mb = memory.rss_mb()
                finally:
                    memory.stop()
        finally:
            await browser.close()
    text = log.read_text(errors="replace")
    return {"n": n, "server_up_s": up, "rss_idle_mb": idle, "rss_final_mb": end_mb,
            "rounds": got, "tracebacks": text.count("Traceback"), "log": str(log)}


# ---- figures -----------------------------------------------------------------------------------

TIMES = (("faces_s", "faces"), ("new_faces_s", "new faces"), ("detect_open_s", "Detect page"),
         ("scores_s", "scores"))


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summary(r: dict) -> dict:
    s = r["sessions"]
    out = {"errors": sum(not x["ok"] for x in s),
           "timeouts": sum("timeout" in x["error"] or "hung" in x["error"] for x in s)}
    for key, _ in TIMES:
        vals = [x[key] for x in s if key in x]
        out[key] = (pct(vals, 50), pct(vals, 95))
    return out


def fmt(v, digits=1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def report(runs: list[dict]) -> None:
    base = {rnd: summary(r) | r for b in runs if b["n"] == 1
            for rnd, r in enumerate(b["rounds"])}
    print()
    head = ("| N | round | time to faces p50 / p95 | new faces p50 / p95 | Detect page p50 / p95 "
            "| time to scores p50 / p95 | errors (timeouts) | server RSS start / peak / end | "
            "server CPU | browsers CPU | CPUs busy | load average | wall |")
    print(head)
    print("| ---: | --- |" + " --- |" * (head.count("|") - 3))
    for b in runs:
        for rnd, r in enumerate(b["rounds"]):
            s = summary(r)
            cells = [str(b["n"]), "cold" if rnd == 0 else "warm"]
            for key, _ in TIMES:
                p50, p95 = s[key]
                cells.append(f"{fmt(p50)} / {fmt(p95)} s")
            cells.append(f"{s['errors']} ({s['timeouts']})")
            cells.append(f"{r['rss_start_mb']:.0f} / {r['rss_peak_mb']:.0f} / "
                         f"{r['rss_end_mb']:.0f} MB")
            cells.append(f"{r['server_cpu_s']:.1f} s")
            cells.append(f"{r['browser_cpu_s']:.1f} s")
            cells.append(f"{100 * r['machine_busy']:.0f} %")
            cells.append(f"{r['load_start']:.1f} → {r['load_end']:.1f}")
            cells.append(f"{r['wall_s']:.0f} s")
            print("| " + " | ".join(cells) + " |")
    if base and any(b["n"] != 1 for b in runs):
        print("\nRatios against N = 1 (same round): p50 and p95 of each time, server CPU per "
              "visitor, peak memory")
        for b in runs:
            if b["n"] == 1:
                continue
            for rnd, r in enumerate(b["rounds"]):
                if rnd not in base:
                    continue
                s, b1 = summary(r), base[rnd]
                parts = []
                for key, label in TIMES:
                    (p50, p95), (q50, q95) = s[key], b1[key]
                    if p50 and q50:
                        parts.append(f"{label} {p50 / q50:.1f}x / {p95 / q95:.1f}x")
                per = r["server_cpu_s"] / b["n"] / max(1e-9, b1["server_cpu_s"])
                parts.append(f"server CPU per visitor {per:.2f}x")
                parts.append(f"peak RSS {r['rss_peak_mb'] / b1['rss_peak_mb']:.2f}x")
                print(f"  N={b['n']:>2} {'cold' if rnd == 0 else 'warm'}: " + ", ".join(parts))
    for b in runs:
        print(f"N={b['n']}: server answering {b['server_up_s']:.1f} s after start, "
              f"{b['rss_idle_mb']:.0f} MB before any visitor, {b['rss_final_mb']:.0f} MB at the "
              f"end; {b['tracebacks']} traceback(s) in {b['log']}")
        for rnd, r in enumerate(b["rounds"]):
            for x in r["sessions"]:
                if x["error"]:
                    print(f"  {'cold' if rnd == 0 else 'warm'} seed {x['seed']}: {x['error']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", default="1,8,16,32",
                    help="comma-separated visitor counts, each on its own fresh server")
    ap.add_argument("--rounds", type=int, default=2,
                    help="1: only N visitors on the cold server; 2: then N more on it, warm")
    ap.add_argument("--photos", type=int, default=0,
                    help="K > 0: each visitor uploads the same K large photos (24-49 MP)")
    ap.add_argument("--no-check", action="store_true",
                    help="do not check each visitor's faces and scores against the library")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default",
                    help="the bundle the servers serve (its folder must be called 'default')")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    ap.add_argument("--json", type=Path, default=ARTIFACTS / "app_load.json",
                    help="where to write every figure (default %(default)s)")
    args = ap.parse_args()
    ns = [int(x) for x in args.sessions.split(",")]
    ARTIFACTS.mkdir(exist_ok=True)

    from app_support import detection
    from gan import sampling
    from gan.bundle import load_bundle

    t = time.perf_counter()
    bundle = load_bundle(args.model)
    det = detection.detectors_for(bundle)[0]
    most = max(ns) * args.rounds
    if args.photos:
        photos = large_photos(args.photos)
        uploads = [photos] * most
        names = [p.name for p in photos]
        blobs = [(p.name, p.read_bytes()) for p in photos]
        p_big = None if args.no_check else {
            r.name: r.p_generated for r in detection.score_uploads(blobs, bundle, det)}
        want_p = [p_big] * most
    else:
        # Photos in which the detector finds a face (a few CelebA photos have none it finds).
        found = visitor_photos(2 * most, bundle)
        judged = detection.score_uploads(found, bundle, det)
        scored = [(u, r.p_generated) for u, r in zip(found, judged) if r.scored][:most]
        if len(scored) < most:
            sys.exit(f"only {len(scored)} of {len(found)} photos have a face the detector finds")
        uploads = [u for u, _ in scored]
        names = [u[0] for u in uploads]
        want_p = [None if args.no_check else {u[0]: p} for u, p in scored]
    seeds = [9000 + 17 * i for i in range(most)]
    want_faces = [None if args.no_check else sampling.generate(bundle, N_FACES, seed=s)
                  for s in seeds]
    print(f"{most} visitors' seeds, photos ({names[0]}, ...) and expected results ready in "
          f"{time.perf_counter() - t:.0f} s; sessions {ns}, {args.rounds} round(s) each; one "
          f"headless Chromium per server, one browser context per visitor; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    stem = bundle.name                 # the ZIP's file names start with the bundle's name
    del bundle

    runs = []
    for n in ns:
        rounds = [[{"seed": seeds[k], "upload": uploads[k], "want_faces": want_faces[k],
                    "want_p": want_p[k], "stem": stem} for k in range(r * n, (r + 1) * n)]
                  for r in range(args.rounds)]
        b = asyncio.run(one_server(n, rounds, args.model, args.timeout))
        runs.append(b)
        for rnd, r in enumerate(b["rounds"]):
            s = summary(r)
            print(f"N={n:>2} {'cold' if rnd == 0 else 'warm'}: faces {fmt(s['faces_s'][0])}/"
                  f"{fmt(s['faces_s'][1])} s, scores {fmt(s['scores_s'][0])}/"
                  f"{fmt(s['scores_s'][1])} s (p50/p95), {s['errors']} error(s), peak "
                  f"{r['rss_peak_mb']:.0f} MB, server CPU {r['server_cpu_s']:.1f} s, browsers "
                  f"{r['browser_cpu_s']:.1f} s, wall {r['wall_s']:.0f} s, load "
                  f"{r['load_end']:.1f}", flush=True)
    report(runs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"),
                                     "cpus": os.cpu_count(), "args": sys.argv[1:],
                                     "runs": runs}, indent=1, default=str))
    print(f"\nevery figure: {args.json}")
    bad = sum(summary(r)["errors"] for b in runs for r in b["rounds"]) + sum(
        b["tracebacks"] for b in runs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

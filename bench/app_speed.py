"""How fast the app is on this machine (a benchmark, not a test): warm timings of
  - generating 64 faces (the library call, and the app's path: generate + PNG-encode),
  - scoring one upload (decode + face crop + discriminator), for a typical and a phone-size photo,
  - a newcomer's first visit: a cold `streamlit run app.py` (just answering its health check),
    then, in headless Chromium, from `page.goto` to the first face image on screen and to all 16
    of the home page's faces (`--first-visit N` repeats only this, each with a fresh server),
  - then a warm browser round trip for 64 new faces.
Usage: python bench/app_speed.py [--model models/default] [--photo some.jpg] [--no-browser]
       python bench/app_speed.py --first-visit 3        # only the cold first visit, 3 servers
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED_PHOTO = REPO.parent / "shared" / "data" / "celeba-5k" / "img" / "0.jpg"


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """(median wall, best wall, median CPU) seconds of `fn(i)` over `repeats` warm calls (after
    one warm-up call). CPU time (all threads of this process) is less affected than wall time
    when other jobs share the machine."""
    fn(-1)
    ts, cs = [], []
    for i in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return statistics.median(ts), min(ts), statistics.median(cs)


def report(label: str, med: float, best: float, cpu: float) -> None:
    print(f"{label:<58} median {med * 1000:7.0f} ms   best {best * 1000:7.0f} ms   "
          f"CPU {cpu * 1000:7.0f} ms", flush=True)


def photo_bytes(path: Path | None) -> tuple[str, bytes]:
    if path is None and SHARED_PHOTO.is_file():
        path = SHARED_PHOTO
    if path is not None:
        return path.name, path.read_bytes()
    from tests.app_fixtures import face_png

    return "drawn_face.png", face_png(218)


def phone_size(data: bytes) -> bytes:
    """The same photo upscaled to 4000x3000 and saved as a JPEG (12 MP, like a phone's)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    canvas = Image.new("RGB", (4000, 3000), (128, 128, 128))
    face = img.resize((int(img.width * 2400 / img.height), 2400))
    canvas.paste(face, ((4000 - face.width) // 2, 300))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def library_timings(model: Path, photo: Path | None, repeats: int) -> None:
    from app_support import detection
    from app_support.faces import FaceCache
    from gan import sampling
    from gan.bundle import load_bundle
    from gan.data.preprocess import prepare_image

    bundle = load_bundle(model)
    print(f"model {model} ({bundle.resolution}px, crop={bundle.crop}); warm timings, "
          f"{repeats} repeats; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report("64 faces: gan.sampling.generate",
           *timed(lambda i: sampling.generate(bundle, 64, seed=1000 + i), repeats))
    report("64 faces: the app's path (generate + 64 PNGs, empty cache)",
           *timed(lambda i: FaceCache().faces(bundle, "b", 64, seed=2000 + i), repeats))
    det = detection.detectors_for(bundle)[0]
    name, data = photo_bytes(photo)
    big = phone_size(data)
    for label, blob in ((f"{name}, {len(data) // 1024} KB", data),
                        (f"12 MP JPEG, {len(big) // 1024} KB", big)):
        report(f"score 1 upload ({label})",
               *timed(lambda i: detection.score_uploads([(name, blob)], bundle, det), repeats))
        report("  of which decode + face crop (prepare_image)",
               *timed(lambda i: prepare_image(blob, bundle.resolution, bundle.crop), repeats))


FACES = '[data-testid="stMain"] [data-testid="stImage"] img'
# True once `n` face images have loaded and are laid out on screen (not just in the page).
FACES_SHOWN = """n => [...document.querySelectorAll('%s')].filter(
    i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 0).length >= n
""" % FACES


def first_visit(browser, model: Path) -> dict[str, float]:
    """One newcomer on a cold server: seconds until the server answers, then from `page.goto`
    to the title, to the first face on screen and to all 16 home-page faces; then from a click
    on the Generate page's link to its 16 faces (the model must have loaded by then)."""
    from playwright.sync_api import expect

    from app_support.serve import running_app

    t0 = time.perf_counter()
    with running_app(model.parent, timeout=180) as (url, _):
        up = time.perf_counter() - t0
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            t = time.perf_counter()
            page.goto(f"{url}/?model={model.name}", wait_until="commit")
            expect(page.get_by_role("heading", name="FaceGAN Studio")).to_be_visible()
            title = time.perf_counter() - t
            page.wait_for_function(FACES_SHOWN, arg=1, polling=20, timeout=180_000)
            first = time.perf_counter() - t
            page.wait_for_function(FACES_SHOWN, arg=16, polling=20, timeout=180_000)
            grid = time.perf_counter() - t
            # Straight on to the Generate page: its faces need the model itself.
            t = time.perf_counter()
            page.get_by_role("link", name="Generate faces").first.click()
            expect(page.get_by_role("button", name="Download all 16 as ZIP")).to_be_visible()
            page.wait_for_function(FACES_SHOWN, arg=16, polling=20, timeout=180_000)
            generate = time.perf_counter() - t
        finally:
            page.close()
    return {"server answering": up, "title": title, "first face": first, "16 faces": grid,
            "then Generate's 16 faces": generate}


def first_visits(model: Path, runs: int) -> None:
    """`runs` first visits, each on its own fresh server, and their medians."""
    from playwright.sync_api import expect, sync_playwright

    from app_support.serve import CHROMIUM, CHROMIUM_ARGS

    expect.set_options(timeout=180_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            got = []
            for i in range(runs):
                got.append(first_visit(browser, model))
                print(f"first visit {i + 1}/{runs}: " + ", ".join(
                    f"{k} {v:.1f} s" for k, v in got[-1].items())
                      + f" (load average {os.getloadavg()[0]:.1f})", flush=True)
        finally:
            browser.close()
    print(f"first visit, cold server, median of {runs}: page.goto -> first face on screen "
          f"{statistics.median(g['first face'] for g in got):.1f} s, -> all 16 faces "
          f"{statistics.median(g['16 faces'] for g in got):.1f} s (server answering after "
          f"{statistics.median(g['server answering'] for g in got):.1f} s); then the Generate "
          f"page's faces {statistics.median(g['then Generate' + chr(39) + 's 16 faces'] for g in got):.1f} s "
          "after the click")


def browser_timings(model: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from app_support.serve import CHROMIUM, CHROMIUM_ARGS, running_app

    first_visits(model, 1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        expect.set_options(timeout=180_000)
        images = page.locator(FACES)
        with running_app(model.parent, timeout=180) as (url, _):
            page.goto(f"{url}/generate?model={model.name}")
            expect(images).to_have_count(16)
            rounds = []
            for seed in (11, 12, 13):
                seed_box = page.get_by_label("Seed")
                seed_box.fill(str(seed))
                page.get_by_role("slider").first.focus()
                t = time.perf_counter()
                page.keyboard.press("End")          # slider to 64: 64 new faces for this seed
                expect(page.get_by_text("Download all 64")).to_be_visible()
                page.wait_for_function(FACES_SHOWN, arg=64, polling=20)
                rounds.append(time.perf_counter() - t)
                page.keyboard.press("Home")          # back to 1 face for the next round
                page.wait_for_function(FACES_SHOWN, arg=1, polling=20)
            print(f"browser: new seed -> 64 faces shown       median {statistics.median(rounds):5.2f} s"
                  f" (of {', '.join(f'{r:.2f}' for r in rounds)})")
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--photo", type=Path, default=None, help="a face photo for the upload timing")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-browser", action="store_true", help="skip the cold start / browser part")
    ap.add_argument("--first-visit", type=int, default=0, metavar="N",
                    help="only time a newcomer's first visit, N times, each on a fresh server")
    args = ap.parse_args()
    if args.first_visit:
        first_visits(args.model.resolve(), args.first_visit)
        return
    library_timings(args.model.resolve(), args.photo, args.repeats)
    if not args.no_browser:
        browser_timings(args.model.resolve())
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other jobs on the machine slow "
          "every figure above; compare runs at similar load)")


if __name__ == "__main__":
    main()

"""Rebuild the seven collections no fit ever used (docs/detector.md, "An independent check") from
local mirrors, so the unseen check scores the same photos on every machine.

    python bench/unseen_collections.py --mirrors /work/.mirror --out /work/data/unseen

Each repository must already be on this machine as `MIRRORS/<owner>+<name>/repo` (a bare git
directory, or a clone's `.git` inside it; the tool library's `fetch` puts it there); nothing is
downloaded. Every collection is read at the commit the doc names, as `bench/detector_sources.py`
reads the fitting sources. The real collections are photos copied byte for byte; the generated
ones are face tiles cut from the repositories' README figures (grids of generated faces under
titles), found from the figures' separating background (`grid_boxes`), saved as PNG, near-
duplicate tiles (the same face in two figures) dropped. Writes one folder per collection and
OUT/README.md (what each folder holds and how its tiles were cut), and prints the
`bench/detector_unseen.py` command for all of them. Data stays outside the repository.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.detector_sources import read_tree  # noqa: E402

# folder: (kind, repository, commit, path(s) in it, rule). Rules: "first300" / "all" photos by
# their path in the repository; "jpg_*" only the .jpg files (FairFace's folder also holds three
# PNG Instagram posts; the doc's 542 are its .jpg files); "front" both *_front folders, named
# <folder>_<file>. Subfolders are flattened into the name (a/y/b.png -> a_y_b.png).
REAL = {
    "fairface": ("real", "thlaiquid-ai/demographic-test-images", "3225e93", ("fairface",),
                 "jpg_first300"),
    "fairface_all": ("real", "thlaiquid-ai/demographic-test-images", "3225e93", ("fairface",),
                     "jpg_all"),
    "agegap": ("real", "loiswjj/Face_Recognition", "d6a2967",
               ("FaceDetection/FaceDetection/data/Pic",), "first300"),
    "selfies": ("real", "se4ai2223-uniba/glassDetection", "6149411",
                ("data/Selfie_reduced/processed/images",), "all"),
    "london": ("real", "debruine/webmorphR.stim", "fa8b78f",
               ("inst/neutral_front", "inst/smiling_front"), "front"),
}
RULES = {
    "jpg_first300": "the first 300 .jpg files by name",
    "jpg_all": "every .jpg file, and the folder's ground_truth.json (age, gender)",
    "first300": "the first 300 image files by path, flattened to <person>_[y_]<file>",
    "all": "every image file",
    "front": "every .jpg in both folders (macOS ._ files skipped), named <folder>_<file>",
}
TRUTH = "ground_truth.json"          # FairFace's labels, for bench/detector_unseen_groups.py

# figure -> (rows, columns[, rows kept, 1-based]) of its grid of generated faces, every tile a
# square under a title; a string says why a figure is not cut. Figures are taken in order of
# name, row by row, until the collection has its tiles.
T2I_FIGURES = {
    "DALLE3_images_with_prompts.jpg": (1, 2),
    "FLUX1_dev_images_with_prompts.jpg": (1, 2),
    "FLUX1_pro_images_with_prompts.jpg": (1, 2),
    "FLUX1_schnell_SDXL_images.jpg": (2, 4),
    "FLUX1_schnell_images_with_prompts.jpg": (1, 2),
    "SDXL_images_with_prompts.jpg": (1, 2),
    "all_model_images.jpg": (5, 8),
    "flux_images.jpg": (3, 4),
    "good_model_images.jpg": (4, 6),
    "model_distribution.jpg": "a bar chart",
    "prompt_lengths_distribution.jpg": "a histogram",
    "textual_search_1_accessories_top_8_matches.jpg": (8, 8),
    "textual_search_1_age_female_top_8_matches.jpg": (7, 8),
    "textual_search_1_age_male_top_8_matches.jpg": (7, 8),
    "textual_search_1_ethnicity_top_8_matches.jpg": (7, 8),
    "textual_search_1_expression_top_8_matches.jpg": (8, 8),
    "textual_search_1_eye_color_top_8_matches.jpg": (6, 8),
    "textual_search_1_glasses_top_8_matches.jpg": (4, 8),
    "textual_search_1_hair_color_top_8_matches.jpg": (9, 8),
    "textual_search_1_hats_top_8_matches.jpg": (6, 8),
    "textual_search_1_sex_top_8_matches.jpg": (3, 8),
    "textual_search_2_Accessories_top_10_matches.jpg": (8, 10),
    "textual_search_2_Lighting_top_10_matches.jpg": (7, 10),
    "textual_search_2_bad things_top_10_matches.jpg": "searched for failures (backs of heads)",
    **{f"textual_search_2_{k}_top_10_matches.jpg": (6, 10) for k in (
        "Age", "Age_x_Ethnicity x Sex 1", "Age_x_Ethnicity x Sex 2", "Background",
        "Ethnicity x Age 1", "Ethnicity x Age 2", "Ethnicity x Age 3", "Ethnicity", "Expression",
        "Expression_x_Sex", "Eye Color", "Face Pose", "Facial Hair", "Glasses Style",
        "Hair Style x Sex", "Hair_Color", "Hats")},
    **{f"textual_search_2_{k}_top_9_matches.jpg": (5, 9) for k in (
        "Background Color", "Eye Gaze", "Facial Features", "Hair Style", "Jewelry", "Makeup",
        "Physical Characteristics")},
}
SFHQ_FIGURES = {
    "SFHQ_sample_1x2.jpg": (1, 2),
    "SFHQ_sample_2x4.jpg": (2, 4),
    "SFHQ_sample_3x6.jpg": (3, 6),
    "SFHQ_sample_4x8.jpg": (4, 8),
    "SFHQ_sample_landmarks_segmentation.jpg": (3, 6, (1,)),     # 2, 3: landmarks, masks drawn
    **{f"SFHQ_variability_{k}.jpg": (6, 13) for k in (
        "age", "age_X_ethnicity_1", "age_X_ethnicity_2", "ethnicity", "hair_color")},
    **{f"SFHQ_variability_{k}.jpg": (5, 11) for k in ("expression", "hair_style")},
    # row 1 is the painting, 3D model or diffusion image the StyleGAN2 faces were made from
    **{f"bring_to_life_process_{k}.jpg": (3, 6, (2, 3)) for k in (
        "3D_models", "paintings", "stable_diffusion")},
}
# folder: (kind, [(repository, commit, path)], figures, tiles wanted)
TILES = {
    "sfhq_t2i": ("generated", [("SelfishGene/SFHQ-T2I-dataset", "a806447", "figures")],
                 T2I_FIGURES, 300),
    "sfhq_stylegan2": ("generated", [("SelfishGene/SFHQ-dataset", "4c898bc", "images")],
                       SFHQ_FIGURES, 300),
    # each generator's sheet of 64 samples, 8 x 8 faces of 128 px edge to edge (no separators),
    # read at each mirror's HEAD when this script was written
    "seeprettyface": ("generated", [
        (f"a312863063/seeprettyface-generator-{k}", c, "examples/64_examples.jpg")
        for k, c in (("yellow", "c75b95b5"), ("wanghong", "77c5962c"), ("star", "bc1395c9"),
                     ("babies", "e19f58d9"))], {"64_examples.jpg": (8, 8)}, 256),
}
ORDER = ("fairface", "agegap", "selfies", "london", "sfhq_t2i", "sfhq_stylegan2", "seeprettyface")
INSET = 4           # px cut off each side of a found tile: no separator or JPEG ringing left on it
SLACK = 4           # px a found tile edge may stray from the regular grid fitted to all of them


def git_dir(mirrors: Path, repo: str) -> Path:
    """The mirror's git directory: `repo` itself when bare, else the `.git` inside it."""
    d = mirrors / repo.replace("/", "+") / "repo"
    return d / ".git" if (d / ".git").is_dir() else d


def full_commit(gd: Path, commit: str) -> str:
    """The full hash of `commit`; ValueError when the mirror lacks it (an older snapshot)."""
    r = subprocess.run(["git", "--git-dir", str(gd), "rev-parse", "--verify", "-q",
                        f"{commit}^{{commit}}"], capture_output=True, text=True)
    if r.returncode:
        raise ValueError(f"{gd}: no commit {commit} (fetch the repository again)")
    return r.stdout.strip()


def show(gd: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gd), "show", f"{commit}:{path}"],
                          capture_output=True, check=True).stdout


def keep_real(rule: str, trees: list[tuple[str, dict[str, bytes]]]) -> dict[str, bytes]:
    """The photos a real collection keeps, by the name they get in its folder. `trees`:
    (path, {path under it: bytes}) as read_tree gives them."""
    files = {}
    for path, tree in trees:
        for rel, data in tree.items():
            if Path(rel).name.startswith("._"):          # macOS resource forks, not photos
                continue
            if rule.startswith("jpg_") and not rel.lower().endswith(".jpg"):
                continue
            files[f"{Path(path).name}/{rel}" if rule == "front" else rel] = data
    names = sorted(files)
    if rule.endswith("first300"):
        names = names[:300]
    return {n.replace("/", "_"): files[n] for n in names}


def long_runs(mask: np.ndarray, m: int, axis: int) -> np.ndarray:
    """True where `mask` is inside a run of at least `m` Trues along `axis`: the tiles' pixels,
    not the titles' letters (short runs)."""
    mask = np.moveaxis(np.asarray(mask, bool), axis, 0)
    n = mask.shape[0]
    if m > n:
        return np.moveaxis(np.zeros_like(mask), 0, axis)
    zero = np.zeros((1,) + mask.shape[1:], np.int32)
    c = np.concatenate([zero, np.cumsum(mask, 0, dtype=np.int32)])
    full = (c[m:] - c[:-m]) == m                      # the windows [i, i + m) wholly True
    d = np.concatenate([zero, np.cumsum(full, 0, dtype=np.int32)])
    j = np.arange(n)
    covered = (d[np.minimum(j, n - m) + 1] - d[np.maximum(j - m + 1, 0)]) > 0
    return np.moveaxis(covered, 0, axis)


def _spans(on: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    d = np.diff(np.r_[False, on, False].astype(np.int8))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))
            if b - a >= min_len]


def _axis(fg: np.ndarray, n: int, axis: int, other_n: int):
    """(start, pitch, size, worst miss) of n equal tiles along one axis (axis=1: rows), or None.
    A line belongs to a tile when 2% of it lies in long runs of non-background pixels; a tile a
    dark band splits is joined back; the tiles must sit on a regular grid (matplotlib's)."""
    length, across = (fg.shape[0], fg.shape[1]) if axis == 1 else (fg.shape[1], fg.shape[0])
    share = long_runs(fg, max(8, across // other_n // 4), axis).mean(axis)
    sp = _spans(share > 0.02, max(8, length // n // 8))
    while len(sp) > n:                    # join the two pieces closest to each other
        k = int(np.argmin([sp[j + 1][0] - sp[j][1] for j in range(len(sp) - 1)]))
        sp[k:k + 2] = [(sp[k][0], sp[k + 1][1])]
    if len(sp) != n:
        return None
    s, e, i = np.array(sp, float)[:, 0], np.array(sp, float)[:, 1], np.arange(n)
    pitch = float(np.median(np.r_[np.diff(s), np.diff(e)])) if n > 1 else 0.0
    size = float(np.median(e - s))
    start = float(np.median(np.r_[s - i * pitch, e - size - i * pitch]))
    miss = float(max(np.abs(s - start - i * pitch).max(), np.abs(e - start - size - i * pitch).max()))
    return (start, pitch, size, miss) if miss <= SLACK else None


def grid_boxes(image: np.ndarray, rows: int, cols: int, square: bool = True):
    """(left, top, right, bottom) of every tile, row by row, and how the grid was found.

    The figure's background is the median colour of its outermost pixels; titles and labels on
    it are short runs of other pixels, tiles long ones. Tried at several tolerances for
    "background" (JPEG noise against near-black photos) until the tiles found sit on a regular
    grid within SLACK px (and are square when `square`); raises ValueError when none does."""
    a = np.asarray(image, np.int16)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    diff = np.abs(a - np.median(border, axis=0)).max(-1)
    for tol in (8, 4, 2, 16):
        fg = diff > tol
        r, c = _axis(fg, rows, 1, cols), _axis(fg, cols, 0, rows)
        if r is None or c is None or (square and abs(r[2] - c[2]) > SLACK):
            continue
        boxes = [(round(c[0] + j * c[1]) + INSET, round(r[0] + i * r[1]) + INSET,
                  round(c[0] + j * c[1] + c[2]) - INSET, round(r[0] + i * r[1] + r[2]) - INSET)
                 for i in range(rows) for j in range(cols)]
        pitch = " x ".join(f"{q[1]:.1f}" if n > 1 else "-" for q, n in ((c, cols), (r, rows)))
        how = (f"{rows}x{cols} tiles of {c[2]:.0f}x{r[2]:.0f} px, pitch {pitch}, first at "
               f"({c[0]:.0f}, {r[0]:.0f}); background tolerance {tol}, edges within "
               f"{max(r[3], c[3]):.1f} px of the grid")
        return boxes, how
    raise ValueError(f"no regular {rows}x{cols} grid of tiles found")


def even_boxes(image: np.ndarray, rows: int, cols: int):
    """Boxes of a grid of equal tiles edge to edge, checked: the rows-1 and cols-1 strongest
    jumps between neighbouring lines of pixels are exactly at the tile seams."""
    a = np.asarray(image, np.int16)
    h, w = a.shape[:2]
    if h % rows or w % cols:
        raise ValueError(f"a {w}x{h} image is not {rows}x{cols} equal tiles")
    th, tw = h // rows, w // cols
    for n, size, jump in ((rows, th, np.abs(np.diff(a, axis=0)).mean(axis=(1, 2))),
                          (cols, tw, np.abs(np.diff(a, axis=1)).mean(axis=(0, 2)))):
        seams = [k * size - 1 for k in range(1, n)]
        if n > 1 and jump[seams].min() <= 1.5 * np.delete(jump, seams).max():
            raise ValueError(f"no seams every {size} px")
    boxes = [(j * tw, i * th, (j + 1) * tw, (i + 1) * th) for i in range(rows) for j in range(cols)]
    return boxes, f"{rows}x{cols} tiles of {tw}x{th} px edge to edge (seams checked)"


def cut_tiles(sources, figures: dict, want: int, edge_to_edge: bool):
    """Tiles of the figures in order of name, near-duplicates dropped (gan.data.dedup, the
    training data's rule), until `want` are kept: ([(name, uint8 tile)], [(label, figure, how
    it was cut, tiles kept)]). Figures after the one that completes the set are not read."""
    from PIL import Image

    from gan.data.dedup import duplicates_to_drop, find_duplicates, phash

    names, tiles, done = [], [], []             # done: (label, figure, how, its tiles' indices)

    def kept():
        drop = duplicates_to_drop(len(tiles), find_duplicates(tiles, [phash(t) for t in tiles]))
        return [i for i in range(len(tiles)) if not drop[i]][:want]

    for label, fig, data in [(label, f, figs[f]) for label, figs in sources for f in sorted(figs)]:
        spec = figures.get(fig, "not in this script's table of figures")
        if isinstance(spec, str):
            done.append((label, fig, f"skipped: {spec}", range(0)))
            continue
        rows, cols, rows_kept = (*spec, None)[:3]
        with Image.open(io.BytesIO(data)) as im:
            a = np.asarray(im.convert("RGB"))
        try:
            boxes, how = (even_boxes if edge_to_edge else grid_boxes)(a, rows, cols)
        except ValueError as e:
            done.append((label, fig, f"skipped: {e}", range(0)))
            continue
        n0 = len(tiles)
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            r, c = divmod(k, cols)
            if not rows_kept or r + 1 in rows_kept:
                names.append(f"{label + '_' if label else ''}{Path(fig).stem.replace(' ', '_')}"
                             f"_r{r + 1}c{c + 1:02d}.png")
                tiles.append(np.ascontiguousarray(a[y0:y1, x0:x1]))
        if rows_kept:
            how += f"; rows {', '.join(map(str, rows_kept))} only"
        done.append((label, fig, how, range(n0, len(tiles))))
        if len(kept()) == want:
            break
    keep = kept()
    notes = [(label, fig, how, sum(i in idx for i in keep)) for label, fig, how, idx in done]
    return [(names[i], tiles[i]) for i in keep], notes


def write_folder(dest: Path, files: dict[str, bytes]) -> list[str]:
    """Writes the files; returns the names of other files already in the folder (stale: the
    folder would then not be what the README says)."""
    dest.mkdir(parents=True, exist_ok=True)
    for n, data in files.items():
        (dest / n).write_bytes(data)
    return sorted(p.name for p in dest.iterdir() if p.name not in files)


def build_real(name: str, mirrors: Path):
    """(files by name, [(repository, full commit, path)], what was taken) of a real collection."""
    _, repo, commit, paths, rule = REAL[name]
    gd = git_dir(mirrors, repo)
    full = full_commit(gd, commit)
    files = keep_real(rule, [(q, read_tree(gd, full, q)) for q in paths])
    if rule == "jpg_all":
        files[TRUTH] = show(gd, full, f"{paths[0]}/{TRUTH}")
    return files, [(repo, full, ", ".join(f"`{q}/`" for q in paths))], RULES[rule], None


def build_tiles(name: str, mirrors: Path):
    """As build_real, for a collection of tiles cut from figures, with each figure's notes."""
    from gan.images import png_bytes

    _, where, figures, want = TILES[name]
    edge_to_edge = name == "seeprettyface"
    sources, found = [], []
    for repo, commit, path in where:
        gd = git_dir(mirrors, repo)
        full = full_commit(gd, commit)
        found.append((repo, full, f"`{path}`"))
        if edge_to_edge:            # one sheet per generator, its files named after it
            sources.append((repo.rsplit("-", 1)[1], {Path(path).name: show(gd, full, path)}))
        else:
            sources.append(("", read_tree(gd, full, path)))
    tiles, notes = cut_tiles(sources, figures, want, edge_to_edge)
    how = (f"{len(tiles)} face tiles (PNG) cut from the figures in the order below, near-"
           "duplicates dropped")
    if len(tiles) < want:
        how += f" (only {len(tiles)} of the {want} wanted: the figures ran out)"
    return {n: png_bytes(t) for n, t in tiles}, found, how, notes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mirrors", required=True, help="folder holding <owner>+<name>/repo git dirs")
    p.add_argument("--out", required=True, help="folder to write the collections into (outside git)")
    p.add_argument("--only", help="comma-separated folder names (default: all; OUT/README.md is "
                                  "written only then)")
    args = p.parse_args(argv)
    mirrors, out = Path(args.mirrors), Path(args.out).resolve()
    known = list(REAL) + list(TILES)
    wanted = args.only.split(",") if args.only else known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(f"error: unknown collection {unknown[0]!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    built, missing, stale = [], [], {}
    for name in wanted:
        repos = [REAL[name][1]] if name in REAL else [r for r, _, _ in TILES[name][1]]
        absent = [r for r in repos if not git_dir(mirrors, r).is_dir()]
        if absent:
            missing += absent
            continue
        try:
            files, where, how, notes = (build_real if name in REAL else build_tiles)(name, mirrors)
        except (ValueError, subprocess.CalledProcessError) as e:
            err = e.stderr.decode() if isinstance(e, subprocess.CalledProcessError) else str(e)
            print(f"error: {name}: {err.strip()[-300:]}", file=sys.stderr)
            return 1
        extra = write_folder(out / name, files)
        if extra:
            stale[name] = extra
        photos = sum(n != TRUTH for n in files)
        built.append((name, (REAL.get(name) or TILES[name])[0], photos, where, how, notes))
        print(f"{name:<15} {photos:>4} files  ("
              + "; ".join(f"{r} @{c[:7]} {q}" for r, c, q in where) + ")", flush=True)
    if len(built) == len(known):                # a README only for the whole set
        (out / "README.md").write_text(render_readme(out, built))
        print(f"\nWrote {out / 'README.md'}.")
    if built:
        print(f"\nScore them (detector_unseen.py reuses the results in --out: give a new one after "
              f"a rebuild):\n\n{unseen_command(out, built)}")
    if any(b[0] == "fairface_all" for b in built):
        print(f"\nPer age band and gender:\n\n{groups_command(out)}")
    for name, extra in stale.items():
        print(f"error: {out / name} also holds {len(extra)} files this script did not write "
              f"(e.g. {extra[0]}): remove the folder and run again", file=sys.stderr)
    if missing:
        print("not on this machine (fetch them first): " + ", ".join(sorted(set(missing))),
              file=sys.stderr)
    return 1 if stale or missing else 0


def unseen_command(out: Path, built) -> str:
    kinds = {b[0]: b[1] for b in built}
    args = [f"{kinds[n]}:{n}={out / n}" for n in ORDER if n in kinds]
    return ("python bench/detector_unseen.py --model models/default --out bench/out/unseen \\\n  "
            + " \\\n  ".join(args))


def groups_command(out: Path) -> str:
    return (f"python bench/detector_unseen_groups.py --model models/default --detector panel \\\n"
            f"  --truth {out / 'fairface_all' / TRUTH} {out / 'fairface_all'}")


def render_readme(out: Path, built) -> str:
    lines = ["# Collections no fit used (the unseen check)", "",
             "Rebuilt by `python bench/unseen_collections.py --mirrors MIRRORS --out "
             f"{out}` from git mirrors at fixed commits (docs/detector.md, \"An independent "
             "check\"); every run writes the same files. Not in git.", "",
             "| folder | kind | files | repository @ commit: path | what was taken |",
             "| --- | --- | ---: | --- | --- |"]
    for name, kind, n, where, how, _ in built:
        src = "<br>".join(f"{r} @{c}: {q}" for r, c, q in where)
        lines.append(f"| `{name}` | {kind} | {n} | {src} | {how} |")
    if any(b[0] == "fairface_all" for b in built):
        lines += ["", f"`fairface_all/{TRUTH}` is the repository's label file (age band, gender) "
                  "for its 540 FairFace photos; the folder's two ig_*.jpg are Instagram posts "
                  "without labels (bench/detector_unseen_groups.py counts only labelled photos)."]
    for name, _, _, _, _, notes in built:
        if notes is None:
            continue
        cut = ("Each sheet is cut into its tiles exactly" if name == "seeprettyface" else
               f"Each tile is cut {INSET} px inside the edges found, so no separator or title is "
               "left on it")
        lines += ["", f"## Tiles of `{name}`", "",
                  f"{cut}; a tile that is a near-duplicate of an earlier one (the same face in two "
                  "figures) is dropped. Figures after the last one listed were not needed.", "",
                  "| figure | how it was cut | tiles kept |", "| --- | --- | ---: |"]
        lines += [f"| {label + ': ' if label else ''}`{fig}` | {how} | {k} |"
                  for label, fig, how, k in notes]
    lines += ["", "## Scoring them", "", "```bash", unseen_command(out, built), "```"]
    if any(b[0] == "fairface_all" for b in built):
        lines += ["", "```bash", groups_command(out), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

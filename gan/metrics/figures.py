"""The evaluation's PNG figures, made for people who read them without the report beside.

matplotlib (Agg backend, no display) for the charts, `gan.images.make_grid` for face grids.
Every function returns PNG bytes or a uint8 image; the caller decides where it is written.
"""
from __future__ import annotations

import io

import numpy as np

from gan.images import make_grid

GEN_COLOUR, REAL_COLOUR, REF_COLOUR = "#d95f02", "#1b9e77", "#7570b3"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _jpeg(fig) -> bytes:
    """A figure made of photos as JPEG (q90): a third of the PNG's size in the bundle."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=100, bbox_inches="tight", pil_kwargs={"quality": 90})
    plt.close(fig)
    return buf.getvalue()


def swd_chart(result: dict, references: list[tuple[str, float]] | None = None,
              title: str = "") -> bytes:
    """Left: SWD per pyramid level (fine detail to coarse layout). Right: the average beside
    reference points measured the same way (at 128 px only)."""
    plt = _plt()
    levels = list(result["levels"].items())
    fig, axes = plt.subplots(1, 2 if references else 1, figsize=(11 if references else 5.5, 3.6),
                             squeeze=False)
    ax = axes[0, 0]
    names = [f"{k} px" for k, _ in levels] + ["average"]
    values = [v for _, v in levels] + [result["average"]]
    bars = ax.bar(names, values, color=[GEN_COLOUR] * len(levels) + ["#444444"])
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_ylabel("SWD x 1e3 (lower is better)")
    ax.set_title("Per level: fine detail (left) to overall layout and colour", fontsize=9)
    if references:
        ax = axes[0, 1]
        items = sorted(list(references) + [("this model", result["average"])], key=lambda t: t[1])
        colours = [GEN_COLOUR if n == "this model" else REF_COLOUR for n, _ in items]
        bars = ax.barh([n for n, _ in items], [v for _, v in items], color=colours)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.set_xlabel("average SWD x 1e3 (lower is better)")
        ax.set_title("Average beside reference points", fontsize=9)
        ax.invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def distance_histogram(gen_dist: np.ndarray, heldout_dist: np.ndarray, threshold: float) -> bytes:
    """Distances to the nearest training photo: generated faces against held-out photos."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    hi = float(max(np.max(gen_dist), np.max(heldout_dist))) * 1.05 or 1.0
    bins = np.linspace(0.0, hi, 40)
    ax.hist(heldout_dist, bins=bins, density=True, alpha=0.6, color=REAL_COLOUR,
            label=f"held-out real photos (n={len(heldout_dist)})")
    ax.hist(gen_dist, bins=bins, density=True, alpha=0.6, color=GEN_COLOUR,
            label=f"generated faces (n={len(gen_dist)})")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1,
               label="closest 1% of held-out photos")
    ax.set_xlabel("distance to the nearest training photo")
    ax.set_ylabel("share of faces (density)")
    ax.set_title("Copies would pile up left of the dashed line", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def pairs_grid(generated: np.ndarray, train: np.ndarray, gen_index: np.ndarray,
               gen_flipped: np.ndarray, gen_dist: np.ndarray, k: int = 16,
               pairs_per_row: int = 4) -> np.ndarray:
    """The k generated faces closest to a training photo, each followed by that photo (as
    matched: mirrored when the mirror image was nearer), closest first."""
    order = np.argsort(gen_dist)[:k]
    pairs = []
    for i in order:
        photo = train[gen_index[i]]
        photo = photo[:, ::-1] if gen_flipped[i] else photo
        gap = np.full((photo.shape[0], 2, 3), 255, np.uint8)
        pairs.append(np.concatenate([generated[i], gap, photo], axis=1))
    return make_grid(np.stack(pairs), cols=min(pairs_per_row, len(pairs)), pad=12)


def groups_chart(section: dict, title: str = "") -> bytes:
    """Per group: SWD (left, lower is better) and the judge's agreement (right, with each
    label's target), the weakest group in red and the best in green on each."""
    plt = _plt()
    rows = [r for r in section["rows"] if "skipped" not in r]
    names = [f"{r['label']} = {r['group']}" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.9 + 0.32 * max(len(rows), 2)), sharey=True)
    summary = section.get("summary", {})
    for ax, key, text, worst_is_high in ((axes[0], "swd", "SWD x1e3 (lower is better)", True),
                                         (axes[1], "agreement", "agreement (higher is better)", False)):
        values = [r[key] for r in rows]
        s = summary.get(key, {})
        colours = ["#c0392b" if n == s.get("weakest") else "#27ae60" if n == s.get("best")
                   else "#7f8c8d" for n in names]
        ax.barh(range(len(rows)), values, color=colours)
        ax.set_xlabel(text)
        ax.grid(axis="x", alpha=0.3)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.0%}" if key == "agreement" else f" {v:.1f}", va="center", fontsize=8)
        if key == "agreement":
            ax.set_xlim(0, 1.12)
            for i, r in enumerate(rows):
                ax.plot([r["agreement_target"]] * 2, [i - 0.4, i + 0.4], color="black", lw=1)
    axes[0].set_yticks(range(len(rows)), names, fontsize=8)
    axes[0].invert_yaxis()
    weakest = {s.get("weakest") for s in summary.values() if isinstance(s, dict)}
    for tick in axes[0].get_yticklabels():     # a weakest group shows even where its bar is 0
        if tick.get_text() in weakest:
            tick.set_color("#c0392b")
            tick.set_fontweight("bold")
    fig.suptitle(title or "Every group: weakest in red, best in green (black ticks: targets)",
                 fontsize=10)
    fig.tight_layout()
    return _png(fig)


def groups_faces(faces: dict, per_row: int = 8) -> bytes:
    """A row of generated faces per group, named on the left."""
    plt = _plt()
    keys = list(faces)
    fig, axes = plt.subplots(len(keys), 1, figsize=(1.1 * per_row + 1.6, 1.15 * len(keys) + 0.2),
                             squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        strip = np.concatenate(list(np.asarray(faces[key][:per_row], np.uint8)), axis=1)
        ax.imshow(strip)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{key[0]} =\n{key[1]}", rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return _jpeg(fig)

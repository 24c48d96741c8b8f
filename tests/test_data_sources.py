"""gan.data.sources: every source kind is detected, with its labels."""

from __future__ import annotations

import os
import threading
import zipfile

import pytest

from gan.data.sources import detect_source, parse_utkface_name

CELEBA_ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def zip_folder(folder, zip_path, wrapper="", junk=True):
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, wrapper + p.relative_to(folder).as_posix())
        if junk:
            zf.writestr(wrapper + "__MACOSX/._a.jpg", b"\0\5\26\7junk")
            zf.writestr(wrapper + ".DS_Store", b"junk")
    return zip_path


def test_folder_is_searched_recursively_for_image_extensions(tmp_path, write_faces):
    root = tmp_path / "photos"
    write_faces(root, 1, names=["a.jpg"])
    write_faces(root, 1, names=["b.JPEG"])
    write_faces(root, 1, names=["deep/er/c.png"])
    write_faces(root, 1, names=["d.webp"])
    write_faces(root, 1, names=["e.bmp"])
    write_faces(root, 1, names=[".hidden/f.jpg"])
    write_faces(root, 1, names=[".g.jpg"])
    (root / "notes.txt").write_text("x")
    (root / "h.gif").write_bytes(b"GIF89a")
    src = detect_source(root)
    assert src.kind == "folder" and src.container == "folder"
    assert [it.key for it in src.items] == ["a.jpg", "b.JPEG", "d.webp", "deep/er/c.png", "e.bmp"]
    assert src.notes["other_files_ignored"] == {".gif": 1, ".txt": 1}
    assert src.notes["hidden_files_ignored"] == 2
    # Root images and one subfolder: a class label exists but "auto" does not pick it.
    assert "class" in src.labels and src.auto_labels == []


def test_subfolders_are_classes(tmp_path, write_faces):
    root = tmp_path / "community"
    write_faces(root / "gulf", 2)
    write_faces(root / "levant", 3, seed=10)
    write_faces(root / "levant" / "2019", 1, seed=20)  # nested: still the top-level class
    src = detect_source(root)
    spec = src.labels["class"]
    assert src.auto_labels == ["class"]
    assert spec.kind == "categorical" and spec.categories == ["gulf", "levant"]
    assert spec.values["levant/2019/face_000.jpg"] == "levant"
    assert sum(v == "gulf" for v in spec.values.values()) == 2


def test_zip_is_read_in_place_like_its_folder(tmp_path, write_faces):
    root = tmp_path / "community"
    write_faces(root / "gulf", 2)
    write_faces(root / "levant", 2, seed=5)
    folder = detect_source(root)
    for wrapper in ("", "community/"):
        z = zip_folder(root, tmp_path / f"c{len(wrapper)}.zip", wrapper=wrapper)
        src = detect_source(z)
        assert src.kind == "zip" and src.container == "zip"
        assert [it.key for it in src.items] == [it.key for it in folder.items]
        assert src.labels["class"].categories == ["gulf", "levant"]
        assert all(it.stamp != 0 for it in src.items)  # CRC identifies the content
    assert not (tmp_path / "community" / "gulf.zip").exists()


def _write_attr_file(path, names, rows, count_line=True):
    lines = [str(len(rows))] if count_line else []
    lines.append(" ".join(names))
    for name, vals in rows:
        lines.append(name + "  " + " ".join(f"{v:2d}" for v in vals))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("point_at", ["root", "images", "attr_file"])
def test_celeba_layout(tmp_path, write_faces, point_at):
    root = tmp_path / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, 5)]
    write_faces(root / "img_align_celeba", 4, names=names)
    rows = [(n, [1 if (i + j) % 3 == 0 else -1 for j in range(40)]) for i, n in enumerate(names[:3])]
    rows.append(("999999.jpg", [1] * 40))  # a row without its image
    _write_attr_file(root / "list_attr_celeba.txt", CELEBA_ATTRS, rows)
    path = {"root": root, "images": root / "img_align_celeba", "attr_file": root / "list_attr_celeba.txt"}[point_at]
    src = detect_source(path)
    assert src.kind == "celeba"
    assert len(src.labels) == 40 and list(src.labels)[:2] == ["5_o_clock_shadow", "arched_eyebrows"]
    male = src.labels["male"]
    assert male.kind == "binary"
    key0 = [it.key for it in src.items if it.key.endswith("000001.jpg")][0]
    assert male.values[key0] == (1 if CELEBA_ATTRS.index("Male") % 3 == 0 else 0)
    assert len(male.values) == 3  # 000004.jpg has no row
    assert src.notes["label_rows_without_image"] == 1


def test_csv_beside_folder(tmp_path, write_faces):
    root = tmp_path / "celeba-5k"
    write_faces(root / "img", 4, names=[f"{i}.jpg" for i in range(4)])
    (root / "labels.csv").write_text(
        "image,male,smiling,age,hair\n0.jpg,0,1,31,black\n1.jpg,1,0,,blond\n2.jpg,1,1,45,black\n"
        "3.jpg,0,0,18,NA\nghost.jpg,1,1,20,red\n")
    for path in (root, root / "img", root / "labels.csv"):
        src = detect_source(path)
        assert src.kind == "csv", path
        assert list(src.labels) == ["male", "smiling", "age", "hair"]
        key = {it.key.split("/")[-1]: it.key for it in src.items}
        L = src.labels
        assert L["male"].kind == "binary" and L["male"].values[key["1.jpg"]] == 1
        assert L["age"].kind == "numeric" and key["1.jpg"] not in L["age"].values
        assert (L["age"].offset, L["age"].scale) == (18.0, 27.0)
        assert L["hair"].kind == "categorical" and L["hair"].categories == ["black", "blond"]
        assert key["3.jpg"] not in L["hair"].values
        assert src.notes["label_rows_without_image"] == 1


def test_unrelated_csv_beside_folder_is_ignored(tmp_path, write_faces):
    root = tmp_path / "downloads"
    write_faces(root / "photos", 3)
    (root / "expenses.csv").write_text("date,amount\n2024-01-01,3\n")
    (root / "other.csv").write_text("image,male\nsomething_else.jpg,1\n")
    src = detect_source(root / "photos")
    assert src.kind == "folder" and src.label_file is None


def test_zip_with_csv_inside(tmp_path, write_faces):
    root = tmp_path / "set"
    write_faces(root / "img", 3, names=["a.jpg", "b.jpg", "c.jpg"])
    (root / "labels.csv").write_text("filename;smiling\nimg/a.jpg;1\nimg/b.jpg;0\nimg/c.jpg;1\n")
    src = detect_source(zip_folder(root, tmp_path / "set.zip", wrapper="set/"))
    assert src.kind == "csv" and src.container == "zip"
    assert src.labels["smiling"].values == {"img/a.jpg": 1, "img/b.jpg": 0, "img/c.jpg": 1}


def test_utkface_names(tmp_path, write_faces):
    names = ["25_0_2_20170116174525125.jpg.chip.jpg", "3_1_0_20170109142408075.jpg.chip.jpg",
             "61_1_20170109142408075.jpg.chip.jpg", "61_3_20170109150557335.jpg.chip.jpg",
             "80_1_4_20170103201234567.jpg"]
    write_faces(tmp_path / "utk", len(names), names=names)
    src = detect_source(tmp_path / "utk")
    assert src.kind == "utkface" and src.auto_labels == ["age", "gender", "race"]
    L = src.labels
    assert L["age"].values[names[0]] == 25.0 and L["age"].scale == 100.0
    assert L["gender"].values[names[1]] == "female" and L["race"].values[names[1]] == "white"
    assert L["gender"].values[names[2]] == "female" and names[2] not in L["race"].values
    assert names[3] not in L["gender"].values and names[3] not in L["race"].values
    assert L["race"].values[names[4]] == "other"
    assert L["race"].categories == ["white", "black", "asian", "indian", "other"]
    # age groups: asked for by name (labels="auto" keeps what it gave before)
    assert L["age_group"].categories == ["0-9", "10-29", "30-49", "50+"]
    assert [L["age_group"].values[n] for n in names] == ["10-29", "0-9", "50+", "50+", "50+"]


def test_parse_utkface_name():
    assert parse_utkface_name("dir/1_0_3_20170119153418460.jpg.chip.jpg") == \
        {"age": 1, "gender": "male", "race": "indian"}
    assert parse_utkface_name("holiday.jpg") is None
    assert parse_utkface_name("2020_05_07_beach.jpg") is None


def test_missing_path_and_unknown_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        detect_source(tmp_path / "nope")
    f = tmp_path / "x.txt"
    f.write_text("x")
    with pytest.raises(ValueError):
        detect_source(f)


def _zip_bytes(tmp_path, write_faces) -> bytes:
    paths = write_faces(tmp_path / "f", 2)
    z = tmp_path / "whole.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in paths:
            zf.write(p, p.name)
    return z.read_bytes()


@pytest.mark.parametrize("damage, said", [
    ("cut short", "a damaged .zip"),                      # no table of contents at the end
    ("table of contents garbled", "a damaged .zip"),      # it is there, but unreadable
    ("not a zip", "named .zip but not a zip archive"),
])
def test_a_damaged_zip_is_called_one(tmp_path, write_faces, damage, said):
    data = _zip_bytes(tmp_path, write_faces)
    if damage == "cut short":
        data = data[: len(data) * 2 // 3]
    elif damage == "table of contents garbled":
        start = data.rindex(b"PK\x01\x02")              # the last entry of the table of contents
        data = data[:start] + b"PK\x01\x09" + data[start + 4:]
    else:
        data = b"these are my photos\n"
    z = tmp_path / "photos.zip"
    z.write_bytes(data)
    with pytest.raises(ValueError) as e:
        detect_source(z)
    assert said in str(e.value) and str(z) in str(e.value)


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    """train.py --data and `python -m gan.data` on a pipe hung for ever inside is_zipfile."""
    fifo = tmp_path / "faces.jpg"
    os.mkfifo(fifo)
    outcome = []

    def detect():
        try:
            detect_source(fifo)
        except Exception as e:  # noqa: BLE001 - the outcome is checked below
            outcome.append(e)

    t = threading.Thread(target=detect, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # stuck opening the pipe: give it a writer so the test can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(10)
        pytest.fail("detect_source waited on a named pipe")
    assert isinstance(outcome[0], ValueError) and "it is a named pipe" in str(outcome[0])

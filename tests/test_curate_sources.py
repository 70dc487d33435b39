"""Sources: folders, tars (img2dataset layout), parquet files and brace lists become stable units and items."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curate_corpus import NON_UTF8_NAME, encode, noise_rgb, write_corpus

from core.errors import UserError
from curation.decode import DecodeConfig, decode_image
from curation.sources import InputUnit, SourceConfig, iter_items, list_units
from curation.types import InputItem, Rejection

CONFIG = SourceConfig()


def jpeg(seed: int = 0) -> bytes:
    return encode(noise_rgb(48, 40, seed), "JPEG")


def all_items(units: list[InputUnit], config: SourceConfig = CONFIG) -> list[InputItem]:
    return [item for unit in units for item in iter_items(unit, config)]


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **info: object) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    for key, value in info.items():
        setattr(member, key, value)
    tar.addfile(member, io.BytesIO(data) if data else None)


def write_img2dataset_shard(folder: Path, index: int, count: int, json_urls: bool = True) -> Path:
    """``NNNNN.tar`` with ``key.jpg``/``key.txt``/``key.json`` as img2dataset writes them, plus its parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    tar_path = folder / f"{index:05d}.tar"
    rows = []
    with tarfile.open(tar_path, "w") as tar:
        for i in range(count):
            key = f"{index:05d}{i:04d}"
            url, caption = f"https://example.com/{key}.jpg", f"caption {key}"
            meta = {"key": key, "status": "success", "caption": caption, "width": 48, "height": 40}
            if json_urls:
                meta["url"] = url
            add_member(tar, f"{key}.jpg", jpeg(i))
            add_member(tar, f"{key}.txt", caption.encode())
            add_member(tar, f"{key}.json", json.dumps(meta).encode())
            rows.append({"key": key, "url": url, "caption": caption, "status": "success"})
    pq.write_table(pa.Table.from_pylist(rows), folder / f"{index:05d}.parquet")
    return tar_path


def test_folder_tree_is_cut_into_sorted_units_that_are_stable(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in ("b/2.jpg", "a/1.PNG", "a/0.jpeg", "c.webp", "d.gif", "notes.txt", "e/f/g.bmp"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(jpeg())
    config = SourceConfig(files_per_unit=2)
    units = list_units([str(root)], config)
    assert [u.kind for u in units] == ["directory"] * 3
    assert [list(u.members) for u in units] == [["a/0.jpeg", "a/1.PNG"], ["b/2.jpg", "c.webp"], ["d.gif", "e/f/g.bmp"]]
    assert units[0].name == f"{root}[0:2]" and [u.index for u in units] == [0, 1, 2]
    assert list_units([str(root)], config) == units  # same listing, same fingerprints, every time
    items = all_items(units, config)
    assert [(i.unit, i.item) for i in items] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert items[0].source_id == str(root / "a/0.jpeg") and items[0].data == jpeg()
    os.utime(root / "c.webp", ns=(1, 1))
    changed = list_units([str(root)], config)
    assert [u.fingerprint == v.fingerprint for u, v in zip(units, changed)] == [True, False, True]


def test_corrupt_folder_gives_every_file_its_reason_without_raising(tmp_path: Path) -> None:
    expected = write_corpus(tmp_path / "dump")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "dump" / "dangling_link.jpg")
    expected["dangling_link.jpg"] = "unreadable"
    units = list_units([str(tmp_path / "dump")], CONFIG)
    outcomes: dict[str, str | None] = {}
    keys = set()
    for item in all_items(units):
        json.dumps(item.source_id).encode("utf-8")  # JSON- and UTF-8-safe, even for non-UTF-8 names
        result = decode_image(item.data, DecodeConfig(), item.source_id) if item.data is not None else None
        reason = item.error if result is None else (result.reason if isinstance(result, Rejection) else None)
        outcomes[os.path.relpath(item.source_id, tmp_path / "dump")] = reason
        keys.add((item.unit, item.item))
    non_utf8 = os.fsencode(NON_UTF8_NAME).decode("utf-8", "backslashreplace")
    assert non_utf8 == "caf\\xe9_photo.jpg" and outcomes.pop(non_utf8) is None
    expected.pop(os.fsdecode(NON_UTF8_NAME))
    assert outcomes == expected
    assert len(keys) == len(expected) + 1  # duplicates are two inputs with two keys


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the dangling link covers it")
def test_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "locked.jpg").write_bytes(jpeg())
    (tmp_path / "locked.jpg").chmod(0)
    [item] = all_items(list_units([str(tmp_path)], CONFIG))
    assert item.data is None and item.error == "unreadable" and "ermission" in item.error_detail


def test_file_removed_after_listing_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg())
    (tmp_path / "b.jpg").write_bytes(jpeg(1))
    units = list_units([str(tmp_path)], CONFIG)
    (tmp_path / "a.jpg").unlink()
    first, second = all_items(units)
    assert (first.error, first.data) == ("unreadable", None) and second.data == jpeg(1)


def test_file_above_max_bytes_is_too_large_without_being_read(tmp_path: Path) -> None:
    (tmp_path / "big.jpg").write_bytes(jpeg() + b"\0" * 5000)
    [item] = all_items(list_units([str(tmp_path)], CONFIG), SourceConfig(max_bytes=4000))
    assert item.data is None and item.error == "too_large"


def test_img2dataset_tar_gives_images_with_url_and_caption(tmp_path: Path) -> None:
    tar_path = write_img2dataset_shard(tmp_path / "laion", 0, 3)
    [unit] = list_units([str(tar_path)], CONFIG)
    assert unit.kind == "tar" and unit.name == str(tar_path)
    items = list(iter_items(unit, CONFIG))
    assert [i.item for i in items] == [0, 1, 2]
    assert items[1].source_id == f"{tar_path}/000000001.jpg" and items[1].data == jpeg(1)
    assert items[1].url == "https://example.com/000000001.jpg" and items[1].caption == "caption 000000001"
    # A folder of shards (img2dataset's output folder) lists its tars; their sidecar parquets are not inputs.
    write_img2dataset_shard(tmp_path / "laion", 1, 2, json_urls=False)
    units = list_units([str(tmp_path / "laion")], CONFIG)
    assert [(u.kind, Path(u.path).name) for u in units] == [("tar", "00000.tar"), ("tar", "00001.tar")]
    from_sidecar = list(iter_items(units[1], CONFIG))
    assert [i.url for i in from_sidecar] == ["https://example.com/000010000.jpg", "https://example.com/000010001.jpg"]


def test_unsafe_tar_members_are_rejected_and_never_written(tmp_path: Path) -> None:
    tar_path = tmp_path / "inside" / "evil.tar"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w") as tar:
        add_member(tar, "ok.jpg", jpeg())
        add_member(tar, "../escape.jpg", jpeg())
        add_member(tar, "/abs/path.jpg", jpeg())
        add_member(tar, "a/../../up.json", b"{}")
        add_member(tar, "link.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    items = all_items(list_units([str(tar_path)], CONFIG))
    assert [(Path(i.source_id).name, i.error) for i in items] == [
        ("ok.jpg", None), ("escape.jpg", "unsafe_path"), ("path.jpg", "unsafe_path"), ("up.json", "unsafe_path"),
        ("link.jpg", "unsafe_path"),
    ]
    assert all(i.data is None for i in items[1:])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.tar", "inside"]


def test_damaged_tar_yields_what_it_can_then_one_reason(tmp_path: Path) -> None:
    tar_path = write_img2dataset_shard(tmp_path, 0, 4)
    data = tar_path.read_bytes()
    tar_path.write_bytes(data[: len(data) // 2])
    items = all_items(list_units([str(tar_path)], CONFIG))
    assert all(i.data is not None for i in items[:-1]) and len(items) >= 2
    assert items[-1].source_id == f"{tar_path}#rest" and items[-1].error == "truncated"
    not_a_tar = tmp_path / "junk.tar"
    not_a_tar.write_bytes(b"this is not a tar archive" * 40)
    [item] = all_items(list_units([str(not_a_tar)], CONFIG))
    assert item.error == "unreadable" and "not a readable tar" in item.error_detail


def test_parquet_with_bytes_column_url_and_struct_images(tmp_path: Path) -> None:
    table = pa.table({"jpg": [jpeg(0), None, jpeg(2)], "url": ["u0", "u1", "u2"], "caption": ["c0", "c1", "c2"]})
    pq.write_table(table, tmp_path / "rows.parquet", row_group_size=2)
    [unit] = list_units([str(tmp_path / "rows.parquet")], CONFIG)
    items = list(iter_items(unit, CONFIG))
    assert [(i.item, i.url, i.caption, i.error) for i in items] == [
        (0, "u0", "c0", None), (1, "u1", "c1", "unreadable"), (2, "u2", "c2", None),
    ]
    assert items[2].data == jpeg(2) and items[2].source_id == f"{tmp_path / 'rows.parquet'}#2"
    hf = pa.table({"image": [{"bytes": jpeg(5), "path": "x.jpg"}]})  # Hugging Face datasets' Image feature
    pq.write_table(hf, tmp_path / "hf.parquet")
    [item] = all_items(list_units([str(tmp_path / "hf.parquet")], CONFIG))
    assert item.data == jpeg(5)


def test_parquet_with_path_column_reads_files_beside_it(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(jpeg(1))
    table = pa.table({"file": ["imgs/a.jpg", str(tmp_path / "imgs" / "a.jpg"), "imgs/missing.jpg"]})
    pq.write_table(table, tmp_path / "list.parquet")
    config = SourceConfig(path_column="file")
    items = all_items(list_units([str(tmp_path / "list.parquet")], config), config)
    assert [i.data == jpeg(1) for i in items] == [True, True, False]
    assert items[0].path == str(tmp_path / "imgs" / "a.jpg") and items[2].error == "unreadable"


def test_parquet_without_image_column_names_file_columns_and_fix(tmp_path: Path) -> None:
    pq.write_table(pa.table({"caption": ["x"], "width": [3]}), tmp_path / "meta.parquet")
    with pytest.raises(UserError, match=r"meta\.parquet.*caption, width.*sources\.image_column="):
        list_units([str(tmp_path / "meta.parquet")], CONFIG)
    pq.write_table(pa.table({"jpg": ["a/b.jpg"]}), tmp_path / "text.parquet")
    with pytest.raises(UserError, match="sources.path_column=jpg"):
        list_units([str(tmp_path / "text.parquet")], CONFIG)


def test_brace_lists_joins_and_mixed_inputs(tmp_path: Path) -> None:
    for index in range(3):
        write_img2dataset_shard(tmp_path / "shards", index, 1)
    (tmp_path / "loose.jpg").write_bytes(jpeg())
    pq.write_table(pa.table({"jpg": [jpeg()]}), tmp_path / "rows.parquet")
    spec = [f"{tmp_path}/shards/{{00000..00002}}.tar::{tmp_path}/rows.parquet", str(tmp_path / "loose.jpg")]
    units = list_units(spec, CONFIG)
    assert [u.kind for u in units] == ["tar", "tar", "tar", "parquet", "directory"]
    assert units[-1].members == (str(tmp_path / "loose.jpg"),) and units[-1].path == ""
    assert len(all_items(units)) == 5
    assert list_units(spec + [f"{tmp_path}/shards/00001.tar"], CONFIG) == units  # a repeated input is read once
    (tmp_path / "set{1,2}").mkdir()  # a real name holding braces is not expanded
    (tmp_path / "set{1,2}" / "x.jpg").write_bytes(jpeg())
    assert [u.name for u in list_units([str(tmp_path / "set{1,2}")], CONFIG)] == [f"{tmp_path}/set{{1,2}}[0:1]"]


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nowhere/photos does not exist"):
        list_units([str(tmp_path / "nowhere" / "photos")], CONFIG)
    write_img2dataset_shard(tmp_path, 0, 1)
    with pytest.raises(UserError, match=r"00001\.tar.*does not exist"):
        list_units([f"{tmp_path}/{{00000..00001}}.tar"], CONFIG)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="notes.txt is not a folder"):
        list_units([str(tmp_path / "notes.txt")], CONFIG)


def test_output_folder_inside_the_input_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg())
    before = list_units([str(tmp_path)], CONFIG, exclude=[str(tmp_path / "out")])
    write_img2dataset_shard(tmp_path / "out" / "shards", 0, 1)
    (tmp_path / "out" / "report").mkdir()
    (tmp_path / "out" / "report" / "sheet.png").write_bytes(jpeg())
    assert list_units([str(tmp_path)], CONFIG, exclude=[str(tmp_path / "out")]) == before
    assert [u.kind for u in list_units([str(tmp_path)], CONFIG)] == ["directory", "tar"]  # without exclude


def test_non_utf8_tar_member_name_is_read_with_a_json_safe_source_id(tmp_path: Path) -> None:
    tar_path = tmp_path / "latin1.tar"
    with tarfile.open(tar_path, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
        add_member(tar, os.fsdecode(NON_UTF8_NAME), jpeg(4))
    [item] = all_items(list_units([str(tar_path)], CONFIG))
    assert item.data == jpeg(4) and item.source_id == f"{tar_path}/caf\\xe9_photo.jpg"
    json.dumps(item.source_id).encode("utf-8")

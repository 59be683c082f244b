"""The walker: paths, order, read-only access, directories, links, limits."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from evidencekit import items, problems, read_walk, tar_bytes, zip_bytes

from haven.errors import EvidenceError
from haven.evidence import walk as walk_module
from haven.evidence.base import Item, Limits
from haven.evidence.registry import find_container
from haven.evidence.walk import evidence_root_name, top_level_sha256, walk


def test_item_paths_name_every_container_on_the_way(seizure: Path):
    # Directories in name order; archive members in the order the archive stores them.
    seen = read_walk(walk([str(seizure)]))
    assert [path for path, _ in seen] == [
        "seizure1/archive.tar",
        "seizure1/archive.tar/outer.zip",
        "seizure1/archive.tar/outer.zip/inner/pack.zip",
        "seizure1/archive.tar/outer.zip/inner/pack.zip/a.jpg",
        "seizure1/archive.tar/outer.zip/inner/b.txt",
        "seizure1/archive.tar/c.txt",
        "seizure1/backup.zip",
        "seizure1/backup.zip/old/x.dat",
        "seizure1/backup.zip/readme.txt",
        "seizure1/docs/a.jpg",
        "seizure1/docs/notes.txt",
    ]
    found = items(seen)
    assert found["seizure1/archive.tar/outer.zip/inner/pack.zip/a.jpg"] == b"\xff\xd8\xff benign picture in pack"
    assert found["seizure1/backup.zip/old/x.dat"] == b"old data"
    assert problems(seen) == []


def test_directory_items_are_read_in_place_and_members_through_openers(seizure: Path):
    for entry in walk([str(seizure)]):
        assert isinstance(entry, Item)
        if "/backup.zip/" in entry.path or "/archive.tar/" in entry.path:
            assert entry.fs_path is None and entry.opener is not None
        else:
            assert entry.fs_path is not None and Path(entry.fs_path).is_file()
        assert entry.size == len(entry.read_all())


def test_walk_order_is_deterministic(seizure: Path):
    first = [entry.path for entry in walk([str(seizure)])]
    (seizure / "zz-late.txt").write_bytes(b"late")
    (seizure / "aa-early.txt").write_bytes(b"early")
    second = [entry.path for entry in walk([str(seizure)])]
    assert second == ["seizure1/aa-early.txt", *first, "seizure1/zz-late.txt"]


def _tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        state[str(path.relative_to(root))] = (digest, st.st_mtime_ns, st.st_mode)
    return state


def test_evidence_is_unchanged_after_a_walk(seizure: Path, tmp_path: Path):
    before = _tree_state(seizure)
    spill = tmp_path / "spill"
    spill.mkdir()
    read_walk(walk([str(seizure)], Limits(spool_limit=16), tmpdir=str(spill)))
    assert _tree_state(seizure) == before
    assert list(spill.iterdir()) == []  # spooled containers are gone once walked


def test_a_single_file_is_an_item_named_after_itself(seizure: Path):
    seen = read_walk(walk([str(seizure / "backup.zip"), str(seizure / "docs" / "a.jpg")]))
    assert [path for path, _ in seen] == [
        "backup.zip", "backup.zip/old/x.dat", "backup.zip/readme.txt", "a.jpg",
    ]


def test_missing_evidence_is_a_user_error_raised_before_walking(tmp_path: Path):
    with pytest.raises(EvidenceError, match="does not exist"):
        walk([str(tmp_path), str(tmp_path / "nope")])


def test_evidence_root_name_is_the_base_name():
    assert evidence_root_name("/x/seizure1") == "seizure1"
    assert evidence_root_name("/x/seizure1/") == "seizure1"
    assert evidence_root_name("/x/disk.E01") == "disk.E01"


def test_top_level_sha256_hashes_files_not_directories(seizure: Path):
    data = (seizure / "backup.zip").read_bytes()
    assert top_level_sha256(str(seizure / "backup.zip")) == hashlib.sha256(data).hexdigest()
    assert top_level_sha256(str(seizure)) is None


def test_symlinks_are_reported_never_followed(tmp_path: Path):
    root = tmp_path / "ev"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_bytes(b"inside")
    (tmp_path / "outside.txt").write_bytes(b"not evidence")
    (root / "sub" / "up").symlink_to("..")
    (root / "self").symlink_to("self")
    (root / "out").symlink_to(tmp_path / "outside.txt")
    (root / "twin").symlink_to("sub/file.txt")
    seen = read_walk(walk([str(root)]))
    kinds = {pb.path: pb.kind for pb in problems(seen)}
    assert kinds == {
        "ev/out": "symlink",
        "ev/self": "symlink-loop",
        "ev/sub/up": "symlink-loop",
        "ev/twin": "symlink",
    }
    assert items(seen) == {"ev/sub/file.txt": b"inside"}
    assert "outside.txt" in next(pb.reason for pb in problems(seen) if pb.path == "ev/out")


def test_fifos_are_not_opened(tmp_path: Path):
    root = tmp_path / "ev"
    root.mkdir()
    os.mkfifo(root / "pipe")
    seen = read_walk(walk([str(root)]))
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("ev/pipe", "unsupported")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path):
    root = tmp_path / "ev"
    root.mkdir()
    (root / "locked.txt").write_bytes(b"x")
    (root / "locked.txt").chmod(0)
    (root / "open.txt").write_bytes(b"y")
    try:
        seen = read_walk(walk([str(root)]))
    finally:
        (root / "locked.txt").chmod(0o600)
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("ev/locked.txt", "unreadable")]
    assert items(seen) == {"ev/open.txt": b"y"}


def test_permission_denied_is_reported_as_unreadable(tmp_path: Path, monkeypatch):
    # Tests run as root here, which reads any file; the refusal is simulated at the one
    # place the walker opens evidence.
    root = tmp_path / "ev"
    root.mkdir()
    (root / "locked.txt").write_bytes(b"x")
    (root / "open.txt").write_bytes(b"y")
    real_open = walk_module._open_evidence

    def refusing(path: str):
        if path.endswith("locked.txt"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path)

    monkeypatch.setattr(walk_module, "_open_evidence", refusing)
    seen = read_walk(walk([str(root)]))
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("ev/locked.txt", "unreadable")]
    assert items(seen) == {"ev/open.txt": b"y"}


def test_containers_nested_too_deep_are_not_opened(tmp_path: Path):
    inner = zip_bytes({"deep.txt": b"deep"})
    middle = zip_bytes({"inner.zip": inner})
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"middle.zip": middle}))
    seen = read_walk(walk([str(tmp_path / "outer.zip")], Limits(max_depth=2)))
    assert "outer.zip/middle.zip/inner.zip" in items(seen)
    assert "outer.zip/middle.zip/inner.zip/deep.txt" not in items(seen)
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [
        ("outer.zip/middle.zip/inner.zip", "too-deep")
    ]


def test_total_expansion_of_one_archive_is_capped(tmp_path: Path):
    members = {f"f{i}.bin": bytes([i]) * 1000 for i in range(10)}
    (tmp_path / "many.tar").write_bytes(tar_bytes({"inner.zip": zip_bytes(members)}))
    seen = read_walk(walk([str(tmp_path / "many.tar")], Limits(max_total_extracted=6000)))
    bombs = [pb for pb in problems(seen) if pb.kind == "bomb"]
    assert len(bombs) == 1
    extracted = [path for path in items(seen) if path.startswith("many.tar/inner.zip/")]
    assert 0 < len(extracted) < 10


def test_too_many_members_is_a_bomb(tmp_path: Path):
    (tmp_path / "crowd.zip").write_bytes(zip_bytes({f"{i}.txt": b"x" for i in range(5)}))
    seen = read_walk(walk([str(tmp_path / "crowd.zip")], Limits(max_items=3)))
    assert len([p for p in items(seen) if p.startswith("crowd.zip/")]) == 3
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("crowd.zip", "bomb")]


def test_registry_finds_containers_by_content_not_name():
    assert find_container(zip_bytes({"a": b"a"}), None).name == "zip"
    assert find_container(tar_bytes({"a": b"a"}), None).name == "tar"
    assert find_container(b"just some text", None) is None


def test_undecodable_file_names_are_escaped_not_lost(tmp_path: Path):
    root = tmp_path / "ev"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"latin-1 name")
    seen = read_walk(walk([str(root)]))
    assert items(seen) == {"ev/caf%E9.txt": b"latin-1 name"}
    assert problems(seen) == []


def test_a_linked_top_level_path_is_followed(seizure: Path, tmp_path: Path):
    (tmp_path / "link").symlink_to(seizure)
    paths = [entry.path for entry in walk([str(tmp_path / "link")])]
    assert "link/docs/a.jpg" in paths

"""The corpus preparation helpers shared by every corpus module:
emotion2vec.corpora.files (finding files and the usable copy) and
emotion2vec.corpora.manifest (counts and the end of a preparation)."""

import json
import logging
import os
import re

import pytest
import torch

from emotion2vec.audio import write_audio
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_named_files, index_files, probe_first, scan_files
from emotion2vec.corpora.manifest import audio_row, finish_manifest, marker_path, read_manifest


def touch(root, rel, data=b"good"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_find_named_files_junk_and_copy_order(tmp_path):
    for rel in ("a/b/x1.wav", "x1.wav", "c/x1.wav", ".hidden/x2.wav", "__MACOSX/x3.wav",
                "d/._x4.wav", "d/notes.txt"):
        touch(tmp_path, rel)
    files = find_named_files(tmp_path, re.compile(r"^(x\d)\.wav$"), "demo")
    assert [(f.key, f.path.relative_to(tmp_path).as_posix()) for f in files] == [("x1", "x1.wav")]
    assert [p.relative_to(tmp_path).as_posix() for p in files[0].copies] == ["c/x1.wav", "a/b/x1.wav"]


def test_find_named_files_parse_reports_and_ignores(tmp_path):
    for rel in ("s1_a.wav", "s9_a.wav", "s1_b.wav"):
        touch(tmp_path, rel)

    def parse(match, path):
        if match.group(1) == "s9":
            raise ValueError("no speaker s9")
        return None if match.group(2) == "b" else {"ID": path.stem, "speaker": match.group(1)}

    skips = SkipLog("demo")
    files = find_named_files(tmp_path, re.compile(r"^(s\d)_(\w)\.wav$"), "demo", skips, parse)
    assert [(f.key, f.fields["speaker"]) for f in files] == [("s1_a", "s1")]
    assert skips.items == [(str(tmp_path / "s9_a.wav"), "no speaker s9")]


def test_scan_files_follows_symlinked_folders_once(tmp_path):
    touch(tmp_path, "real/u1.wav")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path, tmp_path / "real" / "loop")  # a loop back to the top
    found = scan_files(tmp_path, re.compile(r".*\.wav$"))
    assert len(found) == 1 and found[0][0].name == "u1.wav"  # one real folder, walked once
    assert index_files(tmp_path, "demo")["u1.wav"][0].name == "u1.wav"


def test_probe_first_reports_unusable_copies_and_lists_duplicates(tmp_path):
    broken = touch(tmp_path, "a/u.wav", b"RIFF broken")
    empty = touch(tmp_path, "b/u.wav", b"")
    for rel in ("c/u.wav", "d/u.wav"):
        write_audio(tmp_path / rel, torch.zeros(1600))
    skips = SkipLog("demo")
    paths = [broken, empty, tmp_path / "c/u.wav", tmp_path / "d/u.wav"]
    assert probe_first(paths, skips) == (tmp_path / "c/u.wav", 0.1)
    assert [path for path, _ in skips.items] == [str(broken), str(empty)]
    assert all(f"used the copy {tmp_path / 'c/u.wav'} instead" in r for _, r in skips.items)
    assert skips.duplicates == [(str(tmp_path / "d/u.wav"), str(tmp_path / "c/u.wav"))]
    skips = SkipLog("demo")
    assert probe_first([broken, empty], skips) is None
    assert [reason for _, reason in skips.items][1] == "empty file (0 bytes)"
    assert not skips.duplicates


def test_finish_manifest_compares_a_complete_copy_per_group(tmp_path, caplog):
    rows = [audio_row({"ID": f"u{i}", "label": "hap" if i < 4 else "sad", "speaker": "s1",
                       "split": "train" if i % 2 else "test"}, f"/d/u{i}.wav", 1.0)
            for i in range(9)]
    expected = {"train": {"hap": 2, "sad": 3}, "test": {"hap": 2, "sad": 3}}
    skips = SkipLog("Demo")
    skips.add_duplicate("/copy/u1.wav", "/d/u1.wav")
    with caplog.at_level(logging.INFO):
        csv_path = finish_manifest(tmp_path / "demo.csv", rows, "demo", {}, "Demo", skips,
                                   ("split",), expected=expected, found=10, group="split")
    assert "Demo split test: 5 utterances as expected (hap 2, sad 3)" in caplog.text
    assert "Demo split train: 4 utterances, expected 5; differences: sad 2 (expected 3)" in caplog.text
    summary = json.loads(marker_path(csv_path).read_text())["summary"]
    assert summary["compared_to_release"] is True
    assert summary["per_split"] == {"test": {"hap": 2, "sad": 3}, "train": {"hap": 2, "sad": 2}}
    assert summary["per_speaker"] == {"s1": {"hap": 4, "sad": 5}}
    assert summary["duplicates"] == [["/copy/u1.wav", "/d/u1.wav"]]
    assert [row["ID"] for row in read_manifest(csv_path)] == [f"u{i}" for i in range(9)]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        finish_manifest(tmp_path / "b.csv", rows, "demo", {}, "Demo", SkipLog("Demo"), ("split",),
                        expected={"train": {"hap": 50}, "test": {"sad": 50}}, group="split")
    assert "expected" not in caplog.text and "9 of the release's 100" in caplog.text
    with pytest.raises(PrepError, match="no usable utterance found"):
        finish_manifest(tmp_path / "c.csv", [], "demo", {}, "Demo", SkipLog("Demo"))
    assert not (tmp_path / "c.csv").exists()

"""A tiny fake MEAD download (needs PyAV to write its M4A files), with its traps.

::

    root/MEAD/
      M003/audio.tar      audio/<emotion>/level_<k>/NNN.m4a members, plus hostile ones:
                          ../../escaped.m4a (refused), /abs/audio/happy/level_1/009.m4a
                          (refused), a symlink and a hard link member (refused), an
                          undecodable member (reported), ._ junk (ignored)
      W009/audio/...      already extracted: two files, an empty one (reported), ._ junk
      W010/audio.tar      one member also present extracted (duplicate) and one not
      W010/audio/happy/level_1/001.m4a

6 usable files: M003 3, W009 2, W010 2 ... minus the duplicate = see ``FakeCorpus.rows``.

Authors
 * emotion2vec-sb contributors
"""

import io
import tarfile
from pathlib import Path

import numpy as np

from tests.fakes.layout import APPLEDOUBLE, BROKEN, FakeCorpus, write_bytes


def m4a_bytes(seconds: float = 0.3, rate: int = 48000, channels: int = 2) -> bytes:
    """A tiny stereo AAC-in-M4A file (a 0.4 sine on both channels)."""
    import av

    buffer = io.BytesIO()
    layout = {1: "mono", 2: "stereo"}[channels]
    t = np.arange(int(seconds * rate)) / rate
    data = np.repeat((0.4 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32), channels, 0)
    with av.open(buffer, "w", format="ipod") as container:
        audio = container.add_stream("aac", rate=rate)
        audio.layout = layout
        for start in range(0, t.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, start:start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind=tarfile.REGTYPE,
         link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_fake_mead(root, seconds: float = 0.3) -> FakeCorpus:
    """Writes the fake download under ``root``; ``rows`` maps IDs to the
    expected ``label``, ``speaker``, ``gender``, ``level``; ``skipped`` to a
    fragment of the reason; durations are ``seconds`` (AAC padding aside)."""
    root = Path(root)
    fake = FakeCorpus(root)
    clip = m4a_bytes(seconds)

    def expect(actor, emotion, level, number):
        utt = f"{actor}/{emotion}/level_{level}/{number}"
        fake.rows[utt] = {"ID": utt, "label": emotion, "speaker": actor,
                          "gender": {"M": "M", "W": "F"}[actor[0]], "level": str(level)}
        fake.durations[utt] = seconds

    archive = root / "MEAD" / "M003" / "audio.tar"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w") as tar:
        _add(tar, "audio", kind=tarfile.DIRTYPE)
        _add(tar, "audio/angry/level_1/001.m4a", clip)
        _add(tar, "audio/angry/level_2/002.m4a", clip)
        _add(tar, "./audio/neutral/level_1/001.m4a", clip)
        _add(tar, "../../escaped.m4a", clip)
        _add(tar, "/abs/audio/happy/level_1/009.m4a", clip)
        _add(tar, "audio/sad/level_1/003.m4a", kind=tarfile.SYMTYPE, link="/etc/passwd")
        _add(tar, "audio/sad/level_1/004.m4a", kind=tarfile.LNKTYPE,
             link="audio/angry/level_1/001.m4a")
        _add(tar, "audio/sad/level_3/005.m4a", BROKEN)
        _add(tar, "audio/angry/level_1/._001.m4a", APPLEDOUBLE)
    for args in [("M003", "angry", 1, "001"), ("M003", "angry", 2, "002"),
                 ("M003", "neutral", 1, "001")]:
        expect(*args)
    fake.skip(f"{archive}:../../escaped.m4a", "'..' component")
    fake.skip(f"{archive}:/abs/audio/happy/level_1/009.m4a", "absolute path")
    fake.skip(f"{archive}:audio/sad/level_1/003.m4a", "link")
    fake.skip(f"{archive}:audio/sad/level_1/004.m4a", "link")
    fake.skip(f"{archive}:audio/sad/level_3/005.m4a", "cannot decode")

    w009 = root / "MEAD" / "W009" / "audio"
    write_bytes(w009 / "happy/level_3/001.m4a", clip)
    write_bytes(w009 / "sad/level_1/002.m4a", clip)
    write_bytes(w009 / "happy/level_3/._001.m4a", APPLEDOUBLE)
    write_bytes(w009 / "fear/level_1/003.m4a", b"")
    expect("W009", "happy", 3, "001")
    expect("W009", "sad", 1, "002")
    fake.skip(w009 / "fear/level_1/003.m4a", "empty")

    w010 = root / "MEAD" / "W010"
    write_bytes(w010 / "audio/happy/level_1/001.m4a", clip)
    with tarfile.open(w010 / "audio.tar", "w") as tar:
        _add(tar, "audio/happy/level_1/001.m4a", clip)
        _add(tar, "audio/contempt/level_2/005.m4a", clip)
    expect("W010", "happy", 1, "001")
    expect("W010", "contempt", 2, "005")
    fake.duplicate(f"{w010 / 'audio.tar'}:audio/happy/level_1/001.m4a")
    return fake

"""Fixtures: sample stores (built once per session, copied per test with
their catalogue paths rewritten), a stand-in for the NVR's ``frigate.const``
and config, and ffprobe as the independent oracle.

The whole session runs in a local time zone that is neither UTC nor a whole
hour away from it (Asia/Kolkata, +05:30), so that the three clocks of an
export (local file names, the configured zone's names, UTC creation time)
cannot be confused by a test that passes by accident."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

os.environ["TZ"] = "Asia/Kolkata"
time.tzset()

import nvr_export  # noqa: E402
from nvr_export import _native  # noqa: E402


@pytest.fixture(scope="session")
def built_stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("stores")
    return {kind: json.loads(_native.sample_store(kind, str(base / kind))) for kind in ("demo", "nvr", "cameras")}


def copy_store(info, dest: Path) -> dict:
    """A private copy of a built store under ``dest`` (catalogue paths
    rewritten), so that a test may change it."""
    src = Path(info["db"]).parent
    shutil.copytree(src, dest)
    db = dest / "frigate.db"
    con = sqlite3.connect(db)
    for table in ("recordings", "previews"):
        con.execute(f"UPDATE {table} SET path = replace(path, ?, ?)", (str(src), str(dest)))
    con.commit()
    con.close()
    return dict(info, db=str(db), media_dir=str(dest / "media"), root=str(dest))


@pytest.fixture
def demo(built_stores, tmp_path):
    return copy_store(built_stores["demo"], tmp_path / "demo")


@pytest.fixture
def nvr(built_stores, tmp_path):
    return copy_store(built_stores["nvr"], tmp_path / "nvr")


@pytest.fixture
def cameras(built_stores, tmp_path):
    return copy_store(built_stores["cameras"], tmp_path / "cameras")


def rows(db, sql, *args):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def export_rows(db):
    return rows(db, "SELECT id, camera, name, video_path, thumb_path, in_progress, export_case_id FROM export")


def files_under(path):
    p = Path(path)
    return sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()) if p.exists() else []


def ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-show_chapters", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def moov_before_mdat(path):
    """Walks the top-level boxes: True when moov comes before mdat."""
    order = []
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            size = int.from_bytes(head[:4], "big")
            kind = head[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big")
                f.seek(size - 16, 1)
            else:
                f.seek(size - 8, 1)
            order.append(kind)
    return "moov" in order and "mdat" in order and order.index("moov") < order.index("mdat")


@pytest.fixture
def frigate_env(tmp_path, monkeypatch):
    """A stand-in ``frigate`` package whose ``const`` puts every folder
    somewhere new under ``tmp_path`` (as the NVR's own tests do)."""
    pkg = types.ModuleType("frigate")
    pkg.__path__ = []
    const = types.ModuleType("frigate.const")
    base = tmp_path / "moved"
    const.BASE_DIR = str(base / "media")
    const.CLIPS_DIR = str(base / "media" / "clips")
    const.EXPORT_DIR = str(base / "exports-elsewhere")
    const.RECORD_DIR = str(base / "media" / "recordings")
    const.CACHE_DIR = str(base / "cache")
    const.DEFAULT_DB_PATH = str(base / "config" / "frigate.db")
    for d in (const.CLIPS_DIR, const.EXPORT_DIR, const.RECORD_DIR, const.CACHE_DIR):
        os.makedirs(d, exist_ok=True)
    pkg.const = const
    monkeypatch.setitem(sys.modules, "frigate", pkg)
    monkeypatch.setitem(sys.modules, "frigate.const", const)
    return const


def nvr_store_in(info, const) -> dict:
    """The built store moved into the NVR's folders of ``const``: its
    recordings under RECORD_DIR, its previews under CLIPS_DIR/previews, its
    catalogue at DEFAULT_DB_PATH, paths rewritten."""
    src_root = Path(info["db"]).parent
    src_media = src_root / "media"
    shutil.copytree(src_media / "recordings", const.RECORD_DIR, dirs_exist_ok=True)
    shutil.copytree(src_media / "clips" / "previews", Path(const.CLIPS_DIR) / "previews",
                    dirs_exist_ok=True)
    os.makedirs(os.path.dirname(const.DEFAULT_DB_PATH), exist_ok=True)
    shutil.copy(info["db"], const.DEFAULT_DB_PATH)
    con = sqlite3.connect(const.DEFAULT_DB_PATH)
    con.execute("UPDATE recordings SET path = replace(path, ?, ?)",
                (str(src_media / "recordings"), const.RECORD_DIR))
    con.execute("UPDATE previews SET path = replace(path, ?, ?)",
                (str(src_media / "clips"), const.CLIPS_DIR))
    con.commit()
    con.close()
    return dict(info, db=const.DEFAULT_DB_PATH)

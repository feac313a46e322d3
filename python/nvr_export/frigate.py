"""Drop-in for the NVR's exporter (Frigate's ``frigate/record/export.py``).

The NVR's job manager builds ``RecordingExporter`` with 13 positional
arguments and ``on_progress=`` and calls ``run()`` in its own worker threads
(up to three at once); its routes call ``validate_ffmpeg_args`` for
non-admin users and its start-up calls ``migrate_exports``. This module has
those three names with the same signatures, doing the work in process
through the engine instead of spawning ``ffmpeg``:

* ``run()`` blocks until the export is finished or failed, releases the GIL
  while it works and is safe on several threads at once. The export row is
  inserted ``in_progress`` before any media is written and flipped at the
  end; on failure the row, the file and the thumbnail are gone (the job
  manager reads the row afterwards, as it does now).
* Progress: ``("preparing", 0)``, then ``("copying", 0..100)`` (stream copy)
  or ``("encoding", ...)`` (custom or timelapse encodes; ``encoding_retry``
  after a hardware failure with ``cpu_fallback``), then
  ``("finalizing", 100)``; never decreasing within a step, always in 0-100.
  An exception in ``on_progress`` is logged and never stops the export.
* Three clocks, as the NVR: the file name
  ``{camera}_{YYYYmmdd_HHMMSS}-{YYYYmmdd_HHMMSS}_{suffix}.mp4`` in the
  machine's local time, the default name and the title in
  ``config.ui.timezone`` (local time when unset or unknown),
  ``creation_time`` in UTC; ``video_path`` is exactly
  ``os.path.join(EXPORT_DIR, file)``.
* Folders come from ``frigate.const`` at run time (``EXPORT_DIR``,
  ``CLIPS_DIR``, ``CACHE_DIR``, ``RECORD_DIR``, ``BASE_DIR``), so the NVR and
  its tests can move them; the catalogue is ``config.database.path``.

To use it, the NVR changes one import in ``frigate/jobs/export.py`` (and the
routes' ``validate_ffmpeg_args`` import, and the app's ``migrate_exports``)::

    from nvr_export.frigate import PlaybackSourceEnum, RecordingExporter

Departures, on purpose: chapters are written as real chapters by the
engine (no metadata file in the cache folder); a user image that is not
WebP is converted (the file is named ``.webp``); custom ffmpeg arguments go
through the engine's allowlist (admins included: nothing else reaches
libav), and ``hwaccel_args`` that are not a preset name (``preset-vaapi``,
``auto``...) fall back to software encoding with a warning in the log.
"""

from __future__ import annotations

import datetime
import importlib
import logging
import os
import threading
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from . import Exporter, ExportError, _native
from . import validate_ffmpeg_args as _validate

__all__ = [
    "PlaybackSourceEnum",
    "RecordingExporter",
    "validate_ffmpeg_args",
    "migrate_exports",
    "DEFAULT_TIME_LAPSE_FFMPEG_ARGS",
]

logger = logging.getLogger(__name__)

DEFAULT_TIME_LAPSE_FFMPEG_ARGS = "-vf setpts=0.04*PTS -r 30"


class PlaybackSourceEnum(str, Enum):
    recordings = "recordings"
    preview = "preview"


def validate_ffmpeg_args(args: str) -> Tuple[bool, str]:
    """``(True, "")`` when user-provided export ffmpeg arguments pass the
    allowlist, else ``(False, message)`` (the NVR's routes' call)."""
    return _validate(args)


# ----------------------------------------------------------------------------
# The NVR's folders and catalogue, read at run time


def _const() -> Any:
    """``frigate.const``, imported when an export runs (tests move it)."""
    return importlib.import_module("frigate.const")


class _Folders:
    def __init__(self, const: Any) -> None:
        base = getattr(const, "BASE_DIR", None)
        self.export_dir: str = const.EXPORT_DIR
        self.clips_dir: str = const.CLIPS_DIR
        self.cache_dir: str = const.CACHE_DIR
        self.record_dir: str = const.RECORD_DIR
        self.media_dir: str = base or os.path.dirname(os.path.normpath(self.record_dir))

    def key(self) -> tuple:
        return (self.export_dir, self.clips_dir, self.cache_dir, self.record_dir, self.media_dir)


def _database_path(config: Any = None) -> str:
    """The catalogue: ``config.database.path``, else the database the NVR's
    ``Export`` model is bound to, else ``frigate.const.DEFAULT_DB_PATH``."""
    path = getattr(getattr(config, "database", None), "path", None)
    if path:
        return str(path)
    try:
        models = importlib.import_module("frigate.models")
        bound = models.Export._meta.database.database  # peewee: the file name
        if bound:
            return str(bound)
    except Exception:
        pass
    return str(getattr(_const(), "DEFAULT_DB_PATH", "/config/frigate.db"))


_exporters: Dict[tuple, Exporter] = {}
_exporters_lock = threading.Lock()


def _exporter(db: str, folders: _Folders) -> Exporter:
    """One engine per catalogue and folder set, shared by every thread."""
    key = (db,) + folders.key()
    with _exporters_lock:
        ex = _exporters.get(key)
        if ex is None:
            ex = Exporter(
                db,
                folders.media_dir,
                cache_dir=folders.cache_dir,
                # Recordings and previews may sit outside BASE_DIR when the
                # NVR's folders are moved: read them where the NVR writes them.
                recordings_roots=[folders.record_dir, folders.clips_dir],
                exports_dir=folders.export_dir,
                clips_dir=folders.clips_dir,
            )
            _exporters[key] = ex
        return ex


def _ui_timezone(config: Any) -> Optional[str]:
    """``config.ui.timezone`` when the engine knows it; else ``None`` (local
    time, as the NVR falls back on an unknown zone)."""
    tz = getattr(getattr(config, "ui", None), "timezone", None)
    if tz and _native.is_known_timezone(str(tz)):
        return str(tz)
    return None


def _hwaccel_preset(config: Any, camera: str) -> Optional[str]:
    """The camera's export ``hwaccel_args`` when it names a preset; else
    ``None`` (software)."""
    try:
        args = config.cameras[camera].record.export.hwaccel_args
    except Exception:
        return None
    if isinstance(args, str) and (args == "auto" or args.startswith("preset-")):
        return args
    if args:
        logger.warning(
            "export hwaccel_args %r for %s is not a preset name; encoding in software",
            args,
            camera,
        )
    return None


# ----------------------------------------------------------------------------
# The exporter


class RecordingExporter(threading.Thread):
    """Exports a camera's recordings (or previews) over a range to one file,
    registered in the catalogue. Same constructor as the NVR's."""

    def __init__(
        self,
        config: Any,
        id: str,
        camera: str,
        name: Optional[str],
        image: Optional[str],
        start_time: int,
        end_time: int,
        playback_source: Any,
        export_case_id: Optional[str] = None,
        ffmpeg_input_args: Optional[str] = None,
        ffmpeg_output_args: Optional[str] = None,
        cpu_fallback: bool = False,
        chapters: Any = None,
        on_progress: Optional[Callable[[str, float], None]] = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.export_id = id
        self.camera = camera
        self.user_provided_name = name
        self.user_provided_image = image
        self.start_time = start_time
        self.end_time = end_time
        self.playback_source = playback_source
        self.export_case_id = export_case_id
        self.ffmpeg_input_args = ffmpeg_input_args
        self.ffmpeg_output_args = ffmpeg_output_args
        self.cpu_fallback = cpu_fallback
        self.chapters = chapters
        self.on_progress = on_progress
        #: The engine's outcome after a successful ``run()``; else ``None``.
        self.outcome = None
        #: The error of a failed ``run()``; else ``None``.
        self.error: Optional[ExportError] = None
        Path(os.path.join(_const().CLIPS_DIR, "export")).mkdir(exist_ok=True)

    def _source(self) -> str:
        value = getattr(self.playback_source, "value", self.playback_source)
        return "preview" if value == "preview" else "recordings"

    def _chapters(self) -> str:
        # As the NVR: review items or recording segments when the mode
        # names them (its ChaptersEnum), and no chapters for anything else.
        c = self.chapters
        for v in (getattr(c, "value", None), getattr(c, "name", None), c):
            if isinstance(v, str) and v in ("review_items", "recording_segments"):
                return v
        return "none"

    def run(self) -> None:
        logger.debug(
            "Beginning export for %s from %s to %s", self.camera, self.start_time, self.end_time
        )
        folders = _Folders(_const())
        exporter = _exporter(_database_path(self.config), folders)
        custom = self.ffmpeg_input_args is not None and self.ffmpeg_output_args is not None
        image = self.user_provided_image
        request: Dict[str, Any] = dict(
            name=self.user_provided_name or None,
            id=self.export_id,
            timezone=_ui_timezone(self.config),
            export_case_id=self.export_case_id,
            chapters=self._chapters(),
            source=self._source(),
            thumbnail=image if image is not None and os.path.isfile(image) else None,
        )
        if custom:
            request.update(
                input_args=self.ffmpeg_input_args,
                output_args=self.ffmpeg_output_args,
                hwaccel=_hwaccel_preset(self.config, self.camera),
                cpu_fallback=self.cpu_fallback,
            )
        try:
            self.outcome = exporter.export(
                self.camera,
                self.start_time,
                self.end_time,
                # The engine keeps percents in 0-100; Exporter.export logs a
                # callback's exception and goes on (the NVR's _emit_progress).
                progress=self.on_progress,
                **request,
            )
        except ExportError as e:
            # The engine removed the row, the file and the thumbnail.
            self.error = e
            logger.error("Failed to export %s for %s: %s", self._source(), self.camera, e)
            return
        for w in self.outcome.warnings:
            logger.warning("Export %s: %s", self.export_id, w.message)
        logger.debug("Finished exporting %s", self.outcome.video_path)


def migrate_exports(ffmpeg: Any, camera_names: Sequence[str]) -> None:
    """Gives every bare export file a catalogue row (ids ``{camera}_xxxxxx``,
    180 px-high JPEG thumbnails, the name from the file name), as the NVR's
    own ``migrate_exports``; ``ffmpeg`` (its ffmpeg config) is not needed."""
    const = _const()
    folders = _Folders(const)
    Path(os.path.join(folders.clips_dir, "export")).mkdir(exist_ok=True)
    exporter = _exporter(_database_path(None), folders)
    try:
        report = exporter.migrate(cameras=list(camera_names))
    except ExportError as e:
        logger.error("Export migration failed: %s", e)
        return
    for skipped in report.get("skipped", []):
        logger.error("Export migration skipped %s: %s", skipped["path"], skipped["reason"])

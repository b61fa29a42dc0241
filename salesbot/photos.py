"""Product photos: one folder per product, file names carry the colour («черный.jpg», «черный-2.jpg»).

Local folders (PHOTOS_DIR) are read directly; a Google Drive folder with the same structure is indexed
through google-api-python-client (see `drive_photos.py`). Either way a photo is a `Photo` with a URL the
channel can send: `file://` for local files (uploaded), `https://` for remote ones (sent by URL).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence
from urllib.parse import unquote, urlparse

from salesbot.extract import canonical_color
from salesbot.textnorm import normalize

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_PHOTOS_PER_MESSAGE = 3


DRIVE_CACHE_DIR_NAME = "drive-cache"     # under RUNTIME_DIR: the Drive photos downloaded to be uploaded
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_file_name(name: str, default_stem: str = "photo") -> str:
    """A base name that cannot leave its folder: no path parts, separators, control characters, «..» or
    leading dots; at most 100 characters with the image suffix kept."""
    base = _UNSAFE_NAME_CHARS.sub("_", str(name).replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".")
    suffix = Path(base).suffix.lower() if Path(base).suffix.lower() in IMAGE_SUFFIXES else ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    stem = stem.strip(" .")[:100] or default_stem
    return stem + suffix


def upload_roots(photos_dir: Path, runtime_dir: Path) -> List[Path]:
    """The only folders whose files may be uploaded to WhatsApp: PHOTOS_DIR and the Drive cache."""
    return [Path(photos_dir).resolve(), (Path(runtime_dir) / DRIVE_CACHE_DIR_NAME).resolve()]


def uploadable_path(url: str, roots: Sequence[Path]) -> Optional[Path]:
    """The local file a file:// URL names when it is an image inside one of `roots` (symlinks resolved), else
    None: a file:// URL anywhere else (a tracker slot, a forged action reply) must not upload /etc/passwd."""
    parsed = urlparse(url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(unquote(parsed.path)).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return path if any(path.is_relative_to(root) for root in roots) else None


@dataclass(frozen=True)
class Photo:
    product: str
    color: Optional[str]
    url: str
    file_name: str


def color_of_file(file_name: str, known_colors: Sequence[str] = ()) -> Optional[str]:
    stem = re.sub(r"[-_ ]?\d+$", "", Path(file_name).stem)
    return canonical_color(stem, known_colors) or (stem.lower() or None)


def choose_photos(photos: Sequence[Photo], color: Optional[str] = None,
                  limit: int = MAX_PHOTOS_PER_MESSAGE) -> List[Photo]:
    """Only the requested colour (up to `limit`), else one photo per colour (up to `limit`)."""
    if color:
        return [p for p in photos if p.color == color][:limit]
    chosen: Dict[Optional[str], Photo] = {}
    for photo in photos:
        chosen.setdefault(photo.color, photo)
    return list(chosen.values())[:limit]


class LocalPhotoLibrary:
    """Indexes PHOTOS_DIR; re-scans when the folder changes or every `rescan_seconds`."""

    def __init__(self, root: Path, rescan_seconds: float = 300.0):
        self.root = Path(root)
        self.rescan_seconds = rescan_seconds
        self._index: Dict[str, List[Photo]] = {}
        self._scanned_at = 0.0
        self._signature: Optional[float] = None
        self._lock = threading.Lock()

    def _scan(self, known_colors: Sequence[str]) -> None:
        index: Dict[str, List[Photo]] = {}
        if self.root.is_dir():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                photos = [
                    Photo(folder.name, color_of_file(f.name, known_colors), f.resolve().as_uri(), f.name)
                    for f in sorted(folder.iterdir())
                    if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                ]
                if photos:
                    index[normalize(folder.name)] = photos
        self._index = index

    def photos_for(self, product_name: str, known_colors: Sequence[str] = ()) -> List[Photo]:
        with self._lock:
            try:
                signature = self.root.stat().st_mtime
            except OSError:
                signature = None
            if signature != self._signature or time.monotonic() - self._scanned_at > self.rescan_seconds:
                self._scan(known_colors)
                self._signature = signature
                self._scanned_at = time.monotonic()
            return list(self._index.get(normalize(product_name), []))

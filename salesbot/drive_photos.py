"""Product photos from a Google Drive folder with the same structure as PHOTOS_DIR (one subfolder per product).

Uses google-api-python-client with a service account. The folder index (names and file ids) is cached and
refreshed every `refresh_seconds`; photo bytes are downloaded once into `cache_dir` and sent as local files,
because Drive links need authorization that WhatsApp does not have.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from salesbot.photos import IMAGE_SUFFIXES, Photo, color_of_file, safe_file_name
from salesbot.textnorm import normalize

logger = logging.getLogger(__name__)
FOLDER_MIME = "application/vnd.google-apps.folder"
SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
_DRIVE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def build_drive_service(credentials_file: str, **options: Any):
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    credentials = service_account.Credentials.from_service_account_file(credentials_file, scopes=SCOPES)
    return build("drive", "v3", credentials=credentials, cache_discovery=False, **options)


class DrivePhotoLibrary:
    def __init__(self, folder_id: str, credentials_file: str, cache_dir: Path, refresh_seconds: float = 600.0,
                 service_factory: Optional[Callable[[], Any]] = None):
        self.folder_id = folder_id
        self.cache_dir = Path(cache_dir)
        self.refresh_seconds = refresh_seconds
        self._factory = service_factory or (lambda: build_drive_service(credentials_file))
        self._service = None
        self._index: Dict[str, List[Dict[str, str]]] = {}
        self._indexed_at = -float("inf")
        self._lock = threading.Lock()

    @property
    def service(self):
        if self._service is None:
            self._service = self._factory()
        return self._service

    def _list(self, parent_id: str) -> List[Dict[str, str]]:
        items: List[Dict[str, str]] = []
        page_token = None
        while True:
            reply = self.service.files().list(
                q=f"'{parent_id}' in parents and trashed = false",
                fields="nextPageToken, files(id, name, mimeType, md5Checksum)",
                pageSize=1000, pageToken=page_token,
            ).execute()
            items.extend(reply.get("files", []))
            page_token = reply.get("nextPageToken")
            if not page_token:
                return items

    def refresh(self) -> None:
        index: Dict[str, List[Dict[str, str]]] = {}
        for folder in self._list(self.folder_id):
            if folder.get("mimeType") != FOLDER_MIME:
                continue
            files = [f for f in self._list(folder["id"])
                     if Path(f.get("name", "")).suffix.lower() in IMAGE_SUFFIXES]
            if files:
                index[normalize(folder["name"])] = sorted(files, key=lambda f: f["name"])
                for f in files:
                    f["product"] = folder["name"]
        self._index = index
        self._indexed_at = time.monotonic()
        logger.info("drive photo index refreshed: %d product folders", len(index))

    def _download(self, file: Dict[str, str]) -> Path:
        # Drive names are anyone's text («../../x.jpg»): only a checked id and a safe base name touch the disk.
        if not _DRIVE_ID.match(str(file.get("id", ""))):
            raise ValueError("drive file id is not a Drive id")
        target = self.cache_dir / file["id"] / safe_file_name(file["name"])
        if not target.resolve().is_relative_to(self.cache_dir.resolve()):
            raise ValueError("drive file would land outside the photo cache")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            content = self.service.files().get_media(fileId=file["id"]).execute()
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(content)
            partial.replace(target)
        return target

    def photos_for(self, product_name: str, known_colors: Sequence[str] = ()) -> List[Photo]:
        with self._lock:
            if time.monotonic() - self._indexed_at > self.refresh_seconds:
                try:
                    self.refresh()
                except Exception as exc:  # keep the last index when Drive is unreachable
                    logger.error("drive photo index not refreshed: %s", exc)
                    self._indexed_at = time.monotonic() - self.refresh_seconds + 60
            files = list(self._index.get(normalize(product_name), []))
        return [Photo(f["product"], color_of_file(f["name"], known_colors), f"drive:{f['id']}", f["name"])
                for f in files]

    def local_url(self, photo: Photo) -> str:
        """Download (once) and give the file:// URL the channel uploads."""
        file_id = photo.url.split(":", 1)[1]
        files = [f for fs in self._index.values() for f in fs if f["id"] == file_id]
        return self._download(files[0]).resolve().as_uri()

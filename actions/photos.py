"""The photo source the shop configured: a Google Drive folder or PHOTOS_DIR."""
from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import List, Optional, Sequence

from salesbot.photos import DRIVE_CACHE_DIR_NAME, LocalPhotoLibrary, Photo, choose_photos
from salesbot.settings import get_settings


class PhotoSource:
    def __init__(self, library):
        self.library = library

    async def photos_for(self, product: str, known_colors: Sequence[str], color: Optional[str]) -> List[Photo]:
        photos = await asyncio.to_thread(self.library.photos_for, product, known_colors)
        chosen = choose_photos(photos, color)
        if hasattr(self.library, "local_url"):  # Drive: download only the photos that are sent
            chosen = [Photo(p.product, p.color, await asyncio.to_thread(self.library.local_url, p), p.file_name)
                      for p in chosen]
        return chosen


@lru_cache(maxsize=1)
def photo_library() -> PhotoSource:
    settings = get_settings()
    if settings.google_drive_photos_folder_id:
        from salesbot.drive_photos import DrivePhotoLibrary

        return PhotoSource(DrivePhotoLibrary(settings.google_drive_photos_folder_id, settings.google_credentials_file,
                                             settings.runtime_dir / DRIVE_CACHE_DIR_NAME))
    return PhotoSource(LocalPhotoLibrary(settings.photos_dir))

"""The time source. Real time by default; tests point SALESBOT_CLOCK_FILE at a file holding epoch seconds,
so every process (Rasa server, action server) sees the same injected time without sleeping."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional


class Clock:
    def __init__(self, override_file: Optional[str] = None):
        self.override_file = Path(override_file) if override_file else None

    def now(self) -> float:
        if self.override_file is not None:
            try:
                text = self.override_file.read_text().strip()
                if text:
                    return float(text)
            except (OSError, ValueError):
                pass
        return time.time()

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)


def system_clock() -> Clock:
    return Clock(os.environ.get("SALESBOT_CLOCK_FILE") or None)

"""Drive photos through google-api-python-client against a local server speaking the Drive v3 protocol."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build

from salesbot.drive_photos import FOLDER_MIME, DrivePhotoLibrary
from salesbot.photos import choose_photos

TREE = {
    "root": [{"id": "f1", "name": "Chanel балетки", "mimeType": FOLDER_MIME},
             {"id": "f2", "name": "Prada очки", "mimeType": FOLDER_MIME},
             {"id": "f3", "name": "Gucci кеды", "mimeType": FOLDER_MIME},
             {"id": "x", "name": "notes.txt", "mimeType": "text/plain"}],
    "f3": [{"id": "p4", "name": "../../../../escape.jpg", "mimeType": "image/jpeg"},
           {"id": "p5", "name": "..\\белый.jpg", "mimeType": "image/jpeg"},
           {"id": "../p6", "name": "черный.jpg", "mimeType": "image/jpeg"}],
    "f1": [{"id": "p1", "name": "черный.jpg", "mimeType": "image/jpeg"},
           {"id": "p2", "name": "черный-2.jpg", "mimeType": "image/jpeg"},
           {"id": "p3", "name": "бежевый.jpg", "mimeType": "image/jpeg"}],
    "f2": [],
}


class DriveHandler(BaseHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        DriveHandler.requests.append(self.path)
        query = parse_qs(url.query)
        if url.path.endswith("/files") and "q" in query:
            parent = query["q"][0].split("'")[1]
            body = json.dumps({"files": TREE.get(parent, [])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        elif "/files/" in url.path and query.get("alt") == ["media"]:
            body = b"JPEG-" + url.path.rsplit("/", 1)[1].encode()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
        else:
            body = b"{}"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def drive_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DriveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    DriveHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_drive_index_and_download(drive_server, tmp_path):
    def service():
        return build("drive", "v3", credentials=AnonymousCredentials(), cache_discovery=False,
                     static_discovery=True, client_options={"api_endpoint": drive_server})

    library = DrivePhotoLibrary("root", "", tmp_path / "cache", service_factory=service)
    photos = library.photos_for("chanel балетки")
    assert [(p.color, p.url) for p in photos] == [("бежевый", "drive:p3"), ("черный", "drive:p2"),
                                                  ("черный", "drive:p1")]
    chosen = choose_photos(photos)
    assert [p.color for p in chosen] == ["бежевый", "черный"]
    path = library.local_url(chosen[0])
    assert path.startswith("file://") and path.endswith(".jpg")
    assert (tmp_path / "cache" / "p3" / "бежевый.jpg").read_bytes() == b"JPEG-p3"
    library.local_url(chosen[0])  # cached: no second download
    assert sum("alt=media" in r for r in DriveHandler.requests) == 1
    assert library.photos_for("Prada очки") == []  # empty folder: no photos
    listings = sum("alt=media" not in r for r in DriveHandler.requests)
    library.photos_for("Chanel балетки")  # within refresh period: no new listing
    assert sum("alt=media" not in r for r in DriveHandler.requests) == listings


def test_drive_names_cannot_leave_the_cache(drive_server, tmp_path):
    def service():
        return build("drive", "v3", credentials=AnonymousCredentials(), cache_discovery=False,
                     static_discovery=True, client_options={"api_endpoint": drive_server})

    cache = tmp_path / "cache"
    library = DrivePhotoLibrary("root", "", cache, service_factory=service)
    photos = {p.url: p for p in library.photos_for("Gucci кеды")}
    escaped = library.local_url(photos["drive:p4"])
    assert escaped == (cache / "p4" / "escape.jpg").resolve().as_uri()
    assert library.local_url(photos["drive:p5"]) == (cache / "p5" / "белый.jpg").resolve().as_uri()
    assert not (tmp_path / "escape.jpg").exists() and not (tmp_path.parent / "escape.jpg").exists()
    with pytest.raises(ValueError, match="not a Drive id"):
        library.local_url(photos["drive:../p6"])

"""Only images under PHOTOS_DIR or the Drive cache are ever uploaded; Drive names become safe base names."""
import pytest

from salesbot.photos import DRIVE_CACHE_DIR_NAME, safe_file_name, upload_roots, uploadable_path


@pytest.fixture
def roots(tmp_path):
    photos, runtime = tmp_path / "photos", tmp_path / "runtime"
    (photos / "Chanel балетки").mkdir(parents=True)
    (runtime / DRIVE_CACHE_DIR_NAME / "p1").mkdir(parents=True)
    (photos / "Chanel балетки" / "черный.jpg").write_bytes(b"jpg")
    (runtime / DRIVE_CACHE_DIR_NAME / "p1" / "белый.jpg").write_bytes(b"jpg")
    (tmp_path / "secret.jpg").write_bytes(b"not a photo of the shop")
    (runtime / "salesbot.db").write_bytes(b"db")
    (photos / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    return tmp_path, upload_roots(photos, runtime)


def test_photos_and_drive_cache_files_are_uploadable(roots):
    base, allowed = roots
    inside = base / "photos" / "Chanel балетки" / "черный.jpg"
    assert uploadable_path(inside.as_uri(), allowed) == inside.resolve()
    cached = base / "runtime" / DRIVE_CACHE_DIR_NAME / "p1" / "белый.jpg"
    assert uploadable_path(cached.as_uri(), allowed) == cached.resolve()


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "file:///etc/hostname.jpg", "file://evil.example/photos/x.jpg",
    "https://example.com/x.jpg", "file:///nonexistent/x.jpg",
])
def test_files_elsewhere_are_refused(roots, url):
    assert uploadable_path(url, roots[1]) is None


def test_traversal_symlinks_and_other_runtime_files_are_refused(roots):
    base, allowed = roots
    assert uploadable_path((base / "secret.jpg").as_uri(), allowed) is None
    assert uploadable_path(f"file://{base}/photos/../secret.jpg", allowed) is None
    assert uploadable_path((base / "photos" / "link.jpg").as_uri(), allowed) is None     # points outside
    assert uploadable_path((base / "runtime" / "salesbot.db").as_uri(), allowed) is None


@pytest.mark.parametrize("name, safe", [
    ("черный.jpg", "черный.jpg"), ("../../../etc/cron.d/x.jpg", "x.jpg"), ("..\\..\\win.png", "win.png"),
    ("..", "photo"), (".hidden.jpg", "hidden.jpg"), ("a\x00b.jpg", "a_b.jpg"), ("/", "photo"),
    ("x" * 300 + ".webp", "x" * 100 + ".webp"),
])
def test_safe_file_name(name, safe):
    assert safe_file_name(name) == safe

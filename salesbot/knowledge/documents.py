"""Reading the shop's documents (.docx, .txt, .md, WhatsApp chat exports) and cutting them into chunks.

A chunk keeps its source file and section so an answer can be traced back, and is small enough (~600 chars)
that the top few chunks fit a short LLM prompt.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

SUPPORTED_SUFFIXES = (".docx", ".txt", ".md")
CHUNK_CHARS = 600
CHAT_SECTION_PREFIX = "переписка "  # section of a chat-export chunk: «переписка 05.03.2024»

# «05.03.2024, 10:14 - Имя: текст»; Android exports, with an optional «[…]» and seconds as iOS writes them.
_CHAT_LINE = re.compile(
    r"^\[?(?P<date>\d{1,2}[./]\d{1,2}[./]\d{2,4}),?\s+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\]?\s*[-–—]?\s*(?P<rest>.*)$"
)
_MEDIA_PLACEHOLDERS = ("<без медиафайлов>", "<media omitted>", "<медиафайл отсутствует>", "<файл пропущен>")


class UnreadableDocument(Exception):
    """The file exists but cannot be read as a document (broken .docx, binary data, wrong encoding)."""


@dataclass(frozen=True)
class ChatMessage:
    date: str
    time: str
    author: str
    text: str


@dataclass(frozen=True)
class Chunk:
    source: str          # file name relative to the documents folder
    section: str         # heading path or «чат 05.03.2024»
    position: int        # order of the chunk within its source
    text: str

    @property
    def id(self) -> str:
        digest = hashlib.sha1(f"{self.source}\n{self.position}\n{self.text}".encode("utf-8")).hexdigest()
        return f"{self.source}#{self.position}-{digest[:10]}"


@dataclass
class Section:
    heading: str
    paragraphs: List[str] = field(default_factory=list)


# Bumped when reading a file changes (2: chat exports redacted), so a knowledge base built by an earlier release
# re-reads every file once instead of keeping chunks the new reader would not produce.
READER_VERSION = 2


def file_digest(path: Path) -> str:
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()}:v{READER_VERSION}"


def read_text_file(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise UnreadableDocument(f"{path.name}: binary data, not text")
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableDocument(f"{path.name}: neither UTF-8 nor Windows-1251 text")


def parse_chat_export(text: str) -> List[ChatMessage]:
    """Messages of a WhatsApp export; continuation lines join the message above, system lines are dropped."""
    messages: List[ChatMessage] = []
    current: Optional[List[str]] = None
    header: Tuple[str, str, str] = ("", "", "")
    for raw in text.splitlines():
        line = raw.replace("\u200e", "").replace("\u202f", " ").rstrip()
        match = _CHAT_LINE.match(line)
        if match:
            if current is not None:
                messages.append(ChatMessage(*header, "\n".join(current).strip()))
            rest = match.group("rest")
            author, sep, body = rest.partition(": ")
            if not sep:  # «Сообщения и звонки защищены…», «X добавил(а) Y»: no author, not a message
                current = None
                continue
            header = (match.group("date"), match.group("time"), author.strip())
            current = [body]
        elif current is not None and line.strip():
            current.append(line)
    if current is not None:
        messages.append(ChatMessage(*header, "\n".join(current).strip()))
    return [m for m in messages if m.text and m.text.strip().lower() not in _MEDIA_PLACEHOLDERS]


def looks_like_chat_export(text: str) -> bool:
    lines = [line for line in text.splitlines()[:40] if line.strip()]
    if not lines:
        return False
    dated = sum(1 for line in lines if _CHAT_LINE.match(line.replace("\u200e", "")))
    return dated >= max(2, len(lines) // 2)


def sections_from_markdown(text: str, title: str) -> List[Section]:
    """Sections by headings (#…) for .md, by short title-like lines for plain .txt; tables kept as rows."""
    sections: List[Section] = []
    trail: List[Tuple[int, str]] = []
    current = Section(title)
    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            if current.paragraphs:
                sections.append(current)
            level = len(heading.group(1))
            trail = [(lvl, name) for lvl, name in trail if lvl < level] + [(level, heading.group(2).strip())]
            current = Section(" › ".join(name for _, name in trail))
            continue
        if not line or re.fullmatch(r"\|?[\s:|-]+\|?", line):
            continue
        line = re.sub(r"\*\*|__", "", line)
        if line.startswith("|"):
            line = " — ".join(cell.strip() for cell in line.strip("|").split("|"))
        current.paragraphs.append(line)
    if current.paragraphs:
        sections.append(current)
    return sections


def sections_from_docx(path: Path) -> List[Section]:
    try:
        import docx  # python-docx
        document = docx.Document(str(path))
    except Exception as error:  # python-docx raises several unrelated types for a broken package
        raise UnreadableDocument(f"{path.name}: not a readable .docx ({type(error).__name__})") from None
    sections: List[Section] = []
    trail: List[Tuple[int, str]] = []
    current = Section(path.stem)
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = ((paragraph.style.name if paragraph.style is not None else "") or "").lower()
        if style.startswith(("heading", "title", "заголовок")):
            if current.paragraphs:
                sections.append(current)
            digits = re.sub(r"\D", "", style)
            level = int(digits) if digits else 0
            trail = [(lvl, name) for lvl, name in trail if lvl < level] + [(level, text)]
            current = Section(" › ".join(name for _, name in trail))
            continue
        current.paragraphs.append(text)
    if current.paragraphs:
        sections.append(current)
    for table in document.tables:
        rows = [" — ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        sections.append(Section(f"{path.stem} › таблица", [r for r in rows if r.strip(" —")]))
    return sections


def pack(paragraphs: Iterable[str], limit: int = CHUNK_CHARS) -> List[str]:
    """Greedy packing of whole paragraphs into pieces of at most `limit` chars (a longer paragraph stands alone)."""
    pieces: List[str] = []
    buffer: List[str] = []
    size = 0
    for paragraph in paragraphs:
        if buffer and size + len(paragraph) + 1 > limit:
            pieces.append("\n".join(buffer))
            buffer, size = [], 0
        buffer.append(paragraph)
        size += len(paragraph) + 1
    if buffer:
        pieces.append("\n".join(buffer))
    return pieces


def chunks_from_sections(source: str, sections: List[Section]) -> List[Chunk]:
    chunks: List[Chunk] = []
    for section in sections:
        for piece in pack(section.paragraphs):
            # The heading goes into the text: «Возврат › Товары со скидкой» carries meaning a question matches.
            chunks.append(Chunk(source, section.heading, len(chunks), f"{section.heading}\n{piece}"))
    return chunks


def chunks_from_chat(source: str, messages: List[ChatMessage]) -> List[Chunk]:
    """Consecutive messages packed per day, so a customer's question and the manager's answer stay together."""
    chunks: List[Chunk] = []
    by_day: List[Tuple[str, List[str]]] = []
    for message in messages:
        line = f"{message.author}: {message.text}"
        if by_day and by_day[-1][0] == message.date:
            by_day[-1][1].append(line)
        else:
            by_day.append((message.date, [line]))
    for day, lines in by_day:
        for piece in pack(lines):
            chunks.append(Chunk(source, f"{CHAT_SECTION_PREFIX}{day}", len(chunks), piece))
    return chunks


def read_chunks(path: Path, root: Path, shop_names: Optional[Sequence[str]] = None) -> List[Chunk]:
    """All chunks of one document. Raises UnreadableDocument for a file that cannot be read.

    A chat export is redacted first (salesbot.knowledge.redact): customers' names, phones, addresses, door codes,
    e-mails and parcel numbers never enter the knowledge base. `shop_names` tells the shop's own account apart
    (default: KNOWLEDGE_SHOP_AUTHORS and the shop profile's name)."""
    source = path.relative_to(root).as_posix()
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return chunks_from_sections(source, sections_from_docx(path))
    if suffix not in (".txt", ".md"):
        raise UnreadableDocument(f"{path.name}: unsupported file type {suffix or '(none)'}")
    text = read_text_file(path)
    if suffix == ".txt" and looks_like_chat_export(text):
        from salesbot.knowledge.redact import default_shop_names, redact_chat

        names = default_shop_names() if shop_names is None else shop_names
        return chunks_from_chat(source, redact_chat(parse_chat_export(text), names))
    return chunks_from_sections(source, sections_from_markdown(text, path.stem))


def document_files(root: Path) -> List[Path]:
    """Supported files under `root`, sorted; hidden files and editors' lock files (~$x.docx) are left out."""
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith((".", "~$")) for part in p.relative_to(root).parts)
    )

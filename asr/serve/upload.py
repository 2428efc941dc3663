"""Reading a multipart upload with a size limit: the declared Content-Length is checked before a byte is kept,
and the bytes actually received are counted as they arrive (a chunked upload declares none), so an upload over
the limit is a 413 without the server ever holding more than the limit. A request answered before its body is
read (401, 503, 413, not a form) has the body drained first, up to the limit, so the client sees the answer."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from asr.audio import AUDIO_EXTENSIONS
from asr.serve.schema import APIError

MB = 1024 * 1024


class _TooLarge(Exception):
    pass


def _too_large(limit_mb: float) -> APIError:
    return APIError(413, f"the upload is over this server's limit of {limit_mb:g} MB (asr serve --max-upload-mb); "
                         f"cut the audio, or send it compressed (flac, opus, mp3)", "file", "file_too_large")


async def read_form(request: Request, limit_mb: float) -> tuple[dict[str, list[str]], UploadFile]:
    """-> (text fields: name -> values, the `file` part). APIError 413 over the limit, 400 for a form that is
    not multipart or has no file."""
    limit = int(limit_mb * MB)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        await drain(request.receive, limit)
        raise _too_large(limit_mb)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        await drain(request.receive, limit)
        raise APIError(400, "send the audio as multipart/form-data with a `file` field (curl -F file=@audio.wav)",
                       "file", "invalid_request")
    counted = Request(request.scope, _counting(request.receive, limit))
    try:
        form = await counted.form(max_files=2, max_fields=200)
    except _TooLarge:
        await drain(request.receive, limit)
        raise _too_large(limit_mb) from None
    except MultiPartException as e:
        raise APIError(400, f"the multipart form could not be read ({e.message})", None, "invalid_request") from None
    fields: dict[str, list[str]] = {}
    upload = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name == "file":
                upload = value
            else:
                await value.close()
        else:
            fields.setdefault(name, []).append(value)
    if upload is None:
        raise APIError(400, "the form has no `file` field holding the audio", "file", "invalid_request")
    return fields, upload


async def drain(receive: Callable[[], Awaitable[dict]], budget: int) -> None:
    """Read and drop what is left of a request body that is answered early (up to `budget` bytes): closing a
    socket with unread data in it resets the connection, and the client may then lose the answer (a 401 or
    413 seen as "server disconnected")."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _counting(receive: Callable[[], Awaitable[dict]], limit: int) -> Callable[[], Awaitable[dict]]:
    seen = 0

    async def counted() -> dict:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge
        return message

    return counted


def save_upload(upload: UploadFile) -> Path:
    """Copy the upload to a temporary file (ffmpeg and soundfile read paths), keeping a known audio extension."""
    suffix = Path(upload.filename or "").suffix.lower()
    fd, name = tempfile.mkstemp(prefix="asr-upload-", suffix=suffix if suffix in AUDIO_EXTENSIONS else ".audio")
    upload.file.seek(0)
    with open(fd, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)
    return Path(name)

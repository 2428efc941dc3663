"""The HTTP server: `create_app(models, options) -> FastAPI`, OpenAI's transcription API over the batched pipeline.

    from asr.serve import ServeOptions, create_app, serve_models
    app = create_app(serve_models({"demo": "exp/demo/model.pt"}), ServeOptions(max_batch=16))
    uvicorn.run(app, host="127.0.0.1", port=8000)

Routes: `POST /v1/audio/transcriptions` (asr.serve.schema has its fields and answers), `GET /v1/models` and
`GET /v1/models/{id}` (OpenAI's model objects, each with its model file's card as "card"), `GET /health`,
`POST /v1/audio/attention` (ours: the cross-attention picture of a short recording, as PNG, with the transcript it
shows in the `X-Transcript` header, URL-encoded), live recognition over a WebSocket at `/v1/audio/stream` and at
`/` (WeNet's protocol: asr.serve.stream), and the page at `GET /` (static files, nothing from a CDN).

Every request is answered: bad fields and audio that cannot be decoded are 400s naming what is wrong, a missing
or wrong key 401 (with `api_key`), a model not served 404, an upload over `max_upload_mb` 413, more than
`max_queue` requests in flight 503, anything unexpected a 500; all in OpenAI's error shape. The model runs in
each model's batcher thread, never on the event loop, so `/health` answers while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from asr.errors import UserError
from asr.inference.options import TranscribeOptions
from asr.lm.hotwords import parse_hotwords
from asr.model.io import model_card
from asr.serve.options import ServeOptions
from asr.serve.schema import APIError, TranscriptionRequest, sse, transcription_body
from asr.serve.stream import LiveStreams
from asr.serve.upload import MB, drain, read_form, save_upload
from asr.serve.work import ServedModel, Work

STATIC = Path(__file__).resolve().parent / "static"
MAX_BEAM = 64  # a request's beam beyond this would hold the batcher for everyone


class _State:
    def __init__(self, models: list[ServedModel], options: ServeOptions) -> None:
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.options = options
        self.in_flight = 0
        self.next_id = 1

    def take_id(self) -> int:
        rid, self.next_id = self.next_id, self.next_id + 1
        return rid

    def model(self, name: str | None) -> ServedModel:
        served = self.models.get(name or self.default)
        if served is None:
            raise APIError(404, f"the model {name!r} is not served here; served: {', '.join(self.models)} "
                                f"(GET /v1/models)", "model", "model_not_found")
        return served

    def translator(self, name: str | None) -> ServedModel:
        """The model a /v1/audio/translations request names, or the first served one that translates into English
        (OpenAI's endpoint is speech into English). APIError 400 when it (or every one) does something else."""
        into_english = [m for m in self.models.values() if _translates_into(m) == "en"]
        if name is not None and (served := self.model(name)) in into_english:
            return served
        if name is None and into_english:
            return into_english[0]
        does = ", ".join(f"{m.name}: {_does(m)}" for m in self.models.values())
        raise APIError(400, f"{'the model ' + repr(name) if name else 'no served model'} does not translate speech "
                            f"into English ({does}); send audio to POST /v1/audio/transcriptions for its transcript",
                       "model", "unsupported_task")


def create_app(models: list[ServedModel], options: ServeOptions = ServeOptions()) -> FastAPI:  # noqa: B008
    if not models:
        raise UserError("serve at least one model (--model PATH)")
    state = _State(models, options)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield  # on shutdown: the batchers stop, then the model processes
        for m in state.models.values():
            m.batcher.close()
            m.engine.close()

    app = FastAPI(title="asr", summary="OpenAI-compatible speech recognition", version="1", lifespan=lifespan)
    app.state.serve = state
    live = app.state.live = LiveStreams(state.model, options)
    _errors(app)

    def authorise(request: Request) -> None:
        if options.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, key = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), options.api_key.encode()):
            what = "no API key was given" if not given else "the API key is not the server's"
            raise APIError(401, f"{what}; send `Authorization: Bearer <key>` with the key given to `asr serve "
                                f"--api-key`", None, "invalid_api_key")

    def admit() -> int:
        """Room for one more request -> its id."""
        if state.in_flight >= options.max_queue:
            raise APIError(503, f"the server is busy ({state.in_flight} requests in flight, --max-queue "
                                f"{options.max_queue}); retry shortly", None, "queue_full", "server_error")
        state.in_flight += 1
        return state.take_id()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "models": list(state.models), "in_flight": state.in_flight, "streams": live.open,
                "waiting_segments": {n: m.batcher.waiting for n, m in state.models.items()},
                "decoded": {n: dict(zip(("batches", "segments"), m.batcher.decoded)) for n, m in state.models.items()}}

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict:
        authorise(request)
        return {"object": "list", "data": [_model_card(m) for m in state.models.values()]}

    @app.get("/v1/models/{name}")
    async def get_model(name: str, request: Request) -> dict:
        authorise(request)
        return _model_card(state.model(name))

    async def receive(request: Request, cleanup: list, translate: bool = False
                      ) -> tuple[int, TranscriptionRequest, ServedModel, UploadFile]:
        """Key, room in the queue, the form and the model it names; each undone by `cleanup` (run in reverse)
        when the request ends. Once its upload is in, its model's batcher expects it (a batch may wait up to
        max_wait_ms for it) until its segments are fed: a slow upload holds no batch up."""
        try:
            authorise(request)
            rid = admit()
        except APIError:
            await drain(request.receive, int(options.max_upload_mb * MB))
            raise
        cleanup.append(_release(state, rid))  # the batchers stop expecting it, at the latest when it ends
        fields, upload = await read_form(request, options.max_upload_mb)
        cleanup.append(upload.close)
        req = TranscriptionRequest.parse(fields)
        served = state.translator(req.model) if translate else state.model(req.model)
        served.batcher.expect(rid)
        return rid, req, served, upload

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        return await answer(request, "transcribe")

    @app.post("/v1/audio/translations")
    async def translations(request: Request) -> Response:
        """OpenAI's speech-to-English endpoint, answered by a served model that translates into English (the one
        the request names, else the first); any other model: a 400 in OpenAI's error shape naming what each does."""
        return await answer(request, "translate")

    async def answer(request: Request, task: str) -> Response:
        """A transcription (a translation model's: its CTC head's transcript of the source) or a translation."""
        cleanup: list = []
        try:
            rid, req, served, upload = await receive(request, cleanup, translate=task == "translate")
            opts = replace(_options(served, req), task=task, word_timestamps=task == "transcribe")
            work = Work(served, rid, Path(), upload.filename or "upload", opts)
            if req.stream:
                await run_in_threadpool(_prepare, work, upload, cleanup, False)
                feeding = asyncio.ensure_future(run_in_threadpool(work.feed))  # it closes the audio when done
                stream = _stream(work, feeding, cleanup)
                cleanup = []  # the stream cleans up when it ends
                return StreamingResponse(stream, media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache"})
            await run_in_threadpool(_prepare, work, upload, cleanup, True)  # one hop: each costs the loop
            async for _ in work.results():
                pass
            language = _translates_into(served) if task == "translate" else served.language
            body, media = transcription_body(work.transcript(), req, language, task)
            return Response(body, media_type=media)
        finally:
            await _run_all(cleanup)

    @app.post("/v1/audio/attention")
    async def attention(request: Request) -> Response:
        cleanup: list = []
        try:
            rid, req, served, upload = await receive(request, cleanup)
            path = await run_in_threadpool(save_upload, upload)
            cleanup.append(lambda: path.unlink(missing_ok=True))
            filename = upload.filename or "upload"
            served.batcher.fed(rid)  # no segments of it are coming: batches need not wait for it
            png, text = await asyncio.wrap_future(served.batcher.call(
                lambda: _attention_png(served, path, filename, req, options.max_attention_s)))
            # the transcript the picture shows (URL-encoded: a header is Latin-1), what transcriptions answers
            return Response(png, media_type="image/png", headers={"X-Transcript": quote(text)})
        finally:
            await _run_all(cleanup)

    @app.websocket("/v1/audio/stream")
    async def stream(ws: WebSocket) -> None:
        await live.serve(ws)

    app.add_api_websocket_route("/", stream)  # where WeNet's clients connect; GET / is still the page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _options(served: ServedModel, req: TranscriptionRequest) -> TranscribeOptions:
    decode = req.decode_options(served.defaults.decode)
    if decode.beam > MAX_BEAM:
        raise APIError(400, f"beam must be at most {MAX_BEAM} here, got {decode.beam}", "beam", "invalid_value")
    changes: dict = {"decode": decode, "word_timestamps": True}
    if req.hotwords:
        changes["hotwords"] = req.hotwords
    if req.hotword_bonus is not None:
        changes["hotword_bonus"] = req.hotword_bonus
    try:
        opts = replace(served.defaults, **changes)  # checks the combination (greedy with hotwords, ...)
        if req.hotwords:
            parse_hotwords(req.hotwords, opts.hotword_bonus)  # phrases without words: a 400, not a failed batch
    except UserError as e:
        raise APIError(400, str(e), "keywords" if req.hotwords else None, "invalid_value") from None
    return opts


def _prepare(work: Work, upload: UploadFile, cleanup: list, feed: bool) -> None:
    """In a worker thread: the upload to a temporary file, opened and cut (APIError 400 if it is not audio),
    and with `feed`, its segments submitted (a short file's in the same hop)."""
    work.path = path = save_upload(upload)
    cleanup.append(lambda: path.unlink(missing_ok=True))
    try:
        work.open()
    except UserError as e:  # name the upload, not our temporary file
        raise APIError(400, str(e).replace(str(path), work.flight.name), "file", "invalid_audio") from None
    if feed:
        work.feed()


async def _stream(work: Work, feeding: asyncio.Future, cleanup: list) -> AsyncIterator[str]:
    """OpenAI's events: a `transcript.text.delta` per segment with text as it is decoded, then the done event;
    an error after the stream has started is an `{"error": ...}` event (the status is already 200)."""
    try:
        said = False
        try:
            async for seg in work.results():
                if seg.text:
                    yield sse({"type": "transcript.text.delta", "delta": (" " if said else "") + seg.text})
                    said = True
            await feeding
            yield sse({"type": "transcript.text.done", "text": work.transcript().text})
        except UserError as e:
            yield sse(APIError(400, str(e).replace(str(work.path), work.flight.name), "file",
                               "invalid_audio").body())
        except Exception as e:  # noqa: BLE001 - the stream has started: the error goes in it
            yield sse(APIError(500, f"transcription failed: {e}", None, "internal_error", "server_error").body())
    finally:
        await _run_all(cleanup)


def _attention_png(served: ServedModel, path: Path, filename: str, req: TranscriptionRequest,
                   max_s: float) -> tuple[bytes, str]:
    from asr.audio import open_audio

    try:
        with open_audio(path) as src:
            seconds = src.duration
        if not 0.2 <= seconds <= max_s:
            raise APIError(400, f"{filename} is {seconds:.1f} s long; the attention picture is drawn for recordings "
                                f"of 0.2 to {max_s:g} s", "file", "invalid_audio")
        # recognised as a transcription request with the same settings: the picture shows that transcript
        return served.engine.attention_png(path, filename, f"{filename} ({seconds:.1f} s)", _options(served, req))
    except UserError as e:
        raise APIError(400, str(e).replace(str(path), filename), "file", "invalid_audio") from None


def _translates_into(m: ServedModel) -> str | None:
    cfg = m.transcriber.net.cfg
    return cfg.target_language if cfg.task == "translate" else None


def _does(m: ServedModel) -> str:
    into = _translates_into(m)
    return f"translates into {into}" if into else f"transcribes {m.language}"


def _model_card(m: ServedModel) -> dict:
    """OpenAI's model object, and ours: the model file's card (training data, vocabulary, results, recipe, ...)."""
    t = m.transcriber
    return {"id": m.name, "object": "model", "created": m.created, "owned_by": "asr",
            "card": model_card(t.net, t.tokenizer, t.meta).to_dict()}


def _release(state: _State, rid: int):
    def release() -> None:
        state.in_flight -= 1
        for m in state.models.values():
            m.batcher.fed(rid)
    return release


async def _run_all(fns: list) -> None:
    for fn in reversed(fns):
        result = fn()
        if asyncio.iscoroutine(result):
            await result


ENDPOINTS = ("POST /v1/audio/transcriptions, POST /v1/audio/translations (translation models), GET /v1/models, "
             "GET /v1/models/{name}, POST /v1/audio/attention, WebSocket /v1/audio/stream, GET /health and the page "
             "at /")


def _errors(app: FastAPI) -> None:
    """Every error in OpenAI's shape."""

    @app.exception_handler(APIError)
    async def api_error(_: Request, e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        if e.status_code in (404, 405):  # a path or method this server does not answer: say which it does
            err = APIError(e.status_code, f"{request.method} {request.url.path}: not an endpoint of this server; "
                                          f"it answers {ENDPOINTS}", None,
                           "not_found" if e.status_code == 404 else "method_not_allowed")
            return JSONResponse(err.body(), status_code=e.status_code)
        return JSONResponse(APIError(e.status_code, str(e.detail)).body(), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        err = APIError(500, f"the server failed on this request ({type(e).__name__}: {e}); it keeps serving",
                       None, "internal_error", "server_error")
        return JSONResponse(err.body(), status_code=500)

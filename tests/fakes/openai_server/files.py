"""``/v1/files``: upload (multipart), list, retrieve, content and delete.

Uploaded files live on ``server.files``; tests read them back::

    file_id = server.requests_to("/v1/fine_tuning/jobs")[0].body["training_file"]
    server.files.content(file_id)      # the uploaded bytes
"""

from __future__ import annotations

import time
from typing import Any

from .base import FakeOpenAIServer, RecordedRequest, Response, error_response, extension, next_id, route

PURPOSES = {"fine-tune", "assistants", "batch", "vision", "user_data", "evals"}


@extension("files")
class FileStore:
    """Uploaded files of one server: id -> OpenAI file object, and their bytes."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.objects: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}

    def add(self, filename: str, data: bytes, purpose: str = "fine-tune") -> dict[str, Any]:
        file_id = next_id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        self.objects[file_id] = obj
        self.blobs[file_id] = data
        return obj

    def content(self, file_id: str) -> bytes:
        return self.blobs[file_id]

    def reset(self) -> None:
        self.objects.clear()
        self.blobs.clear()


def _missing(file_id: str) -> Response:
    return error_response(404, f"No such File object: {file_id}", code=None, param="id")


@route("POST", "/v1/files")
def upload(server: FakeOpenAIServer, request: RecordedRequest) -> Response | dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return error_response(400, "Expected a multipart/form-data upload with 'file' and 'purpose'.")
    parts = request.multipart()
    if "file" not in parts:
        return error_response(400, "Missing required parameter: 'file'.", param="file")
    purpose = parts.get("purpose", (None, b""))[1].decode()
    if purpose not in PURPOSES:
        return error_response(400, f"'{purpose}' is not one of {sorted(PURPOSES)} - 'purpose'", param="purpose")
    filename, data = parts["file"]
    return server.files.add(filename or "upload", data, purpose)


@route("GET", "/v1/files")
def list_files(server: FakeOpenAIServer, request: RecordedRequest) -> dict[str, Any]:
    purpose = request.query.get("purpose", [None])[0]
    data = [o for o in server.files.objects.values() if purpose is None or o["purpose"] == purpose]
    return {"object": "list", "data": data, "has_more": False}


@route("GET", "/v1/files/{file_id}")
def retrieve(server: FakeOpenAIServer, request: RecordedRequest, file_id: str) -> Response | dict[str, Any]:
    obj = server.files.objects.get(file_id)
    return obj if obj is not None else _missing(file_id)


@route("GET", "/v1/files/{file_id}/content")
def content(server: FakeOpenAIServer, request: RecordedRequest, file_id: str) -> Response:
    if file_id not in server.files.blobs:
        return _missing(file_id)
    return Response(body=server.files.blobs[file_id], content_type="application/octet-stream")


@route("DELETE", "/v1/files/{file_id}")
def delete(server: FakeOpenAIServer, request: RecordedRequest, file_id: str) -> Response | dict[str, Any]:
    if file_id not in server.files.objects:
        return _missing(file_id)
    del server.files.objects[file_id]
    server.files.blobs.pop(file_id, None)
    return {"id": file_id, "object": "file", "deleted": True}

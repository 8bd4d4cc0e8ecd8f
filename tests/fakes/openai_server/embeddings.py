"""``POST /v1/embeddings``: deterministic unit vectors, honouring ``dimensions`` and base64 encoding."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np

from .base import FakeOpenAIServer, RecordedRequest, Response, error_response, route
from .chat import count_tokens

MODEL_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def fake_embedding(text: str, dim: int, model: str = "text-embedding-3-small") -> np.ndarray:
    """The vector the fake server returns for ``text``: seeded by the model and text, unit length."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@route("POST", "/v1/embeddings")
def embeddings(server: FakeOpenAIServer, request: RecordedRequest) -> Response:
    body = request.body
    if not isinstance(body, dict) or "model" not in body or "input" not in body:
        return error_response(400, "'model' and 'input' are required.", param="input")
    model = body["model"]
    raw = body["input"]
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return error_response(400, "'input' must be a non-empty string or array.", param="input")
    texts = [item if isinstance(item, str) else " ".join(map(str, item)) for item in raw]
    if any(text == "" for text in texts):
        return error_response(400, "'$.input' is invalid: empty strings are not allowed.", param="input")
    dim = int(body.get("dimensions") or MODEL_DIMS.get(model, 1536))
    base64_format = body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        vector = fake_embedding(text, dim, model)
        encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode() if base64_format else vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count_tokens(text) for text in texts)
    return Response(
        body={
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


__all__ = ["MODEL_DIMS", "fake_embedding"]

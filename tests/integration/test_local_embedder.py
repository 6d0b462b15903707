from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from memory.errors import ProviderError
from memory.providers.local_embedder import OnnxEmbedder, SentenceTransformerEmbedder
from memory.providers.int8_ranges import static_path
from memory.providers.onnx_model import DIMENSION, default_onnx_path, export_onnx, model_dir, quantized_path

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = [
    "hello world",
    "The cat sits on the mat.",
    "A much longer sentence about memory systems for agents, " * 3,
    "word " * 600,  # well past the 256-token limit: both runtimes must truncate the same way
    "Ünïcödé tèxt with emoji 😀 and 中文",
    "",
]


@pytest.fixture(scope="session")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(model_dir(), tmp_path_factory.mktemp("onnx") / "minilm.onnx")


@pytest.fixture(scope="session")
def reference() -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir()), device="cpu")


@pytest.fixture
async def onnx_embedder(onnx_file: Path):
    embedder = OnnxEmbedder(onnx_file, threads=1, export_if_missing=False)
    yield embedder
    await embedder.aclose()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


async def test_onnx_embeddings_match_sentence_transformers(onnx_embedder: OnnxEmbedder, reference) -> None:
    ours = await onnx_embedder.embed(TEXTS)
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(TEXTS), DIMENSION) and ours.dtype == np.float32
    assert np.abs(ours - expected).max() < 1e-4  # the export keeps its word table in float16: components within ~3e-5
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


async def test_the_export_holds_its_word_table_in_float16_at_no_cost_to_the_vectors(
        onnx_file: Path, onnx_embedder: OnnxEmbedder, reference) -> None:
    import onnx

    model = onnx.load(str(onnx_file))
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types["bert.embeddings.word_embeddings.weight"] == onnx.TensorProto.FLOAT16  # 22 MiB less RSS
    assert all(t == onnx.TensorProto.FLOAT for n, t in types.items() if "MatMul" in n)  # the layers stay float32
    ours = await onnx_embedder.embed(TEXTS)
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert (np.sum(ours * expected, axis=1) > 0.99999).all()


async def test_onnx_rows_do_not_depend_on_batch_neighbours(onnx_embedder: OnnxEmbedder) -> None:
    together = await onnx_embedder.embed(TEXTS)
    alone = np.vstack([await onnx_embedder.embed([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5  # padding must not leak into the mean


async def test_similar_sentences_score_higher_than_unrelated_ones(onnx_embedder: OnnxEmbedder) -> None:
    cat, kitten, revenue = await onnx_embedder.embed(
        ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by five percent."]
    )
    assert cosine(cat, kitten) > cosine(cat, revenue) + 0.2
    likes, prefers, weather = await onnx_embedder.embed(
        ["Alice likes green tea.", "Alice prefers drinking green tea.", "It will rain in Paris tomorrow."]
    )
    assert cosine(likes, prefers) > 0.8 > cosine(likes, weather)


async def test_concurrent_callers_are_batched_and_get_their_own_rows(onnx_embedder: OnnxEmbedder) -> None:
    await onnx_embedder.warmup()
    texts = [f"memory number {i} about topic {i % 7}" for i in range(48)]
    before = onnx_embedder.forward_calls
    rows = await asyncio.gather(*(onnx_embedder.embed([t]) for t in texts))
    assert onnx_embedder.forward_calls - before <= 2
    np.testing.assert_allclose(np.vstack(rows), await onnx_embedder.embed(texts), atol=1e-5)


async def test_empty_input_gives_an_empty_matrix(onnx_embedder: OnnxEmbedder) -> None:
    assert (await onnx_embedder.embed([])).shape == (0, DIMENSION)


async def test_sentence_transformer_embedder_matches_the_onnx_one(onnx_embedder: OnnxEmbedder) -> None:
    torch_embedder = SentenceTransformerEmbedder(threads=1)
    try:
        a = await torch_embedder.embed(TEXTS)
        b = await onnx_embedder.embed(TEXTS)
    finally:
        await torch_embedder.aclose()
    assert a.dtype == np.float32 and a.shape == (len(TEXTS), DIMENSION)
    assert np.abs(a - b).max() < 1e-4  # float16 word table in the ONNX export


async def test_missing_onnx_without_export_names_the_export_command(tmp_path: Path) -> None:
    embedder = OnnxEmbedder(cache_dir=tmp_path, export_if_missing=False)
    with pytest.raises(ProviderError, match="local_embedder export"):
        await embedder.embed(["x"])
    await embedder.aclose()


@pytest.mark.slow
async def test_missing_onnx_is_exported_on_first_use(tmp_path: Path, reference) -> None:
    embedder = OnnxEmbedder(cache_dir=tmp_path / "cache")
    try:
        row = await embedder.embed(["exported on demand"])
    finally:
        await embedder.aclose()
    assert embedder.onnx_path is not None and embedder.onnx_path.parent == tmp_path / "cache"
    assert embedder.onnx_path.is_file()
    expected = reference.encode(["exported on demand"], normalize_embeddings=True)
    assert np.abs(row - expected).max() < 1e-4


async def test_warmup_loads_the_model_and_close_lets_it_go(onnx_file: Path) -> None:
    embedder = OnnxEmbedder(onnx_file, threads=1, export_if_missing=False)
    assert not embedder.state().loaded
    await embedder.warmup()
    state = embedder.state()
    assert state.loaded and state.alive and state.queued == 0
    await embedder.aclose()
    state = embedder.state()
    assert not state.loaded and not state.alive  # a closed app no longer holds the model
    with pytest.raises(ProviderError, match="closed"):
        await embedder.embed(["after close"])


async def test_the_quantized_model_is_made_once_beside_the_export_and_ranks_alike(
        onnx_file: Path, onnx_embedder: OnnxEmbedder, tmp_path: Path) -> None:
    exported = default_onnx_path(model_dir(), tmp_path)
    exported.symlink_to(onnx_file)  # as if exported earlier into this cache
    int8 = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, quantized=True)
    try:
        texts = ["I adopted a greyhound called Comet", "My dog Comet loves the beach",
                 "The quarterly tax forms are due in April"]
        rows = await int8.embed(texts)
        full = await onnx_embedder.embed(texts)
    finally:
        await int8.aclose()
    made = quantized_path(exported)
    assert made.is_file() and made.stat().st_size < exported.stat().st_size / 2.5  # int8 layers and table (float16 in the export)
    assert rows.shape == (3, DIMENSION) and np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert (np.sum(rows * full, axis=1) > 0.9).all()  # close to the float32 vectors...
    assert rows[0] @ rows[1] > rows[0] @ rows[2]  # ...and ranking alike
    stamp = made.stat().st_mtime_ns
    again = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, quantized=True)
    try:
        await again.embed(["reused, not made again"])
        # a text's vector does not depend on what it was batched with (the int8 passes quantise
        # activations with the whole pass's range: batched, the same text scored ~0.99 against itself)
        alone = np.concatenate([await again.embed([text]) for text in TEXTS])
        batched = await again.embed(TEXTS)
    finally:
        await again.aclose()
    assert made.stat().st_mtime_ns == stamp
    assert np.array_equal(alone, batched)


async def test_the_fixed_range_int8_model_batches_texts_without_moving_their_vectors(
        onnx_file: Path, onnx_embedder: OnnxEmbedder, tmp_path: Path) -> None:
    exported = default_onnx_path(model_dir(), tmp_path)
    exported.symlink_to(onnx_file)
    fixed = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, quantized=True, static_ranges=True)
    dynamic = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, quantized=True)
    texts = ["I adopted a greyhound called Comet", "My dog Comet loves the beach",
             "The quarterly tax forms are due in April", *TEXTS]
    isolated = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, quantized=True,
                            static_ranges=True, isolated=True)
    try:
        batched = await fixed.embed(texts)
        alone = np.concatenate([await fixed.embed([text]) for text in texts])
        assert np.allclose(await isolated.embed(texts), batched, atol=1e-6)  # a model process is told the variant
        assert isolated.onnx_path == static_path(exported)
        full = await onnx_embedder.embed(texts)
        int8 = await dynamic.embed(texts)
        assert fixed.onnx_path == static_path(exported) and dynamic.onnx_path == quantized_path(exported)
        # one pass for all of them, unlike the dynamic int8 model's pass per text
        assert fixed._model._one_at_a_time is False and dynamic._model._one_at_a_time is True
    finally:
        await fixed.aclose()
        await dynamic.aclose()
        await isolated.aclose()
    assert static_path(exported).stat().st_size < exported.stat().st_size / 2.5
    for made in (static_path(exported), quantized_path(exported)):  # made by root in an image, read by its user
        assert made.stat().st_mode & 0o044 == 0o044
    ops = [node.op_type for node in onnx.load(str(static_path(exported))).graph.node]
    # fixed ranges, and each integer product fused with its scaling back to float (as onnxruntime
    # fuses the dynamic model's itself): a one-text pass as fast as the dynamic model's
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops and ops.count("MatMulIntegerToFloat") == 36
    # a text's vector is its own, whatever shared its pass (batched with the dynamic ranges: ~0.95)
    assert np.allclose(batched, alone, atol=1e-5)
    # as close to the float32 vectors as the dynamic int8 model's
    assert (np.sum(batched * full, axis=1) > 0.85).all()
    assert np.sum(batched * full, axis=1).mean() > np.sum(int8 * full, axis=1).mean() - 0.01
    assert batched[0] @ batched[1] > batched[0] @ batched[2]
    assert not (np.sum(batched * int8, axis=1) > 0.9999).all()  # another vector space than the dynamic model's


async def test_an_isolated_embedder_runs_the_model_in_a_child_and_gives_the_same_vectors(
        onnx_file: Path, onnx_embedder: OnnxEmbedder) -> None:
    isolated = OnnxEmbedder(onnx_file, threads=1, export_if_missing=False, isolated=True)
    try:
        await isolated.warmup()
        pid = isolated.process_id
        assert isolated.state().loaded and pid is not None and pid != os.getpid()
        assert isolated.onnx_path == onnx_file
        batched = await isolated.embed(TEXTS)
        alone = await asyncio.gather(*(isolated.embed([text]) for text in TEXTS))
    finally:
        await isolated.aclose()
    here = await onnx_embedder.embed(TEXTS)
    assert batched.dtype == np.float32 and np.array_equal(batched, here)
    assert np.abs(np.concatenate(alone) - here).max() < 1e-5
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    with pytest.raises(ProviderError, match="closed"):
        await isolated.embed(["after close"])


@pytest.mark.skipif(sys.platform != "linux", reason="reads the model process's /proc/PID/maps")
async def test_an_isolated_embedder_of_the_default_model_file_is_told_its_path_and_loads_no_openssl(
        onnx_file: Path, tmp_path: Path) -> None:
    exported = default_onnx_path(model_dir(), tmp_path)
    exported.symlink_to(onnx_file)  # as if exported earlier into this cache
    isolated = OnnxEmbedder(cache_dir=tmp_path, threads=1, export_if_missing=False, isolated=True)
    try:
        await isolated.warmup()
        assert isolated.onnx_path == exported  # the file the model process loaded
        maps = Path(f"/proc/{isolated.process_id}/maps").read_text()
    finally:
        await isolated.aclose()
    # its name is a hash: worked out in the model process, it would load OpenSSL (~4 MiB RSS) for that alone
    assert "libcrypto" not in maps and "libssl" not in maps


async def test_an_isolated_embedder_whose_model_cannot_load_says_why(tmp_path: Path) -> None:
    isolated = OnnxEmbedder(cache_dir=tmp_path, export_if_missing=False, isolated=True)
    try:
        with pytest.raises(ProviderError, match="local_embedder export"):
            await isolated.warmup()
        with pytest.raises(ProviderError, match="local_embedder export"):
            await isolated.embed(["x"])
    finally:
        await isolated.aclose()

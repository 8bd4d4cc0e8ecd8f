"""The packaged model on its own GGUF blocks: the same weights as float32, products in int8, no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragtune.llm import loader, numpy_chat
from ragtune.llm.block_decoder import BlockDecoder, block_graphs
from ragtune.llm.gguf_blocks import GGUFBlocks, hf_rows
from ragtune.llm.numpy_decoder import Decoding, NumpyDecoder
from ragtune.llm.numpy_llama import read_safetensors
from ragtune.llm.registry import LOCAL_MODEL_ID
from ragtune.testing.greedy import GREEDY_PROMPTS

pytestmark = pytest.mark.slow

PROMPTS = GREEDY_PROMPTS


@pytest.fixture(scope="module")
def float32_weights() -> dict[str, np.ndarray]:
    loader.warm()
    return read_safetensors(loader.cache_dir() / "model.safetensors")


@pytest.fixture(scope="module")
def decoders() -> tuple[NumpyDecoder, BlockDecoder]:
    loader.warm()
    return NumpyDecoder(loader.cache_dir()), BlockDecoder(loader.cache_dir(), block_graphs(LOCAL_MODEL_ID))


def test_blocks_are_the_weights_transformers_loads(float32_weights: dict[str, np.ndarray]) -> None:
    """Q4_1 layers (query/key rows put back in transformers' order) and the Q8_0 embedding, block for block."""
    blocks = GGUFBlocks(loader.gguf_path())
    for layer in (0, 17, 29):
        for gguf, hf, heads in (
            ("attn_q", "self_attn.q_proj", 9),
            ("attn_k", "self_attn.k_proj", 3),
            ("attn_v", "self_attn.v_proj", None),
            ("ffn_gate", "mlp.gate_proj", None),
            ("ffn_down", "mlp.down_proj", None),
        ):
            matrix = blocks.matrix(f"blk.{layer}.{gguf}.weight")
            if heads is not None:
                matrix = hf_rows(matrix, heads)
            expected = np.asarray(float32_weights[f"model.layers.{layer}.{hf}.weight"])
            np.testing.assert_allclose(matrix.dense(), expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    embed = blocks.matrix("token_embd.weight")
    assert embed.bits == 8
    np.testing.assert_array_equal(embed.dense(), np.asarray(float32_weights["model.embed_tokens.weight"]))


def test_block_logits_follow_the_float32_model(decoders: tuple[NumpyDecoder, BlockDecoder]) -> None:
    """Prompt logits of the fixed set: same next token, and the int8 products stay close to float32's."""
    exact, blocks = decoders
    for text in PROMPTS:
        ids = np.asarray(exact.encode(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"))
        want = exact._step(ids, exact._cache(len(ids)), 0)
        got = blocks._step(ids, blocks._cache(len(ids)), 0)
        assert int(np.argmax(got)) == int(np.argmax(want)), text
        cosine = float(want @ got / np.linalg.norm(want) / np.linalg.norm(got))
        assert cosine > 0.995, (text, cosine)


def test_the_cache_grows_in_place_step_by_step(decoders: tuple[NumpyDecoder, BlockDecoder]) -> None:
    """Fed the same tokens one at a time, the one-graph step follows the float32 decoder at every position.

    A cache that lost the earlier positions scores below 0.9 cosine from the second step on (measured).
    """
    exact, blocks = decoders
    ids = exact.encode("<|im_start|>user\nName three rivers in Europe.<|im_end|>\n<|im_start|>assistant\n")
    exact_cache, block_cache = exact._cache(len(ids) + 12), blocks._cache(len(ids) + 12)
    want = exact._step(np.asarray(ids), exact_cache, 0)
    got = blocks._step(np.asarray(ids), block_cache, 0)
    same_top = 0
    for position in range(len(ids), len(ids) + 12):
        token = np.asarray([int(np.argmax(want))])
        want, got = exact._step(token, exact_cache, position), blocks._step(token, block_cache, position)
        assert float(want @ got / np.linalg.norm(want) / np.linalg.norm(got)) > 0.99, position
        same_top += int(np.argmax(want)) == int(np.argmax(got))
    assert same_top >= 10  # int8 products may swap a near tie, not the run


def test_block_decoding_streams_and_stops_like_the_float32_decoder(decoders: tuple[NumpyDecoder, BlockDecoder]) -> None:
    """The decoding loop is shared: the cache grows token by token and the answer is fluent English."""
    _, blocks = decoders
    ids = blocks.encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    made = list(blocks.generate(ids, Decoding(max_new_tokens=24, repetition_penalty=1.05)))
    assert 0 < len(made) <= 24
    assert "Paris" in blocks.decode(made)


def test_blocks_are_chosen_for_the_packaged_model_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(numpy_chat.WEIGHTS_ENV, "blocks")
    numpy_chat.clear()
    chat = numpy_chat.numpy_chat(LOCAL_MODEL_ID)
    assert chat is not None and isinstance(chat.decoder, BlockDecoder)
    monkeypatch.setenv(numpy_chat.WEIGHTS_ENV, "float32")
    numpy_chat.clear()
    chat = numpy_chat.numpy_chat(LOCAL_MODEL_ID)
    assert chat is not None and type(chat.decoder) is NumpyDecoder
    numpy_chat.clear()


def test_graphs_are_built_once_and_rebuilt_when_the_manifest_changes() -> None:
    folder = block_graphs(LOCAL_MODEL_ID)
    manifest = folder / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    assert block_graphs(LOCAL_MODEL_ID) == folder and manifest.stat().st_mtime_ns == stamp
    manifest.write_text("{}", encoding="utf-8")
    assert block_graphs(LOCAL_MODEL_ID) == folder
    assert manifest.read_text(encoding="utf-8") != "{}"
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["step.onnx"]


def _lora(folder: Path, zero: bool) -> Path:
    """A real peft LoRA adapter on q/v/down of the packaged model, B zero (no change) or random."""
    from peft import LoraConfig, get_peft_model

    base, _ = loader.load_local_model(fresh=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    if not zero:
        import torch

        generator = torch.Generator().manual_seed(0)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.data = torch.randn(parameter.shape, generator=generator) * 0.02
    model.save_pretrained(folder)
    return folder


def test_a_lora_adapter_runs_beside_the_blocks(tmp_path: Path, decoders: tuple[NumpyDecoder, BlockDecoder]) -> None:
    """B = 0 answers exactly like the base blocks; a trained-looking adapter follows its float32 merge."""
    from ragtune.llm.lora_merge import merged_weights_file

    _, base = decoders
    ids = np.asarray(base.encode("<|im_start|>user\nWho wrote Romeo and Juliet?<|im_end|>\n<|im_start|>assistant\n"))
    zero = BlockDecoder(loader.cache_dir(), block_graphs(LOCAL_MODEL_ID, _lora(tmp_path / "zero", zero=True)))
    np.testing.assert_array_equal(zero._step(ids, zero._cache(len(ids)), 0), base._step(ids, base._cache(len(ids)), 0))
    adapter = _lora(tmp_path / "random", zero=False)
    blocks = BlockDecoder(loader.cache_dir(), block_graphs(LOCAL_MODEL_ID, adapter, 1.0))
    merged = NumpyDecoder(
        loader.cache_dir(), (merged_weights_file(loader.cache_dir(), adapter, tmp_path / "merged", 1.0),)
    )
    want = merged._step(ids, merged._cache(len(ids)), 0)
    got = blocks._step(ids, blocks._cache(len(ids)), 0)
    moved = base._step(ids, base._cache(len(ids)), 0)
    assert float(want @ got / np.linalg.norm(want) / np.linalg.norm(got)) > 0.995
    assert np.abs(got - moved).max() > 0.5  # the adapter changed the logits


def test_graphs_nothing_can_load_again_are_pruned(tmp_path: Path) -> None:
    """Older formats of the base graphs and adapted graphs whose adapter folder is gone are deleted."""
    import json

    from ragtune.llm.block_decoder import GRAPH_FORMAT, _prune_stale

    model = tmp_path / "models" / "m"
    current, old, legacy = (model.with_name(f"m-blocks{s}") for s in (f"-v{GRAPH_FORMAT}", "-v1", ""))
    adapted = tmp_path / "models" / "adapted-blocks"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    entries = {
        "alive": {"graphs": GRAPH_FORMAT, "adapter": str(adapter)},
        "gone": {"graphs": GRAPH_FORMAT, "adapter": str(tmp_path / "deleted")},
        "old": {"graphs": GRAPH_FORMAT - 1, "adapter": str(adapter)},
    }
    for folder in (current, old, legacy, adapted / ".building-tmp"):
        folder.mkdir(parents=True)
    for name, manifest in entries.items():
        (adapted / name).mkdir(parents=True)
        (adapted / name / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    _prune_stale(model, adapted, keep=current)
    assert current.is_dir() and not old.exists() and not legacy.exists()
    assert sorted(p.name for p in adapted.iterdir()) == [".building-tmp", "alive"]


def test_an_engine_warmed_in_the_background_is_the_one_the_chat_model_gets() -> None:
    numpy_chat.clear()
    thread = numpy_chat.warm_in_background(LOCAL_MODEL_ID)
    chat = numpy_chat.numpy_chat(LOCAL_MODEL_ID)  # waits for the background load instead of loading twice
    thread.join()
    assert chat is not None and chat is numpy_chat.numpy_chat(LOCAL_MODEL_ID)
    numpy_chat.clear()

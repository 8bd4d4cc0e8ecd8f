"""The numpy decoder behind the local chat model: same tokens as transformers, no torch, tokens as they come."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragtune.llm import loader, numpy_chat
from ragtune.llm.local import LocalChatModel
from ragtune.llm.numpy_decoder import Decoding, NumpyDecoder
from ragtune.testing.greedy import GREEDY_PROMPTS
from ragtune.testing.imports import heavy_imports_after

pytestmark = pytest.mark.slow

PROMPTS = GREEDY_PROMPTS
"""The fixed greedy set: each prompt's answer must be transformers' token for token."""


@pytest.fixture(autouse=True)
def _fresh_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The float32 weights: the engine whose greedy output is transformers' (the blocks default is
    measured for answer quality instead; tests/test_block_decoder.py)."""
    monkeypatch.delenv("RAGTUNE_LOCAL_ENGINE", raising=False)
    monkeypatch.setenv(numpy_chat.WEIGHTS_ENV, "float32")
    numpy_chat.clear()


def _answers(monkeypatch: pytest.MonkeyPatch, engine: str, model: LocalChatModel) -> list[tuple[str, object]]:
    monkeypatch.setenv("RAGTUNE_LOCAL_ENGINE", engine)
    out = []
    for prompt in PROMPTS:
        message = model.invoke(prompt)
        out.append((str(message.content), message.usage_metadata))
    return out


def test_greedy_answers_equal_transformers_token_for_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat model's default decoding (answer-only repetition penalty 1.05) on both engines."""
    model = LocalChatModel(max_new_tokens=48)
    by_numpy = _answers(monkeypatch, "numpy", model)
    assert numpy_chat.numpy_chat(model.model_name) is not None
    by_transformers = _answers(monkeypatch, "transformers", model)
    assert by_numpy == by_transformers  # same text and the same token counts, prompt and answer


def test_decoder_ids_equal_generate_with_ngram_ban_and_no_penalty() -> None:
    """The raw token ids, under the other processors: no_repeat_ngram_size, penalty off."""
    import torch

    decoder = NumpyDecoder(loader.cache_dir())
    hf, tokenizer = loader.load_local_model()
    for text in PROMPTS[1:3]:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
        ids = decoder.encode(prompt)
        assert ids == tokenizer(prompt, add_special_tokens=False)["input_ids"]
        mine = list(decoder.generate(ids, Decoding(max_new_tokens=40, no_repeat_ngram_size=3)))
        with torch.inference_mode():
            theirs = hf.generate(
                torch.tensor([ids]), max_new_tokens=40, do_sample=False, no_repeat_ngram_size=3, pad_token_id=2
            )
        assert mine == theirs[0, len(ids) :].tolist()


def test_sampling_is_seeded_and_differs_from_greedy() -> None:
    sampled = LocalChatModel(max_new_tokens=24, temperature=0.9, top_p=0.9, seed=7)
    first, second = sampled.invoke(PROMPTS[1]).content, sampled.invoke(PROMPTS[1]).content
    assert first == second and first.strip()
    others = {LocalChatModel(max_new_tokens=24, temperature=1.2, seed=s).invoke(PROMPTS[1]).content for s in range(4)}
    assert len(others) > 1


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch the decoder to count the tokens it has made so far (read while chunks arrive)."""
    made: list[int] = []
    original = NumpyDecoder.generate

    def generate(self, prompt, decoding):  # type: ignore[no-untyped-def]
        for token in original(self, prompt, decoding):
            made.append(token)
            yield token

    monkeypatch.setattr(NumpyDecoder, "generate", generate)
    return made


def test_stream_and_events_yield_tokens_as_they_are_made(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting(monkeypatch)
    model = LocalChatModel(max_new_tokens=40)

    async def run() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        chunks = [(str(c.content), len(made)) async for c in model.astream(PROMPTS[2])]
        made.clear()
        events = [
            (str(e["data"]["chunk"].content), len(made))
            async for e in model.astream_events(PROMPTS[2], version="v2")
            if e["event"] == "on_chat_model_stream"
        ]
        return chunks, events

    chunks, events = asyncio.run(run())
    for seen in (chunks, events):
        texts = [text for text, _ in seen if text]
        assert len(texts) >= 10  # about one piece per token, not one block at the end
        at_first = next(n for text, n in seen if text)
        assert at_first <= 3 < seen[-1][1] == 40  # the first piece came after the first few tokens of 40
    assert "".join(t for t, _ in chunks) == "".join(t for t, _ in events)
    assert "".join(t for t, _ in chunks) == LocalChatModel(max_new_tokens=40).invoke(PROMPTS[2]).content


def test_stop_string_ends_generation_early(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting(monkeypatch)
    full = LocalChatModel(max_new_tokens=40).invoke(PROMPTS[0])
    made.clear()
    cut = LocalChatModel(max_new_tokens=40).invoke(PROMPTS[0], stop=["Paris"])
    assert "Paris" not in cut.content and str(full.content).startswith(str(cut.content))
    assert cut.response_metadata["finish_reason"] == "stop"
    assert len(made) < full.usage_metadata["output_tokens"]  # the decoder stopped, not just the text


def _random_lora(folder: Path) -> None:
    """A LoRA adapter whose B is not zero, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = loader.load_local_model(fresh=True)
    config = LoraConfig(
        r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"], layers_to_transform=[27, 28, 29]
    )
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    peft_model.save_pretrained(folder)


def test_lora_adapter_is_merged_once_and_answers_like_peft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragtune.llm import lora_merge

    packaged = loader.cache_dir()
    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    shutil.copytree(packaged, models / packaged.name)  # the merged file goes under this cache root
    adapter = tmp_path / "adapter"
    _random_lora(adapter)
    tuned = LocalChatModel(max_new_tokens=40, adapter_path=str(adapter))
    base = LocalChatModel(max_new_tokens=40)
    by_numpy = _answers(monkeypatch, "numpy", tuned)
    merged = list((models / "merged").glob("*.safetensors"))
    assert len(merged) == 1
    by_peft = _answers(monkeypatch, "transformers", tuned)
    assert by_numpy == by_peft
    assert by_numpy != _answers(monkeypatch, "numpy", base)

    numpy_chat.clear()  # a new process: the merged file is read, not merged again

    def no_merge(*args: object) -> None:
        raise AssertionError("the adapter was merged again instead of read from the cache")

    monkeypatch.setattr(lora_merge, "merge_lora", no_merge)
    assert _answers(monkeypatch, "numpy", tuned)[:1] == by_numpy[:1]


def _tiny_model(folder: Path, model_type: str, **config: object) -> None:
    """A small randomly initialised model of ``model_type`` with the packaged tokenizer and chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    settings = {
        "vocab_size": 49152,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "initializer_range": 0.5,  # spread logits: greedy choices are not near-ties
        "eos_token_id": 2,
        "bos_token_id": 1,
        **config,
    }
    if model_type == "gpt2":
        settings = {"vocab_size": 49152, "n_embd": 64, "n_layer": 2, "n_head": 4, "eos_token_id": 2, "bos_token_id": 1}
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **settings))
    model.save_pretrained(folder)
    packaged = loader.cache_dir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(packaged / name, folder / name)


@pytest.mark.parametrize(
    ("model_type", "config"),
    [("llama", {"tie_word_embeddings": False, "attention_bias": True}), ("qwen2", {"tie_word_embeddings": True})],
)
def test_other_llama_family_models_equal_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_type: str, config: dict[str, object]
) -> None:
    _tiny_model(tmp_path, model_type, **config)
    model = LocalChatModel(model_name=str(tmp_path), max_new_tokens=24, stop_loops=False)
    by_numpy = _answers(monkeypatch, "numpy", model)
    assert numpy_chat.numpy_chat(str(tmp_path)) is not None
    assert by_numpy == _answers(monkeypatch, "transformers", model)


def test_unsupported_architecture_falls_back_with_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _tiny_model(tmp_path, "gpt2")
    model = LocalChatModel(model_name=str(tmp_path), max_new_tokens=8)
    with caplog.at_level(logging.WARNING, logger="ragtune.llm.numpy_chat"):
        first = model.invoke(PROMPTS[0])
        model.invoke(PROMPTS[1])
    lines = [r.getMessage() for r in caplog.records if r.name == "ragtune.llm.numpy_chat"]
    assert len(lines) == 1 and "runs on transformers" in lines[0] and "'gpt2'" in lines[0], lines
    assert first.usage_metadata["output_tokens"] > 0


def test_local_token_counts_need_no_transformers_and_agree() -> None:
    from ragtune.llm.tokens import count_chat_tokens, token_counter

    conversation = [{"role": "user", "content": PROMPTS[0]}]
    probe = (
        "import sys\n"
        "from ragtune.llm.tokens import count_chat_tokens, token_counter\n"
        f"print(token_counter('smollm2-135m-instruct', provider='local')({PROMPTS[2]!r}),"
        f" count_chat_tokens({conversation!r}, 'smollm2-135m-instruct', provider='local'),"
        " sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    tokenizer = loader.load_local_tokenizer()
    text = tokenizer.apply_chat_template(conversation, tokenize=False)
    expected = (
        len(tokenizer(PROMPTS[2], add_special_tokens=False)["input_ids"]),
        len(tokenizer(text, add_special_tokens=False)["input_ids"]),
    )
    assert done.stdout.split()[:2] == [str(expected[0]), str(expected[1])], done.stdout + done.stderr
    assert done.stdout.strip().endswith("[]")
    assert token_counter("smollm2-135m-instruct", provider="local")(PROMPTS[2]) == expected[0]
    assert count_chat_tokens(conversation, "smollm2-135m-instruct", provider="local") == expected[1]


def test_ask_on_every_generating_route_imports_no_torch(
    tmp_path: Path, sample_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fresh interpreters, the real CLI: direct, rag in each synthesis mode, and finetuned/hybrid with an adapter.

    On the default weights (the GGUF blocks; the adapter's routes run on float32 with the merged adapter)."""
    monkeypatch.delenv(numpy_chat.WEIGHTS_ENV, raising=False)
    from ragtune.llm import ModelEntry, ModelRegistry
    from ragtune.workspace import REGISTRY_NAME

    store = str(tmp_path / "store")
    done = subprocess.run(
        [sys.executable, "-m", "ragtune", "ingest", str(sample_corpus), "--store", store, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    adapter = tmp_path / "adapter"
    _random_lora(adapter)
    entry = ModelEntry(name="finetuned", provider="local", model_id="smollm2-135m-instruct", adapter_path=str(adapter))
    ModelRegistry(Path(store) / REGISTRY_NAME).register(entry)
    question = "Can I get a refund on an annual Team plan?"
    short = ("--store", store, "--max-new-tokens", "12", "--json")
    cases = [
        ("ask", "Write a haiku about autumn.", "--route", "direct", *short),
        ("ask", question, "--route", "rag", "--mode", "stuff", *short),
        ("ask", question, "--route", "rag", "--mode", "refine", *short),
        ("ask", question, "--route", "rag", "--mode", "map_reduce", *short),
        ("ask", question, "--route", "finetuned", *short),
        ("ask", question, "--route", "hybrid", *short),
    ]
    for args in cases:
        assert heavy_imports_after(*args, roots=("torch", "transformers", "peft")) == ([], 0), args
    answered = subprocess.run(
        [sys.executable, "-m", "ragtune", *cases[-2]], capture_output=True, text=True, timeout=600
    )
    assert json.loads(answered.stdout)["route"] == "finetuned", answered.stderr

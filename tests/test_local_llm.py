"""The real local SmolLM2 model: GGUF loading with the de-quantized cache, and the LangChain chat model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragtune.llm import LOCAL_MODEL_ID, ModelEntry, context_window, make_chat_model
from ragtune.llm import loader as local_loader
from ragtune.llm import local as local_llm
from ragtune.llm.local import LocalChatModel, load_local_model

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def chat() -> LocalChatModel:
    return LocalChatModel(max_new_tokens=24)


@pytest.fixture(scope="module")
def answer(chat: LocalChatModel):  # type: ignore[no-untyped-def]
    return chat.invoke(QUESTION)


def test_second_load_comes_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path))
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    local_llm.clear_loaded_models()
    try:
        first, _ = load_local_model()
        # the GGUF parsing shortcut is scoped to the load: gguf's functions are the originals again
        assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader, name_map)

        folder = tmp_path / "models" / LOCAL_MODEL_ID
        assert local_llm.cache_dir() == folder
        names = {p.name for p in folder.iterdir()}
        assert {"model.safetensors", "config.json", "tokenizer.json", local_llm.CACHE_MANIFEST} <= names
        assert [p.name for p in (tmp_path / "models").iterdir() if ".tmp-" in p.name] == []  # no half cache left

        local_llm.clear_loaded_models()

        def no_gguf(path: Path) -> None:
            raise AssertionError("the second load parsed the GGUF file instead of reading the cache")

        monkeypatch.setattr(local_loader, "_load_from_gguf", no_gguf)
        second, _ = load_local_model()
    finally:
        local_llm.clear_loaded_models()  # later tests use the default cache again

    assert second is not first
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    assert all(bool((first_state[k] == second_state[k]).all()) for k in first_state)
    assert getattr(second, "hf_quantizer", None) is None and not second.training
    assert second.config.max_position_embeddings == context_window(LOCAL_MODEL_ID) == 8192


def test_invoke_answers_with_usage(answer) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(answer.content, str) and answer.content.strip()
    assert "paris" in answer.content.lower()
    usage = answer.usage_metadata
    assert usage["input_tokens"] > 5 and 0 < usage["output_tokens"] <= 24
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert answer.response_metadata["model_name"] == LOCAL_MODEL_ID


def test_stream_concatenates_to_invoke_text(chat: LocalChatModel, answer) -> None:  # type: ignore[no-untyped-def]
    chunks = list(chat.stream(QUESTION))
    assert len([c for c in chunks if c.content]) >= 3
    assert "".join(str(c.content) for c in chunks) == answer.content
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata == answer.usage_metadata


def test_async_invoke_and_stream(chat: LocalChatModel, answer) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[str, str]:
        result = await chat.ainvoke(QUESTION)
        streamed = "".join([str(c.content) async for c in chat.astream(QUESTION)])
        return str(result.content), streamed

    assert asyncio.run(run()) == (answer.content, answer.content)


def test_stop_sequence_cuts_the_answer(chat: LocalChatModel, answer) -> None:  # type: ignore[no-untyped-def]
    cut = chat.invoke(QUESTION, stop=["Paris"])
    assert "Paris" not in cut.content
    assert answer.content.startswith(cut.content)
    assert cut.response_metadata["finish_reason"] == "stop"


def test_lora_adapter_loads_on_a_copy(tmp_path: Path, answer) -> None:  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model

    base, _ = load_local_model()
    trainable, _ = load_local_model(fresh=True)
    assert trainable is not base
    # A fresh LoRA (B = 0) changes nothing: the adapted model must answer exactly like the base.
    get_peft_model(trainable, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(tmp_path)

    adapted, _ = load_local_model(tmp_path)
    assert type(adapted).__name__ == "PeftModel" and adapted is not base
    assert not any("lora" in name for name, _ in base.named_parameters())  # shared base untouched

    entry = ModelEntry(name="finetuned", provider="local", model_id=LOCAL_MODEL_ID, adapter_path=str(tmp_path))
    model = make_chat_model(entry, max_new_tokens=24)
    assert isinstance(model, LocalChatModel) and model.adapter_path == str(tmp_path)
    assert model.invoke(QUESTION).content == answer.content


def test_local_token_counter_uses_the_model_tokenizer(answer) -> None:  # type: ignore[no-untyped-def]
    from ragtune.llm import count_chat_tokens, token_counter
    from ragtune.llm.local import load_local_tokenizer

    count = token_counter(LOCAL_MODEL_ID, provider="local")
    tokenizer = load_local_tokenizer()
    assert tokenizer.convert_ids_to_tokens(tokenizer("Hello, world!", add_special_tokens=False)["input_ids"]) == [
        "Hello",
        ",",
        "Ġworld",
        "!",
    ]
    assert count("Hello, world!") == 4
    conversation = [{"role": "user", "content": QUESTION}]
    # the prompt the model saw = the conversation + the generation prompt "<|im_start|>assistant\n" (4 tokens)
    assert count("<|im_start|>assistant\n") == 4
    assert (
        count_chat_tokens(conversation, LOCAL_MODEL_ID, provider="local") + 4 == answer.usage_metadata["input_tokens"]
    )

"""Loop detection on text (fast) and on the real local model's answers to prompts that loop without it."""

from __future__ import annotations

import collections
import re

import pytest

from ragtune.llm.repetition import find_loop, find_refrain, refrain_suspect, suspect_start, tail_repeat


def max_ngram_repeats(text: str, n: int = 4) -> int:
    words = re.findall(r"\w+", text.lower())
    counts = collections.Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return max(counts.values(), default=0)


def test_a_repeated_phrase_is_a_loop_cut_after_its_first_copy() -> None:
    text = "In autumn, " + "a leaf's fate is determined, " * 4 + "a le"
    loop = find_loop(text)
    assert loop is not None and loop.unit == len("a leaf's fate is determined, ")
    assert text[: loop.keep] == "In autumn, a leaf's fate is determined,"


def test_multi_line_loops_are_found() -> None:
    verse = "A world where the sea is a place,\n"
    text = "The waves of the ocean,\n" + verse * 3 + "A wor"
    loop = find_loop(text)
    assert loop is not None and text[: loop.keep] == "The waves of the ocean,\n" + verse.rstrip("\n")


def test_ordinary_text_and_short_repeats_are_not_loops() -> None:
    assert find_loop("Paris is the capital of France. It is on the Seine.") is None
    assert find_loop("Wait... what? Ha ha ha!") is None
    assert find_loop("Row, row, row your boat") is None
    assert find_loop("x" * 10) is None
    assert find_loop("-" * 40) is not None  # a long run of one character is degenerate


def test_a_second_copy_is_held_back_until_it_resolves() -> None:
    text = "Autumn: leaves fall, leaves fall, "
    assert tail_repeat(text) is not None and find_loop(text) is None
    start = suspect_start(text)
    assert start is not None and text[:start] == "Autumn: leaves fall,"
    assert suspect_start(text + "and the wind sings.") is None


REFRAIN = "Abele, the sea's own master,\n"


def test_a_prose_line_given_a_third_time_is_a_refrain_cut_before_it() -> None:
    second = REFRAIN.replace(",", ".")  # punctuation aside, the same words
    text = "The waves of the ocean.\n" + REFRAIN + "In every corner,\n" + second + "Where dreams are born,\n"
    assert find_refrain(text) is None
    third = text + REFRAIN
    assert find_refrain(third) == len(text)
    assert refrain_suspect(text + "Abele, the s") == len(text)  # held back while it may become the third copy
    assert refrain_suspect(text + "Abele, the wind") is None
    assert find_loop(third) is None  # not back to back: the periodic loop check cannot see it


def test_short_lines_code_and_two_copies_are_not_refrains() -> None:
    assert find_refrain("- yes\n- no\n- yes\n- no\n- yes\n") is None
    assert find_refrain("{\n  },\n  },\n  },\n}") is None
    assert find_refrain("Chorus: la la la la\nverse one goes here\nChorus: la la la la\nthe end of it\n") is None


HAIKU = "Write a haiku about autumn."
SEA_POEM = "Write a short poem about the sea."


@pytest.mark.slow
def test_haiku_is_finished_and_does_not_repeat() -> None:
    """Greedy SmolLM2 used to repeat one phrase of this haiku until the 256-token limit."""
    from ragtune.llm.local import LocalChatModel

    model = LocalChatModel(max_new_tokens=256)
    reply = model.invoke(HAIKU)
    text = str(reply.content)
    assert text.strip()
    assert reply.response_metadata["finish_reason"] in ("stop", "loop")  # finished, not cut by the token limit
    assert reply.usage_metadata["output_tokens"] < 256
    assert max_ngram_repeats(text) <= 2, text
    assert find_loop(text) is None
    assert "".join(str(c.content) for c in model.stream(HAIKU)) == text


@pytest.mark.slow
def test_sea_poem_does_not_loop() -> None:
    """This poem used to loop on one verse; now it goes on (up to the limit) without repeating itself."""
    from ragtune.llm.local import LocalChatModel

    reply = LocalChatModel(max_new_tokens=128).invoke(SEA_POEM)
    text = str(reply.content)
    assert len(text.split()) >= 20
    assert max_ngram_repeats(text) <= 2, text
    assert find_loop(text) is None


@pytest.mark.slow
def test_loop_stop_alone_trims_a_looping_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the repetition penalty SmolLM2 loops on the haiku; the loop stop still ends it early.

    On the float32 weights, whose greedy haiku is known to loop (the default block engine's int8
    products happen to end this one on their own, so it would not exercise the loop stop)."""
    from ragtune.llm import numpy_chat
    from ragtune.llm.local import LocalChatModel

    monkeypatch.setenv(numpy_chat.WEIGHTS_ENV, "float32")
    numpy_chat.clear()
    model = LocalChatModel(max_new_tokens=256, repetition_penalty=1.0)
    reply = model.invoke(HAIKU)
    text = str(reply.content)
    assert reply.response_metadata["finish_reason"] == "loop"
    assert reply.usage_metadata["output_tokens"] < 100
    assert max_ngram_repeats(text) <= 2, text
    assert text.rstrip().endswith((",", ".", "!", "?", ";", ":")), text

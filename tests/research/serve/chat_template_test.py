"""The chat template: the exact ChatML text, the text path for tokenizers without chat tokens
(stop at the string), the special-token path (one id per marker, stop at the id, user text that
spells a marker stays text), and refused messages."""

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from research.serve import chat_template
from research.serve.served_model import FolderTokenizer
from research.text.byte_tokenizer import ByteTokenizer

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye"},
]


def test_render_is_chatml_ending_with_the_assistant_turn():
    assert chat_template.render(CHAT) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_without_chat_tokens_the_markers_are_text_and_the_answer_stops_at_the_string():
    prompt = chat_template.encode(CHAT, ByteTokenizer())
    assert bytes(prompt.token_ids).decode() == chat_template.render(CHAT)
    assert (prompt.stop, prompt.stop_ids) == (("<|im_end|>",), ())


def word_tokenizer(special: bool) -> FolderTokenizer:
    words = ["[UNK]", "system", "user", "assistant", "Be", "brief.", "Hi", "Hello.", "Bye", "\n"]
    inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.Split("\n", "isolated")
    markers = [chat_template.IM_START, chat_template.IM_END]
    (inner.add_special_tokens if special else inner.add_tokens)(markers)
    return FolderTokenizer(inner, eos_id=None)


def test_special_tokens_are_single_ids_and_the_answer_stops_at_the_end_id():
    tokenizer = word_tokenizer(special=True)
    start, end = 10, 11
    assert chat_template.special_token_id(tokenizer, chat_template.IM_START) == start
    prompt = chat_template.encode([{"role": "user", "content": "Hi"}], tokenizer)
    user, hi, newline, assistant = 2, 6, 9, 3
    assert prompt.token_ids == [start, user, newline, hi, end, newline, start, assistant, newline]
    assert (prompt.stop, prompt.stop_ids) == ((), (end,))
    # A user cannot forge a turn: the marker spelled in content is not the special id.
    forged = chat_template.encode([{"role": "user", "content": "<|im_end|>"}], tokenizer)
    assert forged.token_ids.count(end) == 1


def test_a_non_special_added_token_is_not_used_as_a_marker():
    assert chat_template.special_token_id(word_tokenizer(special=False), "<|im_end|>") is None


@pytest.mark.parametrize(
    "messages,words",
    [
        ([], "non-empty list"),
        ("hi", "non-empty list"),
        ([{"role": "tool", "content": "x"}], "messages[0].role must be one of"),
        ([{"role": "user", "content": None}], "messages[0].content must be a string"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "only hold text parts"),
        (["hi"], "messages[0] must be an object"),
    ],
)
def test_bad_messages_are_refused_naming_the_message(messages, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        chat_template.encode(messages, ByteTokenizer())


def test_folder_tokenizer_round_trip():
    tokenizer = word_tokenizer(special=True)
    ids = tokenizer.encode("Hi\nBye")
    assert ids.dtype == np.int32 and tokenizer.decode(ids).replace(" ", "") == "Hi\nBye"

"""OpenAI chat messages -> one prompt for a decoder, in a ChatML-style template.

    <|im_start|>system
    You are terse.<|im_end|>
    <|im_start|>user
    Hi!<|im_end|>
    <|im_start|>assistant
                                   <- the model writes here, and ends with <|im_end|>

Why this template: the project's tokenizers (bytes, SentencePiece, byte-level BPE, WordPiece; see
`research.text.special_tokens`) define no chat tokens, and a plain-text template works with every
one of them, while ChatML (the format of OpenAI's and Qwen's chat models) gives each turn a clear
start and end that a model fine-tuned on chats learns. The markers are *special tokens* when the
tokenizer knows them as such (a Hugging Face `tokenizer.json` that lists `<|im_start|>` and
`<|im_end|>` among its special added tokens): then each marker is one id that no user text can
spell, and the answer stops at the `<|im_end|>` id. Otherwise (every tokenizer this project trains
today) the markers are encoded as ordinary text and the answer stops at the *string* `<|im_end|>`
(the engine cuts the text before it). A model that was never trained on chats still answers: it
continues the text as it would any prompt.
"""

import dataclasses

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
ROLES = ("system", "user", "assistant")


@dataclasses.dataclass(frozen=True)
class ChatPrompt:
    """What a chat request sends to the engine: the prompt ids (int, [T]) and how the answer ends
    (add these to the request's own stop strings and ids)."""

    token_ids: list[int]
    stop: tuple[str, ...]
    stop_ids: tuple[int, ...]


def message_text(message, index: int) -> tuple[str, str]:
    """(role, content) of one OpenAI chat message; content is a string or a list of text parts
    ({"type": "text", "text": ...}). Raises ValueError naming the message."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise ValueError(f"{where} must be an object with 'role' and 'content'.")
    role, content = message.get("role"), message.get("content")
    if role not in ROLES:
        raise ValueError(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}.")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            raise ValueError(f"{where}.content may only hold text parts ({{'type': 'text'}}).")
        content = "".join(str(p.get("text", "")) for p in content)
    if not isinstance(content, str):
        raise ValueError(f"{where}.content must be a string or a list of text parts.")
    return role, content


def render(messages) -> str:
    """The template as text (what `encode` tokenizes when the markers are not special tokens)."""
    turns = [message_text(m, i) for i, m in enumerate(_checked(messages))]
    body = "".join(f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in turns)
    return f"{body}{IM_START}assistant\n"


def special_token_id(tokenizer, text: str) -> int | None:
    """The id of `text` when the tokenizer holds it as one special token, else None.

    Looks in a Hugging Face `tokenizers.Tokenizer` (the object itself or its `.tokenizer`, as in
    `research.text.hf_tokenizer.HFTokenizer`): only added tokens marked special count, so a
    vocabulary piece that merely spells the string does not."""
    inner = getattr(tokenizer, "tokenizer", tokenizer)
    added = getattr(inner, "get_added_tokens_decoder", None)
    if added is None:
        return None
    return next((i for i, t in added().items() if t.content == text and t.special), None)


def encode(messages, tokenizer) -> ChatPrompt:
    """The chat as prompt ids under `tokenizer` (`encode(text) -> ids`), with its stop marker."""
    start, end = special_token_id(tokenizer, IM_START), special_token_id(tokenizer, IM_END)
    if start is None or end is None:
        ids = [int(t) for t in tokenizer.encode(render(messages))]
        return ChatPrompt(ids, stop=(IM_END,), stop_ids=())
    ids = []
    for i, message in enumerate(_checked(messages)):
        role, content = message_text(message, i)
        ids += [start, *tokenizer.encode(f"{role}\n{content}"), end, *tokenizer.encode("\n")]
    ids += [start, *tokenizer.encode("assistant\n")]
    return ChatPrompt([int(t) for t in ids], stop=(), stop_ids=(end,))


def _checked(messages) -> list:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} objects.")
    return messages

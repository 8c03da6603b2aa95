"""The vocabulary-size experiment in smoke mode: its table, plots and the trade-off's direction
(a bigger vocabulary means fewer tokens per word and a bigger embedding table)."""

import json

import pytest

from experiments import vocab_size
from experiments.configs.text import vocab_size as vocab_config
from research.text.byte_tokenizer import ByteTokenizer


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vocab_size")
    return workdir, vocab_size.main(vocab_config.get_config("smoke"), workdir)


def test_smoke_run_writes_results_table_and_plots(smoke):
    workdir, results = smoke
    assert json.loads((workdir / "results.json").read_text()) == results
    table = (workdir / "results.md").read_text()
    kinds = [r["kind"] for r in results["tokenizers"]]
    assert kinds == ["bytes"] + [k for k in ("sentencepiece_bpe", "sentencepiece_unigram",
                                             "byte_bpe") for _ in range(2)]  # fmt: skip
    for row in results["tokenizers"]:
        assert f"| {row['kind']} | {row['vocab_size']} |" in table
    for name in ("vocab_tokenizers.png", "vocab_lm.png"):
        assert (workdir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (lm,) = results["lm"]
    assert lm["run"] == "sentencepiece_bpe:512" and lm["steps"] == 4
    assert (workdir / "lm_sentencepiece_bpe_512" / "tokenizer" / "sentencepiece.model").exists()
    # nats per byte = nats per token / bytes per token, and subwords hold more than one byte.
    assert 0.2 < lm["eval_nats_per_byte"] / lm["eval_loss_per_token"] < 0.9


def test_bigger_vocabularies_compress_more_and_cost_more_embedding(smoke):
    _, results = smoke
    rows = results["tokenizers"]
    byte_row = rows[0]
    # Bytes: exactly one token per byte, no fallback, a 257 x 256 table padded to 320 rows.
    assert byte_row["bytes_per_token"] == 1.0 and byte_row["fallback_rate"] == 0.0
    assert byte_row["embedding_params"] == 320 * 256
    for kind in ("sentencepiece_bpe", "sentencepiece_unigram", "byte_bpe"):
        small, big = [r for r in rows if r["kind"] == kind]
        assert small["vocab_size"] < big["vocab_size"]
        assert byte_row["tokens_per_word"] > small["tokens_per_word"] > big["tokens_per_word"]
        assert small["mean_doc_tokens"] > big["mean_doc_tokens"]
        assert small["embedding_params"] < big["embedding_params"]


def test_stats_by_hand_on_a_tiny_text():
    # 2 documents, 3 whitespace words, 10 bytes -> 10 byte tokens: 10/3 tokens per word.
    stats = vocab_size.tokenizer_stats(ByteTokenizer(), ["ab cd", "efghi"], embed_dim=4)
    assert stats["tokens_per_word"] == pytest.approx(10 / 3)
    assert stats["mean_doc_tokens"] == 5.0 and stats["bytes_per_token"] == 1.0
    assert stats["embedding_params"] == 320 * 4


def test_unknown_corpus_is_refused(tmp_path):
    config = vocab_config.get_config("smoke")
    config.data.name = "wiki"
    with pytest.raises(ValueError, match=r"^data.name='wiki' is not an offline corpus here"):
        vocab_size.main(config, tmp_path)

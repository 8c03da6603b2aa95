"""Special tokens and their fixed ids, shared by every trained (subword) tokenizer.

Id layout (the same for SentencePiece BPE / unigram, byte-level BPE and WordPiece, whatever the
vocabulary size, so a model, a loss or a data pipeline can name them as constants):

  id  0       <pad>            padding (losses weight it 0)
  id  1       <s>              beginning of sequence (bos)
  id  2       </s>             end of sequence / document (eos)
  id  3       <unk>            unknown (never produced by the byte-level and byte-fallback ones)
  id  4       <mask>           masked-language-model mask
  ids 5..4+n  <extra_id_0> ..  T5-style span-corruption sentinels, n = num_sentinels
  ids 5+n..   learned vocabulary (SentencePiece: then '\\n', 256 byte pieces <0x00>..<0xFF>, pieces;
              byte-level BPE: 256 byte symbols, then merges; WordPiece: characters, then pieces)

Unlike T5 (sentinels at the top of the vocabulary, <extra_id_0> the largest id), sentinels sit at the
bottom here so their ids do not move when the vocabulary size changes. Tokenizers never produce a
special id from text (except <unk>); callers insert them by id. The existing byte tokenizer
(`byte_tokenizer.py`: bytes 0..255, eos 256) keeps its own layout.
"""

PAD, BOS, EOS, UNK, MASK = "<pad>", "<s>", "</s>", "<unk>", "<mask>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID, MASK_ID = 0, 1, 2, 3, 4
NUM_FIXED = 5  # pad, bos, eos, unk, mask
DEFAULT_NUM_SENTINELS = 32


def sentinel(i: int) -> str:
    """The T5-style sentinel string of span i: '<extra_id_{i}>'."""
    return f"<extra_id_{i}>"


def sentinel_id(i: int, num_sentinels: int) -> int:
    """Id of sentinel i (0 <= i < num_sentinels): NUM_FIXED + i."""
    if not 0 <= i < num_sentinels:
        raise ValueError(
            f"sentinel {i} is outside [0, num_sentinels={num_sentinels}); train the tokenizer "
            "with more sentinels or use fewer spans."
        )
    return NUM_FIXED + i


def special_tokens(num_sentinels: int) -> list[str]:
    """Every special token string in id order: pad, bos, eos, unk, mask, sentinels."""
    if num_sentinels < 0:
        raise ValueError(f"num_sentinels={num_sentinels} is negative; pass 0 or more.")
    return [PAD, BOS, EOS, UNK, MASK] + [sentinel(i) for i in range(num_sentinels)]

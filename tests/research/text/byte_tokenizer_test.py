import numpy as np

from research.text.byte_tokenizer import ByteTokenizer


def test_encode_is_utf8_bytes():
    ids = ByteTokenizer().encode("Aé\n")
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [65, 0xC3, 0xA9, 10])


def test_encode_appends_eos():
    tok = ByteTokenizer()
    np.testing.assert_array_equal(tok.encode("hi", add_eos=True), [104, 105, 256])
    assert tok.eos_id == 256 and tok.vocab_size == 257


def test_round_trip_of_every_kind_of_character():
    tok = ByteTokenizer()
    text = "plain ASCII, naïve café, Ελληνικά, 日本語, emoji 🙂, tab\tand NUL\0"
    assert tok.decode(tok.encode(text, add_eos=True)) == text


def test_decode_drops_eos_and_ids_outside_bytes_and_replaces_bad_utf8():
    tok = ByteTokenizer()
    assert tok.decode([104, 256, 105, 300, -1]) == "hi"
    assert tok.decode([0xC3]) == "\ufffd"  # a truncated two-byte sequence


def test_encode_documents_concatenates_with_eos():
    tok = ByteTokenizer()
    stream = tok.encode_documents(["ab", "", "é"])
    np.testing.assert_array_equal(stream, [97, 98, 256, 256, 0xC3, 0xA9, 256])
    assert stream.dtype == np.int32
    assert tok.encode_documents([]).shape == (0,)

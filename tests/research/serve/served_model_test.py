"""What the server loads (`research.serve.served_model`), from both kinds of source.

A Hugging Face GPT-2 folder, built here with no download: a tiny transformer_lm exported by
`hf_gpt2.save` beside a `tokenizer.json` of a byte-level BPE trained on a few strings with
`<|endoftext|>` as its special token. Loaded back: the same parameters, text that round-trips, the
tokenizer's end-of-text id as the engine's stop id, and the engine's greedy answers equal to the
plain cached decode of the loaded model. A training workdir (`lm_workdir`, the main job's loop at
its smallest): the newest checkpoint's params exactly as Orbax restores them, on one device though
8 saved them, and the tokenizer the run trained and saved.
"""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tokenizers import ByteLevelBPETokenizer

from research.generate.decoding import decode
from research.generate.sampling import TokenChooser, left_pad
from research.models import transformer_lm
from research.models.convert import hf_gpt2
from research.serve import served_model
from research.serve.engine import Engine
from research.serve.sampling_params import SamplingParams
from research.sharding.partition import strip_boxes
from research.text import tokenizers
from research.text.hf_tokenizer import HFTokenizer
from tests.research.serve.lm_workdir import STEPS, trained_workdir

END_OF_TEXT = "<|endoftext|>"
CORPUS = [
    "def add(x, y):\n    return x + y\n",
    "The quick brown fox. The lazy dog.",
    "héllo wörld ✓",
]
TEXT = "The brown dog: def héllo(x) ✓\n"  # a merge or two, bytes above 0x7f, a 3-byte character
NUM_TOKENS = 6


def _tiny_bpe() -> ByteLevelBPETokenizer:
    """A byte-level BPE (GPT-2's alphabet: every byte is a token, so any text encodes)."""
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(
        CORPUS, vocab_size=300, min_frequency=1, special_tokens=[END_OF_TEXT], show_progress=False
    )
    return tokenizer


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """(folder, params saved there, the tokenizer written there)."""
    tokenizer = _tiny_bpe()
    model = transformer_lm.make(
        "tiny", num_layers=1, embed_dim=32, num_heads=2, mlp_dim=64, max_len=32,
        vocab_size=tokenizer.get_vocab_size(),
    )  # fmt: skip
    # Standard normal weights (not the init's, and without running it: seconds on this CPU): the
    # logits spread out, so greedy choices have no near-ties.
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda s: rng.standard_normal(s.shape).astype(np.float32), strip_boxes(shapes["params"])
    )
    # The vocabulary's padding rows are not exported (GPT-2 has none) and load back as zeros.
    params["embed"]["embedding"][model.config.vocab_size :] = 0.0
    folder = tmp_path_factory.mktemp("hf") / "tiny-gpt2"
    eos = tokenizer.token_to_id(END_OF_TEXT)
    hf_gpt2.save(folder, model.config, params, bos_token_id=eos, eos_token_id=eos)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder, params, tokenizer


def test_hf_folder_loads_the_saved_params(hf_folder):
    folder, params, _ = hf_folder
    served = served_model.from_hf_folder(folder)
    assert served.name == "tiny-gpt2"
    assert jax.tree.structure(served.params) == jax.tree.structure(params)
    for loaded, saved in zip(jax.tree.leaves(served.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(loaded, saved)


def test_hf_tokenizer_round_trips_and_stops_at_endoftext(hf_folder, tmp_path):
    folder, _, tokenizer = hf_folder
    served = served_model.from_hf_folder(folder)
    ids = served.tokenizer.encode(TEXT)
    assert ids.dtype == np.int32 and ids.tolist() == tokenizer.encode(TEXT).ids
    assert served.tokenizer.decode(ids) == TEXT
    assert served.tokenizer.vocab_size == tokenizer.get_vocab_size()
    eos = tokenizer.token_to_id(END_OF_TEXT)
    assert served.tokenizer.eos_id == eos
    # A prompt that spells the token is text: a client cannot end its own answer early.
    assert eos not in served.tokenizer.encode(f"a{END_OF_TEXT}b").tolist()
    assert served.tokenizer.decode([*ids, eos]) == TEXT  # the stop token prints nothing
    # A config.json without eos_token_id: the tokenizer's <|endoftext|> still stops the answer.
    bare = shutil.copytree(folder, tmp_path / "bare")
    config = json.loads((bare / "config.json").read_text())
    del config["eos_token_id"]
    (bare / "config.json").write_text(json.dumps(config))
    assert served_model.from_hf_folder(bare).tokenizer.eos_id == eos


def test_hf_tokenizer_larger_than_the_model_is_refused(hf_folder, tmp_path):
    folder, _, _ = hf_folder
    other = shutil.copytree(folder, tmp_path / "other")
    bigger = ByteLevelBPETokenizer()
    bigger.train_from_iterator(CORPUS * 4 + [TEXT], vocab_size=400, special_tokens=[END_OF_TEXT])
    bigger.save(str(other / "tokenizer.json"))
    with pytest.raises(ValueError, match="not the model's"):
        served_model.from_hf_folder(other)


def test_engine_on_the_hf_folder_equals_plain_greedy_decode(hf_folder):
    served = served_model.from_hf_folder(hf_folder[0])
    tok = served.tokenizer
    # Two lengths decoded together, each within one prefill chunk (fewer step shapes to compile).
    prompts = [tok.encode("The "), tok.encode("def add(x)")]
    engine = Engine(
        served.model, served.params, num_blocks=16, block_size=16, max_seqs=2, chunk_size=16,
        max_step_tokens=32, eos_id=tok.eos_id, detokenize=tok.decode,
    )  # fmt: skip
    greedy = SamplingParams(max_tokens=NUM_TOKENS, temperature=0.0, ignore_eos=True)
    outputs = engine.generate(prompts, greedy)
    tokens, mask = left_pad(prompts)
    expected = decode(
        served.model, served.params, jnp.asarray(tokens), num_tokens=NUM_TOKENS,
        select=TokenChooser(0.0), rng=jax.random.PRNGKey(0), prompt_mask=jnp.asarray(mask),
    )  # fmt: skip
    assert [o.token_ids for o in outputs] == np.asarray(expected).tolist()
    assert [o.text for o in outputs] == [tok.decode(row) for row in np.asarray(expected)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return trained_workdir(tmp_path_factory.getbasetemp())


def _restored_params(workdir, step):
    """`params` of the train state at `step`, restored whole by Orbax as the run saved it."""
    state = ocp.StandardCheckpointer().restore(workdir / "checkpoints" / str(step) / "state")
    return state["params"]


def test_workdir_serves_the_newest_checkpoints_params_on_one_device(workdir):
    served = served_model.from_workdir(workdir)
    assert served.name == "lm_workdir"
    newest, older = _restored_params(workdir, STEPS), _restored_params(workdir, STEPS - 1)
    assert jax.tree.structure(served.params) == jax.tree.structure(newest)
    for loaded, saved, before in zip(
        jax.tree.leaves(served.params), jax.tree.leaves(newest), jax.tree.leaves(older), strict=True
    ):
        np.testing.assert_array_equal(loaded, saved)
        assert not np.array_equal(saved, before) or not np.any(saved)  # a step changed it
        # Saved over 8 devices, served from one: a 1-device server could not use 8 shardings.
        assert loaded.sharding.device_set == {jax.local_devices()[0]}
    config = json.loads((workdir / "config.json").read_text())
    assert served.model.config == transformer_lm.make(**config["model"]).config


def test_workdir_serves_the_tokenizer_it_trained(workdir):
    served = served_model.from_workdir(workdir)
    saved = tokenizers.load(workdir / "tokenizer")
    assert isinstance(served.tokenizer, HFTokenizer)
    assert served.tokenizer.vocab_size == saved.vocab_size == 320
    assert served.tokenizer.eos_id == saved.eos_id
    ids = served.tokenizer.encode(TEXT)
    assert np.array_equal(ids, saved.encode(TEXT)) and len(ids) < len(TEXT.encode())  # merges
    assert served.tokenizer.decode(ids) == TEXT


def test_workdir_without_config_or_checkpoint_is_refused(workdir, tmp_path):
    with pytest.raises(ValueError, match="config.json' does not exist"):
        served_model.from_workdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(workdir / "config.json", tmp_path)
    shutil.copytree(workdir / "tokenizer", tmp_path / "tokenizer")
    with pytest.raises(ValueError, match="holds no finished checkpoint"):
        served_model.from_workdir(tmp_path)

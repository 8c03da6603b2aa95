"""Contextual against static word vectors: one word in different contexts, through tiny BERT.

  python -m experiments.contextual_vectors --config=experiments/configs/bert/contextual.py \
      --workdir=runs/contextual

A static embedding (word2vec, or BERT's own input table) gives a word one vector wherever it
occurs: the cosine similarity between two of its occurrences is 1. A contextual model gives each
occurrence its own vector. For each word of `SENTENCES` (two senses, a few sentences each) this
reports the mean cosine similarity of its final-layer BERT vectors over pairs of occurrences in the
same sense and in different senses, for the pre-trained model and for the same model untrained,
and the mean cosine between an occurrence's vector and the word's static input embedding.
A word split into several WordPiece pieces is the mean of its pieces (vectors and embeddings).

The model is pre-trained with masked LM as experiments/train_mlm.py's pretrain stage
(`research.tasks.mlm` through `experiments.stages.run`, in `<workdir>/pretrain`, resumable) with
train_mlm's config as the `mlm` section (every key a `--config.mlm.<key>` flag), or taken from a
finished train_mlm run with `--config.mlm_workdir=runs/mlm` (its tokenizer and its pretrain/
checkpoint: nothing is retrained; the loop records this launch in that pretrain/ folder, as it
does for every resumed run). Writes results.json, results.md and bert_contextual.png.
"""

import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.tasks.mlm import CLS, PAD, pretrain_task

# word -> (sense name, sentences) x 2. Every sentence contains the word once, as a whole word.
SENTENCES = {
    "set": (
        ("collection", ["a set is an unordered collection of distinct objects.",
                        "the set contains each element only once.",
                        "add the item to the set and remove it later."]),
        ("assign", ["set the attribute to a new value.",
                    "you can set the variable before calling the function.",
                    "the method will set the flag when the thread starts."]),
    ),
    "key": (
        ("mapping", ["the dictionary maps each key to a value.",
                     "a key must be hashable to be used in a dict.",
                     "look up the key in the mapping."]),
        ("keyboard", ["press the enter key to continue.",
                      "hold down the control key while you type.",
                      "the escape key cancels the input."]),
    ),
    "type": (
        ("kind", ["the type of an object determines its operations.",
                  "every value has a type such as int or str.",
                  "the result has the same type as the argument."]),
        ("typing", ["type the command at the interactive prompt.",
                    "you can type help to get more information.",
                    "type the name of the module and press enter."]),
    ),
    "raise": (
        ("exception", ["the function will raise an exception on error.",
                       "raise a value error if the argument is invalid.",
                       "code can raise an error inside the try clause."]),
        ("increase", ["raise the limit to allow deeper recursion.",
                      "this call can raise the priority of the process.",
                      "raise the number to the power of two."]),
    ),
    "open": (
        ("action", ["open the file for reading and writing.",
                    "the function will open a new file in text mode.",
                    "open a connection to the server first."]),
        ("state", ["the connection is still open after the call.",
                   "the interval is open at one end.",
                   "the socket remains open until it is closed."]),
    ),
    "list": (
        ("sequence", ["a list is a mutable sequence of items.",
                      "append an element to the end of the list.",
                      "the list can hold objects of any type."]),
        ("enumerate", ["list the files in the current directory.",
                       "the command will list all installed modules.",
                       "list the names defined in the module."]),
    ),
}  # fmt: skip


def word_span(tokenizer, sentence: str, word: str) -> tuple[np.ndarray, int, int]:
    """(ids of the sentence, start, number of pieces) of the first whole-word `word`.

    Encodes the text before the word, the word and the rest separately; WordPiece splits at
    whitespace and punctuation first, so their concatenation is the sentence's encoding."""
    words = sentence.split(" ")
    if word not in [w.strip(".,") for w in words]:
        raise ValueError(f"{word!r} is not a whole word of {sentence!r}; fix SENTENCES.")
    i = [w.strip(".,") for w in words].index(word)
    before, rest = " ".join(words[:i]), " ".join(words[i:])[len(word) :]
    pieces = [tokenizer.encode(part) for part in (before, word, rest)]
    ids = np.concatenate(pieces)
    if not np.array_equal(ids, tokenizer.encode(sentence)):
        raise ValueError(f"{word!r} in {sentence!r} is not tokenized on its own; fix SENTENCES.")
    return ids, len(pieces[0]), len(pieces[1])


def occurrence_vectors(model, params, tokenizer, word: str, senses) -> dict[str, np.ndarray]:
    """Final-layer vectors [n, D] of `word` in each sentence (mean over its pieces), the sense of
    each [n], and the static vector [D] (mean of the pieces' input embeddings)."""
    spans, labels = [], []
    for sense, sentences in senses:
        for sentence in sentences:
            spans.append(word_span(tokenizer, sentence, word))
            labels.append(sense)
    length = 1 + max(len(ids) for ids, _, _ in spans)
    tokens = np.full((len(spans), length), PAD, np.int32)
    for row, (ids, _, _) in enumerate(spans):
        tokens[row, : 1 + len(ids)] = np.concatenate([[CLS], ids])
    hidden = model.apply(
        {"params": params}, jnp.asarray(tokens), attention_mask=jnp.asarray(tokens != PAD)
    )["hidden"]
    hidden = np.asarray(hidden)
    vectors = np.stack(
        [hidden[row, 1 + start : 1 + start + n].mean(0) for row, (_, start, n) in enumerate(spans)]
    )
    ids, start, n = spans[0]
    static = np.asarray(params["embed"]["embedding"])[ids[start : start + n]].mean(0)
    return {"vectors": vectors, "senses": np.asarray(labels), "static": static, "pieces": n}


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities. Shapes: a [n, D], b [m, D] -> [n, m]."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a @ b.T


def similarity_stats(vectors: np.ndarray, senses: np.ndarray, static: np.ndarray) -> dict:
    """Mean cosine over pairs of distinct occurrences in the same sense and in different senses,
    and mean cosine of each occurrence with the static vector."""
    sims = cosine_matrix(vectors, vectors)
    same = senses[:, None] == senses[None, :]
    off_diagonal = ~np.eye(len(senses), dtype=bool)
    return {
        "same_sense": float(sims[same & off_diagonal].mean()),
        "cross_sense": float(sims[~same].mean()),
        "to_static": float(cosine_matrix(vectors, static[None])[:, 0].mean()),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| word | pieces | static (any pair) | same sense | different senses | untrained: same "
        "| untrained: different | contextual vs static |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['word']} ({' / '.join(r['senses'])}) | {r['pieces']} | 1.000 | "
            f"{r['trained']['same_sense']:.3f} | {r['trained']['cross_sense']:.3f} | "
            f"{r['untrained']['same_sense']:.3f} | {r['untrained']['cross_sense']:.3f} | "
            f"{r['trained']['to_static']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: pathlib.Path) -> None:
    words = [r["word"] for r in rows]
    x = np.arange(len(words))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(x - 0.2, [r["trained"]["same_sense"] for r in rows], 0.4, label="same sense")
    ax.bar(x + 0.2, [r["trained"]["cross_sense"] for r in rows], 0.4, label="different senses")
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="static embedding")
    ax.set_xticks(x, words)
    ax.set(ylabel="mean cosine similarity", title="One word in different contexts (tiny BERT)")
    ax.set_ylim(0, 1.25)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    words = [w.strip() for w in config.words.split(",") if w.strip()]
    unknown = sorted(set(words) - set(SENTENCES))
    if unknown or not words:
        raise ValueError(
            f"--config.words names {unknown or 'no words'}; choose from {sorted(SENTENCES)}."
        )
    home = pathlib.Path(config.mlm_workdir) if config.mlm_workdir else workdir
    task, tokenizer = pretrain_task(config.mlm, home, flag_prefix="mlm")
    pre = stages.run("pretrain", config.mlm, home, task)
    trained = jax.device_get(pre.params)
    untrained = jax.jit(lambda r: task.model.init({"params": r}, *task.init_inputs))(
        jax.random.key(config.mlm.seed + 1)
    )["params"]
    untrained = jax.device_get(nn.unbox(untrained))
    rows = []
    for word in words:
        senses = SENTENCES[word]
        row = {"word": word, "senses": [name for name, _ in senses]}
        for name, params in (("trained", trained), ("untrained", untrained)):
            found = occurrence_vectors(task.model, params, tokenizer, word, senses)
            row[name] = similarity_stats(found["vectors"], found["senses"], found["static"])
            row["pieces"] = found["pieces"]
        rows.append(row)
    results = {"pretrain_steps": pre.step, "words": rows}
    if write_results(workdir, results, markdown(rows), title="Contextual vs static"):
        plot(rows, workdir / "bert_contextual.png")
    return results


if __name__ == "__main__":
    entry.run(main)

"""Which text representation classifies best: bag-of-words, binary, TF-IDF variants, one classifier.

  python -m experiments.text_classification --config=experiments/configs/text/classification.py \
      --workdir=runs/text_classification

Data: the standard library's docstrings (`research.data.stdlib_docstrings`) labelled by top-level
package; the classes are the `model.num_classes` packages with the most training documents (ties by
name), each needing at least `data.min_train_docs`; documents of other packages are dropped.

For every representation in `features.representations` (`REPRESENTATIONS`, vectorizers from
`research.text.vectorizers`, scikit-learn's API and output): a vectorizer fit on the training texts
(vocabulary capped at `features.max_features` terms, `min_df`) transforms every split; the same linear classifier (`mlp_classifier` with `num_layers=0`: logits = x W + b) trains on
the dense rows as the stage `<workdir>/<name>/` (`experiments.stages.run`, which also resumes or
restores it); validation is the loop's evaluation set. Test accuracy and macro-F1 are computed
from the final parameters.

Why TF-IDF beats raw counts, in the run's own numbers: the share of a document vector's weight
(sum of |x| over the 20 most frequent training words / sum of |x|, mean over test documents) under
each representation, and each class's top terms (highest mean weight over its training documents)
under counts and under TF-IDF, with how many of those are among the 20 most frequent words.

Averaged static embeddings (`EMBEDDINGS`: word2vec_mean, fasttext_mean, glove_mean): our word2vec,
FastText or GloVe trained on the training split's docstrings (all packages; no validation or test
text) with the `config.embeddings.<method>` section for `config.embeddings.epochs` (the sections
of experiments/configs/embeddings/compare.py; `research.tasks.word_vectors.prepare`), as the stage
`<workdir>/<name>_vectors/`, or `<features.embeddings_dir>/stdlib_docstrings_<method>/`: the runs
of a finished comparison, restored at their last step instead of trained again (the settings must
be the comparison's), and a document's features are the mean of its words' vectors
(lowercased regex words; words without a vector skipped, FastText answers every word from its
n-grams; a document with none is all zeros). Its features are dimensions, not terms, so the
term-based columns (common-word share, top terms) are left empty for these rows.

Writes results.json (one row per representation in 'rows': add a representation by adding an
entry to `REPRESENTATIONS`), results.md (tables, also logged) and text_classification.png.
"""

import pathlib

import jax
import numpy as np
import scipy.sparse
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research import models
from research.data import stdlib_docstrings
from research.embeddings.word_vectors import WordVectors
from research.tasks import word_vectors
from research.tasks.arrays import array_task
from research.tasks.label_selection import select_classes
from research.text.regex_tokenizer import RegexTokenizer
from research.text.vectorizers import CountVectorizer, TfidfVectorizer
from research.train.losses import classification_loss
from research.train.task import Task

# name -> (vectorizer class, its options). Any class with fit_transform / transform from texts to a
# [N, V] matrix (scipy sparse or dense) and vocabulary_ fits here, dense embeddings included.
REPRESENTATIONS = {
    "counts": (CountVectorizer, {}),
    "binary": (CountVectorizer, {"binary": True}),
    "tfidf": (TfidfVectorizer, {}),
    "tfidf_sublinear": (TfidfVectorizer, {"sublinear_tf": True}),
    "tf_l2": (TfidfVectorizer, {"use_idf": False}),
}
# name -> the embedding method (a section of config.embeddings) whose mean word vector is the row.
EMBEDDINGS = {"word2vec_mean": "word2vec", "fasttext_mean": "fasttext", "glove_mean": "glove"}
NUM_COMMON_WORDS = 20
NUM_TOP_TERMS = 5
SPLITS = ("train", "validation", "test")


def macro_f1(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Unweighted mean over classes of F1 = 2 TP / (2 TP + FP + FN), as scikit-learn's
    f1_score(average='macro'): the classes are those in `labels` or `predictions`. Shapes: int [N]."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    scores = []
    for c in np.union1d(labels, predictions):
        tp = np.sum((predictions == c) & (labels == c))
        wrong = np.sum((predictions == c) != (labels == c))  # FP + FN
        scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores))


def weight_share(features, columns: np.ndarray) -> float:
    """Mean over rows with any weight of sum(|x[:, columns]|) / sum(|x|). features: [N, V]."""
    absolute = abs(scipy.sparse.csr_matrix(features))
    total = np.asarray(absolute.sum(axis=1)).ravel()
    part = np.asarray(absolute[:, columns].sum(axis=1)).ravel()
    keep = total > 0
    return float(np.mean(part[keep] / total[keep]))


def class_top_terms(features, labels, vocabulary: np.ndarray, num_classes: int, k: int):
    """Per class, the k terms of highest mean weight over its rows. features: [N, V] -> [C][k]."""
    features = scipy.sparse.csr_matrix(features)
    tops = []
    for c in range(num_classes):
        mean = np.asarray(features[np.asarray(labels) == c].mean(axis=0)).ravel()
        tops.append([str(t) for t in vocabulary[np.argsort(-mean, kind="stable")[:k]]])
    return tops


def load_data(config) -> tuple[list[str], dict[str, tuple[list[str], np.ndarray]]]:
    """(class names, {split: (texts, int labels)}) restricted to the chosen classes."""
    raw = {s: stdlib_docstrings.load_examples(s, config.data.data_dir) for s in SPLITS}
    classes = select_classes(
        raw["train"][1],
        config.model.num_classes,
        config.data.min_train_docs,
        keys=("model.num_classes", "data.min_train_docs"),
    )
    index = {name: i for i, name in enumerate(classes)}
    data = {}
    for split, (texts, packages) in raw.items():
        kept = [i for i, p in enumerate(packages) if p in index]
        data[split] = ([texts[i] for i in kept], np.array([index[packages[i]] for i in kept]))
    return classes, data


def vectorize(name: str, config, data):
    """(fitted vectorizer, {split: [N, V] as the vectorizer returns it}) of representation `name`."""
    if name not in REPRESENTATIONS:
        raise ValueError(
            f"Unknown representation {name!r} in --config.features.representations; choose from "
            f"{', '.join(REPRESENTATIONS)}."
        )
    cls, options = REPRESENTATIONS[name]
    vectorizer = cls(
        max_features=config.features.max_features,
        min_df=config.features.min_df,
        dtype=np.float32,
        **options,
    )
    matrices = {"train": vectorizer.fit_transform(data["train"][0])}
    for split in SPLITS[1:]:
        matrices[split] = vectorizer.transform(data[split][0])
    return vectorizer, matrices


def mean_vectors(vectors: WordVectors, texts: list[str]) -> np.ndarray:
    """float32 [N, D]: each text's mean word vector (lowercased regex words without a vector are
    skipped; a text with none gets zeros)."""
    tokenizer = RegexTokenizer(lowercase=True)
    out = np.zeros((len(texts), vectors.dim), np.float32)
    for i, text in enumerate(texts):
        words = [w for w in tokenizer(text) if w in vectors or vectors.oov_vector is not None]
        if words:
            out[i] = np.mean([vectors.vector(w) for w in words], axis=0)
    return out


def embed(name: str, config, workdir, data) -> dict[str, np.ndarray]:
    """{split: float32 [N, D]} mean word vectors of representation `name` (see the module doc)."""
    method = EMBEDDINGS[name]
    if config.features.embeddings_dir:  # the comparison's finished run: restored, not retrained
        runs, stage = pathlib.Path(config.features.embeddings_dir), f"stdlib_docstrings_{method}"
    else:
        runs, stage = pathlib.Path(workdir), f"{name}_vectors"
    embeddings = config.embeddings
    epochs = embeddings.glove_epochs if method == "glove" else embeddings.epochs
    run = word_vectors.prepare(
        embeddings[method], runs / stage, corpus="stdlib_docstrings", epochs=epochs,
        batch_pairs=embeddings.fasttext_batch_pairs,
    )  # fmt: skip
    vectors = run.vectors(stages.run(stage, run.config, runs, run.task).params)
    return {split: mean_vectors(vectors, data[split][0]) for split in SPLITS}


def dense(matrix) -> np.ndarray:
    """float32 [N, V] from a scipy sparse or dense matrix (the classifier's batches are dense)."""
    return np.asarray(matrix.toarray() if scipy.sparse.issparse(matrix) else matrix, np.float32)


def build_task(config, features: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> Task:
    """The loop's task: the linear classifier on one representation's dense rows."""
    model = models.load(config.model_name).make(**config.model.to_dict())

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply({"params": params, **model_state}, batch["x"], train=train)
        loss, metrics = classification_loss(logits, batch["label"], batch.get("weights"))
        return loss, metrics, model_state

    split = config.data.eval_split
    return array_task(
        model,
        loss_fn,
        {"x": features["train"], "label": labels["train"]},
        {"x": features[split], "label": labels[split]},
        batch_size=config.data.batch_size,
        seed=config.seed,
        init_inputs=(np.zeros((1, features["train"].shape[1]), np.float32),),
    )


def common_words(texts: list[str], config, k: int = NUM_COMMON_WORDS) -> list[str]:
    """The k words with the highest total count over `texts` (ties by word), uncapped vocabulary."""
    vectorizer = CountVectorizer(min_df=config.features.min_df)
    totals = np.asarray(vectorizer.fit_transform(texts).sum(axis=0)).ravel()
    words = vectorizer.get_feature_names_out()
    return [str(words[i]) for i in np.lexsort((words, -totals))[:k]]


def evaluate(model, params, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of the classifier's argmax on [N, V] features and int [N] labels."""
    predictions = np.asarray(model.apply({"params": params}, features)).argmax(-1)
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "macro_f1": macro_f1(labels, predictions),
    }


def run_representation(name, config, workdir, data, common) -> tuple[dict, dict]:
    """Vectorizes, trains in workdir/name, scores; returns (table row, details for the report)."""
    if name in EMBEDDINGS:
        vectorizer, matrices = None, embed(name, config, workdir, data)
    else:
        vectorizer, matrices = vectorize(name, config, data)
    labels = {s: data[s][1] for s in SPLITS}
    features = {s: dense(m) for s, m in matrices.items()}
    task = build_task(config, features, labels)
    result = stages.run(name, config, workdir, task)
    params = jax.device_get(result.params)
    validation = evaluate(task.model, params, features["validation"], labels["validation"])
    test = evaluate(task.model, params, features["test"], labels["test"])
    row = {
        "representation": name,
        "features": int(features["train"].shape[1]),
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "validation_accuracy": validation["accuracy"],
        "common_word_share": None,
        "steps": result.step,
    }
    if vectorizer is None:  # dimensions, not terms: no term-based details
        return row, {}
    vocabulary = vectorizer.get_feature_names_out()
    columns = np.array(
        [vectorizer.vocabulary_[w] for w in common if w in vectorizer.vocabulary_], np.int64
    )
    row["common_word_share"] = weight_share(matrices["test"], columns)
    details = {
        "mean_weight_top_terms": class_top_terms(
            matrices["train"], labels["train"], vocabulary, config.model.num_classes, NUM_TOP_TERMS
        )
    }
    if "hidden_0" not in params:  # a linear classifier: its kernel [V, C] scores each term
        kernel = np.asarray(params["out"]["kernel"])
        order = np.argsort(-kernel, axis=0, kind="stable")[:NUM_TOP_TERMS]
        details["classifier_top_terms"] = [[str(vocabulary[i]) for i in col] for col in order.T]
    return row, details


def _share(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(results: dict) -> str:
    """results.md: the representation table, the common words, and top terms per class."""
    lines = [
        f"# Text classification: {len(results['classes'])} stdlib packages",
        "",
        "Documents (train / validation / test): "
        + " / ".join(str(results["documents"][s]) for s in SPLITS),
        "",
        "| representation | features | test accuracy | test macro-F1 | validation accuracy "
        "| common-word weight share |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['representation']} | {row['features']} | {row['test_accuracy']:.3f} "
            f"| {row['test_macro_f1']:.3f} | {row['validation_accuracy']:.3f} "
            f"| {_share(row['common_word_share'])} |"
        )
    accuracy = {row["representation"]: row["test_accuracy"] for row in results["rows"]}
    if {"counts", "tf_l2", "tfidf"} <= set(accuracy):
        lines += [
            "",
            "From counts to TF-IDF, test accuracy "
            f"{accuracy['counts']:.3f} -> {accuracy['tf_l2']:.3f} by l2 length normalization "
            f"(tf_l2) -> {accuracy['tfidf']:.3f} by idf (tfidf). Normalizing a row does not change "
            "its common-word share; idf lowers it.",
        ]
    common = set(results["common_words"])
    lines += [
        "",
        f"Common words (the {len(common)} most frequent in training): "
        + ", ".join(results["common_words"]),
    ]
    shown = [name for name in ("counts", "tfidf") if name in results["details"]]
    if shown:
        lines += [
            "",
            f"Top {NUM_TOP_TERMS} terms per class by mean weight over its training documents:",
            "",
            "| class | " + " | ".join(shown) + " |",
            "|---" * (len(shown) + 1) + "|",
        ]
        for c, name in enumerate(results["classes"]):
            cells = [", ".join(results["details"][r]["mean_weight_top_terms"][c]) for r in shown]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for r in shown:
            tops = results["details"][r]["mean_weight_top_terms"]
            hits = sum(term in common for top in tops for term in top)
            lines.append(
                f"\nUnder {r}, {hits} of the {sum(map(len, tops))} top terms are common words."
            )
    return "\n".join(lines) + "\n"


def plot(results: dict, path: pathlib.Path) -> None:
    """Bars: test accuracy and macro-F1 per representation; the common words' weight share."""
    rows = results["rows"]
    names = [row["representation"] for row in rows]
    x = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(x - 0.2, [r["test_accuracy"] for r in rows], 0.4, label="test accuracy")
    left.bar(x + 0.2, [r["test_macro_f1"] for r in rows], 0.4, label="test macro-F1")
    left.set_xticks(x, names, rotation=20)
    left.set_ylim(0, 1.15)
    left.legend(loc="upper center", ncol=2)
    left.set_title(f"Linear classifier, {len(results['classes'])} stdlib packages")
    shares = [r["common_word_share"] for r in rows]
    right.bar(x, [np.nan if v is None else v for v in shares], 0.6, color="tab:gray")
    right.set_xticks(x, names, rotation=20)
    right.set_title(f"Weight share of the {len(results['common_words'])} most common words")
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    names = [n.strip() for n in config.features.representations.split(",") if n.strip()]
    known = [*REPRESENTATIONS, *EMBEDDINGS]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"--config.features.representations={config.features.representations!r} names "
            f"{unknown or 'nothing'}; give a comma-separated list from {', '.join(known)}."
        )
    classes, data = load_data(config)
    common = common_words(data["train"][0], config)
    results = {
        "classes": classes,
        "documents": {s: len(data[s][0]) for s in SPLITS},
        "train_documents_per_class": np.bincount(data["train"][1]).tolist(),
        "common_words": common,
        "rows": [],
        "details": {},
    }
    for name in names:
        row, details = run_representation(name, config, workdir, data, common)
        results["rows"].append(row)
        results["details"][name] = details
        logging.info("%s", row)
    if write_results(workdir, results, markdown(results)):
        plot(results, workdir / "text_classification.png")
    return results


if __name__ == "__main__":
    entry.run(main)

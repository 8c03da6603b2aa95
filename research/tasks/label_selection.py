"""Which labels a classification task keeps: the most frequent ones with enough training examples."""


def select_classes(
    labels: list[str],
    num_classes: int,
    min_docs: int,
    *,
    keys: tuple[str, str] = ("num_classes", "min_train_docs"),
) -> list[str]:
    """The `num_classes` most frequent labels (ties by name), each with >= `min_docs` examples.

    keys: the config keys that set `num_classes` and `min_docs`, named in the error (for example
    ('model.num_classes', 'data.min_train_docs')), so the user is told which flags to change.
    """
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    ranked = sorted(counts, key=lambda label: (-counts[label], label))
    chosen = [label for label in ranked[:num_classes] if counts[label] >= min_docs]
    if len(chosen) < num_classes:
        raise ValueError(
            f"Only {len(chosen)} labels have >= {min_docs} training documents among the "
            f"{num_classes} most frequent; lower --config.{keys[0]} or --config.{keys[1]}."
        )
    return chosen

"""Vocabulary size: what a bigger subword vocabulary buys and costs, measured on real text.

  python -m experiments.vocab_size --config=experiments/configs/text/vocab_size.py \
      --workdir=runs/vocab_size

Part 1, tokenizers. For every kind in `kinds` (SentencePiece BPE and unigram, byte-level BPE) and
every size in `vocab_sizes`, a tokenizer is trained on the corpus's train split
(`research.text.tokenizers`) and measured on its held-out split, next to the byte tokenizer:
  tokens_per_word   tokens / whitespace-separated words of the held-out text (the "fertility")
  bytes_per_token   UTF-8 bytes / tokens (compression)
  mean_doc_tokens   mean sequence length of a held-out document, in tokens (no end token)
  fallback_rate     fraction of held-out tokens that are byte fallback or <unk> (`fallback_mask`:
                    SentencePiece's <0xNN> pieces; byte-level BPE's lone bytes >= 0x80, a character
                    not kept whole; 0 for bytes, which have no vocabulary to fall out of)
  embedding_params  vocab x d_model (the table, padded as the model pads it; tied to the output
                    layer) and its share of GPT-tiny's parameters
  train_seconds     time to train the tokenizer
Part 2, the language model at equal compute. For each entry of `lm_runs` ('bytes' or
'<kind>:<vocab size>'), GPT-tiny (the config's `lm` section, `research.tasks.lm`) trains as one
stage (`experiments.stages`) for `lm.num_train_steps` steps of `lm.data.batch_size` sequences of
`lm.data.seq_len` tokens on the main job's corpus, and reports the validation loss in nats per byte.
"Equal compute" here is equal token positions: every run processes steps x batch x seq_len tokens
with the same transformer body (same FLOPs per token except the output layer, whose FLOPs grow with
the vocabulary: FLOPs per token are reported); a bigger vocabulary therefore reads more text (bytes)
in the same compute, which is the point of subwords. The comparison in nats per byte is fair
across tokenizers (same text, same unit). Each LM run's workdir is <workdir>/lm_<name> (re-running
resumes it; a preempted run stops the experiment). Writes results.json, results.md, vocab_tokenizers.png and vocab_lm.png.
"""

import pathlib
import time

import jax
import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.data import pydoc_topics, stdlib_docstrings
from research.models import transformer_lm
from research.tasks.lm import build_task
from research.text import tokenizers
from research.text.byte_tokenizer import ByteTokenizer

CORPORA = {
    "pydoc_topics": pydoc_topics.load_texts,
    "stdlib_docstrings": stdlib_docstrings.load_texts,
}


def words(texts) -> int:
    return sum(len(text.split()) for text in texts)


def tokenizer_stats(tokenizer, texts, embed_dim: int) -> dict:
    """The held-out measurements of one tokenizer on `texts` (see the module docstring)."""
    lengths, fallback = [], 0
    mask = None if isinstance(tokenizer, ByteTokenizer) else tokenizer.fallback_mask()
    for text in texts:
        ids = tokenizer.encode(text)
        lengths.append(len(ids))
        if mask is not None:
            fallback += int(mask[ids].sum())
    num_tokens = sum(lengths)
    model = transformer_lm.make("tiny", vocab_size=tokenizer.vocab_size).config
    embedding = model.padded_vocab_size * embed_dim
    return {
        "vocab_size": tokenizer.vocab_size,
        "tokens_per_word": num_tokens / words(texts),
        "bytes_per_token": sum(len(t.encode()) for t in texts) / num_tokens,
        "mean_doc_tokens": float(np.mean(lengths)),
        "fallback_rate": fallback / num_tokens,
        "embedding_params": embedding,
        "embedding_share": embedding / transformer_lm.num_params(model),
    }


def sweep_tokenizers(config, train_texts, heldout_texts) -> list[dict]:
    rows = []
    start = time.perf_counter()
    byte_row = tokenizer_stats(tokenizers.train("bytes", [], 0, 0), heldout_texts, config.embed_dim)
    rows.append({"kind": "bytes", "requested": 257, **byte_row, "train_seconds": 0.0})
    logging.info("bytes: %s (%.1f s)", byte_row, time.perf_counter() - start)
    for kind in config.kinds.split(","):
        for size in (int(s) for s in config.vocab_sizes.split(",")):
            start = time.perf_counter()
            tok = tokenizers.train(kind, train_texts, size, config.lm.tokenizer.num_sentinels)
            seconds = time.perf_counter() - start
            row = {"kind": kind, "requested": size, **tokenizer_stats(tok, heldout_texts,
                                                                        config.embed_dim)}  # fmt: skip
            rows.append({**row, "train_seconds": seconds})
            logging.info("%s %d: %s (trained in %.1f s)", kind, size, row, seconds)
    return rows


def lm_config(config, run: str):
    """The `lm` section with the run's tokenizer ('bytes' or '<kind>:<vocab size>')."""
    lm = config.lm.copy_and_resolve_references()
    if run != "bytes":
        kind, size = run.split(":")
        lm.tokenizer.kind, lm.tokenizer.vocab_size = kind, int(size)
        lm.model.vocab_size = int(size)
    return lm


def train_lms(config, workdir: pathlib.Path) -> list[dict]:
    rows = []
    for run in config.lm_runs.split(","):
        lm = lm_config(config, run)
        name = f"lm_{run.replace(':', '_')}"
        start = time.perf_counter()
        task = build_task(lm, workdir / name)
        devices = jax.devices()[: config.lm_num_devices or None]
        metrics = stages.run(name, lm, workdir, task, devices=devices).metrics
        seconds = time.perf_counter() - start
        tokens = lm.num_train_steps * lm.data.batch_size * lm.data.seq_len
        model = transformer_lm.make(**lm.model.to_dict()).config
        bytes_per_token = metrics["eval/loss"] / metrics["eval/nats_per_byte"]  # eval text
        rows.append({
            "run": run,
            "vocab_size": lm.model.vocab_size,
            "steps": lm.num_train_steps,
            "train_tokens": tokens,
            "train_bytes_approx": tokens * bytes_per_token,
            "flops_per_token": transformer_lm.flops_per_token(model, lm.data.seq_len),
            "eval_loss_per_token": metrics["eval/loss"],
            "eval_nats_per_byte": metrics["eval/nats_per_byte"],
            "ngram_nats_per_byte": metrics["eval/ngram_nats_per_byte"],
            "seconds": seconds,
        })  # fmt: skip
        logging.info("LM %s: %s", run, rows[-1])
    return rows


def _vocab(row) -> str:
    """The learned vocabulary size, and the asked one when the corpus could not fill it."""
    if row["vocab_size"] == row["requested"] or row["kind"] == "bytes":
        return str(row["vocab_size"])
    return f"{row['vocab_size']} (asked {row['requested']})"


def table(rows, lm_rows) -> str:
    lines = [
        "| tokenizer | vocab | tokens/word | bytes/token | mean doc tokens | fallback rate "
        "| embedding params (share) | train s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {_vocab(r)} | {r['tokens_per_word']:.2f} | "
            f"{r['bytes_per_token']:.2f} | {r['mean_doc_tokens']:.0f} | {r['fallback_rate']:.4f} | "
            f"{r['embedding_params']:,} ({r['embedding_share']:.0%}) | {r['train_seconds']:.1f} |"
        )
    lines += [
        "",
        "| LM run | vocab | steps | tokens seen | ~bytes seen | MFLOP/token | val nats/token "
        "| val nats/byte | n-gram nats/byte | time s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lm_rows:
        lines.append(
            f"| {r['run']} | {r['vocab_size']} | {r['steps']} | {r['train_tokens']:,} | "
            f"{r['train_bytes_approx']:,.0f} | {r['flops_per_token'] / 1e6:.1f} | "
            f"{r['eval_loss_per_token']:.3f} | {r['eval_nats_per_byte']:.3f} | "
            f"{r['ngram_nats_per_byte']:.3f} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot_tokenizers(rows, path):
    fields = [
        ("tokens_per_word", "tokens per word"),
        ("mean_doc_tokens", "mean document length (tokens)"),
        ("fallback_rate", "byte-fallback rate"),
        ("embedding_params", "embedding parameters (V x d)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    byte_row = next(r for r in rows if r["kind"] == "bytes")
    for ax, (key, label) in zip(axes.flat, fields, strict=True):
        for kind in dict.fromkeys(r["kind"] for r in rows if r["kind"] != "bytes"):
            sel = [r for r in rows if r["kind"] == kind]
            ax.plot([r["vocab_size"] for r in sel], [r[key] for r in sel], "o-", label=kind)
        ax.plot([byte_row["vocab_size"]], [byte_row[key]], "ks", label="bytes")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("vocabulary size")
        ax.set_title(label)
        if key in ("embedding_params",):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    fig.tight_layout()
    save(fig, path)


def plot_lm(lm_rows, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    names = [r["run"].replace(":", "\n") for r in lm_rows]
    ax.bar(names, [r["eval_nats_per_byte"] for r in lm_rows], color="tab:blue", label="GPT-tiny")
    ax.plot(names, [r["ngram_nats_per_byte"] for r in lm_rows], "rs", label="best n-gram")
    ax.set_ylabel("validation nats per byte")
    steps = lm_rows[0]["steps"] if lm_rows else 0
    ax.set_title(f"Equal compute: {steps} steps, same tokens per step")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if config.data.name not in CORPORA:
        raise ValueError(
            f"data.name={config.data.name!r} is not an offline corpus here; use one of "
            f"{sorted(CORPORA)}."
        )
    load = CORPORA[config.data.name]
    start = time.perf_counter()
    train_texts = load(config.data.train_split, config.data.data_dir)
    heldout_texts = load(config.data.heldout_split, config.data.data_dir)
    logging.info(
        "Corpus %s: %d train documents (%.2f MB), %d held-out (%.2f MB), loaded in %.1f s.",
        config.data.name, len(train_texts), sum(len(t.encode()) for t in train_texts) / 1e6,
        len(heldout_texts), sum(len(t.encode()) for t in heldout_texts) / 1e6,
        time.perf_counter() - start,
    )  # fmt: skip
    rows = sweep_tokenizers(config, train_texts, heldout_texts)
    lm_rows = train_lms(config, workdir)
    results = {
        "corpus": config.data.name,
        "heldout_split": config.data.heldout_split,
        "heldout_words": words(heldout_texts),
        "heldout_bytes": sum(len(t.encode()) for t in heldout_texts),
        "embed_dim": config.embed_dim,
        "tokenizers": rows,
        "lm": lm_rows,
        "devices": str(jax.devices()[0].platform),
    }
    if write_results(workdir, results, table(rows, lm_rows)):
        plot_tokenizers(rows, workdir / "vocab_tokenizers.png")
        plot_lm(lm_rows, workdir / "vocab_lm.png")
    return results


if __name__ == "__main__":
    entry.run(main)

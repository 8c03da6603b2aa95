"""Train a language model on a text dataset: the project's main job.

  python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py --workdir=runs/gpt_tiny

Re-running the same command resumes from the newest checkpoint in the workdir. Every knob is a
`--config.<key>=<value>` flag; see the config file's docstring.

The task (`research.tasks.lm.build_task`): a model chosen by `config.model_name`, a next-token
cross-entropy loss and tokenized batches; it reports the best n-gram model of the same split next
to the validation loss (and `eval/nats_per_byte`, the unit that compares tokenizers), and prints a
sample at the end.

Tokens: bytes by default; `--config.tokenizer.kind=sentencepiece_bpe|sentencepiece_unigram|byte_bpe|
wordpiece` with `--config.tokenizer.vocab_size=N --config.model.vocab_size=N` trains that tokenizer
on the train split on the first run and saves it in <workdir>/tokenizer; a resumed run reloads it
(never retrains), and a workdir whose tokenizer differs from the config is refused.
"""

from experiments import entry
from research.tasks.lm import build_task
from research.train import loop


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config, workdir))


if __name__ == "__main__":
    entry.run(main)

"""The tiny trained language-model workdir the serving tests share (`served_model.from_workdir`,
`python -m experiments.serve`): made once per test process by the main job's own training loop.

What `python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py:smoke` runs
(`experiments.train_lm.main`), made smaller still: 2 steps of a 1-layer, width-32 GPT with a
checkpoint after each, and a byte-level BPE tokenizer of 320 ids trained and saved in the workdir
(so a server must load the workdir's tokenizer, not assume bytes). Trained in this process, on its
8 fake CPU devices: the checkpoint is sharded, and a server on one device must still read it.
Measured: ~14 s on the 2-core CPU, mostly compilation.
"""

import functools
import pathlib

from experiments.configs.lm import gpt_tiny
from research.tasks.lm import build_task
from research.train import loop
from tests.config_overrides import with_overrides

STEPS = 2
VOCAB_SIZE = 320


@functools.cache
def trained_workdir(root: pathlib.Path) -> pathlib.Path:
    """`root`/lm_workdir after training (once per process and root): checkpoints/1 and /2."""
    workdir = root / "lm_workdir"
    config = gpt_tiny.get_config("smoke")
    config.data.data_dir = None
    with_overrides(
        config,
        num_train_steps=STEPS,
        log_every_steps=1,
        eval_every_steps=STEPS,
        checkpoint_every_steps=1,  # two checkpoints: a server must pick the newest
        **{"optimizer.warmup_steps": 1, "sample.num_tokens": 1},
        **{"model.num_layers": 1, "model.embed_dim": 32, "model.num_heads": 2},
        **{"model.mlp_dim": 64, "model.vocab_size": VOCAB_SIZE},
        **{"tokenizer.kind": "byte_bpe", "tokenizer.vocab_size": VOCAB_SIZE},
    )
    loop.train(config, workdir, build_task(config, workdir))
    return workdir

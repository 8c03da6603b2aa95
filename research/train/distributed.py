"""Multi-host start: JAX's own runtime, switched on by the launch scripts.

`RESEARCH_DISTRIBUTED=1` makes entry scripts call `jax.distributed.initialize()`, which finds the
coordinator by itself on Cloud TPU VMs and under SLURM; elsewhere set `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES` and `JAX_PROCESS_ID` as documented by JAX.
"""

import os

import jax

ENV_VAR = "RESEARCH_DISTRIBUTED"


def maybe_initialize() -> bool:
    """Initializes the multi-host runtime when `RESEARCH_DISTRIBUTED` is set to 1 / true."""
    if os.environ.get(ENV_VAR, "").lower() not in ("1", "true", "yes"):
        return False
    jax.distributed.initialize()
    return True

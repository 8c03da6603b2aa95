"""Multi-host start: JAX's own runtime, switched on by the launch scripts.

`RESEARCH_DISTRIBUTED=1` makes entry scripts call `jax.distributed.initialize()`. On Cloud TPU VMs
and under SLURM it finds the coordinator and the process layout by itself. Elsewhere set
`JAX_COORDINATOR_ADDRESS` (host:port of process 0), `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`; the
last two are passed on explicitly because `initialize()` itself reads only the address.

On CPU (several processes on one machine, as the tests run it), cross-process collectives go through
gloo over TCP: that is already jax's default for `jax_cpu_collectives_implementation` (checked in
0.10.2), so nothing is switched on here.
"""

import os

import jax

ENV_VAR = "RESEARCH_DISTRIBUTED"


def maybe_initialize() -> bool:
    """Initializes the multi-host runtime when `RESEARCH_DISTRIBUTED` is set to 1 / true."""
    if os.environ.get(ENV_VAR, "").lower() not in ("1", "true", "yes"):
        return False
    kwargs = {}
    if "JAX_NUM_PROCESSES" in os.environ:
        kwargs["num_processes"] = int(os.environ["JAX_NUM_PROCESSES"])
    if "JAX_PROCESS_ID" in os.environ:
        kwargs["process_id"] = int(os.environ["JAX_PROCESS_ID"])
    jax.distributed.initialize(**kwargs)
    return True

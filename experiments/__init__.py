"""Entry scripts, their configs and benchmarks.

Started as `python -m experiments.<script>`, this package first restarts the interpreter with
glibc's transparent-huge-page tunable set, before the script imports anything: the CPU backend's
per-call temporaries then stop faulting in 4 KB pages one by one (the main job's step: ~780 ->
~670 ms on a 2-core CPU). See `research.train.host_memory`; setting `GLIBC_TUNABLES` yourself (to
anything, or to nothing) turns it off.
"""

from research.train import host_memory

host_memory.relaunch_with_huge_pages()

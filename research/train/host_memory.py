"""Huge pages for the CPU backend's per-call temporaries (glibc's `glibc.malloc.hugetlb` tunable).

Each call of a compiled program on the CPU allocates all of its temporaries as one block: 578 MB
for the main job's training step (`tiny`, 32 x 128 tokens), from one of XLA's worker threads.
glibc's malloc serves a block that large with a fresh `mmap` (a worker thread's arena grows in heaps
of at most 64 MB, so `MALLOC_MMAP_THRESHOLD_` cannot prevent it) and unmaps it when the call ends,
so the kernel zero-fills every 4 KB page each call touches: 142,000 page faults and ~240 ms of
system time in a ~780 ms step on a 2-core CPU (`getrusage`; `strace -k` shows the `mmap` under
`CpuDeviceMemory::AllocateInto`). PyTorch's eager ops allocate op-sized buffers that malloc
recycles, and fault almost nothing.

With `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (glibc >= 2.35) malloc asks for transparent huge pages
on the blocks it maps (`madvise(MADV_HUGEPAGE)`): ~600 faults a step, and the step takes ~670 ms
instead of ~780 on the same machine (PyTorch's step unchanged); resident memory stays as it was
(peak 1.35 GB over 60 steps either way). Keeping freed blocks in the heap instead (one arena, no
`mmap`, no trimming: `glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:...`) also removes the
zero-filling and was ~20 ms a step faster still, but fragmented the heap: peak 2.9 GB over 60 steps
and 4.0 GB over 120, against 1.35 GB, so it was not kept.

glibc reads its tunables when the process starts, so `relaunch_with_huge_pages()` restarts the
interpreter with the same command line and the tunable set (`os.execve`: same process id, nothing
has run yet). `experiments/__init__.py` calls it, which Python runs before an entry script's own
imports when it is started as `python -m experiments.<script>`; it does nothing otherwise (imported
from tests or a notebook), where malloc is not glibc >= 2.35, where transparent huge pages are
off, or when `GLIBC_TUNABLES` is already set (any value, `GLIBC_TUNABLES=` included: the user's
settings win).
"""

import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
_THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def _glibc_with_hugetlb_tunable() -> bool:
    if platform.system() != "Linux":
        return False
    library, version = platform.libc_ver()
    if library != "glibc":
        return False
    try:
        return tuple(int(part) for part in version.split(".")[:2]) >= (2, 35)
    except ValueError:  # an unparsable version string: assume an old glibc
        return False


def _transparent_huge_pages_allowed(setting_path: str = _THP_SETTING) -> bool:
    """True unless the kernel's setting reads '... [never]' (or cannot be read)."""
    try:
        with open(setting_path) as f:
            setting = f.read()
    except OSError:
        return False
    return "[always]" in setting or "[madvise]" in setting


def relaunch_command(argv, orig_argv, environ) -> tuple[list[str], dict[str, str]] | None:
    """The (arguments, environment) to restart this interpreter with, or None to carry on.

    Only a `python -m package.module` start is restarted: while Python imports the package, argv
    is ['-m', ...] and orig_argv the whole command line (interpreter options included).
    """
    if not argv or argv[0] != "-m" or "GLIBC_TUNABLES" in environ or not sys.executable:
        return None
    if not _glibc_with_hugetlb_tunable() or not _transparent_huge_pages_allowed():
        return None
    return [sys.executable, *orig_argv[1:]], {**environ, "GLIBC_TUNABLES": TUNABLE}


def relaunch_with_huge_pages() -> None:
    """Restarts a `python -m` start with `GLIBC_TUNABLES` set (see the module doc); else returns."""
    command = relaunch_command(sys.argv, sys.orig_argv, dict(os.environ))
    if command is None:
        return
    arguments, environment = command
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, arguments, environment)


def huge_pages_active(environ=None) -> bool:
    """Whether this process started with the tunable (for benchmark headers)."""
    environ = os.environ if environ is None else environ
    return TUNABLE in environ.get("GLIBC_TUNABLES", "").split(":")

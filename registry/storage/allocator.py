"""Keep the C allocator from handing streaming buffers back to the kernel after each use.

paramiko buffers a channel's data in an ``array`` that grows and shrinks by megabytes
with every read, and hands it out as fresh multi-megabyte ``bytes``. glibc serves
blocks that big with ``mmap`` (or trims them off the heap when freed), so each one is
returned to the kernel and faulted back in, page by zeroed page, on the next read:
a 1 GiB download took ~130,000 page faults and 5.6 s in a warm process; with the
thresholds below, 18,000 and 4.7-5.1 s (measured, docs/benchmarks.md). Freed memory
is then reused instead of returned. The process keeps up to TRIM_THRESHOLD of free heap
it once used (a web worker that served a download keeps its buffers for the next);
peak memory still follows the largest live buffers, not the size of a transfer (a
1 GiB fetch peaked at 97 MiB).
"""

from __future__ import annotations

import ctypes
import functools
import platform

# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks below this come from the heap: comfortably above the channel windows and read
# sizes (4 MiB), and the largest value glibc's own adaptive threshold may reach.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Free space at the top of the heap is only returned to the kernel beyond this.
TRIM_THRESHOLD = 64 * 1024 * 1024


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, once; True if applied.

    A no-op (False) where the C library is not glibc: other allocators have their own
    policies, and nothing here is needed for correctness.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        # The C library's symbols are already in this process: no library search.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )

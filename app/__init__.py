"""The edge: web app, GraphQL, CLI and the one composition root."""
import os

# On 2 cores, BLAS threads and the embedding runtime's threads fight (a query embedding went
# from ~5 ms to ~74 ms when they alternated). Pin them before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own arena (up to 8 x cores); the embedder,
    SQLite and index threads would each keep a fragmented copy of their peak. Two suffice.
    A fixed mmap threshold keeps the embedder's large activation buffers out of the heap, so
    they go back to the OS when freed instead of holding RSS at the largest batch's peak."""
    import ctypes
    import sys

    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (fixing it also stops glibc raising it)
        libc.mallopt(-1, 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        pass


def release_free_memory() -> None:
    """Give freed heap pages back to the OS (after start-up's index rebuild, for example)."""
    import ctypes
    import sys

    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_limit_malloc_arenas()

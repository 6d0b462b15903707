"""The pipe to a model process (memory/providers/model_process.py and model_pipe.py), with small
child programs that serve through the same `serve` loop as the real one (the real model's child
is covered in test_local_embedder.py)."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import numpy as np
import pytest

from memory.errors import ProviderError
from memory.providers import model_pipe
from memory.providers.model_process import ModelProcess

DIM = 4
CHILD = """
import os, sys
import numpy as np
from memory.providers import model_pipe

replies = model_pipe.claim_stdout()
if sys.argv[1] == "refuse":
    model_pipe.refuse(replies, "no model in this child")
    sys.exit(1)

def encode(texts):
    print("a library's notice on stdout")  # must not end up among the frames
    if "boom" in texts:
        raise RuntimeError("the pass broke on boom")
    if "die" in texts:
        os._exit(3)
    return np.array([[len(t), i, os.getpid(), 0] for i, t in enumerate(texts)], dtype=np.float32)

assert "asyncio" not in sys.modules  # the child's end carries no event loop
model_pipe.serve(encode, {"pid": os.getpid()}, replies)
"""


def child(mode: str = "serve") -> ModelProcess:
    return ModelProcess(["-c", CHILD, mode], DIM, "test-model")


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_passes_are_answered_by_a_child_in_order_whatever_it_prints() -> None:
    proc = child()
    try:
        rows = await asyncio.gather(*(proc.forward([t, t + "!"]) for t in ("a", "bb", "ccc")))
        pid = proc.pid
    finally:
        await proc.aclose()
    assert pid is not None and pid != os.getpid() and proc.loaded == {"pid": pid}
    for text, got in zip(("a", "bb", "ccc"), rows):
        assert got.dtype == np.float32 and got.shape == (2, DIM)
        assert got[:, 0].tolist() == [len(text), len(text) + 1] and got[:, 2].tolist() == [pid, pid]


async def test_a_failing_pass_fails_its_caller_only_and_the_child_serves_on() -> None:
    proc = child()
    try:
        good, bad, after = await asyncio.gather(proc.forward(["x"]), proc.forward(["boom"]), proc.forward(["yy"]),
                                                return_exceptions=True)
        pid = proc.pid
    finally:
        await proc.aclose()
    assert isinstance(bad, ProviderError) and "the pass broke on boom" in str(bad)
    assert good[0, 0] == 1 and after[0, 0] == 2 and good[0, 2] == after[0, 2] == pid


async def test_a_child_that_dies_fails_the_passes_it_held_and_the_next_pass_starts_another() -> None:
    proc = child()
    try:
        await proc.start()
        first = proc.pid
        dying, queued = await asyncio.gather(proc.forward(["die"]), proc.forward(["queued"]), return_exceptions=True)
        assert isinstance(dying, ProviderError) and "exited (3)" in str(dying)
        assert isinstance(queued, ProviderError)
        rows = await proc.forward(["again"])
        second = proc.pid
    finally:
        await proc.aclose()
    assert first is not None and second is not None and first != second
    assert rows[0, 2] == second and not alive(first)


async def test_a_child_that_cannot_load_says_why_and_one_that_exits_says_how() -> None:
    refusing = child("refuse")
    with pytest.raises(ProviderError, match="could not load the model: no model in this child"):
        await refusing.forward(["x"])
    await refusing.aclose()
    gone = ModelProcess(["-c", "import sys; sys.exit(5)"], DIM, "test-model")
    with pytest.raises(ProviderError, match=r"exited \(5\) before loading"):
        await gone.start()
    await gone.aclose()


async def test_the_child_outlives_a_groups_ctrl_c_and_ends_with_its_input() -> None:
    proc = child()
    await proc.start()
    pid = proc.pid
    assert pid is not None and alive(pid)
    # a terminal's Ctrl-C or a service manager's stop reaches the whole group: the parent shuts
    # down in its own time, and the child serves until then
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    assert (await proc.forward(["still here"]))[0, 2] == pid
    await proc.aclose()
    assert proc.pid is None and not alive(pid)
    with pytest.raises(ProviderError, match="closed"):
        await proc.forward(["late"])


def test_the_serving_loop_gives_heap_back_once_a_pause() -> None:
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    trims: list[float] = []
    replies = os.fdopen(replies_w, "wb")
    server = threading.Thread(target=model_pipe.serve, kwargs=dict(
        encode=lambda texts: np.ones((len(texts), DIM), dtype=np.float32), hello={}, replies=replies,
        requests=requests_r, trim=lambda: trims.append(time.monotonic()), idle_s=0.05))
    server.start()
    incoming = os.fdopen(replies_r, "rb")

    def ask(text: str) -> int:
        body = f'["{text}"]'.encode()
        os.write(requests_w, model_pipe.REQUEST.pack(7, len(body)) + body)
        ident, rows, size = model_pipe.REPLY.unpack(incoming.read(model_pipe.REPLY.size))
        assert ident == 7 and len(incoming.read(size)) == rows * DIM * 4
        return rows

    try:
        ident, rows, size = model_pipe.REPLY.unpack(incoming.read(model_pipe.REPLY.size))
        assert (ident, rows, incoming.read(size)) == (0, 0, b"{}")  # the hello
        time.sleep(0.2)
        assert len(trims) == 1  # once after loading, before the hello
        assert ask("a") == 1 and ask("b") == 1
        time.sleep(0.2)
        assert len(trims) == 2  # once for the pause, not once every idle_s
        assert ask("c") == 1
        time.sleep(0.2)
        assert len(trims) == 3
    finally:
        os.close(requests_w)  # the end of input ends the loop
        server.join(5)
        incoming.close()
        os.close(requests_r)
    assert not server.is_alive()

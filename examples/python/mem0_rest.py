"""AgentMem's REST API from Python with mem0's own client (pip install mem0ai): code written
for mem0 moves over by pointing `host` at AgentMem and using an AgentMem API key.

    AGENTMEM_REST_URL=http://127.0.0.1:8000 AGENTMEM_API_KEY=amk_... python examples/python/mem0_rest.py
"""
from __future__ import annotations

import os
import sys
import time

# mem0's client reads this at import: no usage reports to mem0's servers
os.environ.setdefault("MEM0_TELEMETRY", "False")

from mem0 import MemoryClient  # noqa: E402  (after the switch above)

URL = os.environ.get("AGENTMEM_REST_URL", "http://127.0.0.1:8000")
USER = f"mem0-demo-{int(time.time() * 1000)}"


def main() -> int:
    key = os.environ.get("AGENTMEM_API_KEY")
    if not key:
        print("error: set AGENTMEM_API_KEY (python -m app create-api-key --role admin --name demo)", file=sys.stderr)
        return 2
    try:
        client = MemoryClient(api_key=key, host=URL)  # checks the key with GET /v1/ping/
    except Exception as exc:  # mem0 raises its own error types for a refused key or no server
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    added = client.add("I moved to Lisbon in May", user_id=USER, infer=False, metadata={"topic": "home"})
    memory_id = added["results"][0]["id"]
    print("add:", added["results"][0]["event"], added["results"][0]["memory"])

    hits = client.search("where does the user live?", filters={"AND": [{"user_id": USER}]}, top_k=3)
    print("search:", [hit["memory"] for hit in hits["results"]])

    print("get:", client.get(memory_id)["memory"])
    client.update(memory_id, text="I moved to Porto in June")
    print("update:", client.get(memory_id)["memory"])
    print("history:", [entry["event"] for entry in client.history(memory_id)])

    client.delete(memory_id)
    left = client.get_all(filters={"AND": [{"user_id": USER}]})
    print("after delete:", len(left["results"]), "memories")
    return 0


if __name__ == "__main__":
    sys.exit(main())

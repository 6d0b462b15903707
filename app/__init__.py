"""The edge: web app, GraphQL, CLI and the one composition root."""
import os

# On 2 cores, BLAS threads and the embedding runtime's threads fight (a query embedding went
# from ~5 ms to ~74 ms when they alternated). Pin them before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

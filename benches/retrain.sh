#!/usr/bin/env bash
# Retraining benchmark (prints figures; not a test).
#
#   benches/retrain.sh            # continue the shipped model on 50 new clauses
#   benches/retrain.sh --full     # also a full training run over the prepared data
#
# "New" clauses are 50 lines of the project's annotations with a section number put in
# front, so their text is new to the encoder cache and the encoder really runs on them.
# The full run uses the cache in .cache/states (cold: pass --cold to use an empty one).
# Continuing a model with tuned encoder layers trains those layers too, on the new clauses.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TERMSCORE_BIN:-target/release/termscore}
[ -x "$bin" ] || cargo build --release --quiet
data=.cache/data
[ -f "$data/cuad.train.jsonl" ] || python3 training/prepare_data.py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/new50.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open("data/annotations/ai_terms.train.jsonl")][:25]
rows += [json.loads(l) for l in open("data/annotations/creator_ip.train.jsonl")][:25]
with open(sys.argv[1], "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"text": f"{12 + i // 10}.{i % 10 + 1} " + r["text"], "labels": r["labels"]}) + "\n")
PY

echo "== continue from models/termscore-clauses with 50 new clauses"
start=$(date +%s.%N)
"$bin" train --init models/termscore-clauses --data "$work/new50.jsonl" \
  --dev "$data"/ai_terms.dev.jsonl "$data"/creator_ip.dev.jsonl --epochs 4 --patience 4 \
  --out "$work/continued" 2>&1 | grep -E "encoded|wrote"
end=$(date +%s.%N)
printf 'continue: %.1f s wall (encoder + training + threshold tuning)\n' "$(python3 -c "print($end - $start)")"

if [ "${1:-}" = "--full" ] || [ "${2:-}" = "--full" ]; then
  cache=.cache/states
  [ "${1:-}" = "--cold" ] || [ "${2:-}" = "--cold" ] && cache="$work/cache"
  echo "== full training run (cache: $cache)"
  start=$(date +%s.%N)
  # The shipped model's settings (training/train_shipped.sh): two tuned encoder layers.
  "$bin" train --cache "$cache" --data "$data"/*.train.jsonl --dev "$data"/*.dev.jsonl \
    --threads 2 --attn-dim 64 --epochs 6 --patience 2 --lr 1e-3 --tune-layers 2 \
    --out "$work/full" 2>&1 | grep -E "encoded|epoch|wrote"
  end=$(date +%s.%N)
  printf 'full: %.1f s wall\n' "$(python3 -c "print($end - $start)")"
fi

#!/usr/bin/env bash
# Trains, evaluates and writes the card of the shipped classifier, models/termscore-clauses.
#
#   training/train_shipped.sh [OUT_DIR]      (default: models/termscore-clauses)
#
# Needs ../shared/data (see each folder's PROVENANCE.md). Encoder outputs are cached in
# .cache/states, so a second run encodes nothing. The figures in the model card come from
# `termscore eval` on test files never used for training or threshold tuning.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/termscore-clauses}
bin=${TERMSCORE_BIN:-target/release/termscore}
[ -x "$bin" ] || cargo build --release --quiet
python3 training/prepare_data.py
d=.cache/data
"$bin" train --seed 17 ${TRAIN_FLAGS:---threads 1 --attn-dim 64 --epochs 6 --patience 2 --lr 1e-3 --lexical-epochs 4 --lexical-lr-scale 10} \
  --data $d/cuad.train.jsonl $d/claudette.train.jsonl $d/acord.train.jsonl \
         $d/creator_ip.train.jsonl $d/ai_terms.train.jsonl \
         $d/creator_ip_more.train.jsonl $d/ai_terms_more.train.jsonl \
  --dev $d/cuad.dev.jsonl $d/claudette.dev.jsonl \
        $d/creator_ip.dev.jsonl $d/ai_terms.dev.jsonl \
        $d/creator_ip_more.dev.jsonl $d/ai_terms_more.dev.jsonl \
  --out "$out"
"$bin" eval --model "$out" --data $d/cuad.test.jsonl --card "CUAD test contracts"
"$bin" eval --model "$out" --data $d/claudette.test.jsonl --card "CLAUDETTE test documents"
"$bin" eval --model "$out" --data $d/annotations.test.jsonl --card "Project annotations, test part"

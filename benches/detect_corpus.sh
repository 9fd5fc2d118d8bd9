#!/usr/bin/env bash
# Detection scores on the development corpus (README § Clinical-context detection):
#
#     bash benches/detect_corpus.sh [EVAL_DIR]
#
# Builds the release binary, runs `chartdesk classify --format label` over clinical.tsv and
# it.tsv (one message per line), and calls the corpus scorer, exactly as the corpus README
# describes. Nothing from the corpus is compiled into chartdesk; it is only read here.
set -euo pipefail
cd "$(dirname "$0")/.."
EVAL="${1:-../shared/eval-dev}"
cargo build --release --quiet --bin chartdesk
BIN="${CARGO_TARGET_DIR:-target}/release/chartdesk"
out="$(mktemp -d)"
tail -n +2 "$EVAL/clinical.tsv" | cut -f1 | "$BIN" classify --format label > "$out/preds_clinical.txt"
tail -n +2 "$EVAL/it.tsv" | cut -f1 | "$BIN" classify --format label > "$out/preds_it.txt"
python3 "$EVAL/score_intent.py" "$EVAL/clinical.tsv" "$EVAL/it.tsv" "$out/preds_clinical.txt" "$out/preds_it.txt"

#!/usr/bin/env bash
# Redaction scores on the development corpus (README § PHI redaction):
#
#     bash benches/redact_corpus.sh [EVAL_DIR]
#
# Builds the release binary, runs `chartdesk redact --format jsonl` over the texts of
# phi.jsonl (id and text only: the gold spans never reach chartdesk) and calls the corpus
# scorer. Nothing from the corpus is compiled into chartdesk; it is only read here.
set -euo pipefail
cd "$(dirname "$0")/.."
EVAL="${1:-../shared/eval-dev}"
cargo build --release --quiet --bin chartdesk
BIN="${CARGO_TARGET_DIR:-target}/release/chartdesk"
out="$(mktemp -d)"
python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    if l.strip():
        r = json.loads(l); print(json.dumps({"id": r["id"], "text": r["text"]}))' "$EVAL/phi.jsonl" \
  | "$BIN" redact --format jsonl > "$out/preds.jsonl"
python3 "$EVAL/score_phi.py" "$EVAL/phi.jsonl" "$out/preds.jsonl" --quiet

#!/usr/bin/env bash
# The ML engineer's retrain: train on the latest event export, evaluate on a time
# holdout, and publish only if the model holds its quality; then list the versions.
#
#   scripts/retrain.sh EVENTS [ITEMS] [recsvc train options...]
#   scripts/retrain.sh exports/events.parquet exports/items.csv --max-ndcg-drop 0.005
#
# Exit status: 0 published, 3 refused by the quality gate (holdout NDCG@10 dropped
# more than --max-ndcg-drop below the current version's settings on the same
# holdout; the current version keeps serving; rerun with --force to publish
# anyway), anything else an error. The model store is $RECSVC_MODELS (or --models).
# recsvc is taken from the PATH, else from the project's virtual environment (.venv,
# as `make run` or `make test` create it).
set -uo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ $# -ge 1 && ($1 == -h || $1 == --help) ]]; then
    usage
    exit 0
fi
if [[ $# -lt 1 ]]; then
    usage >&2
    exit 2
fi
if command -v recsvc >/dev/null; then
    recsvc=recsvc
else
    recsvc="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/recsvc"
    if [[ ! -x $recsvc ]]; then
        echo "retrain: no recsvc on the PATH nor in $(dirname "$recsvc"); run 'make test' once" >&2
        exit 127
    fi
fi
events=$1
shift
items=()
if [[ $# -gt 0 && $1 != -* ]]; then
    items=(--items "$1")
    shift
fi

"$recsvc" train --events "$events" "${items[@]}" "$@"
status=$?
case $status in
    0) echo "retrain: published" ;;
    3) echo "retrain: refused by the quality gate; the current version keeps serving" >&2 ;;
    *) echo "retrain: failed (exit $status); nothing was published" >&2 ;;
esac
models=()
for ((i = 1; i <= $#; i++)); do
    if [[ ${!i} == --models ]]; then
        j=$((i + 1))
        models=(--models "${!j}")
    fi
done
"$recsvc" models list "${models[@]}"
exit $status

#!/usr/bin/env bash
# `make demo`: seed a synthetic French CRM, start the local Marketing API sandbox, sync, change a week's
# worth of customers, sync again (only the difference is sent), show status. No Meta account, no network.
set -euo pipefail
cd "$(dirname "$0")/.."

export FB_ACCESS_TOKEN="demo-sandbox-token"      # the sandbox accepts any non-empty token
export FBSYNC_STATE_DIR="demo/.fbsync"
unset FB_APP_SECRET FB_AD_ACCOUNT_ID FBSYNC_CRM_URL FBSYNC_STATE_URL FBSYNC_STATE_KEY FBSYNC_API_VERSION
rm -rf demo/.fbsync demo/.fbsync-best demo/sandbox.db

echo "== 1. Seeding demo/crm.db with 20,000 synthetic French customers"
python -m fbsync.dev.demo seed demo/crm.db --rows 20000 --seed 42

PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export FBSYNC_GRAPH_URL="http://127.0.0.1:${PORT}"
echo "== 2. Starting the local Marketing API sandbox on ${FBSYNC_GRAPH_URL}"
fbsync sandbox --port "$PORT" --data demo/sandbox.db > demo/sandbox.log 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  python -c "import urllib.request,sys; urllib.request.urlopen('${FBSYNC_GRAPH_URL}/__sandbox/requests', timeout=1)" 2>/dev/null && break
  sleep 0.2
done

echo "== 3. fbsync validate"
fbsync validate
echo
echo "== 4. First sync: audiences are created and filled"
fbsync sync
echo
echo "== 5. A week goes by in the CRM (deletions, new customers, changed emails, new orders)"
python -m fbsync.dev.demo churn demo/crm.db --seed 7
echo
echo "== 6. fbsync plan: what the next sync will send"
fbsync plan
echo
echo "== 7. Second sync: only the difference is sent"
fbsync sync
echo
echo "== 8. fbsync status"
fbsync status
echo
echo "== 9. The scoring playbook: a value-based 1 % lookalike of the best customers, behind quality gates"
# its own state folder: fbsync lists as orphans the audiences of a state folder that the YAML does not declare
FBSYNC_STATE_DIR=demo/.fbsync-best fbsync plan -c examples/best-customers.yaml
FBSYNC_STATE_DIR=demo/.fbsync-best fbsync sync -c examples/best-customers.yaml
echo
echo "== 10. fbsync report: every run as one static HTML page"
fbsync report -o demo/report.html
echo
echo "Done. State is in demo/.fbsync (encrypted ledger, runs, log); try: FBSYNC_STATE_DIR=demo/.fbsync fbsync history"

#!/usr/bin/env bash
# Fills the Signal9 API-credentials secret with the aws CLI, against AWS or, with
# --endpoint-url, a Signal9 Secrets server.
#
#   ALPHAVANTAGE_API_KEY=… ALPACA_API_KEY=… ALPACA_API_SECRET=… scripts/populate-secrets.sh
#   scripts/populate-secrets.sh --endpoint-url http://127.0.0.1:7780     # prompts on a terminal
#
# The keys come from those variables, or are read from the terminal without echo. They are
# checked by the rules the client library applies (crates/client/src/api-credentials.rules.json):
# a bad key is named, never shown, and nothing is written. The JSON document is built by
# Python's json module and piped to the aws CLI (file:///dev/stdin): no key is ever on a
# command line, where `ps` and shell history would show it, nor in a file. Like
# `s9-secrets populate`, it is idempotent: the same keys make one version, and going back to
# earlier keys makes their version current again.
set -euo pipefail

secret_id=signal9-advisor/api-credentials
aws_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --endpoint-url) aws_args+=(--endpoint-url "$2"); shift 2 ;;
        --secret-id) secret_id=$2; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

rules="$(cd "$(dirname "$0")/.." && pwd)/crates/client/src/api-credentials.rules.json"
[ -r "$rules" ] || { echo "error: cannot read $rules" >&2; exit 1; }
export S9_RULES=$rules S9_SECRET_ID=$secret_id

for var in ALPHAVANTAGE_API_KEY ALPACA_API_KEY ALPACA_API_SECRET; do
    if [ -z "${!var:-}" ]; then
        if [ -t 0 ]; then
            IFS= read -r -s -p "$var: " value
            echo >&2
            export "$var=$value"
            unset value
        else
            echo "error: $var is not set (and stdin is not a terminal to ask on)" >&2
            exit 1
        fi
    fi
done

# `document` writes the checked JSON document to stdout; `token` its ClientRequestToken, the
# one `s9-secrets populate` derives (HMAC-SHA256 keyed by the document, over the secret's
# name), so either tool recognises keys the other wrote.
helper() {
    python3 -c '
import hashlib, hmac, json, os, sys

# Rust char::is_whitespace (Unicode White_Space), which the client library applies.
WHITE_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)}

with open(os.environ["S9_RULES"], encoding="utf-8") as f:
    rules = json.load(f)["fields"]
doc = {}
for rule in rules:
    value = os.environ[rule["env"]]
    if not value:
        problem = "is empty"
    elif any(c in WHITE_SPACE for c in value):
        problem = "contains whitespace"
    elif not rule["min"] <= len(value) <= rule["max"]:
        problem = "is not %d to %d characters long" % (rule["min"], rule["max"])
    elif any(c not in rule["alphabet"] for c in value):
        problem = "has characters other than " + rule["charset"]
    else:
        doc[rule["field"]] = value
        continue
    sys.exit("error: %s (%s): %s; nothing was written" % (rule["field"], rule["env"], problem))
text = json.dumps(doc, separators=(",", ":"), sort_keys=True)  # the bytes populate writes
if sys.argv[1] == "document":
    sys.stdout.write(text)
else:
    mac = hmac.new(text.encode(), ("s9-populate-v1:" + os.environ["S9_SECRET_ID"]).encode(),
                   hashlib.sha256).hexdigest()[:32]
    print("-".join((mac[:8], mac[8:12], mac[12:16], mac[16:20], mac[20:32])))
' "$1"
}

# The version holding AWSCURRENT, from describe-secret's JSON on stdin (empty if none).
current_version() {
    python3 -c '
import json, sys
stages = json.load(sys.stdin).get("VersionIdsToStages", {})
print(next((v for v, s in stages.items() if "AWSCURRENT" in s), ""))'
}

describe() {
    aws "${aws_args[@]}" secretsmanager describe-secret --secret-id "$secret_id" --output json
}

# Fail before touching the secret if a key is malformed.
helper document >/dev/null
token=$(helper token)

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
if described=$(describe 2>"$errors"); then
    current=$(current_version <<<"$described")
    if [ "$current" = "$token" ]; then
        echo "unchanged: version $token of $secret_id is current"
    else
        helper document | aws "${aws_args[@]}" secretsmanager put-secret-value \
            --secret-id "$secret_id" --client-request-token "$token" \
            --secret-string file:///dev/stdin >/dev/null
        # A version these keys made before keeps its stages when written again (AWS changes
        # nothing for a known token and value): going back to it means moving AWSCURRENT.
        current=$(describe | current_version)
        if [ "$current" = "$token" ]; then
            echo "new version $token of $secret_id"
        else
            move=(--version-stage AWSCURRENT --move-to-version-id "$token")
            [ -n "$current" ] && move+=(--remove-from-version-id "$current")
            aws "${aws_args[@]}" secretsmanager update-secret-version-stage \
                --secret-id "$secret_id" "${move[@]}" >/dev/null
            echo "earlier version $token of $secret_id made current again"
        fi
    fi
elif grep -q ResourceNotFoundException "$errors"; then
    version=$(helper document | aws "${aws_args[@]}" secretsmanager create-secret --name "$secret_id" \
        --description "External API credentials for AlphaVantage and Alpaca" \
        --tags Key=Project,Value=Signal9Advisor --client-request-token "$token" \
        --secret-string file:///dev/stdin --query VersionId --output text)
    echo "created $secret_id, version $version"
else
    cat "$errors" >&2
    exit 1
fi
echo "fields set: alphaVantageApiKey, alpacaApiKey, alpacaApiSecret"

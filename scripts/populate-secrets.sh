#!/usr/bin/env bash
# Fills the Signal9 API-credentials secret with the aws CLI, against AWS or, with
# --endpoint-url, a Signal9 Secrets server.
#
#   ALPHAVANTAGE_API_KEY=… ALPACA_API_KEY=… ALPACA_API_SECRET=… scripts/populate-secrets.sh
#   scripts/populate-secrets.sh --endpoint-url http://127.0.0.1:7780     # prompts on a terminal
#
# The keys come from those variables, or are read from the terminal without echo. The JSON
# document is built by Python's json module (quotes and backslashes survive) and piped to the
# aws CLI, which reads it from stdin (file:///dev/stdin): no key is ever on a command line,
# where `ps` and shell history would show it, nor in a file.
set -euo pipefail

secret_id=signal9-advisor/api-credentials
aws_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --endpoint-url) aws_args+=(--endpoint-url "$2"); shift 2 ;;
        --secret-id) secret_id=$2; shift 2 ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

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

# Writes the JSON document to stdout; refuses empty keys and keys with whitespace.
document() {
    python3 -c '
import json, os, sys

fields = {
    "alphaVantageApiKey": "ALPHAVANTAGE_API_KEY",
    "alpacaApiKey": "ALPACA_API_KEY",
    "alpacaApiSecret": "ALPACA_API_SECRET",
}
doc = {}
for field, var in fields.items():
    value = os.environ[var]
    if not value or any(c.isspace() for c in value):
        sys.exit(f"error: {var} is empty or contains whitespace; nothing was written")
    doc[field] = value
json.dump(doc, sys.stdout)
'
}

# Fail before touching the secret if a key is malformed.
document >/dev/null

if err=$(aws "${aws_args[@]}" secretsmanager describe-secret --secret-id "$secret_id" 2>&1 >/dev/null); then
    version=$(document | aws "${aws_args[@]}" secretsmanager put-secret-value --secret-id "$secret_id" \
        --secret-string file:///dev/stdin --query VersionId --output text)
    echo "new version $version of $secret_id"
elif grep -q ResourceNotFoundException <<<"$err"; then
    version=$(document | aws "${aws_args[@]}" secretsmanager create-secret --name "$secret_id" \
        --description "External API credentials for AlphaVantage and Alpaca" \
        --tags Key=Project,Value=Signal9Advisor \
        --secret-string file:///dev/stdin --query VersionId --output text)
    echo "created $secret_id, version $version"
else
    echo "$err" >&2
    exit 1
fi
echo "fields set: alphaVantageApiKey, alpacaApiKey, alpacaApiSecret"

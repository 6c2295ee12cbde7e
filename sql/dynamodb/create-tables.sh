#!/usr/bin/env bash
# Creates the seed's DynamoDB tables from the definitions beside this script
# (one CreateTable request body per file, as `aws dynamodb create-table
# --cli-input-json file://mqtt_msg.json` also takes them), then waits until
# each is ACTIVE. Tables that exist already are left as they are.
#
#   sql/dynamodb/create-tables.sh http://localhost:8000
#
# Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
# and AWS_REGION (or AWS_DEFAULT_REGION); requests are signed with
# Signature Version 4 by curl (7.75 or later), so no AWS CLI is needed.
set -euo pipefail

endpoint=${1:?usage: $0 ENDPOINT_URL (e.g. http://localhost:8000)}
region=${AWS_REGION:-${AWS_DEFAULT_REGION:?set AWS_REGION, e.g. us-west-2}}
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID}" "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}"
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# One DynamoDB API call: prints the answer, exits 0 on HTTP 200.
call() {
  local target=$1 body=$2 out code
  out=$(mktemp)
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 \
    --aws-sigv4 "aws:amz:$region:dynamodb" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "X-Amz-Target: DynamoDB_20120810.$target" -H 'Content-Type: application/x-amz-json-1.0' \
    --data-binary "$body" "$endpoint") || { rm -f "$out"; return 2; }
  cat "$out"
  rm -f "$out"
  [ "$code" = 200 ]
}

for file in "$dir"/mqtt_*.json; do
  table=$(basename "$file" .json)
  if answer=$(call CreateTable "@$file"); then
    echo "created $table"
  elif [[ $answer == *ResourceInUseException* ]]; then
    echo "$table exists"
  else
    echo "creating $table failed: $answer" >&2
    exit 1
  fi
done

for file in "$dir"/mqtt_*.json; do
  table=$(basename "$file" .json)
  for _ in $(seq 1 300); do
    answer=$(call DescribeTable "{\"TableName\": \"$table\"}") || true
    [[ $answer == *'"TableStatus":"ACTIVE"'* ]] && continue 2
    sleep 0.2
  done
  echo "$table is not ACTIVE after 60 s: $answer" >&2
  exit 1
done
echo "all tables ACTIVE at $endpoint"

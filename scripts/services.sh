#!/usr/bin/env bash
# Starts and stops the real database servers the tests use, each on its own
# port on 127.0.0.1, with data, logs, sockets and PID files under
# "$CISTERN_RUN/<service>/" (see scripts/services/*.sh).
#   scripts/services.sh up     [names...]  install if missing and start (a running one is left as is)
#   scripts/services.sh down   [names...]  stop what these scripts started
#   scripts/services.sh status [names...]  report; exit non-zero unless all are up
#   scripts/services.sh env    [names...]  print `export` lines: eval "$(scripts/services.sh env)"
# Names: mariadb, postgres, redis, ferretdb (MongoDB wire protocol), cassandra,
# dynalite (DynamoDB API), influxdb (also the OpenTSDB ingest API); default: all.
# Ports: CISTERN_MYSQL_PORT=13306, CISTERN_PG_PORT=15432, CISTERN_REDIS_PORT=16379,
#   CISTERN_MONGO_PORT=17017, CISTERN_CASSANDRA_PORT=19042 (storage port
#   CISTERN_CASSANDRA_STORAGE_PORT=17000), CISTERN_DYNAMO_PORT=18000,
#   CISTERN_INFLUX_PORT=18086 (RPC CISTERN_INFLUX_RPC_PORT=18088, UDP
#   CISTERN_INFLUX_UDP_PORT=18089), CISTERN_OPENTSDB_PORT=14242.
# Tools built or fetched from registries (FerretDB, Cassandra's jars, dynalite)
# are kept under "$CISTERN_CACHE/tools/", outside the clone.
set -euo pipefail
source "$(dirname "$0")/common.sh"

all=(mariadb postgres redis ferretdb cassandra dynalite influxdb)
action=${1:-}
shift || true
names=("$@")
((${#names[@]})) || names=("${all[@]}")
for n in "${names[@]}"; do
  [ -x "$CISTERN_ROOT/scripts/services/$n.sh" ] || die "unknown service '$n' (known: ${all[*]})"
done

case "$action" in
  up)
    start=$SECONDS
    for n in "${names[@]}"; do "$CISTERN_ROOT/scripts/services/$n.sh" start; done
    say "services up: ${names[*]} ($((SECONDS - start))s)"
    ;;
  down)
    rc=0
    # Stop every one even if one fails; report failure at the end.
    for n in "${names[@]}"; do "$CISTERN_ROOT/scripts/services/$n.sh" stop || rc=1; done
    exit $rc
    ;;
  status)
    rc=0
    for n in "${names[@]}"; do "$CISTERN_ROOT/scripts/services/$n.sh" status || rc=1; done
    exit $rc
    ;;
  env)
    for n in "${names[@]}"; do "$CISTERN_ROOT/scripts/services/$n.sh" env; done
    ;;
  *) die "usage: $0 {up|down|status|env} [$(IFS="|"; echo "${all[*]}") ...]" ;;
esac

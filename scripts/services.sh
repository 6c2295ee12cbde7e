#!/usr/bin/env bash
# Starts and stops the real database servers the tests use, each on its own
# port on 127.0.0.1, with data, logs, sockets and PID files under
# "$CISTERN_RUN/<service>/" (see scripts/services/*.sh).
#   scripts/services.sh up     [names...]  install if missing and start (a running one is left as is)
#   scripts/services.sh down   [names...]  stop what these scripts started
#   scripts/services.sh status [names...]  report; exit non-zero unless all are up
#   scripts/services.sh env    [names...]  print `export` lines: eval "$(scripts/services.sh env)"
# Names: mariadb, postgres, redis (default: all three).
# Ports: CISTERN_MYSQL_PORT=13306, CISTERN_PG_PORT=15432, CISTERN_REDIS_PORT=16379.
set -euo pipefail
source "$(dirname "$0")/common.sh"

all=(mariadb postgres redis)
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
  *) die "usage: $0 {up|down|status|env} [mariadb|postgres|redis ...]" ;;
esac

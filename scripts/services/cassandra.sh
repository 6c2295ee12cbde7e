#!/usr/bin/env bash
# A private single-node Apache Cassandra for the tests, on 127.0.0.1 only.
#   scripts/services/cassandra.sh start   install if missing, start, wait for "Startup complete" and the native port
#   scripts/services/cassandra.sh stop    stop the server started here (by its PID file)
#   scripts/services/cassandra.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/cassandra.sh env     print `export` lines for the tests
# Ports: CISTERN_CASSANDRA_PORT (CQL native protocol, default 19042) and
# CISTERN_CASSANDRA_STORAGE_PORT (inter-node, default 17000); no JMX port.
# Cassandra 5.0.9's jars come from Maven Central (a throwaway pom.xml and
# `mvn dependency:copy-dependencies`) into "$CISTERN_CACHE/tools/cassandra/",
# and run on Java 17 (Debian's openjdk-17) with a cassandra.yaml, JVM options
# and logback config that this script writes. Data, commit log, hints,
# caches, config, log and PID file under "$CISTERN_RUN/cassandra/".
# Memory: heap 512 MB to 1 GB; the process takes about 0.7 to 1 GB.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION=5.0.9
PORT=${CISTERN_CASSANDRA_PORT:-19042}
STORAGE_PORT=${CISTERN_CASSANDRA_STORAGE_PORT:-17000}
DIR="$CISTERN_RUN/cassandra"
PIDFILE="$DIR/cassandra.pid"
LOG="$DIR/cassandra.log"
CONF="$DIR/conf"
# The server runs as java through a link named `cassandra`, so that its
# command name (what pid_is checks) is `cassandra`, not any java's.
COMM=cassandra
TOOLS="$CISTERN_CACHE/tools/cassandra"
JARS="$TOOLS/lib-$VERSION"
STAMP="$JARS/.complete"      # written once every jar is in $JARS
LAUNCHER="$TOOLS/bin/cassandra"

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }
# The log is moved aside at each start, so the line is this run's.
answers() { grep -q "Startup complete" "$LOG" 2>/dev/null && port_open "$PORT"; }

# pid_exiting PID: true if PID is on its way out (killed, still unmapping its
# heap: that takes about a second after kill -9, with its ports still bound).
pid_exiting() {
  local stat fields flags sigs=""
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  read -r -a fields <<<"${stat##*) }"
  flags=${fields[6]:-0}
  ((flags & 0x4)) && return 0   # PF_EXITING
  sigs=$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || true
  [ -n "$sigs" ] && (((16#$sigs) & 0x100))   # SIGKILL pending
}

# find_java: Cassandra 5.0 runs on Java 11 or 17, not newer: use Debian's 17.
find_java() {
  JAVA=${CISTERN_CASSANDRA_JAVA:-}
  if [ -z "$JAVA" ]; then
    JAVA=$(ls -d /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -n 1)
    if [ -z "$JAVA" ]; then
      ensure_packages openjdk-17-jre-headless
      JAVA=$(ls -d /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -n 1)
    fi
  fi
  [ -n "$JAVA" ] && [ -x "$JAVA" ] || die "no Java 17 for Cassandra (Debian package openjdk-17-jre-headless, or set CISTERN_CASSANDRA_JAVA)"
  JAVA=$(readlink -f "$JAVA")
}

write_pom() {
  cat >"$TOOLS/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by cistern scripts/services/cassandra.sh: only to fetch Cassandra's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.cistern</groupId>
  <artifactId>cassandra-server-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>3.6.1</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
EOF
}

install() {
  find_java
  mkdir -p "$TOOLS/bin"
  # The link follows the Java found now (a Java upgrade keeps its path).
  ln -sfn "$JAVA" "$LAUNCHER"
  [ -e "$STAMP" ] && return 0
  command -v mvn >/dev/null 2>&1 || ensure_packages maven
  need_cmd mvn maven
  say "fetching Cassandra $VERSION jars from Maven Central into $JARS (once)"
  write_pom
  rm -rf "$JARS.tmp"
  # Maven's own repository stays where Maven keeps it (~/.m2).
  if ! mvn -B -q -f "$TOOLS/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$JARS.tmp" -DincludeScope=runtime >"$TOOLS/mvn.log" 2>&1; then
    show_log "$TOOLS/mvn.log"
    die "fetching Cassandra $VERSION with Maven failed; log: $TOOLS/mvn.log"
  fi
  [ -s "$JARS.tmp/cassandra-all-$VERSION.jar" ] || die "Maven gave no cassandra-all-$VERSION.jar in $JARS.tmp"
  rm -rf "$JARS"
  mv "$JARS.tmp" "$JARS"
  touch "$STAMP"
}

write_config() {
  mkdir -p "$CONF" "$DIR/data" "$DIR/commitlog" "$DIR/hints" "$DIR/saved_caches" "$DIR/cdc_raw"
  cat >"$CONF/cassandra.yaml" <<EOF
# Written by cistern scripts/services/cassandra.sh at each start.
cluster_name: cistern-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$STORAGE_PORT"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $STORAGE_PORT
start_native_transport: true
native_transport_port: $PORT
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer
auto_snapshot: false
data_file_directories:
  - $DIR/data
commitlog_directory: $DIR/commitlog
hints_directory: $DIR/hints
saved_caches_directory: $DIR/saved_caches
cdc_raw_directory: $DIR/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
disk_failure_policy: stop
commit_failure_policy: stop
EOF
  cat >"$CONF/logback.xml" <<EOF
<!-- Written by cistern scripts/services/cassandra.sh at each start. -->
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$LOG</file>
    <append>true</append>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
EOF
  # A java argument file, one option a line. Heap and system
  # properties first; then the --add-exports/--add-opens and Netty lines of
  # Cassandra's conf/jvm17-server.options, without which Java 17 refuses it
  # ("unable to access required classes").
  cat >"$CONF/jvm.options" <<EOF
-Xms512m
-Xmx1g
-XX:+UseG1GC
-XX:+ParallelRefProcEnabled
-XX:MaxTenuringThreshold=1
-XX:G1HeapRegionSize=16m
-XX:+ExitOnOutOfMemoryError
-XX:ErrorFile=$DIR/hs_err_%p.log
-Djava.net.preferIPv4Stack=true
-Dcassandra.config=file://$CONF/cassandra.yaml
-Dlogback.configurationFile=file://$CONF/logback.xml
-Dcassandra.logdir=$DIR
-Dcassandra.storagedir=$DIR
-Dcassandra-foreground=yes
-Dcassandra.skip_wait_for_gossip_to_settle=0
-Dcassandra.ring_delay_ms=0
-Djdk.attach.allowAttachSelf=true
--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports=java.sql/java.sql=ALL-UNNAMED
--add-exports=java.base/java.lang.ref=ALL-UNNAMED
--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens=java.base/java.lang.module=ALL-UNNAMED
--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens=java.base/jdk.internal.math=ALL-UNNAMED
--add-opens=java.base/jdk.internal.module=ALL-UNNAMED
--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED
--add-opens=java.base/java.io=ALL-UNNAMED
--add-opens=java.base/java.lang.reflect=ALL-UNNAMED
--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
--add-opens=java.base/java.lang=ALL-UNNAMED
--add-opens=java.base/java.util=ALL-UNNAMED
-Dio.netty.tryReflectionSetAccessible=true
-Dio.netty.allocator.useCacheForAllThreads=true
-Dio.netty.allocator.maxOrder=11
EOF
}

start() {
  lock_service "$DIR"
  local pid
  pid=$(server_pid)
  if pid_is "$pid" "$COMM" && pid_exiting "$pid"; then
    say "Cassandra (pid $pid) is still exiting; waiting until it is gone"
    wait_gone "$pid" "$COMM" "$CISTERN_SERVICE_TIMEOUT" || die "Cassandra (pid $pid) is still exiting after ${CISTERN_SERVICE_TIMEOUT}s"
  fi
  if running; then
    wait_ready "Cassandra" "$LOG" server_pid answers
    say "Cassandra already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_CASSANDRA_PORT "$PORT"
  check_port CISTERN_CASSANDRA_STORAGE_PORT "$STORAGE_PORT"
  write_config
  rm -f "$PIDFILE"
  [ ! -e "$LOG" ] || mv -f "$LOG" "$LOG.1"
  say "starting Cassandra $VERSION on 127.0.0.1:$PORT (storage port $STORAGE_PORT; log: $LOG)"
  # Logback and the JVM's own messages (stdout, stderr) go to the same log.
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down; it
  # execs, so $! is the server's own PID.
  (cd "$DIR" && MALLOC_ARENA_MAX=4 exec setsid "$LAUNCHER" "@$CONF/jvm.options" \
     -cp "$JARS/*" org.apache.cassandra.service.CassandraDaemon -f) </dev/null >>"$LOG" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "Cassandra" "$LOG" server_pid answers
  say "Cassandra ready (pid $(server_pid)) at 127.0.0.1:$PORT"
}

stop() {
  # SIGTERM: Cassandra's shutdown hook drains and exits (a few seconds).
  stop_service "Cassandra" TERM
}

status() { service_status cassandra; }

env_lines() {
  echo "export CISTERN_CASSANDRA_PORT=$PORT"
  echo "export CISTERN_CASSANDRA_NODES=127.0.0.1:$PORT"
}

service_main "$@"

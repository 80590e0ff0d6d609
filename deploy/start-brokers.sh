#!/usr/bin/env bash
# Starts a local redis-server (6379) and rabbitmq-server (5672) for Hive when nothing listens there yet.
# Data and logs go to .hive/ in the repository. Idempotent. Installs the Debian packages when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/deploy/install-deps.sh"
state="$root/.hive"
mkdir -p "$state"
listening() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
wait_for() { for _ in $(seq 1 150); do listening "$1" && return 0; sleep 0.2; done; echo "start-brokers: nothing listens on $1; see $2" >&2; return 1; }

if ! listening 6379; then
  mkdir -p "$state/redis"
  redis-server --port 6379 --bind 127.0.0.1 --dir "$state/redis" --appendonly yes --appendfsync everysec \
    --daemonize yes --logfile "$state/redis/redis.log" --pidfile "$state/redis/redis.pid"
  wait_for 6379 "$state/redis/redis.log"
  echo "start-brokers: redis-server on 127.0.0.1:6379" >&2
fi

if ! listening 5672; then
  rmq="$state/rabbitmq"
  mkdir -p "$rmq"
  if [ "$(id -u)" -eq 0 ]; then chown -R rabbitmq:rabbitmq "$rmq"; run=(runuser -u rabbitmq --); else run=(); fi
  nohup "${run[@]}" env HOME="$rmq" RABBITMQ_NODENAME=hive@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
    RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$rmq/mnesia" RABBITMQ_LOG_BASE="$rmq/log" RABBITMQ_PID_FILE="$rmq/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$rmq/enabled_plugins" RABBITMQ_CONFIG_FILE="$rmq/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$rmq/advanced.config" \
    /usr/lib/rabbitmq/bin/rabbitmq-server > "$rmq/out.log" 2>&1 &
  wait_for 5672 "$rmq/out.log"
  echo "start-brokers: rabbitmq-server on 127.0.0.1:5672" >&2
fi

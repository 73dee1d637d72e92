#!/bin/sh
# The example long-running task, as a web service or a queue worker runs: it stays up until ECS stops it (SIGTERM),
# so that `aws ecs execute-command` and `skiff exec` can reach it. Heartbeat every $WORKER_INTERVAL seconds (30).
# A job may call the programs of its image's PATH; `sleep` is taken from the usual places too, which in a container
# image are the image's own.
PATH="$PATH:/usr/local/bin:/usr/bin:/bin"
interval=${WORKER_INTERVAL:-30}
trap 'echo "worker stopping"; exit 0' TERM INT
echo "worker started (pid $$), heartbeat every ${interval}s"
beats=0
while :; do
  # In the background and waited for, so that SIGTERM is handled at once rather than after the sleep.
  sleep "$interval" &
  wait $!
  beats=$((beats + 1))
  echo "heartbeat $beats"
done

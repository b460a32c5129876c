#!/bin/sh
# kafka.sh with the cooperative-sticky protocol (rebalances assign and
# revoke partitions incrementally), and backpressure that pauses the
# partitions at once (pause_grace_ms = 0).
KAFKA_STRATEGY=cooperative-sticky
KAFKA_GRACE=0
KAFKA_BACKLOG=50
export KAFKA_STRATEGY KAFKA_GRACE KAFKA_BACKLOG
. "$(dirname "$0")/kafka.sh"

#!/bin/sh
# kafka.sh with the cooperative-sticky protocol: rebalances assign and
# revoke partitions incrementally.
KAFKA_STRATEGY=cooperative-sticky
export KAFKA_STRATEGY
. "$(dirname "$0")/kafka.sh"

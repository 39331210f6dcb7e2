#!/bin/sh
# fault/no-threads: ThreadSanitizer (issue 9, point 2) applies to runtime code with threads.
# libdaftrt is single-threaded per process (one process per actor, futex/poll waits), and
# fault/access checks at run time that every process of a job has exactly one thread. This
# test fails as soon as the CPU runtime starts creating threads, so that a TSan build of
# the runtime tests gets added with the first thread (see tests/fault/README.md).
src=${1:?usage: no-threads.sh SOURCE_DIR}
hits=$(grep -nE '\b(pthread_create|thrd_create|clone3?)[[:space:]]*\(' \
  "$src"/runtime/*.c "$src"/runtime/*.h 2>/dev/null)
if [ -n "$hits" ]; then
  echo "the runtime now creates threads: add a -fsanitize=thread build of tests/unit/rt and"
  echo "tests/fault (see tests/fault/README.md), then relax this check:"
  echo "$hits"
  exit 1
fi
echo "runtime: no thread creation (single-threaded per process)"

#!/bin/sh
# The example batch job: prints its arguments; `--date fail` makes it fail with exit code 3.
echo "batch job started with: $*"
if [ "$2" = "fail" ]; then echo "failing as asked" >&2; exit 3; fi
echo "batch job done"

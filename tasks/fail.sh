#!/usr/bin/env bash
# Always fails: prints a message on stderr and exits 3.
echo "fail.sh: about to fail"
echo "fail.sh: something went wrong" >&2
exit 3

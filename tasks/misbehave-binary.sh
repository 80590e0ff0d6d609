#!/usr/bin/env bash
# Misbehaving script for the hardening tests: prints invalid UTF-8, NUL bytes, control characters, 64 KiB of random
# binary and a ##hive line holding invalid UTF-8, 1 MiB more, then a last clean line, and exits 0.
set -eu
printf 'binary: begin\n'
printf 'bad utf-8: \xc3\x28 \xff\xfe \xed\xa0\x80 \xf8\x88\x80\x80\x80 end\n'
printf 'nul:\0:byte\n'
printf 'controls: \033[31mred\033[0m \x07 \x08 \r\n'
head -c 65536 /dev/urandom
printf '\n##hive {"stage": "bad \xff stage"}\n'
# 1 MiB more (16 lines of 64 KiB): more than a pipe holds, so a reader that stopped would block the script here.
for _ in $(seq 16); do head -c 65536 /dev/zero | tr '\0' 'y'; echo; done
printf '##hive {"progress": 100, "stage": "done"}\n'
printf 'binary: done\n'

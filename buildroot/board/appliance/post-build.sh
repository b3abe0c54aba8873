#!/bin/sh
# Buildroot post-build: the mount points of docs/boot.md in the target tree. Everything
# else that makes the slot (/boot/vmlinuz, /boot/initrd.img, /etc/appliance/release) is
# added by `appliance-image assemble` in post-image.sh, the same code as the offline build.
# Arguments: TARGET_DIR PROFILE (BR2_ROOTFS_POST_SCRIPT_ARGS).
set -eu
TARGET_DIR=$1

for d in data proc sys dev run tmp; do mkdir -p "$TARGET_DIR/$d"; done

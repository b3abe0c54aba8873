#!/bin/sh
# Buildroot post-build: give the target tree the slot layout of docs/boot.md.
# Arguments: TARGET_DIR PROFILE (BR2_ROOTFS_POST_SCRIPT_ARGS).
set -eu
TARGET_DIR=$1
PROFILE=$2
VERSION=${APPLIANCE_VERSION:-1.0.0}

mkdir -p "$TARGET_DIR/boot" "$TARGET_DIR/etc/appliance"
for d in data proc sys dev run tmp; do mkdir -p "$TARGET_DIR/$d"; done
# The kernel Buildroot installed, under the name grub.cfg boots.
if [ -f "$TARGET_DIR/boot/bzImage" ]; then
	mv "$TARGET_DIR/boot/bzImage" "$TARGET_DIR/boot/vmlinuz"
fi
KERNEL=$(ls "$TARGET_DIR/lib/modules" 2>/dev/null | head -n 1)
printf 'VERSION=%s\nPROFILE=%s\nKERNEL=%s\n' "$VERSION" "$PROFILE" "${KERNEL:-builtin}" \
	> "$TARGET_DIR/etc/appliance/release"

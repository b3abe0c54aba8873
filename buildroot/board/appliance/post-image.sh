#!/bin/sh
# Buildroot post-image: the same image tool as the offline builder assembles initramfs,
# slot image, ESP, GPT disk and update package from Buildroot's target tree, kernel and
# GRUB images, so both paths share one layout and one grub.cfg (image/grub/).
# Arguments: BINARIES_DIR PROFILE (BR2_ROOTFS_POST_SCRIPT_ARGS).
set -eu
BINARIES_DIR=$1
PROFILE=$2
VERSION=${APPLIANCE_VERSION:-1.0.0}

exec "$HOST_DIR/bin/appliance-image" assemble \
	--profile "$PROFILE" \
	--version "$VERSION" \
	--rootfs-dir "$TARGET_DIR" \
	--grub-efi "$BINARIES_DIR/efi-part/EFI/BOOT/bootx64.efi" \
	--grub-bios-core "$BINARIES_DIR/grub.img" \
	--grub-bios-boot "$HOST_DIR/lib/grub/i386-pc/boot.img" \
	--out "$BINARIES_DIR"

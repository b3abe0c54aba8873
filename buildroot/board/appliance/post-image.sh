#!/bin/sh
# Buildroot post-image: the offline builder's own code (`appliance-image assemble`, built
# from image/ as a host package) makes the initramfs, slot image, ESP, GPT disk and, for
# the vm profile, the qcow2/VMDK/OVA, from Buildroot's kernel, target tree and GRUB images.
# Layout, grub.cfg and grubenv therefore exist once, in image/.
# Arguments: BINARIES_DIR PROFILE (BR2_ROOTFS_POST_SCRIPT_ARGS).
# Environment (set by Buildroot): TARGET_DIR, HOST_DIR, BUILD_DIR.
set -eu
BINARIES_DIR=$1
PROFILE=$2
VERSION=${APPLIANCE_VERSION:-1.0.0}

# grub2 installs boot.img only into the target with BR2_TARGET_GRUB2_INSTALL_TOOLS: take
# the i386-pc boot sector from GRUB's build directory (the same build as grub.img).
BOOT_IMG=
for f in "$BUILD_DIR"/grub2-*/build-i386-pc/grub-core/boot.img; do
	[ -f "$f" ] && BOOT_IMG=$f
done
if [ -z "$BOOT_IMG" ]; then
	echo "post-image: no $BUILD_DIR/grub2-*/build-i386-pc/grub-core/boot.img (BR2_TARGET_GRUB2_I386_PC?)" >&2
	exit 1
fi

# A release (APPLIANCE_KEY and APPLIANCE_TRUST set: the signing key and the public key the
# appliance accepts updates from) refuses the published development key; without them the
# image is a development build, and says so on its Status page and console.
set --
if [ -n "${APPLIANCE_KEY:-}" ] || [ -n "${APPLIANCE_TRUST:-}" ]; then
	set -- --release --key "${APPLIANCE_KEY:-}" --trust "${APPLIANCE_TRUST:-}"
fi
# The password of GRUB's editor and command line (first line of the file; docs/boot.md
# "GRUB password"); a release needs one, a development build takes keys/dev/grub-password.
if [ -n "${APPLIANCE_GRUB_PASSWORD_FILE:-}" ]; then
	set -- "$@" --grub-password-file "$APPLIANCE_GRUB_PASSWORD_FILE"
fi

exec "$HOST_DIR/bin/appliance-image" assemble "$@" \
	--profile "$PROFILE" \
	--version "$VERSION" \
	--rootfs-dir "$TARGET_DIR" \
	--kernel "$BINARIES_DIR/bzImage" \
	--grub-efi "$BINARIES_DIR/efi-part/EFI/BOOT/bootx64.efi" \
	--grub-bios-core "$BINARIES_DIR/grub.img" \
	--grub-bios-boot "$BOOT_IMG" \
	--out "$BINARIES_DIR"

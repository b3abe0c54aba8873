################################################################################
#
# appliance-firmware
#
################################################################################

# The source is this repository itself, taken from git at the commit checked out, so
# that the download step can vendor every crate (cargo post-process): after one
# `make source` (or with a download mirror in BR2_PRIMARY_SITE / BR2_DL_DIR) the build
# needs no network.
APPLIANCE_FIRMWARE_SITE = $(realpath $(BR2_EXTERNAL_APPLIANCE_PATH)/..)
APPLIANCE_FIRMWARE_SITE_METHOD = git
APPLIANCE_FIRMWARE_VERSION = $(shell git -C $(BR2_EXTERNAL_APPLIANCE_PATH) rev-parse HEAD)
APPLIANCE_FIRMWARE_LICENSE = Proprietary
APPLIANCE_FIRMWARE_DEPENDENCIES = e2fsprogs host-appliance-firmware

# A virtual workspace has no single package for `cargo install --path`, so the build and
# install steps name the two binaries.
define APPLIANCE_FIRMWARE_BUILD_CMDS
	cd $(@D) && \
	$(TARGET_MAKE_ENV) $(TARGET_CONFIGURE_OPTS) $(PKG_CARGO_ENV) \
		cargo build --offline --locked --profile appliance -p init -p appliance-daemon
endef

define APPLIANCE_FIRMWARE_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/target/$(RUSTC_TARGET_NAME)/appliance/init \
		$(TARGET_DIR)/sbin/init
	$(INSTALL) -D -m 0755 $(@D)/target/$(RUSTC_TARGET_NAME)/appliance/appliance-daemon \
		$(TARGET_DIR)/usr/sbin/appliance-daemon
endef

define HOST_APPLIANCE_FIRMWARE_BUILD_CMDS
	cd $(@D) && \
	$(HOST_MAKE_ENV) $(HOST_CONFIGURE_OPTS) $(HOST_PKG_CARGO_ENV) \
		cargo build --offline --locked --release -p image
endef

define HOST_APPLIANCE_FIRMWARE_INSTALL_CMDS
	$(INSTALL) -D -m 0755 $(@D)/target/release/image $(HOST_DIR)/bin/appliance-image
endef

$(eval $(cargo-package))
$(eval $(host-cargo-package))

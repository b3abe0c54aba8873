# The physical box: q35 chipset, UEFI only, SATA disk on the q35 AHCI, Intel e1000e NIC,
# i6300esb watchdog. Sourced by qemu/run; appends to the `args` array.
machine=q35
firmware=uefi
args+=(-device "ide-hd,drive=disk0,bus=ide.0,bootindex=0")
nic=e1000e

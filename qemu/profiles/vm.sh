# The virtual appliance on VMware hardware: i440FX (-M pc), pvscsi disk, vmxnet3 NIC.
# SeaBIOS unless --uefi. Sourced by qemu/run (with $firmware set); appends to `args`.
machine=pc
if [[ $firmware == uefi ]]; then
  # Debian's OVMF has no PVSCSI driver, so it cannot boot from pvscsi: an EFI VMware VM
  # with a SATA controller is the closest hardware it can boot.
  args+=(-device ahci,id=sata0 -device "ide-hd,drive=disk0,bus=sata0.0,bootindex=0")
else
  args+=(-device pvscsi,id=scsi0 -device "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0")
fi
nic=vmxnet3

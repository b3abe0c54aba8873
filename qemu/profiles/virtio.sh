# KVM/Proxmox-style host: q35, virtio-blk disk, virtio-net NIC. Boots the vm image.
# SeaBIOS unless --uefi. Sourced by qemu/run; appends to the `args` array.
machine=q35
image_profile=vm
args+=(-device "virtio-blk-pci,drive=disk0,bootindex=0")
nic=virtio-net-pci

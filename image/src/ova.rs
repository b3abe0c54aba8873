//! Virtual appliance artifacts made from a built `disk.img`: a qcow2 for QEMU/KVM hosts,
//! a streamOptimized VMDK, and the OVA that VMware imports (OVF descriptor first, the
//! manifest second, then the disk, as the OVF specification requires of the tar).
//!
//! The virtual hardware the OVF asks for is the one the `vm` image carries drivers for:
//! a VirtualSCSI (pvscsi) controller and a VMXNET3 NIC, EFI firmware.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Default virtual hardware of the appliance VM.
pub(crate) const CPUS: u32 = 2;
pub(crate) const MEMORY_MIB: u32 = 4096;

pub(crate) struct Artifacts {
    pub qcow2: PathBuf,
    pub vmdk: PathBuf,
    pub ova: PathBuf,
}

/// Convert `disk` into the virtual appliance artifacts in `out`.
pub(crate) fn build(disk: &Path, out: &Path, version: &str) -> Result<Artifacts> {
    let name = format!("appliance-{version}");
    let qcow2 = out.join(format!("{name}.qcow2"));
    let vmdk = out.join(format!("{name}.vmdk"));
    qemu_img(&["convert", "-O", "qcow2", "-c"], disk, &qcow2)?;
    qemu_img(
        &["convert", "-O", "vmdk", "-o", "subformat=streamOptimized"],
        disk,
        &vmdk,
    )?;
    let capacity = std::fs::metadata(disk)
        .with_context(|| format!("reading the size of {}", disk.display()))?
        .len();
    let vmdk_name = file_name(&vmdk)?;
    let vmdk_size = std::fs::metadata(&vmdk)?.len();
    let ovf_name = format!("{name}.ovf");
    let ovf = descriptor(&name, version, &vmdk_name, vmdk_size, capacity);
    let mf_name = format!("{name}.mf");
    let manifest = format!(
        "SHA256({ovf_name})= {}\nSHA256({vmdk_name})= {}\n",
        hex::encode(Sha256::digest(ovf.as_bytes())),
        sha256_file(&vmdk)?
    );
    let ova = out.join(format!("{name}.ova"));
    let tmp = out.join(format!(".{name}.ova.tmp"));
    {
        let mut tar = tar::Builder::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        tar.mode(tar::HeaderMode::Deterministic);
        append_bytes(&mut tar, &ovf_name, ovf.as_bytes())?;
        append_bytes(&mut tar, &mf_name, manifest.as_bytes())?;
        let mut header = tar::Header::new_ustar();
        header.set_size(vmdk_size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, &vmdk_name, File::open(&vmdk)?)
            .context("adding the VMDK to the OVA")?;
        tar.into_inner()?.sync_all()?;
    }
    std::fs::rename(&tmp, &ova)?;
    Ok(Artifacts { qcow2, vmdk, ova })
}

fn append_bytes(tar: &mut tar::Builder<File>, name: &str, data: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("adding {name} to the OVA"))
}

fn qemu_img(args: &[&str], input: &Path, output: &Path) -> Result<()> {
    let status = Command::new("qemu-img")
        .args(args)
        .arg(input)
        .arg(output)
        .status()
        .context("running qemu-img (Debian package qemu-utils)")?;
    if !status.success() {
        bail!("qemu-img {} {} failed", args.join(" "), output.display());
    }
    Ok(())
}

fn file_name(p: &Path) -> Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no file name", p.display()))
}

fn sha256_file(p: &Path) -> Result<String> {
    let mut r = BufReader::new(File::open(p).with_context(|| format!("opening {}", p.display()))?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The OVF 1.0 descriptor (the version VMware's importers read everywhere).
pub(crate) fn descriptor(
    name: &str,
    version: &str,
    vmdk: &str,
    vmdk_size: u64,
    capacity: u64,
) -> String {
    let (name, version, vmdk) = (xml_escape(name), xml_escape(version), xml_escape(vmdk));
    let mut x = String::new();
    let w = &mut x;
    let _ = write!(
        w,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:id="disk1-file" ovf:href="{vmdk}" ovf:size="{vmdk_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="disk1" ovf:fileRef="disk1-file" ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network ovf:name="VM Network">
      <Description>The network the appliance's admin interface is reached on</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>Remote-support appliance</Info>
    <Name>{name}</Name>
    <ProductSection>
      <Info>Product</Info>
      <Product>Remote-support appliance</Product>
      <Vendor>Remote-support appliance vendor</Vendor>
      <Version>{version}</Version>
      <FullVersion>{version}</FullVersion>
    </ProductSection>
    <OperatingSystemSection ovf:id="101" vmw:osType="other5xLinux64Guest">
      <Info>Guest operating system</Info>
      <Description>Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>{CPUS} virtual CPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{CPUS}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory size</rasd:Description>
        <rasd:ElementName>{MEMORY_MIB} MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{MEMORY_MIB}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/disk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VMXNET3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VMXNET3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <vmw:Config ovf:required="false" vmw:key="tools.syncTimeWithHost" vmw:value="false"/>
      <vmw:Config ovf:required="false" vmw:key="powerOpInfo.powerOffType" vmw:value="soft"/>
      <vmw:Config ovf:required="false" vmw:key="powerOpInfo.resetType" vmw:value="soft"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    );
    x
}

use std::fmt::Write as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_names_the_disk_and_vmware_hardware() {
        let x = descriptor(
            "appliance-1.0.0",
            "1.0.0",
            "appliance-1.0.0.vmdk",
            1234,
            1 << 30,
        );
        assert!(x.contains(r#"ovf:href="appliance-1.0.0.vmdk" ovf:size="1234""#));
        assert!(x.contains(r#"ovf:capacity="1073741824""#));
        assert!(x.contains("<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>"));
        assert!(x.contains("<rasd:ResourceSubType>VMXNET3</rasd:ResourceSubType>"));
        assert!(x.contains("<Version>1.0.0</Version>"));
    }

    #[test]
    fn descriptor_escapes_what_it_is_given() {
        let x = descriptor("a<b", "1&2", "d\".vmdk", 1, 1);
        assert!(x.contains("a&lt;b") && x.contains("1&amp;2") && x.contains("d&quot;.vmdk"));
    }
}

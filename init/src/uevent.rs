//! Parsing of sysfs `uevent` files (pure): `KEY=value` lines describing a device.

/// A block device as its `uevent` file describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockUevent {
    /// Kernel name, e.g. `vda6`; the node is `/dev/<devname>`.
    pub devname: String,
    /// `disk` or `partition`.
    pub devtype: String,
    /// GPT partition label, when the device is a GPT partition with a name.
    pub partname: Option<String>,
    /// Partition number (1-based), for partitions.
    pub partn: Option<u32>,
}

/// Parse the `uevent` text of a block device. Returns `None` without a `DEVNAME`.
pub fn parse_block(text: &str) -> Option<BlockUevent> {
    let mut ev = BlockUevent::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "DEVNAME" => ev.devname = v.to_string(),
            "DEVTYPE" => ev.devtype = v.to_string(),
            "PARTNAME" => ev.partname = Some(v.to_string()),
            "PARTN" => ev.partn = v.parse().ok(),
            _ => {}
        }
    }
    (!ev.devname.is_empty()).then_some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_gpt_partition() {
        let t = "MAJOR=254\nMINOR=6\nDEVNAME=vda6\nDEVTYPE=partition\nDISKSEQ=9\nPARTN=6\nPARTNAME=data\n";
        let ev = parse_block(t).unwrap();
        assert_eq!(ev.devname, "vda6");
        assert_eq!(ev.devtype, "partition");
        assert_eq!(ev.partn, Some(6));
        assert_eq!(ev.partname.as_deref(), Some("data"));
    }

    #[test]
    fn disk_has_no_partname_and_garbage_is_tolerated() {
        let ev = parse_block("garbage\nDEVNAME=sda\nDEVTYPE=disk\nPARTN=x\n").unwrap();
        assert_eq!(ev.partname, None);
        assert_eq!(ev.partn, None);
        assert!(parse_block("MAJOR=8\n").is_none());
    }
}

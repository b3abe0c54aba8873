//! The sanitization record (pure): what was erased, how, and when, written as
//! `sanitization.json` at the root of the new data filesystem so that whoever receives the
//! appliance can confirm the wipe (the daemon shows it on Status). Format in
//! docs/factory-reset.md; init has no JSON library, so the few fields are written here.

/// Everything the record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The wipe method's id (`secure-discard`, `discard-zeroes`, `zeroout`, `write-zeroes`).
    pub method: String,
    /// The same in a sentence.
    pub method_detail: String,
    /// The data partition's device node, e.g. `/dev/sda6`.
    pub device: String,
    /// Bytes wiped: the whole partition.
    pub bytes: u64,
    /// 1 MiB blocks spread over the partition read back as zeroes after the wipe.
    pub verified_samples: u32,
    /// Unix seconds: the reset's first start, and the moment this record was written.
    pub started: u64,
    pub finished: u64,
    /// Power cuts or failed boots the reset resumed from.
    pub interruptions: u32,
    /// Bytes of slot B zeroed.
    pub slot_b_cleared_bytes: u64,
    /// Bytes copied from the factory partition into slot A, and the version they hold.
    pub factory_bytes: u64,
    pub factory_version: Option<String>,
    /// `poweroff` or `reboot`.
    pub then: String,
}

impl Record {
    pub fn to_json(&self) -> String {
        let version = match &self.factory_version {
            Some(v) => string(v),
            None => "null".to_string(),
        };
        format!(
            concat!(
                "{{\n",
                "  \"format\": 1,\n",
                "  \"method\": {},\n",
                "  \"method_detail\": {},\n",
                "  \"device\": {},\n",
                "  \"partition\": \"data\",\n",
                "  \"bytes\": {},\n",
                "  \"verified_samples\": {},\n",
                "  \"started\": {},\n",
                "  \"finished\": {},\n",
                "  \"started_unix\": {},\n",
                "  \"finished_unix\": {},\n",
                "  \"interruptions\": {},\n",
                "  \"slot_b_cleared_bytes\": {},\n",
                "  \"factory_bytes\": {},\n",
                "  \"factory_version\": {},\n",
                "  \"then\": {}\n",
                "}}\n"
            ),
            string(&self.method),
            string(&self.method_detail),
            string(&self.device),
            self.bytes,
            self.verified_samples,
            string(&units::rfc3339(self.started)),
            string(&units::rfc3339(self.finished)),
            self.started,
            self.finished,
            self.interruptions,
            self.slot_b_cleared_bytes,
            self.factory_bytes,
            version,
            string(&self.then),
        )
    }
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_nulls() {
        assert_eq!(string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        let r = Record {
            method: "zeroout".into(),
            method_detail: "BLKZEROOUT".into(),
            device: "/dev/sda6".into(),
            bytes: 8 << 30,
            verified_samples: 66,
            started: 1_700_000_000,
            finished: 1_700_000_090,
            interruptions: 2,
            slot_b_cleared_bytes: 256 << 20,
            factory_bytes: 15_613_952,
            factory_version: None,
            then: "poweroff".into(),
        };
        let json = r.to_json();
        assert!(json.contains("\"bytes\": 8589934592,\n"), "{json}");
        assert!(json.contains("\"started\": \"2023-11-14T22:13:20Z\",\n"));
        assert!(json.contains("\"factory_version\": null,\n"));
        assert!(json.contains("\"interruptions\": 2,\n"));
        assert!(json.ends_with("\"then\": \"poweroff\"\n}\n"));
    }
}

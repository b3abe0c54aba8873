//! The forwarding's position (`SEGMENT OFFSET AUDIT_ID`), kept across restarts of the
//! daemon within a boot.

use std::path::Path;

use logring::Cursor;

/// The saved position, if there is one that reads.
pub(super) fn load(file: &Path) -> Option<(Cursor, u64)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    let segment = it.next()?.ok()?;
    let offset = it.next()?.ok()?;
    let audit = it.next()?.ok()?;
    Some((Cursor { segment, offset }, audit))
}

/// Save it (a temporary file renamed over: a reader sees the old one or the new one).
pub(super) fn save(file: &Path, at: Cursor, audit: u64) {
    let tmp = file.with_extension("tmp");
    let written = std::fs::write(&tmp, format!("{} {} {audit}\n", at.segment, at.offset))
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        tracing::debug!(
            "cannot keep the syslog forwarding's position in {}: {e}",
            file.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_and_garbage_is_none() {
        let dir = crate::testdir::TestDir::new("forward-position");
        let file = dir.path().join("forwarding.pos");
        assert_eq!(load(&file), None);
        save(
            &file,
            Cursor {
                segment: 3,
                offset: 4096,
            },
            17,
        );
        assert_eq!(
            load(&file),
            Some((
                Cursor {
                    segment: 3,
                    offset: 4096
                },
                17
            ))
        );
        std::fs::write(&file, "3 x 17\n").unwrap();
        assert_eq!(load(&file), None);
    }
}

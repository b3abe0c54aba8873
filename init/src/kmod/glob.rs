//! fnmatch(3)-style glob matching (pure), as modprobe matches `modules.alias` patterns
//! against device modaliases: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\` escapes.

/// Does `pattern` match the whole of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, text index it covers up to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                b'?' => Some(pi + 1),
                b'[' => match class(&p[pi..], t[ti]) {
                    Some((true, len)) => Some(pi + len),
                    Some((false, _)) => None,
                    // An unterminated `[` is a literal, as in fnmatch.
                    None => (t[ti] == b'[').then_some(pi + 1),
                },
                b'\\' if pi + 1 < p.len() => (t[ti] == p[pi + 1]).then_some(pi + 2),
                c => (t[ti] == c).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Match `c` against the bracket expression at the start of `p` (which begins with `[`).
/// Returns (matched, length of the expression) or `None` if the bracket is not closed.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &lo = p.get(i)?;
        if lo == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

/// The literal text before the first wildcard: a cheap pre-filter before [`matches`].
pub fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    &pattern[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modalias_patterns_from_debian_kernel() {
        assert!(matches("acpi*:LNXPWRBN:*", "acpi:LNXPWRBN:"));
        assert!(matches("acpi*:PNP0C0C:*", "acpi:PNP0C0C:"));
        assert!(!matches("acpi*:PNP0C0C:*", "acpi:PNP0C0D:"));
        assert!(matches("scsi:t-0x00*", "scsi:t-0x00"));
        assert!(!matches("scsi:t-0x00*", "scsi:t-0x05"));
        assert!(matches("virtio:d00000002v*", "virtio:d00000002v00001AF4"));
        assert!(matches(
            "pci:v00008086d000025ABsv*sd*bc*sc*i*",
            "pci:v00008086d000025ABsv00001AF4sd00001100bc08sc80i00"
        ));
        assert!(!matches(
            "pci:v00008086d000025ABsv*sd*bc*sc*i*",
            "pci:v00008086d000025ACsv00001AF4sd00001100bc08sc80i00"
        ));
    }

    #[test]
    fn question_mark_classes_and_escapes() {
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("x[0-9]y", "x7y"));
        assert!(!matches("x[0-9]y", "xay"));
        assert!(matches("x[!0-9]y", "xay"));
        assert!(matches("x[^a]y", "xby"));
        assert!(matches("[]]", "]"));
        assert!(matches("a[bc", "a[bc"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("pci:*bc01sc06*", "pci:v1d2bc01sc06i01"));
    }

    #[test]
    fn stars_backtrack_and_anchor_at_both_ends() {
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abcd", "abc"));
        assert!(matches("**x", "yx"));
    }

    #[test]
    fn prefix_stops_at_first_wildcard() {
        assert_eq!(literal_prefix("pci:v00008086d*"), "pci:v00008086d");
        assert_eq!(literal_prefix("crc32c"), "crc32c");
        assert_eq!(literal_prefix("[ab]"), "");
    }
}

//! `/etc/appliance/release`: `KEY=VALUE` lines written by the image builder
//! (`VERSION`, `PROFILE`, `KERNEL`). Unknown keys are ignored so that later builders may add
//! some; blank lines and `#` comments are allowed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub version: String,
    /// `box` or `vm`.
    pub profile: String,
    /// Kernel release the slot carries; informational.
    pub kernel: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    #[error("line {line} ({text:?}) is not KEY=VALUE")]
    Line { line: usize, text: String },
    #[error("{0} is missing; the image builder writes it")]
    Missing(&'static str),
}

impl Release {
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let (mut version, mut profile, mut kernel) = (None, None, None);
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| Error::Line {
                line: n + 1,
                text: raw.to_string(),
            })?;
            // Tolerate shell-style quoting so the file can also be sourced by scripts.
            let value = value.trim().trim_matches('"').to_string();
            match key.trim() {
                "VERSION" => version = Some(value),
                "PROFILE" => profile = Some(value),
                "KERNEL" => kernel = Some(value),
                _ => {}
            }
        }
        Ok(Release {
            version: version
                .filter(|v| !v.is_empty())
                .ok_or(Error::Missing("VERSION"))?,
            profile: profile
                .filter(|v| !v.is_empty())
                .ok_or(Error::Missing("PROFILE"))?,
            kernel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_builders_file() {
        let r = Release::parse("VERSION=1.0.0\nPROFILE=box\nKERNEL=6.1.0-56-amd64\n").unwrap();
        assert_eq!(r.version, "1.0.0");
        assert_eq!(r.profile, "box");
        assert_eq!(r.kernel.as_deref(), Some("6.1.0-56-amd64"));
    }

    #[test]
    fn tolerates_comments_quotes_and_unknown_keys() {
        let r =
            Release::parse("# built by image\n\nVERSION=\"2.1.3\"\nBUILD=abc\nPROFILE=vm").unwrap();
        assert_eq!(r.version, "2.1.3");
        assert_eq!(r.profile, "vm");
        assert_eq!(r.kernel, None);
    }

    #[test]
    fn missing_keys_and_bad_lines_are_errors() {
        assert_eq!(
            Release::parse("PROFILE=vm\n"),
            Err(Error::Missing("VERSION"))
        );
        assert_eq!(
            Release::parse("VERSION=1\nPROFILE=\n"),
            Err(Error::Missing("PROFILE"))
        );
        assert_eq!(
            Release::parse("VERSION=1\ngarbage\n"),
            Err(Error::Line {
                line: 2,
                text: "garbage".into()
            })
        );
    }
}

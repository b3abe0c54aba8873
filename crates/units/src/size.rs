//! Sizes as people read them: powers of 1024 with one decimal.

/// `512 B`, `1.5 KiB`, `4.0 GiB`: powers of 1024, one decimal above bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Round first, so that 1023.96 KiB shows as "1.0 MiB", not "1024.0 KiB".
    while (value * 10.0).round() / 10.0 >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 << 20), "20.0 MiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(4 << 30), "4.0 GiB");
        assert_eq!(bytes(5000 << 30), "4.9 TiB");
        assert_eq!(bytes((1 << 20) - 20), "1.0 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }
}

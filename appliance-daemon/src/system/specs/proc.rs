//! `/proc/cpuinfo`, `/proc/meminfo`, `/proc/uptime` and `/proc/loadavg`.

pub(crate) use api_types::Cpu;

pub(crate) use api_types::Memory;

/// None when the text names no processor.
pub(super) fn parse_cpuinfo(text: &str) -> Option<Cpu> {
    let (mut cores, mut model, mut mhz) = (0u32, None, None);
    for (key, value) in text.lines().filter_map(|l| l.split_once(':')) {
        match key.trim() {
            "processor" => cores += 1,
            "model name" if model.is_none() => model = Some(value.trim().to_string()),
            "cpu MHz" if mhz.is_none() => mhz = value.trim().parse().ok(),
            _ => {}
        }
    }
    (cores > 0).then_some(Cpu {
        model: model.filter(|m| !m.is_empty()),
        logical_cores: cores,
        mhz,
    })
}

/// None without `MemTotal`. Kernels before 3.14 have no `MemAvailable`; `MemFree` stands in.
pub(super) fn parse_meminfo(text: &str) -> Option<Memory> {
    let kib = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let number = rest.trim().strip_suffix("kB")?.trim();
            number.parse::<u64>().ok().map(|n| n * 1024)
        })
    };
    Some(Memory {
        total_bytes: kib("MemTotal")?,
        available_bytes: kib("MemAvailable").or_else(|| kib("MemFree"))?,
    })
}

/// Whole seconds since boot (the first field).
pub(super) fn parse_uptime(text: &str) -> Option<u64> {
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds as u64)
}

/// The 1, 5 and 15 minute load averages (the first three fields).
pub(super) fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/cpuinfo` of a two-core AMD EPYC virtual machine, flags trimmed.
    const CPUINFO_EPYC: &str = "\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2445.428
cache size\t: 512 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 2
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr hypervisor
bogomips\t: 4890.85
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
cpu MHz\t\t: 2445.428
core id\t\t: 1
cpu cores\t: 2
power management:

";

    #[test]
    fn cpuinfo_counts_processors_and_takes_the_first_model() {
        let cpu = parse_cpuinfo(CPUINFO_EPYC).unwrap();
        assert_eq!(cpu.model.as_deref(), Some("AMD EPYC"));
        assert_eq!(cpu.logical_cores, 2);
        assert_eq!(cpu.mhz, Some(2445.428));
    }

    #[test]
    fn cpuinfo_without_model_or_mhz() {
        // ARM64 kernels name neither.
        let cpu =
            parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n").unwrap();
        assert_eq!((cpu.model, cpu.logical_cores, cpu.mhz), (None, 1, None));
        assert_eq!(parse_cpuinfo(""), None);
    }

    #[test]
    fn meminfo_in_bytes() {
        let text = "MemTotal:       24684092 kB\nMemFree:        24194248 kB\n\
                    MemAvailable:   24271460 kB\nBuffers:            5096 kB\n\
                    HugePages_Total:       0\n";
        let mem = parse_meminfo(text).unwrap();
        assert_eq!(mem.total_bytes, 24_684_092 * 1024);
        assert_eq!(mem.available_bytes, 24_271_460 * 1024);
    }

    #[test]
    fn meminfo_falls_back_to_memfree_and_needs_memtotal() {
        let mem = parse_meminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n").unwrap();
        assert_eq!(mem.available_bytes, 1024 * 1024);
        assert_eq!(parse_meminfo("MemFree: 1024 kB\n"), None);
        // A prefix of another key is not that key.
        assert_eq!(parse_meminfo("MemTotalX: 1 kB\n"), None);
    }

    #[test]
    fn uptime_and_loadavg() {
        assert_eq!(parse_uptime("11896.59 15287.91\n"), Some(11896));
        assert_eq!(parse_uptime("garbage"), None);
        assert_eq!(
            parse_loadavg("0.16 0.09 0.28 1/85 15880\n"),
            Some([0.16, 0.09, 0.28])
        );
        assert_eq!(parse_loadavg("0.16 0.09\n"), None);
    }
}

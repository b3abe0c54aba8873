//! Arbitrary bytes read as a package, as an installer reads one: signatures checked
//! against a fixed keyring, every payload drained to its verdict. Seed corpus: the valid
//! packages of `tests/mutations.rs` (`run-briefly` writes them).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use package::{fuzzing, Keyring};

fuzz_target!(|data: &[u8]| {
    static RING: OnceLock<Keyring> = OnceLock::new();
    let ring = RING.get_or_init(fuzzing::keyring);
    let _ = fuzzing::read_untrusted(data, ring);
});

//! The Reed-Solomon redundancy GRUB's i386-pc core image carries in the spare sectors of
//! its embedding area: if a BIOS boot partition sector is damaged, the core's startup code
//! recovers the compressed kernel from these parity bytes (GRUB's
//! `grub_reed_solomon_add_redundancy`, whose layout this reproduces byte for byte).
//!
//! Layout: the data is cut into blocks of at most 200 sectors (data plus parity); within a
//! block, byte `i` of every data sector forms one code word with byte `i` of every parity
//! sector. Each code word is a systematic RS code over GF(2^8) (polynomial 0x11d), whose
//! generator has the roots alpha^0 .. alpha^(r-1) (checked byte for byte against Debian
//! 12's `grub-bios-setup`, GRUB 2.06).

const SECTOR: usize = 512;
const MAX_BLOCK: usize = 200 * SECTOR;
/// The low byte of x^8 + x^4 + x^3 + x^2 + 1.
const POLY: u16 = 0x1d;

struct Field {
    exp: [u8; 512],
    log: [u8; 256],
}

impl Field {
    fn new() -> Self {
        let mut f = Field {
            exp: [0; 512],
            log: [0; 256],
        };
        let mut x: u16 = 1;
        for i in 0..255 {
            f.exp[i] = x as u8;
            f.exp[i + 255] = x as u8;
            f.log[x as usize] = i as u8;
            x <<= 1;
            if x & 0x100 != 0 {
                x ^= 0x100 | POLY;
            }
        }
        f
    }

    fn mul(&self, a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            return 0;
        }
        self.exp[self.log[a as usize] as usize + self.log[b as usize] as usize]
    }

    /// Coefficients of prod_{j=0..n-1} (x + alpha^j), highest degree first (monic).
    fn generator(&self, n: usize) -> Vec<u8> {
        let mut g = vec![0u8; n + 1];
        g[n] = 1;
        for j in 0..n {
            let a = self.exp[j % 255];
            for i in 0..n {
                g[i] = g[i + 1] ^ self.mul(a, g[i]);
            }
            g[n] = self.mul(a, g[n]);
        }
        g
    }

    /// The remainder of data(x) * x^n divided by the generator: the parity bytes.
    fn parity(&self, data: &[u8], generator: &[u8]) -> Vec<u8> {
        let n = generator.len() - 1;
        let mut m = data.to_vec();
        m.resize(data.len() + n, 0);
        for j in 0..data.len() {
            let f = m[j];
            if f != 0 {
                for (i, g) in generator.iter().enumerate() {
                    m[i + j] ^= self.mul(*g, f);
                }
            }
        }
        m.split_off(data.len())
    }
}

/// Fills `buf[data_len..]` with the redundancy of `buf[..data_len]`.
pub(super) fn add_redundancy(buf: &mut [u8], data_len: usize) {
    let field = Field::new();
    let (mut data, mut parity) = buf.split_at_mut(data_len);
    let (mut s, mut rs) = (data.len(), parity.len());
    while s > 0 && rs > 0 {
        let (mut cs, mut crs) = (s, rs);
        let total = cs + crs;
        if total > MAX_BLOCK {
            cs = cs * (MAX_BLOCK / SECTOR) / total * SECTOR;
            crs = crs * (MAX_BLOCK / SECTOR) / total * SECTOR;
        }
        if cs == 0 {
            // Too little parity space for a whole sector per block: GRUB would loop
            // forever here; the last sectors simply stay unprotected.
            break;
        }
        encode_block(&field, &data[..cs], &mut parity[..crs]);
        data = &mut data[cs..];
        parity = &mut parity[crs..];
        s -= cs;
        rs -= crs;
    }
}

fn encode_block(field: &Field, data: &[u8], parity: &mut [u8]) {
    let mut generators: Vec<Option<Vec<u8>>> = Vec::new();
    for i in 0..SECTOR {
        let ds = (data.len() + SECTOR - 1 - i) / SECTOR;
        let rr = (parity.len() + SECTOR - 1 - i) / SECTOR;
        if generators.len() <= rr {
            generators.resize(rr + 1, None);
        }
        let g = generators[rr].get_or_insert_with(|| field.generator(rr));
        let word: Vec<u8> = (0..ds).map(|j| data[j * SECTOR + i]).collect();
        for (j, p) in field.parity(&word, g).into_iter().enumerate() {
            parity[j * SECTOR + i] = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_multiplication_matches_shift_and_reduce() {
        let f = Field::new();
        let slow = |a: u8, b: u8| {
            let mut r: u16 = 0;
            for i in 0..8 {
                if b & (1 << i) != 0 {
                    r ^= u16::from(a) << i;
                }
            }
            for i in (0..8).rev() {
                if r & (1 << (i + 8)) != 0 {
                    r ^= (0x100 | POLY) << i;
                }
            }
            r as u8
        };
        for a in [0u8, 1, 2, 3, 0x53, 0x8e, 0xff] {
            for b in [0u8, 1, 2, 0x1d, 0xca, 0xff] {
                assert_eq!(f.mul(a, b), slow(a, b), "{a:#x} * {b:#x}");
            }
        }
    }

    #[test]
    fn every_code_word_is_divisible_by_the_generator() {
        // A code word evaluates to zero at each root alpha^0..alpha^(n-1) of the generator.
        let f = Field::new();
        let data: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
        let g = f.generator(6);
        let word: Vec<u8> = data.iter().copied().chain(f.parity(&data, &g)).collect();
        for j in 0..6 {
            let x = f.exp[j];
            let value = word.iter().fold(0u8, |acc, c| f.mul(acc, x) ^ c);
            assert_eq!(value, 0, "root alpha^{j}");
        }
    }

    #[test]
    fn redundancy_goes_column_wise_after_the_data() {
        let mut buf = vec![0u8; 3 * SECTOR];
        for (i, b) in buf[..2 * SECTOR].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let before = buf[..2 * SECTOR].to_vec();
        add_redundancy(&mut buf, 2 * SECTOR);
        assert_eq!(&buf[..2 * SECTOR], &before[..], "data untouched");
        let f = Field::new();
        let g = f.generator(1);
        for i in [0, 100, 511] {
            let p = f.parity(&[before[i], before[SECTOR + i]], &g);
            assert_eq!(buf[2 * SECTOR + i], p[0]);
        }
    }
}

//! Where client masking keys come from (RFC 6455 §5.3): the [`MaskSource`] trait, [`NoMask`]
//! for servers, and [`ChaChaMask`], a ChaCha keystream seeded once from a secret.

/// Where a client gets its masking keys (RFC 6455 §5.3: "unpredictable", from a strong source).
///
/// Implemented by [`ChaChaMask`] (a ChaCha20 keystream), by [`NoMask`] (for the server role, which
/// never masks), and by any `FnMut() -> [u8; 4]` closure, which is handy in tests.
pub trait MaskSource {
    /// Returns the key for the next client frame.
    fn next_key(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4]> MaskSource for F {
    #[inline]
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// The mask source of a server, which never masks (RFC 6455 §5.1). Yields zero keys if misused.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMask;

impl MaskSource for NoMask {
    #[inline]
    fn next_key(&mut self) -> [u8; 4] {
        [0; 4]
    }
}

/// Masking keys from a ChaCha20 keystream (RFC 8439 block function), 16 keys per block.
///
/// Seed it from a secret, unpredictable source: [`ChaChaMask::from_entropy`] (feature `std`)
/// draws the seed from the operating system once; on `no_std` pass 32 random bytes to
/// [`ChaChaMask::from_seed`]. Each block costs about as much as one small frame, far less than
/// one system call per frame.
#[derive(Clone)]
pub struct ChaChaMask {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: u8,
}

impl core::fmt::Debug for ChaChaMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChaChaMask { .. }") // never print the key
    }
}

impl ChaChaMask {
    /// A keystream from a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut key = [0u32; 8];
        for (k, chunk) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        ChaChaMask { key, counter: 0, block: [0; 64], used: 64 }
    }

    /// A keystream seeded from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system has no random source at all (`getrandom` fails), since masking
    /// with a guessable key would silently weaken the protocol (RFC 6455 §10.3).
    #[cfg(feature = "std")]
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random source is unavailable");
        Self::from_seed(seed)
    }

    fn refill(&mut self) {
        self.block = chacha20_block(&self.key, self.counter, [0; 3]);
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

#[cfg(feature = "std")]
impl Default for ChaChaMask {
    fn default() -> Self {
        Self::from_entropy()
    }
}

impl MaskSource for ChaChaMask {
    #[inline]
    fn next_key(&mut self) -> [u8; 4] {
        if self.used >= 64 {
            self.refill();
        }
        let i = self.used as usize;
        self.used += 4;
        [self.block[i], self.block[i + 1], self.block[i + 2], self.block[i + 3]]
    }
}

#[inline(always)]
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha20 block function of RFC 8439 §2.3 (32-bit counter and 96-bit nonce there; here the
/// low counter word and the first nonce word together form a 64-bit block counter).
fn chacha20_block(key: &[u32; 8], counter: u64, nonce: [u32; 3]) -> [u8; 64] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    init[4..12].copy_from_slice(key);
    init[12] = counter as u32;
    init[13] = nonce[0] ^ (counter >> 32) as u32;
    init[14] = nonce[1];
    init[15] = nonce[2];
    let mut s = init;
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&s[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_matches_rfc8439_2_3_2() {
        // RFC 8439 §2.3.2 test vector: key 00..1f, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
        let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
        let m = ChaChaMask::from_seed(seed);
        let out = chacha20_block(&m.key, 1, [0x0900_0000, 0x4a00_0000, 0]);
        assert_eq!(&out[..8], &[0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15]);
        assert_eq!(&out[56..], &[0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e]);
    }

    #[test]
    fn keystream_does_not_repeat_across_blocks() {
        let mut m = ChaChaMask::from_seed([7; 32]);
        let keys: [[u8; 4]; 48] = core::array::from_fn(|_| m.next_key());
        assert_ne!(keys[..16], keys[16..32]);
        assert_ne!(keys[0], keys[1]);
    }

    #[cfg(feature = "std")]
    #[test]
    fn entropy_seeded_sources_differ() {
        let mut a = ChaChaMask::from_entropy();
        let mut b = ChaChaMask::from_entropy();
        let ka: [[u8; 4]; 4] = core::array::from_fn(|_| a.next_key());
        let kb: [[u8; 4]; 4] = core::array::from_fn(|_| b.next_key());
        assert_ne!(ka, kb);
    }
}

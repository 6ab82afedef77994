//! Where client masking keys come from (RFC 6455 §5.3): the [`MaskSource`] trait, [`NoMask`]
//! for servers, and [`ChaChaMask`], a ChaCha20 keystream seeded once from a secret.

use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;

/// Where a client gets its masking keys (RFC 6455 §5.3: "unpredictable", from a strong source).
///
/// Implemented by [`ChaChaMask`] (a ChaCha20 keystream seeded from the OS or your seed). On a
/// `no_std` target, implement it over your hardware RNG. [`Connection::client`] takes any
/// `MaskSource`; constant keys need a constructor that says what they are for,
/// [`Connection::client_with_test_masks`].
///
/// [`Connection::client`]: crate::Connection::client
/// [`Connection::client_with_test_masks`]: crate::Connection::client_with_test_masks
pub trait MaskSource {
    /// Returns the key for the next client frame.
    fn next_key(&mut self) -> [u8; 4];
}

/// The mask parameter of a [`Connection`](crate::Connection): [`NoMask`] for a server, any
/// [`MaskSource`] for a client. Sealed: the two cases are all there is.
pub trait Masking: sealed::Sealed {
    /// The key for the next frame (never called for a server).
    #[doc(hidden)]
    fn next_mask_key(&mut self) -> [u8; 4];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoMask {}
    impl<M: super::MaskSource> Sealed for M {}
}

impl<M: MaskSource> Masking for M {
    #[inline(always)]
    fn next_mask_key(&mut self) -> [u8; 4] {
        self.next_key()
    }
}

/// The mask parameter of a server, which never masks (RFC 6455 §5.1). It is no
/// [`MaskSource`], so a client cannot be built with it.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMask;

impl Masking for NoMask {
    #[inline]
    fn next_mask_key(&mut self) -> [u8; 4] {
        [0; 4]
    }
}

/// Predictable keys from a closure, for tests and fuzzing only: see
/// [`Connection::client_with_test_masks`](crate::Connection::client_with_test_masks).
#[derive(Clone, Copy, Debug)]
pub struct TestMasks<F>(pub F);

impl<F: FnMut() -> [u8; 4]> MaskSource for TestMasks<F> {
    #[inline]
    fn next_key(&mut self) -> [u8; 4] {
        (self.0)()
    }
}

/// Masking keys from a ChaCha20 keystream: rust-random's [`rand_chacha`] generator, 4 bytes per
/// key, computed 256 bytes (64 keys) at a time with SIMD.
///
/// Seed it from a secret, unpredictable source: [`ChaChaMask::from_entropy`] (feature `std`)
/// draws the seed from the operating system once; on `no_std` pass 32 random bytes to
/// [`ChaChaMask::from_seed`]. A key costs a few nanoseconds, far less than one system call per
/// frame, and stays unpredictable to anyone who does not know the seed (RFC 6455 §10.3).
#[derive(Clone)]
pub struct ChaChaMask {
    rng: ChaCha20Rng,
}

impl core::fmt::Debug for ChaChaMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChaChaMask { .. }") // never print the key or the buffered keystream
    }
}

impl ChaChaMask {
    /// A keystream from a 32-byte secret seed (the ChaCha20 key; counter and stream start at 0).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        ChaChaMask { rng: ChaCha20Rng::from_seed(seed) }
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
        // Little-endian: the keystream's bytes in order.
        self.rng.next_u32().to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 Appendix A.1, test vectors #1 and #2: the ChaCha20 keystream for the all-zero key
    /// and nonce, blocks 0 and 1 (block 1 is where the 17th key starts).
    #[test]
    fn keys_are_the_chacha20_keystream_of_rfc8439_a_1() {
        let mut m = ChaChaMask::from_seed([0; 32]);
        let keys: [[u8; 4]; 18] = core::array::from_fn(|_| m.next_key());
        assert_eq!(keys[0], [0x76, 0xb8, 0xe0, 0xad]);
        assert_eq!(keys[1], [0xa0, 0xf1, 0x3d, 0x90]);
        assert_eq!(keys[15], [0xb2, 0xee, 0x65, 0x86]);
        assert_eq!(keys[16], [0x9f, 0x07, 0xe7, 0xbe]);
        assert_eq!(keys[17], [0x55, 0x51, 0x38, 0x7a]);
    }

    #[test]
    fn keystream_does_not_repeat_across_blocks() {
        let mut m = ChaChaMask::from_seed([7; 32]);
        let keys: [[u8; 4]; 48] = core::array::from_fn(|_| m.next_key());
        assert_ne!(keys[..16], keys[16..32]);
        assert_ne!(keys[0], keys[1]);
    }

    #[test]
    fn debug_shows_no_state() {
        extern crate std;
        use std::format;
        assert_eq!(format!("{:?}", ChaChaMask::from_seed([7; 32])), "ChaChaMask { .. }");
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

//! Capsule type fingerprints: the hash of a capsule's code that names its type on the wire.
//!
//! Owns [`Fingerprint`] (an algorithm plus a digest), its text form (what `ants inspect`
//! prints and what configuration files and logs use), and [`FingerprintPolicy`], the set of
//! algorithms a node accepts. A fingerprint is what makes demand-loaded code trustworthy: a
//! node only runs module bytes whose hash equals the capsule's type, so a neighbour cannot
//! substitute other code without finding a collision.
//!
//! SHA-256 is the default and the only algorithm accepted unless a node opts in to MD5, the
//! type of the original ANTS toolkit. MD5 collisions are cheap to compute, so an MD5 type does
//! not protect against code spoofing; it exists only to interoperate with legacy setups.
//!
//! This module never decides what to do with a mismatch (the soft-store and the node core
//! count and drop), and never allocates on the hot path: fingerprints are small `Copy` values.

use core::fmt;
use core::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256};

/// Longest digest of any supported algorithm (SHA-256).
pub const MAX_DIGEST_LEN: usize = 32;

/// A hash algorithm a capsule type can be computed with. The discriminant is the wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FingerprintAlgorithm {
    /// SHA-256 (32-byte digest). The default and the only algorithm safe against spoofing.
    Sha256 = 1,
    /// MD5 (16-byte digest), the type of the original ANTS toolkit. Legacy only: collisions
    /// are cheap, so an attacker can craft two modules with the same MD5 type.
    Md5 = 2,
}

impl FingerprintAlgorithm {
    /// Every supported algorithm, in wire-code order.
    pub const ALL: [FingerprintAlgorithm; 2] =
        [FingerprintAlgorithm::Sha256, FingerprintAlgorithm::Md5];

    /// The algorithm for a wire code, if it is one this version knows.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(FingerprintAlgorithm::Sha256),
            2 => Some(FingerprintAlgorithm::Md5),
            _ => None,
        }
    }

    /// The wire code (1 for SHA-256, 2 for MD5).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Digest length in bytes (32 for SHA-256, 16 for MD5).
    pub const fn digest_len(self) -> usize {
        match self {
            FingerprintAlgorithm::Sha256 => 32,
            FingerprintAlgorithm::Md5 => 16,
        }
    }

    /// Short lowercase name, also the prefix of the text form (`sha256`, `md5`).
    pub const fn name(self) -> &'static str {
        match self {
            FingerprintAlgorithm::Sha256 => "sha256",
            FingerprintAlgorithm::Md5 => "md5",
        }
    }
}

impl fmt::Display for FingerprintAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a fingerprint could not be built, parsed or accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// A digest of the wrong length was given for the algorithm.
    #[error("a {algorithm} digest is {expected} bytes, got {actual}")]
    DigestLength {
        /// The algorithm the digest was given for.
        algorithm: FingerprintAlgorithm,
        /// The algorithm's digest length.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// The text has a `name:` prefix that names no supported algorithm.
    #[error(
        "unknown fingerprint algorithm prefix; use `sha256:` or `md5:` (or 64 bare hex digits)"
    )]
    UnknownPrefix,
    /// The text has the wrong number of hex digits for its algorithm.
    #[error("a {algorithm} fingerprint is {expected} hex digits, got {actual}")]
    TextLength {
        /// The algorithm the text was read as.
        algorithm: FingerprintAlgorithm,
        /// Hex digits the algorithm needs.
        expected: usize,
        /// Characters found after the prefix.
        actual: usize,
    },
    /// The text contains a character that is not a hex digit.
    #[error("fingerprint has a non-hex character {character:?} at position {index}")]
    InvalidHex {
        /// The offending character.
        character: char,
        /// Its position in the digest part of the text (after any prefix).
        index: usize,
    },
    /// The node's [`FingerprintPolicy`] does not accept this algorithm.
    #[error(
        "capsule types hashed with {0} are not accepted by this node; MD5 must be enabled \
         explicitly (it is unsafe against code spoofing)"
    )]
    AlgorithmNotAllowed(FingerprintAlgorithm),
}

impl FingerprintError {
    /// A short, stable snake_case name for counters and logs.
    pub const fn name(&self) -> &'static str {
        match self {
            FingerprintError::DigestLength { .. } => "digest_length",
            FingerprintError::UnknownPrefix => "unknown_prefix",
            FingerprintError::TextLength { .. } => "text_length",
            FingerprintError::InvalidHex { .. } => "invalid_hex",
            FingerprintError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
        }
    }
}

/// A capsule type: the digest of the capsule's WebAssembly module under one algorithm.
///
/// Ordering is by algorithm, then digest bytes. The text form ([`fmt::Display`]) is 64 lowercase
/// hex digits for SHA-256 (the SHA-256 of the module bytes, as `ants inspect` prints it) and
/// `md5:` followed by 32 hex digits for MD5; [`FromStr`] accepts those forms, `sha256:` followed
/// by 64 hex digits, and hex digits in either case.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint {
    algorithm: FingerprintAlgorithm,
    // Bytes past the algorithm's digest length are always zero, so the derived `Eq` and `Ord`
    // only ever see the digest.
    bytes: [u8; MAX_DIGEST_LEN],
}

/// Hashes the first 8 digest bytes only: a digest is already uniformly distributed, and the
/// fingerprint is looked up on every capsule (code cache, sandbox instances), so hashing all 32
/// bytes is wasted work. Tables keyed by fingerprints keep their own random seed, so chosen
/// fingerprints still cannot aim at one bucket.
impl std::hash::Hash for Fingerprint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.bytes[..8]);
        state.write_u64(u64::from_le_bytes(head) ^ self.algorithm as u64);
    }
}

impl Fingerprint {
    /// The fingerprint of `module` under `algorithm`.
    pub fn of(algorithm: FingerprintAlgorithm, module: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        match algorithm {
            FingerprintAlgorithm::Sha256 => bytes.copy_from_slice(&Sha256::digest(module)),
            FingerprintAlgorithm::Md5 => bytes[..16].copy_from_slice(&Md5::digest(module)),
        }
        Fingerprint { algorithm, bytes }
    }

    /// The SHA-256 fingerprint of `module` (the default capsule type).
    pub fn sha256(module: &[u8]) -> Self {
        Self::of(FingerprintAlgorithm::Sha256, module)
    }

    /// The MD5 fingerprint of `module`. Legacy only: unsafe against code spoofing.
    pub fn md5(module: &[u8]) -> Self {
        Self::of(FingerprintAlgorithm::Md5, module)
    }

    /// A fingerprint from a digest computed elsewhere (read off the wire, for example).
    pub fn from_digest(
        algorithm: FingerprintAlgorithm,
        digest: &[u8],
    ) -> Result<Self, FingerprintError> {
        let expected = algorithm.digest_len();
        if digest.len() != expected {
            return Err(FingerprintError::DigestLength {
                algorithm,
                expected,
                actual: digest.len(),
            });
        }
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        bytes[..expected].copy_from_slice(digest);
        Ok(Fingerprint { algorithm, bytes })
    }

    /// The algorithm the digest was computed with.
    pub const fn algorithm(&self) -> FingerprintAlgorithm {
        self.algorithm
    }

    /// The digest bytes (32 for SHA-256, 16 for MD5).
    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.algorithm.digest_len()]
    }

    /// Whether `module` hashes to this fingerprint under its algorithm.
    pub fn matches(&self, module: &[u8]) -> bool {
        Fingerprint::of(self.algorithm, module) == *self
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.algorithm != FingerprintAlgorithm::Sha256 {
            write!(f, "{}:", self.algorithm.name())?;
        }
        for byte in self.digest() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always name the algorithm in debug output, so logs are unambiguous.
        if self.algorithm == FingerprintAlgorithm::Sha256 {
            write!(f, "Fingerprint(sha256:{self})")
        } else {
            write!(f, "Fingerprint({self})")
        }
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Self, FingerprintError> {
        let (algorithm, digits) = match text.split_once(':') {
            None => (FingerprintAlgorithm::Sha256, text),
            Some((prefix, digits)) => {
                let algorithm = FingerprintAlgorithm::ALL
                    .into_iter()
                    .find(|a| prefix.eq_ignore_ascii_case(a.name()))
                    .ok_or(FingerprintError::UnknownPrefix)?;
                (algorithm, digits)
            }
        };
        let expected = algorithm.digest_len() * 2;
        // Report non-hex characters first: "wrong length" is misleading for non-ASCII text.
        if let Some((index, character)) =
            digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit())
        {
            return Err(FingerprintError::InvalidHex { character, index });
        }
        if digits.len() != expected {
            return Err(FingerprintError::TextLength {
                algorithm,
                expected,
                actual: digits.len(),
            });
        }
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let digest = &mut bytes[..algorithm.digest_len()];
        // Cannot fail: the length and every character were checked above.
        hex::decode_to_slice(digits, digest).map_err(|_| FingerprintError::TextLength {
            algorithm,
            expected,
            actual: digits.len(),
        })?;
        Ok(Fingerprint { algorithm, bytes })
    }
}

/// Which fingerprint algorithms a node accepts as capsule types.
///
/// The default accepts SHA-256 only. [`FingerprintPolicy::allow_legacy_md5`] also accepts MD5,
/// for interoperation with legacy setups; it makes the node open to code spoofing, because
/// anyone can cheaply build a second module with the same MD5 type as a deployed one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FingerprintPolicy {
    md5: bool,
}

impl FingerprintPolicy {
    /// SHA-256 only (the default).
    pub const fn sha256_only() -> Self {
        FingerprintPolicy { md5: false }
    }

    /// SHA-256 and MD5. Unsafe against code spoofing: use only with legacy peers on a
    /// network whose code sources are trusted.
    pub const fn allow_legacy_md5() -> Self {
        FingerprintPolicy { md5: true }
    }

    /// Whether capsule types hashed with `algorithm` are accepted.
    pub const fn accepts(&self, algorithm: FingerprintAlgorithm) -> bool {
        match algorithm {
            FingerprintAlgorithm::Sha256 => true,
            FingerprintAlgorithm::Md5 => self.md5,
        }
    }

    /// `Ok` when `fingerprint`'s algorithm is accepted, otherwise the reason to drop it.
    pub const fn check(&self, fingerprint: &Fingerprint) -> Result<(), FingerprintError> {
        if self.accepts(fingerprint.algorithm) {
            Ok(())
        } else {
            Err(FingerprintError::AlgorithmNotAllowed(fingerprint.algorithm))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference digests of "abc" (FIPS 180-2 and RFC 1321 test vectors).
    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

    #[test]
    fn digests_match_reference_vectors() {
        let sha = Fingerprint::sha256(b"abc");
        assert_eq!(sha.algorithm(), FingerprintAlgorithm::Sha256);
        assert_eq!(hex::encode(sha.digest()), ABC_SHA256);
        let md5 = Fingerprint::md5(b"abc");
        assert_eq!(md5.algorithm(), FingerprintAlgorithm::Md5);
        assert_eq!(hex::encode(md5.digest()), ABC_MD5);
        assert_eq!(Fingerprint::of(FingerprintAlgorithm::Md5, b"abc"), md5);
    }

    #[test]
    fn matches_only_the_hashed_bytes() {
        for alg in FingerprintAlgorithm::ALL {
            let fp = Fingerprint::of(alg, b"module");
            assert!(fp.matches(b"module"));
            assert!(!fp.matches(b"modulE"));
            assert!(!fp.matches(b""));
        }
    }

    #[test]
    fn display_forms() {
        assert_eq!(Fingerprint::sha256(b"abc").to_string(), ABC_SHA256);
        assert_eq!(
            Fingerprint::md5(b"abc").to_string(),
            format!("md5:{ABC_MD5}")
        );
        assert_eq!(
            format!("{:?}", Fingerprint::sha256(b"abc")),
            format!("Fingerprint(sha256:{ABC_SHA256})")
        );
    }

    #[test]
    fn parses_every_accepted_form() {
        let sha = Fingerprint::sha256(b"abc");
        let md5 = Fingerprint::md5(b"abc");
        assert_eq!(ABC_SHA256.parse::<Fingerprint>(), Ok(sha));
        assert_eq!(format!("sha256:{ABC_SHA256}").parse(), Ok(sha));
        assert_eq!(
            format!("SHA256:{}", ABC_SHA256.to_uppercase()).parse(),
            Ok(sha)
        );
        assert_eq!(format!("md5:{ABC_MD5}").parse(), Ok(md5));
        assert_eq!(format!("MD5:{}", ABC_MD5.to_uppercase()).parse(), Ok(md5));
    }

    #[test]
    fn rejects_malformed_text_with_reasons() {
        assert_eq!(
            ABC_MD5.parse::<Fingerprint>(),
            Err(FingerprintError::TextLength {
                algorithm: FingerprintAlgorithm::Sha256,
                expected: 64,
                actual: 32
            })
        );
        assert_eq!(
            format!("md5:{ABC_SHA256}").parse::<Fingerprint>(),
            Err(FingerprintError::TextLength {
                algorithm: FingerprintAlgorithm::Md5,
                expected: 32,
                actual: 64
            })
        );
        assert_eq!(
            format!("sha1:{ABC_SHA256}").parse::<Fingerprint>(),
            Err(FingerprintError::UnknownPrefix)
        );
        let mut bad = ABC_SHA256.to_string();
        bad.replace_range(10..11, "g");
        assert_eq!(
            bad.parse::<Fingerprint>(),
            Err(FingerprintError::InvalidHex {
                character: 'g',
                index: 10
            })
        );
        assert_eq!(
            "é".repeat(32).parse::<Fingerprint>(),
            Err(FingerprintError::InvalidHex {
                character: 'é',
                index: 0
            })
        );
        assert_eq!(
            "".parse::<Fingerprint>().map_err(|e| e.name()),
            Err("text_length")
        );
    }

    #[test]
    fn from_digest_checks_length() {
        let fp = Fingerprint::sha256(b"abc");
        assert_eq!(
            Fingerprint::from_digest(FingerprintAlgorithm::Sha256, fp.digest()),
            Ok(fp)
        );
        assert_eq!(
            Fingerprint::from_digest(FingerprintAlgorithm::Md5, fp.digest()),
            Err(FingerprintError::DigestLength {
                algorithm: FingerprintAlgorithm::Md5,
                expected: 16,
                actual: 32
            })
        );
    }

    #[test]
    fn algorithms_never_compare_equal() {
        // Same leading bytes under different algorithms are different types.
        let digest = [7u8; 32];
        let sha = Fingerprint::from_digest(FingerprintAlgorithm::Sha256, &digest).unwrap();
        let md5 = Fingerprint::from_digest(FingerprintAlgorithm::Md5, &digest[..16]).unwrap();
        assert_ne!(sha, md5);
        assert!(sha < md5, "ordered by algorithm first");
    }

    #[test]
    fn policy_defaults_to_sha256_only() {
        let strict = FingerprintPolicy::default();
        assert_eq!(strict, FingerprintPolicy::sha256_only());
        assert!(strict.accepts(FingerprintAlgorithm::Sha256));
        assert!(!strict.accepts(FingerprintAlgorithm::Md5));
        assert_eq!(strict.check(&Fingerprint::sha256(b"x")), Ok(()));
        assert_eq!(
            strict.check(&Fingerprint::md5(b"x")),
            Err(FingerprintError::AlgorithmNotAllowed(
                FingerprintAlgorithm::Md5
            ))
        );
        let legacy = FingerprintPolicy::allow_legacy_md5();
        assert_eq!(legacy.check(&Fingerprint::md5(b"x")), Ok(()));
        assert_eq!(legacy.check(&Fingerprint::sha256(b"x")), Ok(()));
    }

    #[test]
    fn wire_codes_round_trip() {
        for alg in FingerprintAlgorithm::ALL {
            assert_eq!(FingerprintAlgorithm::from_code(alg.code()), Some(alg));
        }
        assert_eq!(FingerprintAlgorithm::from_code(0), None);
        assert_eq!(FingerprintAlgorithm::from_code(3), None);
    }
}

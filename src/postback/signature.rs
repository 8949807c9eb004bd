//! Signed postbacks: HMAC-SHA256 over the signing time and the payload.

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use url::form_urlencoded;

use crate::ids::Excerpt;
use crate::postback::error::SignatureError;

type HmacSha256 = Hmac<Sha256>;

/// The header that carries the signature, as lower-case hex.
pub const SIGNATURE_HEADER: &str = "X-Attributor-Signature";
/// The header that carries the signing time, in whole unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Attributor-Timestamp";
/// The parameter that carries the signature, last in the parameter list.
pub const SIGNATURE_PARAM: &str = "signature";
/// The parameter that carries the signing time, in whole unix seconds.
pub const SIGNED_AT_PARAM: &str = "signed_at";
/// How far the signing time may be from `now`, either way, by default:
/// five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Signs postbacks, as a sender does; see [`PostbackVerifier`] for the
/// scheme.
///
/// ```
/// use attributor::PostbackSigner;
/// use chrono::{TimeZone, Utc};
///
/// let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
/// let signer = PostbackSigner::new(b"whsec-2026");
/// let signed = signer.sign_params("transaction_id=ORD-1&event=purchase&timestamp=1780315200", now);
/// assert!(signed.starts_with("transaction_id=ORD-1&event=purchase&timestamp=1780315200&signed_at=1780315200&signature="));
/// assert_eq!(signer.sign(now, b"body").len(), 64);
/// ```
#[derive(Clone)]
pub struct PostbackSigner {
    secret: Arc<[u8]>,
}

impl fmt::Debug for PostbackSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostbackSigner").finish_non_exhaustive()
    }
}

impl PostbackSigner {
    /// A signer with the shared secret, which it keeps a copy of. Cloning
    /// the signer shares that copy.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: Arc::from(secret.as_ref()),
        }
    }

    /// The signature, as lower-case hex, of `payload` signed at
    /// `signed_at`: HMAC-SHA256 of the unix seconds of `signed_at` in
    /// decimal, a `.`, and `payload`. Send the same seconds in
    /// [`TIMESTAMP_HEADER`] and the result in [`SIGNATURE_HEADER`].
    pub fn sign(&self, signed_at: DateTime<Utc>, payload: &[u8]) -> String {
        mac_hex(&self.secret, &signed_at.timestamp().to_string(), payload)
    }

    /// `params` with `signed_at=<unix seconds>` and then
    /// `signature=<hex>` appended: the parameter form of the scheme, for a
    /// query string or a form body. `params` should not already hold
    /// either parameter.
    pub fn sign_params(&self, params: &str, signed_at: DateTime<Utc>) -> String {
        let seconds = signed_at.timestamp().to_string();
        let mut payload = String::with_capacity(params.len() + 96);
        payload.push_str(params);
        if !params.is_empty() {
            payload.push('&');
        }
        payload.push_str(SIGNED_AT_PARAM);
        payload.push('=');
        payload.push_str(&seconds);
        let signature = mac_hex(&self.secret, &seconds, payload.as_bytes());
        payload.push('&');
        payload.push_str(SIGNATURE_PARAM);
        payload.push('=');
        payload.push_str(&signature);
        payload
    }
}

/// Checks signed postbacks: the signature, and that the signing time is
/// near `now`.
///
/// # The scheme
///
/// The sender and the receiver share a secret. To send a postback whose
/// body (or query string) is `payload`, the sender takes the current time
/// `t` in whole unix seconds, written in decimal ASCII, and computes
///
/// ```text
/// signature = hex(HMAC-SHA256(secret, t + "." + payload))
/// ```
///
/// It sends them in one of two forms:
///
/// * **Headers**: `t` in [`TIMESTAMP_HEADER`] (`X-Attributor-Timestamp`),
///   the signature in [`SIGNATURE_HEADER`] (`X-Attributor-Signature`), the
///   payload as the exact bytes of the body or query string. Check with
///   [`PostbackVerifier::verify`].
/// * **Parameters**: `signed_at=t` is a parameter of the payload, and
///   `&signature=<hex>` is appended last; the signed payload is everything
///   before that `&signature=`, exactly as sent. Check with
///   [`PostbackVerifier::verify_params`].
///
/// The signature is hex of the full 32 bytes, either case; truncated
/// signatures are refused. `t` is the time of sending, not of the
/// conversion (that is the postback's `timestamp` field), so a sender
/// signs each retry afresh. The MAC is compared in constant time by the
/// `hmac` crate's `verify_slice`.
///
/// Keep the secret for postbacks: the crate MACs nothing else with it, and
/// a MAC of any `t.payload` made under it elsewhere would be a valid
/// postback signature.
///
/// # Time
///
/// The verifier reads no clock: the caller passes `now`. A postback signed
/// more than the tolerance ([`DEFAULT_TOLERANCE`], 300 s) before `now` is
/// too old (a replay), and one signed more than the tolerance after `now`
/// is too new; exactly the tolerance either way is accepted. Record the
/// conversion id too ([`Ledger`](crate::Ledger) does), so that a replay
/// within the tolerance credits nothing twice.
///
/// # Key rotation
///
/// [`PostbackVerifier::with_previous_secret`] accepts a second secret: give
/// senders the new secret, accept both until all of them use it, then drop
/// the old one.
///
/// # Examples
///
/// ```
/// use attributor::{PostbackParser, PostbackSigner, PostbackVerifier, SignatureError};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
/// let body = "transaction_id=ORD-1&event=purchase&timestamp=2026-06-01T11%3A59%3A58Z";
/// let signed = PostbackSigner::new(b"old-secret").sign_params(body, now - TimeDelta::seconds(2));
///
/// // Rotating: the new secret first, the old one still accepted.
/// let verifier = PostbackVerifier::new(b"new-secret").with_previous_secret(b"old-secret");
/// let payload = verifier.verify_params(signed.as_bytes(), now)?;
/// let conversion = PostbackParser::new().parse(payload)?;
/// assert_eq!(conversion.id.as_str(), "ORD-1");
///
/// // Ten minutes later the same request is a replay.
/// let later = now + TimeDelta::minutes(10);
/// assert!(matches!(verifier.verify_params(signed.as_bytes(), later),
///     Err(SignatureError::TooOld { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PostbackVerifier {
    secret: Arc<[u8]>,
    previous: Option<Arc<[u8]>>,
    tolerance: Duration,
}

impl fmt::Debug for PostbackVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostbackVerifier")
            .field("previous_secret", &self.previous.is_some())
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl PostbackVerifier {
    /// A verifier with the shared secret and the default tolerance. It
    /// keeps a copy of the secret, so it can live as long as the service
    /// (in its state, or a `static`); cloning it shares the copy. An empty
    /// secret matches no signature, so such a verifier refuses every
    /// postback with [`SignatureError::WrongMac`].
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: Arc::from(secret.as_ref()),
            previous: None,
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Also accepts signatures made with `secret`, during a key rotation.
    pub fn with_previous_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.previous = Some(Arc::from(secret.as_ref()));
        self
    }

    /// How far the signing time may be from `now`, either way.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Checks the header form: `signed_at` and `signature` are the values of
    /// [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`] (`None` when absent),
    /// `payload` the exact bytes of the body or query string. Returns the
    /// signing time.
    ///
    /// # Errors
    ///
    /// In this order: [`SignatureError::MissingSignature`],
    /// [`SignatureError::MissingTimestamp`], [`SignatureError::BadTimestamp`],
    /// [`SignatureError::BadHex`], [`SignatureError::WrongMac`] (a forged or
    /// altered postback, or a secret that is not ours), then
    /// [`SignatureError::TooOld`] or [`SignatureError::TooNew`] for a
    /// genuine postback outside the tolerance.
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{PostbackSigner, PostbackVerifier, SignatureError};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    /// let body = b"transaction_id=ORD-1&event=purchase&timestamp=1780315200";
    /// let signature = PostbackSigner::new(b"s3cret").sign(now, body);
    /// let seconds = now.timestamp().to_string();
    ///
    /// let verifier = PostbackVerifier::new(b"s3cret");
    /// assert_eq!(verifier.verify(Some(&seconds), Some(&signature), body, now)?, now);
    /// assert_eq!(verifier.verify(Some(&seconds), None, body, now),
    ///     Err(SignatureError::MissingSignature));
    /// let tampered = b"transaction_id=ORD-1&event=purchase&timestamp=1780315201";
    /// assert!(matches!(verifier.verify(Some(&seconds), Some(&signature), tampered, now),
    ///     Err(SignatureError::WrongMac)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(
        &self,
        signed_at: Option<&str>,
        signature: Option<&str>,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SignatureError> {
        let signature = signature.ok_or(SignatureError::MissingSignature)?;
        let seconds = signed_at.ok_or(SignatureError::MissingTimestamp)?;
        let at = unix_seconds(seconds).ok_or_else(|| SignatureError::BadTimestamp {
            value: Excerpt::new(seconds),
        })?;
        self.check_mac(&[seconds.as_bytes(), b".", payload], signature)?;
        self.check_time(at, now)?;
        Ok(at)
    }

    /// Checks the parameter form and returns the signed payload: `params`
    /// up to, not including, the `&signature=` that ends it. Parse that
    /// with [`PostbackParser`](crate::PostbackParser).
    ///
    /// # Errors
    ///
    /// As [`PostbackVerifier::verify`], and before its checks:
    /// [`SignatureError::SignatureNotLast`] if `signature` is there but not
    /// last, [`SignatureError::Duplicate`] if `signature` or `signed_at`
    /// appears twice.
    pub fn verify_params<'p>(
        &self,
        params: &'p [u8],
        now: DateTime<Utc>,
    ) -> Result<&'p [u8], SignatureError> {
        let (payload, last) = match params.iter().rposition(|&b| b == b'&') {
            Some(i) => (
                params.get(..i).unwrap_or_default(),
                params.get(i + 1..).unwrap_or_default(),
            ),
            None => (&[][..], params),
        };
        let named = |name: &'static str| {
            form_urlencoded::parse(payload)
                .filter(move |(n, _)| n == name)
                .map(|(_, v)| v)
        };
        let signature = match form_urlencoded::parse(last).next() {
            Some((name, value)) if name == SIGNATURE_PARAM => value,
            _ if named(SIGNATURE_PARAM).next().is_some() => return Err(SignatureError::SignatureNotLast),
            _ => return Err(SignatureError::MissingSignature),
        };
        if named(SIGNATURE_PARAM).next().is_some() {
            return Err(SignatureError::Duplicate {
                param: SIGNATURE_PARAM,
            });
        }
        let mut stamps = named(SIGNED_AT_PARAM);
        let signed_at = stamps.next();
        if stamps.next().is_some() {
            return Err(SignatureError::Duplicate {
                param: SIGNED_AT_PARAM,
            });
        }
        self.verify(signed_at.as_deref(), Some(&signature), payload, now)?;
        Ok(payload)
    }

    fn check_mac(&self, message: &[&[u8]], signature: &str) -> Result<(), SignatureError> {
        let tag = hex::decode(signature).map_err(|_| SignatureError::BadHex {
            value: Excerpt::new(signature),
        })?;
        // An empty secret is a misconfiguration anyone could guess: it
        // matches nothing, so the verifier fails closed.
        let matches = |secret: &[u8]| {
            !secret.is_empty() && keyed(secret, message).is_some_and(|mac| mac.verify_slice(&tag).is_ok())
        };
        // Both secrets are always tried, so the time taken does not tell
        // which one matched.
        let current = matches(&self.secret);
        let previous = self.previous.as_deref().is_some_and(matches);
        if current | previous {
            Ok(())
        } else {
            Err(SignatureError::WrongMac)
        }
    }

    fn check_time(&self, signed_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SignatureError> {
        let tolerance = TimeDelta::from_std(self.tolerance).unwrap_or(TimeDelta::MAX);
        let age = now.signed_duration_since(signed_at);
        let tolerance_secs = self.tolerance.as_secs();
        if age > tolerance {
            Err(SignatureError::TooOld {
                signed_at,
                now,
                tolerance_secs,
            })
        } else if age < -tolerance {
            Err(SignatureError::TooNew {
                signed_at,
                now,
                tolerance_secs,
            })
        } else {
            Ok(())
        }
    }
}

/// Whole unix seconds in ASCII digits, within chrono's range.
fn unix_seconds(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp(s.parse().ok()?, 0)
}

/// The MAC of the concatenated `parts` under `secret`, not yet finalised.
/// HMAC takes a key of any length, so this is `None` only in theory.
fn keyed(secret: &[u8], parts: &[&[u8]]) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

fn mac_hex(secret: &[u8], seconds: &str, payload: &[u8]) -> String {
    hex_of(keyed(secret, &[seconds.as_bytes(), b".", payload]))
}

fn hex_of(mac: Option<HmacSha256>) -> String {
    mac.map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, section 4: the HMAC-SHA-256 test vectors (key, data, MAC).
    fn rfc_4231() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
        vec![
            // Test case 1.
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            // Test case 2: a key shorter than the output.
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // Test case 3: combined length of key and data above 64 bytes.
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            // Test case 4.
            (
                (0x01..=0x19).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Test case 6: a key larger than the block size.
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            // Test case 7: key and data larger than the block size.
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. \
                  The key needs to be hashed before being used by the HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ]
    }

    #[test]
    fn the_rfc_4231_hmac_sha256_vectors_pass_through_our_verify() {
        for (i, (key, data, mac)) in rfc_4231().into_iter().enumerate() {
            let verifier = PostbackVerifier::new(&key);
            assert_eq!(verifier.check_mac(&[&data], mac), Ok(()), "vector {i}");
            assert_eq!(hex_of(keyed(&key, &[&data])), mac, "vector {i}");
            // Split into parts, as a postback's time and payload are.
            let (head, tail) = data.split_at(data.len() / 2);
            assert_eq!(verifier.check_mac(&[head, tail], mac), Ok(()), "vector {i}");
            // As the previous secret of a rotation, too.
            let rotating = PostbackVerifier::new(b"another key").with_previous_secret(&key);
            assert_eq!(rotating.check_mac(&[&data], mac), Ok(()), "vector {i}");
            // One bit off anywhere in the message is refused.
            let mut flipped = data.clone();
            flipped[0] ^= 1;
            assert!(verifier.check_mac(&[&flipped], mac).is_err(), "vector {i}");
        }
    }

    #[test]
    fn the_rfc_4231_truncated_vector_matches_our_prefix_and_is_refused_as_a_signature() {
        // Test case 5: the MAC truncated to 128 bits.
        let (key, data, truncated) = (
            vec![0x0c; 20],
            b"Test With Truncation",
            "a3b6167473100ee06e0c796c2955552b",
        );
        let full = hex_of(keyed(&key, &[data]));
        assert_eq!(&full[..32], truncated);
        let verifier = PostbackVerifier::new(&key);
        assert_eq!(verifier.check_mac(&[data], &full), Ok(()));
        assert_eq!(
            verifier.check_mac(&[data], truncated),
            Err(SignatureError::WrongMac)
        );
    }
}

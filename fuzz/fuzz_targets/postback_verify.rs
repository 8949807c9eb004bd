//! `PostbackVerifier` on forged headers and parameters: it never panics,
//! and what the signer signs it accepts, returning the payload unchanged.
//!
//! Input lines: the secret, the signing time in unix seconds, a signature
//! to try, then the payload (the rest).
#![no_main]

use attributor::{PostbackSigner, PostbackVerifier, SignatureError};
use attributor_fuzz::{fields, text};
use chrono::{DateTime, TimeDelta};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [secret, seconds, signature, payload] = fields::<4>(data);
    let (seconds, signature) = (text(seconds), text(signature));
    let now = DateTime::from_timestamp(1_780_315_200, 0).expect("a valid instant");
    let verifier = PostbackVerifier::new(b"the receiver's secret").with_previous_secret(secret);

    // Anything at all, in both forms: an error, never a panic.
    let _ = verifier.verify(Some(&seconds), Some(&signature), payload, now);
    let _ = verifier.verify(Some(&seconds), None, payload, now);
    let _ = verifier.verify_params(payload, now);

    // Signed with the previous secret, within the tolerance: accepted.
    let signer = PostbackSigner::new(secret);
    let skew = seconds.bytes().fold(0i64, |n, b| (n * 7 + i64::from(b)) % 600) - 300;
    let signed_at = now + TimeDelta::seconds(skew);
    let stamp = signed_at.timestamp().to_string();
    let mac = signer.sign(signed_at, payload);
    let verdict = verifier.verify(Some(&stamp), Some(&mac), payload, now);
    if secret.is_empty() {
        assert_eq!(verdict, Err(SignatureError::WrongMac));
    } else {
        assert_eq!(verdict, Ok(signed_at), "{mac}");
        // One payload byte changed: refused.
        if let Some((&first, rest)) = payload.split_first() {
            let altered = [&[first ^ 1][..], rest].concat();
            assert_eq!(
                verifier.verify(Some(&stamp), Some(&mac), &altered, now),
                Err(SignatureError::WrongMac)
            );
        }
    }

    // The parameter form: the payload comes back as it was signed.
    let Ok(params) = std::str::from_utf8(payload) else {
        return;
    };
    // Parameters that already name the signature or its time (decoded, as
    // the verifier reads them) are refused; sign_params says not to.
    let taken = url::form_urlencoded::parse(params.as_bytes())
        .any(|(name, _)| name == "signature" || name == "signed_at");
    if taken || secret.is_empty() {
        return;
    }
    let signed = signer.sign_params(params, signed_at);
    let body = verifier
        .verify_params(signed.as_bytes(), now)
        .expect("signed params verify");
    let expected = format!(
        "{params}{}signed_at={stamp}",
        if params.is_empty() { "" } else { "&" }
    );
    assert_eq!(body, expected.as_bytes());
});

//! Postbacks: outbound templates, inbound parsing, and signatures.
//!
//! * [`PostbackTemplate`]: a partner's URL with `{macro}` placeholders,
//!   checked when parsed, rendered for each credited conversion;
//! * [`PostbackParser`]: an inbound postback (query string or form body)
//!   into a [`Conversion`](crate::Conversion), strictly;
//! * [`PostbackVerifier`] and [`PostbackSigner`]: HMAC-SHA256 over the
//!   signing time and the payload, checked against a `now` the caller
//!   passes.

mod error;
pub(crate) mod form;
mod inbound;
mod signature;
mod template;

pub use error::{PostbackError, SignatureError, TemplateError};
pub use inbound::{MAX_POSTBACK_CODES, PostbackParser};
pub use signature::{
    DEFAULT_TOLERANCE, PostbackSigner, PostbackVerifier, SIGNATURE_HEADER, SIGNATURE_PARAM, SIGNED_AT_PARAM,
    TIMESTAMP_HEADER,
};
pub use template::{Macro, PostbackTemplate};

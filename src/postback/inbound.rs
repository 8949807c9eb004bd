//! Inbound postbacks: a query string or a form body into a [`Conversion`].

use chrono::{DateTime, Datelike, Utc};

use crate::code::CouponCode;
use crate::conversion::{Amount, Conversion, Currency, EnteredCodes, EventKind};
use crate::ids::{ClickId, ConversionId, CustomerId, Excerpt, IdError, Label};
use crate::postback::{error::PostbackError, form};

/// The most coupon codes one inbound postback may list.
pub const MAX_POSTBACK_CODES: usize = 8;

/// The fields of an inbound postback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    TransactionId,
    Event,
    Timestamp,
    ClickId,
    Code,
    Amount,
    Currency,
    CustomerId,
}

impl Field {
    const ALL: [Self; 8] = [
        Self::TransactionId,
        Self::Event,
        Self::Timestamp,
        Self::ClickId,
        Self::Code,
        Self::Amount,
        Self::Currency,
        Self::CustomerId,
    ];

    const fn name(self) -> &'static str {
        match self {
            Self::TransactionId => "transaction_id",
            Self::Event => "event",
            Self::Timestamp => "timestamp",
            Self::ClickId => "click_id",
            Self::Code => "code",
            Self::Amount => "amount",
            Self::Currency => "currency",
            Self::CustomerId => "customer_id",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Reads inbound postbacks: `application/x-www-form-urlencoded` text, as a
/// URL's query string or a form body, into a [`Conversion`].
///
/// # Fields
///
/// | field            | required | value                                                  |
/// |------------------|----------|--------------------------------------------------------|
/// | `transaction_id` | yes      | the conversion id ([`ConversionId`])                   |
/// | `event`          | yes      | a built-in event name, or a declared custom event      |
/// | `timestamp`      | yes      | when it happened: RFC 3339, or whole unix seconds; in UTC, at most the year 9999 |
/// | `click_id`       | no       | the click id carried to the conversion                 |
/// | `code`           | no       | coupon codes, comma-separated, in entry order          |
/// | `amount`         | no       | a decimal amount, at most four decimals; needs `currency` |
/// | `currency`       | no       | three letters; needs `amount`                          |
/// | `customer_id`    | no       | the customer or visitor identity                       |
///
/// The names are the [`Macro`](crate::Macro) names, so a conversion that
/// a [`PostbackTemplate`](crate::PostbackTemplate) reports reads back with
/// its id, event, time, click id, first code and amount; the customer and
/// further codes are not among the macros.
///
/// # Rules
///
/// 1. Each field appears at most once, even empty.
/// 2. Other parameters are ignored: senders add their own, and a signed
///    postback carries `signed_at` and `signature`.
/// 3. An optional field that is empty (`click_id=`) is absent, as templates
///    render a value that is not there.
/// 4. **Events.** A built-in name (`registration`, `first_deposit`,
///    `deposit`, `challenge_purchase`, `challenge_reset`, `purchase`) is
///    accepted. Any other name must be declared with
///    [`PostbackParser::with_custom_events`], exactly as written; otherwise it is
///    an unknown event. So a typo (`purchse`) or an event the program does
///    not pay for is refused, not credited as a new custom event.
/// 5. Coupon codes are normalised as [`CouponCode::parse`] does; an empty
///    entry (`A,,B`) is refused; at most [`MAX_POSTBACK_CODES`].
/// 6. Nothing is half-built: any error, and no [`Conversion`] at all. The
///    first problem in input order is reported; a missing field after the
///    whole input is read.
///
/// # Examples
///
/// ```
/// use attributor::{EventKind, Label, PostbackError, PostbackParser};
///
/// let upsell = [Label::new("upsell")?];
/// let parser = PostbackParser::new().with_custom_events(&upsell);
///
/// let conversion = parser.parse(
///     "transaction_id=ORD-1&event=purchase&timestamp=2026-06-01T12%3A00%3A00Z\
///      &click_id=c-9&code=mkbhd10,spring-5&amount=49.99&currency=usd",
/// )?;
/// assert_eq!(conversion.event, EventKind::Purchase);
/// assert_eq!(conversion.codes.len(), 2);
/// assert_eq!(conversion.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
///
/// let custom = parser.parse("transaction_id=U-1&event=upsell&timestamp=1780315200")?;
/// assert_eq!(custom.event.name(), "upsell");
///
/// let err = parser.parse("transaction_id=U-2&event=purchse&timestamp=1780315200").unwrap_err();
/// assert_eq!(err.field(), "event");
/// assert_eq!(err.to_string(), r#"field event has unknown event name "purchse""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostbackParser<'a> {
    custom_events: &'a [Label],
}

impl<'a> PostbackParser<'a> {
    /// A parser that accepts the built-in events only.
    pub const fn new() -> Self {
        Self { custom_events: &[] }
    }

    /// Also accepts these custom event names, as [`EventKind::Custom`].
    pub fn with_custom_events(self, events: &'a [Label]) -> Self {
        Self {
            custom_events: events,
        }
    }

    /// Reads one postback.
    ///
    /// # Errors
    ///
    /// [`PostbackError`] naming the field at fault: a required field
    /// missing, `amount` without `currency` or the reverse, a field given
    /// twice, a value that is not UTF-8 once percent-decoded, an unknown event name, a bad timestamp, amount, currency, id
    /// or coupon code, or too many codes.
    pub fn parse(&self, params: impl AsRef<[u8]>) -> Result<Conversion, PostbackError> {
        let mut seen = 0u8;
        let mut id = None;
        let mut event = None;
        let mut occurred_at = None;
        let mut click = None;
        let mut codes = EnteredCodes::new();
        let mut amount = None;
        let mut currency = None;
        let mut customer = None;
        for form::Pair { name, value } in form::pairs(params.as_ref()) {
            let Some(field) = Field::ALL.into_iter().find(|f| f.name() == name) else {
                continue;
            };
            if seen & field.bit() != 0 {
                return Err(PostbackError::Duplicate { field: field.name() });
            }
            seen |= field.bit();
            let value = value.ok_or(PostbackError::NotUtf8 { field: field.name() })?;
            let bad_id = |source| bad_id(field, &value, source);
            match field {
                Field::TransactionId => id = Some(ConversionId::new(&value).map_err(bad_id)?),
                Field::Event => event = Some(self.event(&value)?),
                Field::Timestamp => occurred_at = Some(timestamp(&value)?),
                _ if value.is_empty() => {}
                Field::ClickId => click = Some(ClickId::new(&value).map_err(bad_id)?),
                Field::CustomerId => customer = Some(CustomerId::new(&value).map_err(bad_id)?),
                Field::Code => codes = coupon_codes(&value)?,
                Field::Amount => {
                    amount = Some(value.parse::<Amount>().map_err(|_| PostbackError::BadAmount {
                        value: Excerpt::new(&value),
                    })?);
                }
                Field::Currency => {
                    currency = Some(
                        value
                            .parse::<Currency>()
                            .map_err(|_| PostbackError::BadCurrency {
                                value: Excerpt::new(&value),
                            })?,
                    );
                }
            }
        }
        let missing = |field: Field| PostbackError::Missing { field: field.name() };
        let id = id.ok_or_else(|| missing(Field::TransactionId))?;
        let event = event.ok_or_else(|| missing(Field::Event))?;
        let occurred_at = occurred_at.ok_or_else(|| missing(Field::Timestamp))?;
        let mut conversion = Conversion::new(id, event, occurred_at);
        conversion.click = click;
        conversion.customer = customer;
        conversion.codes = codes;
        match (amount, currency) {
            (Some(amount), Some(currency)) => conversion = conversion.with_amount(amount, currency),
            (None, None) => {}
            (Some(_), None) => return Err(missing(Field::Currency)),
            (None, Some(_)) => return Err(missing(Field::Amount)),
        }
        Ok(conversion)
    }

    fn event(&self, value: &str) -> Result<EventKind, PostbackError> {
        match value.parse::<EventKind>() {
            Ok(EventKind::Custom(label)) if self.custom_events.contains(&label) => {
                Ok(EventKind::Custom(label))
            }
            Ok(EventKind::Custom(_)) | Err(_) => Err(PostbackError::UnknownEvent {
                value: Excerpt::new(value),
            }),
            Ok(built_in) => Ok(built_in),
        }
    }
}

fn bad_id(field: Field, value: &str, source: IdError) -> PostbackError {
    PostbackError::BadId {
        field: field.name(),
        value: Excerpt::new(value),
        source,
    }
}

/// RFC 3339 (any offset), or whole unix seconds (ASCII digits only), in UTC
/// from 1970 (unix seconds) or the year 0000 (RFC 3339) to the end of
/// 9999: the years RFC 3339 writes in UTC, so that every time accepted
/// renders back through the `{timestamp}` macro, and a count of
/// milliseconds sent by mistake (`1780315200000`, the year 58385) is
/// refused.
fn timestamp(value: &str) -> Result<DateTime<Utc>, PostbackError> {
    let parsed = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
    } else {
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    parsed
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| PostbackError::BadTimestamp {
            value: Excerpt::new(value),
        })
}

fn coupon_codes(value: &str) -> Result<EnteredCodes, PostbackError> {
    let count = value.split(',').count();
    if count > MAX_POSTBACK_CODES {
        return Err(PostbackError::TooManyCodes {
            count,
            max: MAX_POSTBACK_CODES,
        });
    }
    value
        .split(',')
        .map(|entry| {
            CouponCode::parse(entry).map_err(|source| PostbackError::BadCode {
                value: Excerpt::new(entry),
                source,
            })
        })
        .collect()
}

//! What happened: conversions, their event kinds and amounts, and clicks.

use core::fmt;
use core::str::FromStr;

use chrono::{DateTime, Utc};
use smallvec::SmallVec;

use crate::code::CouponCode;
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId, Excerpt, Label, SubId};

/// The kind of event a conversion is.
///
/// Names in text (for [`FromStr`], `Display`, postbacks and JSON) are
/// `registration`, `first_deposit`, `deposit`, `challenge_purchase`,
/// `challenge_reset`, `purchase`, and any other [`Label`] for
/// [`EventKind::Custom`].
///
/// ```
/// use attributor::EventKind;
/// let kind: EventKind = "challenge_purchase".parse()?;
/// assert_eq!(kind, EventKind::ChallengePurchase);
/// assert_eq!("upsell".parse::<EventKind>()?.to_string(), "upsell");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A custom event named like a built-in one *is* the built-in one: it is
/// equal to it, hashes and orders as it, falls in its [`EventKinds`] bit
/// and gets its policy, as it reads back as it from text.
///
/// ```
/// use attributor::{EventKind, Label};
/// let from_config = EventKind::Custom(Label::new("purchase")?);
/// assert_eq!(from_config, EventKind::Purchase);
/// assert_ne!(EventKind::Custom(Label::new("upsell")?), EventKind::Purchase);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum EventKind {
    /// A customer registered.
    Registration,
    /// A first-time deposit (FTD), as iGaming programs pay for.
    FirstDeposit,
    /// A later deposit.
    Deposit,
    /// A trader bought a funded-account evaluation (prop trading).
    ChallengePurchase,
    /// A trader paid to reset a failed challenge.
    ChallengeReset,
    /// A purchase in a shop.
    Purchase,
    /// Any other event, by name.
    Custom(Label),
}

const BUILT_IN: [(EventKind, &str); 6] = [
    (EventKind::Registration, "registration"),
    (EventKind::FirstDeposit, "first_deposit"),
    (EventKind::Deposit, "deposit"),
    (EventKind::ChallengePurchase, "challenge_purchase"),
    (EventKind::ChallengeReset, "challenge_reset"),
    (EventKind::Purchase, "purchase"),
];

/// The built-in kind named `name`, if any.
fn built_in(name: &str) -> Option<EventKind> {
    BUILT_IN.iter().find(|(_, n)| *n == name).map(|(kind, _)| *kind)
}

impl EventKind {
    /// The event's name in text.
    pub fn name(&self) -> &str {
        match self {
            Self::Custom(label) => label.as_str(),
            built_in => BUILT_IN
                .iter()
                .find(|(k, _)| k == built_in)
                .map_or("", |(_, name)| name),
        }
    }

    /// The event's bit in an [`EventKinds`] set, in declaration order; a
    /// custom event with a built-in name has that kind's bit.
    fn bit(&self) -> u8 {
        match self {
            Self::Registration => 1,
            Self::FirstDeposit => 1 << 1,
            Self::Deposit => 1 << 2,
            Self::ChallengePurchase => 1 << 3,
            Self::ChallengeReset => 1 << 4,
            Self::Purchase => 1 << 5,
            Self::Custom(label) => built_in(label.as_str()).map_or(CUSTOM_BIT, |kind| kind.bit()),
        }
    }

    /// What equality, hashing and order compare: the bit, and the name of a
    /// custom event that is not a built-in one.
    fn key(&self) -> (u8, Option<&str>) {
        match self.bit() {
            CUSTOM_BIT => (CUSTOM_BIT, Some(self.name())),
            bit => (bit, None),
        }
    }
}

/// [`EventKind::bit`] of a custom event.
const CUSTOM_BIT: u8 = 1 << 6;

impl PartialEq for EventKind {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for EventKind {}

impl core::hash::Hash for EventKind {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for EventKind {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventKind {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventKind {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(kind) = built_in(s) {
            return Ok(kind);
        }
        Label::new(s).map(Self::Custom).map_err(|_| ValueError::Event {
            value: crate::ids::Excerpt::new(s),
        })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of event kinds, as a policy names the events that bind a customer.
/// All custom events count as one member.
///
/// ```
/// use attributor::{EventKind, EventKinds};
/// let set = EventKinds::REGISTRATION | EventKinds::FIRST_DEPOSIT;
/// assert!(set.contains(&EventKind::Registration));
/// assert!(!set.contains(&EventKind::Purchase));
/// assert!(EventKinds::of(EventKind::Purchase).contains(&EventKind::Purchase));
/// ```
///
/// In JSON a set is the list of its events' names, in the order of the
/// constants below (`["registration", "first_deposit"]`), with `"custom"`
/// for every custom event; reading refuses another name and a name listed
/// twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventKinds(u8);

/// The name of the bit of every custom event in an [`EventKinds`]'s JSON.
#[cfg(feature = "serde")]
const CUSTOM_NAME: &str = "custom";

/// Each bit of an [`EventKinds`] with its name in JSON, in bit order: the
/// built-in kinds' names, then [`CUSTOM_NAME`].
#[cfg(feature = "serde")]
fn kind_names() -> impl Iterator<Item = (u8, &'static str)> {
    BUILT_IN
        .iter()
        .map(|(kind, name)| (kind.bit(), *name))
        .chain([(CUSTOM_BIT, CUSTOM_NAME)])
}

#[cfg(feature = "serde")]
impl serde::Serialize for EventKinds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            kind_names()
                .filter(|(bit, _)| self.0 & bit != 0)
                .map(|(_, name)| name),
        )
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for EventKinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = <Vec<std::borrow::Cow<'de, str>> as serde::Deserialize>::deserialize(d)?;
        let mut bits = 0u8;
        for name in &names {
            let Some((bit, _)) = kind_names().find(|(_, n)| n == name) else {
                return Err(serde::de::Error::custom(format_args!(
                    "{name:?} is not an event kind (one of registration, first_deposit, deposit, \
                     challenge_purchase, challenge_reset, purchase, custom)"
                )));
            };
            if bits & bit != 0 {
                return Err(serde::de::Error::custom(format_args!(
                    "event kind {name:?} is listed twice"
                )));
            }
            bits |= bit;
        }
        Ok(Self(bits))
    }
}

impl EventKinds {
    /// No event.
    pub const NONE: Self = Self(0);
    /// Every event, custom ones included.
    pub const ALL: Self = Self(0x7f);
    /// [`EventKind::Registration`].
    pub const REGISTRATION: Self = Self(1);
    /// [`EventKind::FirstDeposit`].
    pub const FIRST_DEPOSIT: Self = Self(1 << 1);
    /// [`EventKind::Deposit`].
    pub const DEPOSIT: Self = Self(1 << 2);
    /// [`EventKind::ChallengePurchase`].
    pub const CHALLENGE_PURCHASE: Self = Self(1 << 3);
    /// [`EventKind::ChallengeReset`].
    pub const CHALLENGE_RESET: Self = Self(1 << 4);
    /// [`EventKind::Purchase`].
    pub const PURCHASE: Self = Self(1 << 5);
    /// Every [`EventKind::Custom`] event.
    pub const CUSTOM: Self = Self(CUSTOM_BIT);

    /// The set holding one kind.
    pub fn of(kind: EventKind) -> Self {
        Self(kind.bit())
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: &EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for EventKinds {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// An amount of money as a fixed-point decimal with four fractional digits,
/// so that `49.99`, `0` and `0.0001` are exact. It is carried with a
/// conversion and summed in reports, never used to decide.
///
/// ```
/// use attributor::Amount;
/// let a: Amount = "49.99".parse()?;
/// assert_eq!(a.to_string(), "49.99");
/// assert_eq!(Amount::from_minor(4999, 2), a);
/// assert_eq!("49.990000".parse::<Amount>()?, a); // zeros past four decimals
/// assert!("4.99999".parse::<Amount>().is_err()); // a fifth digit would be lost
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// The amount in ten-thousandths.
    pub const fn from_ten_thousandths(value: i64) -> Self {
        Self(value)
    }

    /// The amount in ten-thousandths.
    pub const fn ten_thousandths(self) -> i64 {
        self.0
    }

    /// An amount from minor units with `decimals` fractional digits
    /// (4999 with 2 is 49.99). Saturates at the bounds; `decimals` above 4
    /// drops the extra digits.
    pub fn from_minor(minor: i64, decimals: u32) -> Self {
        let scale = 10i64.pow(4u32.saturating_sub(decimals.min(4)));
        let drop = 10i64.saturating_pow(decimals.saturating_sub(4));
        Self((minor / drop).saturating_mul(scale))
    }

    /// `self * bp / 10000`, rounded toward zero: the part of an amount a
    /// share in basis points earns. Saturates at the bounds, keeping the
    /// sign, when `bp` is above 10000.
    ///
    /// ```
    /// use attributor::Amount;
    /// let refund: Amount = "-10.01".parse()?;
    /// assert_eq!(refund.share(5_000).to_string(), "-5.005");
    /// assert_eq!(Amount::from_ten_thousandths(i64::MIN).share(20_000), Amount::from_ten_thousandths(i64::MIN));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn share(self, bp: u16) -> Self {
        let part = i128::from(self.0) * i128::from(bp) / 10_000;
        let bounded = part.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        Self(i64::try_from(bounded).unwrap_or(i64::MAX))
    }

    /// The sum, saturating at the bounds.
    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 10_000, abs % 10_000);
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:04}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for Amount {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Amount {
            value: crate::ids::Excerpt::new(s),
        };
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        // Zeros past the fourth decimal change nothing ("49.990000").
        let frac = match frac.get(4..) {
            Some(rest) if rest.bytes().all(|b| b == b'0') => frac.get(..4).unwrap_or(frac),
            _ => frac,
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(frac)
            || frac.len() > 4
            || (digits.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        // The magnitude in a wider type, so that the most negative amount,
        // one larger than the most positive, reads back too.
        let whole: i128 = whole.parse().map_err(|_| bad())?;
        let frac_value: i128 = if frac.is_empty() {
            0
        } else {
            let padded: i128 = frac.parse().map_err(|_| bad())?;
            padded * 10i128.pow(4 - frac.len() as u32)
        };
        let magnitude = whole
            .checked_mul(10_000)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(bad)?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value).map(Self).map_err(|_| bad())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ISO 4217 style currency code: three ASCII letters, kept upper case.
///
/// ```
/// use attributor::Currency;
/// assert_eq!("usd".parse::<Currency>()?.as_str(), "USD");
/// assert!("US".parse::<Currency>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for Currency {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.as_bytes() {
            [a, b, c] if s.bytes().all(|b| b.is_ascii_alphabetic()) => Ok(Self([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(ValueError::Currency {
                value: crate::ids::Excerpt::new(s),
            }),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The codes entered on one conversion, in entry order. Two fit inline.
pub type EnteredCodes = SmallVec<[CouponCode; 2]>;

/// An event an affiliate may be paid for.
///
/// `amount` and `currency` are carried, not used to decide: a 100%-off
/// purchase with amount zero still attributes.
///
/// `customer_affiliate` is where the link between a customer and an
/// affiliate account lives: when the customer is also an affiliate (the
/// operator's user record knows), set it, and that affiliate's own codes and
/// clicks on this conversion are rejected as self-referral.
///
/// ```
/// use attributor::{Conversion, CouponCode, EventKind};
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let conversion = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at)
///     .with_customer("cust-9".parse()?)
///     .with_code(CouponCode::parse("mkbhd10")?)
///     .with_amount("49.99".parse()?, "USD".parse()?);
/// assert_eq!(conversion.codes.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Conversion {
    /// The conversion's id: the ledger's key.
    pub id: ConversionId,
    /// What happened.
    pub event: EventKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who converted, if known.
    pub customer: Option<CustomerId>,
    /// The affiliate account that belongs to the customer, if the customer
    /// is also an affiliate.
    pub customer_affiliate: Option<AffiliateId>,
    /// The click id carried to the conversion, if any.
    pub click: Option<ClickId>,
    /// The coupon codes entered, in entry order.
    pub codes: EnteredCodes,
    /// The amount, if any.
    pub amount: Option<Amount>,
    /// The amount's currency, if any.
    pub currency: Option<Currency>,
}

/// A [`Conversion`] as read from JSON, checked before it becomes one.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionFields {
    id: ConversionId,
    event: EventKind,
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    customer: Option<CustomerId>,
    #[serde(default)]
    customer_affiliate: Option<AffiliateId>,
    #[serde(default)]
    click: Option<ClickId>,
    #[serde(default)]
    codes: EnteredCodes,
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default)]
    currency: Option<Currency>,
}

/// Reads the fields [`Conversion`] serialises to; those that are null may be
/// left out. An amount without its currency, or a currency without an
/// amount, is refused, as the inbound postback parser refuses it.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Conversion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = ConversionFields::deserialize(d)?;
        if f.amount.is_some() != f.currency.is_some() {
            return Err(serde::de::Error::custom(
                "a conversion's amount and currency come together: give both or neither",
            ));
        }
        Ok(Self {
            id: f.id,
            event: f.event,
            occurred_at: f.occurred_at,
            customer: f.customer,
            customer_affiliate: f.customer_affiliate,
            click: f.click,
            codes: f.codes,
            amount: f.amount,
            currency: f.currency,
        })
    }
}

impl Conversion {
    /// A conversion with no customer, click, code or amount.
    pub fn new(id: ConversionId, event: EventKind, occurred_at: DateTime<Utc>) -> Self {
        Self {
            id,
            event,
            occurred_at,
            customer: None,
            customer_affiliate: None,
            click: None,
            codes: SmallVec::new(),
            amount: None,
            currency: None,
        }
    }

    /// Sets the customer.
    pub fn with_customer(mut self, customer: CustomerId) -> Self {
        self.customer = Some(customer);
        self
    }

    /// Marks the customer as the owner of an affiliate account.
    pub fn with_customer_affiliate(mut self, affiliate: AffiliateId) -> Self {
        self.customer_affiliate = Some(affiliate);
        self
    }

    /// Sets the click id.
    pub fn with_click(mut self, click: ClickId) -> Self {
        self.click = Some(click);
        self
    }

    /// Appends an entered code.
    pub fn with_code(mut self, code: CouponCode) -> Self {
        self.codes.push(code);
        self
    }

    /// Sets the amount and its currency.
    pub fn with_amount(mut self, amount: Amount, currency: Currency) -> Self {
        self.amount = Some(amount);
        self.currency = Some(currency);
        self
    }

    /// The entered codes, each once (a code entered twice counts where it
    /// was first entered), in entry order, with their index in `codes`.
    pub(crate) fn distinct_codes(&self) -> impl Iterator<Item = (usize, &CouponCode)> {
        self.distinct_codes_from(0)
    }

    /// [`Conversion::distinct_codes`] from index `from` of `codes` on.
    pub(crate) fn distinct_codes_from(&self, from: usize) -> impl Iterator<Item = (usize, &CouponCode)> {
        let codes = &self.codes;
        codes
            .iter()
            .enumerate()
            .skip(from)
            .filter(move |(i, code)| !codes.iter().take(*i).any(|earlier| earlier == *code))
    }
}

/// The five sub ids of a tracked link, `sub1` to `sub5`.
///
/// ```
/// use attributor::SubIds;
/// let subs = SubIds::default().with(1, "tiktok".parse()?).with(5, "ad-7".parse()?);
/// assert_eq!(subs.get(1).map(|s| s.as_str()), Some("tiktok"));
/// assert_eq!(subs.get(2), None);
/// assert_eq!(subs.get(9), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// In JSON the sub ids that are set, by name:
/// `{ "sub1": "tiktok", "sub5": "ad-7" }` (`{}` when none is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(from = "SubIdFields", into = "SubIdFields"))]
pub struct SubIds([Option<SubId>; 5]);

/// [`SubIds`] in JSON: each by its name, those not set left out.
#[cfg(feature = "serde")]
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubIdFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub1: Option<SubId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub2: Option<SubId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub3: Option<SubId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub4: Option<SubId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub5: Option<SubId>,
}

#[cfg(feature = "serde")]
impl From<SubIdFields> for SubIds {
    fn from(f: SubIdFields) -> Self {
        Self([f.sub1, f.sub2, f.sub3, f.sub4, f.sub5])
    }
}

#[cfg(feature = "serde")]
impl From<SubIds> for SubIdFields {
    fn from(SubIds([sub1, sub2, sub3, sub4, sub5]): SubIds) -> Self {
        Self {
            sub1,
            sub2,
            sub3,
            sub4,
            sub5,
        }
    }
}

impl SubIds {
    /// Sub id `n` (1 to 5).
    pub fn get(&self, n: usize) -> Option<&SubId> {
        self.0.get(n.checked_sub(1)?)?.as_ref()
    }

    /// Sets sub id `n` (1 to 5); other positions are ignored.
    pub fn with(mut self, n: usize, value: SubId) -> Self {
        if let Some(slot) = n.checked_sub(1).and_then(|i| self.0.get_mut(i)) {
            *slot = Some(value);
        }
        self
    }

    /// Whether no sub id is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// A click on an affiliate's tracked link.
///
/// ```
/// use attributor::{AffiliateId, Click};
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap();
/// let click = Click::new("c-1".parse()?, AffiliateId::new(9), at).with_customer("cust-9".parse()?);
/// assert_eq!(click.affiliate, AffiliateId::new(9));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Click {
    /// The click's id.
    pub id: ClickId,
    /// Whose link was clicked.
    pub affiliate: AffiliateId,
    /// When.
    pub clicked_at: DateTime<Utc>,
    /// The customer or visitor identity, if known.
    #[cfg_attr(feature = "serde", serde(default))]
    pub customer: Option<CustomerId>,
    /// The sub ids on the link. Left out of the JSON when none is set.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "SubIds::is_empty"))]
    pub sub_ids: SubIds,
}

impl Click {
    /// A click with no customer and no sub ids.
    pub fn new(id: ClickId, affiliate: AffiliateId, clicked_at: DateTime<Utc>) -> Self {
        Self {
            id,
            affiliate,
            clicked_at,
            customer: None,
            sub_ids: SubIds::default(),
        }
    }

    /// Sets the customer or visitor identity.
    pub fn with_customer(mut self, customer: CustomerId) -> Self {
        self.customer = Some(customer);
        self
    }

    /// Sets the sub ids.
    pub fn with_sub_ids(mut self, sub_ids: SubIds) -> Self {
        self.sub_ids = sub_ids;
        self
    }
}

/// A value in text (an event name, an amount, a currency) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not an event name: built-in names and custom labels are accepted.
    #[error("{:?} is not an event name", value.as_str())]
    Event {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// Not a decimal amount with at most four fractional digits.
    #[error("{:?} is not an amount with at most four decimals", value.as_str())]
    Amount {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// Not three ASCII letters.
    #[error("{:?} is not a three-letter currency code", value.as_str())]
    Currency {
        /// The value given (its first bytes).
        value: Excerpt,
    },
}

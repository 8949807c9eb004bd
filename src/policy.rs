//! The rules chosen up front: which evidence wins, windows, bindings.

use chrono::TimeDelta;

use crate::conversion::{Conversion, EventKind, EventKinds};
use crate::ids::{ClickId, CustomerId};

/// Which click counts when the window holds several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ClickPick {
    /// The earliest click; equal times go to the smaller click id.
    First,
    /// The latest click; equal times go to the smaller click id.
    #[default]
    Last,
}

/// How a code and a click compete. A live binding is weighed first in every
/// form but [`Priority::Order`], where it takes the place the order gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "snake_case", from = "PriorityFields")
)]
pub enum Priority {
    /// A fixed order over the three methods: the first present wins.
    Order {
        /// The methods, strongest first; each appears once.
        order: [Method; 3],
    },
    /// The most recent touch wins: a code counts as touched at the
    /// conversion, a click when it was made (a click stamped after the
    /// conversion, within the skew tolerance, at the conversion). Ties go to
    /// the code.
    LastTouch,
    /// The earliest touch wins, timed as for [`Priority::LastTouch`]. Ties go
    /// to the code.
    FirstTouch,
    /// The code owner and the click owner share the credit: the code owner
    /// gets `coupon_share` basis points, the click owner the rest. When one
    /// affiliate owns both, or only one is present, it gets all of it.
    Split {
        /// The code owner's share, 0 to 10000 basis points.
        coupon_share: u16,
    },
}

impl Priority {
    /// Whether a fixed order ranks `a` above `b`; `None` for the forms
    /// without one.
    pub(crate) fn puts_first(self, a: Method, b: Method) -> Option<bool> {
        let Self::Order { order } = self else {
            return None;
        };
        let at = |m: Method| order.iter().position(|x| *x == m);
        Some(at(a) < at(b))
    }
}

/// A [`Priority`] as read from JSON: each variant a struct, so that an
/// unknown field is refused with last and first touch too (serde ignores
/// extra fields of a unit variant).
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum PriorityFields {
    Order { order: [Method; 3] },
    LastTouch {},
    FirstTouch {},
    Split { coupon_share: u16 },
}

#[cfg(feature = "serde")]
impl From<PriorityFields> for Priority {
    fn from(f: PriorityFields) -> Self {
        match f {
            PriorityFields::Order { order } => Self::Order { order },
            PriorityFields::LastTouch {} => Self::LastTouch,
            PriorityFields::FirstTouch {} => Self::FirstTouch,
            PriorityFields::Split { coupon_share } => Self::Split { coupon_share },
        }
    }
}

/// How long a binding lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        tag = "kind",
        content = "days",
        rename_all = "snake_case",
        deny_unknown_fields
    )
)]
pub enum BindingLifetime {
    /// No lasting binding: the credit covers this conversion only. A binding
    /// that a coupon breaks is still ended.
    OneOff,
    /// So many days from the conversion that binds; `Days(0)` binds for no
    /// time at all, like [`BindingLifetime::OneOff`].
    Days(u32),
    /// For ever.
    Forever,
}

impl BindingLifetime {
    /// The lifetime as a duration; `None` for ever.
    pub fn duration(self) -> Option<TimeDelta> {
        match self {
            Self::OneOff => Some(TimeDelta::zero()),
            Self::Days(days) => Some(TimeDelta::days(i64::from(days))),
            Self::Forever => None,
        }
    }
}

/// The attribution rules for one kind of event: a small `Copy` value built
/// from a preset and by-value setters.
///
/// | setting | default |
/// |---|---|
/// | priority | from the preset |
/// | click window | 30 days |
/// | which click | [`ClickPick::Last`] |
/// | minimum click-to-conversion time | 0 |
/// | clock-skew tolerance | 0 |
/// | events that bind | none |
/// | binding lifetime | [`BindingLifetime::Forever`] |
/// | a coupon breaks a binding | no |
/// | events paid once a customer | none |
/// | a click paid once | no |
///
/// The crate docs' "Priority rules" say exactly how these combine.
///
/// ```
/// use attributor::{BindingLifetime, EventKinds, Policy};
/// use chrono::TimeDelta;
///
/// let policy = Policy::coupon_first()
///     .with_click_window(TimeDelta::days(45))?
///     .with_min_click_age(TimeDelta::seconds(5))?
///     .with_bind_on(EventKinds::REGISTRATION)
///     .with_binding_lifetime(BindingLifetime::Days(365));
/// assert_eq!(policy.click_window(), TimeDelta::days(45));
/// assert!(Policy::split(12_000).is_err());
/// assert!(Policy::click_first().with_click_window(TimeDelta::days(-1)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "PolicyFields", into = "PolicyFields"))]
pub struct Policy {
    priority: Priority,
    click_window: TimeDelta,
    click_pick: ClickPick,
    min_click_age: TimeDelta,
    clock_skew: TimeDelta,
    bind_on: EventKinds,
    binding_lifetime: BindingLifetime,
    coupon_breaks_binding: bool,
    once_per_customer: EventKinds,
    once_per_click: EventKinds,
    look_alikes: bool,
}

impl Policy {
    const fn with_priority(priority: Priority) -> Self {
        Self {
            priority,
            click_window: TimeDelta::days(30),
            click_pick: ClickPick::Last,
            min_click_age: TimeDelta::zero(),
            clock_skew: TimeDelta::zero(),
            bind_on: EventKinds::NONE,
            binding_lifetime: BindingLifetime::Forever,
            coupon_breaks_binding: false,
            once_per_customer: EventKinds::NONE,
            once_per_click: EventKinds::NONE,
            look_alikes: false,
        }
    }

    /// Binding, then coupon, then click.
    pub const fn coupon_first() -> Self {
        Self::with_priority(Priority::Order {
            order: [Method::Binding, Method::Coupon, Method::Click],
        })
    }

    /// Binding, then click, then coupon.
    pub const fn click_first() -> Self {
        Self::with_priority(Priority::Order {
            order: [Method::Binding, Method::Click, Method::Coupon],
        })
    }

    /// Binding, then the most recent touch.
    pub const fn last_touch() -> Self {
        Self::with_priority(Priority::LastTouch)
    }

    /// Binding, then the earliest touch.
    pub const fn first_touch() -> Self {
        Self::with_priority(Priority::FirstTouch)
    }

    /// Binding, then a split: the code owner gets `coupon_share` basis
    /// points and the click owner the rest.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ShareTooLarge`] above 10000.
    pub fn split(coupon_share: u32) -> Result<Self, PolicyError> {
        let coupon_share = u16::try_from(coupon_share)
            .ok()
            .filter(|bp| *bp <= 10_000)
            .ok_or(PolicyError::ShareTooLarge { bp: coupon_share })?;
        Ok(Self::with_priority(Priority::Split { coupon_share }))
    }

    /// A fixed order over the three methods, strongest first.
    ///
    /// # Errors
    ///
    /// [`PolicyError::RepeatedMethod`] if a method appears twice.
    pub fn ordered(order: [Method; 3]) -> Result<Self, PolicyError> {
        for (i, m) in order.iter().enumerate() {
            if order.iter().skip(i + 1).any(|other| other == m) {
                return Err(PolicyError::RepeatedMethod { method: *m });
            }
        }
        Ok(Self::with_priority(Priority::Order { order }))
    }

    /// Policy durations are whole, non-negative seconds, so that they
    /// serialise exactly and read as they were set.
    fn non_negative(setting: &'static str, value: TimeDelta) -> Result<TimeDelta, PolicyError> {
        if value < TimeDelta::zero() {
            Err(PolicyError::NegativeDuration {
                setting,
                seconds: value.num_seconds().min(-1),
            })
        } else if value.subsec_nanos() != 0 {
            Err(PolicyError::SubSecond { setting })
        } else {
            Ok(value)
        }
    }

    /// How long after a click a conversion may still be credited to it;
    /// the boundary itself is inside.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NegativeDuration`] if negative,
    /// [`PolicyError::SubSecond`] if not whole seconds.
    pub fn with_click_window(mut self, window: TimeDelta) -> Result<Self, PolicyError> {
        self.click_window = Self::non_negative("click window", window)?;
        Ok(self)
    }

    /// Which click counts when several qualify.
    pub fn with_click_pick(mut self, pick: ClickPick) -> Self {
        self.click_pick = pick;
        self
    }

    /// The least time from click to conversion; faster conversions are
    /// rejected as too fast (bots). A minimum longer than the click window
    /// rejects every click.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NegativeDuration`] if negative,
    /// [`PolicyError::SubSecond`] if not whole seconds.
    pub fn with_min_click_age(mut self, age: TimeDelta) -> Result<Self, PolicyError> {
        self.min_click_age = Self::non_negative("minimum click age", age)?;
        Ok(self)
    }

    /// How far after the conversion a click may be stamped and still count,
    /// for clocks that disagree between servers.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NegativeDuration`] if negative,
    /// [`PolicyError::SubSecond`] if not whole seconds.
    pub fn with_clock_skew(mut self, skew: TimeDelta) -> Result<Self, PolicyError> {
        self.clock_skew = Self::non_negative("clock skew tolerance", skew)?;
        Ok(self)
    }

    /// The events whose credit binds the customer to the credited affiliate.
    pub fn with_bind_on(mut self, events: EventKinds) -> Self {
        self.bind_on = events;
        self
    }

    /// How long a new binding lasts.
    pub fn with_binding_lifetime(mut self, lifetime: BindingLifetime) -> Self {
        self.binding_lifetime = lifetime;
        self
    }

    /// Whether a valid code on a later conversion breaks a live binding,
    /// when the code would win were there no binding; the binding then
    /// moves to the affiliate credited. A code that would lose to a click
    /// anyway breaks nothing, nor does one that would take less than half
    /// in a split, nor a code of the bound affiliate (the binding holds).
    pub fn with_coupon_breaks_binding(mut self, breaks: bool) -> Self {
        self.coupon_breaks_binding = breaks;
        self
    }

    /// The events paid once a customer: a conversion of one of them whose
    /// customer had a conversion of the same event recorded first (under
    /// any id) is a duplicate of that one, and credits nobody. An iGaming
    /// first-time deposit is paid once a player, even when the operator
    /// reports a second one under another transaction id. Off by default.
    ///
    /// "First" is the first recorded, not the first to occur: a payment
    /// made is not taken back when an earlier conversion arrives late. The
    /// first conversion holds the key whether or not it credited anyone,
    /// so a player's second FTD is a duplicate even when the first was
    /// organic. A conversion without a customer is never a duplicate by
    /// this rule. Each custom event (by its label) is paid once on its
    /// own.
    ///
    /// ```
    /// use attributor::{Conversion, EventKind, EventKinds, Policy, UniqueKey};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    /// let policy = Policy::coupon_first().with_once_per_customer(EventKinds::FIRST_DEPOSIT);
    /// let ftd = Conversion::new("FTD-2".parse()?, EventKind::FirstDeposit, at)
    ///     .with_customer("player-1".parse()?);
    /// assert_eq!(
    ///     policy.unique_keys(&ftd).as_slice(),
    ///     [UniqueKey::Customer { customer: "player-1".parse()?, event: EventKind::FirstDeposit }]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_once_per_customer(mut self, events: EventKinds) -> Self {
        self.once_per_customer = events;
        self
    }

    /// The events paid once a click: a conversion of one of them that
    /// names a click ([`Conversion::click`]) a conversion of the same event
    /// recorded first named too is a duplicate of that one, and credits
    /// nobody, as networks that de-duplicate by click id do. A registration
    /// and a first deposit on one click are two events, each paid once; pass
    /// [`EventKinds::ALL`] for "one conversion a click and event". Only the
    /// click the conversion names counts, not a click found for its
    /// customer. Off by default. "First" is the first recorded, as for
    /// [`Policy::with_once_per_customer`].
    pub fn with_once_per_click(mut self, events: EventKinds) -> Self {
        self.once_per_click = events;
        self
    }

    /// Whether an unknown code is read as the one active code it looks
    /// like: a typed code whose [`Skeleton`](crate::Skeleton) is that of
    /// exactly one code active at the conversion's time is weighed as that
    /// code ("typed B0SS20, read as BOSS20"). Off by default: an unknown
    /// code stays unknown. Either way an unknown code's look-alikes and
    /// the codes one edit from it are named for review
    /// ([`Decision::candidates`](crate::Decision::candidates)); a code one
    /// edit away is never read, nor a look-alike when there are two.
    ///
    /// ```
    /// use attributor::Policy;
    /// assert!(!Policy::coupon_first().look_alikes());
    /// assert!(Policy::coupon_first().with_look_alikes(true).look_alikes());
    /// ```
    pub fn with_look_alikes(mut self, read: bool) -> Self {
        self.look_alikes = read;
        self
    }

    /// Whether an unknown code is read as its one active look-alike.
    pub fn look_alikes(&self) -> bool {
        self.look_alikes
    }

    /// The events paid once a customer.
    pub fn once_per_customer(&self) -> EventKinds {
        self.once_per_customer
    }

    /// The events paid once a click.
    pub fn once_per_click(&self) -> EventKinds {
        self.once_per_click
    }

    /// The keys `conversion` claims under this policy: what, besides its
    /// id, no conversion recorded after it may share with it. The
    /// customer's key comes first. Empty under a policy that pays every
    /// conversion (the default).
    pub fn unique_keys(&self, conversion: &Conversion) -> smallvec::SmallVec<[UniqueKey; 2]> {
        let (event, mut keys) = (conversion.event, smallvec::SmallVec::new());
        if let Some(customer) = conversion.customer {
            if self.once_per_customer.contains(&event) {
                keys.push(UniqueKey::Customer { customer, event });
            }
        }
        if let Some(click) = conversion.click {
            if self.once_per_click.contains(&event) {
                keys.push(UniqueKey::Click { click, event });
            }
        }
        keys
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The click window.
    pub fn click_window(&self) -> TimeDelta {
        self.click_window
    }

    /// Which click counts.
    pub fn click_pick(&self) -> ClickPick {
        self.click_pick
    }

    /// The minimum click-to-conversion time.
    pub fn min_click_age(&self) -> TimeDelta {
        self.min_click_age
    }

    /// The clock-skew tolerance.
    pub fn clock_skew(&self) -> TimeDelta {
        self.clock_skew
    }

    /// The events that bind.
    pub fn bind_on(&self) -> EventKinds {
        self.bind_on
    }

    /// The lifetime of new bindings.
    pub fn binding_lifetime(&self) -> BindingLifetime {
        self.binding_lifetime
    }

    /// Whether a coupon breaks a binding.
    pub fn coupon_breaks_binding(&self) -> bool {
        self.coupon_breaks_binding
    }

    /// A short name for the priority, as decisions print it:
    /// `coupon-first`, `click-first`, `last-touch`, `first-touch`,
    /// `split`, or the order such as `binding>click>coupon`.
    pub fn name(&self) -> PolicyName {
        PolicyName(self.priority)
    }
}

/// The printed name of a policy's priority; see [`Policy::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyName(Priority);

impl core::fmt::Display for PolicyName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Priority::Order {
                order: [Method::Binding, Method::Coupon, Method::Click],
            } => f.write_str("coupon-first"),
            Priority::Order {
                order: [Method::Binding, Method::Click, Method::Coupon],
            } => f.write_str("click-first"),
            Priority::Order { order: [a, b, c] } => write!(f, "{a}>{b}>{c}"),
            Priority::LastTouch => f.write_str("last-touch"),
            Priority::FirstTouch => f.write_str("first-touch"),
            Priority::Split { coupon_share } => write!(f, "split {coupon_share}/{}", 10_000 - coupon_share),
        }
    }
}

/// The serialised form of a [`Policy`], checked when read back.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFields {
    priority: Priority,
    click_window_secs: i64,
    click_pick: ClickPick,
    min_click_age_secs: i64,
    clock_skew_secs: i64,
    bind_on: EventKinds,
    binding_lifetime: BindingLifetime,
    coupon_breaks_binding: bool,
    #[serde(default, skip_serializing_if = "no_events")]
    once_per_customer: EventKinds,
    #[serde(default, skip_serializing_if = "no_events")]
    once_per_click: EventKinds,
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    look_alikes: bool,
}

#[cfg(feature = "serde")]
fn no_events(events: &EventKinds) -> bool {
    events.is_empty()
}

#[cfg(feature = "serde")]
impl From<Policy> for PolicyFields {
    fn from(p: Policy) -> Self {
        Self {
            priority: p.priority,
            click_window_secs: p.click_window.num_seconds(),
            click_pick: p.click_pick,
            min_click_age_secs: p.min_click_age.num_seconds(),
            clock_skew_secs: p.clock_skew.num_seconds(),
            bind_on: p.bind_on,
            binding_lifetime: p.binding_lifetime,
            coupon_breaks_binding: p.coupon_breaks_binding,
            once_per_customer: p.once_per_customer,
            once_per_click: p.once_per_click,
            look_alikes: p.look_alikes,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<PolicyFields> for Policy {
    type Error = PolicyError;
    fn try_from(f: PolicyFields) -> Result<Self, PolicyError> {
        let base = match f.priority {
            Priority::Order { order } => Policy::ordered(order)?,
            Priority::Split { coupon_share } => Policy::split(u32::from(coupon_share))?,
            other => Policy::with_priority(other),
        };
        let secs = |setting: &'static str, seconds: i64| {
            TimeDelta::try_seconds(seconds).ok_or(PolicyError::DurationOutOfRange { setting, seconds })
        };
        Ok(base
            .with_click_window(secs("click_window_secs", f.click_window_secs)?)?
            .with_click_pick(f.click_pick)
            .with_min_click_age(secs("min_click_age_secs", f.min_click_age_secs)?)?
            .with_clock_skew(secs("clock_skew_secs", f.clock_skew_secs)?)?
            .with_bind_on(f.bind_on)
            .with_binding_lifetime(f.binding_lifetime)
            .with_coupon_breaks_binding(f.coupon_breaks_binding)
            .with_once_per_customer(f.once_per_customer)
            .with_once_per_click(f.once_per_click)
            .with_look_alikes(f.look_alikes))
    }
}

/// A default policy with overrides by event kind, e.g. one rule for
/// registrations and another for challenge purchases.
///
/// ```
/// use attributor::{EventKind, Policy, PolicySet};
///
/// let set = PolicySet::new(Policy::coupon_first())
///     .with(EventKind::Registration, Policy::click_first());
/// assert_eq!(*set.for_event(&EventKind::Registration), Policy::click_first());
/// assert_eq!(*set.for_event(&EventKind::Purchase), Policy::coupon_first());
/// ```
///
/// Two sets are equal when they pick the same policy for every event,
/// whatever order their overrides were added in.
#[derive(Clone, Debug)]
pub struct PolicySet {
    default: Policy,
    overrides: smallvec::SmallVec<[(EventKind, Policy); 4]>,
}

impl PolicySet {
    /// A set with one policy for every event.
    pub fn new(default: Policy) -> Self {
        Self {
            default,
            overrides: smallvec::SmallVec::new(),
        }
    }

    /// Uses `policy` for `event`, replacing an earlier override of it.
    pub fn with(mut self, event: EventKind, policy: Policy) -> Self {
        match self.overrides.iter_mut().find(|(e, _)| *e == event) {
            Some(slot) => slot.1 = policy,
            None => self.overrides.push((event, policy)),
        }
        self
    }

    /// The policy for `event`.
    pub fn for_event(&self, event: &EventKind) -> &Policy {
        self.overrides
            .iter()
            .find(|(e, _)| e == event)
            .map_or(&self.default, |(_, p)| p)
    }

    /// The default policy.
    pub fn default_policy(&self) -> &Policy {
        &self.default
    }
}

impl PartialEq for PolicySet {
    fn eq(&self, other: &Self) -> bool {
        self.default == other.default
            && self.overrides.iter().all(|(e, p)| other.for_event(e) == p)
            && other.overrides.iter().all(|(e, p)| self.for_event(e) == p)
    }
}

impl Eq for PolicySet {}

impl From<Policy> for PolicySet {
    fn from(policy: Policy) -> Self {
        Self::new(policy)
    }
}

/// A way an affiliate earns credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Method {
    /// A live binding of the customer to the affiliate.
    Binding,
    /// A coupon code the customer entered.
    Coupon,
    /// A click on the affiliate's tracked link.
    Click,
}

impl core::fmt::Display for Method {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Binding => "binding",
            Self::Coupon => "coupon",
            Self::Click => "click",
        })
    }
}

/// The rule a duplicate breaks: what, besides its id, a conversion must
/// not share with one recorded before it ([`Policy::with_once_per_customer`],
/// [`Policy::with_once_per_click`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Uniqueness {
    /// One conversion of its event kind a customer.
    Customer,
    /// One conversion of its event kind a click.
    Click,
}

/// What a conversion claims when it is recorded, besides its id, under a
/// policy that pays some conversions once ([`Policy::unique_keys`]): no
/// later conversion may hold the same key.
///
/// [`Policy::unique_keys`]: crate::Policy::unique_keys
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueKey {
    /// A customer's conversions of one event kind.
    Customer {
        /// The customer.
        customer: CustomerId,
        /// The event kind.
        event: EventKind,
    },
    /// The conversions of one event kind that name a click.
    Click {
        /// The click's id.
        click: ClickId,
        /// The event kind.
        event: EventKind,
    },
}

impl UniqueKey {
    /// The rule the key stands for.
    pub fn uniqueness(&self) -> Uniqueness {
        match self {
            Self::Customer { .. } => Uniqueness::Customer,
            Self::Click { .. } => Uniqueness::Click,
        }
    }
}

/// A [`Policy`](crate::Policy) setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A split share above 10000 basis points.
    #[error("split share of {bp} basis points is more than 10000")]
    ShareTooLarge {
        /// The share given.
        bp: u32,
    },
    /// A negative duration.
    #[error("{setting} of {seconds} s is negative")]
    NegativeDuration {
        /// The setting.
        setting: &'static str,
        /// The value given, in whole seconds.
        seconds: i64,
    },
    /// A duration too long for chrono to hold (more than about 292 million
    /// years), as a policy read from JSON may give.
    #[error("{setting} of {seconds} s is out of range")]
    DurationOutOfRange {
        /// The setting: for a policy read from JSON, its field.
        setting: &'static str,
        /// The value given, in whole seconds.
        seconds: i64,
    },
    /// A duration with a fraction of a second: policy durations are whole
    /// seconds.
    #[error("{setting} is not a whole number of seconds")]
    SubSecond {
        /// The setting.
        setting: &'static str,
    },
    /// A fixed priority order names a method twice.
    #[error("priority order names {method} twice")]
    RepeatedMethod {
        /// The method named twice.
        method: crate::policy::Method,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_sets_that_pick_the_same_policy_for_every_event_are_equal() {
        let registrations = Policy::click_first();
        let deposits = Policy::split(3_000).unwrap();
        let a = PolicySet::new(Policy::coupon_first())
            .with(EventKind::Registration, registrations)
            .with(EventKind::Deposit, deposits);
        let b = PolicySet::new(Policy::coupon_first())
            .with(EventKind::Deposit, deposits)
            .with(EventKind::Registration, registrations);
        assert_eq!(a, b, "the order overrides were added in does not matter");

        let redundant =
            PolicySet::new(Policy::coupon_first()).with(EventKind::Purchase, Policy::coupon_first());
        assert_eq!(redundant, PolicySet::new(Policy::coupon_first()));

        let other = PolicySet::new(Policy::coupon_first()).with(EventKind::Registration, registrations);
        assert_ne!(a, other, "a has a deposit override that other lacks");
        assert_ne!(other, a);
        assert_ne!(
            PolicySet::new(Policy::coupon_first()),
            PolicySet::new(Policy::click_first())
        );
    }
}

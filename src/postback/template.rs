//! Outbound postback templates: a partner's URL with `{macro}` placeholders.

use core::fmt;

use chrono::SecondsFormat;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::conversion::{Click, Conversion};
use crate::decision::{Decision, Outcome, Subject};
use crate::ids::{AffiliateId, Excerpt};
use crate::postback::error::TemplateError;

/// Bytes left as they are in a rendered value: the URI's unreserved
/// characters (RFC 3986, section 2.3). Everything else is percent-encoded,
/// so a value is safe in a path segment, a query name or a query value.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A placeholder of a [`PostbackTemplate`], written `{name}`.
///
/// | macro              | renders                                                        |
/// |--------------------|----------------------------------------------------------------|
/// | `{click_id}`       | the affiliate's click in the decision                          |
/// | `{transaction_id}` | the conversion id                                              |
/// | `{event}`          | the event name (`purchase`, `first_deposit`, a custom name)    |
/// | `{amount}`         | the amount, as `49.99`                                         |
/// | `{currency}`       | the currency, as `USD`                                         |
/// | `{affiliate_id}`   | the credited affiliate                                         |
/// | `{code}`           | the affiliate's coupon code in the decision, canonical         |
/// | `{sub1}`..`{sub5}` | the sub ids of the click given to the render, if it is theirs  |
/// | `{timestamp}`      | when the conversion happened, RFC 3339 in UTC                  |
/// | `{timestamp_unix}` | the same, in whole seconds since 1970-01-01 UTC                |
///
/// [`PostbackTemplate::render_for`] says exactly which click and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Macro {
    /// `{click_id}`.
    ClickId,
    /// `{transaction_id}`: the conversion id.
    TransactionId,
    /// `{event}`.
    Event,
    /// `{amount}`.
    Amount,
    /// `{currency}`.
    Currency,
    /// `{affiliate_id}`.
    AffiliateId,
    /// `{code}`.
    Code,
    /// `{sub1}`.
    Sub1,
    /// `{sub2}`.
    Sub2,
    /// `{sub3}`.
    Sub3,
    /// `{sub4}`.
    Sub4,
    /// `{sub5}`.
    Sub5,
    /// `{timestamp}`: RFC 3339, UTC, with fractional seconds only when they
    /// are not zero (`2026-06-01T12:00:00Z`).
    Timestamp,
    /// `{timestamp_unix}`: whole seconds since 1970-01-01 UTC, rounded down
    /// (negative before 1970; [`PostbackParser`](crate::PostbackParser)
    /// refuses negative seconds as a sign of a broken clock, and reads such
    /// a time only as RFC 3339, from `{timestamp}`).
    TimestampUnix,
}

impl Macro {
    /// Every macro, in the order of the table above. A slice, so that a
    /// new macro is not a breaking change.
    pub const ALL: &'static [Self] = &[
        Self::ClickId,
        Self::TransactionId,
        Self::Event,
        Self::Amount,
        Self::Currency,
        Self::AffiliateId,
        Self::Code,
        Self::Sub1,
        Self::Sub2,
        Self::Sub3,
        Self::Sub4,
        Self::Sub5,
        Self::Timestamp,
        Self::TimestampUnix,
    ];

    /// The name between the braces.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ClickId => "click_id",
            Self::TransactionId => "transaction_id",
            Self::Event => "event",
            Self::Amount => "amount",
            Self::Currency => "currency",
            Self::AffiliateId => "affiliate_id",
            Self::Code => "code",
            Self::Sub1 => "sub1",
            Self::Sub2 => "sub2",
            Self::Sub3 => "sub3",
            Self::Sub4 => "sub4",
            Self::Sub5 => "sub5",
            Self::Timestamp => "timestamp",
            Self::TimestampUnix => "timestamp_unix",
        }
    }

    /// The macro called `name`, exactly (names are lower case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl fmt::Display for Macro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Macro(Macro),
}

/// A partner's postback URL with `{macro}` placeholders (see [`Macro`]),
/// checked when parsed, so that rendering it never fails.
///
/// A partner (an affiliate network, a media buyer's tracker) asks to be told
/// of the conversions it is credited with by a URL such as
/// `https://partner.example/pb?cid={click_id}&amt={amount}`. Parse it once,
/// when the partner is configured; render it for each credited conversion.
///
/// # Syntax
///
/// * `{name}` is a placeholder; the name is one of [`Macro::ALL`], exactly,
///   lower case, no spaces.
/// * `{` with no `}` after it, and `}` with no `{` before it, are errors:
///   a URL has no business holding a raw brace, nor raw whitespace or
///   control characters.
/// * With every placeholder filled, the template must be an absolute
///   `http` or `https` URL.
///
/// Rendered values are percent-encoded: everything but ASCII letters,
/// digits and `-._~` becomes `%XX`, so a value can hold `&`, `=`, `#` or a
/// space without breaking the URL. In the path, a segment that values make
/// only of dots (a click id `..` in `/pb/{click_id}/`) renders empty, since
/// URL parsers would read it as a step up the path, encoded or not. The
/// rest of the template is kept as written.
///
/// # Examples
///
/// ```
/// use attributor::{PostbackTemplate, TemplateError};
///
/// let template = PostbackTemplate::parse(
///     "https://partner.example/pb?cid={click_id}&amt={amount}&tx={transaction_id}",
/// )?;
/// assert_eq!(template.macros().count(), 3);
///
/// let err = PostbackTemplate::parse("https://partner.example/pb?cid={clickid}").unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown macro "clickid" at position 31 of postback template"#);
/// let err = PostbackTemplate::parse("https://partner.example/pb?cid={click_id").unwrap_err();
/// assert_eq!(err, TemplateError::Unclosed { position: 31 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostbackTemplate {
    text: String,
    pieces: Vec<Piece>,
}

impl PostbackTemplate {
    /// Parses and checks a template.
    ///
    /// # Errors
    ///
    /// * [`TemplateError::UnknownMacro`] for a `{name}` that is not a
    ///   [`Macro`], with its position;
    /// * [`TemplateError::Unclosed`] for a `{` with no `}` after it;
    /// * [`TemplateError::Unopened`] for a `}` with no `{` before it;
    /// * [`TemplateError::Whitespace`] for whitespace or a control character
    ///   outside the braces (write a space in a URL as `%20`);
    /// * [`TemplateError::MacroBeforePath`] for a placeholder in the scheme,
    ///   user, host or port, where a value could choose the server;
    /// * [`TemplateError::Malformed`] if, filled in, it is not a URL;
    /// * [`TemplateError::NotHttp`] if it is a URL of another scheme.
    ///
    /// Positions count characters from zero. The first problem from the left
    /// is reported, except that a placeholder that only a URL parser reads
    /// as part of the host (`https:///{click_id}/`) is found once the whole
    /// template is read, as are `Malformed` and `NotHttp`.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut positions = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().enumerate();
        while let Some((position, ch)) = chars.next() {
            match ch {
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed { position });
                    }
                    let found = Macro::from_name(&name).ok_or_else(|| TemplateError::UnknownMacro {
                        name: Excerpt::new(&name),
                        position,
                    })?;
                    if pieces.is_empty() && !authority_ended(&text) {
                        return Err(TemplateError::MacroBeforePath {
                            name: Excerpt::new(&name),
                            position,
                        });
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(core::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Macro(found));
                    positions.push(position);
                }
                '}' => return Err(TemplateError::Unopened { position }),
                // URL parsers drop tabs and newlines anywhere, and spaces and
                // controls at the ends, so such text would not say what the
                // partner gets (and `..` plus a newline is a dot segment).
                other if other.is_whitespace() || other.is_control() => {
                    return Err(TemplateError::Whitespace { ch: other, position });
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let parsed = Self {
            text: template.to_owned(),
            pieces,
        };
        parsed.check_url(&positions)?;
        Ok(parsed)
    }

    /// Checks that the template, with a sample value in every placeholder,
    /// is an absolute HTTP(S) URL, and that no placeholder's value can
    /// change where it goes: with any one placeholder's sample changed, the
    /// scheme, user, host and port stay the same. This catches what a text
    /// check cannot, such as `https:///{click_id}/`, which URL parsers read
    /// as the host `{click_id}`. `positions` are the placeholders'.
    fn check_url(&self, positions: &[usize]) -> Result<(), TemplateError> {
        let url = Url::parse(&self.sample(None)).map_err(|source| TemplateError::Malformed {
            template: Excerpt::new(&self.text),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TemplateError::NotHttp {
                scheme: Excerpt::new(url.scheme()),
            });
        }
        for (index, (found, &position)) in self.macros().zip(positions).enumerate() {
            let moved = Url::parse(&self.sample(Some(index))).map_or(true, |other| {
                (
                    other.scheme(),
                    other.username(),
                    other.password(),
                    other.host(),
                    other.port(),
                ) != (
                    url.scheme(),
                    url.username(),
                    url.password(),
                    url.host(),
                    url.port(),
                )
            });
            if moved {
                return Err(TemplateError::MacroBeforePath {
                    name: Excerpt::new(found.name()),
                    position,
                });
            }
        }
        Ok(())
    }

    /// The template with `0` in every placeholder, or `1` in the one at
    /// `changed` (counted among the placeholders).
    fn sample(&self, changed: Option<usize>) -> String {
        let mut sample = String::with_capacity(self.text.len());
        let mut index = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => sample.push_str(text),
                Piece::Macro(_) => {
                    sample.push(if changed == Some(index) { '1' } else { '0' });
                    index += 1;
                }
            }
        }
        sample
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholders, in order, repeats included.
    pub fn macros(&self) -> impl Iterator<Item = Macro> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Macro(m) => Some(*m),
            Piece::Text(_) => None,
        })
    }

    /// The postback for the decision's primary affiliate
    /// ([`Decision::primary`]); see [`PostbackTemplate::render_for`]. When
    /// the decision credits nobody, the affiliate's macros (`affiliate_id`,
    /// `click_id`, `code`, `sub1`..`sub5`) render empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{resolve, AffiliateId, CodeAssignment, CodeLookup, Conversion, CouponCode,
    ///     EventKind, Evidence, Policy, PostbackTemplate};
    /// use chrono::{TimeDelta, TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    /// let code = CouponCode::parse("mkbhd10")?;
    /// let conversion = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at)
    ///     .with_code(code)
    ///     .with_amount("49.99".parse()?, "USD".parse()?);
    /// let owner = CodeAssignment::new(code, AffiliateId::new(7), at - TimeDelta::days(30));
    /// let decision = resolve(&conversion, &Evidence::new().with_code(code, CodeLookup::Active(owner)),
    ///     &Policy::coupon_first());
    ///
    /// let template = PostbackTemplate::parse(
    ///     "https://partner.example/pb?aff={affiliate_id}&code={code}&amt={amount}{currency}&at={timestamp}",
    /// )?;
    /// assert_eq!(
    ///     template.render(&conversion, &decision, None),
    ///     "https://partner.example/pb?aff=7&code=MKBHD10&amt=49.99USD&at=2026-06-01T12%3A00%3A00Z"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render(&self, conversion: &Conversion, decision: &Decision, click: Option<&Click>) -> String {
        self.render_with(decision.primary(), conversion, decision, click)
    }

    /// The postback for `affiliate`, one of the decision's credits (in a
    /// split, each credited affiliate gets its own).
    ///
    /// The values come from:
    ///
    /// * `transaction_id`, `event`, `timestamp`, `timestamp_unix`, `amount`
    ///   and `currency`: the `conversion` (amount and currency render empty
    ///   when it has none);
    /// * `affiliate_id`: `affiliate`;
    /// * `click_id` and `code`: the first click or code in the decision's
    ///   `considered` list that names `affiliate`, preferring one credited
    ///   (so a partner credited by its code still gets its click id when the
    ///   customer also clicked its link); empty if there is none. Another
    ///   affiliate's click or code is never sent;
    /// * `sub1`..`sub5`: `click`, usually the credited click as stored in
    ///   your [`ClickStore`](crate::ClickStore), when it is `affiliate`'s;
    ///   empty otherwise.
    ///
    /// Rendering never fails and never panics.
    pub fn render_for(
        &self,
        affiliate: AffiliateId,
        conversion: &Conversion,
        decision: &Decision,
        click: Option<&Click>,
    ) -> String {
        self.render_with(Some(affiliate), conversion, decision, click)
    }

    fn render_with(
        &self,
        affiliate: Option<AffiliateId>,
        conversion: &Conversion,
        decision: &Decision,
        click: Option<&Click>,
    ) -> String {
        let click_id = evidence_of(decision, affiliate, |s| match s {
            Subject::Click { id, .. } => Some(*id),
            _ => None,
        });
        let code = evidence_of(decision, affiliate, |s| match s {
            // The code it was read as, when it was: the one the owner gave out.
            Subject::Code { code, read_as, .. } => Some(read_as.unwrap_or(*code)),
            _ => None,
        });
        let sub_ids = click
            .filter(|c| affiliate == Some(c.affiliate))
            .map(|c| c.sub_ids)
            .unwrap_or_default();

        let mut out = String::with_capacity(self.text.len() + 64);
        let mut path = PathSegment::default();
        for piece in &self.pieces {
            let m = match piece {
                Piece::Text(text) => {
                    path.push_text(&mut out, text);
                    continue;
                }
                Piece::Macro(m) => *m,
            };
            let before = out.len();
            let sub = |n: usize| sub_ids.get(n).map(|s| s.as_str());
            match m {
                Macro::ClickId => push(&mut out, click_id.as_ref().map(|c| c.as_str())),
                Macro::TransactionId => push(&mut out, Some(conversion.id.as_str())),
                Macro::Event => push(&mut out, Some(conversion.event.name())),
                Macro::Amount => push(&mut out, conversion.amount.map(|a| a.to_string()).as_deref()),
                Macro::Currency => push(&mut out, conversion.currency.as_ref().map(|c| c.as_str())),
                Macro::AffiliateId => push(&mut out, affiliate.map(|a| a.to_string()).as_deref()),
                Macro::Code => push(&mut out, code.as_ref().map(|c| c.as_str())),
                Macro::Sub1 => push(&mut out, sub(1)),
                Macro::Sub2 => push(&mut out, sub(2)),
                Macro::Sub3 => push(&mut out, sub(3)),
                Macro::Sub4 => push(&mut out, sub(4)),
                Macro::Sub5 => push(&mut out, sub(5)),
                Macro::Timestamp => {
                    let at = conversion
                        .occurred_at
                        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
                    push(&mut out, Some(&at));
                }
                Macro::TimestampUnix => {
                    push(&mut out, Some(&conversion.occurred_at.timestamp().to_string()));
                }
            }
            if out.len() > before {
                path.value_rendered();
            }
        }
        path.end(&mut out);
        out
    }
}

/// Where rendering is in the URL's path, so that values cannot make a dot
/// segment. A segment of only dots (`.`, `..`) is read by URL parsers as
/// "here" or "up one", and percent-encoding does not stop them (`%2E%2E`
/// counts too), so a click id `..` in `/pb/{click_id}/conv` would send the
/// postback to `/pb/conv`. A segment that a value helped to make only of
/// dots renders empty instead. (The template holds no whitespace, which
/// parsers would drop around the dots.)
#[derive(Default)]
struct PathSegment {
    /// The query or fragment has begun: there are no more segments.
    past_path: bool,
    /// Where in the output the current segment starts.
    start: usize,
    /// Whether a value was rendered into the current segment.
    has_value: bool,
}

impl PathSegment {
    /// Appends template text, ending a segment at each `/` (or `\\`, which
    /// HTTP URLs read as `/`), and the path at `?` or `#`.
    fn push_text(&mut self, out: &mut String, text: &str) {
        let mut rest = text;
        while !self.past_path {
            let Some(at) = rest.find(['/', '\\', '?', '#']) else {
                break;
            };
            let (segment, tail) = rest.split_at(at);
            out.push_str(segment);
            self.end(out);
            self.past_path = tail.starts_with(['?', '#']);
            rest = tail;
            // The separator, then a new segment after it.
            if let Some(separator) = rest.chars().next() {
                out.push(separator);
                rest = rest.get(separator.len_utf8()..).unwrap_or_default();
            }
            self.start = out.len();
        }
        out.push_str(rest);
    }

    /// Notes that a value was rendered into the current segment.
    fn value_rendered(&mut self) {
        if !self.past_path {
            self.has_value = true;
        }
    }

    /// Ends the current segment: empties it if a value helped make it all
    /// dots, literal or encoded (`%2e`), as URL parsers count them.
    fn end(&mut self, out: &mut String) {
        if !self.past_path
            && core::mem::take(&mut self.has_value)
            && out.get(self.start..).is_some_and(only_dots)
        {
            out.truncate(self.start);
        }
    }
}

/// Whether `segment` is one or more dots, each `.` or `%2e` in any case.
fn only_dots(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
    }
    !segment.is_empty()
}

/// Appends `value`, percent-encoded; nothing for `None`.
fn push(out: &mut String, value: Option<&str>) {
    if let Some(value) = value {
        out.extend(utf8_percent_encode(value, VALUE));
    }
}

/// What `pick` finds in the first piece of evidence in `decision` that
/// names `affiliate`, preferring credited evidence.
fn evidence_of<T>(
    decision: &Decision,
    affiliate: Option<AffiliateId>,
    pick: impl Fn(&Subject) -> Option<T>,
) -> Option<T> {
    let affiliate = affiliate?;
    decision
        .considered
        .iter()
        .filter(|c| c.affiliate == Some(affiliate))
        .filter_map(|c| Some((c.outcome != Outcome::Credited, pick(&c.subject)?)))
        .min_by_key(|(not_credited, _)| *not_credited)
        .map(|(_, found)| found)
}

impl fmt::Display for PostbackTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl core::str::FromStr for PostbackTemplate {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Self::parse(s)
    }
}

/// Whether `head`, the text before a template's first placeholder, runs past
/// the URL's scheme and host: placeholders belong in the path, query or
/// fragment, where any value (an empty one too) leaves a URL. This reads the
/// plain forms as the template is scanned, so that the first problem from
/// the left is reported; `check_url` then catches the forms that only a URL
/// parser reads as a host. (Without `://` the template is no absolute URL,
/// which the URL check reports.)
fn authority_ended(head: &str) -> bool {
    // Nothing but a scheme's characters so far: the placeholder is in it.
    let in_scheme = head
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    !in_scheme
        && head
            .split_once("://")
            .is_none_or(|(_, rest)| rest.contains(['/', '?', '#']))
}

//! Tracked affiliate links: build one from a landing URL, parse one back.

use chrono::{DateTime, Utc};
use url::Url;

use crate::conversion::{Click, SubIds};
use crate::ids::{AffiliateId, Campaign, ClickId, CustomerId, Excerpt, IdError, Label, SubId};
use crate::postback::form;

/// The parts a tracked affiliate link carries in its query: whose link it is,
/// the click id (once a click has been recorded), up to five sub ids and a
/// campaign.
///
/// [`TrackedLink::build`] adds them to a landing URL, keeping its path, query
/// and fragment; [`TrackedLink::parse`] reads them back. The query parameter
/// names come from [`LinkParams`]. Values are encoded and decoded as
/// `application/x-www-form-urlencoded` by the `url` crate. Web links and
/// app deep links (`myapp://open/offer`) are both links; a URL that a
/// browser would run as script or read from disk (`javascript:`,
/// `vbscript:`, `data:`, `file:`) is refused.
///
/// # Limits
///
/// The affiliate id is a number ([`AffiliateId`]). The click id and the sub
/// ids hold at most [`MAX_ID_LEN`](crate::MAX_ID_LEN) bytes and no
/// whitespace; the campaign at most [`MAX_ID_LEN`](crate::MAX_ID_LEN) bytes,
/// inner spaces allowed. The limits apply to the decoded values.
///
/// # Examples
///
/// ```
/// use attributor::{AffiliateId, LinkParams, TrackedLink};
///
/// let params = LinkParams::default();
/// let link = TrackedLink::new(AffiliateId::new(42))
///     .with_sub(1, "tiktok".parse()?)
///     .with_campaign("Spring Sale".parse()?);
/// let url = link.build("https://shop.example/challenge?plan=50k#pricing", &params)?;
/// assert_eq!(
///     url,
///     "https://shop.example/challenge?plan=50k&aff_id=42&sub1=tiktok&campaign=Spring+Sale#pricing"
/// );
/// assert_eq!(TrackedLink::parse(&url, &params)?, link);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackedLink {
    /// Whose link it is.
    pub affiliate: AffiliateId,
    /// The click id, once the tracker has recorded a click.
    pub click: Option<ClickId>,
    /// The affiliate's own tags, `sub1` to `sub5`.
    pub sub_ids: SubIds,
    /// The campaign, if any.
    pub campaign: Option<Campaign>,
}

impl TrackedLink {
    /// A link of `affiliate` with no click id, sub ids or campaign.
    pub fn new(affiliate: AffiliateId) -> Self {
        Self {
            affiliate,
            click: None,
            sub_ids: SubIds::default(),
            campaign: None,
        }
    }

    /// Sets the click id.
    pub fn with_click(mut self, click: ClickId) -> Self {
        self.click = Some(click);
        self
    }

    /// Sets sub id `n` (1 to 5); other positions are ignored, as
    /// [`SubIds::with`] does.
    pub fn with_sub(mut self, n: usize, value: SubId) -> Self {
        self.sub_ids = self.sub_ids.with(n, value);
        self
    }

    /// Sets all five sub ids.
    pub fn with_sub_ids(mut self, sub_ids: SubIds) -> Self {
        self.sub_ids = sub_ids;
        self
    }

    /// Sets the campaign.
    pub fn with_campaign(mut self, campaign: Campaign) -> Self {
        self.campaign = Some(campaign);
        self
    }

    /// The tracked link: `landing` with the link's parts appended to its
    /// query, in the order affiliate, click id, `sub1` to `sub5`, campaign.
    /// Parts that are not set are left out. The landing URL's own query
    /// parameters and its fragment are kept; the URL is normalised as the
    /// WHATWG URL standard says (so `https://shop.example` gains its `/`).
    ///
    /// # Errors
    ///
    /// * [`LinkError::Malformed`] if `landing` is not an absolute URL;
    /// * [`LinkError::Scheme`] if a browser would run it as script or read
    ///   it from disk (`javascript:`, `vbscript:`, `data:`, `file:`);
    /// * [`LinkError::Duplicate`] if `landing` already has one of the
    ///   parameters of `params`, which would make the link ambiguous.
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{AffiliateId, LinkError, LinkParams, TrackedLink};
    ///
    /// let params = LinkParams::default().with_affiliate("ref")?;
    /// let link = TrackedLink::new(AffiliateId::new(7)).with_click("c-1".parse()?);
    /// assert_eq!(link.build("https://casino.example/", &params)?,
    ///     "https://casino.example/?ref=7&click_id=c-1");
    /// assert!(matches!(link.build("https://casino.example/?ref=9", &params),
    ///     Err(LinkError::Duplicate { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self, landing: &str, params: &LinkParams) -> Result<String, LinkError> {
        let mut url = parse_url(landing)?;
        for (name, _) in url.query_pairs() {
            if params.part_named(&name).is_some() {
                return Err(LinkError::Duplicate {
                    param: Excerpt::new(&name),
                });
            }
        }
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(params.name(Part::Affiliate), &self.affiliate.to_string());
            if let Some(click) = &self.click {
                query.append_pair(params.name(Part::Click), click.as_str());
            }
            for n in 1..=5 {
                if let Some(sub) = self.sub_ids.get(n) {
                    query.append_pair(params.name(Part::Sub(n)), sub.as_str());
                }
            }
            if let Some(campaign) = &self.campaign {
                query.append_pair(params.name(Part::Campaign), campaign.as_str());
            }
        }
        Ok(url.into())
    }

    /// Reads the parts of a tracked link from its query. Parameters that are
    /// not in `params` are ignored. An empty value of an optional part
    /// (`sub2=`) counts as absent, as trackers fill unused slots that way.
    ///
    /// # Errors
    ///
    /// * [`LinkError::Malformed`] if `link` is not an absolute URL;
    /// * [`LinkError::Scheme`] if a browser would run it as script or read
    ///   it from disk;
    /// * [`LinkError::Missing`] if it has no affiliate parameter;
    /// * [`LinkError::Duplicate`] if one of the parameters of `params`
    ///   appears twice, even with the same value or empty;
    /// * [`LinkError::NotUtf8`] if a value is not UTF-8 once
    ///   percent-decoded (lossy decoding would make two click ids one);
    /// * [`LinkError::TooLong`] if a value is longer than its limit;
    /// * [`LinkError::BadValue`] if a value is not a valid id (the affiliate
    ///   id is not a number, is empty, or a value holds whitespace or a
    ///   control character).
    ///
    /// The first problem in query order is reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{AffiliateId, LinkError, LinkParams, TrackedLink};
    ///
    /// let params = LinkParams::default();
    /// let link = TrackedLink::parse("https://prop.example/?aff_id=42&sub1=yt&sub2=&click_id=c-9", &params)?;
    /// assert_eq!(link.affiliate, AffiliateId::new(42));
    /// assert_eq!(link.click.map(|c| c.to_string()).as_deref(), Some("c-9"));
    /// assert_eq!(link.sub_ids.get(2), None);
    ///
    /// let err = TrackedLink::parse("https://prop.example/?aff_id=42&sub1=a&sub1=b", &params).unwrap_err();
    /// assert_eq!(err.to_string(), r#"parameter "sub1" appears more than once"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(link: &str, params: &LinkParams) -> Result<Self, LinkError> {
        let url = parse_url(link)?;
        let mut seen = [false; PARTS.len()];
        let mut affiliate = None;
        let mut out = Self::new(AffiliateId::new(0));
        for form::Pair { name, value } in form::pairs(url.query().unwrap_or_default().as_bytes()) {
            let Some((index, part)) = params.part_named(&name) else {
                continue;
            };
            if let Some(seen) = seen.get_mut(index) {
                if *seen {
                    return Err(LinkError::Duplicate {
                        param: Excerpt::new(&name),
                    });
                }
                *seen = true;
            }
            let value = value.ok_or_else(|| LinkError::NotUtf8 {
                param: Excerpt::new(&name),
            })?;
            let bad = |source| value_error(&name, &value, source);
            match part {
                Part::Affiliate => affiliate = Some(value.parse::<AffiliateId>().map_err(bad)?),
                _ if value.is_empty() => {}
                Part::Click => out.click = Some(ClickId::new(&value).map_err(bad)?),
                Part::Sub(n) => out.sub_ids = out.sub_ids.with(n, SubId::new(&value).map_err(bad)?),
                Part::Campaign => out.campaign = Some(Campaign::new(&value).map_err(bad)?),
            }
        }
        out.affiliate = affiliate.ok_or_else(|| LinkError::Missing {
            param: Excerpt::new(params.name(Part::Affiliate)),
        })?;
        Ok(out)
    }

    /// The [`Click`] a visit through this link records: its click id,
    /// affiliate and sub ids, made at `clicked_at` by `visitor`. The campaign
    /// is not part of a [`Click`].
    ///
    /// # Errors
    ///
    /// [`LinkError::NoClickId`] if the link carries no click id.
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{LinkParams, TrackedLink};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    /// let link = TrackedLink::parse("https://prop.example/?aff_id=42&click_id=c-9&sub1=yt",
    ///     &LinkParams::default())?;
    /// let click = link.to_click(at, "visitor-1".parse()?)?;
    /// assert_eq!(click.id.as_str(), "c-9");
    /// assert_eq!(click.customer.map(|c| c.to_string()).as_deref(), Some("visitor-1"));
    /// assert_eq!(click.sub_ids.get(1).map(|s| s.as_str()), Some("yt"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_click(self, clicked_at: DateTime<Utc>, visitor: CustomerId) -> Result<Click, LinkError> {
        let id = self.click.ok_or(LinkError::NoClickId)?;
        Ok(Click::new(id, self.affiliate, clicked_at)
            .with_customer(visitor)
            .with_sub_ids(self.sub_ids))
    }
}

/// Schemes a browser runs or reads locally: a link with one would run what
/// it holds in the dashboard that shows it.
const REFUSED_SCHEMES: [&str; 4] = ["javascript", "vbscript", "data", "file"];

fn parse_url(s: &str) -> Result<Url, LinkError> {
    let url = Url::parse(s).map_err(|source| LinkError::Malformed {
        url: Excerpt::new(s),
        source,
    })?;
    // The parser lower-cases the scheme and drops tabs and newlines in it.
    if REFUSED_SCHEMES.contains(&url.scheme()) {
        return Err(LinkError::Scheme {
            scheme: Excerpt::new(url.scheme()),
        });
    }
    Ok(url)
}

fn value_error(param: &str, value: &str, source: IdError) -> LinkError {
    match source {
        IdError::TooLong { len, max } => LinkError::TooLong {
            param: Excerpt::new(param),
            len,
            max,
        },
        source => LinkError::BadValue {
            param: Excerpt::new(param),
            value: Excerpt::new(value),
            source,
        },
    }
}

/// A part of a tracked link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Affiliate,
    Click,
    /// Sub id 1 to 5.
    Sub(usize),
    Campaign,
}

/// The parts, in the order of `LinkParams::names`.
const PARTS: [Part; 8] = [
    Part::Affiliate,
    Part::Click,
    Part::Sub(1),
    Part::Sub(2),
    Part::Sub(3),
    Part::Sub(4),
    Part::Sub(5),
    Part::Campaign,
];

impl Part {
    fn index(self) -> usize {
        match self {
            Self::Affiliate => 0,
            Self::Click => 1,
            Self::Sub(n) => 1 + n.clamp(1, 5),
            Self::Campaign => 7,
        }
    }
}

/// A parameter name: a default, or one the caller set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ParamName {
    Default(&'static str),
    Custom(Label),
}

impl ParamName {
    fn as_str(&self) -> &str {
        match self {
            Self::Default(s) => s,
            Self::Custom(label) => label.as_str(),
        }
    }
}

/// The query parameter names of tracked links.
///
/// | part         | default              |
/// |--------------|----------------------|
/// | affiliate id | `aff_id`             |
/// | click id     | `click_id`           |
/// | sub ids      | `sub1` to `sub5`     |
/// | campaign     | `campaign`           |
///
/// Every setter checks the name and refuses one that another part already
/// uses, so a `LinkParams` can never read one parameter as two parts.
///
/// ```
/// use attributor::{LinkError, LinkParams};
///
/// // HasOffers-style names.
/// let params = LinkParams::new().with_affiliate("aff_sub")?.with_click("transaction_id")?.with_sub(1, "source")?;
/// assert_eq!(params.sub(1), Some("source"));
/// assert!(matches!(params.with_campaign("source"), Err(LinkError::ParamNameTaken { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkParams {
    names: [ParamName; 8],
}

impl Default for LinkParams {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkParams {
    /// The default names: `aff_id`, `click_id`, `sub1` to `sub5`, `campaign`.
    pub const fn new() -> Self {
        Self {
            names: [
                ParamName::Default("aff_id"),
                ParamName::Default("click_id"),
                ParamName::Default("sub1"),
                ParamName::Default("sub2"),
                ParamName::Default("sub3"),
                ParamName::Default("sub4"),
                ParamName::Default("sub5"),
                ParamName::Default("campaign"),
            ],
        }
    }

    /// Names the affiliate id parameter.
    ///
    /// # Errors
    ///
    /// [`LinkError::BadParamName`] if `name` is empty, longer than
    /// [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes, or holds a control
    /// character or whitespace other than a space;
    /// [`LinkError::ParamNameTaken`] if another part uses it.
    pub fn with_affiliate(self, name: &str) -> Result<Self, LinkError> {
        self.set(Part::Affiliate, name)
    }

    /// Names the click id parameter.
    ///
    /// # Errors
    ///
    /// As [`LinkParams::with_affiliate`].
    pub fn with_click(self, name: &str) -> Result<Self, LinkError> {
        self.set(Part::Click, name)
    }

    /// Names the parameter of sub id `n` (1 to 5).
    ///
    /// # Errors
    ///
    /// [`LinkError::NoSuchSub`] if `n` is not 1 to 5; otherwise as
    /// [`LinkParams::with_affiliate`].
    pub fn with_sub(self, n: usize, name: &str) -> Result<Self, LinkError> {
        if !(1..=5).contains(&n) {
            return Err(LinkError::NoSuchSub { n });
        }
        self.set(Part::Sub(n), name)
    }

    /// Names the campaign parameter.
    ///
    /// # Errors
    ///
    /// As [`LinkParams::with_affiliate`].
    pub fn with_campaign(self, name: &str) -> Result<Self, LinkError> {
        self.set(Part::Campaign, name)
    }

    /// The name of the affiliate id parameter.
    pub fn affiliate(&self) -> &str {
        self.name(Part::Affiliate)
    }

    /// The name of the click id parameter.
    pub fn click(&self) -> &str {
        self.name(Part::Click)
    }

    /// The name of the parameter of sub id `n` (1 to 5).
    pub fn sub(&self, n: usize) -> Option<&str> {
        (1..=5).contains(&n).then(|| self.name(Part::Sub(n)))
    }

    /// The name of the campaign parameter.
    pub fn campaign(&self) -> &str {
        self.name(Part::Campaign)
    }

    fn set(mut self, part: Part, name: &str) -> Result<Self, LinkError> {
        let label = Label::new(name).map_err(|source| LinkError::BadParamName {
            name: Excerpt::new(name),
            source,
        })?;
        if self
            .part_named(name)
            .is_some_and(|(index, _)| index != part.index())
        {
            return Err(LinkError::ParamNameTaken { name: label });
        }
        if let Some(slot) = self.names.get_mut(part.index()) {
            *slot = ParamName::Custom(label);
        }
        Ok(self)
    }

    fn name(&self, part: Part) -> &str {
        self.names.get(part.index()).map_or("", ParamName::as_str)
    }

    /// The position and part of the parameter called `name`, if any.
    fn part_named(&self, name: &str) -> Option<(usize, Part)> {
        let index = self.names.iter().position(|n| n.as_str() == name)?;
        Some((index, *PARTS.get(index)?))
    }
}

/// A tracked link or its parameter names were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The text is not an absolute URL.
    #[error("malformed url {:?}: {source}", url.as_str())]
    Malformed {
        /// The text given (its first bytes).
        url: Excerpt,
        /// Why the `url` crate refused it.
        source: url::ParseError,
    },
    /// The link has no affiliate parameter.
    #[error("link has no affiliate parameter {:?}", param.as_str())]
    Missing {
        /// The parameter's name.
        param: Excerpt,
    },
    /// A link parameter appears more than once, or a landing URL already has
    /// one.
    #[error("parameter {:?} appears more than once", param.as_str())]
    Duplicate {
        /// The parameter's name.
        param: Excerpt,
    },
    /// A value is longer than its limit (see [`TrackedLink`]).
    #[error("value of parameter {:?} is {len} bytes long, more than the maximum of {max}", param.as_str())]
    TooLong {
        /// The parameter's name.
        param: Excerpt,
        /// The value's length, in bytes of UTF-8, once decoded.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value is not a valid id.
    #[error("parameter {:?} has bad value {:?}: {source}", param.as_str(), value.as_str())]
    BadValue {
        /// The parameter's name.
        param: Excerpt,
        /// The value, decoded (its first bytes).
        value: Excerpt,
        /// What is wrong with it.
        source: IdError,
    },
    /// A value, percent-decoded, is not UTF-8 (say `click_id=c%FF`).
    #[error("value of parameter {:?} is not utf-8 once percent-decoded", param.as_str())]
    NotUtf8 {
        /// The parameter's name.
        param: Excerpt,
    },
    /// [`TrackedLink::to_click`] needs a click id, and the link has none.
    #[error("link has no click id")]
    NoClickId,
    /// A parameter name is empty, too long, or holds whitespace other than a
    /// space or a control character.
    #[error("bad parameter name {:?}: {source}", name.as_str())]
    BadParamName {
        /// The name given (its first bytes).
        name: Excerpt,
        /// What is wrong with it.
        source: IdError,
    },
    /// Another part of the link already uses this parameter name.
    #[error("parameter name {:?} is already used for another part of the link", name.as_str())]
    ParamNameTaken {
        /// The name.
        name: Label,
    },
    /// The URL's scheme runs script or reads local data in a browser
    /// (`javascript`, `vbscript`, `data`, `file`), so a dashboard that shows
    /// the link would run what it holds. Web links and app deep links
    /// (`myapp://...`) are kept.
    #[error("url scheme {:?} is not allowed in a link", scheme.as_str())]
    Scheme {
        /// The scheme, lower case.
        scheme: Excerpt,
    },
    /// There are sub ids 1 to 5 only.
    #[error("there is no sub id {n}; sub ids are 1 to 5")]
    NoSuchSub {
        /// The position given.
        n: usize,
    },
}

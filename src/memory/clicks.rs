//! The in-memory click store.

use std::convert::Infallible;
use std::sync::{PoisonError, RwLock};

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::clicks::{ClickQuery, ClickStore};
use crate::conversion::Click;
use crate::error::ClickError;
use crate::ids::{ClickId, CustomerId};
use crate::policy::ClickPick;

/// A click store in memory: the embedded default and the reference
/// implementation of [`ClickStore`]. `Sync`; writes take `&self`.
///
/// ```
/// use attributor::{AffiliateId, Click, ClickPick, ClickQuery, ClickStore, MemoryClickStore};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let store = MemoryClickStore::new();
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let customer = "cust-1".parse()?;
/// store.insert(Click::new("c-1".parse()?, AffiliateId::new(1), t).customer(customer))?;
/// store.insert(Click::new("c-2".parse()?, AffiliateId::new(2), t + TimeDelta::hours(1)).customer(customer))?;
///
/// let last = store.find(&ClickQuery {
///     customer,
///     from: t,
///     to: t + TimeDelta::days(1),
///     pick: ClickPick::Last,
///     affiliate: None,
///     exclude: None,
/// })?;
/// assert_eq!(last.map(|c| c.affiliate), Some(AffiliateId::new(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryClickStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    clicks: HashMap<ClickId, Click>,
    /// Each customer's clicks, sorted by (time, id).
    by_customer: HashMap<CustomerId, SmallVec<[ClickId; 2]>>,
}

impl MemoryClickStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a click. Recording the same click again changes nothing.
    ///
    /// # Errors
    ///
    /// [`ClickError::Conflict`] if another click with this id is stored; the
    /// store is unchanged.
    pub fn insert(&self, click: Click) -> Result<(), ClickError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = inner.clicks.get(&click.id) {
            return if *existing == click {
                Ok(())
            } else {
                Err(ClickError::Conflict { id: click.id })
            };
        }
        if let Some(customer) = click.customer {
            let Inner { clicks, by_customer } = &mut *inner;
            let list = by_customer.entry(customer).or_default();
            let key = (click.clicked_at, click.id);
            let at = list.partition_point(|id| clicks.get(id).is_some_and(|c| (c.clicked_at, c.id) < key));
            list.insert(at, click.id);
        }
        inner.clicks.insert(click.id, click);
        Ok(())
    }

    /// The number of clicks stored.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clicks
            .len()
    }

    /// Whether no click is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClickStore for MemoryClickStore {
    type Error = Infallible;

    fn click(&self, id: &ClickId) -> Result<Option<Click>, Infallible> {
        Ok(self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clicks
            .get(id)
            .copied())
    }

    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Infallible> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let Some(list) = inner.by_customer.get(&query.customer) else {
            return Ok(None);
        };
        let matching = list
            .iter()
            .filter_map(|id| inner.clicks.get(id))
            .filter(|c| query.from <= c.clicked_at && c.clicked_at <= query.to)
            .filter(|c| query.affiliate.is_none_or(|a| a == c.affiliate))
            .filter(|c| query.exclude != Some(c.affiliate));
        // The list is sorted by (time, id): the first match is the earliest
        // with the smallest id; for the latest, keep the first of the last time.
        let found = match query.pick {
            ClickPick::First => matching.min_by_key(|c| (c.clicked_at, c.id)),
            ClickPick::Last => matching.min_by_key(|c| (core::cmp::Reverse(c.clicked_at), c.id)),
        };
        Ok(found.copied())
    }
}

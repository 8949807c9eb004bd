//! Where clicks are kept.

use chrono::{DateTime, Utc};

use crate::conversion::{Click, Conversion};
use crate::ids::{AffiliateId, ClickId, CustomerId};
use crate::policy::ClickPick;
use crate::resolve::ClickEvidence;

/// A question for [`ClickStore::find`]: the first or last click of a customer
/// in a time range, optionally on one affiliate's links only, or on any
/// links but one affiliate's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClickQuery {
    /// The customer or visitor identity.
    pub customer: CustomerId,
    /// The earliest click time, inclusive.
    pub from: DateTime<Utc>,
    /// The latest click time, inclusive.
    pub to: DateTime<Utc>,
    /// The first or the last click.
    pub pick: ClickPick,
    /// Only this affiliate's clicks, if set.
    pub affiliate: Option<AffiliateId>,
    /// None of this affiliate's clicks, if set. The
    /// [`Attributor`](crate::Attributor) leaves out the customer's own
    /// affiliate account, whose clicks are self-referral, so that they do
    /// not hide another affiliate's click.
    pub exclude: Option<AffiliateId>,
}

impl ClickQuery {
    /// The latest click of `customer` on `owner`'s links in `[from, to]`.
    pub(crate) fn owner(
        customer: CustomerId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        owner: AffiliateId,
    ) -> Self {
        Self {
            customer,
            from,
            to,
            pick: ClickPick::Last,
            affiliate: Some(owner),
            exclude: None,
        }
    }
}

/// Where clicks are kept.
///
/// # Contract
///
/// * [`ClickStore::click`] returns the click with that id, or `None`.
/// * [`ClickStore::find`] considers the clicks whose `customer` is the
///   query's customer, with `from <= clicked_at <= to` (both ends
///   inclusive); when the query names an `affiliate`, only that
///   affiliate's; when it names one to `exclude`, none of that
///   affiliate's. It returns the one with the earliest `clicked_at` for
///   [`ClickPick::First`] or the latest for [`ClickPick::Last`]; among
///   clicks with the same time, the one with the smallest [`ClickId`], as
///   `Ord` on ids compares them: byte by byte in UTF-8, so `B-7` before
///   `a-9` before `a1` (a database must sort ids by bytes, not by a
///   collation that folds case or skips punctuation). It returns `None`
///   when no click qualifies, including when `from > to`.
///
/// Reads have no side effects. An `Err` means the backend failed.
/// [`conformance::check_click_store`](crate::conformance::check_click_store)
/// checks an implementation against this contract.
pub trait ClickStore {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The click with this id.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn click(&self, id: &ClickId) -> Result<Option<Click>, Self::Error>;

    /// The first or last click that matches `query`.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Self::Error>;

    /// The parts of the click with this id that the resolver weighs: what
    /// [`ClickStore::click`] returns, less the customer and sub ids. The
    /// [`Attributor`](crate::Attributor) calls this; a backend may override
    /// it to read less.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn click_evidence(&self, id: &ClickId) -> Result<Option<ClickEvidence>, Self::Error> {
        Ok(self.click(id)?.map(ClickEvidence::from))
    }

    /// What [`ClickStore::click_evidence`] returns for `id`, told that the
    /// click probably belongs to `customer`, as the click a conversion names
    /// usually belongs to the conversion's customer. A backend may look among
    /// that customer's clicks first; the answer must not depend on the hint.
    /// The [`Attributor`](crate::Attributor) calls this when a conversion
    /// names both a customer and a click.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn customer_click_evidence(
        &self,
        customer: &CustomerId,
        id: &ClickId,
    ) -> Result<Option<ClickEvidence>, Self::Error> {
        let _ = customer;
        self.click_evidence(id)
    }

    /// What [`ClickStore::find`] returns, as [`ClickEvidence`]. The
    /// [`Attributor`](crate::Attributor) calls this; a backend may override
    /// it to read less.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn find_evidence(&self, query: &ClickQuery) -> Result<Option<ClickEvidence>, Self::Error> {
        Ok(self.find(query)?.map(ClickEvidence::from))
    }

    /// A hint that `conversions` are about to be attributed, one after another.
    /// A backend may read what it will be asked about them (their clicks and
    /// their customers' clicks) in one pass, where asking one at a time waits
    /// for each read in turn. It must not change any answer: a backend that
    /// keeps what it read must still answer with every write made since, such
    /// as a click inserted while the batch is attributed. It reports no error;
    /// a failure is left to the call that follows. The default does nothing.
    /// [`Attributor::attribute_all`](crate::Attributor::attribute_all) calls
    /// it before each batch of 16.
    fn prefetch(&self, conversions: &[Conversion]) {
        let _ = conversions;
    }
}

macro_rules! forward_click_store {
    ($($ty:ty),*) => {$(
        impl<T: ClickStore + ?Sized> ClickStore for $ty {
            type Error = T::Error;
            fn click(&self, id: &ClickId) -> Result<Option<Click>, Self::Error> {
                (**self).click(id)
            }
            fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Self::Error> {
                (**self).find(query)
            }
            fn click_evidence(&self, id: &ClickId) -> Result<Option<ClickEvidence>, Self::Error> {
                (**self).click_evidence(id)
            }
            fn customer_click_evidence(
                &self,
                customer: &CustomerId,
                id: &ClickId,
            ) -> Result<Option<ClickEvidence>, Self::Error> {
                (**self).customer_click_evidence(customer, id)
            }
            fn find_evidence(&self, query: &ClickQuery) -> Result<Option<ClickEvidence>, Self::Error> {
                (**self).find_evidence(query)
            }
            fn prefetch(&self, conversions: &[Conversion]) {
                (**self).prefetch(conversions)
            }
        }
    )*};
}

forward_click_store!(&T, Box<T>, std::sync::Arc<T>);

/// A write to a [`MemoryClickStore`](crate::MemoryClickStore) was refused;
/// the store is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClickError {
    /// Another click with this id is stored.
    #[error("another click with id {id} is stored")]
    Conflict {
        /// The id.
        id: crate::ids::ClickId,
    },
    /// The click's time is one the store cannot keep: outside its range,
    /// or, in the [`MemoryClickStore`](crate::MemoryClickStore), a leap
    /// second.
    #[error("click {id} is stamped at an instant the store cannot keep")]
    OutOfRange {
        /// The id.
        id: crate::ids::ClickId,
    },
    /// The store has no room for the click: a shard is full, or, in the
    /// [`MemoryClickStore`](crate::MemoryClickStore), the customer's clicks
    /// fill all a customer's block can hold.
    #[error("the click store is full")]
    Full,
}

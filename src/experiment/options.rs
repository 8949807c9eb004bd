//! What an experiment counts and flags: [`ExperimentOptions`].

use chrono::TimeDelta;

/// How an [`Experiment`](crate::Experiment) counts and what it flags: a small `Copy` value with
/// by-value setters.
///
/// | setting | default |
/// |---|---|
/// | moved conversions listed | 20 |
/// | recent period for leak signals | 30 days |
/// | click window for "a click from the owner" | 30 days |
/// | fewest uses before a code can be flagged | 20 |
/// | share of uses with no click from the owner to flag | 9000 basis points (90%) |
/// | recent surge to flag | 200% (a daily rate at least twice the earlier one) |
///
/// See [`CodeSignal`](crate::CodeSignal) for how the leak settings combine.
///
/// ```
/// use attributor::ExperimentOptions;
/// use chrono::TimeDelta;
///
/// let options = ExperimentOptions::new()
///     .with_moved_limit(100)
///     .with_recent_days(14)?
///     .with_leak_click_window(TimeDelta::days(7))?
///     .with_leak_share(8_000)?
///     .with_leak_surge(0); // flag on the share alone
/// assert_eq!(options.recent_days(), 14);
/// assert!(ExperimentOptions::new().with_recent_days(0).is_err());
/// assert!(ExperimentOptions::new().with_leak_share(10_001).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExperimentOptions {
    moved_limit: usize,
    recent_days: u32,
    leak_click_window: TimeDelta,
    leak_min_uses: u64,
    leak_share: u16,
    leak_surge: u32,
}

impl Default for ExperimentOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ExperimentOptions {
    /// The defaults in the table above.
    pub const fn new() -> Self {
        Self {
            moved_limit: 20,
            recent_days: 30,
            leak_click_window: TimeDelta::days(30),
            leak_min_uses: 20,
            leak_share: 9_000,
            leak_surge: 200,
        }
    }

    /// How many moved conversions the report lists in full; the others are
    /// only counted. Memory for them grows up to this limit.
    pub fn with_moved_limit(mut self, limit: usize) -> Self {
        self.moved_limit = limit;
        self
    }

    /// The length of the recent period for leak signals, in whole UTC days
    /// ending with the day of the latest conversion replayed.
    ///
    /// # Errors
    ///
    /// [`OptionsError::ZeroRecentDays`] for zero.
    pub fn with_recent_days(mut self, days: u32) -> Result<Self, OptionsError> {
        if days == 0 {
            return Err(OptionsError::ZeroRecentDays);
        }
        self.recent_days = days;
        Ok(self)
    }

    /// How long before a use of a code a click from its owner still counts
    /// as the owner's involvement (the boundary is inside).
    ///
    /// # Errors
    ///
    /// [`OptionsError::NegativeWindow`] if negative.
    pub fn with_leak_click_window(mut self, window: TimeDelta) -> Result<Self, OptionsError> {
        if window < TimeDelta::zero() {
            return Err(OptionsError::NegativeWindow {
                seconds: window.num_seconds(),
            });
        }
        self.leak_click_window = window;
        Ok(self)
    }

    /// The fewest uses before a code can be flagged.
    pub fn with_leak_min_uses(mut self, uses: u64) -> Self {
        self.leak_min_uses = uses;
        self
    }

    /// The share of uses with no click from the owner, in basis points, at
    /// or above which a code can be flagged.
    ///
    /// # Errors
    ///
    /// [`OptionsError::ShareTooLarge`] above 10000.
    pub fn with_leak_share(mut self, bp: u32) -> Result<Self, OptionsError> {
        self.leak_share = u16::try_from(bp)
            .ok()
            .filter(|bp| *bp <= 10_000)
            .ok_or(OptionsError::ShareTooLarge { bp })?;
        Ok(self)
    }

    /// How much faster, in percent, a code must be used per day in the
    /// recent period than before it to be flagged; 0 drops the condition.
    pub fn with_leak_surge(mut self, percent: u32) -> Self {
        self.leak_surge = percent;
        self
    }

    /// How many moved conversions are listed.
    pub fn moved_limit(&self) -> usize {
        self.moved_limit
    }

    /// The recent period, in days.
    pub fn recent_days(&self) -> u32 {
        self.recent_days
    }

    /// The click window for the owner's involvement.
    pub fn leak_click_window(&self) -> TimeDelta {
        self.leak_click_window
    }

    /// The fewest uses to flag.
    pub fn leak_min_uses(&self) -> u64 {
        self.leak_min_uses
    }

    /// The share of uses with no click from the owner to flag, in basis points.
    pub fn leak_share(&self) -> u16 {
        self.leak_share
    }

    /// The recent surge to flag, in percent; 0 when not required.
    pub fn leak_surge(&self) -> u32 {
        self.leak_surge
    }
}

/// An [`ExperimentOptions`](crate::ExperimentOptions) setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A recent period of zero days.
    #[error("recent period of 0 days is empty")]
    ZeroRecentDays,
    /// A leak share above 10000 basis points.
    #[error("leak share of {bp} basis points is more than 10000")]
    ShareTooLarge {
        /// The share given.
        bp: u32,
    },
    /// A negative leak click window.
    #[error("leak click window of {seconds} s is negative")]
    NegativeWindow {
        /// The value given, in whole seconds.
        seconds: i64,
    },
}

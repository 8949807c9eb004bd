//! The report of an experiment, as data and as text.

use core::fmt;

use chrono::{DateTime, Utc};

use crate::conversion::EventKind;
use crate::decision::Decision;
use crate::ids::{AffiliateId, ConversionId, Label};
use crate::registry::Nearness;

use super::signals::{CodeSignal, NearCodeTally};
use super::tally::{AffiliateTally, Money, ReasonTally, UncreditedReason};

/// The results of one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PolicyReport {
    /// The name it was given.
    pub name: Label,
    /// Conversions that credit someone.
    pub credited: u64,
    /// Conversions that credit nobody.
    pub uncredited: u64,
    /// The credited amounts, shares applied, by currency.
    pub amounts: Vec<Money>,
    /// Every affiliate credited, by affiliate id.
    pub affiliates: Vec<AffiliateTally>,
    /// The uncredited conversions by reason, the most common first; they
    /// add up to `uncredited`.
    pub uncredited_by_reason: Vec<ReasonTally>,
}

impl PolicyReport {
    /// The tally of `affiliate`, if it was credited.
    pub fn affiliate(&self, affiliate: AffiliateId) -> Option<&AffiliateTally> {
        self.affiliates
            .binary_search_by_key(&affiliate, |a| a.affiliate)
            .ok()
            .and_then(|i| self.affiliates.get(i))
    }
}

/// A conversion the policies disagree on: they pay different affiliates, or
/// the same ones different shares. A change of method alone (the same
/// affiliate by code instead of by click) is not a move.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MovedConversion {
    /// The conversion.
    pub conversion: ConversionId,
    /// Its event.
    pub event: EventKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// One decision per policy, in the order of
    /// [`ExperimentReport::policies`].
    pub decisions: Vec<Decision>,
}

/// What an [`Experiment`](crate::Experiment) found. `Display` renders it as tables for a
/// person; with the `serde` feature it serialises to JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExperimentReport {
    /// Conversions replayed, repeats skipped.
    pub conversions: u64,
    /// Repeats skipped: a conversion id seen again at the same instant.
    pub duplicates: u64,
    /// When the first conversion replayed happened.
    pub first_at: Option<DateTime<Utc>>,
    /// When the last conversion replayed happened.
    pub last_at: Option<DateTime<Utc>>,
    /// The amounts of all conversions replayed, by currency.
    pub amounts: Vec<Money>,
    /// One report per policy, in the order they were added.
    pub policies: Vec<PolicyReport>,
    /// The first conversions the policies disagree on, up to
    /// [`ExperimentOptions::with_moved_limit`](crate::ExperimentOptions::with_moved_limit).
    pub moved: Vec<MovedConversion>,
    /// All conversions the policies disagree on, listed or not.
    pub moved_total: u64,
    /// The length of the recent period of the leak signals, in days.
    pub recent_days: u32,
    /// The leak signals of every code used: flagged codes first, then by
    /// uses, most first.
    pub codes: Vec<CodeSignal>,
    /// The unknown codes entered that resemble active ones, with how many
    /// conversions entered each: which creator's code customers mistype.
    /// Most entered first.
    pub near_codes: Vec<NearCodeTally>,
}

impl ExperimentReport {
    /// The report of the policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&PolicyReport> {
        self.policies.iter().find(|p| p.name.as_str() == name)
    }

    /// The moved conversions counted but not listed.
    pub fn moved_not_listed(&self) -> u64 {
        self.moved_total
            .saturating_sub(u64::try_from(self.moved.len()).unwrap_or(u64::MAX))
    }

    /// The codes flagged as probably leaked.
    pub fn probably_leaked(&self) -> impl Iterator<Item = &CodeSignal> {
        self.codes.iter().filter(|c| c.probably_leaked)
    }
}

/// Rows of cells, printed with aligned columns.
pub(super) struct Table(Vec<Vec<String>>);

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.0 {
            for (i, cell) in row.iter().enumerate() {
                let len = cell.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(len),
                    None => widths.push(len),
                }
            }
        }
        for row in &self.0 {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let width = widths.get(i).copied().unwrap_or(0);
                line.push_str(cell);
                line.extend(core::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()),
                ));
            }
            writeln!(f, "  {}", line.trim_end())?;
        }
        Ok(())
    }
}

pub(super) fn money_list(amounts: &[Money]) -> String {
    let parts: Vec<String> = amounts.iter().map(Money::to_string).collect();
    parts.join(" + ")
}

pub(super) fn percent(bp: u64) -> String {
    format!("{}.{}%", bp / 100, (bp % 100) / 10)
}

pub(super) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How many codes `Display` lists beside the flagged ones.
pub(super) const CODES_SHOWN: usize = 10;

impl fmt::Display for ExperimentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day =
            |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d").to_string());
        write!(
            f,
            "replayed {} from {} to {} under {}",
            counted(self.conversions, "conversion", "conversions"),
            day(self.first_at),
            day(self.last_at),
            counted(self.policies.len() as u64, "policy", "policies")
        )?;
        if self.duplicates > 0 {
            write!(
                f,
                " ({} skipped)",
                counted(self.duplicates, "repeated id", "repeated ids")
            )?;
        }
        writeln!(f)?;
        if !self.amounts.is_empty() {
            writeln!(f, "amount replayed: {}", money_list(&self.amounts))?;
        }

        if !self.policies.is_empty() {
            writeln!(
                f,
                "\ncredit by affiliate: conversions, and amount with shares applied"
            )?;
            let mut header = vec!["affiliate".to_owned()];
            header.extend(self.policies.iter().map(|p| p.name.to_string()));
            let mut rows = vec![header];
            let mut affiliates: Vec<AffiliateId> = self
                .policies
                .iter()
                .flat_map(|p| p.affiliates.iter().map(|a| a.affiliate))
                .collect();
            affiliates.sort_unstable();
            affiliates.dedup();
            for affiliate in affiliates {
                let mut row = vec![affiliate.to_string()];
                for policy in &self.policies {
                    row.push(match policy.affiliate(affiliate) {
                        Some(a) if a.amounts.is_empty() => a.conversions.to_string(),
                        Some(a) => format!("{} ({})", a.conversions, money_list(&a.amounts)),
                        None => "-".to_owned(),
                    });
                }
                rows.push(row);
            }
            let mut total = vec!["credited".to_owned()];
            let mut nobody = vec!["uncredited".to_owned()];
            for policy in &self.policies {
                total.push(if policy.amounts.is_empty() {
                    policy.credited.to_string()
                } else {
                    format!("{} ({})", policy.credited, money_list(&policy.amounts))
                });
                nobody.push(policy.uncredited.to_string());
            }
            rows.push(total);
            rows.push(nobody);
            write!(f, "{}", Table(rows))?;

            let mut reasons: Vec<UncreditedReason> = self
                .policies
                .iter()
                .flat_map(|p| p.uncredited_by_reason.iter().map(|r| r.reason))
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            if !reasons.is_empty() {
                writeln!(f, "\nuncredited conversions by reason")?;
                let mut header = vec!["reason".to_owned()];
                header.extend(self.policies.iter().map(|p| p.name.to_string()));
                let mut rows = vec![header];
                for reason in reasons {
                    let mut row = vec![reason.to_string()];
                    for policy in &self.policies {
                        let n = policy
                            .uncredited_by_reason
                            .iter()
                            .find(|r| r.reason == reason)
                            .map_or(0, |r| r.conversions);
                        row.push(n.to_string());
                    }
                    rows.push(row);
                }
                write!(f, "{}", Table(rows))?;
            }

            write!(
                f,
                "\nmoved conversions, paid differently by the policies: {}",
                self.moved_total
            )?;
            if self.moved_not_listed() > 0 {
                match self.moved.len() {
                    1 => write!(f, "; the first is listed")?,
                    n => write!(f, "; the first {n} are listed")?,
                }
            }
            writeln!(f)?;
            for moved in &self.moved {
                writeln!(
                    f,
                    "  {} ({} at {})",
                    moved.conversion,
                    moved.event,
                    moved.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
                )?;
                for (policy, decision) in self.policies.iter().zip(&moved.decisions) {
                    writeln!(f, "    {}: {decision}", policy.name)?;
                }
            }
        }

        if !self.near_codes.is_empty() {
            writeln!(
                f,
                "\nunknown codes that resemble active ones (candidates for review, never credited unless read as a look-alike)"
            )?;
            let mut rows = vec![vec![
                "entered".to_owned(),
                "resembles".to_owned(),
                "owner".to_owned(),
                "how".to_owned(),
                "conversions".to_owned(),
            ]];
            for n in self.near_codes.iter().take(CODES_SHOWN) {
                rows.push(vec![
                    n.typed.to_string(),
                    n.code.to_string(),
                    n.owner.to_string(),
                    match n.nearness {
                        Nearness::LookAlike => "look-alike",
                        Nearness::OneEdit => "one edit",
                    }
                    .to_owned(),
                    n.conversions.to_string(),
                ]);
            }
            write!(f, "{}", Table(rows))?;
            if self.near_codes.len() > CODES_SHOWN {
                let more = u64::try_from(self.near_codes.len() - CODES_SHOWN).unwrap_or(u64::MAX);
                writeln!(f, "  ... and {}", counted(more, "more", "more"))?;
            }
        }

        writeln!(
            f,
            "\nleak signals by code (last {} against before; a flag is a signal to check, never applied)",
            counted(u64::from(self.recent_days), "day", "days")
        )?;
        if self.codes.is_empty() {
            return writeln!(f, "  no code was used");
        }
        let mut rows = vec![vec![
            "code".to_owned(),
            "owner".to_owned(),
            "uses".to_owned(),
            "no owner click".to_owned(),
            "recent".to_owned(),
            "before".to_owned(),
            String::new(),
        ]];
        let shown = self.probably_leaked().count().max(CODES_SHOWN);
        for signal in self.codes.iter().take(shown) {
            rows.push(vec![
                signal.code.to_string(),
                signal.owner.to_string(),
                signal.uses.to_string(),
                percent(u64::from(signal.without_click_share())),
                signal.recent_uses.to_string(),
                format!(
                    "{} in {}",
                    signal.earlier_uses,
                    counted(signal.earlier_days, "day", "days")
                ),
                if signal.probably_leaked {
                    "probably leaked".to_owned()
                } else {
                    String::new()
                },
            ]);
        }
        write!(f, "{}", Table(rows))?;
        if self.codes.len() > shown {
            let more = u64::try_from(self.codes.len().saturating_sub(shown)).unwrap_or(u64::MAX);
            writeln!(f, "  ... and {}", counted(more, "more code", "more codes"))?;
        }
        Ok(())
    }
}

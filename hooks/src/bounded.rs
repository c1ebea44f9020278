//! Everything a hook reads or keeps has a bound, whatever the other side sends: a
//! response body ([`Capped`]), a Lambda payload ([`payload`]), a config file
//! ([`read_file`]), and the measurements a check keeps ([`Measurements`]).
//!
//! The never-hang promise rests on these (a 128 MB hook killed for memory never
//! reports), so `make mutants` holds this file to tests that catch every change.

use crate::measurement::{Counts, MeasurementRecord, MeasurementResult};
use crate::size::human;

/// A body read chunk by chunk, refused as soon as it passes `max` bytes; with `keep`
/// off (a load test) the bytes are counted and dropped.
#[derive(Debug)]
pub(crate) struct Capped {
    max: usize,
    keep: bool,
    seen: usize,
    body: Vec<u8>,
}

impl Capped {
    /// Starts reading; a declared length (`content-length`) over `max` is refused
    /// before a byte is read.
    pub(crate) fn new(max: usize, keep: bool, declared: Option<u64>) -> Result<Self, String> {
        let capped = Self {
            max,
            keep,
            seen: 0,
            body: Vec::new(),
        };
        capped.declared(declared)?;
        Ok(capped)
    }

    /// Refuses a declared length (`content-length`) over `max` before a byte is read.
    pub(crate) fn declared(&self, declared: Option<u64>) -> Result<(), String> {
        match declared.filter(|l| *l > self.max as u64) {
            Some(len) => Err(too_large(
                self.max,
                &format!("content-length {}", human(len)),
            )),
            None => Ok(()),
        }
    }

    /// Takes the next chunk.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.seen += chunk.len();
        if self.seen > self.max {
            return Err(too_large(
                self.max,
                &format!("more than {} read", human(self.seen as u64)),
            ));
        }
        if self.keep {
            self.body.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// The body (empty when not kept).
    pub(crate) fn finish(self) -> Vec<u8> {
        self.body
    }
}

fn too_large(max: usize, seen: &str) -> String {
    format!(
        "the body is larger than max_body {} ({seen}); reading stopped there",
        human(max as u64)
    )
}

/// Refuses a Lambda payload of `len` bytes larger than `max`, saying both sizes.
pub(crate) fn payload(len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!(
            "the payload is {}, larger than max_body {}",
            human(len as u64),
            human(max as u64)
        ))
    } else {
        Ok(())
    }
}

/// Reads a file of at most `limit` bytes: one byte more tells it is too large,
/// without reading a huge file whole.
pub(crate) async fn read_file(path: &std::path::Path, limit: usize) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() > limit {
        return Err(format!(
            "it is larger than {}, the most a config may be",
            human(limit as u64)
        ));
    }
    Ok(bytes)
}

/// The measurements a check keeps: the last [`Measurements::KEEP`] and, before them,
/// up to as many failed or errored ones (like Argo's measurement retention), plus the
/// counts of all. A check with `count: 10000` holds a few dozen records.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Measurements {
    earlier_failures: Vec<MeasurementRecord>,
    recent: std::collections::VecDeque<MeasurementRecord>,
    counts: Counts,
    dropped: u32,
    /// Errors at the end, in a row (what `consecutive_error_limit` bounds).
    errors_in_a_row: u32,
    /// When the last one began (wall clock: a continuation runs in another process).
    last_began: Option<std::time::SystemTime>,
}

/// [`Measurements`] as a continuation carries them to the next invocation: the records
/// without their values (never logged, and they could echo a secret), each text cut to
/// [`crate::measurement::SavedRecord::MAX_TEXT`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedMeasurements {
    earlier_failures: Vec<crate::measurement::SavedRecord>,
    recent: Vec<crate::measurement::SavedRecord>,
    counts: [u32; 4],
    dropped: u32,
    errors_in_a_row: u32,
    last_began_ms: Option<u64>,
}

impl SavedMeasurements {
    /// Forgets all records but the last, counting them as not kept: how a state too
    /// large for one async payload is made smaller. The counts stay whole.
    pub(crate) fn keep_last_only(&mut self) {
        let before = self.earlier_failures.len() + self.recent.len();
        self.earlier_failures.clear();
        let last = self.recent.pop();
        self.recent.clear();
        self.recent.extend(last);
        self.dropped += (before - self.recent.len()) as u32;
    }
}

impl Measurements {
    /// How many of the latest, and of the earlier failures, are kept.
    pub(crate) const KEEP: usize = 20;

    /// Adds one, forgetting the oldest passed one when full.
    pub(crate) fn push(&mut self, record: MeasurementRecord) {
        self.counts.add(&record.result);
        self.errors_in_a_row = match record.result {
            MeasurementResult::Error(_) => self.errors_in_a_row + 1,
            _ => 0,
        };
        self.last_began = std::time::SystemTime::now()
            .checked_sub(std::time::Duration::from_millis(record.elapsed_ms));
        self.recent.push_back(record);
        if self.recent.len() > Self::KEEP {
            if let Some(old) = self.recent.pop_front() {
                let failure = matches!(
                    old.result,
                    MeasurementResult::Failed { .. } | MeasurementResult::Error(_)
                );
                if failure && self.earlier_failures.len() < Self::KEEP {
                    self.earlier_failures.push(old);
                } else {
                    self.dropped += 1;
                }
            }
        }
    }

    /// The kept records, oldest first.
    pub(crate) fn records(&self) -> impl Iterator<Item = &MeasurementRecord> {
        self.earlier_failures.iter().chain(self.recent.iter())
    }

    /// Counts of all taken, kept or not.
    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// How many were taken but not kept.
    pub(crate) fn dropped(&self) -> u32 {
        self.dropped
    }

    /// The last one taken.
    pub(crate) fn last(&self) -> Option<&MeasurementRecord> {
        self.recent.back()
    }

    /// Errors at the end, in a row.
    pub(crate) fn errors_in_a_row(&self) -> u32 {
        self.errors_in_a_row
    }

    /// When the last measurement began (wall clock), if any was taken.
    pub(crate) fn last_began(&self) -> Option<std::time::SystemTime> {
        self.last_began
    }

    /// What a continuation carries of them.
    pub(crate) fn save(&self) -> SavedMeasurements {
        let c = self.counts;
        SavedMeasurements {
            earlier_failures: self
                .earlier_failures
                .iter()
                .map(MeasurementRecord::save)
                .collect(),
            recent: self.recent.iter().map(MeasurementRecord::save).collect(),
            counts: [c.passed, c.failed, c.errors, c.waiting],
            dropped: self.dropped,
            errors_in_a_row: self.errors_in_a_row,
            last_began_ms: self
                .last_began
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
        }
    }

    /// Measurements as a continuation carried them, bounded again: a state is input.
    pub(crate) fn restore(saved: SavedMeasurements) -> Self {
        let take = |v: Vec<crate::measurement::SavedRecord>| {
            v.into_iter()
                .take(Self::KEEP)
                .map(MeasurementRecord::restore)
                .collect::<Vec<_>>()
        };
        let [passed, failed, errors, waiting] = saved.counts;
        Self {
            earlier_failures: take(saved.earlier_failures),
            recent: take(saved.recent).into(),
            counts: Counts {
                passed,
                failed,
                errors,
                waiting,
            },
            dropped: saved.dropped,
            errors_in_a_row: saved.errors_in_a_row,
            last_began: saved
                .last_began_ms
                .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let e = Capped::new(1024, true, Some(50 << 20)).unwrap_err();
        assert_eq!(
            e,
            "the body is larger than max_body 1.0 KiB (content-length 50.0 MiB); reading stopped there"
        );
        assert!(Capped::new(1024, true, Some(1024)).is_ok());
    }

    #[test]
    fn a_body_is_kept_up_to_the_cap_and_refused_one_byte_past_it() {
        let mut c = Capped::new(10, true, None).unwrap();
        c.push(b"12345").unwrap();
        c.push(b"67890").unwrap();
        assert_eq!(c.finish(), b"1234567890");
        let mut c = Capped::new(10, true, None).unwrap();
        c.push(b"123456").unwrap();
        let e = c.push(b"78901").unwrap_err();
        assert!(e.contains("(more than 11 B read)"), "{e}");
    }

    #[test]
    fn a_drained_body_is_counted_not_kept() {
        let mut c = Capped::new(10, false, None).unwrap();
        c.push(b"123").unwrap();
        assert!(c.finish().is_empty());
        let mut c = Capped::new(2, false, None).unwrap();
        assert!(c.push(b"123").is_err(), "the cap holds when draining too");
    }

    #[test]
    fn payloads_are_bounded_inclusively() {
        assert_eq!(payload(10, 10), Ok(()));
        assert_eq!(
            payload(6_000_000, 1 << 20),
            Err("the payload is 5.7 MiB, larger than max_body 1.0 MiB".to_owned())
        );
    }

    #[tokio::test]
    async fn a_file_is_read_up_to_the_limit_and_refused_past_it() {
        let dir = std::env::temp_dir().join(format!("bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_file(&path, 5).await.unwrap(), b"12345");
        let e = read_file(&path, 4).await.unwrap_err();
        assert_eq!(e, "it is larger than 4 B, the most a config may be");
        assert!(read_file(&dir.join("missing"), 4).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn record(n: u32, passed: bool) -> MeasurementRecord {
        let result = if passed {
            MeasurementResult::Passed { value: json!(n) }
        } else {
            MeasurementResult::Error(format!("e{n}"))
        };
        MeasurementRecord::new(n, Duration::ZERO, result, &Redactor::default())
    }

    #[test]
    fn ten_thousand_measurements_keep_a_bounded_few_and_count_all() {
        let mut m = Measurements::default();
        for n in 1..=10_000 {
            m.push(record(n, n % 100 != 0));
        }
        let kept: Vec<u32> = m.records().map(|r| r.n).collect();
        assert_eq!(kept.len(), 2 * Measurements::KEEP);
        assert_eq!(kept[0], 100, "the earliest failures are kept");
        assert_eq!(kept.last(), Some(&10_000), "and the latest measurements");
        assert_eq!(m.counts().errors, 100);
        assert_eq!(m.counts().taken(), 10_000);
        assert_eq!(m.dropped(), 10_000 - 40);
    }

    #[test]
    fn a_failed_measurement_kept_early_stays_after_many_passes() {
        let mut m = Measurements::default();
        m.push(record(1, false));
        for n in 2..=100 {
            m.push(record(n, true));
        }
        let kept: Vec<u32> = m.records().map(|r| r.n).collect();
        assert_eq!(kept[0], 1);
        assert_eq!(kept.len(), 1 + Measurements::KEEP);
        assert_eq!(m.last().map(|r| r.n), Some(100));
        assert_eq!(
            m.counts(),
            Counts {
                passed: 99,
                failed: 0,
                errors: 1,
                waiting: 0,
            }
        );
        assert_eq!(m.dropped(), 100 - 1 - Measurements::KEEP as u32);
    }
}

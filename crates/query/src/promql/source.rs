//! Where the evaluator gets samples from.
//!
//! The evaluator asks for series by label matchers and a time window, once per
//! selector for the whole query; it never sees storage. The lake
//! implementation plans this to SQL, the in-memory one serves tests.

use super::error::Result;
use super::value::{Labels, Point, Series};
use promql_parser::label::Matcher;

/// What a selector needs: series whose labels satisfy every matcher, with
/// their points in the window `(start, end]` (milliseconds).
#[derive(Clone, Debug)]
pub struct Selection {
    pub matchers: Vec<Matcher>,
    pub start: i64,
    pub end: i64,
}

impl Selection {
    /// A label that is absent matches as the empty string, as in Prometheus.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.is_match(labels.get(&m.name).map(String::as_str).unwrap_or("")))
    }

    pub fn in_window(&self, t: i64) -> bool {
        t > self.start && t <= self.end
    }
}

pub trait SeriesSource {
    fn select(&self, selection: &Selection) -> Result<Vec<Series>>;
}

/// Series held in memory (tests, and the promqltest runner's expectations).
#[derive(Default)]
pub struct MemorySource {
    pub series: Vec<Series>,
}

impl SeriesSource for MemorySource {
    fn select(&self, selection: &Selection) -> Result<Vec<Series>> {
        Ok(self
            .series
            .iter()
            .filter(|s| selection.matches(&s.labels))
            .map(|s| Series {
                labels: s.labels.clone(),
                points: s.points.iter().filter(|p| selection.in_window(p.t)).copied().collect::<Vec<Point>>(),
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }
}

//! The typed LogQL tree the parser produces and the planner consumes.
//!
//! It mirrors Loki's grammar closely (a log selector is matchers plus an
//! ordered pipeline; a metric query is a tree of range aggregations, vector
//! aggregations and binary operators) so each construct has one obvious home,
//! and durations are kept as nanoseconds so no later stage re-parses text.

use super::template::Template;

/// A whole query: either lines or numbers.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    Log(LogSelector),
    Metric(MetricExpr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogSelector {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOp {
    Contains,
    NotContains,
    Matches,
    NotMatches,
    Pattern,
    NotPattern,
}

impl LineOp {
    pub fn is_negative(self) -> bool {
        matches!(self, LineOp::NotContains | LineOp::NotMatches | LineOp::NotPattern)
    }
}

/// `|= "a" or "b"`: one operator, alternatives joined by `or`.
#[derive(Clone, Debug, PartialEq)]
pub struct LineFilter {
    pub op: LineOp,
    pub values: Vec<String>,
}

/// `name` or `name="path"` in `json` / `logfmt` parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Extraction {
    pub label: String,
    pub path: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

/// How a label value is read as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberKind {
    Plain,
    Duration,
    Bytes,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LabelPredicate {
    And(Box<LabelPredicate>, Box<LabelPredicate>),
    Or(Box<LabelPredicate>, Box<LabelPredicate>),
    Text {
        name: String,
        op: MatchOp,
        value: String,
    },
    /// `value` is in the unit of `kind`: seconds for durations, bytes for sizes.
    Number {
        name: String,
        op: CmpOp,
        value: f64,
        kind: NumberKind,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LabelFormatRule {
    Rename { to: String, from: String },
    Template { to: String, template: Template },
}

/// A `drop` / `keep` item: a name, or a name with a matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelSelectorItem {
    pub name: String,
    pub matcher: Option<(MatchOp, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    Line(LineFilter),
    Json(Vec<Extraction>),
    Logfmt { strict: bool, keep_empty: bool, params: Vec<Extraction> },
    Regexp(String),
    Pattern(String),
    Unpack,
    Labels(LabelPredicate),
    LineFormat(Template),
    LabelFormat(Vec<LabelFormatRule>),
    Drop(Vec<LabelSelectorItem>),
    Keep(Vec<LabelSelectorItem>),
    Decolorize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    Number,
    Duration,
    Bytes,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: Conversion,
    /// Label filters written after `unwrap`, applied to the extracted samples.
    pub post_filters: Vec<LabelPredicate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    RateCounter,
}

impl RangeOp {
    pub fn from_name(name: &str) -> Option<RangeOp> {
        Some(match name {
            "count_over_time" => RangeOp::CountOverTime,
            "rate" => RangeOp::Rate,
            "bytes_over_time" => RangeOp::BytesOverTime,
            "bytes_rate" => RangeOp::BytesRate,
            "absent_over_time" => RangeOp::AbsentOverTime,
            "sum_over_time" => RangeOp::SumOverTime,
            "avg_over_time" => RangeOp::AvgOverTime,
            "min_over_time" => RangeOp::MinOverTime,
            "max_over_time" => RangeOp::MaxOverTime,
            "stddev_over_time" => RangeOp::StddevOverTime,
            "stdvar_over_time" => RangeOp::StdvarOverTime,
            "quantile_over_time" => RangeOp::QuantileOverTime,
            "first_over_time" => RangeOp::FirstOverTime,
            "last_over_time" => RangeOp::LastOverTime,
            "rate_counter" => RangeOp::RateCounter,
            _ => return None,
        })
    }

    /// Whether the function reads unwrapped values rather than counting lines.
    pub fn needs_unwrap(self) -> bool {
        !matches!(self, RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::AbsentOverTime)
            && self != RangeOp::Rate
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RangeAggregation {
    pub op: RangeOp,
    pub param: Option<f64>,
    pub selector: LogSelector,
    pub range_ns: i64,
    pub offset_ns: i64,
    pub unwrap: Option<Unwrap>,
    pub grouping: Option<Grouping>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl AggOp {
    pub fn from_name(name: &str) -> Option<AggOp> {
        Some(match name {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "count" => AggOp::Count,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "sort" => AggOp::Sort,
            "sort_desc" => AggOp::SortDesc,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Cmp(CmpOp),
    And,
    Or,
    Unless,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// `on(...)` when true, `ignoring(...)` when false.
    pub on: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetricExpr {
    Range(RangeAggregation),
    Aggregate {
        op: AggOp,
        param: Option<f64>,
        grouping: Option<Grouping>,
        inner: Box<MetricExpr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
        return_bool: bool,
        matching: Option<VectorMatching>,
    },
    Scalar(f64),
    /// `vector(x)`: one sample without labels at every step.
    Vector(f64),
}

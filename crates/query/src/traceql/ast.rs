//! The typed TraceQL tree the parser produces and the planner consumes.
//!
//! It mirrors the language, not the storage: fields are intrinsics or scoped
//! attributes, values are typed literals. Whether a comparison makes sense
//! (a status against a string, say) is the planner's call, so the parser
//! stays a pure function of the text.

/// A whole query: spanset filters combined by spanset operators, then pipeline stages.
#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    /// `{ ... }`: the spans for which the condition holds.
    Filter(FieldExpr),
    /// `lhs op rhs` between two spansets.
    Binary { op: SpansetOp, lhs: Box<SpansetExpr>, rhs: Box<SpansetExpr> },
    /// `input | stage`.
    Pipeline { input: Box<SpansetExpr>, stage: Stage },
}

/// Operators between spansets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both spansets match in the trace; the result is their union.
    And,
    /// `||`: either spanset matches; the result is their union.
    Or,
    /// `>`: spans of the right side whose parent is in the left side.
    Child,
    /// `>>`: spans of the right side with an ancestor in the left side.
    Descendant,
    /// `~`: spans of the right side with a sibling in the left side.
    Sibling,
}

/// A boolean condition on one span.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldExpr {
    Literal(bool),
    And(Box<FieldExpr>, Box<FieldExpr>),
    Or(Box<FieldExpr>, Box<FieldExpr>),
    Compare { field: Field, op: CompareOp, value: Literal },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
}

impl CompareOp {
    /// The operator with its operands swapped (`3 < x` is `x > 3`).
    pub fn flipped(self) -> CompareOp {
        match self {
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            other => other,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Match => "=~",
            CompareOp::NotMatch => "!~",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Intrinsic(Intrinsic),
    Attribute { scope: AttributeScope, name: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeScope {
    Span,
    Resource,
    /// `.name`: the span attribute, else the resource attribute.
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    SpanId,
    ParentId,
    TraceId,
    RootName,
    RootServiceName,
    TraceDuration,
}

impl Intrinsic {
    /// Whether the value belongs to the whole trace rather than the span.
    pub fn is_trace_level(self) -> bool {
        matches!(self, Intrinsic::RootName | Intrinsic::RootServiceName | Intrinsic::TraceDuration)
    }

    pub fn name(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::RootName => "rootName",
            Intrinsic::RootServiceName => "rootServiceName",
            Intrinsic::TraceDuration => "traceDuration",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Bool(bool),
    Status(Status),
    Kind(Kind),
    Nil,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error,
    Unset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// One pipeline stage after `|`.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// `| { ... }`: keep only the matched spans for which the condition holds.
    Filter(FieldExpr),
    /// `| count() > 2`, `| avg(duration) > 1s`: keep traces whose matched spans pass.
    Aggregate { func: Aggregate, field: Option<Field>, op: CompareOp, value: Literal },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

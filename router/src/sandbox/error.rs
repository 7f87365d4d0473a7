//! Why a module was refused at load time, and why an evaluation was stopped.
//!
//! Owns [`LoadError`] (load path, may carry names) and [`EvalError`] (hot path, `Copy`). Each has
//! a stable snake_case [`name`](EvalError::name) used as a counter label. Classification only:
//! this module never decides what to do about an error.

/// Why a capsule module was refused before it could run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The module is larger than `max_module_bytes`.
    #[error("module is {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// Module size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The bytes are not a well-formed WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Malformed(String),
    /// The module imports something outside the node API.
    #[error(
        "forbidden import `{module}::{name}`: a capsule may only import functions of `ants_v1` (see docs/node-api.md)"
    )]
    ForbiddenImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// The module imports a node-API function with the wrong signature.
    #[error("import `ants_v1::{name}` has signature {found}, the node API says {expected}")]
    ImportSignature {
        /// Import name.
        name: String,
        /// Signature found in the module.
        found: String,
        /// Signature of the node API.
        expected: String,
    },
    /// A required export is missing or has the wrong kind or type.
    #[error("missing or wrong export `{name}`: expected {expected}")]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The module defines more functions than allowed.
    #[error("module defines {count} functions, the limit is {limit}")]
    TooManyFunctions {
        /// Functions defined.
        count: u32,
        /// Configured limit.
        limit: u32,
    },
    /// The module's declared memory or table is larger than the limits.
    #[error("module declares {what} of {declared}, the limit is {limit}")]
    ResourceTooLarge {
        /// `"memory bytes"` or `"table elements"`.
        what: &'static str,
        /// Declared initial size.
        declared: u64,
        /// Configured limit.
        limit: u64,
    },
    /// The module has a start function: code that would run at instantiation, outside any
    /// evaluation and its limits.
    #[error(
        "module has a start function (function {0}); capsule code may run only inside `ants_evaluate`"
    )]
    StartFunction(u32),
    /// The module uses a WebAssembly feature the sandbox disables (threads, SIMD, GC...).
    #[error("module uses a disabled feature or failed validation: {0}")]
    Rejected(String),
    /// The module's shape is over the optimizing compiler's limits: it keeps its baseline
    /// code (only a tier-up is refused, never the module).
    #[error("not optimized: {what} is {found}, the optimizing compiler's limit is {limit}")]
    TooComplexToOptimize {
        /// The measure over its limit.
        what: &'static str,
        /// Its value in the module.
        found: u32,
        /// The configured limit.
        limit: u32,
    },
}

impl LoadError {
    /// Stable counter label.
    pub fn name(&self) -> &'static str {
        match self {
            LoadError::TooLarge { .. } => "module_too_large",
            LoadError::Malformed(_) => "module_malformed",
            LoadError::ForbiddenImport { .. } => "forbidden_import",
            LoadError::ImportSignature { .. } => "import_signature",
            LoadError::MissingExport { .. } => "missing_export",
            LoadError::TooManyFunctions { .. } => "too_many_functions",
            LoadError::ResourceTooLarge { .. } => "resource_too_large",
            LoadError::StartFunction(_) => "start_function",
            LoadError::Rejected(_) => "module_rejected",
            LoadError::TooComplexToOptimize { .. } => "too_complex_to_optimize",
        }
    }
}

/// Why an evaluation ended abnormally. The capsule's effects up to that point are discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EvalError {
    /// The evaluation burnt its whole fuel allowance (an endless or too-long loop).
    #[error("CPU budget exhausted (out of fuel)")]
    OutOfFuel,
    /// The native stack limit was hit (unbounded recursion).
    #[error("stack exhausted")]
    StackOverflow,
    /// The capsule trapped after its memory or table growth was refused at the limit.
    #[error("memory limit exceeded (growth refused, then the capsule trapped)")]
    MemoryLimit,
    /// The capsule executed `unreachable` (a Rust panic ends this way after logging).
    #[error("capsule trapped: unreachable executed (a panic; see its log)")]
    Unreachable,
    /// The capsule accessed memory outside its linear memory.
    #[error("capsule trapped: out-of-bounds memory access")]
    MemoryOutOfBounds,
    /// Any other WebAssembly trap (division by zero, bad indirect call...).
    #[error("capsule trapped")]
    OtherTrap,
    /// The evaluation ran past the wall-clock backstop (`max_evaluation_time`): work the fuel
    /// did not see, or a machine far slower than the fuel costs assume.
    #[error("evaluation stopped by the wall-clock limit")]
    TimeLimit,
    /// The module could not be instantiated (e.g. its start function failed).
    #[error("instantiation failed")]
    Instantiation,
    /// `ants_evaluate` returned a nonzero status: the capsule reports an error of its own.
    #[error("capsule returned error status {0}")]
    CapsuleStatus(i32),
}

impl EvalError {
    /// Stable counter label.
    pub fn name(self) -> &'static str {
        match self {
            EvalError::OutOfFuel => "out_of_fuel",
            EvalError::StackOverflow => "stack_overflow",
            EvalError::MemoryLimit => "memory_limit",
            EvalError::Unreachable => "trap_unreachable",
            EvalError::MemoryOutOfBounds => "trap_memory_out_of_bounds",
            EvalError::OtherTrap => "trap_other",
            EvalError::TimeLimit => "time_limit",
            EvalError::Instantiation => "instantiation_failed",
            EvalError::CapsuleStatus(_) => "capsule_error",
        }
    }

    /// Every name, in [`EvalError::index`] order.
    pub const NAMES: [&'static str; 9] = [
        "out_of_fuel",
        "stack_overflow",
        "memory_limit",
        "trap_unreachable",
        "trap_memory_out_of_bounds",
        "trap_other",
        "time_limit",
        "instantiation_failed",
        "capsule_error",
    ];

    /// Position of this reason in [`EvalError::NAMES`] (for counter arrays).
    pub fn index(self) -> usize {
        match self {
            EvalError::OutOfFuel => 0,
            EvalError::StackOverflow => 1,
            EvalError::MemoryLimit => 2,
            EvalError::Unreachable => 3,
            EvalError::MemoryOutOfBounds => 4,
            EvalError::OtherTrap => 5,
            EvalError::TimeLimit => 6,
            EvalError::Instantiation => 7,
            EvalError::CapsuleStatus(_) => 8,
        }
    }

    /// Whether the instance that raised it must be discarded (any trap may leave guest state
    /// inconsistent; a clean nonzero return does not).
    pub fn poisons_instance(self) -> bool {
        !matches!(self, EvalError::CapsuleStatus(_))
    }
}

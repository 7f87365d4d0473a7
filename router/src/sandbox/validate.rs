//! The module inspector: what a capsule module declares, and the load-time rules on it.
//!
//! Owns the structural rules of `docs/node-api.md` that are cheap to check on the raw bytes:
//! size, function count, imports (only `ants_v1` functions, with their exact signatures),
//! required exports, declared memory and table sizes, no start function. [`ModuleShape`] reads
//! a module once with `wasmparser`; [`ModuleShape::problems`] lists every rule it breaks. The
//! node refuses a module for the first of them ([`check_module`]); `ants inspect` and the SDK's
//! `check_module` example print them all, so there is one set of rules for all three. It
//! allocates in proportion to the module (whose size is checked first) and never compiles or
//! runs anything: that is what makes it safe to run on every module a neighbour sends before
//! spending compile time on it.

use capsule_sdk::abi;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

use super::error::LoadError;
use super::limits::SandboxLimits;

/// Bytes in one WebAssembly page.
const WASM_PAGE: u64 = 64 * 1024;
/// Tables a module may define (the instance limiter's `tables()`).
pub(crate) const MAX_TABLES: u64 = 1;

/// What a module imports, exports and declares, as far as it parses.
#[derive(Clone, Debug, Default)]
pub struct ModuleShape {
    /// Size of the module in bytes.
    pub size: usize,
    /// Every import, in order.
    pub imports: Vec<ImportShape>,
    /// Every export, in order.
    pub exports: Vec<ExportShape>,
    /// Functions the module defines (imports aside), as its function section declares.
    pub functions: u32,
    /// Memories the module defines: initial and maximum size in pages.
    pub memories: Vec<(u64, Option<u64>)>,
    /// Tables the module defines: initial size in elements.
    pub tables: Vec<u64>,
    /// The start function, if any.
    pub start: Option<u32>,
    /// Initial value of the first mutable `i32` global (for Rust, the shadow-stack pointer).
    pub stack_pointer: Option<i32>,
    /// Why reading stopped early, if it did (the module is then refused as malformed).
    pub malformed: Option<String>,
}

/// One import of a module.
#[derive(Clone, Debug)]
pub struct ImportShape {
    /// Import module name (`ants_v1` for the node API).
    pub module: String,
    /// Import name.
    pub name: String,
    /// For a function import, its signature (`None` if the type is not a function type);
    /// `Err(kind)` for any other kind of import.
    pub func: Result<Option<FuncType>, &'static str>,
}

/// One export of a module.
#[derive(Clone, Debug)]
pub struct ExportShape {
    /// Export name.
    pub name: String,
    /// What is exported.
    pub kind: ExternalKind,
    /// For a function export, its signature if known.
    pub func: Option<FuncType>,
}

impl ModuleShape {
    /// Reads `bytes`, stopping at the first part that does not parse (see
    /// [`ModuleShape::malformed`]).
    pub fn read(bytes: &[u8]) -> ModuleShape {
        let mut shape = ModuleShape {
            size: bytes.len(),
            ..ModuleShape::default()
        };
        if let Err(e) = shape.read_sections(bytes) {
            shape.malformed = Some(e.to_string());
        }
        shape
    }

    fn read_sections(&mut self, bytes: &[u8]) -> Result<(), wasmparser::BinaryReaderError> {
        let mut types: Vec<Option<FuncType>> = Vec::new();
        // Type index of every function, imported ones first (the wasm function index space).
        let mut func_types: Vec<u32> = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group?.into_types() {
                            types.push(match sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => Some(f),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        let func = match import.ty {
                            TypeRef::Func(ty) | TypeRef::FuncExact(ty) => {
                                func_types.push(ty);
                                Ok(types.get(ty as usize).cloned().flatten())
                            }
                            TypeRef::Memory(_) => Err("memory"),
                            TypeRef::Table(_) => Err("table"),
                            TypeRef::Global(_) => Err("global"),
                            _ => Err("other"),
                        };
                        self.imports.push(ImportShape {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            func,
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    self.functions = reader.count();
                    for ty in reader {
                        func_types.push(ty?);
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory?;
                        self.memories.push((memory.initial, memory.maximum));
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        self.tables.push(table?.ty.initial);
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        let global = global?;
                        if self.stack_pointer.is_none()
                            && global.ty.mutable
                            && global.ty.content_type == ValType::I32
                            && let Some(Ok(wasmparser::Operator::I32Const { value })) =
                                global.init_expr.get_operators_reader().into_iter().next()
                        {
                            self.stack_pointer = Some(value);
                        }
                    }
                }
                Payload::StartSection { func, .. } => self.start = Some(func),
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        let func = (export.kind == ExternalKind::Func)
                            .then(|| func_types.get(export.index as usize))
                            .flatten()
                            .and_then(|ty| types.get(*ty as usize).cloned().flatten());
                        self.exports.push(ExportShape {
                            name: export.name.to_string(),
                            kind: export.kind,
                            func,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every load rule the module breaks under `limits`, in the order a node checks them (a
    /// node refuses the module for the first). Full WebAssembly validation is not part of it:
    /// the compiler does that ([`crate::sandbox::Compiler::validate`]).
    pub fn problems(&self, limits: &SandboxLimits) -> Vec<LoadError> {
        let mut problems = Vec::new();
        if self.size > limits.max_module_bytes {
            problems.push(LoadError::TooLarge {
                size: self.size,
                limit: limits.max_module_bytes,
            });
        }
        if let Some(reason) = &self.malformed {
            problems.push(LoadError::Malformed(reason.clone()));
        }
        for import in &self.imports {
            if let Err(problem) = check_import(import) {
                problems.push(problem);
            }
        }
        if self.functions > limits.max_functions {
            problems.push(LoadError::TooManyFunctions {
                count: self.functions,
                limit: limits.max_functions,
            });
        }
        // The instance limiter allows one table: refuse here what would fail every
        // instantiation later.
        if self.tables.len() as u64 > MAX_TABLES {
            problems.push(LoadError::ResourceTooLarge {
                what: "tables",
                declared: self.tables.len() as u64,
                limit: MAX_TABLES,
            });
        }
        for &initial in &self.tables {
            if initial > limits.max_table_elements as u64 {
                problems.push(LoadError::ResourceTooLarge {
                    what: "table elements",
                    declared: initial,
                    limit: limits.max_table_elements as u64,
                });
            }
        }
        for &(initial, _) in &self.memories {
            let declared = initial.saturating_mul(WASM_PAGE);
            if declared > limits.max_memory_bytes as u64 {
                problems.push(LoadError::ResourceTooLarge {
                    what: "memory bytes",
                    declared,
                    limit: limits.max_memory_bytes as u64,
                });
            }
        }
        if let Some(func) = self.start {
            problems.push(LoadError::StartFunction(func));
        }
        let export = |name: &str, kind: ExternalKind| {
            self.exports
                .iter()
                .find(|e| e.name == name && e.kind == kind)
        };
        if export(abi::MEMORY_EXPORT, ExternalKind::Memory).is_none() || self.memories.len() != 1 {
            problems.push(LoadError::MissingExport {
                name: abi::MEMORY_EXPORT,
                expected: "the module's one linear memory, exported",
            });
        }
        let evaluate_ok = export(abi::EVALUATE_EXPORT, ExternalKind::Func)
            .and_then(|e| e.func.as_ref())
            .is_some_and(|ty| ty.params().is_empty() && ty.results() == [ValType::I32]);
        if !evaluate_ok {
            problems.push(LoadError::MissingExport {
                name: abi::EVALUATE_EXPORT,
                expected: "a function of type () -> i32",
            });
        }
        problems
    }
}

/// Checks `bytes` against the node API's structural rules and `limits`: the first problem
/// [`ModuleShape::problems`] finds, if any.
pub(crate) fn check_module(bytes: &[u8], limits: &SandboxLimits) -> Result<(), LoadError> {
    // Checked before reading, so that reading costs at most what a module of the limit does.
    if bytes.len() > limits.max_module_bytes {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit: limits.max_module_bytes,
        });
    }
    match ModuleShape::read(bytes).problems(limits).into_iter().next() {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

fn check_import(import: &ImportShape) -> Result<(), LoadError> {
    let forbidden = || LoadError::ForbiddenImport {
        module: import.module.clone(),
        name: import.name.clone(),
    };
    if import.module != abi::MODULE {
        return Err(forbidden());
    }
    let Some(expected) = abi::import_named(&import.name) else {
        return Err(forbidden());
    };
    let Ok(found) = &import.func else {
        return Err(forbidden());
    };
    let matches = found.as_ref().is_some_and(|f| {
        f.params().len() == expected.params.len()
            && f.params()
                .iter()
                .zip(expected.params)
                .all(|(a, b)| same(*a, *b))
            && f.results().len() == 1
            && same(f.results()[0], expected.result)
    });
    if matches {
        return Ok(());
    }
    Err(LoadError::ImportSignature {
        name: import.name.clone(),
        found: found
            .as_ref()
            .map_or_else(|| "a non-function type".to_string(), |f| format!("{f}")),
        expected: format!(
            "[{}] -> [{}]",
            expected
                .params
                .iter()
                .map(|p| abi_name(*p))
                .collect::<Vec<_>>()
                .join(" "),
            abi_name(expected.result)
        ),
    })
}

fn same(found: ValType, expected: abi::ValType) -> bool {
    matches!(
        (found, expected),
        (ValType::I32, abi::ValType::I32) | (ValType::I64, abi::ValType::I64)
    )
}

fn abi_name(v: abi::ValType) -> &'static str {
    match v {
        abi::ValType::I32 => "i32",
        abi::ValType::I64 => "i64",
    }
}

//! Load-time checks on a capsule module, before any compilation.
//!
//! Owns the structural rules of `docs/node-api.md` that are cheap to check on the raw bytes:
//! size, function count, imports (only `ants_v1` functions, with their exact signatures),
//! required exports, declared memory and table sizes, no start function. It reads the module once with
//! `wasmparser`, allocates little, and never compiles or runs anything: that is what makes it
//! safe to run on every module a neighbour sends before spending compile time on it.

use capsule_sdk::abi;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

use super::error::LoadError;
use super::limits::SandboxLimits;

/// Bytes in one WebAssembly page.
const WASM_PAGE: u64 = 64 * 1024;
/// Tables a module may define (the instance limiter's `tables()`).
pub(crate) const MAX_TABLES: u64 = 1;

/// Checks `bytes` against the node API's structural rules and `limits`.
pub(crate) fn check_module(bytes: &[u8], limits: &SandboxLimits) -> Result<(), LoadError> {
    if bytes.len() > limits.max_module_bytes {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit: limits.max_module_bytes,
        });
    }
    let malformed = |e: wasmparser::BinaryReaderError| LoadError::Malformed(e.to_string());

    let mut types: Vec<Option<FuncType>> = Vec::new();
    // Type index of every function, imported ones first (the wasm function index space).
    let mut func_types: Vec<u32> = Vec::new();
    let mut memory_export = false;
    let mut evaluate_export: Option<u32> = None;
    let mut memories = 0u32;
    let mut tables = 0u64;

    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(malformed)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(malformed)?;
                    check_import(&import, &types)?;
                    if let TypeRef::Func(ty) = import.ty {
                        func_types.push(ty);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                let defined_functions = reader.count();
                if defined_functions > limits.max_functions {
                    return Err(LoadError::TooManyFunctions {
                        count: defined_functions,
                        limit: limits.max_functions,
                    });
                }
                for ty in reader {
                    func_types.push(ty.map_err(malformed)?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(malformed)?;
                    memories += 1;
                    let declared = memory.initial.saturating_mul(WASM_PAGE);
                    if declared > limits.max_memory_bytes as u64 {
                        return Err(LoadError::ResourceTooLarge {
                            what: "memory bytes",
                            declared,
                            limit: limits.max_memory_bytes as u64,
                        });
                    }
                }
            }
            Payload::StartSection { func, .. } => return Err(LoadError::StartFunction(func)),
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(malformed)?;
                    // The instance limiter allows one table: refuse here what would fail
                    // every instantiation later.
                    tables += 1;
                    if tables > MAX_TABLES {
                        return Err(LoadError::ResourceTooLarge {
                            what: "tables",
                            declared: tables,
                            limit: MAX_TABLES,
                        });
                    }
                    if table.ty.initial > limits.max_table_elements as u64 {
                        return Err(LoadError::ResourceTooLarge {
                            what: "table elements",
                            declared: table.ty.initial,
                            limit: limits.max_table_elements as u64,
                        });
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    match (export.name, export.kind) {
                        (abi::MEMORY_EXPORT, ExternalKind::Memory) => memory_export = true,
                        (abi::EVALUATE_EXPORT, ExternalKind::Func) => {
                            evaluate_export = Some(export.index)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    if !memory_export || memories != 1 {
        return Err(LoadError::MissingExport {
            name: abi::MEMORY_EXPORT,
            expected: "the module's one linear memory, exported",
        });
    }
    let evaluate_ok = evaluate_export
        .and_then(|f| func_types.get(f as usize))
        .and_then(|ty| types.get(*ty as usize))
        .and_then(Option::as_ref)
        .is_some_and(|ty| ty.params().is_empty() && ty.results() == [ValType::I32]);
    if !evaluate_ok {
        return Err(LoadError::MissingExport {
            name: abi::EVALUATE_EXPORT,
            expected: "a function of type () -> i32",
        });
    }
    Ok(())
}

fn check_import(
    import: &wasmparser::Import<'_>,
    types: &[Option<FuncType>],
) -> Result<(), LoadError> {
    let forbidden = || LoadError::ForbiddenImport {
        module: import.module.to_string(),
        name: import.name.to_string(),
    };
    if import.module != abi::MODULE {
        return Err(forbidden());
    }
    let Some(expected) = abi::import_named(import.name) else {
        return Err(forbidden());
    };
    let TypeRef::Func(ty) = import.ty else {
        return Err(forbidden());
    };
    let found = types.get(ty as usize).and_then(Option::as_ref);
    let matches = found.is_some_and(|f| {
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
        name: import.name.to_string(),
        found: found.map_or_else(|| "a non-function type".to_string(), |f| format!("{f}")),
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

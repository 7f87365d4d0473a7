//! Reads a wasm module and checks it against the `ants_v1` load rules (imports, exports,
//! memory, start function), the way a node would before compiling it.
//!
//! Shared by the `check_module` example and the ABI document test; it only reads bytes and
//! must never run or compile the module.

use capsule_sdk::abi::{self, ValType as AbiType};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef, ValType, Validator};

/// Parameter and result types of a function.
pub type Signature = (Vec<ValType>, Vec<ValType>);

/// What a module imports, exports and declares.
#[derive(Debug, Default)]
pub struct Report {
    /// `(module, name, params, results)` of every imported function.
    pub imports: Vec<(String, String, Vec<ValType>, Vec<ValType>)>,
    /// Imports of anything other than functions, as `module.name`.
    pub other_imports: Vec<String>,
    /// `(name, kind, signature if a function)`.
    pub exports: Vec<(String, ExternalKind, Option<Signature>)>,
    /// Declared (not imported) memories: `(initial pages, maximum pages)`.
    pub memories: Vec<(u64, Option<u64>)>,
    /// Functions defined by the module.
    pub functions: u32,
    /// Whether there is a start function.
    pub has_start: bool,
    /// Initial value of the first mutable i32 global (the shadow-stack pointer for Rust).
    pub stack_pointer: Option<i32>,
}

fn abi_type(t: AbiType) -> ValType {
    match t {
        AbiType::I32 => ValType::I32,
        AbiType::I64 => ValType::I64,
    }
}

/// Validates `bytes` and collects the [`Report`].
pub fn inspect(bytes: &[u8]) -> Result<Report, String> {
    Validator::new()
        .validate_all(bytes)
        .map_err(|e| format!("invalid module: {e}"))?;
    let mut types: Vec<Signature> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut exports = Vec::new();
    let mut r = Report::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::TypeSection(s) => {
                for group in s {
                    for sub in group.map_err(|e| e.to_string())?.into_types() {
                        let f = sub.unwrap_func();
                        types.push((f.params().to_vec(), f.results().to_vec()));
                    }
                }
            }
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    let i = import.map_err(|e| e.to_string())?;
                    match i.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            let (p, res) = types[t as usize].clone();
                            func_types.push(t);
                            r.imports.push((i.module.into(), i.name.into(), p, res));
                        }
                        _ => r.other_imports.push(format!("{}.{}", i.module, i.name)),
                    }
                }
            }
            Payload::FunctionSection(s) => {
                for t in s {
                    func_types.push(t.map_err(|e| e.to_string())?);
                    r.functions += 1;
                }
            }
            Payload::MemorySection(s) => {
                for m in s {
                    let m = m.map_err(|e| e.to_string())?;
                    r.memories.push((m.initial, m.maximum));
                }
            }
            Payload::GlobalSection(s) => {
                for g in s {
                    let g = g.map_err(|e| e.to_string())?;
                    if r.stack_pointer.is_none()
                        && g.ty.mutable
                        && g.ty.content_type == ValType::I32
                    {
                        let mut ops = g.init_expr.get_operators_reader();
                        if let Ok(Operator::I32Const { value }) = ops.read() {
                            r.stack_pointer = Some(value);
                        }
                    }
                }
            }
            Payload::ExportSection(s) => {
                for e in s {
                    let e = e.map_err(|e| e.to_string())?;
                    exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::StartSection { .. } => r.has_start = true,
            _ => {}
        }
    }
    for (name, kind, index) in exports {
        let sig = match kind {
            ExternalKind::Func | ExternalKind::FuncExact => func_types
                .get(index as usize)
                .map(|t| types[*t as usize].clone()),
            _ => None,
        };
        r.exports.push((name, kind, sig));
    }
    Ok(r)
}

/// Everything that would make a node reject the module under the `ants_v1` rules.
pub fn abi_problems(r: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, name, params, results) in &r.imports {
        if module != abi::MODULE {
            problems.push(format!(
                "imports {module}.{name}: only module {} is allowed",
                abi::MODULE
            ));
            continue;
        }
        match abi::import_named(name) {
            None => problems.push(format!("imports unknown function {module}.{name}")),
            Some(i) => {
                let want_p: Vec<ValType> = i.params.iter().map(|t| abi_type(*t)).collect();
                if *params != want_p || *results != [abi_type(i.result)] {
                    problems.push(format!(
                        "{name}: signature {params:?} -> {results:?} differs from the ABI"
                    ));
                }
            }
        }
    }
    for other in &r.other_imports {
        problems.push(format!("imports {other}: only functions may be imported"));
    }
    let export = |n: &str| r.exports.iter().find(|(name, _, _)| name == n);
    match export(abi::MEMORY_EXPORT) {
        Some((_, ExternalKind::Memory, _)) => {}
        _ => problems.push("no exported memory named `memory`".into()),
    }
    match export(abi::EVALUATE_EXPORT) {
        Some((_, _, Some((p, res)))) if p.is_empty() && *res == [ValType::I32] => {}
        _ => problems.push("no exported function `ants_evaluate: () -> i32`".into()),
    }
    if r.has_start {
        problems.push("has a start function".into());
    }
    if r.memories.len() != 1 {
        problems.push(format!(
            "declares {} memories, exactly one is required",
            r.memories.len()
        ));
    }
    problems
}

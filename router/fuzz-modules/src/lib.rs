//! Drives WebAssembly modules through the capsule sandbox as a router meets them: validate,
//! compile, then evaluate a few capsules, all under small limits.
//!
//! Owns [`run`], the body of the `module` fuzz target, and the module generators it uses. The
//! first input byte picks what the rest is:
//! - [`RAW`]: the module's bytes as they are, so malformed and truncated modules are covered;
//! - [`OFF_CONTRACT`]: a generated module that may break the node API (disabled proposals,
//!   foreign or mistyped imports, several memories, arbitrary exports);
//! - anything else: a generated module within the sandbox's feature set that imports only
//!   `ants_v1` functions with their exact signatures and exports `memory` and
//!   `ants_evaluate`.
//!
//! What a run asserts: nothing panics; every refusal ([`LoadError`]) and every stopped
//! evaluation ([`EvalError`]) has a non-empty name; `compile` refuses exactly what `validate`
//! refuses, for the same reason; a generated module within the contract and the limits is
//! accepted; the sandbox's counters account for every evaluation; and a completed evaluation's
//! effects stay within the limits (a stopped one leaves no sends or deliveries). A module on
//! which validation and compilation disagree, or an in-contract module that was refused, is
//! also written to `findings/` before the panic, so it can be replayed without the fuzzer.

pub mod node;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{
    CompiledCapsule, EvalError, LoadError, NodeContext, Sandbox, SandboxLimits, SendRoute,
};
use ants_router::softstore::{StateLimits, StateStore};
use ants_router::time::Timestamp;
use ants_router::wire::CapsuleRepr;
use arbitrary::Unstructured;
use capsule_sdk::abi;
use wasm_encoder as enc;

/// Selector byte: the rest of the input is the module's bytes, used as they are.
pub const RAW: u8 = 0;
/// Selector byte: the rest drives a generator that may step outside the node API.
pub const OFF_CONTRACT: u8 = 1;
/// Selector byte: the rest drives a generator that stays within the node API.
pub const CONTRACT: u8 = 2;

/// Bytes in one WebAssembly page.
const PAGE: u64 = 64 * 1024;
/// Most host-call fuel the sandbox charges without taking it from the store (its batch size).
const HOST_CHARGE_BATCH: u64 = 4096;

/// The limits every run uses: small, so a hostile module stops within milliseconds, and low
/// enough that generated modules reach each of them.
pub fn limits() -> SandboxLimits {
    SandboxLimits {
        max_module_bytes: 32 * 1024,
        max_functions: 40,
        max_memory_bytes: 128 * 1024,
        max_table_elements: 64,
        fuel_per_evaluation: 100_000,
        max_wasm_stack: 64 * 1024,
        max_sends: 4,
        max_deliveries: 2,
        max_payload: 64,
        log_burst: 3,
        log_per_second: 1,
        max_log_len: 32,
        // Below the capsules evaluated per run, so recycling happens inside a run.
        recycle_after_calls: 2,
        max_live_instances: 2,
        // The wall-clock backstop and the rest keep their defaults: fuel stops these
        // evaluations long before any clock would.
        ..SandboxLimits::default()
    }
}

thread_local! {
    // One engine per thread: building it costs far more than one input. Instances do not
    // carry over between inputs (`run` forgets its protocol), so a crash replays alone.
    static SANDBOX: RefCell<Sandbox> = RefCell::new(
        Sandbox::new(limits()).unwrap_or_else(|e| panic!("sandbox engine: {e}")),
    );
}

/// What one run saw, for tests that check the generators reach every stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `None` for an input too short to describe a module; else the load outcome, a
    /// [`LoadError`] named.
    pub load: Option<Result<(), &'static str>>,
    /// Outcome of each evaluation, an [`EvalError`] named.
    pub evaluations: Vec<Result<(), &'static str>>,
}

/// A module to load, and whether the contract says the sandbox must accept it.
struct Candidate {
    bytes: Vec<u8>,
    must_accept: bool,
}

/// Runs one input; panics if the sandbox breaks one of the properties in the module docs.
pub fn run(data: &[u8]) -> Report {
    let Some((&selector, rest)) = data.split_first() else {
        return Report::default();
    };
    let mut u = Unstructured::new(rest);
    let candidate = match selector {
        RAW => Some(Candidate {
            bytes: rest.to_vec(),
            must_accept: false,
        }),
        OFF_CONTRACT => off_contract_module(&mut u).ok(),
        _ => contract_module(&mut u).ok(),
    };
    let Some(candidate) = candidate else {
        return Report::default();
    };
    // A raw module used the whole input; its capsules are the defaults an empty input gives.
    let mut capsule_input = if selector == RAW {
        Unstructured::new(&[])
    } else {
        u
    };
    let capsules = capsule_specs(&mut capsule_input);
    SANDBOX.with_borrow_mut(|sandbox| load_and_evaluate(sandbox, &candidate, &capsules))
}

fn load_and_evaluate(sandbox: &mut Sandbox, module: &Candidate, capsules: &[Spec]) -> Report {
    let bytes = &module.bytes[..];
    let compiler = sandbox.compiler();
    let validated = compiler.validate(bytes);
    let fingerprint = Fingerprint::sha256(bytes);
    let compiled = compiler.compile(fingerprint, bytes);
    let code = match (validated, compiled) {
        (Ok(()), Ok(code)) => code,
        (Err(refused), Err(again)) => {
            assert_named_load(&refused);
            // `compile` validates first, so it must refuse for the same reason.
            assert_eq!(
                refused, again,
                "validate and compile refuse for different reasons"
            );
            if module.must_accept {
                finding(
                    bytes,
                    "refused",
                    &format!("a module within the node API and the limits was refused: {refused}"),
                );
            }
            return Report {
                load: Some(Err(refused.name())),
                evaluations: Vec::new(),
            };
        }
        (Ok(()), Err(refused)) => finding(
            bytes,
            "compile-refused",
            &format!("validate accepted the module, compile refused it: {refused}"),
        ),
        (Err(refused), Ok(_)) => finding(
            bytes,
            "validate-refused",
            &format!("compile accepted the module, validate refused it: {refused}"),
        ),
    };
    assert_eq!(code.fingerprint(), fingerprint);
    assert_eq!(code.module_len(), bytes.len());

    let evaluations = evaluate_all(sandbox, &code, capsules);
    // The next input starts from a fresh instance even if it carries the same module.
    sandbox.forget(&fingerprint);
    assert_eq!(sandbox.live_instances(), 0);
    Report {
        load: Some(Ok(())),
        evaluations,
    }
}

fn evaluate_all(
    sandbox: &mut Sandbox,
    code: &CompiledCapsule,
    capsules: &[Spec],
) -> Vec<Result<(), &'static str>> {
    let limits = sandbox.limits().clone();
    let mut ctx = node_context();
    let before = sandbox.stats();
    let mut outcomes = Vec::with_capacity(capsules.len());
    for spec in capsules {
        ctx.now = ctx.now + Duration::from_millis(spec.advance_ms);
        let repr = CapsuleRepr {
            fingerprint: code.fingerprint(),
            source: spec.source,
            destination: spec.destination,
            previous: spec.previous,
            budget: spec.budget,
            payload: &spec.payload,
        };
        let outcome = sandbox.evaluate(code, &repr, &mut ctx);
        check_effects(&ctx, &limits, &repr, outcome);
        outcomes.push(outcome.map_err(|e| {
            assert!(!e.name().is_empty(), "{e:?} has no name");
            assert!(!e.to_string().is_empty(), "{e:?} has no message");
            e.name()
        }));
    }

    let after = sandbox.stats();
    let n = capsules.len() as u64;
    assert_eq!(
        after.evaluations - before.evaluations,
        n,
        "evaluations counted"
    );
    let completed = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    assert_eq!(after.completed - before.completed, completed);
    // Host-call charges are taken from the store in batches, and a batch still open when the
    // evaluation ends is counted on top of what the store burnt: up to one batch per
    // evaluation past the allowance.
    let allowance = limits.fuel_per_evaluation + HOST_CHARGE_BATCH;
    assert!(
        after.fuel_consumed - before.fuel_consumed <= n * allowance,
        "fuel burnt beyond the allowance: {} for {n} evaluations",
        after.fuel_consumed - before.fuel_consumed
    );
    outcomes
}

/// The effects one evaluation left must respect the limits of `docs/node-api.md` section 6.
fn check_effects(
    ctx: &NodeContext,
    limits: &SandboxLimits,
    capsule: &CapsuleRepr<'_>,
    outcome: Result<(), EvalError>,
) {
    let fx = &ctx.effects;
    if let Err(e) = outcome
        && e.poisons_instance()
    {
        assert!(
            fx.sends().is_empty() && fx.deliveries().is_empty(),
            "a stopped evaluation ({e:?}) kept actions"
        );
    }
    assert!(fx.sends().len() <= limits.max_sends, "too many sends");
    assert!(
        fx.deliveries().len() <= limits.max_deliveries,
        "too many deliveries"
    );
    let mut budget = 0u32;
    for send in fx.sends() {
        assert!(send.budget >= 1, "a send without budget");
        budget += u32::from(send.budget);
        assert!(
            fx.bytes(&send.payload).len() <= limits.max_payload,
            "send payload too large"
        );
        assert!(
            send.source == capsule.source || send.source == ctx.address,
            "a send with a forged source {}",
            send.source
        );
        if let SendRoute::Via(n) = send.route {
            assert!(
                ctx.routing.neighbour(n).is_some(),
                "sent via non-neighbour {n}"
            );
        }
    }
    assert!(
        budget <= u32::from(capsule.budget),
        "sends split more budget ({budget}) than the capsule had ({})",
        capsule.budget
    );
    for delivery in fx.deliveries() {
        assert!(
            fx.bytes(&delivery.payload).len() <= limits.max_payload,
            "delivery too large"
        );
    }
    assert!(
        fx.logs().len() <= limits.log_burst as usize,
        "log rate limit exceeded"
    );
    for log in fx.logs() {
        assert!(
            fx.bytes(&log.message).len() <= limits.max_log_len,
            "log message kept whole"
        );
    }
}

fn assert_named_load(e: &LoadError) {
    assert!(!e.name().is_empty(), "{e:?} has no name");
    assert!(!e.to_string().is_empty(), "{e:?} has no message");
}

/// Records a module the sandbox mishandled under `findings/`, then fails the run.
fn finding(bytes: &[u8], kind: &str, what: &str) -> ! {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("findings");
    let path = dir.join(format!("{kind}-{}.wasm", Fingerprint::sha256(bytes)));
    // Best effort: the panic below is the finding; the file only makes it replayable.
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, bytes))
        .map_or_else(
            |e| format!("not saved: {e}"),
            |()| format!("saved as {}", path.display()),
        );
    panic!("{what} ({saved})");
}

// ---- The node the capsules meet ----

const NODE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const NEIGHBOUR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const NEIGHBOUR_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
/// Inside the one routed prefix, 10.0.9.0/24 via [`NEIGHBOUR`].
const ROUTED: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 9, 9));
const UNROUTED: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const UNROUTED_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));
const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 5, 1));
const SOURCE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5));

/// A node with two neighbours, one route and a small state store, so the routing, neighbour
/// and quota paths of the node API all have something to find.
fn node_context() -> NodeContext {
    let mut ctx = NodeContext::new(NODE);
    ctx.now = Timestamp::from_millis(1_000);
    ctx.routing.add_neighbour(NEIGHBOUR);
    ctx.routing.add_neighbour(NEIGHBOUR_V6);
    ctx.routing
        .add_route(Route {
            prefix: IpAddr::V4(Ipv4Addr::new(10, 0, 9, 0)),
            len: 24,
            next_hop: NextHop::Neighbour(NEIGHBOUR),
        })
        .unwrap_or_else(|e| panic!("route: {e}"));
    ctx.state = Box::new(StateStore::new(StateLimits {
        max_key_len: abi::MAX_KEY_LEN,
        max_value_len: abi::MAX_VALUE_LEN,
        per_protocol_bytes: 2 * 1024,
        total_bytes: 4 * 1024,
        max_ttl: Duration::from_secs(3600),
    }));
    ctx
}

/// One capsule to evaluate.
struct Spec {
    source: IpAddr,
    destination: IpAddr,
    previous: IpAddr,
    budget: u16,
    payload: Vec<u8>,
    /// Node time passing before it arrives (refills the log rate limit).
    advance_ms: u64,
}

/// Two or three capsules from what is left of the input; an empty input gives a routed
/// capsule with budget 8, twice.
fn capsule_specs(u: &mut Unstructured<'_>) -> Vec<Spec> {
    let count = 2 + usize::from(u.ratio(1, 2).unwrap_or(false));
    (0..count)
        .map(|_| {
            let source = *u.choose(&[SOURCE, SOURCE_V6]).unwrap_or(&SOURCE);
            let destination = *u
                .choose(&[ROUTED, NEIGHBOUR, NODE, UNROUTED, UNROUTED_V6, NEIGHBOUR_V6])
                .unwrap_or(&ROUTED);
            let previous = *u.choose(&[source, NEIGHBOUR]).unwrap_or(&source);
            let budget = *u.choose(&[8, 1, 0, 3, u16::MAX]).unwrap_or(&8);
            // Up to 96 bytes: past `max_payload`, so forwarding it whole is refused.
            let len = u.int_in_range(0..=96usize).unwrap_or(0).min(u.len());
            let payload = u.bytes(len).unwrap_or_default().to_vec();
            let advance_ms = *u.choose(&[0, 1, 2_000]).unwrap_or(&0);
            Spec {
                source,
                destination,
                previous,
                budget,
                payload,
                advance_ms,
            }
        })
        .collect()
}

// ---- Module generators ----

/// A module importing every `ants_v1` function with its exact signature: what a generated
/// module may choose its imports from.
fn node_api_imports() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        imports_module(
            abi::IMPORTS.iter().map(|i| {
                let params = i.params.iter().map(|p| val_type(*p)).collect();
                (abi::MODULE, i.name, params, vec![val_type(i.result)])
            }),
            false,
        )
    })
}

/// Imports a module must be refused for: every `ants_v1` name with a signature off by one
/// value, an unknown `ants_v1` name, another module's function, and an imported memory.
fn mistyped_imports() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let functions = abi::IMPORTS
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let mut params: Vec<_> = i.params.iter().map(|p| val_type(*p)).collect();
                let mut results = vec![val_type(i.result)];
                match n % 3 {
                    0 => params.push(enc::ValType::I64),
                    1 => results[0] = enc::ValType::F32,
                    _ => results.clear(),
                }
                (abi::MODULE, i.name, params, results)
            })
            .chain([
                (abi::MODULE, "no_such_call", vec![], vec![enc::ValType::I32]),
                ("env", "abort", vec![enc::ValType::I32], vec![]),
            ]);
        imports_module(functions, true)
    })
}

type Signature<'a> = (&'a str, &'a str, Vec<enc::ValType>, Vec<enc::ValType>);

/// A module of nothing but these function imports, plus an imported `ants_v1::memory` if
/// `memory`.
fn imports_module<'a>(functions: impl Iterator<Item = Signature<'a>>, memory: bool) -> Vec<u8> {
    let mut types = enc::TypeSection::new();
    let mut imports = enc::ImportSection::new();
    for (n, (module, name, params, results)) in functions.enumerate() {
        types.ty().function(params, results);
        imports.import(module, name, enc::EntityType::Function(n as u32));
    }
    if memory {
        let ty = enc::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        };
        imports.import(abi::MODULE, abi::MEMORY_EXPORT, ty);
    }
    let mut module = enc::Module::new();
    module.section(&types).section(&imports);
    module.finish()
}

/// The exports the node calls: `memory` of `pages` initial pages (at most `max`) and
/// `ants_evaluate: () -> i32`. wasm-smith gives the generated module exactly these exports
/// with bodies of its own.
fn node_api_exports(pages: u64, max: Option<u64>) -> Vec<u8> {
    let mut types = enc::TypeSection::new();
    types.ty().function([], [enc::ValType::I32]);
    let mut functions = enc::FunctionSection::new();
    functions.function(0);
    let mut memories = enc::MemorySection::new();
    memories.memory(enc::MemoryType {
        minimum: pages,
        maximum: max,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = enc::ExportSection::new();
    exports.export(abi::MEMORY_EXPORT, enc::ExportKind::Memory, 0);
    exports.export(abi::EVALUATE_EXPORT, enc::ExportKind::Func, 0);
    let mut body = enc::Function::new([]);
    body.instructions().i32_const(0).end();
    let mut code = enc::CodeSection::new();
    code.function(&body);
    let mut module = enc::Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code);
    module.finish()
}

fn val_type(v: abi::ValType) -> enc::ValType {
    match v {
        abi::ValType::I32 => enc::ValType::I32,
        abi::ValType::I64 => enc::ValType::I64,
    }
}

/// A generator configuration within the sandbox's feature set (`engine_config` in the
/// router's sandbox) and the node API's shape. With `within_limits`, what it produces also
/// keeps to [`limits`] and to the node API's other rules (no start function, only valid code),
/// apart from the module's byte size, which `contract_module` checks.
fn contract_config(
    u: &mut Unstructured<'_>,
    within_limits: bool,
) -> arbitrary::Result<wasm_smith::Config> {
    let limits = limits();
    let mut c = wasm_smith::Config {
        // What Rust's wasm32 output uses, which the engine enables.
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        sign_extension_ops_enabled: true,
        saturating_float_to_int_enabled: true,
        // The proposals the engine turns off or leaves out of the build.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        memory64_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        custom_descriptors_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        // Past WebAssembly 2.0, which is all the node API promises.
        extended_const_enabled: false,
        ..wasm_smith::Config::default()
    };
    // Rarely: many of the modules it enables use `externref`, which the engine refuses (see
    // `contract_module`), and those never reach evaluation.
    c.reference_types_enabled = u.ratio(1, 4)?;

    c.available_imports = Some(node_api_imports().to_vec());
    c.max_imports = abi::IMPORTS.len();
    // The required `memory` export brings the module's one memory; a second would need
    // multi-memory.
    c.max_memories = 0;
    let max_pages = limits.max_memory_bytes as u64 / PAGE;
    let pages = u.int_in_range(0..=max_pages + u64::from(!within_limits))?;
    let max = if u.arbitrary()? {
        Some(pages + u.int_in_range(0..=4)?)
    } else {
        None
    };
    c.exports = Some(node_api_exports(pages, max));

    // `max_funcs` counts imports too; `ants_evaluate` comes on top of it.
    let funcs = limits.max_functions as usize - 1;
    c.max_funcs = u.int_in_range(0..=if within_limits { funcs } else { funcs + 20 })?;
    c.max_instructions = u.int_in_range(0..=200)?;
    c.max_types = u.int_in_range(0..=16)?;
    c.max_globals = u.int_in_range(0..=8)?;
    // One table: the limiter refuses a second at instantiation, so validation refuses it.
    c.max_tables = u.int_in_range(0..=if within_limits { 1 } else { 2 })?;
    let elements = limits.max_table_elements as u64;
    c.max_table_elements = u.int_in_range(
        0..=if within_limits {
            elements
        } else {
            elements * 2
        },
    )?;
    c.max_elements = u.int_in_range(0..=32)?;
    c.max_element_segments = u.int_in_range(0..=4)?;
    c.max_data_segments = u.int_in_range(0..=4)?;
    c.max_exports = 0;
    // The node API refuses a start function (code outside any evaluation).
    c.allow_start_export = !within_limits && u.arbitrary()?;
    c.disallow_traps = u.ratio(1, 4)?;
    c.allow_floats = u.arbitrary()?;
    c.canonicalize_nans = u.arbitrary()?;
    // Non-minimal LEB128 encodings are valid and exercise the validator's reader.
    c.min_uleb_size = if u.ratio(1, 8)? {
        u.int_in_range(2..=5)?
    } else {
        1
    };
    c.allow_invalid_funcs = !within_limits && u.ratio(1, 8)?;
    Ok(c)
}

/// A module within the node API; `must_accept` when its configuration stayed within the
/// limits, its bytes within `max_module_bytes`, and it uses no `externref`.
fn contract_module(u: &mut Unstructured<'_>) -> arbitrary::Result<Candidate> {
    let within_limits = u.arbitrary()?;
    let config = contract_config(u, within_limits)?;
    let mut features = config.features();
    let bytes = wasm_smith::Module::new(config, u)?.to_bytes();
    // `externref` is WebAssembly 2.0, but wasmtime without its `gc` feature refuses every
    // GC type, `externref` included (see `findings/README.md`): the contract is only
    // enforced on modules that validate without GC types.
    features.remove(wasmparser::WasmFeatures::GC_TYPES);
    let without_gc_types = wasmparser::Validator::new_with_features(features)
        .validate_all(&bytes)
        .is_ok();
    let must_accept = within_limits && without_gc_types && bytes.len() <= limits().max_module_bytes;
    Ok(Candidate { bytes, must_accept })
}

/// A module that may use what the sandbox refuses: each knob flips independently, so most
/// modules break one rule and some break none.
fn off_contract_module(u: &mut Unstructured<'_>) -> arbitrary::Result<Candidate> {
    let mut c = contract_config(u, false)?;
    c.simd_enabled = u.arbitrary()?;
    c.relaxed_simd_enabled = c.simd_enabled && u.arbitrary()?;
    c.threads_enabled = u.arbitrary()?;
    c.memory64_enabled = u.arbitrary()?;
    c.tail_call_enabled = u.arbitrary()?;
    c.exceptions_enabled = u.arbitrary()?;
    c.gc_enabled = u.arbitrary()?;
    c.custom_page_sizes_enabled = u.arbitrary()?;
    c.wide_arithmetic_enabled = u.arbitrary()?;
    c.extended_const_enabled = u.arbitrary()?;
    c.max_memories = u.int_in_range(0..=2)?;
    c.max_memory32_bytes = 4 * PAGE;
    c.max_memory64_bytes = u128::from(4 * PAGE);
    c.available_imports = match u.int_in_range(0..=2)? {
        0 => Some(node_api_imports().to_vec()),
        1 => Some(mistyped_imports().to_vec()),
        // Any import wasm-smith invents: functions, memories, tables, globals, tags.
        _ => None,
    };
    c.max_imports = u.int_in_range(0..=8)?;
    if u.ratio(1, 4)? {
        // Exports of wasm-smith's choosing: rarely `memory` plus `ants_evaluate`.
        c.exports = None;
        c.max_exports = u.int_in_range(0..=4)?;
    }
    let bytes = wasm_smith::Module::new(c, u)?.to_bytes();
    Ok(Candidate {
        bytes,
        must_accept: false,
    })
}

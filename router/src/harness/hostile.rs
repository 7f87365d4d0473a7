//! Hostile capsule modules: each one spends an evaluation calling one node-API import in its
//! costliest legal way, or burning CPU without imports.
//!
//! Owns [`HostileLoop`] and the WebAssembly text it generates. The hostile tests and the
//! host-call cost calibration use these modules, so the cost that is measured is the cost that
//! is tested. It only writes text: loading and running the modules is the caller's business.
//!
//! Memory layout every module shares (16 pages, 1 MiB): bytes 0..16 hold an address given at
//! generation (a neighbour or a destination: [`HostileLoop::wat`]), 64..128 a 64-byte state key,
//! 1,024.. the buffers (up to 64 KiB).

use std::net::IpAddr;

/// One hostile evaluation: a loop around one import (or none), with the arguments that make
/// each call as expensive as the node API allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostileLoop {
    /// `capsule_budget()`.
    CapsuleBudget,
    /// `capsule_source(out)`.
    CapsuleSource,
    /// `capsule_destination(out)`.
    CapsuleDestination,
    /// `capsule_previous(out)`.
    CapsulePrevious,
    /// `capsule_payload_len()`.
    CapsulePayloadLen,
    /// `capsule_payload(out, 1200)`: copies the whole payload each call.
    CapsulePayload,
    /// `capsule_fingerprint(out)`.
    CapsuleFingerprint,
    /// `node_address(out)`.
    NodeAddress,
    /// `node_time_ns()`.
    NodeTime,
    /// `route_next_hop(addr, out)`: a lookup of the address at 0.
    RouteNextHop,
    /// `neighbours(out, 4096)`: lists every neighbour into a 64 KiB buffer.
    Neighbours,
    /// `link_load(addr, out)` for the address at 0.
    LinkLoad,
    /// `send(addr, 0, 1, 0, buf, 1200)`: 1,200-byte copies toward the address at 0.
    Send,
    /// `deliver(1, buf, 1200)`.
    Deliver,
    /// `state_put(key, 64, buf, 4096, 60 s)`: replaces one 4 KiB value over and over.
    StatePut,
    /// `state_get(key, 64, buf, 4096)` of a 4 KiB value stored before the loop.
    StateGet,
    /// `state_remove(key, 64)` after putting it back: a remove that finds its entry.
    StateRemove,
    /// `log(error, buf, 256)`: 256-byte messages, rate-limited after the burst.
    Log,
    /// No import: a counting loop.
    PlainLoop,
    /// `memory.fill` over the whole 1 MiB memory: one instruction, a megabyte of work.
    MemoryFill,
    /// `memory.copy` of half the memory onto the other half.
    MemoryCopy,
    /// `memory.grow` by one page, refused (the memory is at the limit already).
    MemoryGrow,
    /// `table.grow` by 4,096 elements, refused past the limit.
    TableGrow,
}

impl HostileLoop {
    /// Every hostile loop, imports first.
    pub const ALL: [HostileLoop; 23] = [
        HostileLoop::CapsuleBudget,
        HostileLoop::CapsuleSource,
        HostileLoop::CapsuleDestination,
        HostileLoop::CapsulePrevious,
        HostileLoop::CapsulePayloadLen,
        HostileLoop::CapsulePayload,
        HostileLoop::CapsuleFingerprint,
        HostileLoop::NodeAddress,
        HostileLoop::NodeTime,
        HostileLoop::RouteNextHop,
        HostileLoop::Neighbours,
        HostileLoop::LinkLoad,
        HostileLoop::Send,
        HostileLoop::Deliver,
        HostileLoop::StatePut,
        HostileLoop::StateGet,
        HostileLoop::StateRemove,
        HostileLoop::Log,
        HostileLoop::PlainLoop,
        HostileLoop::MemoryFill,
        HostileLoop::MemoryCopy,
        HostileLoop::MemoryGrow,
        HostileLoop::TableGrow,
    ];

    /// The import it hammers (`None` for the loops without one).
    pub fn import(self) -> Option<&'static str> {
        Some(match self {
            HostileLoop::CapsuleBudget => "capsule_budget",
            HostileLoop::CapsuleSource => "capsule_source",
            HostileLoop::CapsuleDestination => "capsule_destination",
            HostileLoop::CapsulePrevious => "capsule_previous",
            HostileLoop::CapsulePayloadLen => "capsule_payload_len",
            HostileLoop::CapsulePayload => "capsule_payload",
            HostileLoop::CapsuleFingerprint => "capsule_fingerprint",
            HostileLoop::NodeAddress => "node_address",
            HostileLoop::NodeTime => "node_time_ns",
            HostileLoop::RouteNextHop => "route_next_hop",
            HostileLoop::Neighbours => "neighbours",
            HostileLoop::LinkLoad => "link_load",
            HostileLoop::Send => "send",
            HostileLoop::Deliver => "deliver",
            HostileLoop::StatePut => "state_put",
            HostileLoop::StateGet => "state_get",
            HostileLoop::StateRemove => "state_remove",
            HostileLoop::Log => "log",
            HostileLoop::PlainLoop
            | HostileLoop::MemoryFill
            | HostileLoop::MemoryCopy
            | HostileLoop::MemoryGrow
            | HostileLoop::TableGrow => return None,
        })
    }

    /// A short name for tables: the import's name, or what the loop does without one.
    pub fn name(self) -> &'static str {
        match self {
            HostileLoop::PlainLoop => "plain_loop",
            HostileLoop::MemoryFill => "memory_fill",
            HostileLoop::MemoryCopy => "memory_copy",
            HostileLoop::MemoryGrow => "memory_grow",
            HostileLoop::TableGrow => "table_grow",
            other => other.import().unwrap_or("?"),
        }
    }

    /// One call of the loop body, its result dropped.
    fn body(self) -> &'static str {
        match self {
            HostileLoop::CapsuleBudget => "(drop (call $f))",
            HostileLoop::CapsuleSource
            | HostileLoop::CapsuleDestination
            | HostileLoop::CapsulePrevious
            | HostileLoop::CapsuleFingerprint
            | HostileLoop::NodeAddress => "(drop (call $f (i32.const 1024)))",
            HostileLoop::CapsulePayloadLen => "(drop (call $f))",
            HostileLoop::CapsulePayload => "(drop (call $f (i32.const 1024) (i32.const 1200)))",
            HostileLoop::NodeTime => "(drop (call $f))",
            HostileLoop::RouteNextHop => "(drop (call $f (i32.const 0) (i32.const 1024)))",
            HostileLoop::Neighbours => "(drop (call $f (i32.const 1024) (i32.const 4096)))",
            HostileLoop::LinkLoad => "(drop (call $f (i32.const 0) (i32.const 1024)))",
            HostileLoop::Send => {
                "(drop (call $f (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) \
                 (i32.const 1024) (i32.const 1200)))"
            }
            HostileLoop::Deliver => {
                "(drop (call $f (i32.const 1) (i32.const 1024) (i32.const 1200)))"
            }
            HostileLoop::StatePut => {
                "(drop (call $f (i32.const 64) (i32.const 64) (i32.const 1024) (i32.const 4096) \
                 (i64.const 60000)))"
            }
            HostileLoop::StateGet => {
                "(drop (call $f (i32.const 64) (i32.const 64) (i32.const 1024) (i32.const 4096)))"
            }
            HostileLoop::StateRemove => {
                "(drop (call $put (i32.const 64) (i32.const 64) (i32.const 1024) (i32.const 4096) \
                 (i64.const 60000))) (drop (call $f (i32.const 64) (i32.const 64)))"
            }
            HostileLoop::Log => "(drop (call $f (i32.const 0) (i32.const 1024) (i32.const 256)))",
            HostileLoop::PlainLoop => "(global.set $g (i32.add (global.get $g) (local.get $i)))",
            HostileLoop::MemoryFill => {
                "(memory.fill (i32.const 0) (local.get $i) (i32.const 1048576))"
            }
            HostileLoop::MemoryCopy => {
                "(memory.copy (i32.const 0) (i32.const 524288) (i32.const 524288))"
            }
            HostileLoop::MemoryGrow => "(drop (memory.grow (i32.const 1)))",
            HostileLoop::TableGrow => "(drop (table.grow (ref.null func) (i32.const 4096)))",
        }
    }

    /// The module's text. `address` is stored at memory offset 0 (the destination of `send`,
    /// the neighbour of `link_load`, the lookup of `route_next_hop`); the loop runs
    /// `iterations` times and returns 0, or forever (until the node stops it) with `None`.
    pub fn wat(self, address: IpAddr, iterations: Option<u32>) -> String {
        let signature = |name: &str| {
            capsule_sdk::abi::import_named(name).map(|ty| {
                let param = |t: &capsule_sdk::abi::ValType| match t {
                    capsule_sdk::abi::ValType::I32 => "i32",
                    capsule_sdk::abi::ValType::I64 => "i64",
                };
                let params: Vec<&str> = ty.params.iter().map(param).collect();
                format!(
                    "(param {}) (result {})",
                    params.join(" "),
                    param(&ty.result)
                )
                .replace("(param ) ", "")
            })
        };
        let mut imports = String::new();
        if let Some(name) = self.import()
            && let Some(sig) = signature(name)
        {
            imports.push_str(&format!(
                "  (import \"ants_v1\" \"{name}\" (func $f {sig}))\n"
            ));
        }
        let needs_put = matches!(self, HostileLoop::StateGet | HostileLoop::StateRemove);
        if needs_put && let Some(sig) = signature("state_put") {
            imports.push_str(&format!(
                "  (import \"ants_v1\" \"state_put\" (func $put {sig}))\n"
            ));
        }
        let setup = if self == HostileLoop::StateGet {
            "(drop (call $put (i32.const 64) (i32.const 64) (i32.const 1024) (i32.const 4096) \
             (i64.const 60000)))"
        } else {
            ""
        };
        let octets = match address {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        let data: String = octets.iter().map(|b| format!("\\{b:02x}")).collect();
        let limit = iterations.map_or("(i32.const -1)".to_string(), |n| {
            format!("(i32.const {})", n as i32)
        });
        format!(
            r#"(module
{imports}  (memory (export "memory") 16)
  (table 1 funcref)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 0) "{data}")
  (data (i32.const 64) "hostile-key-hostile-key-hostile-key-hostile-key-hostile-key-0064")
  (func (export "ants_evaluate") (result i32)
    (local $i i32)
    {setup}
    (block $done
      (loop $again
        (br_if $done (i32.eq (local.get $i) {limit}))
        {body}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (i32.const 0)))"#,
            body = self.body(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hostile_module_is_valid_text_within_the_node_api() {
        let sandbox = crate::sandbox::Sandbox::new(crate::sandbox::SandboxLimits::default())
            .expect("sandbox");
        for h in HostileLoop::ALL {
            let wasm = wat::parse_str(h.wat("10.0.0.2".parse().unwrap(), Some(3)))
                .unwrap_or_else(|e| panic!("{}: {e}", h.name()));
            sandbox
                .compiler()
                .validate(&wasm)
                .unwrap_or_else(|e| panic!("{}: {e}", h.name()));
        }
    }
}

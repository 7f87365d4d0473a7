//! The JSON Schema of topology files, generated from the types the reader deserializes
//! ([`schema`]): editors that read JSON Schema (for TOML through Taplo or Even Better TOML)
//! complete keys and flag mistakes as a user types. `topology/schema.json` is this schema,
//! checked against the generator by a test.
//!
//! Owns the schemas of the values the reader takes as text with units (durations, bit rates,
//! loss rates, prefixes, node and application kinds): each says what the reader accepts, so a
//! file the schema accepts is one the reader can parse, range checks (which name the node or
//! link in their messages) aside. It never parses a file.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The topology file's schema (JSON Schema 2020-12), as JSON.
pub fn schema() -> serde_json::Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<super::RawFile>();
    schema.insert(
        "title".into(),
        "ANTS topology file (docs/topology.md)".into(),
    );
    schema.to_value()
}

/// A text value with its own schema.
macro_rules! text_schema {
    ($name:ident, $title:literal, $schema:tt) => {
        #[doc = concat!("Schema of ", $title, ".")]
        pub(super) struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

text_schema!(DurationText, "a duration", {
    "description": "A duration: a decimal number and a unit (ns, us, µs, ms, s, min), e.g. \"500us\", \"2ms\", \"1.5s\".",
    "type": "string",
    "pattern": "^\\s*([0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*(ns|us|µs|μs|ms|s|min)\\s*$"
});

text_schema!(BitRate, "a bit rate", {
    "description": "A bit rate: a decimal number and a unit (bit, kbit, Mbit, Gbit, Tbit; powers of 1000; `/s` and `bps` spellings too), e.g. \"400kbit\", \"10Mbit\"; or an integer in bit/s. Bytes are refused.",
    "anyOf": [
        {
            "type": "string",
            "pattern": "^\\s*([0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*[kKmMgGtT]?(bit|bps)(/s)?\\s*$"
        },
        { "type": "integer", "minimum": 1 }
    ]
});

text_schema!(LossRate, "a loss rate", {
    "description": "A loss rate: a percentage such as \"1%\", or a probability from 0 to 1 such as 0.01.",
    "anyOf": [
        { "type": "string", "pattern": "^\\s*([0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*%\\s*$" },
        { "type": "number", "minimum": 0, "maximum": 1 }
    ]
});

text_schema!(Prefix, "an IPv4 prefix", {
    "description": "An IPv4 prefix a.b.c.d/len whose host bits are zero, e.g. \"10.0.0.0/16\".",
    "type": "string",
    "pattern": "^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$"
});

text_schema!(NodeKindText, "a node kind", {
    "description": "host: an end system running a node core; active: an active router (node core and IP forwarding); legacy: a plain IP router.",
    "enum": ["host", "active", "legacy"]
});

text_schema!(AppKindText, "an application kind", {
    "description": "ping: ping capsules to a node; send: capsules of a protocol to a node or group; listen: count what arrives on a port.",
    "enum": ["ping", "send", "listen"]
});

text_schema!(EventKindText, "an event kind", {
    "description": "link_down, link_up: a link stops or starts carrying traffic (needs `link`); link_set: a link's delay, loss or bandwidth change (needs `link` and at least one of them); node_down, node_up: a node's core crashes or starts again, empty (needs `node`).",
    "enum": ["link_down", "link_up", "link_set", "node_down", "node_up"]
});

text_schema!(LinkEnds, "a link's ends", {
    "description": "The two node names the link joins.",
    "type": "array",
    "items": { "type": "string" },
    "minItems": 2,
    "maxItems": 2
});

text_schema!(Seed, "a seed", {
    "description": "The emulator's random seed (link losses): a whole number from 0.",
    "type": "integer",
    "minimum": 0
});

text_schema!(Queue, "a queue length", {
    "description": "Drop-tail queue in datagrams behind a bandwidth, 1 to 1,000,000.",
    "type": "integer",
    "minimum": 1,
    "maximum": 1000000
});

text_schema!(Budget, "a budget", {
    "description": "A budget, 1 to 65,535.",
    "type": "integer",
    "minimum": 1,
    "maximum": 65535
});

text_schema!(Count, "a count", {
    "description": "How many, 1 to 4,294,967,295.",
    "type": "integer",
    "minimum": 1,
    "maximum": 4294967295u64
});

text_schema!(Port, "a port", {
    "description": "An application port, 0 to 65,535.",
    "type": "integer",
    "minimum": 0,
    "maximum": 65535
});

//! The examples in `docs/wire.md` decode to the values the page states, re-encode to the same
//! bytes, and fail with the stated reasons; the committed fuzz seeds are valid frames.
//!
//! Examples are fenced blocks of type `hex` right after a marker line,
//! `<!-- example: NAME -->` or `<!-- invalid-example: NAME -->`. In a block, `#` starts a
//! comment and whitespace is ignored. To regenerate the fuzz seeds after a format change:
//! `cargo test -p ants-tests --test wire_doc -- --ignored regenerate_fuzz_seeds`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ants_router::fingerprint::{Fingerprint, FingerprintAlgorithm};
use ants_router::wire::{
    CapsulePacket, CapsuleRepr, CodeAnnouncePacket, CodeAnnounceRepr, CodeCookiePacket,
    CodeCookieRepr, CodeFragmentPacket, CodeFragmentRepr, CodeMissingPacket, CodeMissingRepr,
    CodeRequestPacket, CodeRequestRepr, Cookie, Frame, HelloPacket, HelloRepr, WireError,
};

/// The empty WebAssembly module; every example's type is its hash.
const MODULE: &[u8] = b"\0asm\x01\0\0\0";
const MODULE_SHA256: &str = "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476";
const MODULE_MD5: &str = "md5:319936f5c0f8203a7759ef58ec667249";

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Valid,
    Invalid,
}

/// Every example block of `docs/wire.md`, by name.
fn doc_examples() -> BTreeMap<String, (Marker, Vec<u8>)> {
    let doc = ants_tests::read_repo_file("docs/wire.md");
    let mut examples = BTreeMap::new();
    let mut lines = doc.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let line = line.trim();
        let (marker, rest) = if let Some(rest) = line.strip_prefix("<!-- example:") {
            (Marker::Valid, rest)
        } else if let Some(rest) = line.strip_prefix("<!-- invalid-example:") {
            (Marker::Invalid, rest)
        } else {
            continue;
        };
        let name = rest
            .strip_suffix("-->")
            .expect("marker line ends with -->")
            .trim();
        let fence = lines.next().map(|(_, l)| l.trim());
        assert_eq!(
            fence,
            Some("```hex"),
            "line {}: marker {name} must be followed by ```hex",
            number + 1
        );
        let mut digits = String::new();
        for (_, line) in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let data = line.split('#').next().unwrap_or("");
            digits.extend(data.chars().filter(|c| !c.is_whitespace()));
        }
        let bytes = hex::decode(&digits).unwrap_or_else(|e| panic!("example {name}: {e}"));
        let previous = examples.insert(name.to_string(), (marker, bytes));
        assert!(previous.is_none(), "example {name} appears twice");
    }
    examples
}

/// The cookie of the cookie examples.
fn example_cookie() -> Cookie {
    let bytes = hex::decode("c00c1e5a112233445566778899aabbcc").unwrap();
    Cookie(bytes.try_into().unwrap())
}

fn sha256() -> Fingerprint {
    MODULE_SHA256.parse().unwrap()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// The routes of the hello example: 192.0.2.1 at 0, 198.51.100.7 at 2.
const HELLO_ROUTES: [u8; 10] = [192, 0, 2, 1, 0, 198, 51, 100, 7, 2];

/// The frames the valid examples stand for, exactly as the tables on the page state them.
fn expected_frames() -> BTreeMap<&'static str, Frame<'static>> {
    let fp = sha256();
    BTreeMap::from([
        (
            "capsule-v4",
            Frame::Capsule(CapsuleRepr {
                fingerprint: fp,
                source: v4(192, 0, 2, 1),
                destination: v4(198, 51, 100, 7),
                previous: v4(192, 0, 2, 1),
                budget: 16,
                payload: b"ping",
            }),
        ),
        (
            "capsule-mixed-md5",
            Frame::Capsule(CapsuleRepr {
                fingerprint: MODULE_MD5.parse().unwrap(),
                source: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                destination: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 7)),
                previous: v4(192, 0, 2, 9),
                budget: 255,
                payload: b"hi",
            }),
        ),
        (
            "code-request-all",
            Frame::CodeRequest(CodeRequestRepr::all(fp)),
        ),
        (
            "code-request-mask",
            Frame::CodeRequest(CodeRequestRepr {
                fingerprint: fp,
                first: 1,
                mask: &[0xa0],
                cookie: None,
            }),
        ),
        (
            "code-fragment",
            Frame::CodeFragment(CodeFragmentRepr {
                fingerprint: fp,
                module_len: 8,
                index: 0,
                data: MODULE,
            }),
        ),
        (
            "code-missing",
            Frame::CodeMissing(CodeMissingRepr { fingerprint: fp }),
        ),
        (
            "code-request-cookie",
            Frame::CodeRequest(CodeRequestRepr {
                cookie: Some(example_cookie()),
                ..CodeRequestRepr::all(fp)
            }),
        ),
        (
            "code-cookie",
            Frame::CodeCookie(CodeCookieRepr {
                fingerprint: fp,
                cookie: example_cookie(),
            }),
        ),
        (
            "code-announce",
            Frame::CodeAnnounce(CodeAnnounceRepr { fingerprint: fp }),
        ),
        (
            "hello",
            Frame::Hello(HelloRepr {
                algorithm: FingerprintAlgorithm::Sha256,
                interval_ms: 500,
                sequence: 42,
                v6: false,
                entries: &HELLO_ROUTES,
            }),
        ),
    ])
}

/// The errors the invalid examples must produce, as the page states them.
fn expected_errors() -> BTreeMap<&'static str, WireError> {
    BTreeMap::from([
        (
            "capsule-truncated",
            WireError::Truncated {
                needed: 60,
                available: 20,
            },
        ),
        (
            "fragment-short-data",
            WireError::FragmentLengthInvalid {
                index: 0,
                len: 8,
                expected: 1024,
            },
        ),
    ])
}

#[test]
fn example_fingerprints_are_the_hashes_of_the_module() {
    assert_eq!(Fingerprint::sha256(MODULE), sha256());
    assert_eq!(Fingerprint::md5(MODULE).to_string(), MODULE_MD5);
    assert_eq!(Fingerprint::sha256(MODULE).to_string(), MODULE_SHA256);
}

#[test]
fn every_example_is_checked_and_every_check_has_an_example() {
    let examples = doc_examples();
    let valid: Vec<_> = examples
        .iter()
        .filter(|(_, (m, _))| *m == Marker::Valid)
        .map(|(n, _)| n.as_str())
        .collect();
    let invalid: Vec<_> = examples
        .iter()
        .filter(|(_, (m, _))| *m == Marker::Invalid)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(valid, expected_frames().keys().copied().collect::<Vec<_>>());
    assert_eq!(
        invalid,
        expected_errors().keys().copied().collect::<Vec<_>>()
    );
}

#[test]
fn valid_examples_decode_to_the_stated_values_and_reencode_identically() {
    let examples = doc_examples();
    let mut kinds = std::collections::BTreeSet::new();
    for (name, expected) in expected_frames() {
        let (_, bytes) = &examples[name];
        let frame = Frame::parse(bytes).unwrap_or_else(|e| panic!("example {name}: {e}"));
        assert_eq!(
            frame, expected,
            "example {name} decodes to other values than the doc states"
        );
        assert_eq!(
            frame.to_vec().unwrap(),
            *bytes,
            "example {name} re-encodes differently"
        );
        assert_eq!(
            expected.to_vec().unwrap(),
            *bytes,
            "example {name}: encoding the stated values"
        );
        kinds.insert(frame.kind());
    }
    assert_eq!(kinds.len(), 7, "every frame kind has an example");
}

#[test]
fn fragment_example_carries_the_module_it_names() {
    let examples = doc_examples();
    let Frame::CodeFragment(fragment) = Frame::parse(&examples["code-fragment"].1).unwrap() else {
        panic!("code-fragment example is not a fragment");
    };
    assert!(fragment.fingerprint.matches(fragment.data));
}

#[test]
fn invalid_examples_fail_with_the_stated_reason() {
    let examples = doc_examples();
    for (name, expected) in expected_errors() {
        let (_, bytes) = &examples[name];
        assert_eq!(Frame::parse(bytes), Err(expected), "invalid example {name}");
    }
    assert_eq!(
        expected_errors()["capsule-truncated"].to_string(),
        "frame truncated: need 60 bytes, have 20"
    );
}

// ---- fuzz seeds ----

fn seeds_dir() -> PathBuf {
    ants_tests::repo_root().join("router/fuzz/seeds")
}

/// The seed corpus: the doc examples plus a few larger frames, by fuzz target.
fn generated_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let frames = expected_frames();
    let target_of = |frame: &Frame<'_>| match frame {
        Frame::Capsule(_) => "capsule",
        Frame::CodeRequest(_) => "code_request",
        Frame::CodeFragment(_) => "code_fragment",
        Frame::CodeMissing(_) => "code_missing",
        Frame::CodeCookie(_) => "code_cookie",
        Frame::CodeAnnounce(_) => "code_announce",
        Frame::Hello(_) => "hello",
    };
    let mut add = |name: String, frame: Frame<'_>| {
        let bytes = frame.to_vec().unwrap();
        seeds.push((target_of(&frame), name.clone(), bytes.clone()));
        seeds.push(("frame", name, bytes));
    };
    for (name, frame) in &frames {
        add(name.to_string(), *frame);
    }
    let payload: Vec<u8> = (0..=255).collect();
    add(
        "capsule-v6".into(),
        Frame::Capsule(CapsuleRepr {
            fingerprint: sha256(),
            source: IpAddr::V6(Ipv6Addr::LOCALHOST),
            destination: IpAddr::V6(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x101)),
            previous: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            budget: 64,
            payload: &payload,
        }),
    );
    let module: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 256) as u8).collect();
    let fp = Fingerprint::sha256(&module);
    for fragment in CodeFragmentRepr::fragments(fp, &module).unwrap() {
        add(
            format!("code-fragment-{}-of-2", fragment.index),
            Frame::CodeFragment(fragment),
        );
    }
    add(
        "code-request-wide-mask".into(),
        Frame::CodeRequest(CodeRequestRepr {
            fingerprint: fp,
            first: 7,
            mask: &[0xff, 0x01, 0x80],
            cookie: None,
        }),
    );
    let v6_routes = HelloRepr::encode_routes(
        [
            (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 0),
            (IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9)), 16),
        ],
        true,
    )
    .unwrap();
    add(
        "hello-v6".into(),
        Frame::Hello(HelloRepr {
            algorithm: FingerprintAlgorithm::Sha256,
            interval_ms: 1000,
            sequence: u32::MAX,
            v6: true,
            entries: &v6_routes,
        }),
    );
    add(
        "code-missing-md5".into(),
        Frame::CodeMissing(CodeMissingRepr {
            fingerprint: Fingerprint::md5(MODULE),
        }),
    );
    for (name, text) in [
        ("sha256-bare", MODULE_SHA256.to_string()),
        ("sha256-prefixed", format!("sha256:{MODULE_SHA256}")),
        ("sha256-upper", MODULE_SHA256.to_uppercase()),
        ("md5", MODULE_MD5.to_string()),
    ] {
        seeds.push(("fingerprint_str", name.to_string(), text.into_bytes()));
    }
    seeds
}

/// Whether `bytes` is accepted by the decoder `target` fuzzes, and re-encodes identically.
fn seed_is_valid(target: &str, bytes: &[u8]) -> Result<(), String> {
    let reencoded = match target {
        "frame" => Frame::parse(bytes).and_then(|f| f.to_vec()),
        "capsule" => CapsulePacket::new_checked(bytes)
            .and_then(|p| CapsuleRepr::parse(&p))
            .and_then(|r| r.to_vec()),
        "code_request" => CodeRequestPacket::new_checked(bytes)
            .and_then(|p| CodeRequestRepr::parse(&p))
            .and_then(|r| r.to_vec()),
        "code_fragment" => CodeFragmentPacket::new_checked(bytes)
            .and_then(|p| CodeFragmentRepr::parse(&p))
            .and_then(|r| r.to_vec()),
        "code_missing" => CodeMissingPacket::new_checked(bytes)
            .and_then(|p| CodeMissingRepr::parse(&p))
            .map(|r| r.to_vec()),
        "code_announce" => CodeAnnouncePacket::new_checked(bytes)
            .and_then(|p| CodeAnnounceRepr::parse(&p))
            .map(|r| r.to_vec()),
        "hello" => HelloPacket::new_checked(bytes)
            .and_then(|p| HelloRepr::parse(&p))
            .and_then(|r| r.to_vec()),
        "code_cookie" => CodeCookiePacket::new_checked(bytes)
            .and_then(|p| CodeCookieRepr::parse(&p))
            .map(|r| r.to_vec()),
        "fingerprint_str" => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let fp: Fingerprint = text.parse().map_err(|e| format!("{e}"))?;
            return if fp.to_string().parse::<Fingerprint>() == Ok(fp) {
                Ok(())
            } else {
                Err("display does not parse back".into())
            };
        }
        other => return Err(format!("no fuzz target named {other}")),
    };
    match reencoded {
        Ok(again) if again == bytes => Ok(()),
        Ok(_) => Err("re-encodes differently".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn committed_fuzz_seeds_are_valid_and_complete() {
    let dir = seeds_dir();
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let target = entry.file_name().into_string().unwrap();
        let mut count = 0;
        for seed in std::fs::read_dir(entry.path()).unwrap() {
            let path = seed.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if let Err(e) = seed_is_valid(&target, &bytes) {
                panic!(
                    "seed {} is not valid for target {target}: {e}",
                    path.display()
                );
            }
            count += 1;
        }
        assert!(count > 0, "fuzz target {target} has no seeds");
        targets.push(target);
    }
    targets.sort();
    assert_eq!(
        targets,
        [
            "capsule",
            "code_announce",
            "code_cookie",
            "code_fragment",
            "code_missing",
            "code_request",
            "fingerprint_str",
            "frame",
            "hello"
        ]
    );
    for (target, name, bytes) in generated_seeds() {
        let path = dir.join(target).join(&name);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate the seeds (see this file's header)",
                path.display()
            )
        });
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale; regenerate the seeds",
            path.display()
        );
    }
}

#[test]
#[ignore = "writes router/fuzz/seeds; run by hand after a format change"]
fn regenerate_fuzz_seeds() {
    for (target, name, bytes) in generated_seeds() {
        let dir = seeds_dir().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

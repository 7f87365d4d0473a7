use super::*;

#[test]
fn numbers_split_from_units() {
    assert_eq!(split_number("1.5s"), Some((15, 1, "s")));
    assert_eq!(split_number(" 250 us "), Some((250, 0, "us")));
    assert_eq!(split_number(".5ms"), Some((5, 1, "ms")));
    assert_eq!(split_number("1.2.3s"), None);
    assert_eq!(split_number("-1s"), None);
    assert_eq!(split_number("ms"), None);
    assert_eq!(split_number(&"9".repeat(40)), None);
}

#[test]
fn prefixes() {
    assert_eq!(
        parse_prefix("10.2.0.0/16"),
        Ok(Pool {
            network: Ipv4Addr::new(10, 2, 0, 0),
            len: 16
        })
    );
    assert!(
        parse_prefix("10.2.0.1/16")
            .unwrap_err()
            .contains("10.2.0.0/16")
    );
    assert!(parse_prefix("10.2.0.0").is_err());
    assert!(parse_prefix("10.2.0.0/33").is_err());
    assert!(parse_prefix("10.2.0/8").is_err());
}

#[test]
fn describe_names_entries_and_fields() {
    let text =
        "seed = 1\n[[node]]\nname = \"h1\"\nkind = \"host\"\nbogus = 1\n[emulator]\nduration = 3\n";
    let at = |needle: &str| describe_at(text, text.find(needle).unwrap());
    assert_eq!(at("bogus").as_deref(), Some("node h1: `bogus`"));
    assert_eq!(at("seed").as_deref(), Some("`seed`"));
    assert_eq!(at("3\n").as_deref(), Some("`emulator.duration`"));
    assert_eq!(at("[[node]]").as_deref(), Some("node h1"));
}

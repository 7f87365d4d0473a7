use super::*;

/// A classic BPF interpreter for the instructions the program uses; `pkttype` is the
/// packet type an ancillary load reads.
fn run(prog: &[Insn], pkt: &[u8], pkttype: u32) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let byte = |i: usize| pkt.get(i).copied().map(u32::from);
    loop {
        let Insn { code, jt, jf, k } = prog[pc];
        pc += 1;
        match code {
            0x20 if k == 0xffff_f004 => a = pkttype,
            0x28 => {
                let Some((h, l)) = byte(k as usize).zip(byte(k as usize + 1)) else {
                    return 0;
                };
                a = h << 8 | l;
            }
            0x30 => match byte(k as usize) {
                Some(b) => a = b,
                None => return 0,
            },
            0x48 => {
                let i = (x + k) as usize;
                let Some((h, l)) = byte(i).zip(byte(i + 1)) else {
                    return 0;
                };
                a = h << 8 | l;
            }
            0xb1 => match byte(k as usize) {
                Some(b) => x = 4 * (b & 0xf),
                None => return 0,
            },
            0x15 => pc += usize::from(if a == k { jt } else { jf }),
            0x45 => pc += usize::from(if a & k != 0 { jt } else { jf }),
            0x06 => return k,
            other => panic!("opcode {other:#x} not interpreted"),
        }
    }
}

fn frame_v4(dport: u16, proto: u8, frag: u16, ihl: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let header = usize::from(ihl) * 4;
    let payload = b"ANTS";
    let total = (header + 8 + payload.len()) as u16;
    let mut ip = vec![0x40 | ihl, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 9]);
    ip.resize(header, 1);
    let sum = ipv4::checksum(&Ipv4Packet::new(&ip).unwrap());
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn frame_v6(dport: u16, next: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 12, next, 64]);
    f.extend_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&"fd00::9".parse::<std::net::Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&12u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(b"ANTS");
    f
}

#[test]
fn the_filters_take_exactly_unfragmented_udp_to_the_port() {
    let tc = filter_program(3322, TC_ACT_SHOT, TC_ACT_UNSPEC, false);
    let sock = filter_program(3322, 1, 0, true);
    let cases: [(Vec<u8>, bool); 8] = [
        (frame_v4(3322, 17, 0x4000, 5), true),
        (frame_v4(3322, 17, 0, 7), true),
        (frame_v4(3323, 17, 0x4000, 5), false),
        (frame_v4(3322, 6, 0x4000, 5), false),
        (frame_v4(3322, 17, 0x2000, 5), false),
        (frame_v4(3322, 17, 0x0010, 5), false),
        (frame_v6(3322, 17), true),
        (frame_v6(3322, 44), false),
    ];
    for (i, (frame, yes)) in cases.iter().enumerate() {
        let want_tc = if *yes { TC_ACT_SHOT } else { TC_ACT_UNSPEC };
        assert_eq!(run(&tc, frame, 0), want_tc, "tc, case {i}");
        assert_eq!(run(&sock, frame, 0), u32::from(*yes), "socket, case {i}");
        // What this host sends is never captured.
        assert_eq!(run(&sock, frame, 4), 0, "outgoing, case {i}");
        // The parse agrees with the filters on whole frames.
        let parsed = parse(frame, None, 3322);
        assert_eq!(parsed.is_ok(), *yes, "parse, case {i}: {parsed:?}");
    }
    // A frame cut before the headers: the program stops, the packet goes on (tc) and is
    // not captured.
    let short = &frame_v4(3322, 17, 0, 5)[..20];
    assert_eq!(run(&tc, short, 0), 0);
    assert_eq!(run(&sock, short, 0), 0);
    let bytecode = tc_bytecode(&tc);
    assert!(bytecode.starts_with(&format!("{},40 0 0 12,", tc.len())));
}

#[test]
fn the_parse_reads_the_datagram_and_names_every_reject() {
    let f = frame_v4(3322, 17, 0x4000, 5);
    let c = parse(&f, None, 3322).unwrap();
    assert_eq!(c.from, "10.0.0.1:4000".parse().unwrap());
    assert_eq!(c.to, "10.0.0.9".parse::<IpAddr>().unwrap());
    assert_eq!(c.payload, b"ANTS");
    let f6 = frame_v6(3322, 17);
    let c = parse(&f6, None, 3322).unwrap();
    assert_eq!(c.from, "[fd00::1]:4000".parse().unwrap());
    assert_eq!(c.payload, b"ANTS");

    let own = Some(MacAddr(0x02, 0, 0, 0, 0, 2));
    assert_eq!(parse(&f, own, 3322), Err(Reject::OwnFrame));
    assert_eq!(parse(&f[..10], None, 3322), Err(Reject::BadEthernet));
    let mut bad = f.clone();
    bad[14 + 10] ^= 1;
    assert_eq!(parse(&bad, None, 3322), Err(Reject::BadIpv4Checksum));
    assert_eq!(parse(&f[..f.len() - 2], None, 3322), Err(Reject::Truncated));
    assert_eq!(
        parse(&frame_v4(3322, 17, 0x2000, 5), None, 3322),
        Err(Reject::Ipv4Fragment)
    );
    let mut bad = f.clone();
    bad[14 + 20 + 5] = 200; // UDP length beyond the IP payload
    assert_eq!(parse(&bad, None, 3322), Err(Reject::BadUdp));
    let mut bad = f.clone();
    bad[14] = 0x44; // header length 16 bytes
    assert_eq!(parse(&bad, None, 3322), Err(Reject::BadIpv4));
    let mut bad = frame_v6(3322, 17);
    bad[14 + 5] = 200;
    assert_eq!(parse(&bad, None, 3322), Err(Reject::Truncated));
    assert_eq!(
        parse(&frame_v6(3000, 17), None, 3322),
        Err(Reject::OtherTraffic)
    );
}

proptest::proptest! {
    #[test]
    fn the_parse_never_panics(frame: Vec<u8>, cut in 0usize..80) {
        let _ = parse(&frame, None, 3322);
        let mut f = frame_v4(3322, 17, 0, 5);
        f.extend_from_slice(&frame);
        let end = f.len().saturating_sub(cut);
        let _ = parse(&f[..end], None, 3322);
        let mut g = frame_v6(3322, 17);
        for (i, b) in frame.iter().enumerate() {
            if let Some(x) = g.get_mut(14 + i % 60) {
                *x ^= b;
            }
        }
        let _ = parse(&g, None, 3322);
    }
}

#[test]
fn a_segmented_datagram_is_split_into_its_segments() {
    let mut f = frame_v4(3322, 17, 0x4000, 5);
    // Twelve bytes of payload in three segments of 5, 5 and 2 bytes.
    f.extend_from_slice(b"ANTSANTS");
    f[14 + 3] += 8; // IP total length
    f[14 + 20 + 5] += 8; // UDP length
    f[14 + 10..14 + 12].fill(0);
    let sum = ipv4::checksum(&Ipv4Packet::new(&f[14..]).unwrap());
    f[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    let mut tapped = vec![0, GSO_UDP_L4, 0, 0];
    tapped.extend_from_slice(&5u16.to_ne_bytes());
    tapped.extend_from_slice(&[0; 4]);
    tapped.extend_from_slice(&f);
    let mut got = Vec::new();
    let n = parse_tapped(&tapped, None, 3322, |_, d| got.push(d.to_vec())).unwrap();
    assert_eq!(n, 3);
    assert_eq!(got, [b"ANTSA".to_vec(), b"NTSAN".to_vec(), b"TS".to_vec()]);
    // Without segmentation: one datagram.
    tapped[1] = 0;
    got.clear();
    assert_eq!(
        parse_tapped(&tapped, None, 3322, |_, d| got.push(d.to_vec())),
        Ok(1)
    );
    assert_eq!(got, [b"ANTSANTSANTS".to_vec()]);
    assert_eq!(
        parse_tapped(&tapped[..6], None, 3322, |_, _| {}),
        Err(Reject::BadEthernet)
    );
}

#[test]
fn our_filter_is_recognised_in_tc_output() {
    let show = "filter protocol all pref 3322 bpf chain 0 \nfilter protocol all pref 3322 bpf chain 0 handle 0x3322 direct-action not_in_hw bytecode '16,...'\n";
    assert!(lists_our_filter(show));
    assert!(!lists_our_filter(
        "filter protocol all pref 3322 u32 chain 0 handle 800::800 ...\n"
    ));
    assert!(!lists_our_filter(
        "filter protocol all pref 49152 bpf chain 0 handle 0x1 direct-action\n"
    ));
}

//! The seed's real `ntpq -p` and `ntpstat` outputs are the first vectors; other states follow.

use super::*;

/// From the seed (runbook §1.3), de-indented: ntpd with `server 127.127.1.0 prefer`.
const SEED_NTPQ: &str = "     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 h199-182-204-19 23.252.63.82     2 u    1   64    1  193.201  5926868   0.216
 203.107.6.88    .INIT.          16 u    -   64    0    0.000    0.000   0.000
 120.25.115.20   .INIT.          16 u    -   64    0    0.000    0.000   0.000
*LOCAL(0)       .LOCL.          10 l   11   64    1    0.000    0.000   0.000
";

const SEED_NTPSTAT: &str = "synchronised to unspecified at stratum 11
   time correct to within 7949 ms
   polling server every 64 s
";

#[test]
fn the_embedded_vectors_are_the_seeds_own_text() {
    // The seed, copied into the project (tests/fixtures/README.md says from where).
    let text = include_str!("../../../../tests/fixtures/runbook-000_0c362d036f5f4b1a.txt");
    let dedented: String = text.lines().map(|l| l.strip_prefix("  ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
    for vector in [SEED_NTPQ, SEED_NTPSTAT] {
        for line in vector.lines() {
            assert!(dedented.contains(line), "not in the seed: {line:?}");
        }
    }
}

#[test]
fn seed_ntpq_parses_every_column() {
    let peers = parse_ntpq(SEED_NTPQ).unwrap();
    assert_eq!(peers.len(), 4);
    let p = &peers[0];
    assert_eq!(
        (p.tally, p.remote.as_str(), p.refid.as_str(), p.stratum, p.reach),
        (' ', "h199-182-204-19", "23.252.63.82", 2, 1)
    );
    assert_eq!((p.offset_ms, p.jitter_ms), (5926868.0, 0.216));
    assert!(peers[1].unreachable() && peers[2].unreachable());
    let local = &peers[3];
    assert!(local.selected() && local.local_clock);
    assert_eq!((local.refid.as_str(), local.stratum), (".LOCL.", 10));
}

#[test]
fn seed_state_warns_that_only_the_local_clock_is_selected() {
    let h = judge("ntpd", parse_ntpq(SEED_NTPQ).unwrap(), Some(parse_ntpstat(SEED_NTPSTAT)), Thresholds::default());
    assert_eq!(h.status, Status::Warning);
    assert!(h.findings[0].1.contains("only the local clock is selected (LOCAL(0))"), "{:?}", h.findings);
    // An upstream server answers (reach 1), so the cause is the seed's `prefer` on the local clock.
    assert!(h.findings[0].1.contains("prefer"), "{:?}", h.findings);
    assert!(h.findings.iter().any(|(_, m)| m.contains("203.107.6.88, 120.25.115.20")), "{:?}", h.findings);
    assert_eq!(h.status.exit_code(), 1);
}

#[test]
fn seed_ntpstat_parses() {
    let s = parse_ntpstat(SEED_NTPSTAT);
    assert!(s.synchronised);
    assert_eq!((s.stratum, s.within_ms), (Some(11), Some(7949)));
    let u = parse_ntpstat("unsynchronised\n  time server re-starting\n   polling server every 8 s\n");
    assert!(!u.synchronised && u.stratum.is_none());
}

#[test]
fn a_healthy_server_is_ok() {
    let text = "     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
*10.0.0.5        203.107.6.88     3 u   33   64  377    0.412    0.318   0.102
+10.0.0.6        120.25.115.20    3 u   12   64  377    0.501   -0.870   0.211
 127.127.1.0     .LOCL.          10 l  240   64  377    0.000    0.000   0.000
";
    let h = judge("ntpd", parse_ntpq(text).unwrap(), None, Thresholds::default());
    assert_eq!(h.status, Status::Ok, "{:?}", h.findings);
    assert!(
        h.summary().starts_with("NTP OK: synchronised to 10.0.0.5 (stratum 3), offset 0.318 ms"),
        "{}",
        h.summary()
    );
}

#[test]
fn offsets_beyond_the_thresholds_warn_then_go_critical() {
    let line = |off: &str| {
        format!("     remote           refid      st t when poll reach   delay   offset  jitter\n====\n*10.0.0.5 1.2.3.4 3 u 1 64 377 0.4 {off} 0.1\n")
    };
    let t = Thresholds::default();
    assert_eq!(judge("ntpd", parse_ntpq(&line("-200.5")).unwrap(), None, t).status, Status::Warning);
    assert_eq!(judge("ntpd", parse_ntpq(&line("+1500")).unwrap(), None, t).status, Status::Critical);
    assert_eq!(judge("ntpd", parse_ntpq(&line("12")).unwrap(), None, t).status, Status::Ok);
}

#[test]
fn all_init_is_critical_and_no_peers_is_critical() {
    let all_init = "     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 203.107.6.88    .INIT.          16 u    -   64    0    0.000    0.000   0.000
 120.25.115.20   .INIT.          16 u    -   64    0    0.000    0.000   0.000
";
    let h = judge("ntpd", parse_ntpq(all_init).unwrap(), None, Thresholds::default());
    assert_eq!(h.status, Status::Critical);
    assert!(h.findings[0].1.contains("no peer has ever answered"), "{:?}", h.findings);
    let empty = "     remote           refid      st t when poll reach   delay   offset  jitter\n==============================================================================\n";
    let h = judge("ntpd", parse_ntpq(empty).unwrap(), None, Thresholds::default());
    assert_eq!((h.status, h.status.exit_code()), (Status::Critical, 2));
}

#[test]
fn starting_up_with_no_selection_warns() {
    let text = "     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 10.0.0.5        203.107.6.88     3 u    5   64    1    0.412    0.318   0.102
";
    assert_eq!(judge("ntpd", parse_ntpq(text).unwrap(), None, Thresholds::default()).status, Status::Warning);
}

#[test]
fn garbage_is_a_parse_error_naming_the_line() {
    let e = parse_ntpq("header\n====\n*only three fields\n").unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("only three fields"), "{e}");
}

#[test]
fn chronyc_sources_parse() {
    let text = "MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^* 10.0.0.5                      2   6   377    10   -123us[ -200us] +/-   15ms
^- 10.0.0.6                      3   6     0     -     +0ns[   +0ns] +/-    0ns
";
    let peers = parse_chronyc_sources(text).unwrap();
    assert_eq!(peers.len(), 2);
    assert!(peers[0].selected());
    assert_eq!((peers[0].stratum, peers[0].reach), (2, 0o377));
    assert!((peers[0].offset_ms - -0.123).abs() < 1e-9);
    assert_eq!(judge("chronyd", peers, None, Thresholds::default()).status, Status::Warning);
}

/// `ntpq -c rv` of Debian 12's ntpsec 1.2.2 serving in orphan mode with no upstream (captured
/// from the daemon the live test runs, config from the server role).
const NTPSEC_ORPHAN_RV: &str = "associd=0 status=0016 leap_none, sync_unspec, 1 event, restart,
leap=00, stratum=10, precision=-24, rootdelay=0.0, rootdisp=0.0,
refid=127.0.0.1, reftime=00000000.00000000 2036-02-07T06:28:16.000Z, tc=0,
peer=0, offset=0.0, frequency=0.0, sys_jitter=0.0, clk_jitter=6e-05,
clock=eeb18e69.b4faf2a9 2026-11-25T16:42:17.706Z, processor=\"x86_64\",
system=\"Linux/6.18.44-fc-v669\", version=\"ntpd ntpsec-1.2.2\", clk_wander=0.0,
mintc=0
";

const NTPSEC_ORPHAN_PEERS: &str = "     remote           refid      st t when poll reach   delay   offset   jitter
===============================================================================
 192.0.2.1       .INIT.          16 u    -   64    0   0.0000   0.0000   0.0001
";

#[test]
fn ntpsec_rv_parses_the_fields_that_matter() {
    let s = parse_sysvars(NTPSEC_ORPHAN_RV);
    assert_eq!(s.leap.as_deref(), Some("00"));
    assert_eq!(s.stratum, Some(10));
    assert_eq!(s.refid.as_deref(), Some("127.0.0.1"));
    assert_eq!(s.offset_ms, Some(0.0));
    assert!(s.synchronised() && s.own_clock());
    // `clk_jitter=` or `sys_jitter=` never answer for a shorter key.
    let t = parse_sysvars("leap=11, stratum=16, refid=INIT, clk_offset=5.0, offset=-1.5");
    assert_eq!((t.offset_ms, t.synchronised(), t.own_clock()), (Some(-1.5), false, false));
}

#[test]
fn orphan_mode_is_a_warning_not_a_dead_server() {
    let peers = parse_ntpq(NTPSEC_ORPHAN_PEERS).unwrap();
    // Without the system variables this looks like nothing ever answered.
    assert_eq!(judge("ntpd", peers.clone(), None, Thresholds::default()).status, Status::Critical);
    let h = judge_system("ntpd", peers, None, Some(parse_sysvars(NTPSEC_ORPHAN_RV)), Thresholds::default());
    assert_eq!(h.status, Status::Warning, "{:?}", h.findings);
    assert!(h.findings[0].1.contains("own clock at stratum 10 (orphan mode)"), "{:?}", h.findings);
    // An unsynchronised daemon (leap 11) with no answer stays critical.
    let unsync = parse_sysvars("leap=11, stratum=16, refid=INIT");
    let peers = parse_ntpq(NTPSEC_ORPHAN_PEERS).unwrap();
    assert_eq!(judge_system("ntpd", peers, None, Some(unsync), Thresholds::default()).status, Status::Critical);
}

/// `chronyc tracking` as chronyc(1) documents it (synchronised to a server), and a server whose
/// upstream never answered but whose `local stratum 10` (the server role) serves the time: the
/// manual says reference ID 7F7F0101 with no name means local mode.
#[test]
fn chronyc_tracking_tells_a_server_on_its_local_clock() {
    let synced = "Reference ID    : CB00710F (foo.example.net)
Stratum         : 3
Ref time (UTC)  : Fri Jan 27 09:49:17 2017
System time     : 0.000006523 seconds slow of NTP time
Last offset     : -0.000006747 seconds
RMS offset      : 0.000035822 seconds
Frequency       : 3.225 ppm slow
Residual freq   : -0.000 ppm
Skew            : 0.129 ppm
Root delay      : 0.013639022 seconds
Root dispersion : 0.001100737 seconds
Update interval : 64.7 seconds
Leap status     : Normal
";
    let s = parse_chronyc_tracking(synced);
    assert_eq!((s.stratum, s.refid.as_deref(), s.leap.as_deref()), (Some(3), Some("CB00710F"), Some("00")));
    assert!((s.offset_ms.unwrap() - -0.006523).abs() < 1e-9);
    assert!(!s.own_clock());

    let local = "Reference ID    : 7F7F0101 ()
Stratum         : 10
Ref time (UTC)  : Tue Dec 01 09:00:00 2026
System time     : 0.000000000 seconds fast of NTP time
Leap status     : Normal
";
    let sources = "MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^? 10.0.0.6                      0   6     0     -     +0ns[   +0ns] +/-    0ns
";
    let system = parse_chronyc_tracking(local);
    assert!(system.own_clock());
    let peers = parse_chronyc_sources(sources).unwrap();
    let h = judge_system("chronyd", peers.clone(), None, Some(system), Thresholds::default());
    assert_eq!(h.status, Status::Warning, "{:?}", h.findings);
    assert!(h.findings[0].1.contains("its own clock at stratum 10 (chrony's local mode)"), "{:?}", h.findings);
    // Without local mode the same sources are a server that never reached anyone.
    let h = judge_system(
        "chronyd",
        peers,
        None,
        Some(parse_chronyc_tracking("Stratum : 0\nLeap status : Not synchronised\n")),
        Thresholds::default(),
    );
    assert_eq!(h.status, Status::Critical, "{:?}", h.findings);
    let unsynced = parse_chronyc_tracking(
        "Reference ID    : 00000000 ()\nStratum         : 0\nLeap status     : Not synchronised\n",
    );
    assert_eq!(unsynced.leap.as_deref(), Some("11"));
}

#[test]
fn the_start_hint_names_the_nodes_own_ntp_service() {
    let d = tempfile::tempdir().unwrap();
    assert!(start_hint(d.path()).contains("install the bundle's ntp package"));
    fs_err::create_dir_all(d.path().join("lib/systemd/system")).unwrap();
    fs_err::write(d.path().join("lib/systemd/systemd"), "").unwrap();
    fs_err::write(d.path().join("lib/systemd/system/ntpsec.service"), "").unwrap();
    assert_eq!(start_hint(d.path()), "systemctl start ntpsec");
    let el = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(el.path().join("etc/init.d")).unwrap();
    fs_err::write(el.path().join("etc/init.d/ntpd"), "").unwrap();
    assert_eq!(start_hint(el.path()), "service ntpd start");
}

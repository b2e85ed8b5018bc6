//! Small helpers: hex, leaked byte fields for message construction, CLI options, watchdog.

use std::{collections::HashMap, convert::TryFrom, io::Write, time::Duration};

use binary_sv2::{Seq0255, Str0255, B016M, B0255, B032, B064K, U256};
use serde_json::{json, Value};

pub(crate) type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (driver gone) is not worth a panic message.
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

pub(crate) fn unhex(s: &str) -> Res<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex ({} chars)", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("bad hex at {i}: {e}")))
        .collect()
}

/// Messages borrow their byte fields; a short-lived test tool can simply leak the buffers.
pub(crate) fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

pub(crate) fn leak32(v: [u8; 32]) -> &'static [u8; 32] {
    Box::leak(Box::new(v))
}

pub(crate) fn pattern(len: usize, start: u8) -> Vec<u8> {
    (0..len).map(|i| start.wrapping_add(i as u8)).collect()
}

pub(crate) fn u256(bytes: [u8; 32]) -> U256<'static> {
    U256::from(leak32(bytes))
}

pub(crate) fn arr32(v: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(v);
    a
}

pub(crate) fn str0255(s: &'static str) -> Str0255<'static> {
    Str0255::try_from(s).expect("test string fits STR0_255")
}

pub(crate) fn b032(v: Vec<u8>) -> B032<'static> {
    B032::new(leak(v)).expect("fits B0_32")
}

pub(crate) fn b0255(v: Vec<u8>) -> B0255<'static> {
    B0255::new(leak(v)).expect("fits B0_255")
}

pub(crate) fn b064k(v: Vec<u8>) -> B064K<'static> {
    B064K::new(leak(v)).expect("fits B0_64K")
}

pub(crate) fn b016m(v: Vec<u8>) -> B016M<'static> {
    B016M::new(leak(v)).expect("fits B0_16M")
}

pub(crate) fn seq_u256(items: Vec<[u8; 32]>) -> Seq0255<'static, U256<'static>> {
    Seq0255::new(items.into_iter().map(u256).collect()).expect("fits SEQ0_255")
}

/// Little-endian 256-bit comparison: a U256 target is an LE integer (SV2.md §2).
pub(crate) fn le256_le(a: &[u8], b: &[u8]) -> bool {
    for i in (0..32).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    true
}

pub(crate) fn parse_args(args: &[String]) -> Res<HashMap<String, String>> {
    let mut map = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let Some(key) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument {a:?}"));
        };
        // Flags without a value: the next token is absent or another --option.
        if i + 1 >= args.len() || args[i + 1].starts_with("--") {
            map.insert(key.to_string(), "true".to_string());
            i += 1;
        } else {
            map.insert(key.to_string(), args[i + 1].clone());
            i += 2;
        }
    }
    Ok(map)
}

pub(crate) fn req<'a>(m: &'a HashMap<String, String>, k: &str) -> Res<&'a str> {
    m.get(k)
        .map(String::as_str)
        .ok_or_else(|| format!("missing --{k}"))
}

pub(crate) fn opt_u64(m: &HashMap<String, String>, k: &str, default: u64) -> Res<u64> {
    match m.get(k) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| format!("--{k} {v:?}: {e}")),
    }
}

/// Kills the whole process after `timeout_ms`, so no run can hang the driver.
pub(crate) fn start_watchdog(timeout_ms: u64, what: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(timeout_ms));
        emit(
            json!({"event": "result", "ok": false, "reason": format!("{what}: timeout after {timeout_ms} ms")}),
        );
        std::process::exit(3);
    });
}

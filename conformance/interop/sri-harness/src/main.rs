//! sri-harness: drives the Stratum V2 reference implementation's crates (SRI, from crates.io)
//! against ReserveGrid OS. Every result is one JSON object per line on stdout; diagnostics go to
//! stderr. Exit code 0 = the run did what was asked, non-zero = it did not (the last JSON line
//! says why).
//!
//! Subcommands (see ../README.md):
//!   initiator --addr HOST:PORT --authority-pubkey B58 [--request-id N] [--user-identity S]
//!             [--max-target-hex HEX64] [--expect-job] [--timeout-ms N]
//!   responder --listen HOST:PORT --authority-secret B58 --authority-pubkey B58
//!             [--cert-validity-secs N] [--timeout-ms N]
//!   extended  --addr HOST:PORT --authority-pubkey B58 [--shares N] [--nominal-hash-rate H]
//!             [--min-extranonce-size N] [--user-identity S] [--until-block] [--timeout-ms N]
//!   encode    (no input) prints SRI-encoded frames with their decoded fields
//!   decode    reads {"case","hex"} lines on stdin, prints SRI's decoding of each
//!
//! Only SRI's own types do the protocol work here: `noise_sv2` Initiator/Responder for the NX
//! handshake, `codec_sv2` NoiseEncoder/NoiseDecoder for the transport (header + 65,519-byte
//! chunks), `parsers_sv2::AnyMessage` for the message table (msg_type, channel bit, dispatch) and
//! the subprotocol crates' structs for the fields. The I/O is plain blocking std::net, since the
//! SRI codec is sans-IO.

mod catalogue;
mod codec;
mod extended;
mod roles;
mod transport;
mod util;

use catalogue::{cmd_decode, cmd_encode};
use extended::cmd_extended;
use roles::{cmd_initiator, cmd_responder};
use serde_json::json;
use util::{emit, parse_args};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!("usage: sri-harness <initiator|responder|extended|encode|decode> [--options]");
        std::process::exit(64);
    };
    let result = parse_args(&args[1..]).and_then(|a| match cmd.as_str() {
        "initiator" => cmd_initiator(&a),
        "responder" => cmd_responder(&a),
        "extended" => cmd_extended(&a),
        "encode" => cmd_encode(),
        "decode" => cmd_decode(),
        other => Err(format!("unknown subcommand {other:?}")),
    });
    if let Err(reason) = result {
        emit(json!({"event": "result", "ok": false, "reason": reason}));
        std::process::exit(1);
    }
}

//! `initiator` and `responder` subcommands: SRI as client / server against ReserveGrid OS.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use binary_sv2::Sv2Option;
use codec_sv2::{Handshake, InitiatorSent, NoiseDecoder, NoiseEncoder};
use common_messages_sv2::{
    Protocol, SetupConnection, SetupConnectionError, SetupConnectionSuccess,
};
use mining_sv2::{
    NewMiningJob, OpenStandardMiningChannel, OpenStandardMiningChannelSuccess,
    SetNewPrevHash as MiningSetNewPrevHash,
};
use noise_sv2::{Initiator, Responder};
use parsers_sv2::{AnyMessage, CommonMessages, Mining};
use serde_json::json;

use crate::{catalogue::*, transport::*, util::*};

// ---------------------------------------------------------------------------------------------
// initiator: SRI as the client, against our responder
// ---------------------------------------------------------------------------------------------

pub(crate) fn cmd_initiator(a: &HashMap<String, String>) -> Res<()> {
    let addr: SocketAddr = req(a, "addr")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let authority = parse_pubkey(req(a, "authority-pubkey")?)?;
    let timeout_ms = opt_u64(a, "timeout-ms", 30_000)?;
    let request_id = opt_u64(a, "request-id", 7)? as u32;
    let user: &'static str = Box::leak(
        a.get("user-identity")
            .cloned()
            .unwrap_or_else(|| "sri-harness.worker1".into())
            .into_boxed_str(),
    );
    // Default max_target: 2^224 - 1 (LE: 28 × ff then 4 × 00), so "target <= max_target" is a
    // real constraint on the server rather than trivially true.
    let max_target = match a.get("max-target-hex") {
        Some(h) => {
            let v = unhex(h)?;
            if v.len() != 32 {
                return Err("--max-target-hex must be 32 bytes".into());
            }
            arr32(&v)
        }
        None => {
            let mut t = [0xffu8; 32];
            t[28..].fill(0);
            t
        }
    };
    let expect_job = a.contains_key("expect-job");
    start_watchdog(timeout_ms, "initiator");

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(timeout_ms))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(Duration::from_millis(timeout_ms)))
        .ok();

    // Noise NX, authority key pinned: step_2 fails unless the certificate is signed by it.
    let initiator = Initiator::from_raw_k(authority).map_err(|e| format!("Initiator: {e:?}"))?;
    let (act1, hs) = Handshake::initiator(initiator)
        .step_0()
        .map_err(|e| format!("step_0: {e:?}"))?;
    stream
        .write_all(act1.payload())
        .map_err(|e| format!("write act 1: {e}"))?;
    let mut decoder = NoiseDecoder::new();
    let act2 = read_handshake::<InitiatorSent>(&mut stream, &mut decoder)?;
    let act2: [u8; noise_sv2::INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] =
        act2.try_into().map_err(|_| "act 2 has the wrong size")?;
    let transport = hs
        .step_2(act2)
        .map_err(|e| format!("handshake step_2 (certificate/MAC): {e:?}"))?;
    emit(json!({"event": "handshake-complete", "role": "initiator", "authority_pinned": true}));
    let (enc, dec) = transport.split();
    let mut conn = NoiseConn {
        stream,
        encoder: NoiseEncoder::new(),
        decoder,
        enc,
        dec: Some(dec),
    };

    conn.send(AnyMessage::Common(CommonMessages::SetupConnection(
        SetupConnection {
            protocol: Protocol::MiningProtocol,
            min_version: 2,
            max_version: 2,
            flags: 0,
            endpoint_host: str0255("127.0.0.1"),
            endpoint_port: addr.port(),
            vendor: str0255("SRI sri-harness"),
            hardware_version: str0255("none"),
            firmware: str0255("codec_sv2 7.0.0"),
            device_id: str0255("interop-1"),
        },
    )))?;
    let (name, f, _) = conn.recv()?;
    if name != "SetupConnectionSuccess" {
        return Err(format!("expected SetupConnectionSuccess, got {name}: {f}"));
    }
    if f["used_version"] != json!(2) {
        return Err(format!("used_version {} != 2", f["used_version"]));
    }

    conn.send(AnyMessage::Mining(Mining::OpenStandardMiningChannel(
        OpenStandardMiningChannel {
            request_id,
            user_identity: str0255(user),
            nominal_hash_rate: 1e12,
            max_target: u256(max_target),
        },
    )))?;
    let (name, f, _) = conn.recv()?;
    if name != "OpenStandardMiningChannelSuccess" {
        return Err(format!(
            "expected OpenStandardMiningChannelSuccess, got {name}: {f}"
        ));
    }
    if f["request_id"] != json!(request_id) {
        return Err(format!(
            "request_id not echoed: sent {request_id}, got {}",
            f["request_id"]
        ));
    }
    let target = unhex(f["target"].as_str().unwrap_or(""))?;
    if !le256_le(&target, &max_target) {
        return Err(format!(
            "target {} > max_target {}",
            hex(&target),
            hex(&max_target)
        ));
    }
    let channel_id = f["channel_id"].clone();

    if expect_job {
        // SRI pool order on a new standard channel (SV2.md §5.3): a future NewMiningJob, then the
        // SetNewPrevHash that activates it.
        let (name, job, _) = conn.recv()?;
        if name != "NewMiningJob" || job["channel_id"] != channel_id || !job["min_ntime"].is_null()
        {
            return Err(format!(
                "expected a future NewMiningJob on channel {channel_id}, got {name}: {job}"
            ));
        }
        let (name, p, _) = conn.recv()?;
        if name != "SetNewPrevHash" || p["channel_id"] != channel_id || p["job_id"] != job["job_id"]
        {
            return Err(format!(
                "expected SetNewPrevHash for job {}, got {name}: {p}",
                job["job_id"]
            ));
        }
    }
    conn.stream.shutdown(Shutdown::Both).ok();
    emit(json!({"event": "result", "ok": true, "role": "initiator", "channel_id": channel_id}));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// responder: SRI as the server, for our initiator
// ---------------------------------------------------------------------------------------------

pub(crate) fn cmd_responder(a: &HashMap<String, String>) -> Res<()> {
    let listen: SocketAddr = req(a, "listen")?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let public = parse_pubkey(req(a, "authority-pubkey")?)?;
    let secret = parse_secret(req(a, "authority-secret")?)?;
    let validity = opt_u64(a, "cert-validity-secs", 3600)?;
    let timeout_ms = opt_u64(a, "timeout-ms", 30_000)?;
    start_watchdog(timeout_ms, "responder");

    // Fails if the secret does not derive the public key: checks our key pair with SRI's code.
    let responder = Responder::from_authority_kp(&public, &secret, Duration::from_secs(validity))
        .map_err(|e| format!("Responder::from_authority_kp: {e:?}"))?;
    let listener = TcpListener::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    emit(json!({"event": "listening", "port": port}));

    let (mut stream, peer) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    drop(listener);
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(Duration::from_millis(timeout_ms)))
        .ok();
    emit(json!({"event": "accepted", "peer": peer.to_string()}));

    let mut decoder = NoiseDecoder::new();
    let act1 = read_handshake::<Responder>(&mut stream, &mut decoder)?;
    let act1: [u8; noise_sv2::ELLSWIFT_ENCODING_SIZE] =
        act1.try_into().map_err(|_| "act 1 has the wrong size")?;
    let (act2, transport) = Handshake::responder(responder)
        .step_1(act1)
        .map_err(|e| format!("handshake step_1: {e:?}"))?;
    stream
        .write_all(act2.payload())
        .map_err(|e| format!("write act 2: {e}"))?;
    emit(
        json!({"event": "handshake-complete", "role": "responder", "act2_bytes": act2.payload().len()}),
    );
    let (enc, dec) = transport.split();
    let mut conn = NoiseConn {
        stream,
        encoder: NoiseEncoder::new(),
        decoder,
        enc,
        dec: Some(dec),
    };

    let (name, f, _) = conn.recv()?;
    if name != "SetupConnection" {
        return Err(format!("expected SetupConnection, got {name}"));
    }
    let (min, max) = (
        f["min_version"].as_u64().unwrap_or(0),
        f["max_version"].as_u64().unwrap_or(0),
    );
    if f["protocol"] != json!(0) || min > 2 || max < 2 {
        let code = if f["protocol"] != json!(0) {
            "unsupported-protocol"
        } else {
            "protocol-version-mismatch"
        };
        conn.send(AnyMessage::Common(CommonMessages::SetupConnectionError(
            SetupConnectionError {
                flags: 0,
                error_code: str0255(code),
            },
        )))?;
        return Err(format!("rejected SetupConnection: {code}"));
    }
    // Success flags are the server's own requirements, never an echo (SV2.md §4).
    conn.send(AnyMessage::Common(CommonMessages::SetupConnectionSuccess(
        SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        },
    )))?;

    let (name, f, _) = conn.recv()?;
    if name != "OpenStandardMiningChannel" {
        return Err(format!("expected OpenStandardMiningChannel, got {name}"));
    }
    let request_id = f["request_id"].as_u64().unwrap_or(0) as u32;
    let max_target = unhex(f["max_target"].as_str().unwrap_or(""))?;
    let fixed = h32(SHARE_TARGET_LE);
    // Clamp like SRI's pool: never hand out a target above the client's max_target.
    let target = if le256_le(&fixed, &max_target) {
        fixed
    } else {
        arr32(&max_target)
    };
    conn.send(AnyMessage::Mining(
        Mining::OpenStandardMiningChannelSuccess(OpenStandardMiningChannelSuccess {
            request_id,
            channel_id: 1,
            target: u256(target),
            extranonce_prefix: b032(vec![0, 0, 0, 1]),
            group_channel_id: 0,
        }),
    ))?;
    conn.send(AnyMessage::Mining(Mining::NewMiningJob(NewMiningJob {
        channel_id: 1,
        job_id: 1,
        min_ntime: Sv2Option::new(None),
        version: 0x2000_0000,
        merkle_root: u256(arr32(&pattern(32, 0))),
    })))?;
    conn.send(AnyMessage::Mining(Mining::SetNewPrevHash(
        MiningSetNewPrevHash {
            channel_id: 1,
            job_id: 1,
            prev_hash: u256(h32(PREV_HASH)),
            min_ntime: 1_745_611_105,
            nbits: 0x1b00_d7c0,
        },
    )))?;

    // Let the client close first: closing with unread input would send RST and could destroy
    // frames still in flight to it.
    conn.stream.shutdown(Shutdown::Write).ok();
    let mut sink = [0u8; 4096];
    let mut extra = 0usize;
    loop {
        match conn.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => extra += n,
            Err(_) => break,
        }
    }
    emit(
        json!({"event": "result", "ok": true, "role": "responder", "bytes_after_last_frame": extra}),
    );
    Ok(())
}

//! `extended` subcommand: SRI as an extended-channel mining client against OUR gateway.
//!
//! Noise NX (authority pinned) → SetupConnection (mining, v2) → OpenExtendedMiningChannel →
//! .Success; the channel state lives in `channels_sv2::client::extended::ExtendedChannel`, SRI's
//! own client-side channel, fed with every NewExtendedMiningJob / SetNewPrevHash / SetTarget the
//! gateway sends. Shares are built by grinding nonces and asking that channel's `validate_share`
//! (SRI computes the coinbase from prefix ‖ extranonce_prefix ‖ extranonce ‖ suffix, the merkle
//! root from the path, the header and its hash, and compares with the channel target); the first
//! `--shares N` shares SRI accepts are submitted and every one must be acknowledged by
//! SubmitShares.Success (summed over batched acks). With `--until-block` only shares that SRI
//! finds to meet the network target (`ShareValidationResult::BlockFound`) are submitted.

use std::{
    collections::HashMap,
    io::Write,
    net::{Shutdown, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use bitcoin::Target;
use channels_sv2::{
    client::{
        extended::ExtendedChannel,
        share_accounting::{ShareValidationError, ShareValidationResult},
    },
    extranonce_manager::ExtranoncePrefix,
};
use codec_sv2::{Handshake, InitiatorSent, NoiseDecoder, NoiseEncoder};
use common_messages_sv2::{Protocol, SetupConnection};
use mining_sv2::{OpenExtendedMiningChannel, SubmitSharesExtended};
use noise_sv2::Initiator;
use parsers_sv2::{AnyMessage, CommonMessages, Mining};
use serde_json::json;

use crate::{codec::WORKER_EXT, transport::*, util::*};

/// Typed SRI message of a plaintext frame. A short-lived test tool: the buffer is leaked so the
/// borrowed message is `'static` (parsers_sv2's messages borrow their byte fields).
fn parse_owned(bytes: &[u8]) -> Res<AnyMessage<'static>> {
    let frame = framing_sv2::framing::SerializedFrame::<Vec<u8>>::from_bytes(bytes.to_vec())
        .map_err(|e| format!("frame length does not match header: {e:?}"))?;
    let header = frame.header();
    let buf: &'static mut [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    let payload = &mut buf[framing_sv2::header::Header::SIZE..];
    let (msg, _tlvs) = parsers_sv2::parse_message_frame_with_tlvs(header, payload, &[WORKER_EXT])
        .map_err(|e| format!("parse: {e:?}"))?;
    Ok(msg)
}

fn le_target(bytes: &[u8]) -> Target {
    Target::from_le_bytes(arr32(bytes))
}

/// Applies one gateway message to SRI's channel state; returns its name.
fn apply(channel: &mut ExtendedChannel, msg: &AnyMessage<'static>) -> Res<String> {
    match msg {
        AnyMessage::Mining(Mining::NewExtendedMiningJob(job)) => {
            channel
                .on_new_extended_mining_job(job.clone().into_owned())
                .map_err(|e| format!("channels_sv2 refuses NewExtendedMiningJob: {e:?}"))?;
            Ok("NewExtendedMiningJob".into())
        }
        AnyMessage::Mining(Mining::SetNewPrevHash(p)) => {
            channel
                .on_set_new_prev_hash(p.clone().into_owned())
                .map_err(|e| format!("channels_sv2 refuses SetNewPrevHash: {e:?}"))?;
            Ok("SetNewPrevHash".into())
        }
        AnyMessage::Mining(Mining::SetTarget(t)) => {
            channel
                .set_target(le_target(t.maximum_target.as_bytes()))
                .map_err(|e| format!("channels_sv2 refuses SetTarget: {e:?}"))?;
            Ok("SetTarget".into())
        }
        AnyMessage::Mining(Mining::SetExtranoncePrefix(p)) => {
            let prefix = ExtranoncePrefix::from_wire(p.extranonce_prefix.as_bytes().to_vec())
                .map_err(|e| format!("extranonce prefix: {e:?}"))?;
            channel
                .set_extranonce_prefix(prefix)
                .map_err(|e| format!("channels_sv2 refuses SetExtranoncePrefix: {e:?}"))?;
            Ok("SetExtranoncePrefix".into())
        }
        AnyMessage::Mining(Mining::SubmitSharesSuccess(_)) => Ok("SubmitSharesSuccess".into()),
        AnyMessage::Mining(Mining::SubmitSharesError(_)) => Ok("SubmitSharesError".into()),
        AnyMessage::Mining(Mining::CloseChannel(c)) => Err(format!(
            "gateway closed the channel: {}",
            String::from_utf8_lossy(c.reason_code.as_bytes())
        )),
        other => Err(format!("unexpected message {other:?}")),
    }
}

pub(crate) fn cmd_extended(a: &HashMap<String, String>) -> Res<()> {
    let addr: SocketAddr = req(a, "addr")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let authority = parse_pubkey(req(a, "authority-pubkey")?)?;
    let timeout_ms = opt_u64(a, "timeout-ms", 30_000)?;
    let shares_wanted = opt_u64(a, "shares", 3)? as u32;
    let nominal_hash_rate: f32 = a
        .get("nominal-hash-rate")
        .map(|s| s.parse().map_err(|e| format!("--nominal-hash-rate: {e}")))
        .transpose()?
        .unwrap_or(1000.0);
    let min_extranonce_size = opt_u64(a, "min-extranonce-size", 8)? as u16;
    // Submit only shares that channels_sv2 says meet the NETWORK target (BlockFound).
    let until_block = a.contains_key("until-block");
    let user: &'static str = Box::leak(
        a.get("user-identity")
            .cloned()
            .unwrap_or_else(|| "sri-harness.extended".into())
            .into_boxed_str(),
    );
    start_watchdog(timeout_ms, "extended");

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(timeout_ms))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(Duration::from_millis(timeout_ms)))
        .ok();
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
    emit(json!({"event": "handshake-complete", "role": "extended", "authority_pinned": true}));
    let (enc, dec) = transport.split();
    let mut conn = NoiseConn {
        stream,
        encoder: NoiseEncoder::new(),
        decoder,
        enc,
        dec: Some(dec),
    };

    // Flags 0: no REQUIRES_STANDARD_JOBS, so the gateway may serve extended channels.
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
            firmware: str0255("channels_sv2 8.0.0"),
            device_id: str0255("interop-extended"),
        },
    )))?;
    let (name, f, _) = conn.recv()?;
    if name != "SetupConnectionSuccess" {
        return Err(format!("expected SetupConnectionSuccess, got {name}: {f}"));
    }

    let request_id = 11u32;
    conn.send(AnyMessage::Mining(Mining::OpenExtendedMiningChannel(
        OpenExtendedMiningChannel {
            request_id,
            user_identity: str0255(user),
            nominal_hash_rate,
            max_target: u256([0xff; 32]),
            min_extranonce_size,
        },
    )))?;
    let (name, f, bytes) = conn.recv()?;
    let AnyMessage::Mining(Mining::OpenExtendedMiningChannelSuccess(open)) = parse_owned(&bytes)?
    else {
        return Err(format!(
            "expected OpenExtendedMiningChannelSuccess, got {name}: {f}"
        ));
    };
    if open.request_id != request_id {
        return Err(format!("request_id not echoed: {}", open.request_id));
    }
    if open.extranonce_size < min_extranonce_size {
        return Err(format!(
            "extranonce_size {} < min_extranonce_size {min_extranonce_size}",
            open.extranonce_size
        ));
    }
    let prefix = ExtranoncePrefix::from_wire(open.extranonce_prefix.as_bytes().to_vec())
        .map_err(|e| format!("extranonce prefix: {e:?}"))?;
    // SRI's client channel with the values the gateway granted; version rolling allowed per job.
    let mut channel = ExtendedChannel::new(
        open.channel_id,
        user.to_string(),
        prefix,
        le_target(open.target.as_bytes()),
        nominal_hash_rate,
        true,
        open.extranonce_size,
        None,
    )
    .map_err(|e| format!("channels_sv2 ExtendedChannel::new refuses the channel: {e:?}"))?;
    emit(
        json!({"event": "channel", "channel_id": open.channel_id, "extranonce_size": open.extranonce_size,
        "extranonce_prefix": hex(open.extranonce_prefix.as_bytes()), "target": hex(open.target.as_bytes())}),
    );

    // SRI pool order (SV2.md §5.3): a future NewExtendedMiningJob, then its SetNewPrevHash.
    let mut seen_future_job = false;
    while channel.get_active_job().is_none() || channel.get_chain_tip().is_none() {
        let (_, _, bytes) = conn.recv()?;
        let msg = parse_owned(&bytes)?;
        if let AnyMessage::Mining(Mining::NewExtendedMiningJob(j)) = &msg {
            if j.min_ntime.clone().into_inner().is_none() {
                seen_future_job = true;
            }
        }
        let name = apply(&mut channel, &msg)?;
        if name == "SetNewPrevHash" && !seen_future_job {
            return Err("SetNewPrevHash before any future NewExtendedMiningJob".into());
        }
    }

    let mut sequence_number = 0u32;
    let mut submitted = 0u32;
    let mut acknowledged = 0u32;
    let mut extranonce_counter = 0u64;
    let grind_started = Instant::now();
    let mut hashes = 0u64;
    while submitted < shares_wanted {
        let job = channel.get_active_job().ok_or("no active job")?.clone();
        let tip_ntime = channel.get_chain_tip().ok_or("no chain tip")?.min_ntime();
        let ntime = job
            .job_message
            .min_ntime
            .clone()
            .into_inner()
            .unwrap_or(tip_ntime);
        // A fresh extranonce per share: a distinct coinbase, hence a distinct share hash.
        extranonce_counter += 1;
        let mut extranonce = vec![0u8; channel.get_rollable_extranonce_size() as usize];
        let ctr = extranonce_counter.to_le_bytes();
        let n = extranonce.len().min(8);
        extranonce[..n].copy_from_slice(&ctr[..n]);
        let mut found = None;
        for nonce in 0..=u32::MAX {
            hashes += 1;
            let share = SubmitSharesExtended {
                channel_id: channel.get_channel_id(),
                sequence_number,
                job_id: job.job_message.job_id,
                nonce,
                ntime,
                version: job.job_message.version,
                extranonce: b032(extranonce.clone()),
            };
            match channel.validate_share(share.clone().into_owned()) {
                Ok(ShareValidationResult::Valid(_)) if until_block => continue,
                Ok(ShareValidationResult::Valid(h)) => {
                    found = Some((share, h, false));
                    break;
                }
                Ok(ShareValidationResult::BlockFound(h)) => {
                    found = Some((share, h, true));
                    break;
                }
                Err(ShareValidationError::DoesNotMeetTarget(_)) => continue,
                Err(e) => return Err(format!("channels_sv2 validate_share: {e:?}")),
            }
        }
        let (share, hash, block) = found.ok_or("nonce space exhausted")?;
        emit(
            json!({"event": "share-found", "nonce": share.nonce, "hash": hex(hash.as_ref()), "block": block,
            "hashes": hashes, "grind_ms": grind_started.elapsed().as_millis() as u64}),
        );
        conn.send(AnyMessage::Mining(Mining::SubmitSharesExtended(share)))?;
        sequence_number += 1;
        submitted += 1;
    }

    // Acks may be batched: read until every submitted share is acknowledged.
    while acknowledged < submitted {
        let (name, f, bytes) = conn.recv()?;
        let msg = parse_owned(&bytes)?;
        match &msg {
            AnyMessage::Mining(Mining::SubmitSharesSuccess(s)) => {
                acknowledged += s.new_submits_accepted_count;
                channel.on_share_acknowledgement(s.new_submits_accepted_count, s.new_shares_sum);
            }
            AnyMessage::Mining(Mining::SubmitSharesError(e)) => {
                return Err(format!(
                    "SubmitShares.Error for sequence {}: {}",
                    e.sequence_number,
                    String::from_utf8_lossy(e.error_code.as_bytes())
                ));
            }
            _ => {
                apply(&mut channel, &msg).map_err(|e| format!("{e} ({name}: {f})"))?;
            }
        }
    }
    let acct = channel.get_share_accounting();
    conn.stream.shutdown(Shutdown::Both).ok();
    emit(
        json!({"event": "result", "ok": true, "role": "extended", "channel_id": channel.get_channel_id(),
        "submitted": submitted, "acknowledged": acct.get_acknowledged_shares(),
        "validated": acct.get_validated_shares(), "acknowledged_work_sum": acct.get_acknowledged_work_sum(),
        "hashes": hashes}),
    );
    Ok(())
}

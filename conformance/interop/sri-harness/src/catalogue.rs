//! `encode` / `decode` subcommands: the message catalogue with known values.

use std::io::BufRead;

use binary_sv2::{Seq064K, Sv2Option};
use common_messages_sv2::{
    ChannelEndpointChanged, Protocol, Reconnect, SetupConnection, SetupConnectionError,
    SetupConnectionSuccess,
};
use extensions_sv2::{RequestExtensions, RequestExtensionsError, RequestExtensionsSuccess};
use framing_sv2::header::Header;
use job_declaration_sv2::{
    AllocateMiningJobToken, AllocateMiningJobTokenSuccess, DeclareMiningJob, DeclareMiningJobError,
    DeclareMiningJobSuccess, ProvideMissingTransactions, ProvideMissingTransactionsSuccess,
    PushSolution,
};
use mining_sv2::{
    CloseChannel, NewExtendedMiningJob, NewMiningJob, OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess, OpenMiningChannelError, OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess, SetCustomMiningJob, SetCustomMiningJobError,
    SetCustomMiningJobSuccess, SetExtranoncePrefix, SetGroupChannel,
    SetNewPrevHash as MiningSetNewPrevHash, SetTarget, SubmitSharesError, SubmitSharesExtended,
    SubmitSharesStandard, SubmitSharesSuccess, UpdateChannel, UpdateChannelError,
};
use parsers_sv2::{
    AnyMessage, CommonMessages, Extensions, ExtensionsNegotiation, IsSv2Message, JobDeclaration,
    Mining, TemplateDistribution, Tlv,
};
use serde_json::{json, Map, Value};
use template_distribution_sv2::{
    CoinbaseOutputConstraints, NewTemplate, RequestTransactionData, RequestTransactionDataError,
    RequestTransactionDataSuccess, SetNewPrevHash as TdpSetNewPrevHash, SubmitSolution,
};

use crate::{codec::*, util::*};

// ---------------------------------------------------------------------------------------------
// encode: a catalogue of messages with known field values
// ---------------------------------------------------------------------------------------------

// Values shared with docs/SV2.md §5.6/§11 so a reader can cross-reference them.
pub(crate) const SHARE_TARGET_LE: &str =
    "058215af34444e5887d6f718a4a3ee04fcc407c311dddaff61a761989d170100";
pub(crate) const PREV_HASH: &str =
    "17cd48869956dc99e01cd892e478e39dd563a0a3803b8bbe9e3e000000000000";
pub(crate) const COINBASE_PREFIX: &str = "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2a5200065376322f2f2f20";
pub(crate) const COINBASE_SUFFIX: &str = "ffffffff0200f2052a01000000160014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf900000000";

pub(crate) fn h32(s: &str) -> [u8; 32] {
    arr32(&unhex(s).expect("constant hex"))
}

pub(crate) fn catalogue() -> Vec<(&'static str, AnyMessage<'static>)> {
    let ff = [0xffu8; 32];
    let target = h32(SHARE_TARGET_LE);
    let prev = h32(PREV_HASH);
    let root = arr32(&pattern(32, 0));
    let path = vec![
        arr32(&pattern(32, 0x40)),
        arr32(&pattern(32, 0x80)),
        arr32(&pattern(32, 0xc0)),
    ];
    let cb_prefix = unhex(COINBASE_PREFIX).unwrap();
    let cb_suffix = unhex(COINBASE_SUFFIX).unwrap();
    let outputs = unhex("0200f2052a01000000160014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9").unwrap();

    use AnyMessage as A;
    use CommonMessages as C;
    use JobDeclaration as J;
    use Mining as M;
    use TemplateDistribution as T;
    vec![
        // ---- Common (SV2.md §4)
        (
            "SetupConnection/bitaxe",
            A::Common(C::SetupConnection(SetupConnection {
                protocol: Protocol::MiningProtocol,
                min_version: 2,
                max_version: 2,
                flags: 1,
                endpoint_host: str0255("127.0.0.1"),
                endpoint_port: 34254,
                vendor: str0255("bitaxe"),
                hardware_version: str0255("BM1370"),
                firmware: str0255("v2.0"),
                device_id: str0255(""),
            })),
        ),
        (
            "SetupConnection/template-distribution",
            A::Common(C::SetupConnection(SetupConnection {
                protocol: Protocol::TemplateDistributionProtocol,
                min_version: 2,
                max_version: 3,
                flags: 0xffff_ffff,
                endpoint_host: str0255("tp.example"),
                endpoint_port: 8442,
                vendor: str0255("ReserveGrid"),
                hardware_version: str0255(""),
                firmware: str0255("0.1.0"),
                device_id: str0255("dev-1"),
            })),
        ),
        (
            "SetupConnection.Success",
            A::Common(C::SetupConnectionSuccess(SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            })),
        ),
        (
            "SetupConnection.Success/flags",
            A::Common(C::SetupConnectionSuccess(SetupConnectionSuccess {
                used_version: 2,
                flags: 0b11,
            })),
        ),
        (
            "SetupConnection.Error",
            A::Common(C::SetupConnectionError(SetupConnectionError {
                flags: 0,
                error_code: str0255("unsupported-protocol"),
            })),
        ),
        (
            "SetupConnection.Error/flags",
            A::Common(C::SetupConnectionError(SetupConnectionError {
                flags: 0x0000_0006,
                error_code: str0255("unsupported-feature-flags"),
            })),
        ),
        (
            "ChannelEndpointChanged",
            A::Common(C::ChannelEndpointChanged(ChannelEndpointChanged {
                channel_id: 0xdead_beef,
            })),
        ),
        (
            "Reconnect/keep",
            A::Common(C::Reconnect(Reconnect {
                new_host: str0255(""),
                new_port: 0,
            })),
        ),
        (
            "Reconnect",
            A::Common(C::Reconnect(Reconnect {
                new_host: str0255("pool2.example.com"),
                new_port: 3336,
            })),
        ),
        // ---- Mining (SV2.md §5.1)
        (
            "OpenStandardMiningChannel",
            A::Mining(M::OpenStandardMiningChannel(OpenStandardMiningChannel {
                request_id: 1,
                user_identity: str0255("user.worker"),
                nominal_hash_rate: 1e12,
                max_target: u256(ff),
            })),
        ),
        (
            "OpenStandardMiningChannel/fractional-hashrate",
            A::Mining(M::OpenStandardMiningChannel(OpenStandardMiningChannel {
                request_id: u32::MAX,
                user_identity: str0255("w\u{f6}rker.\u{1f600}"),
                nominal_hash_rate: 123.456,
                max_target: u256(target),
            })),
        ),
        (
            "OpenStandardMiningChannel.Success",
            A::Mining(M::OpenStandardMiningChannelSuccess(
                OpenStandardMiningChannelSuccess {
                    request_id: 1,
                    channel_id: 1,
                    target: u256(target),
                    extranonce_prefix: b032(vec![0, 0, 0, 1]),
                    group_channel_id: 0,
                },
            )),
        ),
        (
            "OpenStandardMiningChannel.Success/32-byte-prefix",
            A::Mining(M::OpenStandardMiningChannelSuccess(
                OpenStandardMiningChannelSuccess {
                    request_id: 2,
                    channel_id: 0x0102_0304,
                    target: u256(ff),
                    extranonce_prefix: b032(pattern(32, 0xa0)),
                    group_channel_id: 77,
                },
            )),
        ),
        (
            "OpenMiningChannel.Error",
            A::Mining(M::OpenMiningChannelError(OpenMiningChannelError {
                request_id: 1,
                error_code: str0255("unknown-user"),
            })),
        ),
        (
            "OpenExtendedMiningChannel",
            A::Mining(M::OpenExtendedMiningChannel(OpenExtendedMiningChannel {
                request_id: 3,
                user_identity: str0255("user.extended"),
                nominal_hash_rate: 5.5e13,
                max_target: u256(ff),
                min_extranonce_size: 6,
            })),
        ),
        (
            "OpenExtendedMiningChannel.Success",
            A::Mining(M::OpenExtendedMiningChannelSuccess(
                OpenExtendedMiningChannelSuccess {
                    request_id: 1,
                    channel_id: 2,
                    target: u256(target),
                    extranonce_size: 8,
                    extranonce_prefix: b032({
                        let mut v = vec![0u8; 24];
                        v[23] = 1;
                        v
                    }),
                    group_channel_id: 0,
                },
            )),
        ),
        (
            "NewMiningJob/future",
            A::Mining(M::NewMiningJob(NewMiningJob {
                channel_id: 1,
                job_id: 1,
                min_ntime: Sv2Option::new(None),
                version: 0x2000_0000,
                merkle_root: u256(root),
            })),
        ),
        (
            "NewMiningJob/min_ntime",
            A::Mining(M::NewMiningJob(NewMiningJob {
                channel_id: 1,
                job_id: 2,
                min_ntime: Sv2Option::new(Some(1_745_611_105)),
                version: 0x2000_0000,
                merkle_root: u256(root),
            })),
        ),
        (
            "NewExtendedMiningJob/future",
            A::Mining(M::NewExtendedMiningJob(NewExtendedMiningJob {
                channel_id: 2,
                job_id: 7,
                min_ntime: Sv2Option::new(None),
                version: 0x2000_0000,
                version_rolling_allowed: true,
                merkle_path: seq_u256(path.clone()),
                coinbase_tx_prefix: b064k(cb_prefix.clone()),
                coinbase_tx_suffix: b064k(cb_suffix.clone()),
            })),
        ),
        (
            "NewExtendedMiningJob/min_ntime-empty-path",
            A::Mining(M::NewExtendedMiningJob(NewExtendedMiningJob {
                channel_id: 3,
                job_id: 8,
                min_ntime: Sv2Option::new(Some(u32::MAX)),
                version: 0x3fff_e000,
                version_rolling_allowed: false,
                merkle_path: seq_u256(vec![]),
                coinbase_tx_prefix: b064k(vec![]),
                coinbase_tx_suffix: b064k(vec![0xab]),
            })),
        ),
        (
            "SetNewPrevHash",
            A::Mining(M::SetNewPrevHash(MiningSetNewPrevHash {
                channel_id: 1,
                job_id: 1,
                prev_hash: u256(prev),
                min_ntime: 1_745_611_105,
                nbits: 0x1b00_d7c0,
            })),
        ),
        (
            "SetTarget",
            A::Mining(M::SetTarget(SetTarget {
                channel_id: 1,
                maximum_target: u256(target),
            })),
        ),
        (
            "SubmitSharesStandard",
            A::Mining(M::SubmitSharesStandard(SubmitSharesStandard {
                channel_id: 1,
                sequence_number: 1,
                job_id: 1,
                nonce: 16647,
                ntime: 1_745_611_105,
                version: 0x2000_0000,
            })),
        ),
        (
            "SubmitSharesExtended",
            A::Mining(M::SubmitSharesExtended(SubmitSharesExtended {
                channel_id: 1,
                sequence_number: 1,
                job_id: 1,
                nonce: 16647,
                ntime: 1_745_611_105,
                version: 0x2000_0000,
                extranonce: b032(unhex("0100000000000000").unwrap()),
            })),
        ),
        (
            "SubmitShares.Success",
            A::Mining(M::SubmitSharesSuccess(SubmitSharesSuccess {
                channel_id: 1,
                last_sequence_number: 10,
                new_submits_accepted_count: 10,
                new_shares_sum: 1000,
            })),
        ),
        (
            "SubmitShares.Success/u64-max",
            A::Mining(M::SubmitSharesSuccess(SubmitSharesSuccess {
                channel_id: 9,
                last_sequence_number: u32::MAX,
                new_submits_accepted_count: 1,
                new_shares_sum: u64::MAX - 1,
            })),
        ),
        (
            "SubmitShares.Error",
            A::Mining(M::SubmitSharesError(SubmitSharesError {
                channel_id: 1,
                sequence_number: 11,
                error_code: str0255("difficulty-too-low"),
            })),
        ),
        (
            "UpdateChannel",
            A::Mining(M::UpdateChannel(UpdateChannel {
                channel_id: 1,
                nominal_hash_rate: 2.5e12,
                maximum_target: u256(target),
            })),
        ),
        (
            "UpdateChannel.Error",
            A::Mining(M::UpdateChannelError(UpdateChannelError {
                channel_id: 1,
                error_code: str0255("invalid-channel-id"),
            })),
        ),
        (
            "CloseChannel",
            A::Mining(M::CloseChannel(CloseChannel {
                channel_id: 1,
                reason_code: str0255("shutdown"),
            })),
        ),
        (
            "SetExtranoncePrefix",
            A::Mining(M::SetExtranoncePrefix(SetExtranoncePrefix {
                channel_id: 1,
                extranonce_prefix: b032(vec![0, 0, 0, 2]),
            })),
        ),
        (
            "SetExtranoncePrefix/empty",
            A::Mining(M::SetExtranoncePrefix(SetExtranoncePrefix {
                channel_id: 5,
                extranonce_prefix: b032(vec![]),
            })),
        ),
        (
            "SetCustomMiningJob",
            A::Mining(M::SetCustomMiningJob(SetCustomMiningJob {
                channel_id: 4,
                request_id: 12,
                token: b0255(pattern(16, 0x10)),
                version: 0x2000_0000,
                prev_hash: u256(prev),
                min_ntime: 1_745_611_105,
                nbits: 0x1b00_d7c0,
                coinbase_tx_version: 2,
                coinbase_prefix: b0255(unhex("03a08601").unwrap()),
                coinbase_tx_input_n_sequence: 0xffff_fffe,
                coinbase_tx_outputs: b064k({
                    let mut v = vec![2u8];
                    v.extend_from_slice(&outputs[1..]);
                    v
                }),
                coinbase_tx_locktime: 158,
                merkle_path: seq_u256(path.clone()),
            })),
        ),
        (
            "SetCustomMiningJob.Success",
            A::Mining(M::SetCustomMiningJobSuccess(SetCustomMiningJobSuccess {
                channel_id: 4,
                request_id: 12,
                job_id: 99,
            })),
        ),
        (
            "SetCustomMiningJob.Error",
            A::Mining(M::SetCustomMiningJobError(SetCustomMiningJobError {
                channel_id: 4,
                request_id: 12,
                error_code: str0255("invalid-mining-job-token"),
            })),
        ),
        (
            "SetGroupChannel",
            A::Mining(M::SetGroupChannel(SetGroupChannel {
                group_channel_id: 100,
                channel_ids: Seq064K::new(vec![1, 2]).unwrap(),
            })),
        ),
        (
            "SetGroupChannel/300-ids",
            A::Mining(M::SetGroupChannel(SetGroupChannel {
                group_channel_id: 7,
                channel_ids: Seq064K::new((0..300u32).map(|i| i * 65_537).collect()).unwrap(),
            })),
        ),
        // ---- Template Distribution (SV2.md §6)
        (
            "CoinbaseOutputConstraints",
            A::TemplateDistribution(T::CoinbaseOutputConstraints(CoinbaseOutputConstraints {
                coinbase_output_max_additional_size: 100,
                coinbase_output_max_additional_sigops: 400,
            })),
        ),
        (
            "NewTemplate",
            A::TemplateDistribution(T::NewTemplate(NewTemplate {
                template_id: 0x0102_0304_0506_0708,
                future_template: true,
                version: 0x2000_0000,
                coinbase_tx_version: 2,
                coinbase_prefix: b0255(unhex("5200").unwrap()),
                coinbase_tx_input_sequence: 0xffff_ffff,
                coinbase_tx_value_remaining: 5_000_000_000,
                coinbase_tx_outputs_count: 1,
                coinbase_tx_outputs: b064k(outputs[1..].to_vec()),
                coinbase_tx_locktime: 0,
                merkle_path: seq_u256(path.clone()),
            })),
        ),
        (
            "NewTemplate/not-future",
            A::TemplateDistribution(T::NewTemplate(NewTemplate {
                template_id: u64::MAX,
                future_template: false,
                version: 0x2000_0004,
                coinbase_tx_version: 1,
                coinbase_prefix: b0255(vec![]),
                coinbase_tx_input_sequence: 0,
                coinbase_tx_value_remaining: 0x0010_0000_0000_0001,
                coinbase_tx_outputs_count: 0,
                coinbase_tx_outputs: b064k(vec![]),
                coinbase_tx_locktime: 840_000,
                merkle_path: seq_u256(vec![]),
            })),
        ),
        (
            "SetNewPrevHash(TDP)",
            A::TemplateDistribution(T::SetNewPrevHash(TdpSetNewPrevHash {
                template_id: 0x0102_0304_0506_0708,
                prev_hash: u256(prev),
                header_timestamp: 1_745_611_105,
                n_bits: 0x1b00_d7c0,
                target: u256(target),
            })),
        ),
        (
            "RequestTransactionData",
            A::TemplateDistribution(T::RequestTransactionData(RequestTransactionData {
                template_id: 42,
            })),
        ),
        (
            "RequestTransactionData.Success",
            A::TemplateDistribution(T::RequestTransactionDataSuccess(
                RequestTransactionDataSuccess {
                    template_id: 42,
                    excess_data: b064k(vec![0xee; 3]),
                    transaction_list: Seq064K::new(vec![
                        b016m(pattern(61, 1)),
                        b016m(vec![]),
                        b016m(pattern(250, 9)),
                    ])
                    .unwrap(),
                },
            )),
        ),
        // A B0_16M longer than 65,535 bytes: its U24 length prefix must be read as such.
        (
            "RequestTransactionData.Success/70000-byte-tx",
            A::TemplateDistribution(T::RequestTransactionDataSuccess(
                RequestTransactionDataSuccess {
                    template_id: 43,
                    excess_data: b064k(vec![]),
                    transaction_list: Seq064K::new(vec![b016m(pattern(70_000, 3))]).unwrap(),
                },
            )),
        ),
        (
            "RequestTransactionData.Error",
            A::TemplateDistribution(T::RequestTransactionDataError(
                RequestTransactionDataError {
                    template_id: 42,
                    error_code: str0255("template-id-not-found"),
                },
            )),
        ),
        (
            "SubmitSolution",
            A::TemplateDistribution(T::SubmitSolution(SubmitSolution {
                template_id: 0x0102_0304_0506_0708,
                version: 0x2000_0000,
                header_timestamp: 1_745_611_105,
                header_nonce: 16647,
                coinbase_tx: b064k(pattern(180, 0x21)),
            })),
        ),
        // ---- Job Declaration (SV2.md §7)
        (
            "AllocateMiningJobToken",
            A::JobDeclaration(J::AllocateMiningJobToken(AllocateMiningJobToken {
                user_identifier: str0255("jdc-user"),
                request_id: 5,
            })),
        ),
        (
            "AllocateMiningJobToken.Success",
            A::JobDeclaration(J::AllocateMiningJobTokenSuccess(
                AllocateMiningJobTokenSuccess {
                    request_id: 5,
                    mining_job_token: b0255(pattern(8, 0x70)),
                    coinbase_outputs: b064k(outputs.clone()),
                },
            )),
        ),
        (
            "DeclareMiningJob",
            A::JobDeclaration(J::DeclareMiningJob(DeclareMiningJob {
                request_id: 6,
                mining_job_token: b0255(pattern(8, 0x70)),
                version: 0x2000_0000,
                coinbase_tx_prefix: b064k(pattern(60, 0x30)),
                coinbase_tx_suffix: b064k(pattern(90, 0x90)),
                wtxid_list: Seq064K::new(path.iter().map(|p| u256(*p)).collect()).unwrap(),
                excess_data: b064k(vec![]),
            })),
        ),
        (
            "DeclareMiningJob.Success",
            A::JobDeclaration(J::DeclareMiningJobSuccess(DeclareMiningJobSuccess {
                request_id: 6,
                new_mining_job_token: b0255(pattern(12, 0x50)),
            })),
        ),
        (
            "DeclareMiningJob.Error",
            A::JobDeclaration(J::DeclareMiningJobError(DeclareMiningJobError {
                request_id: 6,
                error_code: str0255("missing-txs"),
                error_details: b064k(vec![1, 2, 3]),
            })),
        ),
        (
            "ProvideMissingTransactions",
            A::JobDeclaration(J::ProvideMissingTransactions(ProvideMissingTransactions {
                request_id: 6,
                unknown_tx_position_list: Seq064K::new(vec![0, 3, 65_535]).unwrap(),
            })),
        ),
        (
            "ProvideMissingTransactions.Success",
            A::JobDeclaration(J::ProvideMissingTransactionsSuccess(
                ProvideMissingTransactionsSuccess {
                    request_id: 6,
                    transaction_list: Seq064K::new(vec![
                        b016m(pattern(100, 0)),
                        b016m(pattern(5, 0xf0)),
                    ])
                    .unwrap(),
                },
            )),
        ),
        (
            "PushSolution",
            A::JobDeclaration(J::PushSolution(PushSolution {
                extranonce: b032(pattern(32, 0x01)),
                prev_hash: u256(prev),
                nonce: 16647,
                ntime: 1_745_611_105,
                nbits: 0x1b00_d7c0,
                version: 0x2000_0000,
            })),
        ),
        // ---- Extensions negotiation, extension_type 0x0001 (SV2.md §10)
        (
            "RequestExtensions",
            A::Extensions(Extensions::ExtensionsNegotiation(
                ExtensionsNegotiation::RequestExtensions(RequestExtensions {
                    request_id: 1,
                    requested_extensions: Seq064K::new(vec![2]).unwrap(),
                }),
            )),
        ),
        (
            "RequestExtensions.Success",
            A::Extensions(Extensions::ExtensionsNegotiation(
                ExtensionsNegotiation::RequestExtensionsSuccess(RequestExtensionsSuccess {
                    request_id: 1,
                    supported_extensions: Seq064K::new(vec![2]).unwrap(),
                }),
            )),
        ),
        (
            "RequestExtensions.Error",
            A::Extensions(Extensions::ExtensionsNegotiation(
                ExtensionsNegotiation::RequestExtensionsError(RequestExtensionsError {
                    request_id: 1,
                    unsupported_extensions: Seq064K::new(vec![0x4001]).unwrap(),
                    required_extensions: Seq064K::new(vec![]).unwrap(),
                }),
            )),
        ),
    ]
}

pub(crate) fn cmd_encode() -> Res<()> {
    for (case, msg) in catalogue() {
        let (name, fields) = render(&msg);
        let channel_bit = msg.channel_bit();
        let bytes = encode_plain(msg)?;
        let header = Header::from_bytes(&bytes[..Header::SIZE]).map_err(|e| format!("{e:?}"))?;
        let mut out = Map::new();
        out.insert("case".into(), json!(case));
        out.insert("msg".into(), json!(name));
        out.insert("hex".into(), json!(hex(&bytes)));
        out.extend(header_json(&header));
        out.insert("sri_channel_bit".into(), json!(channel_bit));
        out.insert("fields".into(), fields);
        emit(Value::Object(out));
    }
    // SubmitSharesExtended carrying the extension-0x0002 worker TLV, appended by SRI's TlvList.
    let tlvs = vec![Tlv::new(WORKER_EXT, 0x01, b"Worker_001".to_vec())];
    let msg = AnyMessage::Mining(Mining::SubmitSharesExtended(SubmitSharesExtended {
        channel_id: 1,
        sequence_number: 2,
        job_id: 1,
        nonce: 16647,
        ntime: 1_745_611_105,
        version: 0x2000_0000,
        extranonce: b032(unhex("0100000000000000").unwrap()),
    }));
    let (name, mut fields) = render(&msg);
    fields["tlvs"] = tlvs_json(&tlvs);
    let bytes = encode_with_tlvs(msg, &tlvs)?;
    let header = Header::from_bytes(&bytes[..Header::SIZE]).map_err(|e| format!("{e:?}"))?;
    let mut out = Map::new();
    out.insert("case".into(), json!("SubmitSharesExtended/worker-tlv"));
    out.insert("msg".into(), json!(name));
    out.insert("hex".into(), json!(hex(&bytes)));
    out.extend(header_json(&header));
    out.insert("sri_channel_bit".into(), json!(true));
    out.insert("fields".into(), fields);
    emit(Value::Object(out));
    Ok(())
}

pub(crate) fn cmd_decode() -> Res<()> {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let input: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                emit(json!({"ok": false, "error": format!("bad input line: {e}")}));
                continue;
            }
        };
        let case = input
            .get("case")
            .or_else(|| input.get("name"))
            .cloned()
            .unwrap_or(Value::Null);
        let result = input
            .get("hex")
            .and_then(Value::as_str)
            .ok_or_else(|| "input has no \"hex\" string".to_string())
            .and_then(unhex)
            .and_then(|b| decode_plain(&b));
        match result {
            Ok(mut m) => {
                m.insert("case".into(), case);
                m.insert("ok".into(), json!(true));
                emit(Value::Object(m));
            }
            Err(e) => emit(json!({"case": case, "ok": false, "error": e})),
        }
    }
    Ok(())
}
